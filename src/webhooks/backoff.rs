//! When a failed delivery is tried again, and when it is given up.

use std::time::Duration;

/// Each retry waits this many times the first step: with a 10 s step,
/// 10 s, 30 s, 1 min, 5 min, 15 min, then every hour.
const STEPS: [u32; 6] = [1, 3, 6, 30, 90, 360];

/// An event is retried for this long after it happened, then given up.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The wait after the `attempts`-th failed attempt (counting from 1).
pub fn delay(first_step: Duration, attempts: u32) -> Duration {
    let index = (attempts.max(1) - 1) as usize;
    first_step * STEPS[index.min(STEPS.len() - 1)]
}

/// When to try again (unix ms) after the `attempts`-th attempt failed at
/// `now_ms`; None when that would be past `give_up_ms`.
pub fn next_attempt_ms(
    first_step: Duration,
    attempts: u32,
    now_ms: i64,
    give_up_ms: i64,
) -> Option<i64> {
    let wait = i64::try_from(delay(first_step, attempts).as_millis()).unwrap_or(i64::MAX);
    let next = now_ms.saturating_add(wait);
    (next <= give_up_ms).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60;

    #[test]
    fn the_default_schedule_grows_to_hourly() {
        let step = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=8).map(|n| delay(step, n).as_secs()).collect();
        assert_eq!(
            waits,
            [
                10,
                30,
                MINUTE,
                5 * MINUTE,
                15 * MINUTE,
                60 * MINUTE,
                60 * MINUTE,
                60 * MINUTE
            ]
        );
    }

    #[test]
    fn the_first_step_scales_the_whole_schedule() {
        let step = Duration::from_millis(100);
        assert_eq!(delay(step, 1), Duration::from_millis(100));
        assert_eq!(delay(step, 2), Duration::from_millis(300));
        assert_eq!(delay(step, 40), Duration::from_millis(36_000));
    }

    #[test]
    fn retries_stop_a_day_after_the_event() {
        let step = Duration::from_secs(10);
        let event = 1_000_000;
        let give_up = event + GIVE_UP_AFTER.as_millis() as i64;
        assert_eq!(
            next_attempt_ms(step, 1, event, give_up),
            Some(event + 10_000)
        );
        // Attempts land at the schedule's sums until the day is over.
        let mut now = event;
        let mut attempts = 0;
        while let Some(next) = next_attempt_ms(step, attempts + 1, now, give_up) {
            attempts += 1;
            now = next;
        }
        assert!(now <= give_up && give_up - now < 3_600_000, "{now}");
        // 10 s + 30 s + 1 min + 5 min + 15 min = 1,300 s, then hourly.
        assert_eq!(attempts, 5 + (86_400 - 1_300) / 3_600);
        assert_eq!(next_attempt_ms(step, 6, give_up - 1000, give_up), None);
    }
}
