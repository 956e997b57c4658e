use super::*;
use crate::protocol::{Role, SettingsPatch};

fn user(name: &str, role: Role) -> User {
    User {
        name: name.into(),
        role,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

fn room() -> RoomState {
    RoomState::new(RoomSnapshot::default())
}

fn message(offset: u64) -> ChatMessage {
    ChatMessage {
        id: format!("m{offset}"),
        user: user("ada", Role::Viewer),
        text: "hi".into(),
        sent_at: Utc::now(),
        media_time: None,
        offset,
    }
}

fn send(
    room: &mut RoomState,
    who: &User,
    from: IpAddr,
    text: &str,
    at: Instant,
) -> Result<String, Refusal> {
    room.check_message(who, from, text, at, Utc::now(), &Limits::default())
}

fn code(result: Result<String, Refusal>) -> ErrorCode {
    result.expect_err("refused").code
}

#[test]
fn text_is_trimmed_and_bounded() {
    let mut room = room();
    let t0 = Instant::now();
    let ada = user("ada", Role::Viewer);
    assert_eq!(
        send(&mut room, &ada, ip(1), "  hello \n", t0).unwrap(),
        "hello"
    );
    assert_eq!(
        code(send(&mut room, &ada, ip(1), " \t ", t0)),
        ErrorCode::Empty
    );
    assert!(send(&mut room, &ada, ip(1), &"é".repeat(500), t0).is_ok());
    assert_eq!(
        code(send(&mut room, &ada, ip(1), &"é".repeat(501), t0)),
        ErrorCode::TooLong
    );
}

#[test]
fn viewers_get_twenty_messages_per_thirty_seconds_and_moderators_a_hundred() {
    let mut room = room();
    let t0 = Instant::now();
    let ada = user("ada", Role::Viewer);
    for i in 0..20 {
        send(&mut room, &ada, ip(1), "x", t0).unwrap_or_else(|r| panic!("message {i}: {r:?}"));
    }
    let refused = send(&mut room, &ada, ip(1), "x", t0).unwrap_err();
    assert_eq!(refused.code, ErrorCode::RateLimited);
    assert!(refused.retry_after.is_some());
    assert!(send(&mut room, &ada, ip(1), "x", t0 + Duration::from_secs(2)).is_ok());

    let moderator = user("mod", Role::Moderator);
    for _ in 0..100 {
        send(&mut room, &moderator, ip(2), "x", t0).unwrap();
    }
    assert_eq!(
        code(send(&mut room, &moderator, ip(2), "x", t0)),
        ErrorCode::RateLimited
    );
}

#[test]
fn one_address_is_limited_whatever_names_it_uses() {
    let mut room = room();
    let t0 = Instant::now();
    for i in 0..60 {
        send(
            &mut room,
            &user(&format!("u{i}"), Role::Viewer),
            ip(9),
            "x",
            t0,
        )
        .unwrap();
    }
    assert_eq!(
        code(send(
            &mut room,
            &user("fresh", Role::Viewer),
            ip(9),
            "x",
            t0
        )),
        ErrorCode::RateLimited
    );
    assert!(send(&mut room, &user("fresh", Role::Viewer), ip(10), "x", t0).is_ok());
}

#[test]
fn slow_mode_spaces_a_viewers_messages_but_not_a_moderators() {
    let mut room = room();
    room.apply(&RoomEvent::Settings(
        room.settings
            .patched(&SettingsPatch {
                slow_mode_secs: Some(5),
                ..Default::default()
            })
            .unwrap(),
    ));
    let t0 = Instant::now();
    let ada = user("ada", Role::Viewer);
    send(&mut room, &ada, ip(1), "one", t0).unwrap();
    let refused = send(&mut room, &ada, ip(1), "two", t0 + Duration::from_secs(2)).unwrap_err();
    assert_eq!(refused.code, ErrorCode::SlowMode);
    assert_eq!(refused.retry_after, Some(Duration::from_secs(3)));
    assert!(send(&mut room, &ada, ip(1), "two", t0 + Duration::from_secs(5)).is_ok());
    let moderator = user("mod", Role::Broadcaster);
    send(&mut room, &moderator, ip(2), "one", t0).unwrap();
    send(&mut room, &moderator, ip(2), "two", t0).unwrap();
}

#[test]
fn filtered_words_are_refused_for_viewers() {
    let mut room = room();
    let settings = room
        .settings
        .patched(&SettingsPatch {
            word_filter: Some(vec!["spam".into()]),
            ..Default::default()
        })
        .unwrap();
    room.apply(&RoomEvent::Settings(settings));
    let t0 = Instant::now();
    assert_eq!(
        code(send(
            &mut room,
            &user("ada", Role::Viewer),
            ip(1),
            "buy Spam",
            t0
        )),
        ErrorCode::Filtered
    );
    assert!(
        send(
            &mut room,
            &user("mod", Role::Moderator),
            ip(2),
            "no spam please",
            t0
        )
        .is_ok()
    );
}

#[test]
fn bans_and_timeouts_refuse_viewers_only() {
    let mut room = room();
    let t0 = Instant::now();
    let until = Utc::now() + chrono::Duration::seconds(90);
    room.apply(&RoomEvent::TimedOut {
        name: "Ada".into(),
        until,
        ip: None,
    });
    let refused = send(&mut room, &user("ada", Role::Viewer), ip(1), "x", t0).unwrap_err();
    assert_eq!(refused.code, ErrorCode::TimedOut);
    assert!((89..=90).contains(&refused.retry_after.unwrap().as_secs()));
    room.apply(&RoomEvent::Banned {
        name: "troll".into(),
        ip: Some(ip(6)),
    });
    assert_eq!(
        code(send(
            &mut room,
            &user("troll", Role::Viewer),
            ip(5),
            "x",
            t0
        )),
        ErrorCode::Banned
    );
    assert_eq!(
        code(send(&mut room, &user("sock", Role::Viewer), ip(6), "x", t0)),
        ErrorCode::Banned
    );
    assert!(
        room.join_block(Some(&user("sock", Role::Viewer)), ip(6), Utc::now())
            .is_some()
    );
    assert!(room.join_block(None, ip(6), Utc::now()).is_some());
    assert!(
        room.join_block(Some(&user("troll", Role::Moderator)), ip(6), Utc::now())
            .is_none()
    );
    room.apply(&RoomEvent::Unbanned {
        name: "troll".into(),
    });
    assert!(send(&mut room, &user("troll", Role::Viewer), ip(6), "x", t0).is_ok());
}

#[test]
fn a_flood_of_refused_sends_is_flagged() {
    let mut room = room();
    let t0 = Instant::now();
    let ada = user("ada", Role::Viewer);
    for _ in 0..20 {
        send(&mut room, &ada, ip(1), "x", t0).unwrap();
    }
    for i in 0..9 {
        assert!(
            !send(&mut room, &ada, ip(1), "x", t0).unwrap_err().flood,
            "refusal {i}"
        );
    }
    assert!(send(&mut room, &ada, ip(1), "x", t0).unwrap_err().flood);
    // Refusals spread out over more than the window are no flood.
    let mut room = RoomState::new(RoomSnapshot::default());
    for i in 0..30u64 {
        let refused =
            send(&mut room, &ada, ip(1), "", t0 + Duration::from_secs(i * 2)).unwrap_err();
        assert!(!refused.flood, "{i}");
    }
}

#[test]
fn the_welcome_frame_lists_the_state_then_history() {
    let mut room = room();
    for offset in 1..=3 {
        room.apply(&RoomEvent::Message(message(offset)));
    }
    room.apply(&RoomEvent::Pinned {
        message: Some(message(2)),
    });
    room.apply(&RoomEvent::Deleted { id: "m2".into() });
    let ada = user("ada", Role::Viewer);
    let welcome = room.welcome(Some(&ada), None);
    let lines: Vec<serde_json::Value> = welcome
        .split(|&b| b == b'\n')
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "joined", "settings", "stream", "pinned", "viewers", "history"
        ]
    );
    assert_eq!(lines[0]["user"]["name"], "ada");
    assert_eq!(
        lines[3]["message"],
        serde_json::Value::Null,
        "deleting the pinned message unpins it"
    );
    let offsets: Vec<u64> = lines[5]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [1, 3]);
    assert_eq!(lines[5]["resumed"], false);

    let resumed = room.welcome(None, Some(1));
    let last: serde_json::Value =
        serde_json::from_slice(resumed.split(|&b| b == b'\n').next_back().unwrap()).unwrap();
    assert_eq!(last["resumed"], true);
    assert_eq!(last["messages"].as_array().unwrap().len(), 1);
}

#[test]
fn viewer_counts_are_sent_only_when_they_change() {
    let mut room = room();
    assert!(room.set_viewers(0).is_none());
    assert!(room.set_viewers(4).is_some());
    assert!(room.set_viewers(4).is_none());
}
