//! End to end: a ladder too heavy for the machine sheds its most expensive
//! rungs while the source rendition stays on time. Its own test binary, so
//! no other test competes for the CPU while it runs.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

#[tokio::test]
async fn overload_sheds_the_largest_rungs_and_the_source_keeps_pace() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("overload").await;
    // Six near-720p rungs from a 720p source: far more than two cores encode live.
    let rungs: Vec<_> = [704, 688, 672, 656, 640, 624]
        .iter()
        .map(|h| json!({ "name": format!("r{h}"), "height": h, "bitrate_kbps": 4000 }))
        .collect();
    let (status, body) = server
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/streams/{id}"),
            Some(json!({ "ladder": { "transcode": true, "rungs": rungs } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Encode the source beforehand, so publishing it costs no CPU: 10 s of
    // a noisy pattern (costly for x264, like real camera grain), looped.
    let dir = TempDir::new("overload");
    let source = dir.0.join("source.flv");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args([
            "-i",
            "testsrc2=size=1280x720:rate=30,noise=alls=40:allf=t+u",
            "-t",
            "10",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args([
            "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv",
        ])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    let mut publish = Command::new("ffmpeg");
    publish
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(&source)
        .args(["-c", "copy", "-f", "flv", &rtmp_url(&server, &key)])
        .stdin(Stdio::null());
    let _publisher = Proc::spawn("ffmpeg", &mut publish);

    let master = server.wait_master(&id, Duration::from_secs(20)).await;
    let (video, _) = media_paths(&id, &master);
    let deadline = Instant::now() + Duration::from_secs(30);
    let shed = loop {
        let status = server.stream(&id).await;
        let shed: Vec<String> = status["transcoding"]["rungs"]
            .as_array()
            .map(|rungs| {
                rungs
                    .iter()
                    .filter(|r| r["state"]["state"] == "shed")
                    .map(|r| r["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if shed.len() >= 2 {
            break shed;
        }
        assert!(
            Instant::now() < deadline,
            "nothing was shed: {status}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The most expensive (largest) rungs go first.
    assert_eq!(&shed[..2], ["r704", "r688"], "shed order");
    assert!(server.log().contains("shedding rung"), "not logged");

    // Meanwhile the source rendition keeps pace with real time.
    let count = |playlist: &str| {
        segment_uris(playlist)
            .last()
            .map(|uri| uri.trim_end_matches(".m4s").parse::<u64>().unwrap())
            .unwrap_or(0)
    };
    let before = count(&server.get_text(&video).await.1);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = count(&server.get_text(&video).await.1);
    assert!(
        after - before >= 6,
        "the source fell behind: {before} -> {after} segments in 8 s"
    );
}
