//! The bus between the nodes that serve one room: messages numbered with the
//! room's one offset sequence, room events, name claims and viewer presence.
//! `LocalBus` serves one process; `redis_bus::RedisBus` joins several.
//!
//! Every node, the publishing one included, learns of an event through the
//! `Deliver` callback it gave its bus, in the same order as every other node.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::moderation::Settings;
use crate::protocol::{ChatMessage, millis};
use crate::redis_bus::RedisBus;

/// What crosses from the node where it happened to every node serving the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    Message(ChatMessage),
    Deleted {
        id: String,
    },
    TimedOut {
        name: String,
        #[serde(with = "millis")]
        until: DateTime<Utc>,
        ip: Option<IpAddr>,
    },
    Banned {
        name: String,
        ip: Option<IpAddr>,
    },
    Unbanned {
        name: String,
    },
    Pinned {
        message: Option<ChatMessage>,
    },
    Settings(Settings),
    /// The stream went live (in this broadcast) or offline (None).
    Stream {
        broadcast: Option<String>,
    },
    /// A moderator token was revoked: its connections close.
    ModeratorRevoked {
        moderator_id: String,
    },
}

/// How a bus hands events to its node: `(room, event)`, in bus order.
pub type Deliver = Arc<dyn Fn(&str, RoomEvent) + Send + Sync>;

/// The contract both buses keep. Publishing never fails: when other nodes
/// cannot be reached the event is still delivered on this node, so local
/// clients keep chatting.
pub trait Bus: Send + Sync + 'static {
    /// Gives `message` the room's next offset (one sequence across nodes),
    /// delivers it everywhere and returns it as numbered.
    fn publish_message(
        &self,
        room: &str,
        message: ChatMessage,
    ) -> impl Future<Output = ChatMessage> + Send;

    /// Delivers `event` everywhere.
    fn publish(&self, room: &str, event: RoomEvent) -> impl Future<Output = ()> + Send;

    /// The room's offsets continue after `offset` at least (from storage, on load).
    fn seed_offset(&self, room: &str, offset: u64) -> impl Future<Output = ()> + Send;

    /// Claims a user name in a room for `holder` (a viewer id) for `ttl`;
    /// true when it is free or already `holder`'s. Claims are renewed by
    /// claiming again.
    fn claim_name(
        &self,
        room: &str,
        name_key: &str,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = bool> + Send;

    /// Gives a name back, if `holder` still holds it.
    fn release_name(
        &self,
        room: &str,
        name_key: &str,
        holder: &str,
    ) -> impl Future<Output = ()> + Send;

    /// Marks `viewers` present in `room` for `ttl` from now.
    fn touch_viewers(
        &self,
        room: &str,
        viewers: &[String],
        ttl: Duration,
    ) -> impl Future<Output = ()> + Send;

    /// How many viewers are present in `room`.
    fn count_viewers(&self, room: &str) -> impl Future<Output = u64> + Send;
}

/// The bus of a single process: everything stays in memory.
pub struct LocalBus {
    deliver: Deliver,
    state: Mutex<LocalState>,
}

#[derive(Default)]
struct LocalState {
    offsets: HashMap<String, u64>,
    names: NameClaims,
    viewers: Presence,
}

impl LocalBus {
    pub fn new(deliver: Deliver) -> LocalBus {
        LocalBus {
            deliver,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LocalState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bus for LocalBus {
    async fn publish_message(&self, room: &str, mut message: ChatMessage) -> ChatMessage {
        // Numbered and delivered under one lock, so deliveries keep offset order.
        let mut state = self.state();
        let offset = state.offsets.entry(room.to_owned()).or_default();
        *offset += 1;
        message.offset = *offset;
        (self.deliver)(room, RoomEvent::Message(message.clone()));
        message
    }

    async fn publish(&self, room: &str, event: RoomEvent) {
        let _order = self.state();
        (self.deliver)(room, event);
    }

    async fn seed_offset(&self, room: &str, offset: u64) {
        let mut state = self.state();
        let current = state.offsets.entry(room.to_owned()).or_default();
        *current = (*current).max(offset);
    }

    async fn claim_name(&self, room: &str, name_key: &str, holder: &str, ttl: Duration) -> bool {
        self.state().names.claim(room, name_key, holder, ttl)
    }

    async fn release_name(&self, room: &str, name_key: &str, holder: &str) {
        self.state().names.release(room, name_key, holder);
    }

    async fn touch_viewers(&self, room: &str, viewers: &[String], ttl: Duration) {
        self.state().viewers.touch(room, viewers, ttl);
    }

    async fn count_viewers(&self, room: &str) -> u64 {
        self.state().viewers.count(room)
    }
}

/// Name claims in memory: `(room, name key)` to its holder and expiry.
#[derive(Default)]
pub(crate) struct NameClaims(HashMap<(String, String), (String, Instant)>);

impl NameClaims {
    /// True when the name is free or already `holder`'s; it is then `holder`'s for `ttl`.
    pub(crate) fn claim(
        &mut self,
        room: &str,
        name_key: &str,
        holder: &str,
        ttl: Duration,
    ) -> bool {
        let now = Instant::now();
        let key = (room.to_owned(), name_key.to_owned());
        match self.0.get(&key) {
            Some((owner, expires)) if owner != holder && *expires > now => false,
            _ => {
                self.0.insert(key, (holder.to_owned(), now + ttl));
                true
            }
        }
    }

    /// Records `holder` as the name's holder for `ttl`, whoever held it.
    pub(crate) fn hold(&mut self, room: &str, name_key: &str, holder: &str, ttl: Duration) {
        let key = (room.to_owned(), name_key.to_owned());
        self.0
            .insert(key, (holder.to_owned(), Instant::now() + ttl));
    }

    pub(crate) fn release(&mut self, room: &str, name_key: &str, holder: &str) {
        let key = (room.to_owned(), name_key.to_owned());
        if self.0.get(&key).is_some_and(|(owner, _)| owner == holder) {
            self.0.remove(&key);
        }
    }
}

/// Viewer presence in memory: per room, each viewer's expiry.
#[derive(Default)]
pub(crate) struct Presence(HashMap<String, HashMap<String, Instant>>);

impl Presence {
    pub(crate) fn touch(&mut self, room: &str, viewers: &[String], ttl: Duration) {
        let until = Instant::now() + ttl;
        let present = self.0.entry(room.to_owned()).or_default();
        for viewer in viewers {
            present.insert(viewer.clone(), until);
        }
    }

    pub(crate) fn count(&mut self, room: &str) -> u64 {
        let now = Instant::now();
        let Some(present) = self.0.get_mut(room) else {
            return 0;
        };
        present.retain(|_, until| *until > now);
        present.len() as u64
    }
}

/// The bus a server runs with, chosen by its configuration.
pub enum AnyBus {
    Local(LocalBus),
    Redis(RedisBus),
}

impl Bus for AnyBus {
    async fn publish_message(&self, room: &str, message: ChatMessage) -> ChatMessage {
        match self {
            AnyBus::Local(bus) => bus.publish_message(room, message).await,
            AnyBus::Redis(bus) => bus.publish_message(room, message).await,
        }
    }

    async fn publish(&self, room: &str, event: RoomEvent) {
        match self {
            AnyBus::Local(bus) => bus.publish(room, event).await,
            AnyBus::Redis(bus) => bus.publish(room, event).await,
        }
    }

    async fn seed_offset(&self, room: &str, offset: u64) {
        match self {
            AnyBus::Local(bus) => bus.seed_offset(room, offset).await,
            AnyBus::Redis(bus) => bus.seed_offset(room, offset).await,
        }
    }

    async fn claim_name(&self, room: &str, name_key: &str, holder: &str, ttl: Duration) -> bool {
        match self {
            AnyBus::Local(bus) => bus.claim_name(room, name_key, holder, ttl).await,
            AnyBus::Redis(bus) => bus.claim_name(room, name_key, holder, ttl).await,
        }
    }

    async fn release_name(&self, room: &str, name_key: &str, holder: &str) {
        match self {
            AnyBus::Local(bus) => bus.release_name(room, name_key, holder).await,
            AnyBus::Redis(bus) => bus.release_name(room, name_key, holder).await,
        }
    }

    async fn touch_viewers(&self, room: &str, viewers: &[String], ttl: Duration) {
        match self {
            AnyBus::Local(bus) => bus.touch_viewers(room, viewers, ttl).await,
            AnyBus::Redis(bus) => bus.touch_viewers(room, viewers, ttl).await,
        }
    }

    async fn count_viewers(&self, room: &str) -> u64 {
        match self {
            AnyBus::Local(bus) => bus.count_viewers(room).await,
            AnyBus::Redis(bus) => bus.count_viewers(room).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Role, User};

    fn message(text: &str) -> ChatMessage {
        ChatMessage {
            id: text.into(),
            user: User {
                name: "ada".into(),
                role: Role::Viewer,
            },
            text: text.into(),
            sent_at: Utc::now(),
            media_time: None,
            offset: 0,
        }
    }

    type Seen = Arc<Mutex<Vec<(String, RoomEvent)>>>;

    fn recording_bus() -> (LocalBus, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let bus = LocalBus::new(Arc::new(move |room: &str, event| {
            sink.lock().unwrap().push((room.to_owned(), event));
        }));
        (bus, seen)
    }

    #[tokio::test]
    async fn messages_are_numbered_per_room_after_the_seed() {
        let (bus, seen) = recording_bus();
        bus.seed_offset("a", 41).await;
        assert_eq!(bus.publish_message("a", message("x")).await.offset, 42);
        assert_eq!(bus.publish_message("b", message("y")).await.offset, 1);
        assert_eq!(bus.publish_message("a", message("z")).await.offset, 43);
        bus.seed_offset("a", 10).await;
        assert_eq!(bus.publish_message("a", message("w")).await.offset, 44);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(matches!(&seen[0], (room, RoomEvent::Message(m)) if room == "a" && m.offset == 42));
    }

    #[tokio::test]
    async fn a_name_has_one_holder_until_released_or_expired() {
        let (bus, _) = recording_bus();
        let ttl = Duration::from_secs(30);
        assert!(bus.claim_name("r", "ada", "v1", ttl).await);
        assert!(bus.claim_name("r", "ada", "v1", ttl).await);
        assert!(!bus.claim_name("r", "ada", "v2", ttl).await);
        assert!(bus.claim_name("other", "ada", "v2", ttl).await);
        bus.release_name("r", "ada", "v2").await;
        assert!(!bus.claim_name("r", "ada", "v2", ttl).await);
        bus.release_name("r", "ada", "v1").await;
        assert!(bus.claim_name("r", "ada", "v2", ttl).await);
        assert!(bus.claim_name("r", "bob", "v3", Duration::ZERO).await);
        assert!(bus.claim_name("r", "bob", "v4", ttl).await);
    }

    #[tokio::test]
    async fn viewers_count_once_until_they_expire() {
        let (bus, _) = recording_bus();
        bus.touch_viewers("r", &["v1".into(), "v2".into()], Duration::from_secs(30))
            .await;
        bus.touch_viewers("r", &["v1".into()], Duration::from_secs(30))
            .await;
        bus.touch_viewers("r", &["v3".into()], Duration::ZERO).await;
        assert_eq!(bus.count_viewers("r").await, 2);
        assert_eq!(bus.count_viewers("other").await, 0);
    }
}
