//! `RedisBus` against a real `redis-server` (Debian's package of that name):
//! each test starts its own on a free port, with two buses as two nodes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::protocol::{Role, User};

/// A `redis-server` of the test's own, killed on drop.
struct Redis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Redis {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "tributary-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Redis {
            port,
            dir,
            child: None,
        };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it (again, on the same port) and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with `apt-get install -y redis-server`")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.connection().is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let mut connection = redis::Client::open(self.url())?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(connection)
    }

    fn command(&self, command: &mut redis::Cmd) -> redis::Value {
        command.query(&mut self.connection().unwrap()).unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type Seen = Arc<Mutex<Vec<(String, RoomEvent)>>>;

/// A node as the tests see it: a bus and what it delivered.
struct Peer {
    bus: Arc<RedisBus>,
    seen: Seen,
}

impl Peer {
    fn new(url: &str) -> Peer {
        let seen = Seen::default();
        let sink = seen.clone();
        let bus = RedisBus::new(
            url,
            Arc::new(move |room: &str, event| sink.lock().unwrap().push((room.to_owned(), event))),
        )
        .unwrap();
        Peer {
            bus: Arc::new(bus),
            seen,
        }
    }

    /// The messages delivered in `room`, in delivery order, as (text, offset).
    fn messages(&self, room: &str) -> Vec<(String, u64)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(r, event)| match event {
                RoomEvent::Message(m) if r == room => Some((m.text.clone(), m.offset)),
                _ => None,
            })
            .collect()
    }

    fn events(&self) -> Vec<(String, RoomEvent)> {
        self.seen.lock().unwrap().clone()
    }

    /// Nothing is left waiting for an echo.
    fn settled(&self) -> bool {
        self.bus.node.state().pending.is_empty()
    }

    async fn send(&self, room: &str, text: &str) -> ChatMessage {
        self.bus.publish_message(room, message(text)).await
    }
}

fn message(text: &str) -> ChatMessage {
    ChatMessage {
        id: text.into(),
        user: User {
            name: "ada".into(),
            role: Role::Viewer,
        },
        text: text.into(),
        sent_at: Utc::now(),
        media_time: None,
        offset: 0,
    }
}

async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn subscribed(nodes: &[&Peer]) {
    eventually("every node is subscribed", Duration::from_secs(10), || {
        nodes.iter().all(|n| n.bus.subscribed())
    })
    .await;
}

async fn two_nodes(url: &str) -> (Peer, Peer) {
    let (a, b) = (Peer::new(url), Peer::new(url));
    subscribed(&[&a, &b]).await;
    (a, b)
}

fn has(node: &Peer, room: &str, text: &str) -> bool {
    node.messages(room).iter().any(|(t, _)| t == text)
}

#[tokio::test]
async fn a_bad_url_is_refused() {
    let result = RedisBus::new("http://example.invalid/", Arc::new(|_: &str, _| {}));
    assert!(matches!(result, Err(RedisBusError::BadUrl(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_get_one_sequence_and_one_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    let mut sends = Vec::new();
    for i in 0..40 {
        let bus = if i % 2 == 0 {
            a.bus.clone()
        } else {
            b.bus.clone()
        };
        sends.push(tokio::spawn(async move {
            bus.publish_message("r", message(&format!("m{i}")))
                .await
                .offset
        }));
    }
    let mut offsets = Vec::new();
    for send in sends {
        offsets.push(send.await.unwrap());
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=40).collect::<Vec<u64>>());
    eventually(
        "both nodes deliver 40 messages",
        Duration::from_secs(5),
        || a.messages("r").len() == 40 && b.messages("r").len() == 40,
    )
    .await;
    let delivered = a.messages("r");
    assert_eq!(
        delivered.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<u64>>()
    );
    assert_eq!(delivered, b.messages("r"));
    assert!(a.settled() && b.settled());

    // Another room has its own sequence.
    assert_eq!(b.send("other", "x").await.offset, 1);
}

#[tokio::test]
async fn other_events_cross_and_seeds_count_everywhere() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    let deleted = RoomEvent::Deleted { id: "m1".into() };
    a.bus.publish("r", deleted.clone()).await;
    let event = ("r".to_owned(), deleted);
    eventually(
        "the event reaches both nodes",
        Duration::from_secs(5),
        || a.events().contains(&event) && b.events().contains(&event),
    )
    .await;
    assert_eq!(a.events().len(), 1, "delivered once");

    a.bus.seed_offset("s", 41).await;
    assert_eq!(b.send("s", "x").await.offset, 42);
    b.bus.seed_offset("s", 10).await;
    assert_eq!(a.send("s", "y").await.offset, 43);
    eventually("both nodes see both", Duration::from_secs(5), || {
        a.messages("s").len() == 2 && b.messages("s").len() == 2
    })
    .await;
    assert_eq!(
        a.messages("s"),
        vec![("x".to_owned(), 42), ("y".to_owned(), 43)]
    );
}

#[tokio::test]
async fn a_name_has_one_holder_across_nodes() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    let ttl = Duration::from_secs(30);
    assert!(a.bus.claim_name("r", "ada", "v1", ttl).await);
    assert!(!b.bus.claim_name("r", "ada", "v2", ttl).await);
    assert!(
        b.bus.claim_name("r", "ada", "v1", ttl).await,
        "the holder renews it anywhere"
    );
    assert!(b.bus.claim_name("other", "ada", "v2", ttl).await);
    b.bus.release_name("r", "ada", "v2").await;
    assert!(
        !b.bus.claim_name("r", "ada", "v2", ttl).await,
        "only the holder releases"
    );
    a.bus.release_name("r", "ada", "v1").await;
    assert!(b.bus.claim_name("r", "ada", "v2", ttl).await);

    assert!(
        a.bus
            .claim_name("r", "bob", "v3", Duration::from_millis(50))
            .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        b.bus.claim_name("r", "bob", "v4", ttl).await,
        "an expired claim is free"
    );
}

#[tokio::test]
async fn viewers_count_once_across_nodes_until_they_expire() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    let ttl = Duration::from_secs(30);
    a.bus
        .touch_viewers("r", &["v1".into(), "v2".into()], ttl)
        .await;
    b.bus
        .touch_viewers("r", &["v2".into(), "v3".into()], ttl)
        .await;
    b.bus
        .touch_viewers("r", &["v4".into()], Duration::from_millis(100))
        .await;
    assert_eq!(a.bus.count_viewers("r").await, 4);
    assert_eq!(b.bus.count_viewers("other").await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(a.bus.count_viewers("r").await, 3);
    assert_eq!(b.bus.count_viewers("r").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_work_alone_while_redis_is_down_and_join_again_when_it_is_back() {
    let mut redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    assert_eq!(a.send("r", "first").await.offset, 1);
    eventually("b has the first", Duration::from_secs(5), || {
        has(&b, "r", "first")
    })
    .await;

    redis.stop();
    for (node, texts) in [(&a, ["a1", "a2"]), (&b, ["b1", "b2"])] {
        for (text, offset) in texts.into_iter().zip(2..) {
            let started = Instant::now();
            let sent = node.send("r", text).await;
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{text} took {:?}",
                started.elapsed()
            );
            assert_eq!(sent.offset, offset, "{text} is numbered locally");
            assert!(
                has(node, "r", text),
                "{text} is delivered on its node at once"
            );
        }
    }
    assert!(
        a.bus
            .claim_name("r", "zed", "v1", Duration::from_secs(30))
            .await
    );
    assert!(
        !a.bus
            .claim_name("r", "zed", "v2", Duration::from_secs(30))
            .await,
        "unique on this node"
    );
    a.bus
        .touch_viewers("r", &["v1".into()], Duration::from_secs(30))
        .await;
    assert_eq!(a.bus.count_viewers("r").await, 1);
    eventually("the nodes notice", Duration::from_secs(5), || {
        !a.bus.subscribed() && !b.bus.subscribed()
    })
    .await;

    redis.restart();
    subscribed(&[&a, &b]).await;
    let again = a.send("r", "again").await;
    assert_eq!(again.offset, 4, "above every offset given out locally");
    let after = b.send("r", "after").await;
    assert_eq!(after.offset, 5);
    eventually("messages cross again", Duration::from_secs(5), || {
        ["again", "after"]
            .iter()
            .all(|t| has(&a, "r", t) && has(&b, "r", t))
    })
    .await;
    assert_eq!(
        a.messages("r").len(),
        5,
        "no message twice on a: {:?}",
        a.messages("r")
    );
    assert_eq!(
        b.messages("r").len(),
        5,
        "no message twice on b: {:?}",
        b.messages("r")
    );
    assert!(a.settled() && b.settled());
}

#[tokio::test]
async fn a_killed_subscription_comes_back() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    redis.command(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
    let during = a.send("r", "during").await;
    eventually("a delivers its own message", Duration::from_secs(5), || {
        has(&a, "r", "during")
    })
    .await;
    eventually("the subscriptions are back", Duration::from_secs(5), || {
        a.bus.subscribed() && b.bus.subscribed()
    })
    .await;
    let after = b.send("r", "after").await;
    assert_eq!(after.offset, during.offset + 1);
    eventually("messages cross again", Duration::from_secs(5), || {
        has(&a, "r", "after")
    })
    .await;
    assert_eq!(
        a.messages("r"),
        vec![("during".to_owned(), 1), ("after".to_owned(), 2)],
        "each once, in order"
    );
    // b stops waiting for its own message once Redis echoes it back, which
    // may come after a has it.
    eventually("every echo is back", Duration::from_secs(5), || {
        a.settled() && b.settled()
    })
    .await;
}

/// A TCP proxy to Redis that can silence the subscriptions opened through
/// it (their sockets stay open, but nothing Redis sends reaches the client)
/// and refuse new ones.
struct Proxy {
    port: u16,
    subscriptions: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    refuse: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            subscriptions: Arc::default(),
            refuse: Arc::default(),
        };
        let (registry, refuse) = (proxy.subscriptions.clone(), proxy.refuse.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", target))
                    .await
                    .unwrap();
                let silenced = Arc::new(AtomicBool::new(false));
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let (registry, refuse, flag) = (registry.clone(), refuse.clone(), silenced.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if buf[..n]
                            .windows(9)
                            .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"))
                        {
                            if refuse.load(Ordering::Relaxed) {
                                break;
                            }
                            registry.lock().unwrap().push(flag.clone());
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        if !silenced.load(Ordering::Relaxed)
                            && client_write.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        proxy
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Silences the subscriptions open now; later ones work.
    fn silence_subscriptions(&self) {
        for flag in self.subscriptions.lock().unwrap().iter() {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Closes the connections that try to subscribe from now on, or no longer.
    fn refuse_subscriptions(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_silent_subscription_is_noticed_and_replaced() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port).await;
    let a = Peer::new(&proxy.url());
    let b = Peer::new(&redis.url());
    subscribed(&[&a, &b]).await;
    proxy.silence_subscriptions();

    let lost = a.send("r", "lost").await;
    assert_eq!(lost.offset, 1);
    eventually("b gets it through Redis", Duration::from_secs(2), || {
        has(&b, "r", "lost")
    })
    .await;
    eventually(
        "a delivers its own message once its subscription is found dead",
        Duration::from_secs(6),
        || has(&a, "r", "lost"),
    )
    .await;
    subscribed(&[&a]).await;
    b.send("r", "back").await;
    eventually("messages reach a again", Duration::from_secs(5), || {
        has(&a, "r", "back")
    })
    .await;
    assert_eq!(
        a.messages("r"),
        vec![("lost".to_owned(), 1), ("back".to_owned(), 2)]
    );
    assert!(a.settled() && b.settled());
}

#[tokio::test]
async fn a_node_without_its_subscription_delivers_here_and_still_reaches_the_others() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port).await;
    let a = Peer::new(&proxy.url());
    let b = Peer::new(&redis.url());
    subscribed(&[&a, &b]).await;
    proxy.refuse_subscriptions(true);
    redis.command(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"));
    let subscribers = || {
        let mut numsub = redis::cmd("PUBSUB");
        numsub.arg("NUMSUB").arg("tributary:chat");
        redis::from_redis_value::<(String, u64)>(redis.command(&mut numsub))
            .unwrap()
            .1
    };
    eventually("only b subscribes again", Duration::from_secs(5), || {
        !a.bus.subscribed() && b.bus.subscribed() && subscribers() == 1
    })
    .await;

    assert_eq!(a.send("r", "alone").await.offset, 1);
    assert!(has(&a, "r", "alone"), "delivered on a at once");
    eventually("b gets it through Redis", Duration::from_secs(2), || {
        has(&b, "r", "alone")
    })
    .await;
    assert_eq!(b.send("r", "missed").await.offset, 2);

    proxy.refuse_subscriptions(false);
    subscribed(&[&a]).await;
    assert_eq!(b.send("r", "back").await.offset, 3);
    eventually("messages reach a again", Duration::from_secs(5), || {
        has(&a, "r", "back")
    })
    .await;
    assert_eq!(
        a.messages("r"),
        vec![("alone".to_owned(), 1), ("back".to_owned(), 3)]
    );
    eventually("b has all three", Duration::from_secs(2), || {
        b.messages("r").len() == 3
    })
    .await;
    assert_eq!(
        b.messages("r"),
        vec![
            ("alone".to_owned(), 1),
            ("missed".to_owned(), 2),
            ("back".to_owned(), 3)
        ]
    );
}

#[tokio::test]
async fn a_publish_given_up_while_redis_holds_it_is_delivered_once_everywhere() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    assert_eq!(a.send("r", "loads the script").await.offset, 1);
    // Redis holds the script until the pause ends; the caller gives up first.
    redis.command(redis::cmd("CLIENT").arg("PAUSE").arg(300).arg("WRITE"));
    let given_up = tokio::time::timeout(
        Duration::from_millis(50),
        a.bus.publish_message("r", message("given-up")),
    )
    .await;
    assert!(given_up.is_err(), "the publish waits for Redis");
    eventually("both nodes deliver it", Duration::from_secs(3), || {
        has(&a, "r", "given-up") && has(&b, "r", "given-up")
    })
    .await;
    assert_eq!(a.send("r", "next").await.offset, 3);
    eventually(
        "both nodes have the next message",
        Duration::from_secs(3),
        || has(&a, "r", "next") && has(&b, "r", "next"),
    )
    .await;
    let expected = vec![
        ("loads the script".to_owned(), 1),
        ("given-up".to_owned(), 2),
        ("next".to_owned(), 3),
    ];
    assert_eq!(a.messages("r"), expected);
    assert_eq!(b.messages("r"), expected);
    assert!(a.settled());
}

#[tokio::test]
async fn a_publish_dropped_before_it_is_sent_is_forgotten() {
    let redis = Redis::start();
    let (a, b) = two_nodes(&redis.url()).await;
    for i in 0..3 {
        // Polled once, then dropped: it never reaches Redis.
        let mut dropped =
            std::pin::pin!(a.bus.publish_message("r", message(&format!("dropped{i}"))));
        let finished = tokio::select! {
            biased;
            _ = &mut dropped => true,
            () = std::future::ready(()) => false,
        };
        assert!(!finished, "the publish waits for Redis");
    }
    assert!(!a.settled());
    eventually(
        "a probe round trip forgets them",
        Duration::from_secs(5),
        || a.settled(),
    )
    .await;
    a.send("r", "next").await;
    eventually(
        "both nodes have the next message",
        Duration::from_secs(3),
        || has(&a, "r", "next") && has(&b, "r", "next"),
    )
    .await;
    assert_eq!(a.messages("r"), b.messages("r"));
}
