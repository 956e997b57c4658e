//! The one error type of every store.

use std::io;

/// A boxed error from a source outside this crate (an SDK, a request body).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a storage operation can fail with. `NotFound` and `UploadNotFound`
/// are kept apart from the rest so that callers can answer 404.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object at {key:?}")]
    NotFound { key: String },

    #[error("no multipart upload {upload_id:?} for {key:?}")]
    UploadNotFound { key: String, upload_id: String },

    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("range {start}..{end} is empty")]
    InvalidRange { start: u64, end: u64 },

    #[error("range starts at {start}, past the end of a {size}-byte object")]
    RangeNotSatisfiable { start: u64, size: u64 },

    /// A body gave fewer or more bytes than it declared.
    #[error("body was declared as {expected} bytes but has {actual}")]
    LengthMismatch { expected: u64, actual: u64 },

    #[error("part {part_number} is invalid: {reason}")]
    InvalidPart {
        part_number: u32,
        reason: &'static str,
    },

    /// The store refused to join the listed parts (one missing, an ETag that
    /// does not match, a part below the minimum size): the upload stays open.
    #[error("the store refused the parts: {message}")]
    PartsRejected { message: String },

    /// The upload has its last (short) part and takes no more bytes.
    #[error("upload of {key:?} is sealed: its last part is written")]
    UploadSealed { key: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    /// Reading a caller's body failed (a client that went away, say).
    #[error("reading the body: {0}")]
    Body(#[source] BoxError),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("s3 {operation}: {message}")]
    S3 {
        operation: &'static str,
        message: String,
        #[source]
        source: BoxError,
    },
}

impl StorageError {
    /// True for a missing object or a missing upload.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::NotFound { .. } | StorageError::UploadNotFound { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
