//! hls.js in headless Chromium on the watch page.

mod support;

use std::time::{Duration, Instant};

use support::*;

const START: Duration = Duration::from_secs(30);

/// One browser test at a time: three publishers, a ladder and three Chromiums
/// at once overload two cores, and an overloaded ladder sheds rungs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The page is open before the broadcast starts: it starts playing by itself.
#[tokio::test]
async fn hls_js_plays_the_watch_page() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("browser").await;
    let publish = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        ffmpeg_publish(&rtmp_url(&server, &key), "flv", "640x360")
    };
    let (report, _ffmpeg) = tokio::join!(
        watch_page(server.url(&format!("/watch/{id}")), 6, &[]),
        publish
    );
    let (first, last) = (
        report["first"]["currentTime"].as_f64().unwrap(),
        report["last"]["currentTime"].as_f64().unwrap(),
    );
    assert!(last - first > 4.0, "playback did not advance: {report}");
    assert_eq!(report["last"]["badge"], "LIVE", "{report}");
    let latencies = report["latencies"].as_array().unwrap();
    assert!(!latencies.is_empty(), "{report}");
    let latency = latencies.last().unwrap().as_f64().unwrap();
    assert!(
        latency < 5.0,
        "hls.js is {latency} s behind the live edge: {report}"
    );
}

/// A publisher that drops and reconnects: hls.js crosses the discontinuity
/// and keeps playing, without the page restarting the player.
#[tokio::test]
async fn playback_survives_a_publisher_reconnect() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("reconnect-browser").await;
    let mut first = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "640x360");
    server.wait_master(&id, START).await;
    let reconnect = async {
        tokio::time::sleep(Duration::from_secs(6)).await;
        first.kill();
        tokio::time::sleep(Duration::from_secs(1)).await;
        ffmpeg_publish(&rtmp_url(&server, &key), "flv", "640x360")
    };
    let (report, _second) = tokio::join!(
        watch_page(
            server.url(&format!("/watch/{id}")),
            16,
            &[("WATCH_SAMPLES", "1")]
        ),
        reconnect
    );
    let samples = report["samples"].as_array().unwrap();
    let time = |i: usize| samples[i]["currentTime"].as_f64().unwrap();
    let n = samples.len();
    assert!(n >= 20, "{report}");
    assert!(
        time(n - 1) - time(n - 7) > 2.0,
        "not playing at the end: {report}"
    );
    assert!(
        time(n - 1) - time(0) > 10.0,
        "playback lost more than 6 s of 16: {report}"
    );
    assert_eq!(
        report["last"]["starts"], 1,
        "the page had to restart the player: {report}"
    );
    assert_eq!(report["last"]["badge"], "LIVE", "{report}");
}

/// A 720p publish with rungs: hls.js switches to the 360p level when told
/// to, and playback continues on it.
#[tokio::test]
async fn hls_js_switches_to_a_lower_rung() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("switch").await;
    let _ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "1280x720");
    let deadline = Instant::now() + START;
    while variants(&id, &server.wait_master(&id, START).await).len() < 3 {
        assert!(Instant::now() < deadline, "no rungs:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let env = [("WATCH_SAMPLES", "1"), ("WATCH_LEVEL_HEIGHT", "360")];
    let report = watch_page(server.url(&format!("/watch/{id}")), 8, &env).await;
    assert_eq!(report["last"]["levels"], 3, "{report}\n{}", server.log());
    assert_eq!(
        report["last"]["levelHeight"],
        360,
        "{report}\n{}",
        server.log()
    );
    let samples = report["samples"].as_array().unwrap();
    let time = |i: usize| samples[i]["currentTime"].as_f64().unwrap();
    let n = samples.len();
    assert!(
        time(n - 1) - time(n - 5) > 1.5,
        "not playing on the 360p rung: {report}\n{}",
        server.log()
    );
    assert!(time(n - 1) - time(0) > 5.0, "{report}");
}
