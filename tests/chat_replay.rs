//! A replay's chat end to end: ffmpeg publishes 20 s while chat clients
//! talk; a message is deleted and a user banned during the broadcast. Once
//! the replay exists, `GET /api/v1/videos/{id}/chat` places every message
//! where the live edge was when it was said, without the deleted message
//! or the banned user's; and the replay's page in headless Chromium shows a
//! message when the video gets there, through seeks and rate changes.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::DateTime;
use reqwest::Method;
use serde_json::{Value, json};

use support::chat_client::ChatClient;
use support::{Server, media_paths, node_script, postgres_url, publish_for, s3_flags};

/// What the tests publish.
const SIZE: &str = "640x360";
const LONG: Duration = Duration::from_secs(60);
/// How far a message may show from where it was said, seconds.
const WITHIN: f64 = 1.0;

/// The program date time of each live segment of a media playlist, by msn
/// (live segment files are `<msn>.m4s`).
fn live_pdts(playlist: &str, into: &mut BTreeMap<u64, i64>) {
    let mut pdt = None;
    for line in playlist.lines() {
        if let Some(stamp) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = DateTime::parse_from_rfc3339(stamp)
                .ok()
                .map(|t| t.timestamp_millis());
        } else if let Some(msn) = line.strip_suffix(".m4s").and_then(|n| n.parse().ok())
            && let Some(pdt) = pdt.take()
        {
            into.insert(msn, pdt);
        }
    }
}

/// Where program date time `unix_ms` is in the replay: its media playlist
/// (files `seg-<msn + 1>.m4s`) laid against the live program date times.
fn replay_position(vod_playlist: &str, pdts: &BTreeMap<u64, i64>, unix_ms: i64) -> Option<f64> {
    let mut position = 0.0;
    let mut duration = None;
    for line in vod_playlist.lines() {
        if let Some(extinf) = line.strip_prefix("#EXTINF:") {
            duration = extinf.trim_end_matches(',').parse::<f64>().ok();
        } else if !line.starts_with('#') && !line.is_empty() {
            let seconds = duration.take()?;
            let number: u64 = line
                .trim_start_matches("seg-")
                .trim_end_matches(".m4s")
                .parse()
                .ok()?;
            if let Some(&pdt) = pdts.get(&(number - 1)) {
                let into = (unix_ms - pdt) as f64 / 1000.0;
                if into < seconds {
                    return Some(position + into.max(0.0));
                }
            }
            position += seconds;
        }
    }
    None
}

/// A public GET (no admin token): status and JSON body.
async fn public_get(server: &Server, path: &str) -> (u16, Value) {
    let response = server.get(path).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn texts(page: &Value) -> Vec<&str> {
    page["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default()
}

async fn a_replay_shows_its_chat_where_it_was_said(extra: &[String]) {
    let mut flags = vec!["--reconnect-window-secs", "2", "--transcode", "false"];
    flags.extend(extra.iter().map(String::as_str));
    let server = Server::start(&flags).await;
    let (stream_id, key) = server.create_stream("chat replay").await;
    let (mut ada, _) = ChatClient::join(&server, &stream_id, "name=ada").await;
    let (mut bob, _) = ChatClient::join(&server, &stream_id, "name=bob").await;
    let (mut troll, _) = ChatClient::join(&server, &stream_id, "name=Troll").await;

    let mut publisher = publish_for(&server, &key, SIZE, 20);
    let master = server.wait_master(&stream_id, LONG).await;
    server.wait_status(&stream_id, "live", LONG).await;
    let (playlist, _) = media_paths(&stream_id, &master);
    let mut pdts = BTreeMap::new();
    // Messages said at known moments, with the live edge's time then.
    let mut said = Vec::new();
    let script: [(&str, &str, u64); 5] = [
        ("ada", "hello from the start", 2),
        ("Troll", "buy followers", 3),
        ("bob", "oops wrong window", 5),
        ("ada", "what a goal", 9),
        ("bob", "see you", 13),
    ];
    let live_at = Instant::now();
    for (who, text, at) in script {
        tokio::time::sleep(Duration::from_secs(at).saturating_sub(live_at.elapsed())).await;
        let client = match who {
            "ada" => &mut ada,
            "bob" => &mut bob,
            _ => &mut troll,
        };
        client.say(text).await;
        let message = client.message_saying(text).await;
        said.push(message);
        let (_, live) = server.get_text(&playlist).await;
        live_pdts(&live, &mut pdts);
        match text {
            "oops wrong window" => {
                let id = said.last().unwrap()["id"].as_str().unwrap().to_owned();
                let (status, _) = server
                    .api(
                        Method::DELETE,
                        &format!("/api/v1/streams/{stream_id}/chat/messages/{id}"),
                        None,
                    )
                    .await;
                assert_eq!(status, 204);
            }
            "what a goal" => {
                let (status, body) = server
                    .api(
                        Method::POST,
                        &format!("/api/v1/streams/{stream_id}/chat/bans"),
                        Some(json!({"name": "troll"})),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
            }
            _ => {}
        }
    }
    while publisher.is_running() {
        let (_, live) = server.get_text(&playlist).await;
        live_pdts(&live, &mut pdts);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let id = server.wait_replay(&stream_id, LONG).await.1;

    let (status, page) = public_get(&server, &format!("/api/v1/videos/{id}/chat")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        texts(&page),
        ["hello from the start", "what a goal", "see you"],
        "no deleted message, nothing of the banned user: {page}"
    );
    assert_eq!(page["next_from"], Value::Null);
    let (_, vod_master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    let source = vod_master
        .lines()
        .find(|l| l.starts_with("source/"))
        .expect("the source rendition");
    let (_, vod_playlist) = server.get_text(&format!("/vod/{id}/{source}")).await;
    for shown in page["messages"].as_array().unwrap() {
        let original = said.iter().find(|m| m["id"] == shown["id"]).unwrap();
        let media_time = DateTime::parse_from_rfc3339(original["media_time"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let expected = replay_position(&vod_playlist, &pdts, media_time)
            .unwrap_or_else(|| panic!("{original} in\n{vod_playlist}\n{pdts:?}"));
        let position = shown["position"].as_f64().unwrap();
        assert!(
            (position - expected).abs() <= WITHIN,
            "{shown} at {position} s, said at {expected} s of the replay"
        );
        assert_eq!(shown["user"], original["user"]);
        assert_eq!(shown["sent_at"], original["sent_at"]);
    }
    let goal = page["messages"][1]["position"].as_f64().unwrap();
    let bye = page["messages"][2]["position"].as_f64().unwrap();
    let (_, window) = public_get(
        &server,
        &format!("/api/v1/videos/{id}/chat?from={goal}&to={bye}"),
    )
    .await;
    assert_eq!(texts(&window), ["what a goal"], "from included, to not");

    for bad in ["from=-1", "from=ten", "to=NaN", "from=5&to=4", "after=x"] {
        let (status, body) = public_get(&server, &format!("/api/v1/videos/{id}/chat?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (upload, _) = server.create_video("an upload").await;
    for other in [upload.as_str(), "nosuchvideo"] {
        let (status, _) = public_get(&server, &format!("/api/v1/videos/{other}/chat")).await;
        assert_eq!(status, 404, "{other}");
    }

    let report = node_script(
        "tests/browser/replay_chat.mjs",
        vec![
            server.url(&format!("/watch/v/{id}")),
            "what a goal".into(),
            goal.to_string(),
        ],
        &[],
    )
    .await;
    assert_eq!(report["before"]["shown"], false, "{report}");
    for played in ["appeared", "doubled"] {
        let at = report[played]["currentTime"].as_f64().unwrap();
        assert!(
            (at - goal).abs() <= WITHIN,
            "{played}: shown at {at} s, said at {goal} s: {report}"
        );
    }
    assert_eq!(report["seekedBack"]["shown"], false, "{report}");
    assert_eq!(report["seekedPast"]["shown"], true, "{report}");
    assert_eq!(report["rewound"]["shown"], false, "{report}");
    assert_eq!(
        report["seekedPast"]["panel"].as_array().map(Vec::len),
        Some(2),
        "the panel lists the messages said so far: {report}"
    );
}

#[tokio::test]
async fn a_replay_shows_its_chat_where_it_was_said_on_fs_and_sqlite() {
    a_replay_shows_its_chat_where_it_was_said(&[]).await;
}

#[tokio::test]
async fn a_replay_shows_its_chat_where_it_was_said_on_s3_and_postgres() {
    let mut flags = s3_flags();
    flags.extend(["--database-url".into(), postgres_url().await]);
    a_replay_shows_its_chat_where_it_was_said(&flags).await;
}
