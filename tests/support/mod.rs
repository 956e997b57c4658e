//! Shared harness for end-to-end tests: the real `tributary` binary on free
//! ports in a temp dir, real publishers (ffmpeg, GStreamer, srt-live-transmit),
//! and helpers to read playlists and decode media with ffprobe.
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod chat_client;
pub mod webhooks;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod stalling_proxy;

pub const TOKEN: &str = "test-admin-token";

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "tributary-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

/// A directory for the whole test process, for what a static holds (a
/// static is never dropped): `{name}-{pid}` in the target's tmp directory.
/// Those of earlier processes that no longer run are removed first.
pub fn process_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let prefix = format!("{name}-");
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let file_name = entry.file_name();
        let pid = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = root.join(format!("{prefix}{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("process dir");
    dir
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

/// A child process killed on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command) -> Proc {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e} (./dev test installs it)"));
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free tcp port")
        .port()
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free udp port")
        .port()
}

/// The PostgreSQL server `./dev test` starts, as a URL.
const POSTGRES_ENV: &str = "TRIBUTARY_TEST_POSTGRES";

/// Creates a uniquely named database on the test PostgreSQL and returns its
/// URL, for the server's `--database-url`.
pub async fn postgres_url() -> String {
    use sqlx::{Connection, Executor};
    let server = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_ENV} is unset: run the tests through ./dev test, which starts PostgreSQL")
    });
    let name = format!("tributary_test_{}_{}", std::process::id(), rand_suffix());
    let mut admin = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("connecting to {server}: {e}"));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE");
    admin.close().await.expect("closing the admin connection");
    let mut url = reqwest::Url::parse(&server).expect(POSTGRES_ENV);
    url.set_path(&name);
    url.into()
}

/// A throwaway redis-server on a free port, in its own temp dir, persisting
/// nothing; killed on drop.
pub struct RedisServer {
    proc: Proc,
    dir: TempDir,
    port: u16,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = TempDir::new("redis");
        let port = free_tcp_port();
        let proc = spawn_redis(&dir, port);
        RedisServer { proc, dir, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server, as a crash would.
    pub fn stop(&mut self) {
        self.proc.kill();
    }

    /// Starts the server again on the same port (stopping it first if needed).
    pub fn restart(&mut self) {
        self.stop();
        self.proc = spawn_redis(&self.dir, self.port);
    }
}

/// Spawns redis-server on `port` and waits until it answers PING.
fn spawn_redis(dir: &TempDir, port: u16) -> Proc {
    let log = std::fs::File::create(dir.0.join("redis.log")).unwrap();
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut proc = Proc::spawn("redis-server", &mut command);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_ping(port) {
        let log = std::fs::read_to_string(dir.0.join("redis.log")).unwrap_or_default();
        assert!(proc.is_running(), "redis-server exited:\n{log}");
        assert!(
            Instant::now() < deadline,
            "redis-server never answered PING:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proc
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Deterministic test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2654435761)
                .wrapping_add(u64::from(seed)) as u8
        })
        .collect()
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server under test.
pub struct Server {
    pub proc: Proc,
    pub dir: TempDir,
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    pub srt: SocketAddr,
    pub client: reqwest::Client,
    /// The flags it was started with, for restarts.
    extra: Vec<String>,
}

/// Starts `tributary serve` in `dir`, appending to its server.log.
fn spawn_server(
    dir: &TempDir,
    http: SocketAddr,
    rtmp: SocketAddr,
    srt: SocketAddr,
    extra: &[String],
) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.0.join("server.log"))
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .args(["serve", "--data-dir"])
        .arg(dir.0.join("data"))
        .args([
            "--http-addr",
            &http.to_string(),
            "--rtmp-addr",
            &rtmp.to_string(),
        ])
        .args(["--srt-addr", &srt.to_string(), "--admin-token", TOKEN])
        .args(extra)
        .env("RUST_LOG", "info,tributary=debug,ingest=debug")
        // Seconds of media, encoded as fast as x264 goes; a test's flag may say otherwise.
        .env("TRIBUTARY_VOD_PRESET", "ultrafast")
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(Stdio::null())
        .current_dir(&dir.0)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Proc::spawn("tributary", &mut command)
}

/// The server flags that put its objects in the test S3 server `./dev test` starts.
pub fn s3_flags() -> Vec<String> {
    let env = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is unset: run the tests through ./dev test, which starts an S3 server")
        })
    };
    vec![
        "--storage".into(),
        "s3".into(),
        "--s3-endpoint".into(),
        env("TRIBUTARY_TEST_S3_ENDPOINT"),
        "--s3-bucket".into(),
        env("TRIBUTARY_TEST_S3_BUCKET"),
        "--s3-region".into(),
        env("TRIBUTARY_TEST_S3_REGION"),
        "--s3-path-style".into(),
        "true".into(),
    ]
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // A port found free can be taken (by another test's connection)
        // before the server binds it: the server then exits, and starts
        // again on other ports.
        for _ in 0..3 {
            let dir = TempDir::new("server");
            let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
            let rtmp: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
            let srt: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
            let proc = spawn_server(&dir, http, rtmp, srt, &extra);
            let mut server = Server {
                proc,
                dir,
                http,
                rtmp,
                srt,
                client: reqwest::Client::new(),
                extra: extra.clone(),
            };
            if server.ready_or_exited().await {
                return server;
            }
            let log = server.log();
            assert!(
                log.contains("Address already in use"),
                "server exited:\n{log}"
            );
        }
        panic!("the server's ports were taken three times");
    }

    /// Kills the server (SIGKILL, as a crash would) and starts it again on
    /// the same data directory, ports and flags.
    pub async fn restart(&mut self) {
        self.proc.kill();
        self.proc = spawn_server(&self.dir, self.http, self.rtmp, self.srt, &self.extra);
        assert!(
            self.ready_or_exited().await,
            "server exited:\n{}",
            self.log()
        );
    }

    /// True once the server answers HTTP, false if it exited first.
    async fn ready_or_exited(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.client.get(self.url("/watch/x")).send().await.is_err() {
            if !self.proc.is_running() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "server did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    /// Polls the server's log until it contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the log never said {needle:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api call");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a stream; returns (id, key).
    pub async fn create_stream(&self, title: &str) -> (String, String) {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/streams",
                Some(serde_json::json!({ "title": title })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["stream_key"].as_str().unwrap().to_owned(),
        )
    }

    /// A new VOD asset; returns its id and its tus `upload_url`.
    pub async fn create_video(&self, title: &str) -> (String, String) {
        let (status, video) = self
            .api(
                reqwest::Method::POST,
                "/api/v1/videos",
                Some(serde_json::json!({ "title": title })),
            )
            .await;
        assert_eq!(status, 201, "{video}");
        assert_eq!(video["status"], "awaiting_upload");
        (
            video["id"].as_str().unwrap().to_owned(),
            video["upload_url"].as_str().unwrap().to_owned(),
        )
    }

    /// Uploads `body` whole to a tus creation URL (creation-with-upload).
    pub async fn upload(&self, creation_url: &str, body: Vec<u8>) {
        let response = self
            .client
            .post(creation_url)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", body.len().to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await
            .expect("tus POST");
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }

    /// Polls until the video's status is one of `statuses`; returns it.
    pub async fn wait_video(&self, id: &str, statuses: &[&str], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let video = self.video(id).await;
            if statuses.iter().any(|s| video["status"] == *s) {
                return video;
            }
            assert!(
                Instant::now() < deadline,
                "video never became {statuses:?}: {video}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn video(&self, id: &str) -> Value {
        let (status, video) = self
            .api(reqwest::Method::GET, &format!("/api/v1/videos/{id}"), None)
            .await;
        assert_eq!(status, 200, "{video}");
        video
    }

    pub async fn stream(&self, id: &str) -> Value {
        let (status, body) = self
            .api(reqwest::Method::GET, &format!("/api/v1/streams/{id}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.bytes().await.expect("body").to_vec()
    }

    /// Polls until the master playlist is served, then returns it.
    pub async fn wait_master(&self, id: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_text(&format!("/live/{id}/index.m3u8")).await;
            if status == 200 {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "master playlist never appeared (last {status}):\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until a media playlist has at least `segments` complete segments.
    pub async fn wait_segments(
        &self,
        media_path: &str,
        segments: usize,
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get_text(media_path).await;
            if status == 200 && segment_uris(&body).len() >= segments {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{media_path} never got {segments} segments:\n{body}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The stream's broadcasts, newest first (the API's page).
    pub async fn broadcasts(&self, stream_id: &str) -> Value {
        let path = format!("/api/v1/streams/{stream_id}/broadcasts");
        let (status, page) = self.api(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        page
    }

    /// Polls until the stream's newest broadcast names its replay; returns
    /// the broadcast and the replay's id.
    pub async fn wait_replay(&self, stream_id: &str, timeout: Duration) -> (Value, String) {
        let deadline = Instant::now() + timeout;
        loop {
            let broadcast = self.broadcasts(stream_id).await["broadcasts"][0].clone();
            if let Some(id) = broadcast["replay_video_id"].as_str() {
                return (broadcast.clone(), id.to_owned());
            }
            assert!(
                Instant::now() < deadline,
                "no replay: {broadcast}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the API until the stream's status is `status`.
    pub async fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let stream = self.stream(id).await;
            if stream["status"] == status {
                return stream;
            }
            assert!(
                Instant::now() < deadline,
                "stream never became {status}: {stream}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// x264 the way OBS sends it: latency tuning, a 1 s keyframe interval.
pub const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-g",
    "30",
    "-pix_fmt",
    "yuv420p",
];

/// `binary` (an ffmpeg) encoding a live test pattern of `size` and a tone at
/// `audio_rate` with `codecs`, sent to `output` in `format`.
pub fn test_source(
    binary: &str,
    size: &str,
    audio_rate: &str,
    codecs: &[&str],
    format: &str,
    output: &str,
) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate={audio_rate}"),
        ])
        .args(codecs)
        .args(["-f", format, output])
        .stdin(Stdio::null());
    command
}

/// ffmpeg publishing H.264 and AAC the way OBS would, to `url` in `format`.
pub fn ffmpeg_publish(url: &str, format: &str, size: &str) -> Proc {
    let mut codecs = X264.to_vec();
    codecs.extend(["-c:a", "aac", "-b:a", "96k"]);
    let mut command = test_source("ffmpeg", size, "48000", &codecs, format, url);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    Proc::spawn("ffmpeg", &mut command)
}

/// ffmpeg publishing `secs` seconds of `size` H.264 and AAC over RTMP to
/// `key`, then leaving.
pub fn publish_for(server: &Server, key: &str, size: &str, secs: u32) -> Proc {
    let mut codecs = X264.to_vec();
    let secs = secs.to_string();
    codecs.extend(["-c:a", "aac", "-b:a", "96k", "-t", &secs]);
    let mut command = test_source(
        "ffmpeg",
        size,
        "48000",
        &codecs,
        "flv",
        &rtmp_url(server, key),
    );
    command.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn("ffmpeg", &mut command)
}

/// Runs tests/browser/watch.mjs on `url` for `seconds` (with extra
/// environment) and returns its JSON report.
pub async fn watch_page(url: String, seconds: u32, env: &[(&str, &str)]) -> Value {
    node_script(
        "tests/browser/watch.mjs",
        vec![url, seconds.to_string()],
        env,
    )
    .await
}

/// Runs a Node script of the test suite (path from the repository root) and
/// returns the JSON of its last output line.
///
/// The script and the Chromium it starts run at a lower priority: a viewer's browser
/// does not share the server's two cores in production, and a Chromium starting up
/// beside the live ladder starved its encoders into gaps.
pub async fn node_script(script: &str, args: Vec<String>, env: &[(&str, &str)]) -> Value {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("nice")
            .args(["-n", "10", "node"])
            .arg(script)
            .args(args)
            .envs(env)
            .output()
            .expect("node (./dev test installs it and the browser test packages)")
    })
    .await
    .expect("the node run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect(&stdout)
}

pub fn rtmp_url(server: &Server, key: &str) -> String {
    format!("rtmp://{}/live/{key}", server.rtmp)
}

pub fn srt_url(server: &Server, streamid: &str) -> String {
    format!("srt://{}?streamid={streamid}&latency=120000", server.srt)
}

/// The URIs of complete segments in a media playlist.
pub fn segment_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The value of `ATTR=` in the first line starting with `tag`.
pub fn attribute(playlist: &str, tag: &str, attr: &str) -> Option<String> {
    let line = playlist.lines().find(|l| l.starts_with(tag))?;
    let start = line.find(&format!("{attr}="))? + attr.len() + 1;
    let rest = &line[start..];
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        &quoted[..quoted.find('"')?]
    } else {
        rest.split(',').next()?
    };
    Some(value.to_owned())
}

/// Every `EXT-X-PART` URI of a media playlist, in order.
pub fn part_uris(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| attribute(l, "#EXT-X-PART:", "URI"))
        .collect()
}

/// The media playlist paths the master playlist lists: (video, audio).
pub fn media_paths(stream_id: &str, master: &str) -> (String, Option<String>) {
    let video = segment_uris(master)
        .into_iter()
        .next()
        .expect("a variant in the master playlist");
    let audio = attribute(master, "#EXT-X-MEDIA:TYPE=AUDIO", "URI");
    let path = |uri: String| format!("/live/{stream_id}/{uri}");
    (path(video), audio.map(path))
}

/// The folder URL of a media playlist path.
pub fn folder(media_path: &str) -> &str {
    &media_path[..media_path.rfind('/').unwrap() + 1]
}

/// ffprobe's view of a file: streams and decoded frame counts.
pub fn ffprobe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("running ffprobe");
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe json")
}

/// Downloads the init segment and every segment of a media playlist into one
/// file and returns ffprobe's first stream.
pub async fn probe_rendition(
    server: &Server,
    media_path: &str,
    playlist: &str,
    dir: &Path,
) -> Value {
    let base = folder(media_path);
    let init = attribute(playlist, "#EXT-X-MAP", "URI").expect("EXT-X-MAP");
    let mut bytes = server.get_bytes(&format!("{base}{init}")).await;
    for uri in segment_uris(playlist) {
        bytes.extend(server.get_bytes(&format!("{base}{uri}")).await);
    }
    let file = dir.join(format!("probe-{}.mp4", rand_suffix()));
    std::fs::write(&file, &bytes).unwrap();
    let probe = ffprobe(&file);
    probe["streams"][0].clone()
}

/// The base media decode time (tfdt) of the first fragment of a segment or part.
pub fn first_tfdt(fragment: &[u8]) -> Option<u64> {
    let traf = child_box(child_box(fragment, b"moof")?, b"traf")?;
    let tfdt = child_box(traf, b"tfdt")?;
    match tfdt.first()? {
        1 => Some(u64::from_be_bytes(tfdt.get(4..12)?.try_into().ok()?)),
        _ => Some(u32::from_be_bytes(tfdt.get(4..8)?.try_into().ok()?) as u64),
    }
}

/// The payload of the first box of `kind` at this level.
pub fn child_box<'a>(mut data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    while data.len() >= 8 {
        let size = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
        if size < 8 || size > data.len() {
            return None;
        }
        if &data[4..8] == kind {
            return Some(&data[8..size]);
        }
        data = &data[size..];
    }
    None
}

/// Every variant of a master playlist: (RESOLUTION, media playlist path).
pub fn variants(stream_id: &str, master: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = master.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].starts_with("#EXT-X-STREAM-INF"))
        .map(|w| {
            let resolution = attribute(w[0], "#EXT-X-STREAM-INF", "RESOLUTION").unwrap_or_default();
            (resolution, format!("/live/{stream_id}/{}", w[1]))
        })
        .collect()
}

/// The static ffmpeg 7+ (`./dev test` installs the PyPI package
/// `imageio-ffmpeg`; Debian's ffmpeg 5 cannot send Enhanced RTMP or write
/// display rotation).
pub fn ffmpeg7() -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "imageio-ffmpeg is missing: python3 -m pip install imageio-ffmpeg (./dev test does)"
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
