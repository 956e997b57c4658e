//! The chat's storage in the metadata database, and its view of the live
//! stream a room belongs to. Portable SQL (SQLite and PostgreSQL).

use std::net::IpAddr;
use std::sync::Arc;

use chat::history::{Entry, KEPT};
use chat::moderation::{Ban, Settings};
use chat::names::name_key;
use chat::{
    ChatMessage, LivePosition, Role, RoomEvent, RoomSnapshot, Store, StoreError, StoredMessage,
    User,
};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::db::{Db, timestamp};
use crate::live::LiveManager;

pub struct ChatStore {
    db: Db,
    live: Arc<LiveManager>,
}

impl ChatStore {
    pub fn new(db: Db, live: Arc<LiveManager>) -> ChatStore {
        ChatStore { db, live }
    }

    fn pool(&self) -> &AnyPool {
        self.db.pool()
    }
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Moderator => "moderator",
        Role::Broadcaster => "broadcaster",
    }
}

fn parse_role(text: &str) -> Role {
    match text {
        "moderator" => Role::Moderator,
        "broadcaster" => Role::Broadcaster,
        _ => Role::Viewer,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The columns `message_row` reads.
pub(crate) const MESSAGE_COLUMNS: &str =
    "id, broadcast_id, room_offset, user_name, user_role, body, sent_at, media_time, deleted_at";

/// A stored message: the message, its broadcast, and whether it was deleted.
pub(crate) fn message_row(row: &AnyRow) -> sqlx::Result<(ChatMessage, Option<String>, bool)> {
    let sent_at: String = row.try_get("sent_at")?;
    let media_time: Option<String> = row.try_get("media_time")?;
    let deleted_at: Option<String> = row.try_get("deleted_at")?;
    let role: String = row.try_get("user_role")?;
    let name: String = row.try_get("user_name")?;
    let offset: i64 = row.try_get("room_offset")?;
    let message = ChatMessage {
        id: row.try_get("id")?,
        user: User {
            name: name.into(),
            role: parse_role(&role),
        },
        text: row.try_get("body")?,
        sent_at: parse_time(&sent_at).unwrap_or_default(),
        media_time: media_time.as_deref().and_then(parse_time),
        offset: u64::try_from(offset).unwrap_or_default(),
    };
    Ok((message, row.try_get("broadcast_id")?, deleted_at.is_some()))
}

impl ChatStore {
    async fn load(&self, room: &str) -> sqlx::Result<RoomSnapshot> {
        let pool = self.pool();
        let settings_row =
            sqlx::query("SELECT settings, pinned_message_id FROM chat_rooms WHERE stream_id = $1")
                .bind(room)
                .fetch_optional(pool)
                .await?;
        let (settings, pinned_id) = match &settings_row {
            Some(row) => (
                row.try_get::<Option<String>, _>("settings")?,
                row.try_get::<Option<String>, _>("pinned_message_id")?,
            ),
            None => (None, None),
        };
        let settings: Option<Settings> = settings.and_then(|json| serde_json::from_str(&json).ok());
        let mut recent = Vec::new();
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE stream_id = $1 ORDER BY room_offset DESC LIMIT $2"
        ))
        .bind(room)
        .bind(KEPT as i64)
        .fetch_all(pool)
        .await?;
        for row in rows.iter().rev() {
            let (message, _, deleted) = message_row(row)?;
            recent.push(Entry { message, deleted });
        }
        let pinned = match pinned_id {
            Some(id) => self.find(room, &id).await?,
            None => None,
        };
        let now = timestamp(Utc::now());
        let bans = sqlx::query(
            "SELECT name, ip, until_at FROM chat_bans WHERE stream_id = $1 AND (until_at IS NULL OR until_at > $2)",
        )
        .bind(room)
        .bind(&now)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let ip: Option<String> = row.try_get("ip")?;
            let until: Option<String> = row.try_get("until_at")?;
            Ok(Ban {
                name: row.try_get("name")?,
                ip: ip.and_then(|ip| ip.parse().ok()),
                until: until.as_deref().and_then(parse_time),
            })
        })
        .collect::<sqlx::Result<Vec<Ban>>>()?;
        let broadcast = match self.live.stream(room) {
            Some(stream) => stream.open_broadcast_id(),
            None => {
                sqlx::query_scalar(
                    "SELECT id FROM broadcasts WHERE stream_id = $1 AND ended_at IS NULL ORDER BY started_at DESC LIMIT 1",
                )
                .bind(room)
                .fetch_optional(pool)
                .await?
            }
        };
        Ok(RoomSnapshot {
            settings,
            last_offset: recent.last().map_or(0, |e| e.message.offset),
            recent,
            pinned,
            bans,
            broadcast,
        })
    }

    async fn find(&self, room: &str, id: &str) -> sqlx::Result<Option<ChatMessage>> {
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE stream_id = $1 AND id = $2 AND deleted_at IS NULL"
        ))
        .bind(room)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|row| message_row(&row).map(|(message, _, _)| message))
        .transpose()
    }

    async fn save(&self, batch: &[StoredMessage]) -> sqlx::Result<()> {
        let mut tx = self.pool().begin().await?;
        for stored in batch {
            let m = &stored.message;
            sqlx::query(
                "INSERT INTO chat_messages (id, stream_id, broadcast_id, room_offset, user_name, user_role, body, sent_at, media_time, ip) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&m.id)
            .bind(&stored.room)
            .bind(&stored.broadcast_id)
            .bind(i64::try_from(m.offset).unwrap_or(i64::MAX))
            .bind(&*m.user.name)
            .bind(role_name(m.user.role))
            .bind(&m.text)
            .bind(timestamp(m.sent_at))
            .bind(m.media_time.map(timestamp))
            .bind(stored.ip.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    async fn record_event(
        &self,
        room: &str,
        actor: &User,
        event: &RoomEvent,
    ) -> sqlx::Result<bool> {
        let pool = self.pool();
        let now = timestamp(Utc::now());
        let (action, target, found) = match event {
            RoomEvent::Deleted { id } => {
                let done = sqlx::query(
                    "UPDATE chat_messages SET deleted_at = $1 WHERE stream_id = $2 AND id = $3 AND deleted_at IS NULL",
                )
                .bind(&now)
                .bind(room)
                .bind(id)
                .execute(pool)
                .await?;
                ("delete", Some(id.as_str()), done.rows_affected() == 1)
            }
            RoomEvent::TimedOut { name, until, ip } => {
                self.upsert_ban(room, name, *ip, Some(timestamp(*until)), &now)
                    .await?;
                ("timeout", Some(name.as_str()), true)
            }
            RoomEvent::Banned { name, ip } => {
                self.upsert_ban(room, name, *ip, None, &now).await?;
                ("ban", Some(name.as_str()), true)
            }
            RoomEvent::Unbanned { name } => {
                let done =
                    sqlx::query("DELETE FROM chat_bans WHERE stream_id = $1 AND name_key = $2")
                        .bind(room)
                        .bind(name_key(name))
                        .execute(pool)
                        .await?;
                ("unban", Some(name.as_str()), done.rows_affected() == 1)
            }
            RoomEvent::Pinned { message } => {
                let id = message.as_ref().map(|m| m.id.as_str());
                self.upsert_room(room, "pinned_message_id", id).await?;
                (if id.is_some() { "pin" } else { "unpin" }, id, true)
            }
            RoomEvent::Settings(settings) => {
                let json = serde_json::to_string(settings).unwrap_or_default();
                self.upsert_room(room, "settings", Some(&json)).await?;
                ("settings", None, true)
            }
            RoomEvent::Message(_)
            | RoomEvent::Stream { .. }
            | RoomEvent::ModeratorRevoked { .. } => {
                return Ok(true);
            }
        };
        if found {
            sqlx::query(
                "INSERT INTO chat_actions (id, stream_id, actor_name, actor_role, action, target, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(crate::ids::secret())
            .bind(room)
            .bind(&*actor.name)
            .bind(role_name(actor.role))
            .bind(action)
            .bind(target)
            .bind(serde_json::to_string(event).ok())
            .bind(&now)
            .execute(pool)
            .await?;
        }
        Ok(found)
    }

    async fn upsert_ban(
        &self,
        room: &str,
        name: &str,
        ip: Option<IpAddr>,
        until: Option<String>,
        now: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO chat_bans (stream_id, name_key, name, ip, until_at, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (stream_id, name_key) DO UPDATE SET name = $3, ip = $4, until_at = $5, created_at = $6",
        )
        .bind(room)
        .bind(name_key(name))
        .bind(name)
        .bind(ip.map(|ip| ip.to_string()))
        .bind(until)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets one column of the room's row (`column` is one of ours, never input).
    async fn upsert_room(
        &self,
        room: &str,
        column: &'static str,
        value: Option<&str>,
    ) -> sqlx::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO chat_rooms (stream_id, {column}) VALUES ($1, $2) \
             ON CONFLICT (stream_id) DO UPDATE SET {column} = $2"
        ))
        .bind(room)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl Store for ChatStore {
    async fn load_room(&self, room: &str) -> Result<RoomSnapshot, StoreError> {
        self.load(room).await.map_err(store_error)
    }

    async fn save_messages(&self, batch: Vec<StoredMessage>) -> Result<(), StoreError> {
        self.save(&batch).await.map_err(store_error)
    }

    async fn find_message(&self, room: &str, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        self.find(room, id).await.map_err(store_error)
    }

    async fn last_ip(&self, room: &str, name: &str) -> Result<Option<IpAddr>, StoreError> {
        let ip: Option<String> = sqlx::query_scalar(
            "SELECT ip FROM chat_messages WHERE stream_id = $1 AND LOWER(user_name) = $2 ORDER BY room_offset DESC LIMIT 1",
        )
        .bind(room)
        .bind(name_key(name))
        .fetch_optional(self.pool())
        .await
        .map_err(store_error)?;
        Ok(ip.and_then(|ip| ip.parse().ok()))
    }

    async fn record(
        &self,
        room: &str,
        actor: &User,
        event: &RoomEvent,
    ) -> Result<bool, StoreError> {
        self.record_event(room, actor, event)
            .await
            .map_err(store_error)
    }

    fn live_position(&self, room: &str) -> Option<LivePosition> {
        self.live.stream(room)?.live_position()
    }
}
