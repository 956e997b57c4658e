//! How a live server archives broadcasts (not at all, to `fs`, to `s3`),
//! and how its recording kept up, for the benches that compare them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::server::{S3_SKIPPED, Server, s3_flags};

/// How often a recording's status is sampled: rarely, as reading it takes
/// the locks the live path takes.
const STATUS_EVERY: Duration = Duration::from_secs(1);

pub struct Archive {
    pub label: &'static str,
    /// The server flags that select it.
    pub flags: Vec<String>,
}

/// Recording off, on `fs`, and on `s3` when there is an S3 server.
pub fn modes() -> Vec<Archive> {
    let off = Archive {
        label: "off",
        flags: vec!["--record-broadcasts".into(), "false".into()],
    };
    std::iter::once(off).chain(stores()).collect()
}

/// Recording on `fs`, and on `s3` when there is an S3 server (else it says
/// why not).
pub fn stores() -> Vec<Archive> {
    let fs = Archive {
        label: "fs",
        flags: vec![],
    };
    let s3 = s3_flags().map(|flags| Archive { label: "s3", flags });
    if s3.is_none() {
        println!("{S3_SKIPPED}");
    }
    std::iter::once(fs).chain(s3).collect()
}

/// A recording's counters (`recording` of the stream's status).
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordingSeen {
    pub written: u64,
    pub dropped: u64,
    pub failed: u64,
    /// The longest queue seen.
    pub max_queued: u64,
}

/// Samples the recording's status of stream `id` until `done`; the last
/// counters seen, None when it was never recorded.
pub async fn watch_recording(
    server: &Server,
    id: &str,
    done: &AtomicBool,
) -> anyhow::Result<Option<RecordingSeen>> {
    let mut seen: Option<RecordingSeen> = None;
    while !done.load(Ordering::Acquire) {
        let status = server.api_get(&format!("/api/v1/streams/{id}")).await?;
        if let Some(recording) = status["recording"].as_object() {
            let count = |name: &str| recording.get(name).and_then(Value::as_u64).unwrap_or(0);
            let max_queued = seen.map_or(0, |s| s.max_queued);
            seen = Some(RecordingSeen {
                written: count("written_segments"),
                dropped: count("dropped_segments"),
                failed: count("failed_segments"),
                max_queued: max_queued.max(count("queued_segments")),
            });
        }
        tokio::time::sleep(STATUS_EVERY).await;
    }
    Ok(seen)
}
