//! `tributary-bench vod [seconds]`: the VOD ladder on a 1080p30 H.264 + AAC
//! upload (default 60 s), against ffmpeg doing the same work, in one run:
//! 1. Repackaging, the `first` job of an H.264 upload: `tributary
//!    transcode-source` copying the 1080p video and the AAC into CMAF,
//!    against `ffmpeg -c copy` writing fMP4 HLS.
//! 2. The ladder job: 720p, 480p and 360p encoded with x264 `medium` at the
//!    rungs' bitrates, keyframes at the source's, no B-frames, against one
//!    ffmpeg process decoding once and encoding the same three rungs.
//! 3. End to end on `tributary serve` (one worker, default settings): from
//!    the upload's last byte to playable (`partially_ready`) and to `ready`.
//!
//! Wall seconds and CPU seconds (getrusage of the children) for each.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::json;

use crate::server::Server;
use crate::upload::{api, tus_upload};

/// The ladder below a 1080p source, as the server's default VOD ladder has it.
const RUNGS: [(&str, u32, u32, u32); 3] = [
    ("720p", 1280, 720, 2800),
    ("480p", 854, 480, 1400),
    ("360p", 640, 360, 800),
];
const PRESET: &str = "medium";

pub async fn run(binary: &Path, dir: &Path, seconds: u32) -> anyhow::Result<()> {
    let source = dir.join("source.mp4");
    make_source(&source, seconds)?;
    println!("VOD ladder on a {seconds} s 1080p30 H.264 + AAC upload (x264 {PRESET})\n");
    println!(
        "{:<44} {:>9} {:>9} {:>12}",
        "", "seconds", "CPU s", "vs ffmpeg"
    );

    let uri = format!("file://{}", source.display());
    let copy_spec = json!({
        "video": [{"mode": "copy", "name": "1080p"}],
        "audio": [{"mode": "copy", "name": "audio"}],
        "keyframes": {"at": "source"}, "segment_secs": 4.0, "preset": PRESET, "max_fps": 60,
    });
    let ours = timed(transcode(binary, &uri, &dir.join("copy"), &copy_spec))?;
    let theirs = timed(ffmpeg_copy(&source, &dir.join("copy-ffmpeg"))?)?;
    row("repackage: tributary transcode-source", ours, Some(theirs));
    row("repackage: ffmpeg -c copy, fMP4 HLS", theirs, None);

    let video: Vec<_> = RUNGS
        .iter()
        .map(|(name, width, height, kbps)| {
            json!({"mode": "encode", "name": name, "width": width, "height": height, "bitrate_kbps": kbps})
        })
        .collect();
    let ladder_spec = json!({
        "video": video, "keyframes": {"at": "source"}, "segment_secs": 4.0,
        "preset": PRESET, "max_fps": 60,
    });
    let ours = timed(transcode(binary, &uri, &dir.join("ladder"), &ladder_spec))?;
    let theirs = timed(ffmpeg_ladder(&source, &dir.join("ladder-ffmpeg"))?)?;
    row("ladder 720/480/360: tributary", ours, Some(theirs));
    row("ladder 720/480/360: ffmpeg, one process", theirs, None);
    println!(
        "\n(realtime factor of the ladder: {:.2}x tributary, {:.2}x ffmpeg)",
        f64::from(seconds) / ours.wall,
        f64::from(seconds) / theirs.wall
    );

    let server_dir = dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let server = Server::start_with(binary, &server_dir, &["--workers".into(), "1".into()]).await?;
    tus_upload(&server, &source, None).await?;
    let uploaded = Instant::now();
    let list = api(
        &server,
        reqwest::Method::GET,
        "/api/v1/videos?limit=1",
        None,
    )
    .await?;
    let id = list["videos"][0]["id"]
        .as_str()
        .context("video id")?
        .to_owned();
    let mut playable = None;
    let deadline = uploaded + Duration::from_secs(u64::from(seconds) * 20 + 120);
    let ready = loop {
        let video = api(
            &server,
            reqwest::Method::GET,
            &format!("/api/v1/videos/{id}"),
            None,
        )
        .await?;
        match video["status"].as_str() {
            Some("partially_ready") => {
                playable.get_or_insert_with(|| uploaded.elapsed());
            }
            Some("ready") => {
                playable.get_or_insert_with(|| uploaded.elapsed());
                break uploaded.elapsed();
            }
            Some("failed") => bail!("the upload failed: {video}"),
            _ => {}
        }
        ensure!(
            Instant::now() < deadline,
            "the upload never became ready: {video}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let playable = playable.unwrap_or(ready);
    println!(
        "\nend to end (tributary serve, one worker): playable {:.2} s and ready {:.1} s after the last byte",
        playable.as_secs_f64(),
        ready.as_secs_f64()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Timed {
    wall: f64,
    cpu: f64,
}

fn row(label: &str, timed: Timed, baseline: Option<Timed>) {
    let ratio = baseline.map_or(String::new(), |b| format!("{:.2}", timed.wall / b.wall));
    println!(
        "{label:<44} {:>9.2} {:>9.1} {ratio:>12}",
        timed.wall, timed.cpu
    );
}

/// Runs `command` to its end: wall seconds, and the CPU seconds it and its
/// children used.
fn timed(mut command: Command) -> anyhow::Result<Timed> {
    let before = children_cpu();
    let started = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running a transcode")?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Timed {
        wall,
        cpu: children_cpu() - before,
    })
}

/// CPU seconds of every child waited for so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn make_source(path: &Path, seconds: u32) -> anyhow::Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &seconds.to_string(),
            "-ac",
            "2",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-b:v", "5000k"])
        .args([
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
        ])
        .arg(path)
        .status()
        .context("ffmpeg")?;
    ensure!(status.success(), "making the source failed");
    Ok(())
}

fn transcode(binary: &Path, uri: &str, out: &Path, spec: &serde_json::Value) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["transcode-source", "--source", uri, "--out"])
        .arg(out)
        .args(["--spec", &spec.to_string()]);
    command
}

fn ffmpeg_copy(source: &Path, out: &Path) -> anyhow::Result<Command> {
    std::fs::create_dir_all(out)?;
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(source)
        .args(["-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4"])
        .args(["-hls_time", "4", "-hls_playlist_type", "vod"])
        .arg(out.join("index.m3u8"));
    Ok(command)
}

fn ffmpeg_ladder(source: &Path, out: &Path) -> anyhow::Result<Command> {
    std::fs::create_dir_all(out)?;
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(source);
    let scales: Vec<String> = RUNGS
        .iter()
        .enumerate()
        .map(|(i, (_, width, height, _))| format!("[s{i}]scale={width}:{height}[v{i}]"))
        .collect();
    let splits: String = (0..RUNGS.len()).map(|i| format!("[s{i}]")).collect();
    command.args([
        "-filter_complex",
        &format!("[0:v]split={}{splits};{}", RUNGS.len(), scales.join(";")),
    ]);
    for (i, (name, _, _, kbps)) in RUNGS.iter().enumerate() {
        let rate = format!("{kbps}k");
        let vbv = format!("{}k", kbps * 2);
        command
            .args([
                "-map",
                &format!("[v{i}]"),
                "-c:v",
                "libx264",
                "-preset",
                PRESET,
            ])
            .args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &vbv])
            .args([
                "-bf",
                "0",
                "-sc_threshold",
                "0",
                "-force_key_frames",
                "source",
            ])
            .args(["-an", "-f", "mp4", "-movflags", "+frag_keyframe+empty_moov"])
            .arg(out.join(format!("{name}.mp4")));
    }
    Ok(command)
}
