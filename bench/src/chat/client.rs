//! The bench's chat clients: one task per WebSocket. Every client counts the
//! messages it receives against those sent, watches `offset` for gaps and
//! records each message's latency from the send time its sender wrote into
//! the text. A frame is scanned for the two numbers only: the generator
//! shares the machine's two cores with the server.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use memchr::memmem;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use super::histogram::Histogram;

pub type Ws = WebSocketStream<TcpStream>;

/// Chat frames are small; tungstenite's default of 128 KiB per socket would
/// cost the generator 2.5 GiB at 20,000 clients.
const READ_BUFFER: usize = 8 * 1024;
/// `ClientStats::closed` of a client whose connection ended without a close
/// frame (the code RFC 6455 reserves for that).
const FAILED: u32 = 1006;
/// The close code of a client the server dropped for falling behind.
pub const TOO_SLOW: u32 = 4008;

/// What all clients share: the clock messages are stamped with, the
/// measured window, and the totals of the phase under way.
pub struct Shared {
    epoch: Instant,
    /// Start and end of the measured window, in microseconds since `epoch`:
    /// messages stamped inside it are counted, by senders and receivers alike.
    window: [AtomicU64; 2],
    pub latency: Histogram,
    /// Messages stamped inside the window and written to the server.
    pub sent: AtomicU64,
    /// Of those, the ones whose sender got them back from the room: the
    /// server took them, so every client should receive them.
    pub accepted: AtomicU64,
    /// Error events the senders got back (refused messages).
    pub refused: AtomicU64,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            epoch: Instant::now(),
            window: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            latency: Histogram::new(),
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Sets the next window and clears the totals. Both ends are set before
    /// any message of the phase is stamped, so senders and receivers always
    /// agree on which messages count.
    pub fn start_phase(&self, start: Instant, end: Instant) {
        self.window[0].store(self.micros(start), Ordering::Relaxed);
        self.window[1].store(self.micros(end), Ordering::Relaxed);
        self.latency.reset();
        self.sent.store(0, Ordering::Relaxed);
        self.accepted.store(0, Ordering::Relaxed);
        self.refused.store(0, Ordering::Relaxed);
    }

    fn in_window(&self, stamp: u64) -> bool {
        (self.window[0].load(Ordering::Relaxed)..self.window[1].load(Ordering::Relaxed))
            .contains(&stamp)
    }
}

/// One client's counts, read by the bench between phases.
#[derive(Default)]
pub struct ClientStats {
    /// Messages stamped inside the window that this client received.
    pub received: AtomicU64,
    /// Offsets skipped between two messages this client received.
    pub gaps: AtomicU64,
    /// Messages whose offset was not above every offset seen before.
    pub reordered: AtomicU64,
    /// Text frames and message events that arrived inside the window: how
    /// many frames the server wrote and how many events it packed in each.
    pub frames: AtomicU64,
    pub messages: AtomicU64,
    /// 0 while connected; then the close code, or `FAILED`.
    closed: AtomicU32,
}

impl ClientStats {
    pub fn close_code(&self) -> Option<u32> {
        Some(self.closed.load(Ordering::Relaxed)).filter(|&c| c != 0)
    }

    pub fn reset(&self) {
        let counters = [
            &self.received,
            &self.gaps,
            &self.reordered,
            &self.frames,
            &self.messages,
        ];
        for counter in counters {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Where one client connects from and to.
pub struct Target {
    pub server: SocketAddr,
    /// Spreading clients over several loopback addresses keeps each
    /// address's ephemeral ports (about 28,000) from running out.
    pub source: IpAddr,
    pub path: String,
}

/// Connects and joins; the server's welcome frame has been read.
pub async fn connect(target: &Target) -> anyhow::Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(target.source, 0))?;
    let stream = socket.connect(target.server).await?;
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0);
    let url = format!("ws://{}{}", target.server, target.path);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    match ws.next().await {
        Some(Ok(Message::Text(text))) if text.starts_with(r#"{"type":"joined""#) => Ok(ws),
        other => bail!("no welcome frame but {other:?}"),
    }
}

/// Connects every target, `at_once` at a time.
pub async fn connect_all(targets: Vec<Target>, at_once: usize) -> anyhow::Result<Vec<Ws>> {
    let permits = Arc::new(Semaphore::new(at_once));
    let tasks: Vec<JoinHandle<anyhow::Result<Ws>>> = targets
        .into_iter()
        .map(|target| {
            let permits = permits.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await?;
                connect(&target)
                    .await
                    .with_context(|| format!("connecting {}{}", target.server, target.path))
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for task in tasks {
        clients.push(task.await??);
    }
    Ok(clients)
}

/// Reads frames and keeps one client's counts.
struct Reader {
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    stripe: usize,
    last_offset: Option<u64>,
    /// A sender's own messages end their text with this.
    signature: Option<String>,
}

impl Reader {
    fn new(shared: Arc<Shared>, stats: Arc<ClientStats>, stripe: usize) -> Reader {
        Reader {
            shared,
            stats,
            stripe,
            last_offset: None,
            signature: None,
        }
    }

    /// Handles one frame; false once the connection is over.
    fn frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) -> bool {
        let code = match frame {
            Some(Ok(Message::Text(text))) => {
                let now = self.shared.micros(Instant::now());
                let arrived_in_window = self.shared.in_window(now);
                if arrived_in_window {
                    self.stats.frames.fetch_add(1, Ordering::Relaxed);
                }
                // Splitting on a char finds it with memchr.
                for line in text.split('\n') {
                    self.line(line.as_bytes(), now, arrived_in_window);
                }
                return true;
            }
            Some(Ok(Message::Close(frame))) => frame.map_or(FAILED, |f| u16::from(f.code).into()),
            Some(Ok(_)) => return true,
            Some(Err(_)) | None => FAILED,
        };
        self.stats.closed.store(code, Ordering::Relaxed);
        false
    }

    fn line(&mut self, line: &[u8], now: u64, arrived_in_window: bool) {
        if line.starts_with(br#"{"type":"error""#) {
            self.shared.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(event) = MessageEvent::parse(line) else {
            return;
        };
        if arrived_in_window {
            self.stats.messages.fetch_add(1, Ordering::Relaxed);
        }
        self.check_offset(event.offset);
        if !self.shared.in_window(event.stamp) {
            return;
        }
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.shared
            .latency
            .record(self.stripe, now.saturating_sub(event.stamp));
        let own = |signature: &String| event.rest.starts_with(signature.as_bytes());
        if self.signature.as_ref().is_some_and(own) {
            self.shared.accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Offsets must come one by one: counts the ones skipped and those that
    /// arrive after a later one.
    fn check_offset(&mut self, offset: u64) {
        match self.last_offset {
            Some(last) if offset <= last => {
                self.stats.reordered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(last) if offset > last + 1 => {
                self.stats
                    .gaps
                    .fetch_add(offset - last - 1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.last_offset = Some(offset);
    }
}

static TEXT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(br#""text":""#));
static OFFSET: LazyLock<memmem::FinderRev<'static>> =
    LazyLock::new(|| memmem::FinderRev::new(br#""offset":"#));

/// What the bench reads of a message event: the send stamp that starts its
/// text, what follows the stamp, and the offset (the event's last field).
struct MessageEvent<'a> {
    stamp: u64,
    rest: &'a [u8],
    offset: u64,
}

impl MessageEvent<'_> {
    /// None for any other event.
    fn parse(line: &[u8]) -> Option<MessageEvent<'_>> {
        if !line.starts_with(br#"{"type":"message""#) {
            return None;
        }
        let text = TEXT.find(line)? + TEXT.needle().len();
        let offset = OFFSET.rfind(line)? + OFFSET.needle().len();
        let (stamp, rest) = leading_number(&line[text..])?;
        Some(MessageEvent {
            stamp,
            rest,
            offset: leading_number(&line[offset..])?.0,
        })
    }
}

/// The number at the start of `bytes`, and the bytes after it.
fn leading_number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let number = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
    Some((number, &bytes[digits..]))
}

/// A client that only reads until the bench aborts it.
pub fn spawn_receiver(
    mut ws: Ws,
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    stripe: usize,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = Reader::new(shared, stats, stripe);
        while reader.frame(ws.next().await) {}
    })
}

/// How often each sender sends, or None while they rest.
pub type Pace = watch::Receiver<Option<Duration>>;

/// A client named `name` that also sends at the pace it is given, first
/// after `stagger` (a fraction of the interval) so that the senders'
/// messages spread evenly.
pub fn spawn_sender(
    mut ws: Ws,
    shared: Arc<Shared>,
    stats: Arc<ClientStats>,
    stripe: usize,
    name: &str,
    stagger: f64,
    mut pace: Pace,
) -> JoinHandle<()> {
    // The closing quote keeps c1 from taking c12's messages for its own.
    let signature = format!(" hello from {name}\"");
    tokio::spawn(async move {
        let mut reader = Reader::new(shared.clone(), stats, stripe);
        reader.signature = Some(signature.clone());
        // When the next message is due and the interval after it.
        let mut schedule: Option<(Instant, Duration)> = None;
        loop {
            let next = schedule.map(|(at, _)| at);
            let due = async move {
                match next {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = ws.next() => if !reader.frame(frame) { return },
                changed = pace.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let every = *pace.borrow_and_update();
                    schedule = every.map(|every| (Instant::now() + every.mul_f64(stagger), every));
                }
                () = due => {
                    let Some((at, every)) = schedule else { continue };
                    schedule = Some((at + every, every));
                    if !send(&mut ws, &shared, &signature).await {
                        reader.stats.closed.store(FAILED, Ordering::Relaxed);
                        return;
                    }
                }
            }
        }
    })
}

/// Sends one message stamped with the time it leaves; the text after the
/// stamp is the sender's signature (which ends with the text's quote).
async fn send(ws: &mut Ws, shared: &Shared, signature: &str) -> bool {
    let stamp = shared.micros(Instant::now());
    let command = format!(r#"{{"type":"message","text":"{stamp}{signature}}}"#);
    if ws.send(Message::text(command)).await.is_err() {
        return false;
    }
    if shared.in_window(stamp) {
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
    true
}
