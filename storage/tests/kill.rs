//! kill -9 in the middle of an upload loses nothing acknowledged: a child
//! process appends and reports each offset it acknowledged, is killed with
//! SIGKILL mid-request, and the upload resumes from what the store holds.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{Harness, chunked, data, read};
use storage::{ObjectStore, ResumableUpload};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Set for the child: `fs:<root>` or `s3`.
const CHILD_STORE: &str = "TRIBUTARY_TEST_KILL_STORE";
const CHILD_KEY: &str = "TRIBUTARY_TEST_KILL_KEY";
const CHILD_UPLOAD: &str = "TRIBUTARY_TEST_KILL_UPLOAD";
const CHILD_SPOOL: &str = "TRIBUTARY_TEST_KILL_SPOOL";
const SEED: u64 = 20;
/// Acknowledged requests before the kill.
const ACKS_BEFORE_KILL: usize = 5;

/// The whole upload, eight parts long.
fn upload_len(part_size: usize) -> usize {
    8 * part_size + 123
}

/// Request sizes, in parts: tails, exact parts, requests across parts.
fn request_len(part_size: usize, index: usize) -> usize {
    [
        part_size * 3 / 5 + 7,
        part_size / 5 + 1,
        part_size * 6 / 5 + 5,
        part_size / 8,
    ][index % 4]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_fs() {
    let h = common::fs().await;
    let kind = format!("fs:{}", h.store.root().display());
    killed_mid_upload(h, &kind).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_upload_s3() {
    killed_mid_upload(common::s3().await, "s3").await;
}

async fn killed_mid_upload<S: ObjectStore + Clone>(h: Harness<S>, kind: &str) {
    let key = h.key("killed");
    let part_size = h.store.part_size() as usize;
    let bytes = data(upload_len(part_size), SEED);
    let upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    let id = upload.upload_id().to_owned();
    drop(upload);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_appends_until_killed", "--nocapture"])
        .env(CHILD_STORE, kind)
        .env(CHILD_KEY, &key)
        .env(CHILD_UPLOAD, &id)
        .env(CHILD_SPOOL, h.spool_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(offset) = line.strip_prefix("acked ") {
            acked.push(offset.parse::<u64>().unwrap());
            if acked.len() == ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "the child stopped early");
    // SIGKILL, in the middle of the next request.
    child.kill().await.unwrap();
    let last_acked = *acked.last().unwrap();

    let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    let offset = upload.offset();
    assert!(
        offset >= last_acked && offset <= bytes.len() as u64,
        "resumed at {offset}, {last_acked} acknowledged"
    );
    upload
        .append(chunked(&bytes[offset as usize..], &[1024 * 1024 + 3]))
        .await
        .unwrap();
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.size, bytes.len() as u64);
    assert!(read(&h.store, &key, None).await == bytes);
}

/// The child of `killed_mid_upload`: appends until killed, printing each
/// acknowledged offset. Does nothing in an ordinary run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_appends_until_killed() {
    let Ok(kind) = std::env::var(CHILD_STORE) else {
        return;
    };
    let key = std::env::var(CHILD_KEY).unwrap();
    let id = std::env::var(CHILD_UPLOAD).unwrap();
    let spool = std::env::var(CHILD_SPOOL).unwrap();
    match kind.strip_prefix("fs:") {
        Some(root) => {
            let store = common::fs_store(Path::new(root)).await;
            append_until_killed(store, &key, &id, Path::new(&spool)).await;
        }
        None => append_until_killed(common::s3_store().await, &key, &id, Path::new(&spool)).await,
    }
}

async fn append_until_killed<S: ObjectStore>(store: S, key: &str, id: &str, spool: &Path) {
    let part_size = store.part_size() as usize;
    let bytes = data(upload_len(part_size), SEED);
    let mut upload = ResumableUpload::resume(store, key, id, spool)
        .await
        .unwrap();
    let mut offset = 0;
    for index in 0.. {
        let len = request_len(part_size, index).min(bytes.len() - offset);
        if len == 0 {
            break;
        }
        let request = chunked(&bytes[offset..offset + len], &[65_537, 1, 4096]);
        offset += len;
        assert_eq!(upload.append(request).await.unwrap(), offset as u64);
        println!("acked {offset}");
    }
}
