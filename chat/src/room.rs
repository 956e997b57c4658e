//! One room's state on one node and the rules that decide what a message or
//! a join may do. Plain logic: the hub feeds it and sends what it returns.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::bus::RoomEvent;
use crate::history::History;
use crate::moderation::{Ban, Bans, Block, Settings};
use crate::names::name_key;
use crate::protocol::{ChatMessage, ErrorCode, Event, StreamStatus, User, frame};
use crate::rate::TokenBucket;
use crate::store::RoomSnapshot;

/// Server-wide limits (docs/chat.md).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages per `period` for a viewer.
    pub user_burst: u32,
    pub moderator_burst: u32,
    /// Messages per `period` from one address, whoever sends them.
    pub ip_burst: u32,
    pub period: Duration,
    /// This many refusals within `flood_window` time the sender out for `flood_timeout`.
    pub flood_refusals: usize,
    pub flood_window: Duration,
    pub flood_timeout: Duration,
    /// Events a client may fall behind before it is dropped.
    pub client_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            user_burst: 20,
            moderator_burst: 100,
            ip_burst: 60,
            period: Duration::from_secs(30),
            flood_refusals: 10,
            flood_window: Duration::from_secs(10),
            flood_timeout: Duration::from_secs(60),
            client_queue: 512,
        }
    }
}

/// Why a message was refused, for the sender alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
    /// The sender kept sending while refused: time them out.
    pub flood: bool,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            retry_after: None,
            flood: false,
        }
    }

    fn retry_after(mut self, wait: Duration) -> Refusal {
        self.retry_after = Some(wait);
        self
    }

    /// The error event sent back.
    pub fn event(&self) -> Bytes {
        Event::Error {
            code: self.code,
            message: &self.message,
            retry_after_secs: self.retry_after.map(|d| d.as_secs_f64().ceil() as u64),
        }
        .encode()
    }
}

/// Rate state of one sender.
#[derive(Debug)]
struct Sender {
    bucket: TokenBucket,
    last_sent: Option<Instant>,
    refusals: VecDeque<Instant>,
}

pub struct RoomState {
    pub settings: Settings,
    pub history: History,
    pub pinned: Option<ChatMessage>,
    pub bans: Bans,
    /// The broadcast under way, while the stream is live.
    pub broadcast: Option<String>,
    pub viewers: u64,
    senders: HashMap<String, Sender>,
    ips: HashMap<IpAddr, TokenBucket>,
}

/// Past this many senders, those idle for a whole period (their buckets
/// full again) are forgotten.
const FORGET_SENDERS: usize = 10_000;

impl RoomState {
    pub fn new(snapshot: RoomSnapshot) -> RoomState {
        let mut bans = Bans::default();
        for ban in snapshot.bans {
            bans.add(ban);
        }
        RoomState {
            settings: snapshot.settings.unwrap_or_default(),
            history: History::from_entries(snapshot.recent),
            pinned: snapshot.pinned,
            bans,
            broadcast: snapshot.broadcast,
            viewers: 0,
            senders: HashMap::new(),
            ips: HashMap::new(),
        }
    }

    /// Why `name` from `ip` may not join, if it may not. Moderators always may.
    pub fn join_block(&self, user: Option<&User>, ip: IpAddr, now: DateTime<Utc>) -> Option<Block> {
        match user {
            Some(user) if user.role.moderates() => None,
            _ => self.bans.block(user.map(|u| &*u.name), ip, now),
        }
    }

    /// The frame a client gets on join: who it is, the room's state and history.
    pub fn welcome(&self, user: Option<&User>, since: Option<u64>) -> Bytes {
        let (messages, resumed) = match since.and_then(|s| self.history.after(s)) {
            Some(messages) => (messages, true),
            None => (self.history.recent(), false),
        };
        let events = [
            Event::Joined { user },
            self.settings_event(),
            self.stream_event(),
            Event::Pinned {
                message: self.pinned.as_ref(),
            },
            Event::Viewers {
                count: self.viewers,
            },
            Event::History { messages, resumed },
        ]
        .map(|e| e.encode());
        frame(&events)
    }

    fn settings_event(&self) -> Event<'_> {
        Event::Settings {
            slow_mode_secs: self.settings.slow_mode_secs,
            max_length: self.settings.max_length,
        }
    }

    fn stream_event(&self) -> Event<'_> {
        Event::Stream {
            status: if self.broadcast.is_some() {
                StreamStatus::Live
            } else {
                StreamStatus::Offline
            },
        }
    }

    /// Decides whether `user` may say `text` now; returns the text to send
    /// (trimmed) and spends the sender's allowance, or the refusal.
    pub fn check_message(
        &mut self,
        user: &User,
        ip: IpAddr,
        text: &str,
        now: Instant,
        wall: DateTime<Utc>,
        limits: &Limits,
    ) -> Result<String, Refusal> {
        let moderates = user.role.moderates();
        if !moderates {
            match self.bans.block(Some(&user.name), ip, wall) {
                Some(Block::Banned) => {
                    return Err(Refusal::new(
                        ErrorCode::Banned,
                        "you are banned from this chat",
                    ));
                }
                Some(Block::TimedOut(until)) => {
                    let wait = (until - wall).to_std().unwrap_or_default();
                    return Err(
                        Refusal::new(ErrorCode::TimedOut, "you are timed out").retry_after(wait)
                    );
                }
                None => {}
            }
        }
        let result = self.admit(user, ip, text, now, limits);
        if let Err(refusal) = result {
            return Err(self.count_refusal(user, refusal, now, limits));
        }
        result
    }

    fn admit(
        &mut self,
        user: &User,
        ip: IpAddr,
        text: &str,
        now: Instant,
        limits: &Limits,
    ) -> Result<String, Refusal> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Refusal::new(ErrorCode::Empty, "the message is empty"));
        }
        let max = self.settings.max_length as usize;
        if text.chars().nth(max).is_some() {
            return Err(Refusal::new(
                ErrorCode::TooLong,
                format!("messages are at most {max} characters"),
            ));
        }
        let moderates = user.role.moderates();
        if !moderates && self.settings.filters(text) {
            return Err(Refusal::new(
                ErrorCode::Filtered,
                "the message holds a word this chat does not allow",
            ));
        }
        let slow = Duration::from_secs(u64::from(self.settings.slow_mode_secs));
        let sender = Self::sender(&mut self.senders, &mut self.ips, user, now, limits);
        if let (false, Some(last)) = (moderates || slow.is_zero(), sender.last_sent) {
            let since = now.saturating_duration_since(last);
            if since < slow {
                return Err(Refusal::new(
                    ErrorCode::SlowMode,
                    format!("slow mode: one message every {} s", slow.as_secs()),
                )
                .retry_after(slow - since));
            }
        }
        if let Err(wait) = sender.bucket.check(now) {
            return Err(
                Refusal::new(ErrorCode::RateLimited, "you are sending too fast").retry_after(wait),
            );
        }
        // Moderators answer to their own bucket only, wherever they sit.
        if !moderates {
            let ip_bucket = self
                .ips
                .entry(ip)
                .or_insert_with(|| TokenBucket::new(limits.ip_burst, limits.period, now));
            if let Err(wait) = ip_bucket.check(now) {
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    "too many messages from your address",
                )
                .retry_after(wait));
            }
            ip_bucket.take();
        }
        sender.bucket.take();
        sender.last_sent = Some(now);
        Ok(text.to_owned())
    }

    fn sender<'a>(
        senders: &'a mut HashMap<String, Sender>,
        ips: &mut HashMap<IpAddr, TokenBucket>,
        user: &User,
        now: Instant,
        limits: &Limits,
    ) -> &'a mut Sender {
        if senders.len() > FORGET_SENDERS {
            let period = limits.period;
            senders.retain(|_, s| s.last_sent.is_some_and(|t| now.duration_since(t) < period));
            ips.clear();
        }
        let burst = if user.role.moderates() {
            limits.moderator_burst
        } else {
            limits.user_burst
        };
        senders
            .entry(name_key(&user.name))
            .or_insert_with(|| Sender {
                bucket: TokenBucket::new(burst, limits.period, now),
                last_sent: None,
                refusals: VecDeque::new(),
            })
    }

    fn count_refusal(
        &mut self,
        user: &User,
        mut refusal: Refusal,
        now: Instant,
        limits: &Limits,
    ) -> Refusal {
        let sender = Self::sender(&mut self.senders, &mut self.ips, user, now, limits);
        sender.refusals.push_back(now);
        while sender
            .refusals
            .front()
            .is_some_and(|t| now.duration_since(*t) > limits.flood_window)
        {
            sender.refusals.pop_front();
        }
        if sender.refusals.len() >= limits.flood_refusals {
            sender.refusals.clear();
            refusal.flood = true;
        }
        refusal
    }

    /// Applies an event delivered by the bus; returns what to send every
    /// client of the room, if anything.
    pub fn apply(&mut self, event: &RoomEvent) -> Option<Bytes> {
        match event {
            RoomEvent::Message(message) => {
                let encoded = Event::Message(message).encode();
                self.history.push(message.clone());
                Some(encoded)
            }
            RoomEvent::Deleted { id } => {
                self.history.delete(id);
                let deleted = Event::Deleted { id }.encode();
                if self.pinned.as_ref().is_some_and(|p| &p.id == id) {
                    self.pinned = None;
                    return Some(frame(&[deleted, Event::Pinned { message: None }.encode()]));
                }
                Some(deleted)
            }
            RoomEvent::TimedOut { name, until, ip } => {
                self.bans.add(Ban {
                    name: name.clone(),
                    ip: *ip,
                    until: Some(*until),
                });
                Some(
                    Event::UserTimedOut {
                        name,
                        until: *until,
                    }
                    .encode(),
                )
            }
            RoomEvent::Banned { name, ip } => {
                self.bans.add(Ban {
                    name: name.clone(),
                    ip: *ip,
                    until: None,
                });
                Some(Event::UserBanned { name }.encode())
            }
            RoomEvent::Unbanned { name } => {
                self.bans.remove(name);
                Some(Event::UserUnbanned { name }.encode())
            }
            RoomEvent::Pinned { message } => {
                self.pinned = message.clone();
                Some(
                    Event::Pinned {
                        message: message.as_ref(),
                    }
                    .encode(),
                )
            }
            RoomEvent::Settings(settings) => {
                self.settings = settings.clone();
                Some(self.settings_event().encode())
            }
            RoomEvent::Stream { broadcast } => {
                self.broadcast = broadcast.clone();
                Some(self.stream_event().encode())
            }
            RoomEvent::ModeratorRevoked { .. } => None,
        }
    }

    /// A new viewer count; the event when it changed.
    pub fn set_viewers(&mut self, count: u64) -> Option<Bytes> {
        (self.viewers != count).then(|| {
            self.viewers = count;
            Event::Viewers { count }.encode()
        })
    }
}

#[cfg(test)]
mod tests;
