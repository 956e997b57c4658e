//! The servers under measurement: one tributary process, or two sharing a
//! redis-server and a database, each on free ports with its own data dir;
//! and what they cost, read from /proc.

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::{Usage, clock_ticks};
use crate::server::TOKEN;

/// The limits of docs/chat.md, raised so that the bench's senders (50 users
/// on a few loopback addresses, up to 4 messages a second each) are never refused.
const CONFIG: &str = "[chat]\nmessages_per_30s = 100000\naddress_messages_per_30s = 10000000\n";

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Raises this process's descriptor limit towards `wanted` (children
/// inherit it); returns the limit it got. Without CAP_SYS_RESOURCE nothing
/// goes past the hard limit.
pub fn raise_fd_limit(wanted: u64) -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if limit.rlim_cur >= wanted {
        return Ok(limit.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max.max(wanted),
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(wanted);
    }
    let soft = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(limit.rlim_max)
}

/// A child process killed when dropped.
struct Process(Child);

impl Process {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts TCP connections on `addr`.
fn wait_listening(addr: SocketAddr, what: &str, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not start; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn start_redis(dir: &Path) -> anyhow::Result<(Process, u16)> {
    let port = free_port()?;
    let log_path = dir.join("redis.log");
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting redis-server (Debian package redis-server)")?;
    let redis = Process(child);
    wait_listening(loopback(port), "redis-server", &log_path)?;
    Ok((redis, port))
}

/// One database for every node: a fresh PostgreSQL database when
/// TRIBUTARY_TEST_POSTGRES names a server, else a SQLite file in `dir`.
/// Returns its URL and, for PostgreSQL, its name (dropped at the end).
fn create_database(dir: &Path) -> anyhow::Result<(String, Option<String>)> {
    let Ok(server) = std::env::var("TRIBUTARY_TEST_POSTGRES") else {
        let url = format!("sqlite://{}?mode=rwc", dir.join("chat.db").display());
        return Ok((url, None));
    };
    // Named like the tests' databases, so `./dev test` drops one left behind.
    let name = format!("tributary_test_bench_{}", std::process::id());
    psql(&server, &format!("CREATE DATABASE {name}"))?;
    let (base, _) = server
        .rsplit_once('/')
        .context("TRIBUTARY_TEST_POSTGRES has no database path")?;
    Ok((format!("{base}/{name}"), Some(name)))
}

fn psql(server: &str, sql: &str) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args(["-q", "-d", server, "-c", sql])
        .status()
        .context("running psql")?;
    anyhow::ensure!(status.success(), "psql -c {sql:?} failed");
    Ok(())
}

pub struct Node {
    process: Process,
    pub http: SocketAddr,
}

fn start_node(
    binary: &Path,
    dir: &Path,
    database: &str,
    redis_port: Option<u16>,
) -> anyhow::Result<Node> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("tributary.toml");
    std::fs::write(&config, CONFIG)?;
    let http = loopback(free_port()?);
    let rtmp = loopback(free_port()?);
    let srt = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path)?;
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--database-url", database])
        .args(["--http-addr", &http.to_string()])
        .args(["--rtmp-addr", &rtmp.to_string()])
        .args(["--srt-addr", &srt.to_string()])
        .args(["--admin-token", TOKEN]);
    if let Some(port) = redis_port {
        command.args(["--redis-url", &format!("redis://127.0.0.1:{port}")]);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let process = Process(child);
    wait_listening(http, "tributary", &log_path)?;
    Ok(Node { process, http })
}

/// The nodes, then Redis: fields drop in this order, so the nodes stop first.
pub struct Cluster {
    pub nodes: Vec<Node>,
    redis: Option<Process>,
    /// The PostgreSQL database made for this cluster, dropped with it.
    postgres: Option<String>,
}

impl Cluster {
    /// `count` nodes; with more than one, they share a redis-server.
    pub fn start(binary: &Path, dir: &Path, count: usize) -> anyhow::Result<Cluster> {
        std::fs::create_dir_all(dir)?;
        let (database, postgres) = create_database(dir)?;
        let (redis, redis_port) = match count {
            1 => (None, None),
            _ => {
                let (redis, port) = start_redis(dir)?;
                (Some(redis), Some(port))
            }
        };
        let nodes = (0..count)
            .map(|i| start_node(binary, &dir.join(format!("node{i}")), &database, redis_port))
            .collect::<anyhow::Result<_>>()?;
        Ok(Cluster {
            nodes,
            redis,
            postgres,
        })
    }

    /// Creates a stream on the first node; returns its id.
    pub async fn create_stream(&self) -> anyhow::Result<String> {
        let url = format!("http://{}/api/v1/streams", self.nodes[0].http);
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(r#"{"title":"chat bench"}"#)
            .send()
            .await?;
        let created: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no stream id in {created}"))
    }

    /// CPU time and memory of the servers, Redis and the bench, now.
    pub fn sample(&self) -> anyhow::Result<Sample> {
        let mut servers = Usage::default();
        for node in &self.nodes {
            servers.add(&Usage::of(node.process.pid())?);
        }
        let redis = self
            .redis
            .as_ref()
            .map(|r| Usage::of(r.pid()))
            .transpose()?;
        Ok(Sample {
            at: Instant::now(),
            servers,
            redis,
            bench_cpu: bench_cpu_seconds(),
            machine_cpu: machine_cpu_seconds()?,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if let (Some(name), Ok(server)) = (&self.postgres, std::env::var("TRIBUTARY_TEST_POSTGRES"))
        {
            let _ = psql(&server, &format!("DROP DATABASE {name}"));
        }
    }
}

/// CPU time every process of the machine used: the busy fields of the
/// first line of /proc/stat (user, nice, system, irq, softirq, steal).
fn machine_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .context("empty /proc/stat")?
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy as f64 / clock_ticks())
}

fn bench_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct given; zeroed is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// Usage at one instant.
pub struct Sample {
    at: Instant,
    pub servers: Usage,
    pub redis: Option<Usage>,
    bench_cpu: f64,
    machine_cpu: f64,
}

/// CPU used between two samples, as fractions of a core.
pub struct Load {
    pub servers: f64,
    pub redis: Option<f64>,
    pub bench: f64,
    /// Everything else on the machine (a build running beside the bench
    /// makes its figures worthless).
    pub others: f64,
}

impl Sample {
    pub fn load_since(&self, earlier: &Sample) -> Load {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        let servers = (self.servers.cpu - earlier.servers.cpu) / wall;
        let redis = self
            .redis
            .zip(earlier.redis)
            .map(|(now, then)| (now.cpu - then.cpu) / wall);
        let bench = (self.bench_cpu - earlier.bench_cpu) / wall;
        let machine = (self.machine_cpu - earlier.machine_cpu) / wall;
        Load {
            servers,
            redis,
            bench,
            others: (machine - servers - redis.unwrap_or(0.0) - bench).max(0.0),
        }
    }
}
