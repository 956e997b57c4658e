//! How soon a broadcast's replay plays once its reconnect window is over:
//! publish a few seconds, close the RTMP connection, then poll the
//! broadcasts API until it names the replay and the replay's master
//! playlist until it answers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};

use crate::archive::{self, Archive};
use crate::flv_file::Tag;
use crate::rtmp_publisher::publish;
use crate::server::Server;

/// The reconnect window of the server under test: short, as the bench
/// only waits it out.
const WINDOW: Duration = Duration::from_secs(2);
/// What each broadcast publishes.
pub const PUBLISH_MS: u32 = 6000;
const REPETITIONS: usize = 3;
const POLL_EVERY: Duration = Duration::from_millis(20);
/// How long past the window a replay may take before the bench gives up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Milliseconds past the reconnect window, for one broadcast.
struct Timing {
    /// Until the broadcasts API named the replay.
    listed: f64,
    /// Until the replay's master playlist answered 200.
    playable: f64,
}

/// Runs the measurement on each store with the first [`PUBLISH_MS`] of
/// `tags`, and prints it.
pub async fn run(binary: &Path, dir: &Path, tags: &[Tag]) -> anyhow::Result<()> {
    let tags: Vec<Tag> = tags
        .iter()
        .filter(|t| t.timestamp_ms < PUBLISH_MS)
        .cloned()
        .collect();
    println!();
    let stores = archive::stores();
    println!(
        "(c) replay: {} s published, RTMP connection closed -> replay playable, minus the {} s reconnect window, {REPETITIONS} broadcasts per store",
        PUBLISH_MS / 1000,
        WINDOW.as_secs()
    );
    println!(
        "    {:<6} {:>28} {:>36}",
        "store", "listed (each), ms", "playable min / median / max, ms"
    );
    for store in stores {
        let timings = on_store(binary, dir, &store, &tags).await?;
        let listed: Vec<String> = timings.iter().map(|t| format!("{:.0}", t.listed)).collect();
        let mut playable: Vec<f64> = timings.iter().map(|t| t.playable).collect();
        playable.sort_by(f64::total_cmp);
        println!(
            "    {:<6} {:>28} {:>36}",
            store.label,
            listed.join(" "),
            format!(
                "{:.0} / {:.0} / {:.0}",
                playable[0],
                playable[playable.len() / 2],
                playable[playable.len() - 1]
            )
        );
    }
    println!("    target: playable < 2000 ms after the window");
    Ok(())
}

async fn on_store(
    binary: &Path,
    dir: &Path,
    store: &Archive,
    tags: &[Tag],
) -> anyhow::Result<Vec<Timing>> {
    let mut flags = store.flags.clone();
    flags.extend([
        "--reconnect-window-secs".into(),
        WINDOW.as_secs().to_string(),
    ]);
    let server =
        Server::start_with(binary, &dir.join(format!("replay-{}", store.label)), &flags).await?;
    let mut timings = Vec::with_capacity(REPETITIONS);
    for _ in 0..REPETITIONS {
        timings.push(one_broadcast(&server, tags).await?);
    }
    for line in server.log_warnings("recording")? {
        println!("    {} server log: {line}", store.label);
    }
    Ok(timings)
}

async fn one_broadcast(server: &Server, tags: &[Tag]) -> anyhow::Result<Timing> {
    let (stream_id, key) = server.create_stream("bench-replay").await?;
    // It returns once the last tag is sent, having closed the connection.
    publish(server.rtmp, &key, tags).await?;
    let closed = Instant::now();
    let past_window =
        |at: Instant| (at - closed).as_secs_f64() * 1000.0 - WINDOW.as_secs_f64() * 1000.0;
    let broadcasts = format!("/api/v1/streams/{stream_id}/broadcasts");
    let video_id = loop {
        let page = server.api_get(&broadcasts).await?;
        if let Some(id) = page["broadcasts"][0]["replay_video_id"].as_str() {
            break id.to_owned();
        }
        give_up_if_late(server, closed, &page["broadcasts"][0])?;
        tokio::time::sleep(POLL_EVERY).await;
    };
    let listed = past_window(Instant::now());
    let master = format!("/vod/{video_id}/master.m3u8");
    loop {
        let (status, _) = server.get(&master).await?;
        if status == 200 {
            break;
        }
        give_up_if_late(server, closed, &status.into())?;
        tokio::time::sleep(POLL_EVERY).await;
    }
    let playable = past_window(Instant::now());
    let video = server
        .api_get(&format!("/api/v1/videos/{video_id}"))
        .await?;
    // Playable at once; `ready` once its thumbnails are made.
    ensure!(
        video["status"] == "partially_ready" || video["status"] == "ready",
        "replay not playable: {video}"
    );
    ensure!(
        video["hls_url"].is_string(),
        "replay without hls_url: {video}"
    );
    Ok(Timing { listed, playable })
}

fn give_up_if_late(
    server: &Server,
    closed: Instant,
    last_seen: &serde_json::Value,
) -> anyhow::Result<()> {
    if closed.elapsed() > WINDOW + GIVE_UP_AFTER {
        bail!(
            "no playable replay {:?} after the publisher left (last seen: {last_seen}); see {}",
            WINDOW + GIVE_UP_AFTER,
            server.log_path().display()
        );
    }
    Ok(())
}
