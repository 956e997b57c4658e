//! What the ladder reports: its output and its state.

use std::sync::Arc;

use ingest::{Frame, VideoConfig};
use serde::Serialize;

/// Output of a running ladder, sent on its event channel. Rung names are
/// shared (`Arc<str>`): a frame event clones a reference, not a string.
#[derive(Debug, Clone, PartialEq)]
pub enum LadderEvent {
    /// A rung's decoder configuration (avcC from the encoder, size and
    /// codec string from its SPS): before the rung's first frame, and
    /// again whenever it changes.
    Config { rung: Arc<str>, config: VideoConfig },
    /// One encoded frame of a rung: AVCC, pts equal to the source frame's
    /// pts (90 kHz); there are no B-frames, so dts equals pts.
    Frame { rung: Arc<str>, frame: Frame },
    /// The rung stopped being encoded because the machine cannot keep up.
    Shed { rung: Arc<str>, reason: String },
    /// A shed rung is encoded again (from the next source keyframe).
    Restored { rung: Arc<str> },
    /// The pipeline failed and was rebuilt; output resumes at the next
    /// source keyframe.
    Restarted { reason: String },
}

/// Every rung of a ladder and whether it is encoded now, for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LadderStatus {
    /// Largest first.
    pub rungs: Vec<RungStatus>,
    /// How many times the pipeline was rebuilt after an error.
    pub restarts: u32,
}

/// One rung's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RungStatus {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub state: RungState,
    /// Wall time from pushing a source frame to this rung's output of it,
    /// for the latest output frame.
    pub latency_ms: Option<u64>,
}

/// Whether a rung is encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RungState {
    Encoding,
    Shed { reason: String },
}
