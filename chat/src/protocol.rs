//! The wire protocol (docs/chat.md): commands clients send, events the server
//! sends, each event serialized once into shared bytes.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a user may do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Moderator,
    Broadcaster,
}

impl Role {
    pub fn moderates(self) -> bool {
        self != Role::Viewer
    }

    /// The name a token holder gets when it names none.
    pub fn default_name(self) -> &'static str {
        match self {
            Role::Broadcaster => "broadcaster",
            Role::Moderator => "moderator",
            Role::Viewer => "viewer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: Arc<str>,
    pub role: Role,
}

/// A chat message as stored, sent and replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub user: User,
    pub text: String,
    #[serde(with = "millis")]
    pub sent_at: DateTime<Utc>,
    #[serde(with = "millis_opt")]
    pub media_time: Option<DateTime<Utc>>,
    pub offset: u64,
}

/// One command from a client (one per frame).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    Message {
        text: String,
    },
    Delete {
        id: String,
    },
    Timeout {
        name: String,
        secs: u64,
    },
    Ban {
        name: String,
        #[serde(default)]
        ip: bool,
    },
    Unban {
        name: String,
    },
    Pin {
        id: String,
    },
    Unpin,
    Settings(SettingsPatch),
}

/// A change to a room's settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub slow_mode_secs: Option<u32>,
    pub max_length: Option<u32>,
    pub word_filter: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    Live,
    Offline,
}

/// Stable error codes (docs/chat.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NameRequired,
    Empty,
    TooLong,
    RateLimited,
    SlowMode,
    Filtered,
    TimedOut,
    Banned,
    NameTaken,
    BadName,
    Unauthorized,
    Forbidden,
    NotFound,
    Internal,
}

/// An event as the server sends it. Built from borrowed parts and serialized
/// once; the bytes go to every client of the room.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    Joined {
        user: Option<&'a User>,
    },
    Settings {
        slow_mode_secs: u32,
        max_length: u32,
    },
    Stream {
        status: StreamStatus,
    },
    Pinned {
        message: Option<&'a ChatMessage>,
    },
    Viewers {
        count: u64,
    },
    History {
        messages: Vec<&'a ChatMessage>,
        resumed: bool,
    },
    Message(&'a ChatMessage),
    Deleted {
        id: &'a str,
    },
    UserTimedOut {
        name: &'a str,
        #[serde(with = "millis")]
        until: DateTime<Utc>,
    },
    UserBanned {
        name: &'a str,
    },
    UserUnbanned {
        name: &'a str,
    },
    Error {
        code: ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
    },
}

impl Event<'_> {
    /// The event as one line of JSON (no trailing newline).
    pub fn encode(&self) -> Bytes {
        // Serializing these types cannot fail: every key is a string, no maps.
        serde_json::to_vec(self)
            .map(Bytes::from)
            .unwrap_or_default()
    }
}

/// Joins encoded events into one frame, one event per line.
pub fn frame<'a>(events: impl IntoIterator<Item = &'a Bytes>) -> Bytes {
    let mut out = Vec::new();
    for event in events {
        if !out.is_empty() {
            out.push(b'\n');
        }
        out.extend_from_slice(event);
    }
    Bytes::from(out)
}

/// Instants on the wire: RFC 3339 UTC with milliseconds, as playlists write them.
pub mod millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::millis::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::millis")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(at)| at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn message() -> ChatMessage {
        ChatMessage {
            id: "m1".into(),
            user: User {
                name: "ada".into(),
                role: Role::Viewer,
            },
            text: "<b>hi</b> \"there\"".into(),
            sent_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
            media_time: None,
            offset: 7,
        }
    }

    #[test]
    fn a_message_event_has_the_documented_shape() {
        let m = message();
        let json: serde_json::Value = serde_json::from_slice(&Event::Message(&m).encode()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "message", "id": "m1", "user": {"name": "ada", "role": "viewer"},
                "text": "<b>hi</b> \"there\"", "sent_at": "2023-11-14T22:13:20.123Z",
                "media_time": null, "offset": 7
            })
        );
    }

    #[test]
    fn messages_round_trip_through_json() {
        let mut m = message();
        m.media_time = Some(Utc.timestamp_millis_opt(1_700_000_000_001).unwrap());
        let back: ChatMessage = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn commands_parse_and_unknown_ones_do_not() {
        let parse = |s: &str| serde_json::from_str::<Command>(s);
        assert_eq!(
            parse(r#"{"type":"message","text":"yo"}"#).unwrap(),
            Command::Message { text: "yo".into() }
        );
        assert_eq!(
            parse(r#"{"type":"ban","name":"x"}"#).unwrap(),
            Command::Ban {
                name: "x".into(),
                ip: false
            }
        );
        assert_eq!(parse(r#"{"type":"unpin"}"#).unwrap(), Command::Unpin);
        assert_eq!(
            parse(r#"{"type":"settings","slow_mode_secs":5}"#).unwrap(),
            Command::Settings(SettingsPatch {
                slow_mode_secs: Some(5),
                ..Default::default()
            })
        );
        for bad in [
            r#"{"type":"shout","text":"x"}"#,
            r#"{"type":"message"}"#,
            r#"{"type":"message","text":5}"#,
            r#"{"text":"x"}"#,
            "not json",
            r#"{"type":"message","text":"x","extra":1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_frame_holds_one_event_per_line() {
        let a = Event::Viewers { count: 3 }.encode();
        let b = Event::Deleted { id: "m1" }.encode();
        let joined = frame([&a, &b]);
        let lines: Vec<&[u8]> = joined.split(|&c| c == b'\n').collect();
        assert_eq!(lines, vec![&a[..], &b[..]]);
        assert_eq!(frame([&a]), a);
    }
}
