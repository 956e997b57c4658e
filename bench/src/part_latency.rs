//! The time from a frame leaving the publisher's socket until the part
//! holding it can be fetched, through blocking playlist reloads as a player
//! makes them.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::flv_file::Tag;
use crate::fmp4_samples::sample_decode_times;
use crate::rtmp_publisher::{SendTimes, publish};
use crate::server::Server;
use crate::stats::{Summary, summarize};

/// The default part target of the server under test.
const PART_TARGET_MS: f64 = 200.0;
/// The packager starts a broadcast's timeline at one second.
const TIMELINE_START_MS: i64 = 1000;

/// One part as a player saw it: when the blocking reload announced it, and
/// the FLV timestamps (ms) of its frames.
struct SeenPart {
    announced: Instant,
    frames_ms: Vec<i64>,
}

/// The frame-to-part latency of the source and of the 480p rung.
pub struct PartLatency {
    pub source: Summary,
    pub rung: Summary,
}

/// Publishes `tags` in real time to stream (`id`, `key`) and follows the
/// source and the 480p rung as a player does; prints and returns what each
/// frame waited. `label` names the server's setup.
pub async fn measure(
    server: &Server,
    tags: &[Tag],
    (id, key): (&str, String),
    label: &str,
) -> anyhow::Result<PartLatency> {
    let rtmp = server.rtmp;
    let tags = tags.to_vec();
    let publisher = tokio::spawn(async move { publish(rtmp, &key, &tags).await });

    // The source, and a rung the default ladder makes from a 720p source.
    let source = server.variant_playlist(id, "1280x720").await?;
    let rung = server.variant_playlist(id, "854x480").await?;
    let (source_seen, rung_seen) = tokio::join!(
        follow_parts(server, &source, &publisher),
        follow_parts(server, &rung, &publisher)
    );
    let sent = publisher.await??;
    Ok(PartLatency {
        source: report(&format!("source rendition, {label}"), &source_seen?, &sent)?,
        rung: report(
            &format!("480p transcoded rung, {label}"),
            &rung_seen?,
            &sent,
        )?,
    })
}

/// Follows a media playlist with blocking reloads, as a player does, until
/// the publisher is done; returns every part seen.
async fn follow_parts(
    server: &Server,
    playlist_path: &str,
    publisher: &tokio::task::JoinHandle<anyhow::Result<SendTimes>>,
) -> anyhow::Result<Vec<SeenPart>> {
    let folder = &playlist_path[..playlist_path.rfind('/').context("path")? + 1];
    let (_, body) = server.get(playlist_path).await?;
    let mut next = preload_hint(&String::from_utf8_lossy(&body)).context("no preload hint")?;
    let mut seen = Vec::new();
    while !publisher.is_finished() {
        let (msn, part) = next;
        let (status, body) = server
            .get(&format!("{playlist_path}?_HLS_msn={msn}&_HLS_part={part}"))
            .await?;
        let announced = Instant::now();
        if status != 200 {
            continue;
        }
        let playlist = String::from_utf8_lossy(&body);
        next = preload_hint(&playlist).context("no preload hint")?;
        let (status, fragment) = server.get(&format!("{folder}{msn}.{part}.m4s")).await?;
        if status != 200 {
            continue; // that part index did not exist: the segment ended before it
        }
        let frames_ms = sample_decode_times(&fragment)?
            .into_iter()
            .map(|dts| dts as i64 / 90)
            .collect();
        seen.push(SeenPart {
            announced,
            frames_ms,
        });
    }
    Ok(seen)
}

/// (msn, part) of the EXT-X-PRELOAD-HINT.
fn preload_hint(playlist: &str) -> Option<(u64, u32)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let (msn, part) = uri.trim_end_matches(".m4s").split_once('.')?;
    Some((msn.parse().ok()?, part.parse().ok()?))
}

fn report(label: &str, seen: &[SeenPart], sent: &SendTimes) -> anyhow::Result<Summary> {
    let first_ms = sent.first().context("nothing was sent")?.0 as i64;
    let sent_at: BTreeMap<i64, Instant> = sent.iter().map(|&(ms, at)| (ms as i64, at)).collect();
    // Skip the first two seconds: the player joins mid-stream.
    let warm = TIMELINE_START_MS + 2000;
    let (mut frame_latency, mut after_close, mut unmatched) = (Vec::new(), Vec::new(), 0usize);
    for part in seen
        .iter()
        .filter(|p| p.frames_ms.first().is_some_and(|&ms| ms >= warm))
    {
        for &out_ms in &part.frames_ms {
            match sent_at.get(&(out_ms - TIMELINE_START_MS + first_ms)) {
                Some(at) => frame_latency
                    .push(part.announced.saturating_duration_since(*at).as_secs_f64() * 1000.0),
                None => unmatched += 1,
            }
        }
        // The part can only close when the frame after it arrives.
        let last = part
            .frames_ms
            .last()
            .map_or(0, |&ms| ms - TIMELINE_START_MS + first_ms);
        if let Some((_, closing)) = sent_at.range(last + 1..).next() {
            after_close.push(
                part.announced
                    .saturating_duration_since(*closing)
                    .as_secs_f64()
                    * 1000.0,
            );
        }
    }
    if unmatched * 20 > frame_latency.len() {
        bail!("{unmatched} frames did not match a sent frame (timeline offset changed?)");
    }
    let frames = summarize(frame_latency).context("no parts seen")?;
    let close = summarize(after_close).context("no parts seen")?;
    let target = PART_TARGET_MS + 50.0;
    println!();
    println!(
        "(a) {label}: frame sent -> part holding it announced by a blocking reload, over {} frames",
        frames.count
    );
    println!(
        "    p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        frames.p50, frames.p99, frames.max
    );
    println!(
        "    target: p99 <= part target + 50 ms = {target:.0} ms; p99 / target = {:.2}",
        frames.p99 / target
    );
    println!(
        "    server's own delay (frame that closes a part -> part announced): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        close.p50, close.p99, close.max
    );
    Ok(frames)
}
