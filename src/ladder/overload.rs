//! When a live ladder sheds and restores rungs (sans-IO: fed observations
//! and the time, it answers with decisions).
//!
//! Overloaded (a rung or the decoder fell more than `max_lag` behind):
//! shed the most expensive rung still encoded, then wait `settle` for the
//! effect before shedding another. Quiet for a rung's restore delay:
//! restore the cheapest shed rung. A rung shed again soon after being
//! restored waits twice as long next time, so the ladder does not flap.

use std::time::{Duration, Instant};

/// The timings of shedding and restoring rungs in live mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverloadPolicy {
    /// Frames that waited longer than this since their push are not
    /// encoded (nor decoded), and a rung that falls this far behind means
    /// overload. This bounds a rung's latency.
    pub max_lag: Duration,
    /// After shedding or restoring, how long to wait before shedding more.
    pub settle: Duration,
    /// Quiet time before a shed rung is restored, at first.
    pub restore_after: Duration,
    /// The restore delay doubles up to this.
    pub max_restore_after: Duration,
    /// A rung shed within this time of being restored doubles its delay.
    pub flap_window: Duration,
}

impl Default for OverloadPolicy {
    fn default() -> Self {
        Self {
            max_lag: Duration::from_secs(1),
            settle: Duration::from_secs(2),
            restore_after: Duration::from_secs(15),
            max_restore_after: Duration::from_secs(300),
            flap_window: Duration::from_secs(60),
        }
    }
}

/// A change to the set of encoded rungs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Shed { index: usize, reason: String },
    Restore { index: usize },
}

#[derive(Debug, Clone)]
struct RungLoad {
    shed: Option<String>,
    restore_after: Duration,
    restored_at: Option<Instant>,
}

/// Shedding state of the rungs of one ladder, most expensive first.
#[derive(Debug)]
pub(crate) struct Overload {
    policy: OverloadPolicy,
    rungs: Vec<RungLoad>,
    last_change: Instant,
    last_overload: Option<Instant>,
}

impl Overload {
    /// All `rungs` encoded, as of `now`.
    pub(crate) fn new(policy: OverloadPolicy, rungs: usize, now: Instant) -> Self {
        let load = RungLoad {
            shed: None,
            restore_after: policy.restore_after,
            restored_at: None,
        };
        Self {
            policy,
            rungs: vec![load; rungs],
            last_change: now,
            last_overload: None,
        }
    }

    /// Why the rung is shed, if it is.
    pub(crate) fn shed_reason(&self, index: usize) -> Option<&str> {
        self.rungs.get(index).and_then(|r| r.shed.as_deref())
    }

    /// Takes in whether the ladder is overloaded now (and why).
    pub(crate) fn observe(&mut self, now: Instant, overload: Option<String>) -> Option<Decision> {
        let since = |t: Instant| now.saturating_duration_since(t);
        if let Some(reason) = overload {
            self.last_overload = Some(now);
            if since(self.last_change) < self.policy.settle {
                return None;
            }
            let index = self.rungs.iter().position(|r| r.shed.is_none())?;
            let policy = &self.policy;
            let rung = &mut self.rungs[index];
            let flapped = rung
                .restored_at
                .is_some_and(|t| since(t) < policy.flap_window);
            rung.restore_after = if flapped {
                (rung.restore_after * 2).min(policy.max_restore_after)
            } else {
                policy.restore_after
            };
            rung.shed = Some(reason.clone());
            self.last_change = now;
            return Some(Decision::Shed { index, reason });
        }
        let quiet_since = self
            .last_overload
            .map_or(self.last_change, |t| t.max(self.last_change));
        let index = self.rungs.iter().rposition(|r| r.shed.is_some())?;
        let rung = &mut self.rungs[index];
        if since(quiet_since) < rung.restore_after {
            return None;
        }
        rung.shed = None;
        rung.restored_at = Some(now);
        self.last_change = now;
        Some(Decision::Restore { index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OverloadPolicy {
        OverloadPolicy {
            max_lag: Duration::from_secs(1),
            settle: Duration::from_secs(2),
            restore_after: Duration::from_secs(10),
            max_restore_after: Duration::from_secs(40),
            flap_window: Duration::from_secs(30),
        }
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    fn busy() -> Option<String> {
        Some("behind".into())
    }

    fn shed(index: usize) -> Option<Decision> {
        Some(Decision::Shed {
            index,
            reason: "behind".into(),
        })
    }

    #[test]
    fn sheds_the_most_expensive_first_one_per_settle_period() {
        let t0 = Instant::now();
        let mut load = Overload::new(policy(), 3, t0);
        assert_eq!(
            load.observe(at(t0, 1), busy()),
            None,
            "settling after start"
        );
        assert_eq!(load.observe(at(t0, 2), busy()), shed(0));
        assert_eq!(load.shed_reason(0), Some("behind"));
        assert_eq!(load.observe(at(t0, 3), busy()), None);
        assert_eq!(load.observe(at(t0, 4), busy()), shed(1));
        assert_eq!(load.observe(at(t0, 6), busy()), shed(2));
        assert_eq!(
            load.observe(at(t0, 8), busy()),
            None,
            "nothing left to shed"
        );
        assert_eq!(load.shed_reason(1), Some("behind"));
    }

    #[test]
    fn restores_the_cheapest_after_quiet_and_backs_off_on_flapping() {
        let t0 = Instant::now();
        let mut load = Overload::new(policy(), 2, t0);
        load.observe(at(t0, 2), busy());
        load.observe(at(t0, 4), busy());
        // Overload keeps being reported for a while after shedding.
        assert_eq!(load.observe(at(t0, 5), busy()), None);
        assert_eq!(load.observe(at(t0, 14), None), None);
        assert_eq!(
            load.observe(at(t0, 15), None),
            Some(Decision::Restore { index: 1 })
        );
        assert_eq!(load.shed_reason(1), None);
        assert_eq!(load.observe(at(t0, 24), None), None);
        assert_eq!(
            load.observe(at(t0, 25), None),
            Some(Decision::Restore { index: 0 })
        );
        // Rung 0 is too much again: shed, and now it waits 20 s.
        assert_eq!(load.observe(at(t0, 28), busy()), shed(0));
        assert_eq!(load.observe(at(t0, 47), None), None);
        assert_eq!(
            load.observe(at(t0, 48), None),
            Some(Decision::Restore { index: 0 })
        );
        assert_eq!(load.observe(at(t0, 50), busy()), shed(0));
        assert_eq!(load.observe(at(t0, 89), None), None);
        assert_eq!(
            load.observe(at(t0, 90), None),
            Some(Decision::Restore { index: 0 })
        );
        // Capped at 40 s.
        assert_eq!(load.observe(at(t0, 92), busy()), shed(0));
        assert_eq!(
            load.observe(at(t0, 132), None),
            Some(Decision::Restore { index: 0 })
        );
        // Shed long after its restore: back to the first delay.
        assert_eq!(load.observe(at(t0, 200), busy()), shed(0));
        assert_eq!(
            load.observe(at(t0, 210), None),
            Some(Decision::Restore { index: 0 })
        );
    }
}
