//! What every storage test shares: a store of each kind on a fresh place,
//! test data, and the macro that runs one test on both stores.

#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use storage::{ByteStream, FsStore, ObjectStore, S3Config, S3Store};
use tempfile::TempDir;

/// The filesystem store's part size in tests: small, so that tests cross
/// many part boundaries quickly.
pub const FS_PART_SIZE: u64 = 256 * 1024;
/// S3's minimum.
pub const S3_PART_SIZE: u64 = 5 * 1024 * 1024;

/// A store, a key prefix no other test uses, and a spool directory.
pub struct Harness<S> {
    pub store: S,
    pub prefix: String,
    pub spool: TempDir,
    /// The filesystem store's root lives in here.
    pub dir: TempDir,
}

impl<S: ObjectStore> Harness<S> {
    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    pub fn spool_dir(&self) -> &Path {
        self.spool.path()
    }
}

fn prefix() -> String {
    format!("test-{:016x}", rand::random::<u64>())
}

/// The filesystem store at `root`, with small parts.
pub async fn fs_store(root: &Path) -> FsStore {
    FsStore::open(root)
        .await
        .expect("fs store")
        .with_part_size(FS_PART_SIZE)
        .expect("part size")
}

pub async fn fs() -> Harness<FsStore> {
    let dir = TempDir::new().expect("temp dir");
    Harness {
        store: fs_store(&dir.path().join("root")).await,
        prefix: prefix(),
        spool: TempDir::new().expect("spool dir"),
        dir,
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through ./dev test, which starts the S3 server")
    })
}

/// The test S3 server's bucket (./dev starts the server and exports where
/// it is), with parts of S3's minimum size.
pub fn s3_config() -> S3Config {
    // The credentials come from the SDK's chain: ./dev exports them.
    env("AWS_ACCESS_KEY_ID");
    S3Config {
        endpoint: Some(env("TRIBUTARY_TEST_S3_ENDPOINT")),
        region: std::env::var("TRIBUTARY_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into()),
        bucket: env("TRIBUTARY_TEST_S3_BUCKET"),
        path_style: true,
        part_size: S3_PART_SIZE,
    }
}

pub async fn s3_store() -> S3Store {
    S3Store::new(s3_config()).await.expect("s3 store")
}

pub async fn s3() -> Harness<S3Store> {
    Harness {
        store: s3_store().await,
        prefix: prefix(),
        spool: TempDir::new().expect("spool dir"),
        dir: TempDir::new().expect("temp dir"),
    }
}

/// Runs each named `async fn(Harness<S>)` on the filesystem store and on S3,
/// as tests `<name>::fs` and `<name>::s3`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn fs() {
                    super::$name($crate::common::fs().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn s3() {
                    super::$name($crate::common::s3().await).await;
                }
            }
        )*
    };
}

/// `len` bytes that differ from any other offset's, so that a misplaced
/// chunk shows.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Reads an object (or a range of it) whole.
pub async fn read<S: ObjectStore>(
    store: &S,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let object = store.get(key, range).await.expect("get");
    let mut body = object.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// `bytes` cut into chunks whose sizes cycle through `sizes`, as a stream.
pub fn chunked(bytes: &[u8], sizes: &[usize]) -> ByteStream {
    let mut chunks = Vec::new();
    let mut rest = Bytes::copy_from_slice(bytes);
    let mut cycle = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = (*cycle.next().expect("sizes")).min(rest.len());
        chunks.push(Ok(rest.split_to(size)));
    }
    Box::pin(futures_util::stream::iter(chunks))
}
