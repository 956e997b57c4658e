//! `GET /api/v1/videos/{id}/chat`: a replay's chat, each message placed at
//! the moment of the replay it was said at (the live edge's program date
//! time then, through the replay's timeline). Public, like the live chat:
//! the replay's watch page reads it. Deleted messages are left out, and so
//! is every message of a user banned during the broadcast.

use std::collections::HashSet;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat::names::name_key;
use chat::{ChatMessage, User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tracing::error;

use super::plan::{self, AUDIO, SOURCE, Span};
use super::{rows, timeline};
use crate::api::{ApiError, ApiState};
use crate::chat::{MESSAGE_COLUMNS, message_row};
use crate::db::{Db, timestamp};
use crate::vod::{renditions, videos};

/// Most messages in one answer.
const PAGE: usize = 1000;
/// A replay's chat changes only when a moderator deletes a message.
const CACHE: &str = "public, max-age=10";

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/videos/{id}/chat", get(replay_chat))
}

/// Where the chat of replay `video_id` is read.
pub fn path(video_id: &str) -> String {
    format!("/api/v1/videos/{video_id}/chat")
}

/// The query string, as text: every bad value gets its own message.
#[derive(Deserialize)]
struct ChatQuery {
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

/// Which messages an answer holds: positions in `[from, to)`; at `from`,
/// only those after room offset `after` (when a page ended between
/// messages placed at one moment).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    from: f64,
    to: f64,
    after: Option<u64>,
}

impl Window {
    fn parse(query: &ChatQuery) -> Result<Window, String> {
        let from = seconds("from", query.from.as_deref())?.unwrap_or(0.0);
        let to = seconds("to", query.to.as_deref())?.unwrap_or(f64::INFINITY);
        if to < from {
            return Err("to must not be before from".into());
        }
        let after = query
            .after
            .as_deref()
            .map(|text| text.trim().parse::<u64>())
            .transpose()
            .map_err(|_| "after must be a whole number (a page's next_after)")?;
        Ok(Window { from, to, after })
    }

    fn holds(&self, position: f64, offset: u64) -> bool {
        (self.from..self.to).contains(&position)
            && !(position == self.from && self.after.is_some_and(|after| offset <= after))
    }
}

fn seconds(name: &str, text: Option<&str>) -> Result<Option<f64>, String> {
    let Some(text) = text else { return Ok(None) };
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(Some(secs)),
        _ => Err(format!(
            "{name} must be a number of seconds into the video, 0 or more"
        )),
    }
}

/// A message as the replay shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct ReplayMessage {
    id: String,
    user: User,
    text: String,
    #[serde(with = "chat::protocol::millis")]
    sent_at: DateTime<Utc>,
    /// Seconds into the replay.
    position: f64,
    /// The room's sequence number: orders messages placed at one moment.
    #[serde(skip)]
    offset: u64,
}

/// One answer. When more messages follow, ask again with `from` =
/// `next_from` (and `after` = `next_after` when it is set).
#[derive(Debug, PartialEq, Serialize)]
struct Page {
    messages: Vec<ReplayMessage>,
    next_from: Option<f64>,
    next_after: Option<u64>,
}

/// Places `said` (the broadcast's messages, none deleted) in the replay
/// whose timeline is `spans`: leaves out those of `banned` users (name
/// keys), those outside `window` and those said after the replay ends; in
/// order of position, at most [`PAGE`].
fn page(said: Vec<ChatMessage>, spans: &[Span], banned: &HashSet<String>, window: Window) -> Page {
    let mut placed: Vec<ReplayMessage> = said
        .into_iter()
        .filter(|m| !banned.contains(&name_key(&m.user.name)))
        .filter_map(|m| {
            // Said before the live edge had a time: where its clock time falls.
            let moment = m.media_time.unwrap_or(m.sent_at).timestamp_millis();
            let position = whole_millis(plan::position(spans, moment)?);
            window.holds(position, m.offset).then_some(ReplayMessage {
                id: m.id,
                user: m.user,
                text: m.text,
                sent_at: m.sent_at,
                position,
                offset: m.offset,
            })
        })
        .collect();
    placed.sort_by(|a, b| {
        a.position
            .total_cmp(&b.position)
            .then(a.offset.cmp(&b.offset))
    });
    let (next_from, next_after) = match (placed.get(PAGE - 1), placed.get(PAGE)) {
        (Some(last), Some(next)) => (
            Some(next.position),
            (last.position == next.position).then_some(last.offset),
        ),
        _ => (None, None),
    };
    placed.truncate(PAGE);
    Page {
        messages: placed,
        next_from,
        next_after,
    }
}

/// Seconds rounded to the millisecond: one number for a message in every
/// answer, so a `next_from` sent back matches it exactly.
fn whole_millis(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}

async fn replay_chat(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    query: Result<Query<ChatQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let window = Window::parse(&query).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let no_replay = || ApiError::new(StatusCode::NOT_FOUND, "no such replay");
    let broadcast_id = match videos::find(&state.db, &id).await? {
        Some(video) if video.origin == videos::ORIGIN_LIVE => video.broadcast_id,
        _ => None,
    }
    .ok_or_else(no_replay)?;
    let banned = banned_during(&state.db, &broadcast_id)
        .await?
        .ok_or_else(no_replay)?;
    let spans = replay_spans(&state.db, &id, &broadcast_id).await?;
    let said = said_during(&state.db, &broadcast_id, said_between(&spans, window)).await?;
    let page = page(said, &spans, &banned, window);
    Ok(([(header::CACHE_CONTROL, CACHE)], Json(page)).into_response())
}

/// The replay's timeline: its `source` rendition's, else its `audio`'s
/// (the one its plan timed it by); the rows of that rendition only.
async fn replay_spans(db: &Db, video_id: &str, broadcast_id: &str) -> Result<Vec<Span>, ApiError> {
    for name in [SOURCE, AUDIO] {
        if let Some(record) = renditions::record(db, video_id, name).await? {
            let pdts = rows::program_times(db, broadcast_id, name).await?;
            return timeline::spans_of(&record, &pdts).map_err(|e| {
                error!(video = video_id, "replay timeline: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the replay's timeline could not be read",
                )
            });
        }
    }
    Ok(Vec::new())
}

/// The name keys of users banned while broadcast `id` went on; `None` when
/// there is no such broadcast.
async fn banned_during(db: &Db, id: &str) -> sqlx::Result<Option<HashSet<String>>> {
    let Some(broadcast) =
        sqlx::query("SELECT stream_id, started_at, ended_at FROM broadcasts WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?
    else {
        return Ok(None);
    };
    let stream_id: String = broadcast.try_get("stream_id")?;
    let started_at: String = broadcast.try_get("started_at")?;
    let ended_at: Option<String> = broadcast.try_get("ended_at")?;
    // Both are `db::timestamp` text, which orders as time does.
    let targets: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT target FROM chat_actions WHERE stream_id = $1 AND action = 'ban' \
         AND created_at >= $2 AND created_at <= $3",
    )
    .bind(&stream_id)
    .bind(&started_at)
    .bind(ended_at.unwrap_or_else(|| timestamp(Utc::now())))
    .fetch_all(db.pool())
    .await?;
    Ok(Some(
        targets.iter().flatten().map(|n| name_key(n)).collect(),
    ))
}

/// Program date times (unix ms) between which every message `window`
/// holds was said, and maybe a few more: from the end of the span before
/// the one playing at `from` (messages said while the publisher was away
/// show where it came back) to the start of the span after the one playing
/// at `to`. None is open.
fn said_between(spans: &[Span], window: Window) -> (Option<i64>, Option<i64>) {
    let span_end = |s: &Span| s.pdt_ms + (s.duration * 1000.0).ceil() as i64;
    let playing = |at: f64| spans.partition_point(|s| s.position + s.duration <= at);
    let first = playing(window.from);
    let last = playing(window.to);
    let from = first
        .checked_sub(1)
        .and_then(|i| spans.get(i))
        .map(span_end);
    let to = spans.get(last + 1).map(|s| s.pdt_ms);
    (from, to)
}

/// The messages said during broadcast `id` that were not deleted, said
/// (by the live edge's clock, else their own) between `moments`.
async fn said_during(
    db: &Db,
    id: &str,
    moments: (Option<i64>, Option<i64>),
) -> sqlx::Result<Vec<ChatMessage>> {
    let text = |ms: Option<i64>| ms.and_then(DateTime::from_timestamp_millis).map(timestamp);
    // `db::timestamp` text orders as time does; open bounds are the extremes.
    let from = text(moments.0).unwrap_or_default();
    let to = text(moments.1).unwrap_or_else(|| "~".to_owned());
    sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE broadcast_id = $1 AND deleted_at IS NULL \
         AND COALESCE(media_time, sent_at) >= $2 AND COALESCE(media_time, sent_at) < $3"
    ))
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| message_row(row).map(|(message, _, _)| message))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat::Role;

    /// Two 10 s publishes: live from 1 000 000 ms, then from 1 030 000 ms.
    fn spans() -> Vec<Span> {
        vec![
            Span {
                position: 0.0,
                duration: 10.0,
                pdt_ms: 1_000_000,
            },
            Span {
                position: 10.0,
                duration: 10.0,
                pdt_ms: 1_030_000,
            },
        ]
    }

    fn said(offset: u64, name: &str, media_ms: Option<i64>) -> ChatMessage {
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        ChatMessage {
            id: format!("m{offset}"),
            user: User {
                name: name.into(),
                role: Role::Viewer,
            },
            text: format!("message {offset}"),
            sent_at: at(media_ms.unwrap_or(999_000) + 2000),
            media_time: media_ms.map(at),
            offset,
        }
    }

    fn window(from: f64, to: f64, after: Option<u64>) -> Window {
        Window { from, to, after }
    }

    const ALL: Window = Window {
        from: 0.0,
        to: f64::INFINITY,
        after: None,
    };

    fn placed(page: &Page) -> Vec<(u64, f64)> {
        page.messages
            .iter()
            .map(|m| (m.offset, m.position))
            .collect()
    }

    #[test]
    fn a_window_reads_the_messages_said_around_its_spans() {
        // Two 10 s publishes, 20 s apart; positions 0-10 and 10-20.
        assert_eq!(said_between(&spans(), ALL), (None, None));
        assert_eq!(
            said_between(&spans(), window(2.0, 5.0, None)),
            (None, Some(1_030_000))
        );
        // From inside the second publish: from the end of the first (said
        // while away shows at 10 s).
        assert_eq!(
            said_between(&spans(), window(12.0, 30.0, None)),
            (Some(1_010_000), None)
        );
        assert_eq!(
            said_between(&spans(), window(10.0, 11.0, None)),
            (Some(1_010_000), None)
        );
    }

    #[test]
    fn messages_show_where_they_were_said_in_order() {
        let messages = vec![
            said(4, "ada", Some(1_031_500)),
            said(1, "ada", Some(1_002_250)),
            // While the publisher was away: at the start of the second publish.
            said(2, "bob", Some(1_020_000)),
            // Before the stream had a time: by its clock (999 s + 2 s).
            said(3, "cy", None),
            // After the end.
            said(5, "ada", Some(1_041_000)),
        ];
        let page = page(messages, &spans(), &HashSet::new(), ALL);
        assert_eq!(
            placed(&page),
            [(3, 1.0), (1, 2.25), (2, 10.0), (4, 11.5)],
            "{page:?}"
        );
        assert_eq!((page.next_from, page.next_after), (None, None));
        let json = serde_json::to_value(&page.messages[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "m3", "user": {"name": "cy", "role": "viewer"}, "text": "message 3",
                "sent_at": "1970-01-01T00:16:41.000Z", "position": 1.0,
            })
        );
    }

    #[test]
    fn banned_users_and_messages_outside_the_window_are_left_out() {
        let messages = || {
            vec![
                said(1, "Troll", Some(1_001_000)),
                said(2, "ada", Some(1_002_000)),
                said(3, "ada", Some(1_005_000)),
                said(4, "bob", Some(1_031_000)),
            ]
        };
        let banned = HashSet::from([name_key("troll")]);
        let page = page(messages(), &spans(), &banned, ALL);
        assert_eq!(placed(&page), [(2, 2.0), (3, 5.0), (4, 11.0)]);
        let window = window(2.0, 11.0, None);
        let page = super::page(messages(), &spans(), &HashSet::new(), window);
        assert_eq!(placed(&page), [(2, 2.0), (3, 5.0)], "from included, to not");
    }

    #[test]
    fn a_long_chat_comes_in_pages_that_never_split_a_moment() {
        // 1500 messages, three per millisecond from 1 s in.
        let messages = || {
            (0..1500u64)
                .map(|i| said(i, "ada", Some(1_001_000 + (i / 3) as i64)))
                .collect::<Vec<_>>()
        };
        let first = page(messages(), &spans(), &HashSet::new(), ALL);
        assert_eq!(first.messages.len(), PAGE);
        // Message 1000 shares its millisecond with 999 (and 1001).
        assert_eq!(
            (first.next_from, first.next_after),
            (Some(1.333), Some(999))
        );
        let rest = page(
            messages(),
            &spans(),
            &HashSet::new(),
            window(1.333, f64::INFINITY, first.next_after),
        );
        assert_eq!(rest.messages.len(), 500);
        assert_eq!(rest.messages[0].offset, 1000);
        assert_eq!((rest.next_from, rest.next_after), (None, None));
    }

    #[test]
    fn bad_windows_are_refused_with_a_reason() {
        let query = |from: &str, to: &str, after: &str| {
            let text = |t: &str| (!t.is_empty()).then(|| t.to_owned());
            Window::parse(&ChatQuery {
                from: text(from),
                to: text(to),
                after: text(after),
            })
        };
        assert_eq!(query("", "", ""), Ok(ALL));
        assert_eq!(query("1.5", "3", "7"), Ok(window(1.5, 3.0, Some(7))));
        for (from, to, after) in [
            ("-1", "", ""),
            ("NaN", "", ""),
            ("inf", "", ""),
            ("ten", "", ""),
            ("", "-0.5", ""),
            ("5", "4", ""),
            ("", "", "-1"),
            ("", "", "x"),
        ] {
            let refused = query(from, to, after);
            assert!(refused.is_err(), "{from} {to} {after}: {refused:?}");
        }
        assert!(query("5", "4", "").unwrap_err().contains("before"));
        assert!(query("x", "", "").unwrap_err().starts_with("from "));
    }
}
