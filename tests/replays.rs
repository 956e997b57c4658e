//! Replays end to end: a broadcast published with ffmpeg is recorded to
//! object storage while it goes on and becomes a VOD asset as soon as its
//! reconnect window is over, with every rendition it had live, reconnects
//! as discontinuities; a server killed mid-broadcast replays what it had
//! recorded when it comes back. On `fs` with SQLite and `s3` with PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::stalling_proxy::StallingProxy;
use support::{
    Server, media_paths, node_script, postgres_url, publish_for, s3_flags, segment_uris,
};

/// What the tests publish: a 360p rung below it.
const SIZE: &str = "854x480";
const RECONNECT_WINDOW_SECS: u64 = 2;
const LONG: Duration = Duration::from_secs(60);

async fn server(extra: &[String]) -> Server {
    let window = RECONNECT_WINDOW_SECS.to_string();
    let mut flags = vec!["--reconnect-window-secs", &window];
    flags.extend(extra.iter().map(String::as_str));
    Server::start(&flags).await
}

fn postgres_and_s3(db: String) -> Vec<String> {
    let mut flags = s3_flags();
    flags.extend(["--database-url".into(), db]);
    flags
}

/// Polls the live master playlist until it lists `count` variants.
async fn wait_variants(server: &Server, stream_id: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, master) = server
            .get_text(&format!("/live/{stream_id}/index.m3u8"))
            .await;
        if live_variants(&master) >= count {
            return master;
        }
        assert!(Instant::now() < deadline, "the source and a rung: {master}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The variants of the live master playlist (their media playlist paths).
fn live_variants(master: &str) -> usize {
    master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .count()
}

async fn play(server: &Server, id: &str, cross_at: Option<f64>) -> Value {
    let mut args = vec![server.url(&format!("/watch/v/{id}")), "hls".into()];
    args.extend(cross_at.map(|at| at.to_string()));
    node_script("tests/browser/vod.mjs", args, &[]).await
}

/// Fatal hls.js errors the player reported (a fragment load aborted by a
/// seek is not one).
fn fatal_errors(state: &Value) -> usize {
    state["errors"].as_array().map_or(0, |errors| {
        errors.iter().filter(|e| e["fatal"] == true).count()
    })
}

fn media_playlist_of<'a>(master: &'a str, name: &str) -> Option<&'a str> {
    master
        .lines()
        .find(|l| l.starts_with(&format!("{name}/")) || l.contains(&format!("URI=\"{name}/")))
}

/// The media playlist of rendition `name` of asset `id`, if `master` lists it.
async fn listed_playlist(server: &Server, id: &str, master: &str, name: &str) -> Option<String> {
    let uri = media_playlist_of(master, name)?;
    let (status, playlist) = server.get_text(&format!("/vod/{id}/{uri}")).await;
    assert_eq!(status, 200, "{uri}");
    Some(playlist)
}

/// 20 s published, then the publisher leaves: the replay is there within
/// the reconnect window plus 2 s, lists the source, the audio and every
/// live rung, lasts what was published, and plays in hls.js.
async fn a_broadcast_replays_at_once(extra: &[String]) {
    let server = server(extra).await;
    let (stream_id, key) = server.create_stream("the match").await;
    let mut publisher = publish_for(&server, &key, SIZE, 20);
    server.wait_master(&stream_id, LONG).await;
    // Rungs join after their first encoded segment.
    let master = wait_variants(&server, &stream_id, 2).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let live_renditions = live_variants(&master);
    let status = server.stream(&stream_id).await;
    assert!(
        status["recording"]["written_segments"].as_u64() > Some(0),
        "{status}"
    );
    // A clip of the broadcast while it goes on, from its recording.
    let live_clip = clip(&server, json!({"stream": stream_id, "start": 1, "end": 4})).await;
    assert_eq!(live_clip["status"], "partially_ready", "{live_clip}");
    let live_clip_duration = live_clip["duration"].as_f64().unwrap();
    assert!((live_clip_duration - 3.0).abs() <= 1.0, "{live_clip}");
    assert!(publisher.wait_exit(LONG).is_some(), "ffmpeg ran past -t 20");
    let left = Instant::now();
    let (broadcast, id) = server.wait_replay(&stream_id, LONG).await;
    let after = left.elapsed();
    assert!(
        after <= Duration::from_secs(RECONNECT_WINDOW_SECS + 2),
        "replay after {after:?}"
    );
    let video = server.video(&id).await;
    assert!(
        ["partially_ready", "ready"].contains(&video["status"].as_str().unwrap()),
        "playable at once: {video}"
    );
    assert_eq!(video["origin"], "live");
    assert_eq!(video["broadcast_id"], broadcast["id"]);
    assert!(video["title"].as_str().unwrap().starts_with("the match ("));
    let duration = video["duration"].as_f64().unwrap();
    assert!(
        (duration - 20.0).abs() <= 1.0,
        "{duration} s replayed of 20"
    );
    let names = rendition_names(&video);
    assert!(
        names.iter().any(|n| n == "source") && names.iter().any(|n| n == "audio"),
        "{video}"
    );
    // Every live rung that covered the whole broadcast is in the replay: on
    // a starved machine a rung may start late or be shed, and is left out.
    let rung_uri = master
        .lines()
        .find(|l| l.ends_with("/360p/index.m3u8"))
        .unwrap();
    let (_, rung) = server
        .get_text(&format!("/live/{stream_id}/{rung_uri}"))
        .await;
    let whole = rung.contains("#EXT-X-MEDIA-SEQUENCE:0\n") && !rung.contains("GAP");
    assert_eq!(
        names.len(),
        if whole {
            live_renditions + 1
        } else {
            live_renditions
        },
        "the live variants that covered the broadcast and the audio: {video}\n{master}\n{rung}"
    );
    if !whole {
        eprintln!("the live 360p rung did not cover the whole broadcast:\n{rung}");
    }
    let (status, vod_master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    assert_eq!(status, 200);
    let source = listed_playlist(&server, &id, &vod_master, "source")
        .await
        .unwrap();
    assert!(source.contains("#EXT-X-ENDLIST"), "{source}");
    assert!(!source.contains("#EXT-X-DISCONTINUITY"), "{source}");
    for uri in segment_uris(&source).iter().take(2) {
        let (status, _) = server.get_text(&format!("/vod/{id}/source/{uri}")).await;
        assert_eq!(status, 200, "{uri}");
    }
    // A segment of the live rung, as a player that loaded the replay now
    // would fetch it later.
    let live_rung_segment = listed_playlist(&server, &id, &vod_master, "live-360p")
        .await
        .map(|rung| format!("/vod/{id}/live-360p/{}", segment_uris(&rung)[0]));
    // Then its poster and storyboard, made from the recording, and its
    // ladder, made from the recorded source: it replaces the live rung.
    let video = server.wait_video(&id, &["ready"], LONG).await;
    let names = rendition_names(&video);
    assert!(
        names.iter().any(|n| n == "360p") && !names.iter().any(|n| n.starts_with("live-")),
        "{video}"
    );
    let (_, vod_master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    assert!(!vod_master.contains("live-"), "{vod_master}");
    let ladder_rung = listed_playlist(&server, &id, &vod_master, "360p")
        .await
        .unwrap();
    assert_eq!(
        segment_uris(&ladder_rung).len(),
        segment_uris(&source).len(),
        "one segment of the 360p rung per segment of the source:\n{ladder_rung}\n{source}"
    );
    // DASH lists every rendition only when their segments line up.
    let (status, mpd) = server.get_text(&format!("/vod/{id}/manifest.mpd")).await;
    assert_eq!(status, 200, "{mpd}");
    assert!(mpd.contains("id=\"360p\""), "{mpd}");
    if let Some(path) = live_rung_segment {
        let (status, _) = server.get_text(&path).await;
        assert_eq!(status, 200, "{path} stays while players may fetch it");
    }
    let poster = video["thumbnail_url"].as_str().expect("a poster");
    assert!(video["storyboard_url"].is_string(), "{video}");
    let jpeg = server
        .client
        .get(poster)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(jpeg.get(..2), Some(&[0xff, 0xd8][..]), "a JPEG");
    let report = play(&server, &id, None).await;
    assert_eq!(report["ended"]["ended"], true, "{report}");
    assert_eq!(fatal_errors(&report["ended"]), 0, "{report}");
    assert!(
        (report["started"]["duration"].as_f64().unwrap() - 20.0).abs() <= 1.0,
        "{report}"
    );

    // The middle 10 s, cut at keyframes (1 s apart), outlive the replay.
    let middle = clip(&server, json!({"video": id, "start": 5, "end": 15})).await;
    let clip_id = middle["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (middle["status"].as_str(), middle["origin"].as_str()),
        (Some("partially_ready"), Some("clip"))
    );
    let duration = middle["duration"].as_f64().unwrap();
    assert!((duration - 10.0).abs() <= 1.0, "{middle}");
    assert_eq!(
        rendition_names(&middle),
        rendition_names(&video),
        "{middle}"
    );
    // The clip made while live, of the live rung, gets the ladder too.
    let live_clip = server
        .wait_video(live_clip["id"].as_str().unwrap(), &["ready"], LONG)
        .await;
    let names = rendition_names(&live_clip);
    assert!(
        names.iter().any(|n| n == "360p") && !names.iter().any(|n| n.starts_with("live-")),
        "{live_clip}"
    );
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let report = play(&server, &clip_id, None).await;
    assert_eq!(report["ended"]["ended"], true, "{report}");
    assert!(
        (report["started"]["duration"].as_f64().unwrap() - duration).abs() < 0.5,
        "{report}"
    );

    for (bad, want) in [
        (
            json!({"video": clip_id, "stream": stream_id, "start": 0, "end": 2}),
            422,
        ),
        (json!({"video": clip_id, "start": 3, "end": 2}), 422),
        (json!({"video": clip_id, "start": 60, "end": 70}), 422),
        (json!({"video": id, "start": 0, "end": 2}), 404),
        (json!({"video": clip_id, "start": "x", "end": 2}), 422),
    ] {
        let (status, body) = server
            .api(
                Method::POST,
                "/api/v1/videos",
                Some(json!({"title": "bad", "clip_of": bad})),
            )
            .await;
        assert_eq!(status, want, "{bad}: {body}");
    }
}

fn rendition_names(video: &Value) -> Vec<String> {
    video["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Makes a clip; returns the new asset.
async fn clip(server: &Server, clip_of: Value) -> Value {
    let (status, video) = server
        .api(
            Method::POST,
            "/api/v1/videos",
            Some(json!({"title": "a clip", "clip_of": clip_of})),
        )
        .await;
    assert_eq!(status, 201, "{video}\n{}", server.log());
    video
}

/// One after the other: two live ladders at once on two cores shed rungs.
#[tokio::test]
async fn a_broadcast_replays_at_once_on_fs_and_sqlite_then_s3_and_postgres() {
    a_broadcast_replays_at_once(&[]).await;
    a_broadcast_replays_at_once(&postgres_and_s3(postgres_url().await)).await;
}

/// A publisher that drops out and comes back inside the reconnect window
/// makes one broadcast; its replay has both publishes, a discontinuity
/// between them, and plays across it.
#[tokio::test]
async fn a_reconnect_replays_across_its_discontinuity() {
    let server = server(&["--transcode".into(), "false".into()]).await;
    let (stream_id, key) = server.create_stream("flaky uplink").await;
    let mut first = publish_for(&server, &key, SIZE, 6);
    server.wait_master(&stream_id, LONG).await;
    assert!(first.wait_exit(LONG).is_some());
    let mut second = publish_for(&server, &key, SIZE, 6);
    assert!(second.wait_exit(LONG).is_some());
    let (_, id) = server.wait_replay(&stream_id, LONG).await;
    let (_, master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    let source = listed_playlist(&server, &id, &master, "source")
        .await
        .unwrap();
    assert_eq!(
        source.matches("#EXT-X-DISCONTINUITY").count(),
        1,
        "{source}"
    );
    let video = server.video(&id).await;
    let duration = video["duration"].as_f64().unwrap();
    assert!(
        (duration - 12.0).abs() <= 1.0,
        "{duration} s replayed of 12"
    );
    let broadcasts = server.broadcasts(&stream_id).await;
    assert_eq!(broadcasts["broadcasts"].as_array().unwrap().len(), 1);
    // The ladder made from the recording has the same discontinuity.
    let video = server.wait_video(&id, &["ready"], LONG).await;
    assert!(
        rendition_names(&video).contains(&"360p".to_owned()),
        "{video}"
    );
    let (_, master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    let rung = listed_playlist(&server, &id, &master, "360p")
        .await
        .unwrap();
    assert_eq!(rung.matches("#EXT-X-DISCONTINUITY").count(), 1, "{rung}");
    assert_eq!(
        segment_uris(&rung),
        segment_uris(&source),
        "{rung}\n{source}"
    );
    let (status, mpd) = server.get_text(&format!("/vod/{id}/manifest.mpd")).await;
    assert_eq!((status, mpd.matches("<Period").count()), (200, 2), "{mpd}");
    // Seek-bar thumbnails on both sides of the reconnect: a tile a second.
    assert!(video["storyboard_url"].is_string(), "{video}");
    let (status, vtt) = server.get_text(&format!("/vod/{id}/storyboard.vtt")).await;
    assert_eq!(status, 200, "{vtt}");
    assert!(vtt.matches(" --> ").count() >= 11, "{vtt}");
    assert!(vtt.contains("\n00:00:10.000 --> 00:00:11.000\n"), "{vtt}");
    // Played from 2 s before the reconnect to past it.
    let report = play(&server, &id, Some(4.0)).await;
    assert!(
        report["crossed"]["currentTime"].as_f64().unwrap() > 7.0,
        "{report}"
    );
    assert_eq!(fatal_errors(&report["crossed"]), 0, "{report}");
}

/// The server dies (SIGKILL) 15 s into a broadcast; when it starts again,
/// the broadcast ends with a replay of at least the first 12 s.
async fn a_server_killed_mid_broadcast_replays_what_it_recorded(extra: &[String]) {
    let mut flags = vec!["--transcode".to_owned(), "false".to_owned()];
    flags.extend_from_slice(extra);
    let mut server = server(&flags).await;
    let (stream_id, key) = server.create_stream("power cut").await;
    let started = Instant::now();
    let publisher = publish_for(&server, &key, SIZE, 60);
    server.wait_master(&stream_id, LONG).await;
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(started.elapsed())).await;
    drop(publisher);
    server.restart().await;
    let (broadcast, id) = server.wait_replay(&stream_id, LONG).await;
    assert!(broadcast["ended_at"].is_string(), "{broadcast}");
    let video = server.video(&id).await;
    let duration = video["duration"].as_f64().unwrap();
    assert!(duration >= 12.0, "{duration} s of 15 replayed: {video}");
    let report = play(&server, &id, None).await;
    assert_eq!(report["ended"]["ended"], true, "{report}");
}

#[tokio::test]
async fn a_server_killed_mid_broadcast_replays_what_it_recorded_on_fs_and_sqlite() {
    a_server_killed_mid_broadcast_replays_what_it_recorded(&[]).await;
}

#[tokio::test]
async fn a_server_killed_mid_broadcast_replays_what_it_recorded_on_s3_and_postgres() {
    a_server_killed_mid_broadcast_replays_what_it_recorded(&postgres_and_s3(postgres_url().await))
        .await;
}

/// The store stalls for 6 s mid-broadcast: live segments keep coming as
/// before, the recording queues them, and writes them once the store is
/// back; the replay has the whole broadcast.
#[tokio::test]
async fn a_stalled_store_never_delays_the_live_path() {
    let s3 = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").expect("./dev test starts S3");
    let proxy = StallingProxy::start(s3.trim_start_matches("http://"));
    let mut flags = s3_flags();
    let endpoint = flags.iter().position(|f| f == "--s3-endpoint").unwrap() + 1;
    flags[endpoint] = format!("http://{}", proxy.addr());
    flags.extend(["--transcode".into(), "false".into()]);
    let server = server(&flags).await;
    let (stream_id, key) = server.create_stream("slow disks").await;
    let mut publisher = publish_for(&server, &key, SIZE, 16);
    let master = server.wait_master(&stream_id, LONG).await;
    let (video, _) = media_paths(&stream_id, &master);
    proxy.stall(true);
    let (_, before) = server.get_text(&video).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, after) = server.get_text(&video).await;
    let status = server.stream(&stream_id).await;
    proxy.stall(false);
    assert!(
        segment_uris(&after).len() >= segment_uris(&before).len() + 5,
        "live segments kept coming while the store stalled:\n{before}\n{after}"
    );
    assert!(
        status["recording"]["queued_segments"].as_u64() > Some(0),
        "the recording waits for the store: {status}"
    );
    assert!(publisher.wait_exit(LONG).is_some());
    let (_, id) = server.wait_replay(&stream_id, LONG).await;
    let video = server.video(&id).await;
    let duration = video["duration"].as_f64().unwrap();
    assert!(
        (duration - 16.0).abs() <= 1.0,
        "{duration} s replayed of 16: {video}"
    );
}
