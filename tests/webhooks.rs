//! Outgoing webhooks against the real binary: endpoints through the API,
//! signed events retried with backoff until a receiver takes them, receivers
//! that were down, a server killed with deliveries pending, two nodes on one
//! database; on SQLite and PostgreSQL.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::webhooks::{
    WebhookReceiver, deliveries, subscribe, verify_signature, wait_deliveries,
};
use support::{Server, TOKEN, ffmpeg_publish, free_tcp_port, postgres_url, rtmp_url};

/// The first retry waits this long; later ones 3x, 6x, 30x… as much.
const RETRY_BASE_MS: u64 = 100;
const LONG: Duration = Duration::from_secs(60);

/// Each test named here runs twice, as `sqlite::name` on the server's default
/// SQLite database and as `postgres::name` on a fresh PostgreSQL database.
macro_rules! on_sqlite_and_postgres {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                super::$test(super::start(&[]).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let url = super::postgres_url().await;
                super::$test(super::start(&["--database-url", &url]).await).await;
            })*
        }
    };
}

on_sqlite_and_postgres!(
    endpoints_crud_validation_and_auth,
    a_failing_receiver_gets_the_same_signed_event_until_it_succeeds,
    a_receiver_that_was_down_gets_the_event_later,
    pending_deliveries_survive_a_kill,
    a_slow_receiver_with_a_backlog_holds_up_no_one,
    broadcasts_are_announced_and_listed,
);

async fn start(extra: &[&str]) -> Server {
    let base = RETRY_BASE_MS.to_string();
    // A publisher gone for a second has ended its broadcast.
    let mut flags = vec![
        "--webhook-retry-base-ms",
        &base,
        "--reconnect-window-secs",
        "1",
    ];
    flags.extend(extra);
    Server::start(&flags).await
}

/// Creates an asset and deletes it, which emits `video.deleted`; returns its id.
async fn delete_a_video(server: &Server, title: &str) -> String {
    let (id, _) = server.create_video(title).await;
    let (status, body) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    id
}

async fn endpoints_crud_validation_and_auth(server: Server) {
    for (method, path) in [
        (Method::GET, "/api/v1/webhooks"),
        (Method::POST, "/api/v1/webhooks"),
        (Method::GET, "/api/v1/webhooks/abc"),
        (Method::DELETE, "/api/v1/webhooks/abc"),
        (Method::GET, "/api/v1/webhooks/abc/deliveries"),
    ] {
        let anonymous = server
            .client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        let wrong = server
            .client
            .request(method.clone(), server.url(path))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path}");
    }

    let (status, generated) = server
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": "https://hooks.example.com/tributary", "events": ["video.ready", "video.failed"] })),
        )
        .await;
    assert_eq!(status, 201, "{generated}");
    let id = generated["id"].as_str().unwrap();
    let secret = generated["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 38,
        "{generated}"
    );
    assert_eq!(generated["url"], "https://hooks.example.com/tributary");
    assert_eq!(generated["events"], json!(["video.ready", "video.failed"]));
    assert!(generated["created_at"].is_string(), "{generated}");

    let (status, chosen) = server
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/all", "events": ["*"], "secret": "my own secret, long enough" })),
        )
        .await;
    assert_eq!(status, 201, "{chosen}");
    assert_eq!(chosen["secret"], "my own secret, long enough");
    let (status, other) = server
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/other", "events": ["*"] })),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(other["secret"], generated["secret"], "secrets are random");

    let (status, shown) = server
        .api(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["url"], generated["url"]);
    assert_eq!(shown["events"], generated["events"]);
    assert!(
        shown.get("secret").is_none(),
        "GET shows no secret: {shown}"
    );
    let (status, list) = server.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|w| w.get("secret").is_none()),
        "{list}"
    );
    assert_eq!(deliveries(&server, id).await, Vec::<Value>::new());

    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 204);
    for path in [
        format!("/api/v1/webhooks/{id}"),
        format!("/api/v1/webhooks/{id}/deliveries"),
        "/api/v1/webhooks/..%2F..".to_owned(),
    ] {
        let (status, body) = server.api(Method::GET, &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"], "no such webhook", "{path}");
    }
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, list) = server.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");

    let url = "http://example.com/hook";
    let long_url = format!("https://example.com/{}", "a".repeat(2040));
    for (body, mentions) in [
        (
            json!({ "url": "ftp://example.com/x", "events": ["*"] }),
            "url",
        ),
        (json!({ "url": "example.com/hook", "events": ["*"] }), "url"),
        (json!({ "url": "http://", "events": ["*"] }), "url"),
        (json!({ "url": long_url, "events": ["*"] }), "url"),
        (json!({ "url": url, "events": [] }), "events"),
        (
            json!({ "url": url, "events": ["video.nope"] }),
            "video.nope",
        ),
        (json!({ "url": url, "events": ["*", "video.ready"] }), "*"),
        (
            json!({ "url": url, "events": ["*"], "secret": "short" }),
            "secret",
        ),
        (json!({ "url": url }), "events"),
        (json!({ "url": url, "events": "video.ready" }), "events"),
        (
            json!({ "url": url, "events": ["*"], "colour": "red" }),
            "colour",
        ),
    ] {
        let (status, answer) = server
            .api(Method::POST, "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body} -> {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(mentions), "{body} -> {answer}");
    }
    let garbage = server
        .client
        .post(server.url("/api/v1/webhooks"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let (_, list) = server.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "refused endpoints are not stored"
    );
}

async fn a_failing_receiver_gets_the_same_signed_event_until_it_succeeds(server: Server) {
    let flaky = WebhookReceiver::start(2);
    let (flaky_id, secret) = subscribe(&server, &flaky.url(), &["video.deleted"]).await;
    let other = WebhookReceiver::start(0);
    let (other_id, _) = subscribe(&server, &other.url(), &["video.ready", "video.failed"]).await;
    let every = WebhookReceiver::start(0);
    let (_, every_secret) = subscribe(&server, &every.url(), &["*"]).await;

    let (video_id, _) = server.create_video("doomed").await;
    let before = server.video(&video_id).await;
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{video_id}"), None)
        .await;
    assert_eq!(status, 204);

    let requests = flaky.wait_for(3, LONG).await;
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200]);
    let first = &requests[0];
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/hook");
        assert_eq!(
            request.body, first.body,
            "every attempt sends the same bytes"
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("user-agent"), Some("Tributary-Webhooks/1"));
        assert_eq!(request.event_type(), "video.deleted");
        assert_eq!(
            request.header("tributary-delivery"),
            first.header("tributary-delivery")
        );
        let signature = request.header("tributary-signature").unwrap();
        assert!(
            verify_signature(signature, &request.body, &secret),
            "{signature}"
        );
        let mut tampered = request.body.clone();
        tampered[1] ^= 1;
        assert!(!verify_signature(signature, &tampered, &secret));
        assert!(!verify_signature(signature, &request.body, &every_secret));
    }
    // Retries wait 1x, then 3x the configured base.
    let base = Duration::from_millis(RETRY_BASE_MS);
    assert!(requests[1].at - requests[0].at >= base, "{requests:?}");
    assert!(requests[2].at - requests[1].at >= base * 3, "{requests:?}");

    let event = first.json();
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
    assert_eq!(event["type"], "video.deleted");
    assert!(
        chrono::DateTime::parse_from_rfc3339(event["created_at"].as_str().unwrap()).is_ok(),
        "{event}"
    );
    let video = &event["data"]["video"];
    assert_eq!(video["id"], video_id.as_str());
    assert_eq!(video["title"], "doomed");
    assert_eq!(video["status"], before["status"], "the asset as it was");
    assert_eq!(video["created_at"], before["created_at"]);
    assert!(video.get("upload_url").is_none(), "{video}");

    let listed = wait_deliveries(&server, &flaky_id, LONG, |list| {
        list.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let delivery = &listed[0];
    assert_eq!(delivery["id"], first.header("tributary-delivery").unwrap());
    assert_eq!(delivery["event_id"], event["id"]);
    assert_eq!(delivery["event_type"], "video.deleted");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status"], 200);
    assert_eq!(delivery["last_error"], Value::Null);
    assert_eq!(delivery["next_attempt_at"], Value::Null);
    assert!(delivery["delivered_at"].is_string(), "{delivery}");

    // The wildcard endpoint gets the same event (its own delivery) once.
    let got = every.wait_for(1, LONG).await;
    assert_eq!(got[0].json()["id"], event["id"]);
    assert_ne!(
        got[0].header("tributary-delivery"),
        first.header("tributary-delivery")
    );
    assert!(verify_signature(
        got[0].header("tributary-signature").unwrap(),
        &got[0].body,
        &every_secret
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(every.requests().len(), 1, "delivered once");
    assert!(
        other.requests().is_empty(),
        "not subscribed to video.deleted"
    );
    assert!(deliveries(&server, &other_id).await.is_empty());
}

async fn a_receiver_that_was_down_gets_the_event_later(server: Server) {
    let port = free_tcp_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (webhook, secret) = subscribe(&server, &url, &["video.deleted"]).await;
    let video_id = delete_a_video(&server, "while down").await;

    let failing = wait_deliveries(&server, &webhook, LONG, |list| {
        list.first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    let delivery = &failing[0];
    assert_eq!(delivery["status"], "pending", "{delivery}");
    assert_eq!(delivery["last_status"], Value::Null, "{delivery}");
    assert!(delivery["last_error"].is_string(), "{delivery}");
    assert!(delivery["next_attempt_at"].is_string(), "{delivery}");

    let receiver = WebhookReceiver::start_on(port, 0);
    let got = receiver.wait_for(1, LONG).await;
    assert_eq!(got[0].json()["data"]["video"]["id"], video_id.as_str());
    assert_eq!(got[0].json()["id"], delivery["event_id"]);
    assert!(verify_signature(
        got[0].header("tributary-signature").unwrap(),
        &got[0].body,
        &secret
    ));
    wait_deliveries(&server, &webhook, LONG, |list| {
        list.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
}

async fn pending_deliveries_survive_a_kill(mut server: Server) {
    let port = free_tcp_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (webhook, _) = subscribe(&server, &url, &["video.deleted"]).await;
    let video_id = delete_a_video(&server, "survivor").await;
    let pending = wait_deliveries(&server, &webhook, LONG, |list| {
        list.first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
    })
    .await;
    assert_eq!(pending[0]["status"], "pending");

    server.restart().await;
    let receiver = WebhookReceiver::start_on(port, 0);
    let got = receiver.wait_for(1, LONG).await;
    assert_eq!(got[0].json()["id"], pending[0]["event_id"]);
    assert_eq!(got[0].json()["data"]["video"]["id"], video_id.as_str());
    assert_eq!(
        got[0].header("tributary-delivery"),
        pending[0]["id"].as_str()
    );
    wait_deliveries(&server, &webhook, LONG, |list| {
        list.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
}

/// A receiver that takes 3 s per request, with a backlog of 100 events, gets
/// a few requests at a time, and an event for another endpoint still goes at once.
async fn a_slow_receiver_with_a_backlog_holds_up_no_one(server: Server) {
    const BACKLOG: usize = 100;
    let slow = WebhookReceiver::start_with(free_tcp_port(), 0, Duration::from_secs(3));
    subscribe(&server, &slow.url(), &["video.deleted"]).await;
    let mut ids = Vec::new();
    for n in 0..BACKLOG {
        ids.push(server.create_video(&format!("backlog {n}")).await.0);
    }
    for id in &ids {
        let (status, _) = server
            .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
    let first_slow = slow.wait_for(1, LONG).await[0].at;

    let fast = WebhookReceiver::start(0);
    subscribe(&server, &fast.url(), &["video.deleted"]).await;
    let fired = std::time::Instant::now();
    let video_id = delete_a_video(&server, "urgent").await;
    let got = fast.wait_for(1, LONG).await;
    assert!(
        got[0].at - fired < Duration::from_secs(2),
        "the fast receiver waited {:?} behind the slow one's backlog",
        got[0].at - fired
    );
    assert_eq!(got[0].json()["data"]["video"]["id"], video_id.as_str());
    let early = slow
        .requests()
        .iter()
        .filter(|r| r.at - first_slow < Duration::from_millis(2500))
        .count();
    assert!(
        (1..=4).contains(&early),
        "{early} requests in flight to one receiver"
    );
}

/// Two nodes on one PostgreSQL database race for every due delivery (first
/// sends and timed retries to a slow receiver): each attempt is made by one
/// of them, and each event is taken once.
#[tokio::test]
async fn two_nodes_send_each_delivery_once() {
    const EVENTS: usize = 12;
    let url = postgres_url().await;
    let first = start(&["--database-url", &url]).await;
    let second = start(&["--database-url", &url]).await;
    let receiver = WebhookReceiver::start_with(free_tcp_port(), EVENTS, Duration::from_millis(300));
    let (webhook, _) = subscribe(&first, &receiver.url(), &["video.deleted"]).await;
    let mut ids = Vec::new();
    for n in 0..EVENTS {
        ids.push(first.create_video(&format!("v{n}")).await.0);
    }
    for id in &ids {
        let (status, _) = first
            .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }

    let listed = wait_deliveries(&second, &webhook, LONG, |list| {
        list.len() == EVENTS && list.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    // Late duplicates would arrive after the rows say delivered.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut sent: HashMap<String, (i64, i64)> = HashMap::new();
    for request in receiver.requests() {
        let entry = sent
            .entry(request.header("tributary-delivery").unwrap().to_owned())
            .or_default();
        entry.0 += 1;
        entry.1 += i64::from(request.status == 200);
    }
    assert_eq!(sent.len(), EVENTS, "{sent:?}");
    for delivery in &listed {
        let (requests, successes) = sent[delivery["id"].as_str().unwrap()];
        assert_eq!(successes, 1, "{delivery}: {sent:?}");
        assert_eq!(
            delivery["attempts"].as_i64(),
            Some(requests),
            "{delivery}: {sent:?}"
        );
    }
    let events: std::collections::HashSet<Value> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["data"]["video"]["id"].clone())
        .collect();
    assert_eq!(events.len(), EVENTS);
}

/// A broadcast sends `stream.started` when it starts and `stream.ended` once
/// its publisher has been gone longer than the reconnect window; the stream
/// lists it with both times.
async fn broadcasts_are_announced_and_listed(server: Server) {
    let receiver = WebhookReceiver::start(0);
    let (_, secret) = subscribe(
        &server,
        &receiver.url(),
        &["stream.started", "stream.ended"],
    )
    .await;
    let (stream_id, key) = server.create_stream("evening show").await;
    let mut publisher = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    // Connected is not started: a broadcast begins with its media.
    receiver.wait_for(1, LONG).await;
    // Playable, so recorded: it ends with a replay.
    server.wait_master(&stream_id, LONG).await;
    publisher.kill();
    let requests = receiver.wait_for(2, LONG).await;
    for request in &requests {
        let signature = request.header("tributary-signature").unwrap();
        assert!(verify_signature(signature, &request.body, &secret));
    }
    let events: Vec<Value> = requests.iter().map(|r| r.json()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["stream.started", "stream.ended"], "{events:?}");
    let stream = &events[0]["data"]["stream"];
    assert_eq!(stream["id"], stream_id.as_str());
    assert_eq!(stream["title"], "evening show");
    let started = &events[0]["data"]["broadcast"];
    let ended = &events[1]["data"]["broadcast"];
    assert_eq!(started["id"], ended["id"]);
    assert_eq!(started["ended_at"], Value::Null);
    assert!(
        ended["ended_at"].as_str() > started["started_at"].as_str(),
        "{ended}"
    );
    assert_eq!(started["replay_video_id"], Value::Null);
    let replay = server
        .video(ended["replay_video_id"].as_str().unwrap())
        .await;
    assert_eq!(replay["broadcast_id"], ended["id"], "{replay}");
    assert_eq!(replay["origin"], "live", "{replay}");

    let page = server.broadcasts(&stream_id).await;
    assert_eq!(page["broadcasts"], json!([ended]), "{page}");
    assert_eq!(page["next_before"], Value::Null);
    let (status, _) = server
        .api(Method::GET, "/api/v1/streams/nope/broadcasts", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream_id}/broadcasts?limit=x"),
            None,
        )
        .await;
    assert_eq!(status, 400);
}
