//! Which source frames enter the pipeline: from a keyframe on, and in live
//! mode not while decoding is too far behind or no rung wants frames (the
//! frames then wait for the next keyframe, as a decoder needs).

use std::time::Duration;

/// What to do with one source frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Push it; `discont` after frames were skipped.
    Push {
        discont: bool,
    },
    Skip,
}

/// The admission state of a pipeline's input.
#[derive(Debug)]
pub(crate) struct Feeder {
    feeding: bool,
    skipped: bool,
    /// `None` in batch mode: never skip once started.
    max_lag: Option<Duration>,
}

impl Feeder {
    /// A feeder that starts at the next keyframe.
    pub(crate) fn new(max_lag: Option<Duration>) -> Self {
        Self {
            feeding: false,
            skipped: false,
            max_lag,
        }
    }

    /// Decides about the next frame. `backlog` is how long the oldest
    /// frame not yet taken by the decoder has waited; `wanted` whether any
    /// rung is encoded.
    pub(crate) fn admit(&mut self, keyframe: bool, backlog: Duration, wanted: bool) -> Admit {
        let behind = self.max_lag.is_some_and(|max| backlog > max);
        if self.feeding && (behind || !wanted) {
            self.feeding = false;
        }
        if !self.feeding && keyframe && wanted && !behind {
            self.feeding = true;
        }
        if self.feeding {
            Admit::Push {
                discont: std::mem::take(&mut self.skipped),
            }
        } else {
            self.skipped = true;
            Admit::Skip
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_LAG: Duration = Duration::from_secs(1);
    const LATE: Duration = Duration::from_millis(1500);

    #[test]
    fn starts_at_a_keyframe() {
        let mut feeder = Feeder::new(None);
        assert_eq!(feeder.admit(false, Duration::ZERO, true), Admit::Skip);
        assert_eq!(
            feeder.admit(true, Duration::ZERO, true),
            Admit::Push { discont: true }
        );
        // Batch mode never skips, however long the backlog.
        assert_eq!(
            feeder.admit(false, Duration::from_secs(100), true),
            Admit::Push { discont: false }
        );
    }

    #[test]
    fn skips_to_the_next_keyframe_while_decoding_is_behind() {
        let mut feeder = Feeder::new(Some(MAX_LAG));
        assert_eq!(
            feeder.admit(true, Duration::ZERO, true),
            Admit::Push { discont: false }
        );
        assert_eq!(feeder.admit(false, LATE, true), Admit::Skip);
        assert_eq!(feeder.admit(false, Duration::ZERO, true), Admit::Skip);
        assert_eq!(feeder.admit(true, LATE, true), Admit::Skip);
        assert_eq!(
            feeder.admit(true, Duration::ZERO, true),
            Admit::Push { discont: true }
        );
        assert_eq!(
            feeder.admit(false, Duration::ZERO, true),
            Admit::Push { discont: false }
        );
    }

    #[test]
    fn feeds_nothing_while_every_rung_is_shed() {
        let mut feeder = Feeder::new(Some(MAX_LAG));
        feeder.admit(true, Duration::ZERO, true);
        assert_eq!(feeder.admit(false, Duration::ZERO, false), Admit::Skip);
        assert_eq!(feeder.admit(true, Duration::ZERO, false), Admit::Skip);
        assert_eq!(feeder.admit(false, Duration::ZERO, true), Admit::Skip);
        assert_eq!(
            feeder.admit(true, Duration::ZERO, true),
            Admit::Push { discont: true }
        );
    }
}
