//! Why a ladder could not start or finish.

/// A ladder failure.
#[derive(Debug, thiserror::Error)]
pub enum LadderError {
    #[error("GStreamer: {0}")]
    Init(String),
    #[error("the ladder only transcodes H.264 sources")]
    NotH264,
    #[error("source decoder configuration: {0}")]
    SourceConfig(#[from] ingest::h264::H264Error),
    #[error("rung {name}: {reason}")]
    InvalidRung { name: String, reason: &'static str },
    #[error("no rungs to encode")]
    NoRungs,
    #[error("building the pipeline: {0}")]
    Build(#[from] gstreamer::glib::BoolError),
    #[error("starting the pipeline: {0}")]
    Start(#[from] gstreamer::StateChangeError),
    #[error("pipeline error: {0}")]
    Pipeline(String),
    #[error("the pipeline did not drain within {0:?}")]
    DrainTimeout(std::time::Duration),
}
