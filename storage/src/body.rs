//! What a write sends: bytes in memory, a region of a local file, or a
//! stream of chunks, each with a length known up front (S3 needs it before
//! the first byte).

use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

use crate::error::Result;

/// Chunks of an object as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// The bytes of a put or a part.
pub enum Body {
    Bytes(Bytes),
    /// `len` bytes of a local file from `offset` on. S3 can send it again
    /// when a request is retried; a stream it cannot.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    /// A stream that yields exactly `len` bytes.
    Stream {
        stream: ByteStream,
        len: u64,
    },
}

impl Body {
    /// How many bytes the body has.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File { len, .. } | Body::Stream { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole of a local file.
    pub async fn from_file(path: impl Into<PathBuf>) -> Result<Body> {
        let path = path.into();
        let len = tokio::fs::metadata(&path)
            .await
            .map_err(|err| crate::StorageError::io(format!("stat {}", path.display()), err))?
            .len();
        Ok(Body::File {
            path,
            offset: 0,
            len,
        })
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::Bytes(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes.into())
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(bytes))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Bytes(bytes) => write!(f, "Body::Bytes({} bytes)", bytes.len()),
            Body::File { path, offset, len } => {
                write!(f, "Body::File({}, {offset}+{len})", path.display())
            }
            Body::Stream { len, .. } => write!(f, "Body::Stream({len} bytes)"),
        }
    }
}
