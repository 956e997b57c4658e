//! RTMP ingest: a TCP listener ([`serve`]) and one task per connection.
//!
//! Publishers connect to the `live` app and publish with their stream key
//! as the stream name (`rtmp://host/live/KEY`; a `?query` after the key is
//! ignored). Each publish is put to the [`PublishAuthorizer`]; accepted
//! publishers' audio and video go to the sink it returns.
//!
//! [`PublishAuthorizer`]: crate::PublishAuthorizer

mod amf_guard;
mod conn;
mod fcpublish;
mod server;
mod session;
#[cfg(test)]
mod tests;

use rml_rtmp::chunk_io::ChunkDeserializationError;
use rml_rtmp::handshake::HandshakeError;
use rml_rtmp::rml_amf0::Amf0SerializationError;
use rml_rtmp::sessions::ServerSessionError;

use crate::publish::PublishRejection;

pub use server::serve;

/// Why an RTMP connection ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RtmpError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("protocol: {0}")]
    Session(#[from] ServerSessionError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkDeserializationError),
    #[error("AMF encoding: {0}")]
    Amf(#[from] Amf0SerializationError),
    #[error("AMF value nested deeper than {} levels", amf_guard::MAX_AMF_DEPTH)]
    AmfTooDeep,
    #[error("rml_rtmp panicked on malformed input: {0}")]
    Panic(String),
    #[error("session unusable after an earlier panic")]
    Poisoned,
    #[error("rejected: {0}")]
    Rejected(#[from] PublishRejection),
    #[error("client asked to play; this server only ingests")]
    PlayNotSupported,
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("the server stopped taking this publisher's media")]
    SinkClosed,
}
