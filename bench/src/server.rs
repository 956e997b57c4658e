//! The tributary binary under measurement, on free ports in a temp dir.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const TOKEN: &str = "bench-admin-token";

pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    client: reqwest::Client,
    log: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Server> {
        Server::start_with(binary, dir, &[]).await
    }

    /// The server with `extra` flags, its data and log in `dir` (made if
    /// missing).
    pub async fn start_with(binary: &Path, dir: &Path, extra: &[String]) -> anyhow::Result<Server> {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let rtmp: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let srt = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .args(["serve", "--data-dir"])
            .arg(dir.join("data"))
            .args([
                "--http-addr",
                &http.to_string(),
                "--rtmp-addr",
                &rtmp.to_string(),
                "--srt-addr",
                &srt.to_string(),
            ])
            .args(["--admin-token", TOKEN])
            .args(extra)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = Server {
            child,
            http,
            rtmp,
            client: reqwest::Client::new(),
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server
            .client
            .get(server.url("/watch/x"))
            .send()
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("server did not start; see {}", server.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The warnings and errors its log holds so far that mention `about`.
    pub fn log_warnings(&self, about: &str) -> anyhow::Result<Vec<String>> {
        let log = std::fs::read_to_string(&self.log)
            .with_context(|| format!("reading {}", self.log.display()))?;
        Ok(log
            .lines()
            .filter(|l| (l.contains(" WARN ") || l.contains(" ERROR ")) && l.contains(about))
            .map(str::to_owned)
            .collect())
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Creates a stream; returns (id, key).
    pub async fn create_stream(&self, title: &str) -> anyhow::Result<(String, String)> {
        let body = serde_json::json!({ "title": title }).to_string();
        let response = self
            .client
            .post(self.url("/api/v1/streams"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let created: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        let field = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {name} in {created}"))
        };
        Ok((field("id")?, field("stream_key")?))
    }

    /// An admin API GET: its JSON body, when it answered 200.
    pub async fn api_get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, bytes::Bytes)> {
        let response = self.client.get(self.url(path)).send().await?;
        Ok((response.status().as_u16(), response.bytes().await?))
    }

    /// The media playlist path of the variant of this RESOLUTION, once the
    /// master playlist lists it.
    pub async fn variant_playlist(
        &self,
        stream_id: &str,
        resolution: &str,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let wanted = format!("RESOLUTION={resolution},");
        loop {
            let (status, body) = self.get(&format!("/live/{stream_id}/index.m3u8")).await?;
            let master = String::from_utf8_lossy(&body);
            let lines: Vec<&str> = master.lines().collect();
            let found = lines
                .windows(2)
                .find(|w| w[0].starts_with("#EXT-X-STREAM-INF") && w[0].contains(&wanted));
            if let (200, Some(pair)) = (status, found) {
                return Ok(format!("/live/{stream_id}/{}", pair[1]));
            }
            if Instant::now() > deadline {
                bail!("no {resolution} variant appeared in:\n{master}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags of the test S3 server `./dev bench` starts; None without one.
pub fn s3_flags() -> Option<Vec<String>> {
    let env = |name: &str| std::env::var(name).ok();
    Some(vec![
        "--storage".into(),
        "s3".into(),
        "--s3-endpoint".into(),
        env("TRIBUTARY_TEST_S3_ENDPOINT")?,
        "--s3-bucket".into(),
        env("TRIBUTARY_TEST_S3_BUCKET")?,
        "--s3-region".into(),
        env("TRIBUTARY_TEST_S3_REGION")?,
        "--s3-path-style".into(),
        "true".into(),
    ])
}

/// What a bench prints when it has no S3 server to run on.
pub const S3_SKIPPED: &str =
    "(s3 skipped: TRIBUTARY_TEST_S3_ENDPOINT unset; ./dev bench starts s3s-fs, see its output)";

/// ffmpeg with a test pattern and a tone, x264 tuned for latency, 1 s keyframes.
pub fn ffmpeg_source(size: &str, output: &[&str], realtime: bool, seconds: Option<u32>) -> Command {
    let mut command = Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-y"]);
    if realtime {
        command.arg("-re");
    }
    command
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    if let Some(seconds) = seconds {
        command.args(["-t", &seconds.to_string()]);
    }
    command
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-b:v",
            "2500k",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"])
        .args(output)
        .stdin(Stdio::null());
    command
}
