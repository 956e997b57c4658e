//! When a failed pipeline may be rebuilt: at once the first time, then
//! with a doubling delay while failures keep coming.

use std::time::{Duration, Instant};

/// Failures further apart than this start the backoff over.
const CALM: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Restart bookkeeping of one ladder.
#[derive(Debug, Default)]
pub(crate) struct Restarts {
    count: u32,
    delay: Duration,
    last_failure: Option<Instant>,
}

impl Restarts {
    /// Records a failure at `now`.
    pub(crate) fn failed(&mut self, now: Instant) {
        let recent = self
            .last_failure
            .is_some_and(|last| now.saturating_duration_since(last) < CALM);
        self.delay = if recent {
            (self.delay * 2).clamp(FIRST_DELAY, MAX_DELAY)
        } else {
            Duration::ZERO
        };
        self.last_failure = Some(now);
        self.count += 1;
    }

    /// Whether the pipeline may be rebuilt now.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.last_failure
            .is_none_or(|last| now.saturating_duration_since(last) >= self.delay)
    }

    /// Failures so far.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_while_failures_repeat() {
        let t0 = Instant::now();
        let mut restarts = Restarts::default();
        assert!(restarts.ready(t0));
        restarts.failed(t0);
        assert!(restarts.ready(t0), "the first failure restarts at once");
        restarts.failed(t0 + Duration::from_secs(5));
        assert!(!restarts.ready(t0 + Duration::from_millis(5500)));
        assert!(restarts.ready(t0 + Duration::from_secs(6)));
        restarts.failed(t0 + Duration::from_secs(6));
        assert!(!restarts.ready(t0 + Duration::from_millis(7900)));
        assert!(restarts.ready(t0 + Duration::from_secs(8)));
        // After a calm minute the backoff starts over.
        let later = t0 + Duration::from_secs(100);
        restarts.failed(later);
        assert!(restarts.ready(later));
        assert_eq!(restarts.count(), 4);
    }
}
