//! What the chat needs from the server around it: lasting storage of messages
//! and moderation, and the live state of the stream a room belongs to. The
//! server implements it over its database and its live sessions.

use std::future::Future;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::bus::RoomEvent;
use crate::history::Entry;
use crate::moderation::{Ban, Settings};
use crate::protocol::{ChatMessage, User};

#[derive(Debug, thiserror::Error)]
#[error("chat storage: {0}")]
pub struct StoreError(pub String);

/// A room as storage knows it, loaded when a node first serves the room.
#[derive(Debug, Default)]
pub struct RoomSnapshot {
    /// None for the defaults.
    pub settings: Option<Settings>,
    /// The most recent messages (up to `history::KEPT`), oldest first.
    pub recent: Vec<Entry>,
    /// The highest offset ever given out in the room.
    pub last_offset: u64,
    pub pinned: Option<ChatMessage>,
    /// Bans and time-outs that may still be in force.
    pub bans: Vec<Ban>,
    /// The broadcast the room's stream is in, while it is live.
    pub broadcast: Option<String>,
}

/// A message to store, with what only the server keeps: the broadcast it was
/// said in and the sender's address.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub room: String,
    pub broadcast_id: Option<String>,
    pub ip: IpAddr,
    pub message: ChatMessage,
}

/// Where a live stream is now: its broadcast and the program date time at the
/// live edge.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePosition {
    pub broadcast_id: String,
    pub media_time: DateTime<Utc>,
}

pub trait Store: Send + Sync + 'static {
    fn load_room(
        &self,
        room: &str,
    ) -> impl Future<Output = Result<RoomSnapshot, StoreError>> + Send;

    /// Stores messages (a batch, in offset order).
    fn save_messages(
        &self,
        batch: Vec<StoredMessage>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn find_message(
        &self,
        room: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<ChatMessage>, StoreError>> + Send;

    /// The address a user last sent from in this room (to ban it).
    fn last_ip(
        &self,
        room: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<IpAddr>, StoreError>> + Send;

    /// Records a moderation action by `actor` and its lasting effect: a
    /// deletion, a ban or time-out (`Banned`/`TimedOut`), an unban, the pin,
    /// the settings. Returns false when the target does not exist (a deleted
    /// or pinned message unknown to storage).
    fn record(
        &self,
        room: &str,
        actor: &User,
        event: &RoomEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Where the room's stream is, when it is live on this node.
    fn live_position(&self, room: &str) -> Option<LivePosition>;
}
