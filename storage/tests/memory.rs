//! Memory stays flat whatever the upload's size: 200 MiB through a
//! ResumableUpload on the filesystem grow the process by far less. In its
//! own test binary, so that no other test's memory is counted.

mod common;

use std::cell::Cell;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use storage::{ObjectStore, ResumableUpload};

const TOTAL: usize = 200 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;
const REQUESTS: usize = 10;
const PART_SIZE: u64 = 8 * 1024 * 1024;
const MAX_GROWTH: u64 = 64 * 1024 * 1024;

/// The resident set size, from /proc/self/status (VmRSS, in KiB).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// Chunk `index` of the upload: bytes that depend on where they are.
fn chunk(index: usize) -> Bytes {
    let mut bytes = Vec::with_capacity(CHUNK);
    let mut value = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while bytes.len() < CHUNK {
        value = value.rotate_left(7) ^ 0x5555_5555_5555_5555;
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    Bytes::from(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_200_mib_keeps_memory_flat() {
    let h = common::fs().await;
    let store = h.store.clone().with_part_size(PART_SIZE).unwrap();
    let key = h.key("large");
    let mut upload = ResumableUpload::create(store.clone(), &key, h.spool_dir())
        .await
        .unwrap();

    let baseline = rss();
    let peak = Cell::new(baseline);
    let mut expected = Sha256::new();
    let chunks_per_request = TOTAL / CHUNK / REQUESTS;
    for request in 0..REQUESTS {
        let first = request * chunks_per_request;
        let chunks = (first..first + chunks_per_request).map(|index| {
            peak.set(peak.get().max(rss()));
            let bytes = chunk(index);
            expected.update(&bytes);
            Ok::<_, std::io::Error>(bytes)
        });
        upload
            .append(futures_util::stream::iter(chunks))
            .await
            .unwrap();
        peak.set(peak.get().max(rss()));
    }
    assert_eq!(upload.offset(), TOTAL as u64);
    let completed = upload.complete().await.unwrap();
    peak.set(peak.get().max(rss()));

    assert_eq!(completed.size, TOTAL as u64);
    assert_eq!(completed.sha256, <[u8; 32]>::from(expected.finalize()));
    assert_eq!(store.head(&key).await.unwrap().size, TOTAL as u64);
    let growth = peak.get().saturating_sub(baseline);
    println!(
        "rss {} MiB at the start, {} MiB at most: grew {} MiB for {} MiB uploaded",
        baseline >> 20,
        peak.get() >> 20,
        growth >> 20,
        TOTAL >> 20
    );
    assert!(growth < MAX_GROWTH, "memory grew by {} MiB", growth >> 20);
}
