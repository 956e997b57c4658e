//! Chat end to end: the real binary, real WebSocket clients (tokio-tungstenite),
//! the admin API, on SQLite and PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use futures::SinkExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use support::chat_client::ChatClient;
use support::{Server, TempDir, ffmpeg_publish, rtmp_url};

fn close_code(frame: &Option<CloseFrame>) -> u16 {
    frame.as_ref().map(|f| u16::from(f.code)).unwrap_or(0)
}

/// A server with a stream; returns both.
async fn server_with_stream(extra: &[&str]) -> (Server, String) {
    let server = Server::start(extra).await;
    let (id, _) = server.create_stream("chat").await;
    (server, id)
}

async fn two_clients_chat_and_resume(extra: &[&str]) {
    let (server, stream) = server_with_stream(extra).await;
    let mut ada = ChatClient::connect(&server, &stream, "name=ada").await;
    let mut kinds = Vec::new();
    for _ in 0..6 {
        kinds.push(ada.next().await);
    }
    let types: Vec<&str> = kinds.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "joined", "settings", "stream", "pinned", "viewers", "history"
        ]
    );
    assert_eq!(kinds[0]["user"], json!({"name": "ada", "role": "viewer"}));
    assert_eq!(kinds[1]["max_length"], 500);
    assert_eq!(kinds[2]["status"], "offline");
    assert_eq!(ada.batched_frames, 1, "the welcome is one frame");

    let (mut bob, _) = ChatClient::join(&server, &stream, "name=bob").await;
    ada.say("  hello bob ").await;
    let mine = ada.next_of("message").await;
    bob.say("<script>alert(1)</script>").await;
    let mut firsts = [mine, bob.next_of("message").await].into_iter();
    for client in [&mut ada, &mut bob] {
        let first = firsts.next().unwrap();
        assert_eq!(first["text"], "hello bob");
        assert_eq!(first["user"], json!({"name": "ada", "role": "viewer"}));
        assert_eq!(first["offset"], 1);
        assert_eq!(first["media_time"], Value::Null);
        assert!(first["id"].as_str().is_some_and(|id| !id.is_empty()));
        let second = client.next_of("message").await;
        assert_eq!(second["text"], "<script>alert(1)</script>");
        assert_eq!(second["offset"], 2);
    }
    let (_carol, history) = ChatClient::join(&server, &stream, "name=carol").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello bob", "<script>alert(1)</script>"]);
    assert_eq!(history["resumed"], false);

    let (_dave, resumed) = ChatClient::join(&server, &stream, "name=dave&since=1").await;
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["messages"].as_array().unwrap().len(), 1);
    assert_eq!(resumed["messages"][0]["offset"], 2);

    // Stored, and paged through by the admin API.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, page) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/messages?limit=1"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"][0]["text"], "hello bob");
    assert_eq!(page["next_after"], 1);
    let (_, rest) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/messages?after=1"),
            None,
        )
        .await;
    assert_eq!(rest["messages"][0]["offset"], 2);
    assert_eq!(rest["messages"][0]["deleted"], false);
    assert_eq!(rest["next_after"], Value::Null);
    let (status, _) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/messages?after=-3&limit=x"),
            None,
        )
        .await;
    assert_eq!(status, 400, "a hostile query string is refused");
}

#[tokio::test]
async fn two_clients_chat_and_resume_on_sqlite() {
    two_clients_chat_and_resume(&[]).await;
}

#[tokio::test]
async fn two_clients_chat_and_resume_on_postgres() {
    let url = support::postgres_url().await;
    two_clients_chat_and_resume(&["--database-url", &url]).await;
}

#[tokio::test]
async fn every_limit_answers_with_its_error_code_and_keeps_the_connection() {
    let (server, stream) = server_with_stream(&[]).await;
    let (mut ada, _) = ChatClient::join(&server, &stream, "name=ada").await;

    ada.say(&"x".repeat(501)).await;
    assert_eq!(ada.error_code().await, "too_long");
    ada.say("   ").await;
    assert_eq!(ada.error_code().await, "empty");
    ada.ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(ada.error_code().await, "bad_request");
    ada.send(json!({"type": "shout", "text": "x"})).await;
    assert_eq!(ada.error_code().await, "bad_request");
    ada.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(ada.error_code().await, "bad_request");
    ada.send(json!({"type": "ban", "name": "bob"})).await;
    assert_eq!(ada.error_code().await, "forbidden");
    // Still connected and chatting after every error.
    ada.say("still here").await;
    assert_eq!(ada.next_of("message").await["text"], "still here");

    // Joining: names are unique (without case) and well formed.
    let mut taken = ChatClient::connect(&server, &stream, "name=ADA").await;
    assert_eq!(taken.error_code().await, "name_taken");
    assert_eq!(close_code(&taken.closed().await), 4009);
    for bad in [
        "name=%3Cscript%3E",
        "name=",
        &format!("name={}", "n".repeat(26)),
    ] {
        let mut client = ChatClient::connect(&server, &stream, bad).await;
        assert_eq!(client.error_code().await, "bad_name", "{bad}");
        assert_eq!(close_code(&client.closed().await), 4000);
    }
    let mut wrong_token = ChatClient::connect(&server, &stream, "token=nope").await;
    assert_eq!(wrong_token.error_code().await, "unauthorized");
    assert_eq!(close_code(&wrong_token.closed().await), 4001);
    let (mut lurker, _) = ChatClient::join(&server, &stream, "").await;
    lurker.say("hi").await;
    assert_eq!(lurker.error_code().await, "name_required");
    for hostile in ["since=-1", "since=abc", "viewer=%00%00", "viewer=short"] {
        let result = ChatClient::try_connect(&server, &stream, hostile).await;
        assert!(
            result.is_err(),
            "{hostile} must be refused before the upgrade"
        );
    }
    assert!(
        ChatClient::try_connect(&server, "nosuchstream", "name=x")
            .await
            .is_err()
    );

    // The rate limit: 20 messages per 30 s, then refusals; a flood of those times the user out.
    let (mut bob, _) = ChatClient::join(&server, &stream, "name=bob").await;
    for i in 0..20 {
        bob.say(&format!("m{i}")).await;
        assert_eq!(bob.next_of("message").await["text"], format!("m{i}"));
    }
    bob.say("one too many").await;
    let refused = bob.next_of("error").await;
    assert_eq!(refused["code"], "rate_limited");
    assert!(refused["retry_after_secs"].as_u64().is_some());
    for _ in 0..9 {
        bob.say("flood").await;
        assert_eq!(bob.error_code().await, "rate_limited");
    }
    let timed_out = bob.next_of("user_timed_out").await;
    assert_eq!(timed_out["name"], "bob");
    bob.say("let me out").await;
    assert_eq!(bob.error_code().await, "timed_out");

    // Slow mode and the word filter, set through the admin API.
    let (status, settings) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/streams/{stream}/chat/settings"),
            Some(json!({"slow_mode_secs": 5, "word_filter": ["Spam"]})),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["word_filter"], json!(["spam"]));
    let change = ada.next_of("settings").await;
    assert_eq!(change["slow_mode_secs"], 5);
    assert!(
        change.get("word_filter").is_none(),
        "viewers never see the filter"
    );
    let (mut carol, _) = ChatClient::join(&server, &stream, "name=carol").await;
    carol.say("buy SPAM now").await;
    assert_eq!(carol.error_code().await, "filtered");
    carol.say("first").await;
    carol.next_of("message").await;
    carol.say("second").await;
    assert_eq!(carol.error_code().await, "slow_mode");
    for bad in [
        json!({"slow_mode_secs": 2}),
        json!({"max_length": 0}),
        json!({"nope": 1}),
    ] {
        let (status, _) = server
            .api(
                Method::PATCH,
                &format!("/api/v1/streams/{stream}/chat/settings"),
                Some(bad.clone()),
            )
            .await;
        assert!(status == 422 || status == 400, "{bad}: {status}");
    }
}

async fn moderators_keep_the_room_civil(extra: &[&str]) {
    let (server, stream) = server_with_stream(extra).await;
    let (status, moderator) = server
        .api(
            Method::POST,
            &format!("/api/v1/streams/{stream}/moderators"),
            Some(json!({"name": "mod_ann"})),
        )
        .await;
    assert_eq!(status, 201, "{moderator}");
    let token = moderator["token"].as_str().unwrap().to_owned();
    let mut ann = ChatClient::connect(&server, &stream, &format!("token={token}")).await;
    assert_eq!(
        ann.next().await["user"],
        json!({"name": "mod_ann", "role": "moderator"})
    );
    let (mut host, _) = ChatClient::join(&server, &stream, "token=test-admin-token").await;
    let (mut troll, _) = ChatClient::join(&server, &stream, "name=troll").await;
    let (mut ada, _) = ChatClient::join(&server, &stream, "name=ada").await;

    troll.say("rude words").await;
    let rude = ada.next_of("message").await;
    let id = rude["id"].as_str().unwrap().to_owned();
    ann.next_of("message").await;
    ann.send(json!({"type": "delete", "id": id})).await;
    assert_eq!(ada.next_of("deleted").await["id"], id.as_str());
    ann.send(json!({"type": "timeout", "name": "ada", "secs": 60}))
        .await;
    let timeout = troll.next_of("user_timed_out").await;
    assert_eq!(timeout["name"], "ada");
    ada.say("why").await;
    let refused = ada.next_of("error").await;
    assert_eq!(refused["code"], "timed_out");
    assert!(refused["retry_after_secs"].as_u64().unwrap() > 50);

    host.say("welcome all").await;
    let welcome = host.message_saying("welcome all").await;
    assert_eq!(welcome["user"]["role"], "broadcaster");
    ann.send(json!({"type": "ban", "name": "troll", "ip": false}))
        .await;
    assert_eq!(troll.error_code().await, "banned");
    assert_eq!(close_code(&troll.closed().await), 4003);
    assert_eq!(ada.next_of("user_banned").await["name"], "troll");
    let mut again = ChatClient::connect(&server, &stream, "name=troll").await;
    assert_eq!(again.error_code().await, "banned");
    assert_eq!(close_code(&again.closed().await), 4003);

    let (status, bans) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/bans"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = bans["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"troll") && names.contains(&"ada"), "{bans}");
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/streams/{stream}/chat/bans/troll"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(ada.next_of("user_unbanned").await["name"], "troll");
    ChatClient::join(&server, &stream, "name=troll").await;

    // The admin API moderates too: a ban with a duration is a time-out, a pin, a deletion.
    let (status, _) = server
        .api(
            Method::POST,
            &format!("/api/v1/streams/{stream}/chat/bans"),
            Some(json!({"name": "zed", "duration_secs": 30})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(ada.next_of("user_timed_out").await["name"], "zed");
    let welcome_id = welcome["id"].as_str().unwrap();
    let (status, _) = server
        .api(
            Method::POST,
            &format!("/api/v1/streams/{stream}/chat/pin"),
            Some(json!({"id": welcome_id})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        ada.next_of("pinned").await["message"]["text"],
        "welcome all"
    );
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/streams/{stream}/chat/messages/{welcome_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(ada.next_of("deleted").await["id"], welcome_id);
    assert_eq!(ada.next_of("pinned").await["message"], Value::Null);
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/streams/{stream}/chat/messages/nope"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, page) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/messages"),
            None,
        )
        .await;
    let deleted: Vec<bool> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["deleted"].as_bool().unwrap())
        .collect();
    assert_eq!(deleted, [true, true], "{page}");
    let (_, history) = ChatClient::join(&server, &stream, "name=late").await;
    assert_eq!(
        history["messages"],
        json!([]),
        "deleted messages leave the history"
    );

    // Revoking the token closes the moderator's connection.
    let moderator_id = moderator["id"].as_str().unwrap();
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/streams/{stream}/moderators/{moderator_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(close_code(&ann.closed().await), 4001);
    let mut revoked = ChatClient::connect(&server, &stream, &format!("token={token}")).await;
    assert_eq!(revoked.error_code().await, "unauthorized");
}

#[tokio::test]
async fn moderators_keep_the_room_civil_on_sqlite() {
    moderators_keep_the_room_civil(&[]).await;
}

#[tokio::test]
async fn moderators_keep_the_room_civil_on_postgres() {
    let url = support::postgres_url().await;
    moderators_keep_the_room_civil(&["--database-url", &url]).await;
}

/// Opens a WebSocket to the chat over a socket with a tiny receive buffer,
/// completes the handshake and then never reads again.
fn never_reading_client(server: &Server, stream: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.http.into()).unwrap();
    let mut tcp: std::net::TcpStream = socket.into();
    write!(
        tcp,
        "GET /api/v1/streams/{stream}/chat?name=sleeper HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.http
    )
    .unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    tcp
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_never_delays_the_room() {
    let dir = TempDir::new("chat-config");
    let config = dir.0.join("tributary.toml");
    std::fs::write(
        &config,
        "[chat]\nmoderator_messages_per_30s = 100000\nclient_queue = 64\n",
    )
    .unwrap();
    let (server, stream) = server_with_stream(&["--config", config.to_str().unwrap()]).await;
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/streams/{stream}/chat/settings"),
            Some(json!({"max_length": 2000})),
        )
        .await;
    assert_eq!(status, 200);
    let sleeper = never_reading_client(&server, &stream);
    let (mut host, _) = ChatClient::join(&server, &stream, "token=test-admin-token").await;
    let (mut reader, _) = ChatClient::join(&server, &stream, "name=reader").await;
    let filler = "y".repeat(1990);
    let started = Instant::now();
    let total = 2000;
    let mut worst = Duration::ZERO;
    for i in 0..total {
        let sent = Instant::now();
        host.say(&format!("{i:05}{filler}")).await;
        let got = reader.next_of("message").await;
        // The sender reads its own echo too, or its socket would fill up.
        host.next_of("message").await;
        worst = worst.max(sent.elapsed());
        assert_eq!(
            &got["text"].as_str().unwrap()[..5],
            format!("{i:05}"),
            "in order, none lost"
        );
    }
    let elapsed = started.elapsed();
    assert!(
        worst < Duration::from_secs(1),
        "a message took {worst:?} to arrive"
    );
    eprintln!(
        "{total} messages of 2 KB to a reader beside a stalled client in {elapsed:?}, worst {worst:?}"
    );

    // The stalled client was cut off: reading now finds far less than was sent, then the end.
    let read_all = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut sleeper = sleeper;
        sleeper
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut total = 0usize;
        let mut buf = vec![0u8; 65536];
        loop {
            match sleeper.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(total),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .unwrap();
    let received = read_all.expect("the server closed the stalled connection");
    // Kernel buffers hold a few MB; a client still served would get all of it.
    assert!(
        received < total * 2000 * 9 / 10,
        "the stalled client got {received} bytes"
    );
}

#[tokio::test]
async fn one_viewer_with_a_player_and_a_chat_counts_once() {
    let (server, stream) = server_with_stream(&[]).await;
    let heartbeat = |viewer: &'static str| {
        let server = &server;
        let stream = stream.clone();
        async move {
            let response = server
                .client
                .post(server.url(&format!("/api/v1/streams/{stream}/viewers")))
                .json(&json!({"viewer": viewer}))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(heartbeat("viewer-one-1234").await, 204);
    let (mut chat, _) = ChatClient::join(&server, &stream, "name=one&viewer=viewer-one-1234").await;
    assert_eq!(server.stream(&stream).await["viewers"], 1);
    // The chat socket's presence is refreshed every 5 s; still one viewer after it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(server.stream(&stream).await["viewers"], 1);
    assert_eq!(heartbeat("viewer-two-1234").await, 204);
    assert_eq!(heartbeat("bad id").await, 422);
    let (_, playback) = server
        .get_text(&format!("/api/v1/streams/{stream}/playback"))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&playback).unwrap()["viewers"],
        2
    );
    let count = loop {
        let event = chat.next_of("viewers").await;
        if event["count"] == 2 {
            break event;
        }
    };
    assert_eq!(count["count"], 2);
}

#[tokio::test]
async fn messages_carry_the_media_time_of_the_live_broadcast() {
    let (server, stream) = server_with_stream(&["--reconnect-window-secs", "1"]).await;
    let key = server.stream(&stream).await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut ada, _) = ChatClient::join(&server, &stream, "name=ada").await;
    let mut publisher = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    assert_eq!(ada.next_of("stream").await["status"], "live");
    let live = server
        .wait_status(&stream, "live", Duration::from_secs(20))
        .await;
    let broadcast = live["broadcast_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_secs(2)).await;
    ada.say("live now").await;
    let message = ada.next_of("message").await;
    let sent_at =
        chrono::DateTime::parse_from_rfc3339(message["sent_at"].as_str().unwrap()).unwrap();
    let media_time = chrono::DateTime::parse_from_rfc3339(
        message["media_time"]
            .as_str()
            .expect("a media time while live"),
    )
    .unwrap();
    let behind = (sent_at - media_time).num_milliseconds();
    // Program date times follow the publisher's clock from the first frame
    // on, so under load they may run a little ahead of the server's.
    assert!(
        (-1000..3000).contains(&behind),
        "media time {behind} ms behind the wall clock"
    );
    publisher.kill();
    assert_eq!(ada.next_of("stream").await["status"], "offline");
    ada.say("after").await;
    assert_eq!(ada.next_of("message").await["media_time"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, page) = server
        .api(
            Method::GET,
            &format!("/api/v1/streams/{stream}/chat/messages?broadcast={broadcast}"),
            None,
        )
        .await;
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["live now"],
        "only the message said during the broadcast: {page}"
    );
}

/// Says `text` on `from` until `to` hears it (or panics after `within`).
async fn until_heard(from: &mut ChatClient, to: &mut ChatClient, text: &str, within: Duration) {
    let deadline = Instant::now() + within;
    for attempt in 0.. {
        let said = format!("{text} {attempt}");
        from.say(&said).await;
        while let Some(event) = to.try_next(Duration::from_millis(500)).await {
            if event["type"] == "message" && event["text"] == said.as_str() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{text}: never crossed between the nodes"
        );
    }
}

#[tokio::test]
async fn two_nodes_through_redis_are_one_room_and_survive_a_redis_outage() {
    let mut redis = support::RedisServer::start();
    let database = support::postgres_url().await;
    let redis_url = redis.url();
    let args = ["--database-url", &database, "--redis-url", &redis_url];
    let one = Server::start(&args).await;
    let two = Server::start(&args).await;
    let (stream, _) = one.create_stream("two nodes").await;

    let (mut ada, _) = ChatClient::join(&one, &stream, "name=ada&viewer=viewer-ada-01").await;
    let (mut bob, _) = ChatClient::join(&two, &stream, "name=bob&viewer=viewer-bob-01").await;
    let mut taken = ChatClient::connect(&two, &stream, "name=Ada").await;
    assert_eq!(
        taken.error_code().await,
        "name_taken",
        "names are unique across nodes"
    );

    ada.say("from one").await;
    bob.say("from two").await;
    let mut offsets = Vec::new();
    for client in [&mut ada, &mut bob] {
        let seen = [
            client.next_of("message").await,
            client.next_of("message").await,
        ];
        offsets.push(
            seen.iter()
                .map(|m| {
                    (
                        m["offset"].as_u64().unwrap(),
                        m["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(offsets[0], offsets[1], "both nodes deliver in one order");
    let mut numbers: Vec<u64> = offsets[0].iter().map(|(o, _)| *o).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2], "one offset sequence for the room");

    // Viewers: one on each node, both counted on both.
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let counts = (
            one.stream(&stream).await["viewers"].clone(),
            two.stream(&stream).await["viewers"].clone(),
        );
        if counts == (json!(2), json!(2)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "viewer counts {counts:?}, wanted 2 (ada and bob)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Moderation on one node reaches a user on the other.
    let (mut host, _) = ChatClient::join(&one, &stream, "token=test-admin-token").await;
    let (mut carol, _) = ChatClient::join(&two, &stream, "name=carol").await;
    host.send(json!({"type": "ban", "name": "carol"})).await;
    assert_eq!(carol.error_code().await, "banned");
    assert_eq!(close_code(&carol.closed().await), 4003);
    assert_eq!(bob.next_of("user_banned").await["name"], "carol");

    // Redis goes away: each node's clients still chat among themselves.
    redis.stop();
    let (mut dave, _) = ChatClient::join(&one, &stream, "name=dave").await;
    let started = Instant::now();
    ada.say("while redis is down").await;
    assert_eq!(
        dave.message_saying("while redis is down").await["user"]["name"],
        "ada"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "local delivery took {:?}",
        started.elapsed()
    );
    bob.say("node two alone").await;
    bob.message_saying("node two alone").await;

    // Redis is back: the bridge resubscribes by itself and the nodes are one room again.
    redis.restart();
    until_heard(&mut ada, &mut bob, "across again", Duration::from_secs(20)).await;
    until_heard(&mut bob, &mut ada, "and back", Duration::from_secs(20)).await;
}
