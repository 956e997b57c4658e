//! The tributary binary under measurement, on free ports in a temp dir.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const TOKEN: &str = "bench-admin-token";

pub struct Server {
    child: Child,
    pub http: SocketAddr,
    pub rtmp: SocketAddr,
    client: reqwest::Client,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Server> {
        Server::start_with(binary, dir, &[]).await
    }

    /// The server with `extra` flags.
    pub async fn start_with(binary: &Path, dir: &Path, extra: &[String]) -> anyhow::Result<Server> {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let rtmp: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let srt = UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let log = std::fs::File::create(dir.join("server.log"))?;
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
                bail!(
                    "server did not start; see {}",
                    dir.join("server.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
