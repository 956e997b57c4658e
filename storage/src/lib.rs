//! Object storage for Tributary: one [`ObjectStore`] trait (multipart-shaped
//! writes, ranged reads, listing, deletion) with a filesystem backend
//! ([`FsStore`]) and an S3 backend ([`S3Store`]), chosen at run time through
//! [`AnyStore`]. [`ResumableUpload`] builds durable, resumable appends (what
//! a tus server needs) on any of them: through parts on S3, into one file,
//! each byte written once, on the filesystem. Nothing here knows about media.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use bytes::Bytes;
//! use storage::{FsStore, ObjectStore, ResumableUpload};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = FsStore::open(dir.path().join("objects")).await?;
//! let key = "videos/v1/source";
//! let mut upload = ResumableUpload::create(store.clone(), key, dir.path()).await?;
//! let id = upload.upload_id().to_owned();
//! // One request's body, as a stream of chunks.
//! let request = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("hello "))]);
//! assert_eq!(upload.append(request).await?, 6);
//! drop(upload);
//!
//! // After a restart, the store tells where the upload stands.
//! let mut upload = ResumableUpload::resume(store.clone(), key, &id, dir.path()).await?;
//! assert_eq!(upload.offset(), 6);
//! let request = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("world"))]);
//! upload.append(request).await?;
//! assert_eq!(upload.complete().await?.size, 11);
//! assert_eq!(store.head(key).await?.size, 11);
//! # Ok::<_, storage::StorageError>(()) }).unwrap();
//! ```

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
pub use fs::{FsStore, LocalUploads};
pub use key::{validate_key, validate_prefix};
pub use resumable::{Completed, ResumableUpload};
pub use s3::{S3Config, S3Store};
pub use store::{MAX_PART_NUMBER, Object, ObjectMeta, ObjectStore, Part};

/// The part size of both stores unless configured otherwise: 50 MiB.
pub const DEFAULT_PART_SIZE: u64 = 50 * 1024 * 1024;
