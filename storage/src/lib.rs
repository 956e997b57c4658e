//! Object storage for Tributary: one [`ObjectStore`] trait (multipart-shaped
//! writes, ranged reads, listing, deletion) with a filesystem backend
//! ([`FsStore`]) and an S3 backend ([`S3Store`]), chosen at run time through
//! [`AnyStore`]. [`ResumableUpload`] builds durable, resumable appends (what
//! a tus server needs) on any of them. Nothing here knows about media.

mod any;
mod body;
mod error;
mod fs;
mod key;
mod resumable;
mod s3;
mod store;

pub use any::AnyStore;
pub use body::{Body, ByteStream};
pub use error::{BoxError, Result, StorageError};
pub use fs::FsStore;
pub use key::{validate_key, validate_prefix};
pub use resumable::{Completed, ResumableUpload};
pub use s3::{S3Config, S3Store};
pub use store::{MAX_PART_NUMBER, Object, ObjectMeta, ObjectStore, Part};

/// The part size of both stores unless configured otherwise: 50 MiB.
pub const DEFAULT_PART_SIZE: u64 = 50 * 1024 * 1024;
