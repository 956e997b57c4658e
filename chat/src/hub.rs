//! The rooms of one node: joining, sending, moderating, and handing what the
//! bus delivers to the clients of each room. Each event is serialized once
//! and its bytes go to every client through the room's broadcast ring; a
//! client that falls `Limits::client_queue` events behind is dropped there,
//! without the room ever waiting for it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{OnceCell, broadcast, mpsc, watch};
use tracing::{info, warn};

use crate::bus::{Bus, Deliver, RoomEvent};
use crate::moderation::MAX_TIMEOUT_SECS;
use crate::names::{name_key, valid_name};
use crate::protocol::{ChatMessage, Command, ErrorCode, Event, SettingsPatch, User};
use crate::room::{Limits, Refusal, RoomState};
use crate::store::{Store, StoredMessage};

/// How long a name claim lives without renewal.
const NAME_TTL: Duration = Duration::from_secs(30);
/// How often claims are renewed and viewers counted.
const PRESENCE_INTERVAL: Duration = Duration::from_secs(5);
/// A chat socket keeps its viewer present this long after the last count.
const SOCKET_PRESENCE: Duration = Duration::from_secs(15);
/// A player heartbeat keeps its viewer present this long.
pub const HEARTBEAT_PRESENCE: Duration = Duration::from_secs(30);
/// Messages waiting to be stored.
const WRITE_QUEUE: usize = 65_536;
const WRITE_BATCH: usize = 256;
/// How long a deletion waits for its message to reach storage: 20 x 100 ms.
const RECORD_RETRIES: u32 = 20;
const RECORD_RETRY: Duration = Duration::from_millis(100);

/// Why a connection is being closed by the server.
#[derive(Debug, Clone)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
    /// An event to send before the close frame.
    pub event: Option<Bytes>,
}

/// Why a client could not join.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinError {
    pub code: ErrorCode,
    pub close_code: u16,
    pub message: String,
}

impl JoinError {
    fn new(code: ErrorCode, close_code: u16, message: impl Into<String>) -> JoinError {
        JoinError {
            code,
            close_code,
            message: message.into(),
        }
    }

    pub fn event(&self) -> Bytes {
        error_event(self.code, &self.message)
    }
}

fn error_event(code: ErrorCode, message: &str) -> Bytes {
    Event::Error {
        code,
        message,
        retry_after_secs: None,
    }
    .encode()
}

/// A moderation request that was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationError {
    pub code: ErrorCode,
    pub message: String,
}

impl ModerationError {
    fn new(code: ErrorCode, message: impl Into<String>) -> ModerationError {
        ModerationError {
            code,
            message: message.into(),
        }
    }
}

/// Whose address a ban also covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IpTarget {
    None,
    Address(IpAddr),
    /// The address the named user is connected from or last sent from.
    OfName,
}

/// What a moderator, the broadcaster or the admin API may do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Delete {
        id: String,
    },
    Timeout {
        name: String,
        secs: u64,
        ip: IpTarget,
    },
    Ban {
        name: String,
        ip: IpTarget,
    },
    Unban {
        name: String,
    },
    Pin {
        id: String,
    },
    Unpin,
    Settings(SettingsPatch),
}

/// Who wants to join, as the server authenticated them.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// None for a read-only client.
    pub user: Option<User>,
    /// The moderator token used, so revoking it closes the connection.
    pub moderator_id: Option<String>,
    pub ip: IpAddr,
    /// The viewer id the page keeps; a fresh one when it sent none.
    pub viewer: Option<String>,
    pub since: Option<u64>,
}

pub struct Hub<S: Store, B: Bus> {
    inner: Arc<Inner<S, B>>,
}

impl<S: Store, B: Bus> Clone for Hub<S, B> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S, B> {
    store: S,
    bus: B,
    limits: Limits,
    rooms: Mutex<HashMap<String, Arc<OnceCell<Arc<Room>>>>>,
    writer: mpsc::Sender<StoredMessage>,
    next_client: AtomicU64,
}

/// One room on this node.
struct Room {
    id: String,
    state: Mutex<RoomState>,
    clients: Mutex<HashMap<u64, Client>>,
    fanout: broadcast::Sender<Bytes>,
}

struct Client {
    name_key: Option<String>,
    ip: IpAddr,
    viewer: Arc<str>,
    moderator_id: Option<String>,
    close: watch::Sender<Option<Close>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_id(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}

impl<S: Store, B: Bus> Hub<S, B> {
    /// A hub over `store`, on the bus `make_bus` builds around the hub's
    /// delivery callback. Spawns the message writer and the presence ticker.
    pub fn new(store: S, limits: Limits, make_bus: impl FnOnce(Deliver) -> B) -> Hub<S, B> {
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner<S, B>>| {
            let weak = weak.clone();
            let deliver: Deliver = Arc::new(move |room: &str, event| {
                if let Some(inner) = weak.upgrade() {
                    inner.deliver(room, event);
                }
            });
            Inner {
                store,
                bus: make_bus(deliver),
                limits,
                rooms: Mutex::default(),
                writer,
                next_client: AtomicU64::new(1),
            }
        });
        tokio::spawn(write_messages(Arc::downgrade(&inner), queue));
        tokio::spawn(keep_presence(Arc::downgrade(&inner)));
        Hub { inner }
    }

    pub fn bus(&self) -> &B {
        &self.inner.bus
    }

    /// Joins a room: checks the name, bans and name claims, and subscribes.
    pub async fn join(
        &self,
        room_id: &str,
        request: JoinRequest,
    ) -> Result<Session<S, B>, JoinError> {
        let inner = &self.inner;
        let room = inner.room(room_id).await.map_err(|e| {
            warn!(room = room_id, "loading chat room: {e}");
            JoinError::new(
                ErrorCode::Internal,
                1011,
                "the chat is unavailable, try again",
            )
        })?;
        let viewer: Arc<str> = request
            .viewer
            .clone()
            .unwrap_or_else(|| format!("c-{}", random_id(16)))
            .into();
        if let Some(user) = &request.user
            && !valid_name(&user.name)
        {
            return Err(JoinError::new(
                ErrorCode::BadName,
                4000,
                "names are 1 to 25 letters, digits, _ or -",
            ));
        }
        if lock(&room.state)
            .join_block(request.user.as_ref(), request.ip, Utc::now())
            .is_some_and(|b| b == crate::moderation::Block::Banned)
        {
            return Err(JoinError::new(
                ErrorCode::Banned,
                4003,
                "you are banned from this chat",
            ));
        }
        let key = request.user.as_ref().map(|u| name_key(&u.name));
        if let Some(key) = &key
            && !inner.bus.claim_name(room_id, key, &viewer, NAME_TTL).await
        {
            return Err(JoinError::new(
                ErrorCode::NameTaken,
                4009,
                "someone in this chat already has that name",
            ));
        }
        // Counted at the next presence check, and by the API at once.
        inner
            .bus
            .touch_viewers(room_id, &[viewer.to_string()], SOCKET_PRESENCE)
            .await;
        let id = inner.next_client.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = watch::channel(None);
        // Subscribing and taking the history under the state lock: no event
        // is both in the history and in the queue, and none is in neither.
        let (events, welcome) = {
            let state = lock(&room.state);
            let events = room.fanout.subscribe();
            (events, state.welcome(request.user.as_ref(), request.since))
        };
        lock(&room.clients).insert(
            id,
            Client {
                name_key: key,
                ip: request.ip,
                viewer: viewer.clone(),
                moderator_id: request.moderator_id.clone(),
                close,
            },
        );
        Ok(Session {
            hub: self.clone(),
            room,
            id,
            user: request.user,
            ip: request.ip,
            viewer,
            welcome: Some(welcome),
            events,
            closed,
        })
    }

    /// Sends a message as `user`; the refusal when it may not go.
    pub async fn send_message(
        &self,
        room_id: &str,
        user: &User,
        ip: IpAddr,
        text: &str,
    ) -> Result<ChatMessage, Refusal> {
        let room = self
            .inner
            .room(room_id)
            .await
            .map_err(|_| internal_refusal())?;
        self.inner.send_message(&room, user, ip, text).await
    }

    /// Carries out a moderation action: stored, then delivered to every node.
    pub async fn moderate(
        &self,
        room_id: &str,
        actor: &User,
        action: Action,
    ) -> Result<(), ModerationError> {
        let room = self.inner.room(room_id).await.map_err(|e| {
            warn!(room = room_id, "loading chat room: {e}");
            ModerationError::new(ErrorCode::Internal, "the chat is unavailable, try again")
        })?;
        self.inner.moderate(&room, actor, action).await
    }

    /// The stream of a room went live (in `broadcast`) or offline.
    pub async fn stream_changed(&self, room_id: &str, broadcast: Option<String>) {
        self.inner
            .bus
            .publish(room_id, RoomEvent::Stream { broadcast })
            .await;
    }

    /// A moderator token was revoked: its connections close on every node.
    pub async fn moderator_revoked(&self, room_id: &str, moderator_id: &str) {
        self.inner
            .bus
            .publish(
                room_id,
                RoomEvent::ModeratorRevoked {
                    moderator_id: moderator_id.to_owned(),
                },
            )
            .await;
    }

    /// A player heartbeat from `viewer`.
    pub async fn heartbeat(&self, room_id: &str, viewer: &str) {
        self.inner
            .bus
            .touch_viewers(room_id, &[viewer.to_owned()], HEARTBEAT_PRESENCE)
            .await;
    }

    pub async fn viewers(&self, room_id: &str) -> u64 {
        self.inner.bus.count_viewers(room_id).await
    }

    /// The room's settings as this node knows them.
    pub async fn settings(
        &self,
        room_id: &str,
    ) -> Result<crate::moderation::Settings, ModerationError> {
        let room = self.inner.room(room_id).await.map_err(|_| {
            ModerationError::new(ErrorCode::Internal, "the chat is unavailable, try again")
        })?;
        Ok(lock(&room.state).settings.clone())
    }

    /// Forgets a room (its stream was deleted) and closes its connections.
    pub fn remove_room(&self, room_id: &str) {
        let slot = lock(&self.inner.rooms).remove(room_id);
        if let Some(room) = slot.and_then(|s| s.get().cloned()) {
            room.close_where(
                |_| true,
                &Close {
                    code: 1001,
                    reason: "the stream was deleted",
                    event: None,
                },
            );
        }
    }
}

fn internal_refusal() -> Refusal {
    Refusal {
        code: ErrorCode::Internal,
        message: "the chat is unavailable, try again".into(),
        retry_after: None,
        flood: false,
    }
}

impl<S: Store, B: Bus> Inner<S, B> {
    async fn room(&self, room_id: &str) -> Result<Arc<Room>, crate::store::StoreError> {
        let slot = lock(&self.rooms)
            .entry(room_id.to_owned())
            .or_default()
            .clone();
        slot.get_or_try_init(|| async {
            let snapshot = self.store.load_room(room_id).await?;
            self.bus.seed_offset(room_id, snapshot.last_offset).await;
            let (fanout, _) = broadcast::channel(self.limits.client_queue.max(1));
            Ok(Arc::new(Room {
                id: room_id.to_owned(),
                state: Mutex::new(RoomState::new(snapshot)),
                clients: Mutex::default(),
                fanout,
            }))
        })
        .await
        .cloned()
    }

    fn loaded_room(&self, room_id: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(room_id)?.get().cloned()
    }

    /// What the bus delivers: applied to the room and sent to its clients.
    fn deliver(&self, room_id: &str, event: RoomEvent) {
        let Some(room) = self.loaded_room(room_id) else {
            return;
        };
        {
            let mut state = lock(&room.state);
            if let Some(bytes) = state.apply(&event) {
                // No receivers is fine: nobody is connected here.
                let _ = room.fanout.send(bytes);
            }
        }
        match &event {
            RoomEvent::Banned { name, ip } => {
                let key = name_key(name);
                let close = Close {
                    code: 4003,
                    reason: "banned",
                    event: Some(error_event(
                        ErrorCode::Banned,
                        "you are banned from this chat",
                    )),
                };
                room.close_where(
                    |c| c.name_key.as_deref() == Some(&key) || Some(c.ip) == *ip,
                    &close,
                );
            }
            RoomEvent::ModeratorRevoked { moderator_id } => {
                let close = Close {
                    code: 4001,
                    reason: "token revoked",
                    event: Some(error_event(
                        ErrorCode::Unauthorized,
                        "your moderator token was revoked",
                    )),
                };
                room.close_where(|c| c.moderator_id.as_deref() == Some(moderator_id), &close);
            }
            _ => {}
        }
    }

    async fn send_message(
        &self,
        room: &Room,
        user: &User,
        ip: IpAddr,
        text: &str,
    ) -> Result<ChatMessage, Refusal> {
        let wall = Utc::now();
        let (checked, broadcast) = {
            let mut state = lock(&room.state);
            let checked = state.check_message(user, ip, text, Instant::now(), wall, &self.limits);
            (checked, state.broadcast.clone())
        };
        let text = match checked {
            Ok(text) => text,
            Err(refusal) => {
                if refusal.flood {
                    self.time_out_flooder(room, user).await;
                }
                return Err(refusal);
            }
        };
        // The live edge's program date time where the stream is ingested;
        // elsewhere the wall clock, which that program date time follows.
        let (broadcast_id, media_time) = match self.store.live_position(&room.id) {
            Some(position) => (Some(position.broadcast_id), Some(position.media_time)),
            None => (broadcast.clone(), broadcast.is_some().then_some(wall)),
        };
        let message = ChatMessage {
            id: random_id(12),
            user: user.clone(),
            text,
            sent_at: wall,
            media_time,
            offset: 0,
        };
        let message = self.bus.publish_message(&room.id, message).await;
        let stored = StoredMessage {
            room: room.id.clone(),
            broadcast_id,
            ip,
            message: message.clone(),
        };
        if self.writer.send(stored).await.is_err() {
            warn!(room = %room.id, "chat message writer is gone; message not stored");
        }
        Ok(message)
    }

    async fn time_out_flooder(&self, room: &Room, user: &User) {
        let secs = self.limits.flood_timeout.as_secs().max(1);
        let system = User {
            name: "system".into(),
            role: crate::protocol::Role::Broadcaster,
        };
        info!(room = %room.id, user = %user.name, "timing out a flooding sender for {secs} s");
        let action = Action::Timeout {
            name: user.name.to_string(),
            secs,
            ip: IpTarget::None,
        };
        if let Err(e) = self.moderate(room, &system, action).await {
            warn!(room = %room.id, "automatic time-out failed: {}", e.message);
        }
    }

    async fn moderate(
        &self,
        room: &Room,
        actor: &User,
        action: Action,
    ) -> Result<(), ModerationError> {
        let bad = |message: &str| ModerationError::new(ErrorCode::BadRequest, message);
        let event = match action {
            Action::Delete { id } => RoomEvent::Deleted { id },
            Action::Timeout { name, secs, ip } => {
                if !valid_name(&name) {
                    return Err(bad("no such user name"));
                }
                if !(1..=MAX_TIMEOUT_SECS).contains(&secs) {
                    return Err(bad("a time-out lasts 1 s to 14 days"));
                }
                let until = Utc::now() + chrono::Duration::seconds(secs as i64);
                let ip = self.resolve_ip(room, &name, ip).await;
                RoomEvent::TimedOut { name, until, ip }
            }
            Action::Ban { name, ip } => {
                if !valid_name(&name) {
                    return Err(bad("no such user name"));
                }
                let ip = self.resolve_ip(room, &name, ip).await;
                RoomEvent::Banned { name, ip }
            }
            Action::Unban { name } => RoomEvent::Unbanned { name },
            Action::Pin { id } => {
                let known = lock(&room.state)
                    .history
                    .find(&id)
                    .filter(|e| !e.deleted)
                    .map(|e| e.message.clone());
                let message = match known {
                    Some(message) => message,
                    None => self
                        .store
                        .find_message(&room.id, &id)
                        .await
                        .map_err(internal)?
                        .ok_or_else(|| {
                            ModerationError::new(ErrorCode::NotFound, "no such message")
                        })?,
                };
                RoomEvent::Pinned {
                    message: Some(message),
                }
            }
            Action::Unpin => RoomEvent::Pinned { message: None },
            Action::Settings(patch) => {
                let settings = lock(&room.state)
                    .settings
                    .patched(&patch)
                    .map_err(|e| bad(&e))?;
                RoomEvent::Settings(settings)
            }
        };
        if !self.record(room, actor, &event).await? {
            return Err(ModerationError::new(
                ErrorCode::NotFound,
                "no such message or user",
            ));
        }
        self.bus.publish(&room.id, event).await;
        Ok(())
    }

    /// Stores a moderation action. A message deleted moments after it was
    /// said may still be on its way to storage (messages are written in
    /// batches): then the deletion waits for it, a little.
    async fn record(
        &self,
        room: &Room,
        actor: &User,
        event: &RoomEvent,
    ) -> Result<bool, ModerationError> {
        let mut attempts = 0;
        loop {
            if self
                .store
                .record(&room.id, actor, event)
                .await
                .map_err(internal)?
            {
                return Ok(true);
            }
            let RoomEvent::Deleted { id } = event else {
                return Ok(false);
            };
            let on_its_way = lock(&room.state)
                .history
                .find(id)
                .is_some_and(|e| !e.deleted);
            attempts += 1;
            if !on_its_way || attempts > RECORD_RETRIES {
                return Ok(false);
            }
            tokio::time::sleep(RECORD_RETRY).await;
        }
    }

    async fn resolve_ip(&self, room: &Room, name: &str, target: IpTarget) -> Option<IpAddr> {
        match target {
            IpTarget::None => None,
            IpTarget::Address(ip) => Some(ip),
            IpTarget::OfName => {
                let key = name_key(name);
                let connected = lock(&room.clients)
                    .values()
                    .find(|c| c.name_key.as_deref() == Some(&key))
                    .map(|c| c.ip);
                match connected {
                    Some(ip) => Some(ip),
                    None => self.store.last_ip(&room.id, name).await.ok().flatten(),
                }
            }
        }
    }

    /// Renews this node's name claims, marks its chat viewers present, and
    /// sends each room its viewer count when it changed.
    async fn refresh_presence(&self) {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms)
            .values()
            .filter_map(|slot| slot.get().cloned())
            .collect();
        for room in rooms {
            let (viewers, names) = {
                let clients = lock(&room.clients);
                let viewers: Vec<String> = clients.values().map(|c| c.viewer.to_string()).collect();
                let names: Vec<(String, Arc<str>)> = clients
                    .values()
                    .filter_map(|c| Some((c.name_key.clone()?, c.viewer.clone())))
                    .collect();
                (viewers, names)
            };
            for (key, viewer) in names {
                self.bus.claim_name(&room.id, &key, &viewer, NAME_TTL).await;
            }
            if !viewers.is_empty() {
                self.bus
                    .touch_viewers(&room.id, &viewers, SOCKET_PRESENCE)
                    .await;
            }
            let count = self.bus.count_viewers(&room.id).await;
            if let Some(bytes) = lock(&room.state).set_viewers(count) {
                let _ = room.fanout.send(bytes);
            }
        }
    }
}

fn internal(e: crate::store::StoreError) -> ModerationError {
    warn!("{e}");
    ModerationError::new(ErrorCode::Internal, "could not store that, try again")
}

impl Room {
    fn close_where(&self, matches: impl Fn(&Client) -> bool, close: &Close) {
        for client in lock(&self.clients).values().filter(|c| matches(c)) {
            client.close.send_replace(Some(close.clone()));
        }
    }
}

/// Stores accepted messages in batches, off the clients' tasks. A failed
/// batch is retried until it is stored.
async fn write_messages<S: Store, B: Bus>(
    hub: Weak<Inner<S, B>>,
    mut queue: mpsc::Receiver<StoredMessage>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while queue.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(inner) = hub.upgrade() else { return };
            match inner.store.save_messages(batch.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    warn!(
                        "storing {} chat messages (retrying in {backoff:?}): {e}",
                        batch.len()
                    );
                    drop(inner);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}

async fn keep_presence<S: Store, B: Bus>(hub: Weak<Inner<S, B>>) {
    let mut tick = tokio::time::interval(PRESENCE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = hub.upgrade() else { return };
        inner.refresh_presence().await;
    }
}

/// One client in a room. Dropping it leaves the room.
pub struct Session<S: Store, B: Bus> {
    hub: Hub<S, B>,
    room: Arc<Room>,
    id: u64,
    user: Option<User>,
    ip: IpAddr,
    viewer: Arc<str>,
    welcome: Option<Bytes>,
    /// Every event of the room, as encoded bytes. `Lagged` means the client
    /// fell too far behind and must be dropped.
    pub events: broadcast::Receiver<Bytes>,
    /// Set when the server closes this connection (a ban, a revoked token).
    pub closed: watch::Receiver<Option<Close>>,
}

impl<S: Store, B: Bus> Session<S, B> {
    /// The join frame: who the client is, the room's state, the history.
    pub fn take_welcome(&mut self) -> Option<Bytes> {
        self.welcome.take()
    }

    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// Handles one frame from the client; returns the reply for this client
    /// alone (an error), if any. Everything else arrives through `events`.
    pub async fn command(&self, text: &str) -> Option<Bytes> {
        let command: Command = match serde_json::from_str(text) {
            Ok(command) => command,
            Err(e) => {
                return Some(error_event(
                    ErrorCode::BadRequest,
                    &format!("bad command: {e}"),
                ));
            }
        };
        let Some(user) = &self.user else {
            return Some(error_event(
                ErrorCode::NameRequired,
                "join with a name to chat",
            ));
        };
        let inner = &self.hub.inner;
        let action = match command {
            Command::Message { text } => {
                return inner
                    .send_message(&self.room, user, self.ip, &text)
                    .await
                    .err()
                    .map(|refusal| refusal.event());
            }
            Command::Delete { id } => Action::Delete { id },
            Command::Timeout { name, secs } => Action::Timeout {
                name,
                secs,
                ip: IpTarget::None,
            },
            Command::Ban { name, ip } => Action::Ban {
                name,
                ip: if ip { IpTarget::OfName } else { IpTarget::None },
            },
            Command::Unban { name } => Action::Unban { name },
            Command::Pin { id } => Action::Pin { id },
            Command::Unpin => Action::Unpin,
            Command::Settings(patch) => Action::Settings(patch),
        };
        if !user.role.moderates() {
            return Some(error_event(
                ErrorCode::Forbidden,
                "only moderators may do that",
            ));
        }
        inner
            .moderate(&self.room, user, action)
            .await
            .err()
            .map(|e| error_event(e.code, &e.message))
    }
}

impl<S: Store, B: Bus> Drop for Session<S, B> {
    fn drop(&mut self) {
        let released = {
            let mut clients = lock(&self.room.clients);
            let gone = clients.remove(&self.id);
            // The name stays claimed while the same viewer holds it in another tab.
            gone.and_then(|c| c.name_key).filter(|key| {
                !clients
                    .values()
                    .any(|c| c.name_key.as_deref() == Some(key) && c.viewer == self.viewer)
            })
        };
        if let Some(key) = released {
            let hub = self.hub.clone();
            let room = self.room.id.clone();
            let viewer = self.viewer.clone();
            tokio::spawn(async move {
                hub.inner.bus.release_name(&room, &key, &viewer).await;
            });
        }
    }
}

#[cfg(test)]
mod tests;
