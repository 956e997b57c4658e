//! Token buckets: a burst of `capacity`, refilled evenly over a period.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `capacity` sends at once, and `capacity` more every `period`.
    pub fn new(capacity: u32, period: Duration, now: Instant) -> TokenBucket {
        let capacity = f64::from(capacity.max(1));
        TokenBucket {
            capacity,
            per_sec: capacity / period.as_secs_f64().max(0.001),
            tokens: capacity,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
    }

    /// Whether a send may go now; the wait until one may go otherwise.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }

    /// Spends one token (after a successful `check`).
    pub fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20, Duration::from_secs(30), t0);
        for _ in 0..20 {
            bucket.check(t0).unwrap();
            bucket.take();
        }
        let wait = bucket.check(t0).unwrap_err();
        assert!((1400..=1600).contains(&wait.as_millis()), "{wait:?}");
        assert!(bucket.check(t0 + Duration::from_millis(1400)).is_err());
        assert!(bucket.check(t0 + Duration::from_millis(1600)).is_ok());
        // Never more than the burst, however long it rested.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..20 {
            bucket.check(later).unwrap();
            bucket.take();
        }
        assert!(bucket.check(later).is_err());
    }
}
