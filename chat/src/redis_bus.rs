//! The bus over Redis, for several nodes serving the same rooms.
//!
//! Every event goes out on one pub/sub channel and every node, the publishing
//! one included, delivers it from its subscription, so all nodes deliver a
//! room's events in one order. A Lua script gives a message the room's next
//! offset and publishes it in one step: publish order is offset order.
//!
//! Publishing never fails. While this node's subscription is down, or Redis
//! does not answer, the node's own events are delivered here at once (a
//! message numbered after the highest offset seen here) and still sent to
//! Redis when it answers, for the other nodes. A probe that must come back
//! through the subscription every few seconds catches a subscription that
//! went silent without its socket closing.
//!
//! Own events published while the subscription is up wait in `pending` for
//! their echo. When the subscription dies first they are delivered here
//! instead, and an echo finds nothing waiting and is skipped, so a node
//! neither loses nor repeats its own events.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use rand::Rng;
use rand::distr::Alphanumeric;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, RedisError, RedisResult, Script};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::bus::{Bus, Deliver, NameClaims, Presence, RoomEvent};
use crate::protocol::ChatMessage;

const CHANNEL: &str = "tributary:chat";
const KEY_PREFIX: &str = "tributary:chat:";
const COUNTER_SUFFIX: &str = ":offset";
/// How long a Redis command or connection attempt may take.
const TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed command Redis is left alone this long: the node works
/// locally instead of making every caller wait for another failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// A probe goes out this often and must be back before the next one.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const WARN_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// The viewers of an idle room are forgotten after this.
const PRESENCE_KEY_TTL: Duration = Duration::from_secs(3600);

/// Publishes `ARGV[2] .. offset .. '}'` on channel `ARGV[1]` and returns the
/// offset. With the room's counter as `KEYS[1]`, `ARGV[3]` = 0 takes the next
/// offset, above `ARGV[4]` (the highest the node has seen, should Redis have
/// lost the counter); any other `ARGV[3]` was given out while Redis could not
/// be reached, and the counter is raised to it.
const PUBLISH: &str = r"
local n = tonumber(ARGV[3])
if #KEYS == 1 then
  if n == 0 then
    n = redis.call('INCR', KEYS[1])
    local seen = tonumber(ARGV[4])
    if n <= seen then
      n = seen + 1
      redis.call('SET', KEYS[1], n)
    end
  elseif (tonumber(redis.call('GET', KEYS[1])) or 0) < n then
    redis.call('SET', KEYS[1], n)
  end
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. string.format('%d', n) .. '}')
return n
";

/// Raises each counter `KEYS[i]` to at least `ARGV[i]`.
const RAISE: &str = r"
for i, key in ipairs(KEYS) do
  if (tonumber(redis.call('GET', key)) or 0) < tonumber(ARGV[i]) then
    redis.call('SET', key, ARGV[i])
  end
end
return 0
";

/// Claims name `KEYS[1]` for holder `ARGV[1]` for `ARGV[2]` ms, or renews it
/// when the holder has it already.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Gives name `KEYS[1]` back if holder `ARGV[1]` still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// Why a Redis bus could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RedisBusError {
    #[error("bad Redis URL: {0}")]
    BadUrl(RedisError),
    #[error("setting up the Redis connection: {0}")]
    Setup(RedisError),
}

/// Why a talk with Redis failed (the node then works locally).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("no answer within {TIMEOUT:?}")]
    Timeout,
    #[error("the subscription closed")]
    Closed,
    #[error("a probe did not come back through the subscription")]
    Silent,
}

/// The bus between the nodes that share one Redis.
pub struct RedisBus {
    node: Arc<Node>,
    subscription: AbortHandle,
}

struct Node {
    /// Names this node's events and probes on the channel.
    id: String,
    client: Client,
    /// One multiplexed connection for every command, reconnected as needed.
    commands: ConnectionManager,
    deliver: Deliver,
    scripts: Scripts,
    /// Numbers this node's events.
    next_seq: AtomicU64,
    state: Mutex<State>,
}

struct Scripts {
    publish: Script,
    raise: Script,
    claim: Script,
    release: Script,
}

#[derive(Default)]
struct State {
    /// The highest offset delivered or seeded here, per room.
    seen: HashMap<String, u64>,
    /// Counts subscriptions; `up` is the healthy one's, None while down.
    generation: u64,
    up: Option<u64>,
    /// Own events published while the subscription was up, by `seq`.
    pending: VecDeque<Pending>,
    /// Probes sent so far; a probe's nonce is its number.
    probes: u64,
    /// Redis failed lately: until then the node works without it.
    resting_until: Option<Instant>,
    last_warning: Option<Instant>,
    /// What this node knows without Redis, kept up to date for when Redis is down.
    names: NameClaims,
    viewers: Presence,
}

struct Pending {
    seq: u64,
    /// The payload up to its offset (see `Frame`).
    head: Bytes,
    stage: Stage,
}

#[derive(Clone, Copy)]
enum Stage {
    /// Sent; neither Redis's answer nor the echo is back.
    Sent,
    /// Redis numbered it; the echo is awaited.
    Numbered(u64),
    /// The echo delivered it before Redis answered.
    Echoed(u64),
    /// Its publisher was dropped before Redis answered, when `probes` were
    /// sent. Its echo, if it was published at all, comes before that of any
    /// later probe (same connection, same channel).
    Abandoned(u64),
}

/// Settles the pending entry of a publisher dropped before Redis answered.
struct Unsettled<'a> {
    node: &'a Node,
    seq: u64,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        let mut state = self.node.state();
        let Some(i) = state.pending.iter().position(|p| p.seq == self.seq) else {
            return;
        };
        match state.pending[i].stage {
            Stage::Sent => state.pending[i].stage = Stage::Abandoned(state.probes),
            Stage::Echoed(_) => {
                state.pending.remove(i);
            }
            Stage::Numbered(_) | Stage::Abandoned(_) => {}
        }
    }
}

/// An event ready to publish: the room's counter key, then the payload up to
/// its offset (`{"origin":…,"seq":…,"room":…,"event":…,"offset":`), which the
/// publish script completes. One buffer for both, which `pending` shares
/// rather than copies.
struct Frame {
    bytes: Bytes,
    key_len: usize,
}

#[derive(Serialize)]
struct Head<'a> {
    origin: &'a str,
    seq: u64,
    room: &'a str,
    event: &'a RoomEvent,
}

/// What arrives on the channel: an event, or a node's probe.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    origin: Cow<'a, str>,
    #[serde(default)]
    seq: u64,
    #[serde(default, borrow)]
    room: Cow<'a, str>,
    event: Option<RoomEvent>,
    #[serde(default)]
    offset: u64,
    probe: Option<u64>,
}

impl RedisBus {
    /// A bus on the Redis at `url` (`redis://host:port/db`). Only parses the
    /// URL: connections are made in the background, and until Redis answers
    /// the node works alone. Must be called within a Tokio runtime.
    pub fn new(url: &str, deliver: Deliver) -> Result<RedisBus, RedisBusError> {
        let client = Client::open(url).map_err(RedisBusError::BadUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(0);
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(RedisBusError::Setup)?;
        let node = Arc::new(Node {
            id: rand::rng()
                .sample_iter(Alphanumeric)
                .take(12)
                .map(char::from)
                .collect(),
            client,
            commands,
            deliver,
            scripts: Scripts {
                publish: Script::new(PUBLISH),
                raise: Script::new(RAISE),
                claim: Script::new(CLAIM),
                release: Script::new(RELEASE),
            },
            next_seq: AtomicU64::new(1),
            state: Mutex::default(),
        });
        let subscription = tokio::spawn(subscribe(node.clone())).abort_handle();
        Ok(RedisBus { node, subscription })
    }

    /// Whether events cross between nodes now: the subscription is up.
    pub fn subscribed(&self) -> bool {
        self.node.state().up.is_some()
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.subscription.abort();
    }
}

impl Bus for RedisBus {
    async fn publish_message(&self, room: &str, message: ChatMessage) -> ChatMessage {
        let mut event = RoomEvent::Message(message);
        self.node.publish(room, &mut event).await;
        match event {
            RoomEvent::Message(message) => message,
            _ => unreachable!("publishing keeps the kind of an event"),
        }
    }

    async fn publish(&self, room: &str, mut event: RoomEvent) {
        self.node.publish(room, &mut event).await;
    }

    async fn seed_offset(&self, room: &str, offset: u64) {
        self.node.state().saw(room, offset);
        let mut call = self.node.scripts.raise.key(counter_key(room));
        call.arg(offset);
        let mut commands = self.node.commands.clone();
        self.node
            .command("seeding an offset", call.invoke_async::<()>(&mut commands))
            .await;
    }

    async fn claim_name(&self, room: &str, name_key: &str, holder: &str, ttl: Duration) -> bool {
        let mut call = self.node.scripts.claim.key(name_claim_key(room, name_key));
        call.arg(holder).arg(millis(ttl).max(1));
        let mut commands = self.node.commands.clone();
        let claimed = self
            .node
            .command("claiming a name", call.invoke_async::<bool>(&mut commands))
            .await;
        let mut state = self.node.state();
        match claimed {
            Some(true) => {
                state.names.hold(room, name_key, holder, ttl);
                true
            }
            Some(false) => false,
            None => state.names.claim(room, name_key, holder, ttl),
        }
    }

    async fn release_name(&self, room: &str, name_key: &str, holder: &str) {
        self.node.state().names.release(room, name_key, holder);
        let mut call = self
            .node
            .scripts
            .release
            .key(name_claim_key(room, name_key));
        call.arg(holder);
        let mut commands = self.node.commands.clone();
        self.node
            .command("releasing a name", call.invoke_async::<()>(&mut commands))
            .await;
    }

    async fn touch_viewers(&self, room: &str, viewers: &[String], ttl: Duration) {
        self.node.state().viewers.touch(room, viewers, ttl);
        if viewers.is_empty() {
            return;
        }
        let key = viewers_key(room);
        let until = unix_millis().saturating_add(millis(ttl));
        let mut add = redis::cmd("ZADD");
        add.arg(&key);
        for viewer in viewers {
            add.arg(until).arg(viewer);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(add)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(ttl.max(PRESENCE_KEY_TTL)))
            .ignore();
        let mut commands = self.node.commands.clone();
        self.node
            .command(
                "marking viewers present",
                pipe.query_async::<()>(&mut commands),
            )
            .await;
    }

    async fn count_viewers(&self, room: &str) -> u64 {
        let key = viewers_key(room);
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(unix_millis())
            .ignore()
            .cmd("ZCARD")
            .arg(&key);
        let mut commands = self.node.commands.clone();
        let counted = self
            .node
            .command(
                "counting viewers",
                pipe.query_async::<(u64,)>(&mut commands),
            )
            .await;
        // Counting locally also trims the local map, which only grows otherwise.
        let here = self.node.state().viewers.count(room);
        counted.map_or(here, |(count,)| count)
    }
}

impl Node {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes an own event; a message comes back numbered.
    async fn publish(&self, room: &str, event: &mut RoomEvent) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let frame = match Frame::encode(&self.id, seq, room, event) {
            Ok(frame) => frame,
            Err(e) => {
                let mut state = self.state();
                state.warn(format_args!(
                    "encoding an event: {e}; delivered on this node only"
                ));
                self.deliver_here(&mut state, room, event);
                return;
            }
        };
        let awaited = self.state().await_echo(seq, frame.shared_head(), room);
        match awaited {
            Some((generation, seen)) => {
                let _unsettled = Unsettled { node: self, seq };
                let published = self.run_publish(&frame, event, 0, seen).await;
                self.settle(room, event, seq, generation, published);
            }
            None => {
                let offset = self.deliver_here(&mut self.state(), room, event);
                if self.state().redis_ok() {
                    // Best effort, for the other nodes.
                    if let Err(failure) = self.run_publish(&frame, event, offset, 0).await {
                        self.state().failed("publishing", &failure);
                    }
                }
            }
        }
    }

    /// Runs the publish script: `assigned` 0 numbers a message in Redis
    /// (above `seen`), else the counter is raised to it.
    async fn run_publish(
        &self,
        frame: &Frame,
        event: &RoomEvent,
        assigned: u64,
        seen: u64,
    ) -> Result<u64, Failure> {
        let mut call = self.scripts.publish.prepare_invoke();
        if matches!(event, RoomEvent::Message(_)) {
            call.key(frame.key());
        }
        call.arg(CHANNEL).arg(frame.head()).arg(assigned).arg(seen);
        let mut commands = self.commands.clone();
        within(call.invoke_async(&mut commands)).await
    }

    /// After an own event was published while the subscription was up:
    /// numbers it as Redis did and makes sure it is delivered here once.
    fn settle(
        &self,
        room: &str,
        event: &mut RoomEvent,
        seq: u64,
        generation: u64,
        published: Result<u64, Failure>,
    ) {
        let mut state = self.state();
        let found = state.pending.iter().position(|p| p.seq == seq);
        let stage = found.map(|i| (i, state.pending[i].stage));
        match (stage, published) {
            (Some((i, Stage::Echoed(offset))), _) => {
                state.pending.remove(i);
                set_offset(event, offset);
            }
            (Some((i, Stage::Sent)), Ok(offset)) if state.up == Some(generation) => {
                state.pending[i].stage = Stage::Numbered(offset);
                set_offset(event, offset);
            }
            (_, published) => {
                // The subscription meant to bring it back went down, or the
                // publish failed: delivered here, and a late echo finds
                // nothing waiting.
                if let Some(i) = found {
                    state.pending.remove(i);
                }
                match published {
                    Ok(offset) => {
                        set_offset(event, offset);
                        self.deliver_locked(&mut state, room, event.clone());
                    }
                    Err(failure) => {
                        state.failed("publishing", &failure);
                        self.deliver_here(&mut state, room, event);
                    }
                }
            }
        }
    }

    /// Delivers an own event on this node alone, a message numbered after
    /// the highest offset seen here; returns that offset (0 for other events).
    fn deliver_here(&self, state: &mut State, room: &str, event: &mut RoomEvent) -> u64 {
        let offset = match event {
            RoomEvent::Message(message) => {
                message.offset = state.seen(room) + 1;
                message.offset
            }
            _ => 0,
        };
        self.deliver_locked(state, room, event.clone());
        offset
    }

    /// Every delivery happens under the state lock, so they keep one order.
    fn deliver_locked(&self, state: &mut State, room: &str, event: RoomEvent) {
        if let RoomEvent::Message(message) = &event {
            state.saw(room, message.offset);
        }
        (self.deliver)(room, event);
    }

    /// Runs a command unless Redis failed a moment ago; None when it did not
    /// answer (the failure is logged).
    async fn command<T>(
        &self,
        what: &str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        if !self.state().redis_ok() {
            return None;
        }
        match within(call).await {
            Ok(value) => Some(value),
            Err(failure) => {
                self.state().failed(what, &failure);
                None
            }
        }
    }

    /// Opens the subscription and brings Redis's counters up to this node's
    /// offsets (numbered locally while Redis was away).
    async fn connect(&self) -> Result<PubSub, Failure> {
        let mut pubsub = within(self.client.get_async_pubsub()).await?;
        within(pubsub.subscribe(CHANNEL)).await?;
        let seen: Vec<(String, u64)> = self
            .state()
            .seen
            .iter()
            .map(|(room, offset)| (counter_key(room), *offset))
            .collect();
        if !seen.is_empty() {
            let mut call = self.scripts.raise.prepare_invoke();
            for (key, offset) in &seen {
                call.key(key).arg(offset);
            }
            let mut commands = self.commands.clone();
            within(call.invoke_async::<()>(&mut commands)).await?;
        }
        Ok(pubsub)
    }

    /// Delivers what the subscription brings until it closes or goes silent.
    async fn relay(&self, pubsub: PubSub) -> Failure {
        let mut messages = pubsub.into_on_message();
        let mut probes = tokio::time::interval(PROBE_EVERY);
        probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut awaited_probe = None;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return Failure::Closed;
                    };
                    let probe = self.receive(message.get_payload_bytes());
                    if let Some(nonce) = probe.filter(|_| probe == awaited_probe) {
                        awaited_probe = None;
                        self.state().forget_abandoned(nonce);
                    }
                }
                _ = probes.tick() => {
                    if awaited_probe.is_some() {
                        return Failure::Silent;
                    }
                    let nonce = self.state().next_probe();
                    awaited_probe = Some(nonce);
                    self.send_probe(nonce);
                }
            }
        }
    }

    /// Publishes a probe in the background; one that is lost is noticed by
    /// its absence.
    fn send_probe(&self, nonce: u64) {
        // The node id is alphanumeric: nothing to escape.
        let payload = format!(r#"{{"origin":"{}","probe":{nonce}}}"#, self.id);
        let mut commands = self.commands.clone();
        tokio::spawn(async move {
            let mut publish = redis::cmd("PUBLISH");
            publish.arg(CHANNEL).arg(payload);
            let _ = within(publish.query_async::<()>(&mut commands)).await;
        });
    }

    /// Handles one payload from the subscription; returns the nonce of this
    /// node's own probe when it is one.
    fn receive(&self, payload: &[u8]) -> Option<u64> {
        let envelope: Envelope<'_> = match serde_json::from_slice(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.state().warn(format_args!(
                    "ignoring a malformed payload on {CHANNEL}: {e}"
                ));
                return None;
            }
        };
        let own = envelope.origin == self.id;
        if let Some(nonce) = envelope.probe {
            return own.then_some(nonce);
        }
        let mut event = envelope.event?;
        set_offset(&mut event, envelope.offset);
        let mut state = self.state();
        if !own || state.take_echo(envelope.seq, envelope.offset) {
            self.deliver_locked(&mut state, &envelope.room, event);
        }
        None
    }

    fn went_up(&self) -> u64 {
        let mut state = self.state();
        state.generation += 1;
        state.up = Some(state.generation);
        state.resting_until = None;
        state.generation
    }

    /// The subscription `generation` is gone: own events Redis numbered but
    /// whose echo did not come are delivered here, in order. (Abandoned ones
    /// have no known offset: this node does without them.)
    fn went_down(&self, generation: u64) {
        let mut state = self.state();
        if state.up == Some(generation) {
            state.up = None;
        }
        for entry in std::mem::take(&mut state.pending) {
            match entry.stage {
                Stage::Numbered(offset) => self.deliver_numbered(&mut state, &entry.head, offset),
                Stage::Abandoned(_) => {}
                Stage::Sent | Stage::Echoed(_) => state.pending.push_back(entry),
            }
        }
    }

    fn deliver_numbered(&self, state: &mut State, head: &[u8], offset: u64) {
        let mut payload = head.to_vec();
        payload.extend_from_slice(format!("{offset}}}").as_bytes());
        match serde_json::from_slice::<Envelope<'_>>(&payload) {
            Ok(Envelope {
                room,
                event: Some(mut event),
                ..
            }) => {
                set_offset(&mut event, offset);
                self.deliver_locked(state, &room, event);
            }
            Ok(_) => {}
            Err(e) => state.warn(format_args!("decoding an own event: {e}")),
        }
    }
}

/// Keeps one subscription up for as long as the bus lives.
async fn subscribe(node: Arc<Node>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match node.connect().await {
            Ok(pubsub) => {
                let generation = node.went_up();
                info!(node = %node.id, "chat bus: subscribed to Redis");
                backoff = BACKOFF_MIN;
                let failure = node.relay(pubsub).await;
                node.went_down(generation);
                node.state().warn(format_args!(
                    "the Redis subscription is down ({failure}); working on this node alone until it is back"
                ));
            }
            Err(failure) => node
                .state()
                .warn(format_args!("cannot subscribe to Redis: {failure}")),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

impl State {
    fn seen(&self, room: &str) -> u64 {
        self.seen.get(room).copied().unwrap_or(0)
    }

    fn saw(&mut self, room: &str, offset: u64) {
        match self.seen.get_mut(room) {
            Some(seen) => *seen = (*seen).max(offset),
            None => {
                self.seen.insert(room.to_owned(), offset);
            }
        }
    }

    fn redis_ok(&self) -> bool {
        self.resting_until
            .is_none_or(|until| Instant::now() >= until)
    }

    /// When the subscription is up and Redis answers: awaits the echo of an
    /// own event, and gives the subscription's generation and the room's
    /// highest offset seen here.
    fn await_echo(&mut self, seq: u64, head: Bytes, room: &str) -> Option<(u64, u64)> {
        let generation = self.up.filter(|_| self.redis_ok())?;
        self.pending.push_back(Pending {
            seq,
            head,
            stage: Stage::Sent,
        });
        Some((generation, self.seen(room)))
    }

    /// Whether an own event that came back through the subscription is to be
    /// delivered: only while its echo is awaited.
    fn take_echo(&mut self, seq: u64, offset: u64) -> bool {
        let Some(i) = self.pending.iter().position(|p| p.seq == seq) else {
            return false;
        };
        match self.pending[i].stage {
            Stage::Sent => self.pending[i].stage = Stage::Echoed(offset),
            Stage::Numbered(_) | Stage::Abandoned(_) => {
                self.pending.remove(i);
            }
            Stage::Echoed(_) => return false,
        }
        true
    }

    fn next_probe(&mut self) -> u64 {
        self.probes += 1;
        self.probes
    }

    /// Probe `nonce` came back: events abandoned before it was sent that did
    /// not come back were never published.
    fn forget_abandoned(&mut self, nonce: u64) {
        self.pending
            .retain(|p| !matches!(p.stage, Stage::Abandoned(probes) if probes < nonce));
    }

    fn failed(&mut self, what: &str, failure: &Failure) {
        self.resting_until = Some(Instant::now() + RETRY_AFTER);
        self.warn(format_args!(
            "{what}: {failure}; working on this node alone for now"
        ));
    }

    /// Warns at most every `WARN_EVERY`: an outage is not logged per message.
    fn warn(&mut self, message: std::fmt::Arguments<'_>) {
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < WARN_EVERY)
        {
            return;
        }
        self.last_warning = Some(now);
        warn!("chat bus: {message}");
    }
}

impl Frame {
    fn encode(origin: &str, seq: u64, room: &str, event: &RoomEvent) -> serde_json::Result<Frame> {
        let mut buf = Vec::with_capacity(256 + 2 * room.len());
        buf.extend_from_slice(KEY_PREFIX.as_bytes());
        buf.extend_from_slice(room.as_bytes());
        buf.extend_from_slice(COUNTER_SUFFIX.as_bytes());
        let key_len = buf.len();
        let head = Head {
            origin,
            seq,
            room,
            event,
        };
        serde_json::to_writer(&mut buf, &head)?;
        // Reopen the object: the offset goes last, for the script to fill in.
        buf.pop();
        buf.extend_from_slice(br#","offset":"#);
        Ok(Frame {
            bytes: buf.into(),
            key_len,
        })
    }

    fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    fn head(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }

    fn shared_head(&self) -> Bytes {
        self.bytes.slice(self.key_len..)
    }
}

fn set_offset(event: &mut RoomEvent, offset: u64) {
    if let RoomEvent::Message(message) = event {
        message.offset = offset;
    }
}

async fn within<T>(call: impl Future<Output = RedisResult<T>>) -> Result<T, Failure> {
    Ok(tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| Failure::Timeout)??)
}

fn counter_key(room: &str) -> String {
    format!("{KEY_PREFIX}{room}{COUNTER_SUFFIX}")
}

fn name_claim_key(room: &str, name_key: &str) -> String {
    format!("{KEY_PREFIX}{room}:name:{name_key}")
}

fn viewers_key(room: &str) -> String {
    format!("{KEY_PREFIX}{room}:viewers")
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_millis() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
