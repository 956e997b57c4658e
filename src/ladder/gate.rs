//! The gate in front of each rung's encoder (a pad probe): passes whole
//! GOPs only, forces a keyframe at every source keyframe, drops frames that
//! are too old (so latency stays bounded) and everything while the rung is
//! shed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_video as gst_video;

use super::push_log::Pushed;
use super::shared::Shared;

/// Installs a rung's gate as a buffer probe on `pad` (the source pad of
/// the queue in front of the rung's encoder); `max_lag` is `None` in batch
/// mode.
pub(crate) fn install(
    pad: &gst::Pad,
    control: Arc<RungControl>,
    shared: Shared,
    max_lag: Option<Duration>,
) {
    let gate = Mutex::new(Gate::new(max_lag));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else {
            return gst::PadProbeReturn::Ok;
        };
        let pushed = match (buffer.pts(), shared.timebase.get()) {
            (Some(pts), Some(timebase)) => shared
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(timebase.to_ticks(pts)),
            _ => None,
        };
        let verdict = gate.lock().unwrap_or_else(PoisonError::into_inner).admit(
            pushed,
            &control,
            Instant::now(),
        );
        match verdict {
            Verdict::Pass { keyframe: true } => {
                // Serialized just before this frame, so the encoder makes
                // this very frame a keyframe.
                let force = gst_video::DownstreamForceKeyUnitEvent::builder()
                    .all_headers(true)
                    .build();
                pad.push_event(force);
                gst::PadProbeReturn::Ok
            }
            Verdict::Pass { keyframe: false } => gst::PadProbeReturn::Ok,
            Verdict::Drop => gst::PadProbeReturn::Drop,
        }
    });
}

/// What the ladder's controller and a rung's gate tell each other.
#[derive(Debug)]
pub(crate) struct RungControl {
    /// Set by the controller; a disabled (shed) rung encodes nothing.
    enabled: AtomicBool,
    /// Set by the gate: the largest age (ms) of a frame it dropped for
    /// being too old since the controller last looked; 0 when none.
    behind_ms: AtomicU64,
}

impl RungControl {
    pub(crate) fn new() -> Self {
        Self {
            enabled: AtomicBool::new(true),
            behind_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// How far behind the rung fell since the last call, if it did.
    pub(crate) fn take_behind(&self) -> Option<Duration> {
        match self.behind_ms.swap(0, Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn report_behind(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX).max(1);
        self.behind_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

/// What happens to one decoded frame at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Encode it; as a keyframe when it was one in the source.
    Pass {
        keyframe: bool,
    },
    Drop,
}

/// One rung's gate: the decisions of the probe [`install`] puts in place.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Passing the current source GOP.
    open: bool,
    /// Frames older than this (since their push) are dropped; `None` in
    /// batch mode, where nothing is dropped.
    max_lag: Option<Duration>,
}

impl Gate {
    /// A closed gate: it opens at the next source keyframe.
    pub(crate) fn new(max_lag: Option<Duration>) -> Self {
        Self {
            open: false,
            max_lag,
        }
    }

    /// Decides about the frame with this push record (`None` when the pts
    /// is unknown: it then follows the GOP it is in).
    pub(crate) fn admit(
        &mut self,
        pushed: Option<Pushed>,
        control: &RungControl,
        now: Instant,
    ) -> Verdict {
        let enabled = control.enabled();
        let lag = pushed.map(|p| now.saturating_duration_since(p.at));
        let stale = matches!((self.max_lag, lag), (Some(max), Some(lag)) if lag > max);
        let keyframe = pushed.is_some_and(|p| p.keyframe);
        if keyframe {
            self.open = enabled && !stale;
        } else if stale || !enabled {
            // Once a frame is skipped the rest of the GOP cannot be
            // encoded as the source has it: wait for the next keyframe.
            self.open = false;
        }
        if enabled
            && stale
            && let Some(lag) = lag
        {
            control.report_behind(lag);
        }
        if self.open {
            Verdict::Pass { keyframe }
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_LAG: Duration = Duration::from_secs(1);

    fn frame(at: Instant, keyframe: bool) -> Option<Pushed> {
        Some(Pushed {
            dts: 0,
            pts: 0,
            at,
            keyframe,
        })
    }

    #[test]
    fn passes_whole_gops_from_the_first_keyframe() {
        let control = RungControl::new();
        let mut gate = Gate::new(None);
        let now = Instant::now();
        assert_eq!(gate.admit(frame(now, false), &control, now), Verdict::Drop);
        assert_eq!(
            gate.admit(frame(now, true), &control, now),
            Verdict::Pass { keyframe: true }
        );
        assert_eq!(
            gate.admit(frame(now, false), &control, now),
            Verdict::Pass { keyframe: false }
        );
        assert_eq!(
            gate.admit(None, &control, now),
            Verdict::Pass { keyframe: false }
        );
        // Batch mode: nothing is too old.
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            gate.admit(frame(now, false), &control, later),
            Verdict::Pass { keyframe: false }
        );
        assert_eq!(control.take_behind(), None);
    }

    #[test]
    fn stale_frames_close_the_gate_until_a_fresh_keyframe() {
        let control = RungControl::new();
        let mut gate = Gate::new(Some(MAX_LAG));
        let t0 = Instant::now();
        let late = t0 + Duration::from_millis(1500);
        assert_eq!(
            gate.admit(frame(t0, true), &control, t0),
            Verdict::Pass { keyframe: true }
        );
        assert_eq!(gate.admit(frame(t0, false), &control, late), Verdict::Drop);
        assert_eq!(control.take_behind(), Some(Duration::from_millis(1500)));
        assert_eq!(control.take_behind(), None);
        // A fresh frame mid-GOP does not reopen it.
        assert_eq!(
            gate.admit(frame(late, false), &control, late),
            Verdict::Drop
        );
        // Neither does a stale keyframe.
        assert_eq!(gate.admit(frame(t0, true), &control, late), Verdict::Drop);
        assert_eq!(
            gate.admit(frame(late, true), &control, late),
            Verdict::Pass { keyframe: true }
        );
    }

    #[test]
    fn a_shed_rung_drops_everything_and_comes_back_at_a_keyframe() {
        let control = RungControl::new();
        let mut gate = Gate::new(Some(MAX_LAG));
        let now = Instant::now();
        gate.admit(frame(now, true), &control, now);
        control.set_enabled(false);
        assert_eq!(gate.admit(frame(now, false), &control, now), Verdict::Drop);
        assert_eq!(gate.admit(frame(now, true), &control, now), Verdict::Drop);
        // Not behind: it was shed.
        let late = now + Duration::from_secs(5);
        assert_eq!(gate.admit(frame(now, false), &control, late), Verdict::Drop);
        assert_eq!(control.take_behind(), None);
        control.set_enabled(true);
        assert_eq!(gate.admit(frame(now, false), &control, now), Verdict::Drop);
        assert_eq!(
            gate.admit(frame(now, true), &control, now),
            Verdict::Pass { keyframe: true }
        );
    }
}
