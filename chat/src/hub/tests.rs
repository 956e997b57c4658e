use std::sync::Mutex;

use super::*;
use crate::bus::LocalBus;
use crate::moderation::Ban;
use crate::protocol::Role;
use crate::store::{LivePosition, RoomSnapshot, StoreError};

/// Storage in memory, recording what the hub asks of it.
#[derive(Default)]
struct MemoryStore {
    messages: Mutex<Vec<StoredMessage>>,
    recorded: Mutex<Vec<RoomEvent>>,
    live: Mutex<Option<LivePosition>>,
}

impl Store for Arc<MemoryStore> {
    async fn load_room(&self, _room: &str) -> Result<RoomSnapshot, StoreError> {
        let bans = self
            .recorded
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                RoomEvent::Banned { name, ip } => Some(Ban {
                    name: name.clone(),
                    ip: *ip,
                    until: None,
                }),
                _ => None,
            })
            .collect();
        Ok(RoomSnapshot {
            bans,
            ..Default::default()
        })
    }

    async fn save_messages(&self, batch: Vec<StoredMessage>) -> Result<(), StoreError> {
        self.messages.lock().unwrap().extend(batch);
        Ok(())
    }

    async fn find_message(&self, _room: &str, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self
            .messages
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.message.id == id)
            .map(|m| m.message.clone()))
    }

    async fn last_ip(&self, _room: &str, name: &str) -> Result<Option<IpAddr>, StoreError> {
        Ok(self
            .messages
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| &*m.message.user.name == name)
            .map(|m| m.ip))
    }

    async fn record(
        &self,
        _room: &str,
        _actor: &User,
        event: &RoomEvent,
    ) -> Result<bool, StoreError> {
        if let RoomEvent::Deleted { id } = event
            && !self
                .messages
                .lock()
                .unwrap()
                .iter()
                .any(|m| &m.message.id == id)
        {
            return Ok(false);
        }
        self.recorded.lock().unwrap().push(event.clone());
        Ok(true)
    }

    fn live_position(&self, _room: &str) -> Option<LivePosition> {
        self.live.lock().unwrap().clone()
    }
}

type TestHub = Hub<Arc<MemoryStore>, LocalBus>;

fn hub_with(limits: Limits) -> (TestHub, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    (Hub::new(store.clone(), limits, LocalBus::new), store)
}

fn hub() -> (TestHub, Arc<MemoryStore>) {
    hub_with(Limits::default())
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, last])
}

fn request(name: Option<&str>, role: Role, from: IpAddr) -> JoinRequest {
    JoinRequest {
        user: name.map(|n| User {
            name: n.into(),
            role,
        }),
        moderator_id: None,
        ip: from,
        viewer: None,
        since: None,
    }
}

async fn join(
    hub: &TestHub,
    name: &str,
    role: Role,
    from: IpAddr,
) -> Session<Arc<MemoryStore>, LocalBus> {
    let mut session = hub
        .join("room", request(Some(name), role, from))
        .await
        .unwrap();
    session.take_welcome().unwrap();
    session
}

fn lines(bytes: &Bytes) -> Vec<serde_json::Value> {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// The next event other than a viewer count (those come on the presence timer).
async fn next_event(session: &mut Session<Arc<MemoryStore>, LocalBus>) -> serde_json::Value {
    loop {
        let bytes = tokio::time::timeout(Duration::from_secs(2), session.events.recv())
            .await
            .expect("an event")
            .expect("not lagged");
        let event = lines(&bytes).remove(0);
        if event["type"] != "viewers" {
            return event;
        }
    }
}

#[tokio::test]
async fn messages_reach_everyone_with_offsets_and_are_stored() {
    let (hub, store) = hub();
    let mut ada = join(&hub, "ada", Role::Viewer, ip(1)).await;
    let mut bob = join(&hub, "bob", Role::Viewer, ip(2)).await;
    assert!(
        ada.command(r#"{"type":"message","text":"hi bob"}"#)
            .await
            .is_none()
    );
    assert!(
        bob.command(r#"{"type":"message","text":"hi ada"}"#)
            .await
            .is_none()
    );
    for session in [&mut ada, &mut bob] {
        let first = next_event(session).await;
        let second = next_event(session).await;
        assert_eq!(
            (first["text"].as_str(), first["offset"].as_u64()),
            (Some("hi bob"), Some(1))
        );
        assert_eq!(
            (second["user"]["name"].as_str(), second["offset"].as_u64()),
            (Some("bob"), Some(2))
        );
        assert_eq!(first["media_time"], serde_json::Value::Null);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stored = store.messages.lock().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].ip, ip(2));
}

#[tokio::test]
async fn a_live_stream_stamps_messages_with_its_media_time() {
    let (hub, store) = hub();
    let media_time = Utc::now() - chrono::Duration::seconds(3);
    *store.live.lock().unwrap() = Some(LivePosition {
        broadcast_id: "b1".into(),
        media_time,
    });
    let mut ada = join(&hub, "ada", Role::Viewer, ip(1)).await;
    ada.command(r#"{"type":"message","text":"now"}"#).await;
    let event = next_event(&mut ada).await;
    let stamped =
        chrono::DateTime::parse_from_rfc3339(event["media_time"].as_str().unwrap()).unwrap();
    assert_eq!(stamped.timestamp_millis(), media_time.timestamp_millis());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        store.messages.lock().unwrap()[0].broadcast_id.as_deref(),
        Some("b1")
    );
}

#[tokio::test]
async fn names_are_unique_among_connected_users_until_they_leave() {
    let (hub, _) = hub();
    let ada = join(&hub, "ada", Role::Viewer, ip(1)).await;
    let taken = hub
        .join("room", request(Some("ADA"), Role::Viewer, ip(2)))
        .await
        .err()
        .unwrap();
    assert_eq!((taken.code, taken.close_code), (ErrorCode::NameTaken, 4009));
    let bad = hub
        .join("room", request(Some("a b"), Role::Viewer, ip(2)))
        .await
        .err()
        .unwrap();
    assert_eq!(bad.code, ErrorCode::BadName);
    drop(ada);
    tokio::time::sleep(Duration::from_millis(20)).await;
    join(&hub, "ada", Role::Viewer, ip(2)).await;
}

#[tokio::test]
async fn read_only_clients_and_viewers_cannot_do_what_they_may_not() {
    let (hub, _) = hub();
    let mut lurker = hub
        .join("room", request(None, Role::Viewer, ip(1)))
        .await
        .unwrap();
    let welcome = lines(&lurker.take_welcome().unwrap());
    assert_eq!(welcome[0]["user"], serde_json::Value::Null);
    let reply = lines(
        &lurker
            .command(r#"{"type":"message","text":"x"}"#)
            .await
            .unwrap(),
    );
    assert_eq!(reply[0]["code"], "name_required");
    let ada = join(&hub, "ada", Role::Viewer, ip(2)).await;
    let reply = lines(&ada.command(r#"{"type":"ban","name":"bob"}"#).await.unwrap());
    assert_eq!(reply[0]["code"], "forbidden");
    let reply = lines(&ada.command("{nope").await.unwrap());
    assert_eq!(reply[0]["code"], "bad_request");
}

#[tokio::test]
async fn a_ban_closes_the_users_connections_and_turns_them_away() {
    let (hub, store) = hub();
    let moderator = join(&hub, "mod", Role::Moderator, ip(1)).await;
    let mut troll = join(&hub, "troll", Role::Viewer, ip(2)).await;
    let mut same_address = join(&hub, "sock", Role::Viewer, ip(2)).await;
    troll.command(r#"{"type":"message","text":"spam"}"#).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        moderator
            .command(r#"{"type":"ban","name":"troll","ip":true}"#)
            .await
            .is_none()
    );
    for session in [&mut troll, &mut same_address] {
        session.closed.changed().await.unwrap();
        let close = session.closed.borrow().clone().unwrap();
        assert_eq!(close.code, 4003);
    }
    assert!(
        matches!(&store.recorded.lock().unwrap()[0], RoomEvent::Banned { ip: Some(a), .. } if *a == ip(2))
    );
    drop((troll, same_address));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = hub
        .join("room", request(Some("troll"), Role::Viewer, ip(3)))
        .await
        .err()
        .unwrap();
    assert_eq!(again.close_code, 4003);
    let from_address = hub
        .join("room", request(Some("newname"), Role::Viewer, ip(2)))
        .await
        .err()
        .unwrap();
    assert_eq!(from_address.code, ErrorCode::Banned);
}

#[tokio::test]
async fn moderators_delete_and_pin_and_everyone_hears_of_it() {
    let (hub, _) = hub();
    let moderator = join(&hub, "mod", Role::Moderator, ip(1)).await;
    let mut ada = join(&hub, "ada", Role::Viewer, ip(2)).await;
    ada.command(r#"{"type":"message","text":"pin me"}"#).await;
    let id = next_event(&mut ada).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        moderator
            .command(&format!(r#"{{"type":"pin","id":"{id}"}}"#))
            .await
            .is_none()
    );
    assert_eq!(next_event(&mut ada).await["message"]["id"], id.as_str());
    assert!(
        moderator
            .command(&format!(r#"{{"type":"delete","id":"{id}"}}"#))
            .await
            .is_none()
    );
    let deleted = next_event(&mut ada).await;
    assert_eq!(deleted, serde_json::json!({"type": "deleted", "id": id}));
    let mut late = hub
        .join("room", request(Some("late"), Role::Viewer, ip(3)))
        .await
        .unwrap();
    let welcome = lines(&late.take_welcome().unwrap());
    assert_eq!(
        welcome[3],
        serde_json::json!({"type": "pinned", "message": null})
    );
    assert_eq!(welcome[5]["messages"], serde_json::json!([]));
    let missing = lines(
        &moderator
            .command(r#"{"type":"delete","id":"nope"}"#)
            .await
            .unwrap(),
    );
    assert_eq!(missing[0]["code"], "not_found");
    let bad = lines(
        &moderator
            .command(r#"{"type":"timeout","name":"ada","secs":0}"#)
            .await
            .unwrap(),
    );
    assert_eq!(bad[0]["code"], "bad_request");
}

#[tokio::test]
async fn a_flooding_sender_is_timed_out() {
    let (hub, _) = hub();
    let ada = join(&hub, "ada", Role::Viewer, ip(1)).await;
    for _ in 0..20 {
        assert!(
            ada.command(r#"{"type":"message","text":"x"}"#)
                .await
                .is_none()
        );
    }
    for _ in 0..10 {
        ada.command(r#"{"type":"message","text":"x"}"#)
            .await
            .unwrap();
    }
    let reply = lines(
        &ada.command(r#"{"type":"message","text":"x"}"#)
            .await
            .unwrap(),
    );
    assert_eq!(reply[0]["code"], "timed_out");
    assert!(reply[0]["retry_after_secs"].as_u64().unwrap() > 50);
}

#[tokio::test]
async fn a_client_that_falls_behind_lags_without_holding_up_the_room() {
    let (hub, _) = hub_with(Limits {
        client_queue: 8,
        moderator_burst: 1000,
        ..Limits::default()
    });
    let sender = join(&hub, "host", Role::Broadcaster, ip(1)).await;
    let mut reader = join(&hub, "reader", Role::Viewer, ip(2)).await;
    let mut sleeper = join(&hub, "sleeper", Role::Viewer, ip(3)).await;
    for i in 0..20 {
        assert!(
            sender
                .command(&format!(r#"{{"type":"message","text":"m{i}"}}"#))
                .await
                .is_none()
        );
        // The reader keeps up; the sleeper never reads.
        assert_eq!(next_event(&mut reader).await["text"], format!("m{i}"));
    }
    assert!(matches!(
        sleeper.events.recv().await,
        Err(broadcast::error::RecvError::Lagged(_))
    ));
}

#[tokio::test]
async fn since_resumes_from_recent_history() {
    let (hub, _) = hub();
    let host = join(&hub, "host", Role::Broadcaster, ip(1)).await;
    for i in 0..5 {
        host.command(&format!(r#"{{"type":"message","text":"m{i}"}}"#))
            .await;
    }
    let mut back = hub
        .join(
            "room",
            JoinRequest {
                since: Some(3),
                ..request(Some("ada"), Role::Viewer, ip(2))
            },
        )
        .await
        .unwrap();
    let welcome = lines(&back.take_welcome().unwrap());
    let history = welcome.last().unwrap();
    assert_eq!(history["resumed"], true);
    let offsets: Vec<u64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [4, 5]);
}

#[tokio::test]
async fn a_message_deleted_before_it_is_stored_is_still_deleted() {
    let (hub, store) = hub();
    let moderator = join(&hub, "mod", Role::Moderator, ip(1)).await;
    let mut ada = join(&hub, "ada", Role::Viewer, ip(2)).await;
    ada.command(r#"{"type":"message","text":"oops"}"#).await;
    let id = next_event(&mut ada).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        store.messages.lock().unwrap().is_empty(),
        "the writer has not run yet"
    );
    assert!(
        moderator
            .command(&format!(r#"{{"type":"delete","id":"{id}"}}"#))
            .await
            .is_none()
    );
    assert_eq!(next_event(&mut ada).await["type"], "deleted");
}
