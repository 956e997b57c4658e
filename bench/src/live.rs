//! `live`: (a) the time from a frame leaving the publisher's socket until the
//! part holding it can be fetched, with broadcasts archived (not at all, to
//! `fs`, to `s3`); (b) hls.js's latency on the watch page in headless
//! Chromium while ffmpeg publishes in real time; (c) how soon a broadcast's
//! replay plays once its reconnect window is over.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::archive::{self, RecordingSeen};
use crate::flv_file::{Tag, read_tags};
use crate::part_latency::{self, PartLatency};
use crate::replay;
use crate::server::{Server, ffmpeg_source};
use crate::stats::summarize;

/// How much p99 archiving may add to the frame-to-part latency.
const ARCHIVE_P99_BUDGET_MS: f64 = 5.0;

pub async fn run(binary: &Path, dir: &Path, seconds: u32) -> anyhow::Result<()> {
    println!(
        "## live: {seconds} s, 1280x720 30 fps, x264 veryfast zerolatency 2.5 Mbit/s, 1 s keyframes, AAC"
    );
    let tags = source_tags(dir, seconds)?;
    let mut archived = Vec::new();
    for mode in archive::modes() {
        let server = Server::start_with(binary, &dir.join(mode.label), &mode.flags).await?;
        let (latency, recording) = part_latency_recorded(&server, &tags, mode.label).await?;
        for line in server.log_warnings("recording")? {
            println!("    server log: {line}");
        }
        archived.push((mode.label, latency, recording));
    }
    report_archiving(&archived);

    let server = Server::start(binary, dir).await?;
    let source = hls_js_latency(&server, seconds, None).await?;
    let rung = hls_js_latency(&server, seconds, Some(("854x480", 480))).await?;
    println!();
    println!(
        "latency the 480p rung adds over the source in hls.js: {:+.3} s (target <= 0.300 s)",
        rung - source
    );
    // (c) starts servers of its own.
    drop(server);
    replay::run(binary, dir, &tags).await
}

/// The FLV every server gets, made once so that they all get the same
/// frames: long enough for (a) and for (c).
fn source_tags(dir: &Path, seconds: u32) -> anyhow::Result<Vec<Tag>> {
    let flv = dir.join("source.flv");
    let length = (seconds + 2).max(replay::PUBLISH_MS.div_ceil(1000));
    let status = ffmpeg_source(
        "1280x720",
        &["-f", "flv", flv.to_str().context("path")?],
        false,
        Some(length),
    )
    .status()?;
    anyhow::ensure!(status.success(), "ffmpeg could not make the source file");
    read_tags(std::fs::read(&flv)?.into())
}

/// (a) on `server`, with its recording's counters sampled meanwhile.
async fn part_latency_recorded(
    server: &Server,
    tags: &[Tag],
    archive: &str,
) -> anyhow::Result<(PartLatency, Option<RecordingSeen>)> {
    let (id, key) = server.create_stream("bench-part-latency").await?;
    let done = AtomicBool::new(false);
    let label = format!("archive {archive}");
    let measured = async {
        let measured = part_latency::measure(server, tags, (&id, key), &label).await;
        done.store(true, Ordering::Release);
        measured
    };
    let (latency, recording) = tokio::join!(measured, archive::watch_recording(server, &id, &done));
    Ok((latency?, recording?))
}

/// (a) side by side: what archiving adds, and how the recording kept up.
fn report_archiving(archived: &[(&str, PartLatency, Option<RecordingSeen>)]) {
    let Some((_, off, _)) = archived.first() else {
        return;
    };
    println!();
    println!(
        "(a) frame sent -> part fetchable, by archive (the same FLV, a fresh server each), ms"
    );
    println!(
        "    {:<8} {:<9} {:>7} {:>7} {:>7} {:>11}   segments recorded / dropped / failed, longest queue",
        "archive", "rendition", "p50", "p99", "max", "p99 vs off"
    );
    for (label, latency, recording) in archived {
        let rows = [
            ("source", &latency.source, &off.source),
            ("480p", &latency.rung, &off.rung),
        ];
        for (rendition, summary, baseline) in rows {
            // The counters cover every rendition: shown once.
            let recorded = match (rendition, recording) {
                ("source", Some(r)) => format!(
                    "{} / {} / {}, {}",
                    r.written, r.dropped, r.failed, r.max_queued
                ),
                _ => String::new(),
            };
            println!(
                "    {label:<8} {rendition:<9} {:>7.1} {:>7.1} {:>7.1} {:>+11.1}   {recorded}",
                summary.p50,
                summary.p99,
                summary.max,
                summary.p99 - baseline.p99
            );
        }
    }
    println!("    target: archiving adds at most {ARCHIVE_P99_BUDGET_MS:.0} ms at p99");
}

/// The median hls.js latency on the watch page, pinned to the level of
/// `pinned` (resolution, height) when given.
async fn hls_js_latency(
    server: &Server,
    seconds: u32,
    pinned: Option<(&str, u32)>,
) -> anyhow::Result<f64> {
    let (id, key) = server.create_stream("bench-hls-js").await?;
    let url = format!("rtmp://{}/live/{key}", server.rtmp);
    let mut ffmpeg = ffmpeg_source("1280x720", &["-f", "flv", &url], true, None)
        .stdout(Stdio::null())
        .spawn()?;
    let (resolution, playing) = match pinned {
        Some((resolution, height)) => (resolution, format!("pinned to the {height}p rung")),
        None => ("1280x720", "source rendition (no pin)".to_owned()),
    };
    server.variant_playlist(&id, resolution).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/browser/watch.mjs");
    let output = Command::new("node")
        .arg(script)
        .args([&server.url(&format!("/watch/{id}")), &seconds.to_string()])
        .env(
            "WATCH_LEVEL_HEIGHT",
            pinned
                .map(|(_, height)| height.to_string())
                .unwrap_or_default(),
        )
        .output();
    let _ = ffmpeg.kill();
    let _ = ffmpeg.wait();
    let output = output.context("running node")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "browser run failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    let latencies: Vec<f64> = report["latencies"]
        .as_array()
        .context("no latencies")?
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    let summary = summarize(latencies).context("hls.js reported no latency")?;
    println!();
    println!(
        "(b) hls.js latency on the watch page, {playing} (lowLatencyMode, maxLiveSyncPlaybackRate 1.5), {} samples over {seconds} s",
        summary.count
    );
    println!(
        "    median {:.3} s   p99 {:.3} s   max {:.3} s",
        summary.p50, summary.p99, summary.max
    );
    println!(
        "    stalls {} (at {} s of playback), hls.js target latency at the end {} s (PART-HOLD-BACK, plus 1 s per stall)",
        report["last"]["stalls"], report["stallTimes"], report["last"]["targetLatency"]
    );
    println!(
        "    target: median <= 1.0 s; median / target = {:.2}",
        summary.p50 / 1.0
    );
    Ok(summary.p50)
}
