//! Chat beside the player: the `chat` crate's hub wired to our database, our
//! live sessions (for media time and stream status), the bus the
//! configuration picks, and axum (socket and API).

mod api;
mod moderators;
mod socket;
mod store;

use std::sync::Arc;

use anyhow::Context;
use chat::{AnyBus, Hub, Limits, LocalBus, RedisBus};
use tokio::sync::broadcast::error::RecvError;

pub use api::{admin_routes, public_routes};
pub use store::ChatStore;
pub(crate) use store::{MESSAGE_COLUMNS, message_row};

use crate::db::Db;
use crate::live::{LiveEvent, LiveManager};

/// The chat of this node.
pub type ChatHub = Hub<ChatStore, AnyBus>;

/// Starts the chat: the hub on Redis when `redis_url` is set (several nodes),
/// else in-process, and the task that tells rooms when their stream goes
/// live or offline.
pub fn start(
    db: Db,
    live: &Arc<LiveManager>,
    limits: Limits,
    redis_url: Option<&str>,
) -> anyhow::Result<ChatHub> {
    let store = ChatStore::new(db, live.clone());
    let mut bad_url = None;
    let hub = Hub::new(store, limits, |deliver| match redis_url {
        None => AnyBus::Local(LocalBus::new(deliver)),
        Some(url) => match RedisBus::new(url, deliver.clone()) {
            Ok(bus) => AnyBus::Redis(bus),
            Err(e) => {
                bad_url = Some(e);
                AnyBus::Local(LocalBus::new(deliver))
            }
        },
    });
    if let Some(e) = bad_url {
        return Err(e).context("redis_url");
    }
    tokio::spawn(forward_live_events(live.subscribe(), hub.clone()));
    Ok(hub)
}

async fn forward_live_events(
    mut events: tokio::sync::broadcast::Receiver<LiveEvent>,
    hub: ChatHub,
) {
    loop {
        match events.recv().await {
            Ok(LiveEvent::Started {
                stream_id,
                broadcast_id,
            }) => hub.stream_changed(&stream_id, Some(broadcast_id)).await,
            Ok(LiveEvent::Ended { stream_id, .. }) => hub.stream_changed(&stream_id, None).await,
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
