//! SRT ingest: an SRT listener ([`serve`]) carrying MPEG-TS (H.264 and ADTS
//! AAC) from each caller through the [`TsDemuxer`](crate::ts::TsDemuxer).
//!
//! Callers name their stream in the SRT stream id (see [`streamid`]). The
//! key is put to the [`PublishAuthorizer`](crate::PublishAuthorizer) during
//! the handshake, so unknown keys are refused before a connection exists.

mod conn;
mod server;
pub mod streamid;

use std::net::SocketAddr;
use std::time::Duration;

pub use server::serve;

/// Listener settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtOptions {
    /// When set, callers must encrypt with this passphrase (10 to 79
    /// characters); the caller chooses the key length.
    pub passphrase: Option<String>,
    /// SRT latency (receive buffer delay); libsrt's default is 120 ms.
    pub latency: Duration,
}

impl Default for SrtOptions {
    fn default() -> Self {
        Self {
            passphrase: None,
            latency: Duration::from_millis(120),
        }
    }
}

/// Why the SRT listener could not run.
#[derive(Debug, thiserror::Error)]
pub enum SrtError {
    #[error("invalid SRT passphrase: {0}")]
    Passphrase(String),
    #[error("binding the SRT listener to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("SRT listener: {0}")]
    Io(#[from] std::io::Error),
}
