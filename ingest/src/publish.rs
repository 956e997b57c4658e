//! The seam between ingest and the server: ingest asks whether a key may
//! publish, and on success gets a sink for the publisher's media.

use std::future::Future;
use std::net::SocketAddr;

use tokio::sync::mpsc;

use crate::media::MediaEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Srt,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Srt => "srt",
        })
    }
}

/// A publisher asking to start.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub protocol: Protocol,
    /// The RTMP app or the SRT `r=` resource prefix (`live`); empty for a bare SRT key.
    pub app: String,
    pub key: String,
    pub remote: SocketAddr,
}

/// Why a publisher was turned away.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PublishRejection {
    #[error("unknown stream key")]
    UnknownKey,
    #[error("unknown app {0:?} (expected \"live\")")]
    UnknownApp(String),
    #[error("stream is already being published")]
    AlreadyPublishing,
    #[error("server error: {0}")]
    Internal(String),
}

/// Where an accepted publisher's media goes. The server holds the receiver;
/// when the receiver is dropped (the server refused the media), ingest closes
/// the connection. Dropping the sender tells the server the publisher left.
pub type MediaSink = mpsc::Sender<MediaEvent>;

/// Implemented by the server: decides who may publish.
pub trait PublishAuthorizer: Send + Sync + 'static {
    fn authorize(
        &self,
        request: PublishRequest,
    ) -> impl Future<Output = Result<MediaSink, PublishRejection>> + Send;
}
