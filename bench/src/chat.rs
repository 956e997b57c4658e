//! `tributary-bench chat`: one room, thousands of WebSocket clients and a
//! few senders against the release binary, on one node and on two nodes
//! joined by Redis. Measures deliveries per second, send-to-receive latency
//! at the receivers, lost messages, the servers' CPU and memory, and the
//! generator's own CPU (it shares the cores with the servers).

mod client;
mod cluster;
mod histogram;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use crate::stats::Summary;
use client::{ClientStats, Shared, TOO_SLOW, Target};
use cluster::{Cluster, Load, Sample};

const USAGE: &str = "tributary-bench chat [--clients 10000,20000] [--rates 10,200] \
                     [--senders 50] [--seconds 20] [--nodes 1,2]";
/// Connections opened at the same time.
const CONNECT_AT_ONCE: usize = 200;
/// Clients per loopback source address (127.0.0.1, 127.0.0.2, ...).
const CLIENTS_PER_SOURCE: usize = 5_000;
/// Descriptors a process needs besides its clients' sockets: listeners,
/// database files, epoll, logs.
const FD_RESERVE: usize = 100;
/// Sending before the measured window opens.
const WARM_UP: Duration = Duration::from_secs(3);
/// After the window, how long the clients get to receive what was sent in it.
const DRAIN: Duration = Duration::from_secs(10);
/// Idle time measured after the clients joined: two of the server's 5 s
/// presence rounds.
const IDLE: Duration = Duration::from_secs(10);

/// The issue's goals.
const GOAL_CLIENTS: usize = 20_000;
const GOAL_DELIVERIES: f64 = 200_000.0;
const GOAL_P99_MS: [f64; 2] = [50.0, 60.0];
const GOAL_IDLE_BYTES: f64 = 16.0 * 1024.0;
/// Cores other processes may use during a window before the bench warns.
const DISTURBED: f64 = 0.15;

struct Options {
    clients: Vec<usize>,
    rates: Vec<u32>,
    senders: usize,
    seconds: u64,
    nodes: Vec<usize>,
}

fn list<T: std::str::FromStr>(value: &str) -> Option<Vec<T>> {
    value.split(',').map(|v| v.parse().ok()).collect()
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            clients: vec![10_000, 20_000],
            rates: vec![10, 200],
            senders: 50,
            seconds: 20,
            nodes: vec![1, 2],
        };
        for pair in args.chunks(2) {
            let [flag, value] = pair else {
                bail!("usage: {USAGE}")
            };
            let parsed = match flag.as_str() {
                "--clients" => list(value).map(|v| options.clients = v),
                "--rates" => list(value).map(|v| options.rates = v),
                "--senders" => value.parse().ok().map(|v| options.senders = v),
                "--seconds" => value.parse().ok().map(|v| options.seconds = v),
                "--nodes" => list(value).map(|v| options.nodes = v),
                _ => None,
            };
            parsed.with_context(|| format!("bad {flag} {value}; usage: {USAGE}"))?;
        }
        let senders_fit = options.clients.iter().all(|&c| c >= options.senders);
        anyhow::ensure!(
            senders_fit && options.senders > 0 && options.rates.iter().all(|&r| r > 0),
            "need at least one sender, no more senders than clients, and rates above 0"
        );
        anyhow::ensure!(
            options.nodes.iter().all(|n| (1..=2).contains(n)),
            "--nodes takes 1 and/or 2"
        );
        Ok(options)
    }
}

pub async fn run(binary: &Path, dir: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut options = Options::parse(args)?;
    let most = options.clients.iter().max().copied().unwrap_or(0);
    // Each client is a socket here and one in a server (which inherits the limit).
    let limit = cluster::raise_fd_limit((most + FD_RESERVE) as u64)?;
    let fit = (limit as usize).saturating_sub(FD_RESERVE);
    if most > fit {
        println!(
            "RLIMIT_NOFILE cannot go past {limit} here (no CAP_SYS_RESOURCE): \
             running {fit} clients instead of {most}"
        );
        for clients in &mut options.clients {
            *clients = (*clients).min(fit);
        }
        options.clients.dedup();
    }
    let mut setups = Vec::new();
    for &nodes in &options.nodes {
        for &clients in &options.clients {
            println!("{nodes} node(s), {clients} clients ...");
            let dir = dir.join(format!("{nodes}-nodes-{clients}"));
            match measure(binary, &dir, nodes, clients, &options).await? {
                Some(setup) => setups.push(setup),
                None => {
                    println!(
                        "two nodes do not relay each other's messages: this tributary \
                         does not join nodes through --redis-url yet; skipping"
                    );
                    break;
                }
            }
        }
    }
    print_report(&setups);
    Ok(())
}

/// What one cluster with one number of clients measured.
struct Setup {
    nodes: usize,
    clients: usize,
    rss_before: u64,
    rss_idle: u64,
    idle: Load,
    phases: Vec<Phase>,
}

/// One sending rate, measured over the window.
struct Phase {
    rate: u32,
    sent: u64,
    /// Of `sent`, the messages the server took (their senders got them back).
    accepted: u64,
    deliveries_per_sec: f64,
    /// Messages sent in the window times clients, per second.
    offered_per_sec: f64,
    latency: Option<Summary>,
    /// Clients still connected after the drain.
    connected: usize,
    /// Accepted messages of the window that connected clients did not receive.
    lost: u64,
    /// Senders closed by the end: their messages' echoes never came, so
    /// `accepted` and `lost` are only lower bounds.
    senders_closed: usize,
    gaps: u64,
    reordered: u64,
    dropped_slow: usize,
    /// Clients closed for another reason, by close code.
    other_closes: BTreeMap<u32, usize>,
    refused: u64,
    /// Text frames the clients read per second, and message events per frame.
    frames_per_sec: f64,
    per_frame: f64,
    load: Load,
    rss: u64,
}

/// Starts the cluster, joins the clients and runs every rate; None when two
/// nodes do not relay each other's messages.
async fn measure(
    binary: &Path,
    dir: &Path,
    nodes: usize,
    clients: usize,
    options: &Options,
) -> anyhow::Result<Option<Setup>> {
    let cluster = Cluster::start(binary, dir, nodes)?;
    let stream = cluster.create_stream().await?;
    if nodes > 1 && !relays(&cluster, &stream).await? {
        return Ok(None);
    }
    sleep(Duration::from_secs(1)).await;
    let before = cluster.sample()?;
    let crowd = Crowd::join(&cluster, &stream, clients, options.senders).await?;
    sleep(Duration::from_secs(2)).await;
    let settled = cluster.sample()?;
    sleep(IDLE).await;
    let idle = cluster.sample()?;
    let mut phases = Vec::new();
    for &rate in &options.rates {
        let phase = crowd.phase(&cluster, rate, options.seconds).await?;
        println!(
            "  {rate} msg/s: {:.0} deliveries/s",
            phase.deliveries_per_sec
        );
        phases.push(phase);
    }
    Ok(Some(Setup {
        nodes,
        clients,
        rss_before: before.servers.rss,
        rss_idle: idle.servers.rss,
        idle: idle.load_since(&settled),
        phases,
    }))
}

fn client_name(index: usize) -> String {
    format!("c{index}")
}

fn chat_path(stream: &str, name: &str) -> String {
    format!("/api/v1/streams/{stream}/chat?name={name}")
}

/// Whether a message sent on the first node reaches a client of the second.
async fn relays(cluster: &Cluster, stream: &str) -> anyhow::Result<bool> {
    let target = |node: usize, name: &str| Target {
        server: cluster.nodes[node].http,
        source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        path: chat_path(stream, name),
    };
    let mut sender = client::connect(&target(0, "probe-a")).await?;
    let mut listener = client::connect(&target(1, "probe-b")).await?;
    sender
        .send(Message::text(r#"{"type":"message","text":"probe"}"#))
        .await?;
    let heard = async {
        while let Some(Ok(frame)) = listener.next().await {
            if let Message::Text(text) = frame
                && text.contains(r#"{"type":"message""#)
            {
                return true;
            }
        }
        false
    };
    Ok(tokio::time::timeout(Duration::from_secs(3), heard).await == Ok(true))
}

/// The connected clients; the first `senders` of them also send.
struct Crowd {
    shared: Arc<Shared>,
    stats: Vec<Arc<ClientStats>>,
    tasks: Vec<JoinHandle<()>>,
    pace: watch::Sender<Option<Duration>>,
    senders: usize,
}

impl Crowd {
    /// Connects `clients` named clients, spread evenly over the nodes.
    async fn join(
        cluster: &Cluster,
        stream: &str,
        clients: usize,
        senders: usize,
    ) -> anyhow::Result<Crowd> {
        let nodes = cluster.nodes.len();
        let targets = (0..clients)
            .map(|i| Target {
                server: cluster.nodes[i % nodes].http,
                source: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i / CLIENTS_PER_SOURCE) as u8)),
                path: chat_path(stream, &client_name(i)),
            })
            .collect();
        let started = Instant::now();
        let sockets = client::connect_all(targets, CONNECT_AT_ONCE).await?;
        println!(
            "  {clients} clients joined in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let shared = Shared::new();
        let (pace, resting) = watch::channel(None);
        let stats: Vec<Arc<ClientStats>> = (0..clients).map(|_| Arc::default()).collect();
        let tasks = sockets
            .into_iter()
            .zip(&stats)
            .enumerate()
            .map(|(i, (ws, stats))| {
                let (shared, stats) = (shared.clone(), stats.clone());
                if i < senders {
                    let stagger = i as f64 / senders as f64;
                    let name = client_name(i);
                    client::spawn_sender(ws, shared, stats, i, &name, stagger, resting.clone())
                } else {
                    client::spawn_receiver(ws, shared, stats, i)
                }
            })
            .collect();
        Ok(Crowd {
            shared,
            stats,
            tasks,
            pace,
            senders,
        })
    }

    fn connected(&self) -> impl Iterator<Item = &ClientStats> {
        self.stats
            .iter()
            .map(|s| s.as_ref())
            .filter(|s| s.close_code().is_none())
    }

    /// Senders offer `rate` messages a second in all: a warm-up, then the
    /// measured window, then a drain.
    async fn phase(&self, cluster: &Cluster, rate: u32, seconds: u64) -> anyhow::Result<Phase> {
        for stats in &self.stats {
            stats.reset();
        }
        let start = Instant::now() + WARM_UP;
        let end = start + Duration::from_secs(seconds);
        self.shared.start_phase(start, end);
        let every = Duration::from_secs_f64(self.senders as f64 / f64::from(rate));
        self.pace.send_replace(Some(every));
        sleep_until(start).await;
        let first = cluster.sample()?;
        sleep_until(end).await;
        let last = cluster.sample()?;
        self.pace.send_replace(None);
        self.drain().await;
        Ok(self.result(rate, seconds, &first, &last))
    }

    /// Waits until every connected client has received every message sent
    /// in the window, for at most `DRAIN` (all of it when a sender's last
    /// messages were never taken).
    async fn drain(&self) {
        let deadline = Instant::now() + DRAIN;
        loop {
            // Read after a pause: a send stamped just before the window
            // closed may still be on its way out.
            sleep(Duration::from_millis(100)).await;
            let sent = self.shared.sent.load(Ordering::Relaxed);
            let caught_up = self
                .connected()
                .all(|s| s.received.load(Ordering::Relaxed) >= sent);
            if caught_up || Instant::now() > deadline {
                return;
            }
        }
    }

    fn result(&self, rate: u32, seconds: u64, first: &Sample, last: &Sample) -> Phase {
        let shared = &self.shared;
        let sent = shared.sent.load(Ordering::Relaxed);
        let accepted = shared.accepted.load(Ordering::Relaxed);
        let mut dropped_slow = 0;
        let mut other_closes = BTreeMap::new();
        for code in self.stats.iter().filter_map(|s| s.close_code()) {
            match code {
                TOO_SLOW => dropped_slow += 1,
                _ => *other_closes.entry(code).or_default() += 1,
            }
        }
        let total = |counter: fn(&ClientStats) -> &AtomicU64| -> u64 {
            self.stats
                .iter()
                .map(|s| counter(s).load(Ordering::Relaxed))
                .sum()
        };
        Phase {
            rate,
            sent,
            accepted,
            deliveries_per_sec: total(|s| &s.received) as f64 / seconds as f64,
            offered_per_sec: (sent * self.stats.len() as u64) as f64 / seconds as f64,
            latency: shared.latency.summary(),
            connected: self.connected().count(),
            lost: self
                .connected()
                .map(|s| accepted.saturating_sub(s.received.load(Ordering::Relaxed)))
                .sum(),
            senders_closed: self.stats[..self.senders]
                .iter()
                .filter(|s| s.close_code().is_some())
                .count(),
            gaps: total(|s| &s.gaps),
            reordered: total(|s| &s.reordered),
            dropped_slow,
            other_closes,
            refused: shared.refused.load(Ordering::Relaxed),
            frames_per_sec: total(|s| &s.frames) as f64 / seconds as f64,
            per_frame: total(|s| &s.messages) as f64 / total(|s| &s.frames).max(1) as f64,
            load: last.load_since(first),
            rss: last.servers.rss,
        }
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "missed" }
}

fn print_report(setups: &[Setup]) {
    println!("\nIdle clients (RSS summed over the nodes):\n");
    println!(
        "| nodes | clients | server RSS before | with the clients idle | per idle client | goal < 16 KiB | server CPU idle |"
    );
    println!("|---|---|---|---|---|---|---|");
    for s in setups {
        let per_client = s.rss_idle.saturating_sub(s.rss_before) as f64 / s.clients as f64;
        println!(
            "| {} | {} | {} | {} | {:.1} KiB | {} | {:.2} cores |",
            s.nodes,
            s.clients,
            mib(s.rss_before),
            mib(s.rss_idle),
            per_client / 1024.0,
            met(per_client < GOAL_IDLE_BYTES),
            s.idle.servers
        );
    }
    println!("\nSending (latency measured at every receiver):\n");
    println!(
        "| nodes | clients (connected at the end) | offered msg/s | sent / accepted in window \
         | deliveries/s | p50 | p99 | max | p99 goal | lost (connected clients) \
         | offset gaps / out of order | dropped slow (4008) | other closes | refused |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in setups {
        for p in &s.phases {
            print_delivery(s, p);
        }
    }
    println!("\nWhat it cost (CPU in cores, over the window):\n");
    println!(
        "| nodes | clients | offered msg/s | frames/s | messages per frame | server CPU \
         | server CPU per frame | redis CPU | server RSS | bench CPU | other processes' CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for s in setups {
        for p in &s.phases {
            print_cost(s, p);
        }
    }
    print_goals(setups);
    warn_if_disturbed(setups);
}

fn print_delivery(s: &Setup, p: &Phase) {
    let goal = GOAL_P99_MS[s.nodes.min(2) - 1];
    let (p50, p99, max) = p
        .latency
        .as_ref()
        .map_or((f64::NAN, f64::NAN, f64::NAN), |l| (l.p50, l.p99, l.max));
    println!(
        "| {} | {} ({}) | {} | {} / {} | {:.0} | {p50:.1} ms | {p99:.1} ms | {max:.1} ms \
         | < {goal} ms: {} | {} | {} / {} | {} | {} | {} |",
        s.nodes,
        s.clients,
        p.connected,
        p.rate,
        p.sent,
        p.accepted,
        p.deliveries_per_sec,
        met(p99 < goal),
        lost(p),
        p.gaps,
        p.reordered,
        p.dropped_slow,
        closes(&p.other_closes),
        p.refused,
    );
}

fn lost(p: &Phase) -> String {
    match p.senders_closed {
        0 => p.lost.to_string(),
        n => format!(">= {} ({n} senders closed)", p.lost),
    }
}

/// "0", or how many clients closed with each code: "3 (1006×2, 1011×1)".
fn closes(by_code: &BTreeMap<u32, usize>) -> String {
    let total: usize = by_code.values().sum();
    if total == 0 {
        return "0".into();
    }
    let codes: Vec<String> = by_code
        .iter()
        .map(|(code, n)| format!("{code}×{n}"))
        .collect();
    format!("{total} ({})", codes.join(", "))
}

fn print_cost(s: &Setup, p: &Phase) {
    let per_frame_us = p.load.servers * 1e6 / p.frames_per_sec.max(1.0);
    println!(
        "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {per_frame_us:.1} µs | {} | {} | {:.2} | {:.2} |",
        s.nodes,
        s.clients,
        p.rate,
        p.frames_per_sec,
        p.per_frame,
        p.load.servers,
        p.load.redis.map_or("-".into(), |r| format!("{r:.2}")),
        mib(p.rss),
        p.load.bench,
        p.load.others,
    );
}

/// The goals that span rows, on the single node with the most clients:
/// holding 20,000 clients, and delivering 200,000 messages a second to
/// them in a phase where no connected client lost one and none was dropped.
fn print_goals(setups: &[Setup]) {
    let Some(largest) = setups
        .iter()
        .filter(|s| s.nodes == 1)
        .max_by_key(|s| s.clients)
    else {
        return;
    };
    let best = largest
        .phases
        .iter()
        .filter(|p| p.lost == 0 && p.gaps == 0 && p.dropped_slow == 0)
        .max_by(|a, b| a.deliveries_per_sec.total_cmp(&b.deliveries_per_sec));
    let Some(best) = best else {
        println!("\nGoal: no phase on one node delivered everything");
        return;
    };
    let verdict = if largest.clients >= GOAL_CLIENTS {
        met(best.deliveries_per_sec >= GOAL_DELIVERIES).to_owned()
    } else {
        format!("not measured at {GOAL_CLIENTS} clients")
    };
    println!(
        "\nGoal: >= {GOAL_DELIVERIES:.0} deliveries/s to {GOAL_CLIENTS} clients on one node, none lost: \
         {:.0} of {:.0} offered to {} clients at {} msg/s; {verdict}",
        best.deliveries_per_sec, best.offered_per_sec, largest.clients, best.rate
    );
}

/// Figures taken while something else used the cores say little about the server.
fn warn_if_disturbed(setups: &[Setup]) {
    let others = setups
        .iter()
        .flat_map(|s| &s.phases)
        .map(|p| p.load.others)
        .fold(0.0, f64::max);
    if others > DISTURBED {
        println!(
            "\nWARNING: other processes used up to {others:.2} cores during a measured window; \
             run again on a quiet machine"
        );
    }
}
