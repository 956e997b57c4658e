//! Resumable uploads with real tus clients (tests/tus/): tus-js-client in
//! Node and tuspy, each stopped and resumed by a second run; a connection
//! cut mid-PATCH by a proxy of our own; the server killed (-9) mid-PATCH, on
//! fs and on s3 with PostgreSQL. Each time the stored source must be the
//! file, byte for byte.

mod support;

// No workers: the probe stays queued, the status is what the upload made it.
const NO_WORKERS: &[&str] = &["--workers", "0"];

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use support::{Server, TempDir, hex};

const MIB: u64 = 1 << 20;
/// Not a multiple of any chunk size: the last chunk is a short one.
const FILE_LEN: usize = 12_345_678;

/// The file every test uploads, made once per test binary.
struct TestFile {
    path: PathBuf,
    sha256: String,
}

fn test_file() -> &'static TestFile {
    static FILE: OnceLock<TestFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let bytes = pseudo_random_bytes(FILE_LEN);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tus-clients-upload.bin");
        // Written aside and renamed: another run of this binary may read it.
        let partial = path.with_extension(format!("{}.part", std::process::id()));
        std::fs::write(&partial, &bytes).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        TestFile {
            path,
            sha256: hex(&Sha256::digest(&bytes)),
        }
    })
}

/// Deterministic bytes without a period (xorshift64*): with a repeating
/// pattern, a chunk stored twice or skipped could leave the digest unchanged.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A tus client program of tests/tus/.
#[derive(Clone, Copy, Debug)]
enum Client {
    TusJs,
    Tuspy,
}

/// How a client program is run.
struct Run<'a> {
    endpoint: &'a str,
    /// Where it keeps the upload URL between runs.
    state: &'a Path,
    chunk_size: u64,
    stop_after: Option<u64>,
    /// Retries failed requests for a few seconds, asking the offset (HEAD) first.
    retries: bool,
}

impl Client {
    fn command(self, run: &Run) -> tokio::process::Command {
        let script = |name: &str| format!("{}/tests/tus/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut command = match self {
            Client::TusJs => {
                let mut command = tokio::process::Command::new("node");
                command.arg(script("upload.mjs"));
                if run.retries {
                    command.args(["--retry-delays", "0,300,600,1000,2000,3000,5000"]);
                }
                command
            }
            Client::Tuspy => {
                let mut command = tokio::process::Command::new("python3");
                command.arg(script("upload.py"));
                if run.retries {
                    command.args(["--retries", "8", "--retry-delay", "0.5"]);
                }
                command
            }
        };
        command
            .args(["--endpoint", run.endpoint, "--file"])
            .arg(&test_file().path)
            .arg("--state")
            .arg(run.state)
            .args(["--chunk-size", &run.chunk_size.to_string()]);
        if let Some(bytes) = run.stop_after {
            command.args(["--stop-after", &bytes.to_string()]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    fn spawn(self, run: &Run) -> tokio::process::Child {
        self.command(run).spawn().unwrap_or_else(|e| {
            panic!("starting {self:?}: {e} (./dev test installs node, tus-js-client and tuspy)")
        })
    }

    /// Runs the client to its end; returns the JSON lines it printed.
    async fn run(self, run: &Run<'_>) -> Vec<Value> {
        finish(self, self.spawn(run)).await
    }
}

/// Waits for a client program; returns its JSON lines, or panics with its
/// output when it failed.
async fn finish(client: Client, child: tokio::process::Child) -> Vec<Value> {
    let output = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{client:?} did not finish in 40 s"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{client:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e} in {line:?}:\n{stderr}"))
        })
        .collect()
}

/// The last line: where the run ended.
fn last(lines: &[Value]) -> &Value {
    lines.last().expect("a client prints its last offset")
}

/// Every upload URL a run printed.
fn upload_urls(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l["upload_url"].as_str())
        .collect()
}

fn offsets(lines: &[Value]) -> Vec<u64> {
    lines.iter().filter_map(|l| l["offset"].as_u64()).collect()
}

/// The offset the server holds for an upload.
async fn server_offset(server: &Server, upload_url: &str) -> u64 {
    let response = server
        .client
        .head(upload_url)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The asset has the file as its source: its digest in the API, and the
/// stored object's own.
async fn assert_source_is_the_file(server: &Server, id: &str, s3: bool) {
    let file = test_file();
    let video = server.video(id).await;
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(video["source"]["size"], FILE_LEN, "{video}");
    assert_eq!(video["source"]["sha256"], file.sha256.as_str(), "{video}");
    let stored = stored_source(server, id, s3).await;
    assert_eq!(stored.len(), FILE_LEN);
    assert_eq!(
        hex(&Sha256::digest(&stored)),
        file.sha256,
        "the stored object is the file"
    );
}

/// Reads the source back from the store the server uses.
async fn stored_source(server: &Server, id: &str, s3: bool) -> Vec<u8> {
    let key = format!("videos/{id}/source");
    if !s3 {
        return std::fs::read(server.dir.0.join("data/objects").join(&key))
            .expect("the stored source");
    }
    let mut config = storage::S3Config::new(std::env::var("TRIBUTARY_TEST_S3_BUCKET").unwrap());
    config.endpoint = Some(std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").unwrap());
    config.region = std::env::var("TRIBUTARY_TEST_S3_REGION").unwrap();
    config.path_style = true;
    let store = storage::S3Store::new(config).await.unwrap();
    let object = storage::ObjectStore::get(&store, &key, None)
        .await
        .expect("the stored source");
    let mut body = object.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// A first run stops after three chunks, as a closed tab would; a second
/// run finds the upload URL in its state and goes on from the server's
/// offset.
async fn stopped_and_resumed(client: Client) {
    let server = Server::start(NO_WORKERS).await;
    let (id, endpoint) = server.create_video(&format!("{client:?} stopped")).await;
    let state = TempDir::new("tus-state");
    let mut run = Run {
        endpoint: &endpoint,
        state: &state.0.join("urls.json"),
        chunk_size: MIB,
        stop_after: Some(3 * MIB),
        retries: false,
    };

    let first = client.run(&run).await;
    let stopped = last(&first);
    assert_eq!(stopped["complete"], false, "{first:?}");
    assert_eq!(stopped["offset"], 3 * MIB, "{first:?}");
    let url = stopped["upload_url"].as_str().unwrap();
    assert_eq!(
        server_offset(&server, url).await,
        3 * MIB,
        "the server holds what the client was told"
    );
    assert_eq!(server.video(&id).await["status"], "awaiting_upload");

    run.stop_after = None;
    let second = client.run(&run).await;
    assert_eq!(last(&second)["complete"], true, "{second:?}");
    assert!(
        upload_urls(&second).iter().all(|u| *u == url),
        "resumed the same upload: {second:?}"
    );
    assert!(
        offsets(&second).iter().all(|o| *o >= 3 * MIB),
        "went on from the offset: {second:?}"
    );
    assert_source_is_the_file(&server, &id, false).await;
}

#[tokio::test]
async fn tus_js_client_stopped_and_resumed_by_a_second_run() {
    stopped_and_resumed(Client::TusJs).await;
}

#[tokio::test]
async fn tuspy_stopped_and_resumed_by_a_second_run() {
    stopped_and_resumed(Client::Tuspy).await;
}

/// What the proxy does once `at` bytes have gone to the server since the
/// first PATCH began.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Drops both connections, as a network failure would.
    Cut,
    /// Sends nothing more, holding both connections until the server's
    /// side closes (the test kills the server meanwhile).
    Stall,
}

/// A TCP proxy to the server that breaks one PATCH.
struct Proxy {
    addr: SocketAddr,
    plan: Arc<Plan>,
    accepting: tokio::task::JoinHandle<()>,
}

struct Plan {
    fault: Fault,
    at: u64,
    /// Client-to-server bytes since each connection's first PATCH, summed.
    patch_bytes: AtomicU64,
    /// Client-to-server bytes forwarded, all told.
    forwarded: AtomicU64,
    fired: AtomicBool,
    /// Told when the fault happens.
    faulted: Notify,
}

impl Plan {
    /// How much of `data` goes on before the fault, if the fault comes in
    /// it. `patching` is the connection's: true once it sent a PATCH.
    fn fault_within(&self, data: &[u8], patching: &mut bool) -> Option<usize> {
        if !*patching {
            // A request line comes at the start of a write: it is not split
            // across two reads on loopback.
            let start = data.windows(7).position(|w| w == b"PATCH /")?;
            *patching = true;
            return self
                .fault_within(&data[start..], patching)
                .map(|n| start + n);
        }
        let len = data.len() as u64;
        let before = self.patch_bytes.fetch_add(len, Ordering::SeqCst);
        let reaches = before < self.at && before + len >= self.at;
        (reaches && !self.fired.swap(true, Ordering::SeqCst)).then(|| (self.at - before) as usize)
    }
}

impl Proxy {
    async fn start(server: SocketAddr, fault: Fault, at: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let plan = Arc::new(Plan {
            fault,
            at,
            patch_bytes: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            faulted: Notify::new(),
        });
        let accepting = tokio::spawn({
            let plan = plan.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(relay(client, server, plan.clone()));
                }
            }
        });
        Proxy {
            addr,
            plan,
            accepting,
        }
    }

    /// `url` of the server, through the proxy.
    fn url(&self, server: &Server, url: &str) -> String {
        url.replace(&server.http.to_string(), &self.addr.to_string())
    }

    async fn wait_fault(&self) {
        tokio::time::timeout(Duration::from_secs(20), self.plan.faulted.notified())
            .await
            .expect("the proxy saw no PATCH long enough to break");
    }

    fn forwarded(&self) -> u64 {
        self.plan.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// One client connection, relayed to a new connection to the server (or
/// closed, while the server is down).
async fn relay(client: TcpStream, server: SocketAddr, plan: Arc<Plan>) {
    let Ok(upstream) = TcpStream::connect(server).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = upstream.into_split();
    let requests = forward_requests(&mut from_client, &mut to_server, &plan);
    let responses = tokio::io::copy(&mut from_server, &mut to_client);
    tokio::pin!(responses);
    tokio::select! {
        fault = requests => {
            if fault == Some(Fault::Stall) {
                let _ = (&mut responses).await;
            }
        }
        _ = &mut responses => {}
    }
    // Dropping the halves closes both connections.
}

/// Copies the client's bytes to the server until either side closes (None)
/// or the plan's fault comes (Some).
async fn forward_requests(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    plan: &Plan,
) -> Option<Fault> {
    let mut buffer = vec![0; 64 * 1024];
    let mut patching = false;
    loop {
        let read = from.read(&mut buffer).await.ok().filter(|n| *n > 0)?;
        let fault = plan.fault_within(&buffer[..read], &mut patching);
        let len = fault.unwrap_or(read);
        to.write_all(&buffer[..len]).await.ok()?;
        plan.forwarded.fetch_add(len as u64, Ordering::SeqCst);
        if fault.is_some() {
            plan.faulted.notify_one();
            return Some(plan.fault);
        }
    }
}

/// The proxy cuts the connection 1.5 MiB into the first 4 MiB PATCH; the
/// client asks the offset (HEAD) and goes on through the proxy.
async fn connection_cut_mid_patch(client: Client) {
    let server = Server::start(NO_WORKERS).await;
    let (id, upload_url) = server.create_video(&format!("{client:?} cut")).await;
    let cut_at = 3 * MIB / 2;
    let proxy = Proxy::start(server.http, Fault::Cut, cut_at).await;
    let state = TempDir::new("tus-state");
    let endpoint = proxy.url(&server, &upload_url);
    let lines = client
        .run(&Run {
            endpoint: &endpoint,
            state: &state.0.join("urls.json"),
            chunk_size: 4 * MIB,
            stop_after: None,
            retries: true,
        })
        .await;
    assert!(
        proxy.plan.fired.load(Ordering::SeqCst),
        "the proxy cut a PATCH"
    );
    assert_eq!(last(&lines)["complete"], true, "{lines:?}");
    let urls = upload_urls(&lines);
    assert!(
        urls.iter()
            .all(|u| *u == urls[0] && u.contains(&proxy.addr.to_string())),
        "{lines:?}"
    );
    // The server kept what reached it of the cut PATCH: the client did not
    // send it again.
    assert!(
        proxy.forwarded() < FILE_LEN as u64 + cut_at / 2,
        "{} bytes sent for a {FILE_LEN} byte file",
        proxy.forwarded()
    );
    assert_source_is_the_file(&server, &id, false).await;
}

#[tokio::test]
async fn tus_js_client_resumes_after_a_connection_cut_mid_patch() {
    connection_cut_mid_patch(Client::TusJs).await;
}

#[tokio::test]
async fn tuspy_resumes_after_a_connection_cut_mid_patch() {
    connection_cut_mid_patch(Client::Tuspy).await;
}

/// tus-js-client uploads 2 MiB chunks through a proxy that stalls the third
/// PATCH halfway; the server is killed (-9) then and started again; the
/// client's retries find the offset (HEAD) and finish the same upload.
async fn kill_9_mid_patch(extra: &[&str], s3: bool) {
    let mut flags = NO_WORKERS.to_vec();
    flags.extend(extra);
    let mut server = Server::start(&flags).await;
    let (id, upload_url) = server.create_video("kill -9").await;
    let chunk = 2 * MIB;
    let proxy = Proxy::start(server.http, Fault::Stall, 2 * chunk + chunk / 2).await;
    let state = TempDir::new("tus-state");
    let endpoint = proxy.url(&server, &upload_url);
    let run = Run {
        endpoint: &endpoint,
        state: &state.0.join("urls.json"),
        chunk_size: chunk,
        stop_after: None,
        retries: true,
    };
    let uploading = Client::TusJs.spawn(&run);
    proxy.wait_fault().await;
    server.restart().await;

    let lines = finish(Client::TusJs, uploading).await;
    assert_eq!(last(&lines)["complete"], true, "{lines:?}");
    let urls = upload_urls(&lines);
    assert!(
        urls.len() >= 2,
        "the client resumed after the restart: {lines:?}"
    );
    assert!(
        urls.iter().all(|u| *u == urls[0]),
        "the same upload throughout: {lines:?}"
    );
    // The two acknowledged chunks survived: at most the unacknowledged part
    // of the stalled PATCH was sent twice.
    assert!(
        proxy.forwarded() < FILE_LEN as u64 + chunk,
        "{} bytes sent for a {FILE_LEN} byte file",
        proxy.forwarded()
    );
    assert_source_is_the_file(&server, &id, s3).await;
}

#[tokio::test]
async fn kill_9_mid_patch_then_tus_js_client_resumes_on_fs() {
    kill_9_mid_patch(&[], false).await;
}

#[tokio::test]
async fn kill_9_mid_patch_then_tus_js_client_resumes_on_s3_and_postgres() {
    let mut flags = support::s3_flags();
    flags.extend(["--database-url".to_owned(), support::postgres_url().await]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    kill_9_mid_patch(&flags, true).await;
}
