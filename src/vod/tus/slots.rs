//! One request at a time per upload. Each upload in use has a slot holding
//! its `ResumableUpload` behind an async mutex: a PATCH that finds it taken
//! gets 423. A client that lost its connection mid-PATCH and comes back asks
//! HEAD first; HEAD tells the hung PATCH to stop (it keeps what it received)
//! and waits for it, so the client resumes at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storage::{AnyStore, ResumableUpload};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard, Notify};

/// How long HEAD waits for a stopped PATCH to let go.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

pub type Upload = ResumableUpload<AnyStore>;

#[derive(Default)]
pub struct Slot {
    /// None until a request loads it (from the store after a restart).
    upload: AsyncMutex<Option<Upload>>,
    /// Wakes the PATCH in progress, telling it to stop reading.
    stop: Notify,
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

    /// The slot for HEAD: a request holding it is told to stop first.
    pub async fn hold_after_stopping(&self) -> Option<Held<'_>> {
        if let Some(held) = self.try_hold() {
            return Some(held);
        }
        self.stop.notify_waiters();
        tokio::time::timeout(RELEASE_WAIT, self.upload.lock()).await.ok()
    }

    /// Resolves when a HEAD asks the holder to stop.
    pub async fn stopped(&self) {
        self.stop.notified().await;
    }
}
