//! The streams API and the CLI against the real binary.

mod support;

use std::process::Command;

use reqwest::Method;
use serde_json::json;
use support::*;

/// Each test named here runs twice, as `sqlite::name` on the server's default
/// SQLite database and as `postgres::name` on a fresh PostgreSQL database.
macro_rules! on_sqlite_and_postgres {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::Server::start(&[]).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let url = super::postgres_url().await;
                super::$test(super::Server::start(&["--database-url", &url]).await).await;
            })*
        }
    };
}

on_sqlite_and_postgres!(
    streams_crud_and_auth,
    bad_requests_get_clear_errors,
    rotating_the_key_disconnects_the_publisher,
    cli_creates_a_stream_and_prints_obs_settings,
    per_stream_ladder_settings,
);

async fn streams_crud_and_auth(server: Server) {
    let anonymous = server
        .client
        .get(server.url("/api/v1/streams"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = server
        .client
        .get(server.url("/api/v1/streams"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let (status, created) = server
        .api(
            Method::POST,
            "/api/v1/streams",
            Some(json!({ "title": "My show" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let key = created["stream_key"].as_str().unwrap();
    assert_eq!(created["title"], "My show");
    assert_eq!(created["status"], "idle");
    assert_eq!(
        created["rtmp_url"],
        format!("rtmp://127.0.0.1:{}/live", server.rtmp.port())
    );
    assert_eq!(
        created["srt_url"],
        format!(
            "srt://127.0.0.1:{}?streamid=#!::r=live/{key},m=publish",
            server.srt.port()
        )
    );
    assert_eq!(
        created["playback_url"],
        server.url(&format!("/live/{id}/index.m3u8"))
    );
    assert_eq!(created["watch_url"], server.url(&format!("/watch/{id}")));

    let (status, list) = server.api(Method::GET, "/api/v1/streams", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let (status, rotated) = server
        .api(
            Method::POST,
            &format!("/api/v1/streams/{id}/rotate-key"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["stream_key"], created["stream_key"]);
    assert_eq!(
        rotated["playback_url"], created["playback_url"],
        "the playback URL never changes"
    );

    let playback = server.get(&format!("/api/v1/streams/{id}/playback")).await;
    assert_eq!(playback.status(), 200, "the playback view is public");
    let playback: serde_json::Value = playback.json().await.unwrap();
    assert_eq!(playback["status"], "idle");
    assert!(playback.get("stream_key").is_none(), "{playback}");

    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/streams/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = server
        .api(Method::GET, &format!("/api/v1/streams/{id}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no such stream");
}

async fn bad_requests_get_clear_errors(server: Server) {
    for (body, expected) in [
        (json!({ "title": "" }), 422),
        (json!({ "title": "x".repeat(201) }), 422),
        (json!({ "name": "x" }), 422),
    ] {
        let (status, answer) = server
            .api(Method::POST, "/api/v1/streams", Some(body))
            .await;
        assert_eq!(status, expected, "{answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let garbage = server
        .client
        .post(server.url("/api/v1/streams"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    for path in [
        "/api/v1/streams/..%2F..",
        "/api/v1/streams/nope",
        "/live/nope/index.m3u8",
        "/live/a/b/c/d.m4s",
    ] {
        let (status, _) = server.api(Method::GET, path, None).await;
        assert_eq!(status, 404, "{path}");
    }
}

async fn rotating_the_key_disconnects_the_publisher(server: Server) {
    let (id, key) = server.create_stream("rotate").await;
    let mut ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    server
        .wait_status(&id, "live", std::time::Duration::from_secs(20))
        .await;
    let (status, _) = server
        .api(
            Method::POST,
            &format!("/api/v1/streams/{id}/rotate-key"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        ffmpeg
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some(),
        "the old key kept publishing"
    );
    let mut again = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    assert!(
        again
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some(),
        "the old key was accepted again"
    );
}

async fn cli_creates_a_stream_and_prints_obs_settings(server: Server) {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
            .args(args)
            .args(["--server", &server.url(""), "--token", TOKEN])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = run(&["stream", "create", "--title", "My show"]);
    assert!(
        printed.contains(&format!(
            "Server:     rtmp://127.0.0.1:{}/live",
            server.rtmp.port()
        )),
        "{printed}"
    );
    let key = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("Stream Key: "))
        .expect(&printed)
        .to_owned();
    let listed = run(&["stream", "list"]);
    assert!(
        listed.contains("My show") && listed.contains("idle"),
        "{listed}"
    );
    let id = listed.split_whitespace().next().unwrap().to_owned();
    let shown = run(&["stream", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["stream_key"], key);
    run(&["stream", "delete", &id]);
    assert!(run(&["stream", "list"]).trim().is_empty());

    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args([
            "stream",
            "list",
            "--server",
            &server.url(""),
            "--token",
            "wrong",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("401"));
}

/// The default ladder, a stream's own ladder, and going back to the default.
async fn per_stream_ladder_settings(server: Server) {
    let (status, created) = server
        .api(
            Method::POST,
            "/api/v1/streams",
            Some(json!({ "title": "default" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["ladder"]["transcode"], true);
    assert_eq!(created["ladder"]["custom"], false);
    let heights: Vec<u64> = created["ladder"]["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["height"].as_u64().unwrap())
        .collect();
    assert_eq!(heights, [1080, 720, 480, 360]);

    let own = json!({ "transcode": true, "rungs": [{ "name": "540p", "height": 540, "bitrate_kbps": 2000 }] });
    let (status, custom) = server
        .api(
            Method::POST,
            "/api/v1/streams",
            Some(json!({ "title": "own", "ladder": own })),
        )
        .await;
    assert_eq!(status, 201, "{custom}");
    assert_eq!(custom["ladder"]["custom"], true);
    assert_eq!(custom["ladder"]["rungs"][0]["name"], "540p");
    let id = custom["id"].as_str().unwrap();

    let path = format!("/api/v1/streams/{id}");
    let (status, off) = server
        .api(
            Method::PATCH,
            &path,
            Some(json!({ "ladder": { "transcode": false, "rungs": [] } })),
        )
        .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["ladder"]["transcode"], false);
    let (status, renamed) = server
        .api(Method::PATCH, &path, Some(json!({ "title": "renamed" })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["title"], "renamed");
    assert_eq!(
        renamed["ladder"]["transcode"], false,
        "a PATCH without ladder keeps it"
    );
    let (status, back) = server
        .api(Method::PATCH, &path, Some(json!({ "ladder": null })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(back["ladder"]["custom"], false);
    assert_eq!(back["ladder"]["rungs"].as_array().unwrap().len(), 4);

    for bad in [
        json!({ "ladder": { "transcode": true, "rungs": [{ "name": "x", "height": 721, "bitrate_kbps": 1000 }] } }),
        json!({ "ladder": { "transcode": true, "rungs": [{ "name": "../x", "height": 720, "bitrate_kbps": 1000 }] } }),
        json!({ "ladder": { "transcode": true } }),
        json!({ "title": "" }),
    ] {
        let (status, answer) = server.api(Method::PATCH, &path, Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad} -> {answer}");
    }
}
