//! A pipeline's bus, watched from GStreamer's threads: the first error and
//! the end of stream, which the ladder polls or waits for.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;

use super::error::LadderError;

#[derive(Debug, Default)]
struct State {
    error: Option<String>,
    eos: bool,
}

/// What the bus of one pipeline reported.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
    changed: Condvar,
}

impl Health {
    /// Watches `bus` (a sync handler: every message is handled on the
    /// thread posting it and then dropped, so none pile up unread).
    pub(crate) fn watch(bus: &gst::Bus) -> Arc<Self> {
        let health = Arc::new(Self::default());
        let watcher = Arc::clone(&health);
        bus.set_sync_handler(move |_, message| {
            match message.view() {
                gst::MessageView::Error(err) => {
                    let source = message
                        .src()
                        .map(|s| s.name().to_string())
                        .unwrap_or_default();
                    let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
                    watcher.update(|state| {
                        state
                            .error
                            .get_or_insert_with(|| format!("{source}: {} ({debug})", err.error()));
                    });
                }
                gst::MessageView::Eos(_) => watcher.update(|state| state.eos = true),
                _ => {}
            }
            gst::BusSyncReply::Drop
        });
        health
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
    }

    /// The first error posted, if any.
    pub(crate) fn error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .clone()
    }

    /// Waits until end of stream reaches every sink, an error, or `timeout`.
    pub(crate) fn wait_eos(&self, timeout: Duration) -> Result<(), LadderError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(error) = &state.error {
                return Err(LadderError::Pipeline(error.clone()));
            }
            if state.eos {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LadderError::DrainTimeout(timeout));
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
