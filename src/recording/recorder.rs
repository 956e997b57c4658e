//! Archives one broadcast while it goes on: the segments the live packager
//! completes (and the init segments they need) go to object storage under
//! the replay's prefix, then get their rows. All of it off the live path: the
//! packager's lock is held only to take the segments (shared bytes, not
//! copies) and queue them; a slow or failing store fills the queue, and what
//! does not fit is dropped with a warning and counted, never waited for.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use packager::{CompletedSegment, LivePackager, RenditionId};
use serde::Serialize;
use storage::{AnyStore, Body, ObjectStore};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use super::plan::{RecordedInit, RecordedSegment, file_number};
use super::rows;
use crate::db::Db;
use crate::vod::rendition_record::TrackRecord;
use crate::vod::renditions::media_prefix;
use packager::vod::AssetFile;

/// Segments (of all renditions) waiting to be written: minutes of media, so
/// a store that stalls for a while loses nothing.
const QUEUE: usize = 2048;
/// Items written before their rows go in, in one transaction.
const BATCH: usize = 32;
/// Tries of one write before it is given up.
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// How long the end of a broadcast waits for the queue to drain.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Where a broadcast's recording goes.
#[derive(Clone)]
pub struct Target {
    pub db: Db,
    pub store: AnyStore,
    pub broadcast_id: String,
    /// The asset id its files are stored under.
    pub recording_id: String,
}

pub struct Recorder {
    state: Mutex<State>,
    stats: Arc<Stats>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct State {
    /// None once the broadcast ended.
    queue: Option<mpsc::Sender<Item>>,
    /// Init segments queued, by rendition index and number.
    inits: HashSet<(usize, u32)>,
}

enum Item {
    Init(RecordedInit, Bytes),
    Segment(RecordedSegment, Vec<Bytes>),
}

#[derive(Default)]
struct Stats {
    written: AtomicU64,
    queued: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// How the recording keeps up, for the stream's status.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RecordingStatus {
    /// Segments in storage.
    pub written_segments: u64,
    /// Segments waiting to be written.
    pub queued_segments: u64,
    /// Segments dropped because the queue was full.
    pub dropped_segments: u64,
    /// Segments given up after failed writes.
    pub failed_segments: u64,
}

impl Recorder {
    pub fn start(target: Target) -> Recorder {
        let (queue, items) = mpsc::channel(QUEUE);
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(run(target, items, stats.clone()));
        Recorder {
            state: Mutex::new(State {
                queue: Some(queue),
                inits: HashSet::new(),
            }),
            stats,
            task: Mutex::new(Some(task)),
        }
    }

    /// Queues the segments `packager` completed since the last call (called
    /// under the broadcast's lock, right after it published). Never blocks.
    pub fn offer(&self, packager: &mut LivePackager) {
        let completed = packager.take_completed();
        if completed.is_empty() {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { queue, inits } = &mut *state;
        let Some(queue) = queue else { return };
        for segment in completed.into_iter().filter(|s| !s.gap) {
            let Some(name) = rendition_name(packager, segment.rendition) else {
                continue;
            };
            let init_key = (segment.rendition.0, segment.init);
            if !inits.contains(&init_key) {
                let init = packager
                    .init(segment.rendition, segment.init)
                    .zip(packager.init_config(segment.rendition, segment.init));
                let Some((bytes, config)) = init else {
                    continue;
                };
                let item = Item::Init(
                    RecordedInit {
                        rendition: name.clone(),
                        init: segment.init,
                        track: TrackRecord::of(config),
                    },
                    bytes,
                );
                if queue.try_send(item).is_err() {
                    self.dropped(&name, segment.msn);
                    continue;
                }
                inits.insert(init_key);
            }
            let (recorded, chunks) = recorded(name, segment);
            let msn = recorded.msn;
            match queue.try_send(Item::Segment(recorded, chunks)) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(refused) => {
                    if let mpsc::error::TrySendError::Full(Item::Segment(s, _))
                    | mpsc::error::TrySendError::Closed(Item::Segment(s, _)) = refused
                    {
                        self.dropped(&s.rendition, msn);
                    }
                }
            }
        }
    }

    fn dropped(&self, rendition: &str, msn: u64) {
        let dropped = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // One line per burst, not one per segment.
        if dropped.is_power_of_two() {
            warn!(
                rendition,
                msn, dropped, "recording falls behind: dropping a segment"
            );
        }
    }

    /// No more segments: waits until the queued ones are written (at most
    /// a minute).
    pub async fn finish(&self) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queue
            .take();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task
            && tokio::time::timeout(DRAIN_LIMIT, task).await.is_err()
        {
            warn!(
                "recording still writing after {DRAIN_LIMIT:?}: the replay goes without the rest"
            );
        }
    }

    pub fn status(&self) -> RecordingStatus {
        RecordingStatus {
            written_segments: self.stats.written.load(Ordering::Relaxed),
            queued_segments: self.stats.queued.load(Ordering::Relaxed),
            dropped_segments: self.stats.dropped.load(Ordering::Relaxed),
            failed_segments: self.stats.failed.load(Ordering::Relaxed),
        }
    }
}

fn rendition_name(packager: &LivePackager, id: RenditionId) -> Option<String> {
    packager
        .renditions()
        .find(|(other, _, _)| *other == id)
        .map(|(_, name, _)| super::plan::recorded_name(name))
}

fn recorded(rendition: String, s: CompletedSegment) -> (RecordedSegment, Vec<Bytes>) {
    let segment = RecordedSegment {
        rendition,
        msn: s.msn,
        discontinuity: s.discontinuity,
        init: s.init,
        timescale: s.timescale,
        start: s.start,
        duration: s.duration,
        pdt_ms: s.pdt_ms,
        size: s.len,
        samples: s.samples,
    };
    (segment, s.chunks)
}

async fn run(target: Target, mut items: mpsc::Receiver<Item>, stats: Arc<Stats>) {
    let media = media_prefix(&target.recording_id);
    let mut batch = Vec::with_capacity(BATCH);
    while items.recv_many(&mut batch, BATCH).await > 0 {
        let mut inits = Vec::new();
        let mut segments = Vec::new();
        for item in batch.drain(..) {
            match item {
                Item::Init(init, bytes) => {
                    let key = format!("{media}{}", AssetFile::Init(&init.rendition, init.init));
                    if write(&target.store, &key, &[bytes]).await {
                        inits.push(init);
                    }
                }
                Item::Segment(segment, chunks) => {
                    stats.queued.fetch_sub(1, Ordering::Relaxed);
                    let file = AssetFile::Segment(&segment.rendition, file_number(segment.msn));
                    if write(&target.store, &format!("{media}{file}"), &chunks).await {
                        segments.push(segment);
                    } else {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if insert(&target, &inits, &segments).await {
            stats
                .written
                .fetch_add(segments.len() as u64, Ordering::Relaxed);
        } else {
            stats
                .failed
                .fetch_add(segments.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Writes one object, trying again a few times; false when it gave up.
async fn write(store: &AnyStore, key: &str, chunks: &[Bytes]) -> bool {
    let len: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    let mut delay = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        let items: Vec<storage::Result<Bytes>> = chunks.iter().cloned().map(Ok).collect();
        let stream = futures::stream::iter(items);
        let body = Body::Stream {
            stream: Box::pin(stream),
            len,
        };
        match store.put(key, body).await {
            Ok(()) => return true,
            Err(e) if attempt == ATTEMPTS => {
                error!(key, "recording: giving up writing a file: {e}");
            }
            Err(e) => {
                warn!(
                    key,
                    attempt, "recording: writing a file failed, trying again: {e}"
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    false
}

/// Records the rows of what was written, trying again a few times.
async fn insert(target: &Target, inits: &[RecordedInit], segments: &[RecordedSegment]) -> bool {
    if inits.is_empty() && segments.is_empty() {
        return true;
    }
    let mut delay = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        match rows::insert(&target.db, &target.broadcast_id, inits, segments).await {
            Ok(()) => return true,
            Err(e) if attempt == ATTEMPTS => {
                error!(broadcast = %target.broadcast_id, "recording: giving up recording {} segments: {e}", segments.len());
            }
            Err(e) => {
                warn!(broadcast = %target.broadcast_id, attempt, "recording: writing rows failed, trying again: {e}");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    false
}
