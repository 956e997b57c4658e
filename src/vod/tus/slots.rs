//! One request at a time per upload. Each upload in use has a slot holding
//! its `ResumableUpload` behind an async mutex: a PATCH that finds it taken
//! gets 423. A client that lost its connection mid-PATCH and comes back asks
//! HEAD first; when that PATCH has received nothing for a while (its
//! connection hung), HEAD tells it to stop (it keeps what it received) and
//! waits for it, so the client resumes at once. A HEAD beside a PATCH that is
//! still receiving (a progress check) answers the last durable offset and
//! leaves it alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use storage::{AnyStore, ResumableUpload};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard, Notify};

/// How long HEAD waits for a stopped PATCH to let go.
const RELEASE_WAIT: Duration = Duration::from_secs(10);
/// How long HEAD waits for a PATCH in progress to end by itself.
const SETTLE_WAIT: Duration = Duration::from_millis(500);
/// A PATCH that received nothing for this long has a hung connection.
const HUNG_AFTER: Duration = Duration::from_secs(3);

/// The clock of `Slot::last_heard`.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

pub type Upload = ResumableUpload<AnyStore>;

#[derive(Default)]
pub struct Slot {
    /// None until a request loads it (from the store after a restart).
    upload: AsyncMutex<Option<Upload>>,
    /// Wakes the PATCH in progress, telling it to stop reading.
    stop: Notify,
    /// When the PATCH in progress last received bytes (`now_ms`).
    last_heard: AtomicU64,
    /// The durable offset as of the last request that held the slot.
    durable: AtomicU64,
}

/// The slot held by a request; dropping it lets the next one in.
pub type Held<'a> = MutexGuard<'a, Option<Upload>>;

#[derive(Default)]
pub struct Slots {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Slots {
    pub fn slot(&self, id: &str) -> Arc<Slot> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets an upload (finished, terminated or expired).
    pub fn remove(&self, id: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

impl Slot {
    /// The slot for a PATCH or DELETE; None while another request holds it.
    pub fn try_hold(&self) -> Option<Held<'_>> {
        self.upload.try_lock().ok()
    }

    /// The slot, after telling a request holding it to stop (to remove the upload).
    pub async fn hold_after_stopping(&self) -> Option<Held<'_>> {
        if let Some(held) = self.try_hold() {
            return Some(held);
        }
        self.stop.notify_waiters();
        tokio::time::timeout(RELEASE_WAIT, self.upload.lock())
            .await
            .ok()
    }

    /// What HEAD may do: hold the slot (it was free, or its PATCH hung and
    /// was stopped), or, beside a PATCH still receiving, know the last
    /// durable offset.
    pub async fn hold_for_head(&self) -> Result<Held<'_>, u64> {
        // A PATCH whose connection just broke lets go in a moment: then HEAD
        // reports all it kept.
        if let Ok(held) = tokio::time::timeout(SETTLE_WAIT, self.upload.lock()).await {
            return Ok(held);
        }
        let quiet = now_ms().saturating_sub(self.last_heard.load(Ordering::Relaxed));
        if quiet < HUNG_AFTER.as_millis() as u64 {
            return Err(self.durable.load(Ordering::Relaxed));
        }
        self.hold_after_stopping()
            .await
            .ok_or_else(|| self.durable.load(Ordering::Relaxed))
    }

    /// The PATCH in progress received bytes.
    pub fn heard(&self) {
        self.last_heard.store(now_ms(), Ordering::Relaxed);
    }

    /// The offset the store holds, for HEADs beside a PATCH.
    pub fn set_durable(&self, offset: u64) {
        self.durable.store(offset, Ordering::Relaxed);
    }

    /// Resolves when a HEAD asks the holder to stop.
    pub async fn stopped(&self) {
        self.stop.notified().await;
    }
}
