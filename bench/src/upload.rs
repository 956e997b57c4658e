//! `tributary-bench upload [--size-mib N]`: a large upload over loopback with
//! tus (one PATCH, as tus-js-client sends by default, and 8 MiB chunks) into
//! `fs` and `s3` storage, against a raw HTTP PUT of the same bytes to a plain
//! file-writing server (`raw_put`) in the same run; the server's RSS during
//! each upload; and how soon a killed worker's job is taken again.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::Body;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::process::Usage;
use crate::raw_put;
use crate::server::{S3_SKIPPED, Server, TOKEN, s3_flags};

const CHUNK: u64 = 8 << 20;

pub async fn run(binary: &Path, dir: &Path, args: &[String]) -> anyhow::Result<()> {
    let size_mib: u64 = match args {
        [] => 2048,
        [flag, n] if flag == "--size-mib" => n.parse().context("--size-mib")?,
        _ => bail!("usage: tributary-bench upload [--size-mib N]"),
    };
    let file = dir.join("upload.bin");
    let sha256 = make_file(&file, size_mib << 20)?;
    println!("upload of {size_mib} MiB over loopback (sha256 {sha256})\n");
    println!(
        "{:<34} {:>9} {:>10} {:>9} {:>14}",
        "", "seconds", "MiB/s", "vs raw", "RSS growth MiB"
    );

    let raw = raw_put::Server::start(dir)?;
    let (seconds, growth) = measure(raw.pid(), raw.put(&file)).await?;
    let raw_speed = size_mib as f64 / seconds;
    row(
        "raw PUT to a file-writing server",
        seconds,
        size_mib,
        raw_speed,
        growth,
    );
    drop(raw);

    let s3 = s3_flags();
    let stores: Vec<(&str, Vec<String>)> = match &s3 {
        Some(flags) => vec![("fs", vec![]), ("s3", flags.clone())],
        None => {
            println!("{S3_SKIPPED}");
            vec![("fs", vec![])]
        }
    };
    for (store, flags) in stores {
        for chunk in [None, Some(CHUNK)] {
            let data = dir.join(format!("server-{store}"));
            std::fs::create_dir_all(&data)?;
            let server = Server::start_with(binary, &data, &flags).await?;
            let upload = tus_upload(&server, &file, chunk);
            let (seconds, growth) = measure(server.pid(), upload).await?;
            let video = check_source(&server, &file, &sha256).await?;
            let label = match chunk {
                None => format!("tus into {store}, one PATCH"),
                Some(_) => format!("tus into {store}, 8 MiB PATCHes"),
            };
            row(&label, seconds, size_mib, raw_speed, growth);
            delete(&server, &video).await?;
            drop(server);
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    let _ = std::fs::remove_file(&file);
    println!();
    worker_takeover(binary, dir).await
}

fn row(label: &str, seconds: f64, size_mib: u64, raw_speed: f64, growth: f64) {
    let speed = size_mib as f64 / seconds;
    println!(
        "{label:<34} {seconds:>9.2} {speed:>10.0} {:>9.2} {growth:>14.1}",
        speed / raw_speed
    );
}

/// Writes `size` bytes of incompressible data; returns their sha256.
fn make_file(path: &Path, size: u64) -> anyhow::Result<String> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut hasher = Sha256::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])?;
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    out.flush()?;
    Ok(tributary::ids::hex(&hasher.finalize()))
}

/// Runs `upload` while sampling the RSS of `pid`; returns its seconds and
/// the RSS growth over the RSS before it started, in MiB.
async fn measure(
    pid: u32,
    upload: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<(f64, f64)> {
    let before = Usage::of(pid)?.rss;
    let (stop, mut stopped) = watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while !*stopped.borrow() {
            peak = peak.max(Usage::of(pid).map_or(0, |usage| usage.rss));
            tokio::select! {
                _ = stopped.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        peak
    });
    let started = Instant::now();
    let result = upload.await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let peak = sampler.await?;
    result?;
    Ok((
        seconds,
        peak.saturating_sub(before) as f64 / (1024.0 * 1024.0),
    ))
}

/// A request body streaming `len` bytes of `path` from `offset`.
pub async fn file_body(path: &Path, offset: u64, len: u64) -> anyhow::Result<Body> {
    use tokio::io::AsyncSeekExt;
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024);
    Ok(Body::wrap_stream(stream))
}

pub async fn api(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = server
        .client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    })
}

pub async fn tus_upload(server: &Server, file: &Path, chunk: Option<u64>) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)?.len();
    let video = api(
        server,
        reqwest::Method::POST,
        "/api/v1/videos",
        Some(serde_json::json!({"title": "bench"})),
    )
    .await?;
    let creation = video["upload_url"].as_str().context("upload_url")?;
    let created = server
        .client()
        .post(creation)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", size.to_string())
        .send()
        .await?;
    ensure!(created.status() == 201, "tus POST: {}", created.status());
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("Location")?;
    let url = if location.starts_with("http") {
        location.to_owned()
    } else {
        server.url(location)
    };
    let step = chunk.unwrap_or(size);
    let mut offset = 0;
    while offset < size {
        let len = step.min(size - offset);
        let response = server
            .client()
            .patch(&url)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .header("Content-Length", len.to_string())
            .body(file_body(file, offset, len).await?)
            .send()
            .await?;
        ensure!(
            response.status() == 204,
            "PATCH at {offset}: {}",
            response.status()
        );
        offset += len;
    }
    Ok(())
}

/// The newest video's source is the file, whole; returns its id.
async fn check_source(server: &Server, file: &Path, sha256: &str) -> anyhow::Result<String> {
    let list = api(server, reqwest::Method::GET, "/api/v1/videos?limit=1", None).await?;
    let video = &list["videos"][0];
    ensure!(
        video["source"]["sha256"] == sha256,
        "stored source differs: {video}"
    );
    ensure!(
        video["source"]["size"] == std::fs::metadata(file)?.len(),
        "size differs: {video}"
    );
    video["id"].as_str().map(str::to_owned).context("id")
}

async fn delete(server: &Server, id: &str) -> anyhow::Result<()> {
    api(
        server,
        reqwest::Method::DELETE,
        &format!("/api/v1/videos/{id}"),
        None,
    )
    .await?;
    Ok(())
}

/// A worker killed (SIGKILL) while it holds a job: how long until another
/// worker has done the job, with the default lease.
async fn worker_takeover(binary: &Path, dir: &Path) -> anyhow::Result<()> {
    let data = dir.join("takeover");
    std::fs::create_dir_all(&data)?;
    let database = format!("sqlite://{}?mode=rwc", data.join("shared.db").display());
    let server_flags = [
        "--database-url".to_owned(),
        database.clone(),
        "--workers".into(),
        "0".into(),
    ];
    let server = Server::start_with(binary, &data, &server_flags).await?;
    // The server keeps its objects under data/data: the workers read them there.
    let worker_flags = [
        "--database-url".to_owned(),
        database,
        "--data-dir".into(),
        data.join("data").display().to_string(),
    ];
    let clip = data.join("clip.mp4");
    let status =
        crate::server::ffmpeg_source("640x360", &[clip.to_str().context("path")?], false, Some(4))
            .status()?;
    ensure!(status.success(), "ffmpeg");
    let mut tries = 0;
    loop {
        tries += 1;
        ensure!(tries <= 10, "never caught the worker mid-job");
        let mut a = worker(binary, &worker_flags, &data.join("a.log"))?;
        let video = api(
            &server,
            reqwest::Method::POST,
            "/api/v1/videos",
            Some(serde_json::json!({"title": "takeover"})),
        )
        .await?;
        let id = video["id"].as_str().context("id")?.to_owned();
        let bytes = tokio::fs::read(&clip).await?;
        let creation = video["upload_url"].as_str().context("upload_url")?;
        server
            .client()
            .post(creation)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", bytes.len().to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes)
            .send()
            .await?
            .error_for_status()?;
        // Kill the worker the moment its claim shows.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut caught = false;
        while Instant::now() < deadline {
            let jobs = api(
                &server,
                reqwest::Method::GET,
                &format!("/api/v1/videos/{id}/jobs"),
                None,
            )
            .await?;
            match jobs["jobs"][0]["state"].as_str() {
                Some("running") => {
                    a.kill()?;
                    caught = true;
                    break;
                }
                Some("done" | "failed") => break,
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        let _ = a.wait();
        if !caught {
            continue;
        }
        let killed_at = Instant::now();
        let mut b = worker(binary, &worker_flags, &data.join("b.log"))?;
        loop {
            let video = api(
                &server,
                reqwest::Method::GET,
                &format!("/api/v1/videos/{id}"),
                None,
            )
            .await?;
            if video["status"] == "ready" {
                break;
            }
            ensure!(
                killed_at.elapsed() < Duration::from_secs(120),
                "the job was never taken again: {video}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let taken = killed_at.elapsed().as_secs_f64();
        let _ = b.kill();
        let _ = b.wait();
        println!(
            "worker killed mid-job: done by another worker {taken:.1} s later \
             (lease 30 s; goal: lease + 15 s = 45 s; caught on try {tries})"
        );
        return Ok(());
    }
}

fn worker(binary: &Path, flags: &[String], log: &PathBuf) -> anyhow::Result<std::process::Child> {
    let log = std::fs::File::create(log)?;
    Ok(std::process::Command::new(binary)
        .arg("worker")
        .args(flags)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?)
}
