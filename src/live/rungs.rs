//! A publish's transcoded rungs: starts the ladder for the source, feeds it
//! source frames, and turns its events into packager renditions (added when
//! a rung's first config arrives, taken out of service when it is shed).

use std::sync::{Arc, Mutex};

use ingest::{Frame, VideoCodec, VideoConfig};
use packager::LivePackager;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::broadcast::Broadcast;
use super::tracks;
use crate::ladder::{LadderEvent, LadderMode, LiveLadder};
use crate::ladder_settings::LadderSettings;

pub struct Rungs {
    stream_id: String,
    ladder: Arc<Mutex<LiveLadder>>,
    events: mpsc::UnboundedReceiver<LadderEvent>,
}

impl Rungs {
    /// The ladder for this source, when the settings ask for rungs below it.
    pub fn start(
        stream_id: &str,
        source: &VideoConfig,
        settings: &LadderSettings,
    ) -> Option<Rungs> {
        let rungs = settings.rungs_below(source.height);
        if rungs.is_empty() || source.codec != VideoCodec::H264 {
            return None;
        }
        let names: Vec<String> = rungs.iter().map(|r| r.name.clone()).collect();
        let (sender, events) = mpsc::unbounded_channel();
        match LiveLadder::start(source, rungs, LadderMode::Live, sender) {
            Ok(ladder) => {
                info!(stream = %stream_id, rungs = ?names, "ladder started");
                Some(Rungs {
                    stream_id: stream_id.to_owned(),
                    ladder: Arc::new(Mutex::new(ladder)),
                    events,
                })
            }
            Err(e) => {
                warn!(stream = %stream_id, "serving the source only: the ladder did not start: {e}");
                None
            }
        }
    }

    /// For the stream's status.
    pub fn ladder(&self) -> &Arc<Mutex<LiveLadder>> {
        &self.ladder
    }

    /// Never blocks: an overloaded ladder sheds rungs instead.
    pub fn push(&self, frame: &Frame) {
        self.ladder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(frame);
    }

    pub async fn next_event(&mut self) -> Option<LadderEvent> {
        self.events.recv().await
    }

    /// Applies one ladder event to the broadcast's renditions.
    pub fn apply(&self, broadcast: &Broadcast, event: LadderEvent) {
        let stream = &self.stream_id;
        match event {
            LadderEvent::Config { rung, config } => {
                let track = match tracks::video(&config) {
                    Ok(track) => track,
                    Err(e) => return warn!(stream = %stream, rung = %rung, "{e}"),
                };
                broadcast.publish(|packager| {
                    let result = match packager.rendition_by_name(&rung) {
                        Some(id) => packager
                            .set_config(id, track)
                            .map(|()| packager.activate(id).is_ok()),
                        None => packager.add_rendition(&rung, track).map(|_| true),
                    };
                    if let Err(e) = result {
                        warn!(stream = %stream, rung = %rung, "rung not packaged: {e}");
                    }
                    false
                });
            }
            LadderEvent::Frame { rung, frame } => broadcast.publish(|packager| {
                let Some(id) = packager.rendition_by_name(&rung) else {
                    return false;
                };
                let sample = packager::Sample {
                    dts: frame.dts,
                    pts: frame.pts,
                    keyframe: frame.keyframe,
                    data: frame.data,
                };
                packager.push(id, sample).unwrap_or(false)
            }),
            LadderEvent::Shed { rung, reason } => {
                warn!(stream = %stream, rung = %rung, "shedding rung: {reason}");
                broadcast.publish(|packager| {
                    if let Some(id) = packager.rendition_by_name(&rung) {
                        let _ = packager.deactivate(id);
                    }
                    // Readers blocked on the rung must see its final part.
                    true
                });
            }
            LadderEvent::Restored { rung } => {
                info!(stream = %stream, rung = %rung, "rung restored");
                broadcast.publish(|packager| {
                    if let Some(id) = packager.rendition_by_name(&rung) {
                        let _ = packager.activate(id);
                    }
                    false
                });
            }
            LadderEvent::Restarted { reason } => {
                warn!(stream = %stream, "ladder pipeline restarted: {reason}")
            }
        }
    }
}

/// A reconnect continues a broadcast whose rungs came from the last publish:
/// they stay out of service until this publish's ladder makes them again.
pub fn retire_previous_rungs(broadcast: &Broadcast) {
    broadcast.publish(|packager: &mut LivePackager| {
        let previous: Vec<_> = packager
            .renditions()
            .map(|(id, _, _)| id)
            .filter(|&id| Some(id) != broadcast.video && Some(id) != broadcast.audio)
            .collect();
        for id in previous {
            let _ = packager.deactivate(id);
        }
        false
    });
}
