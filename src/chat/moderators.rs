//! Moderator tokens: issued per stream by the admin, kept only as hashes.

use chrono::Utc;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Db, timestamp};

#[derive(Debug, Clone, Serialize)]
pub struct Moderator {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

fn hash(token: &str) -> String {
    crate::ids::hex(&Sha256::digest(token.as_bytes()))
}

fn moderator_row(row: &AnyRow) -> sqlx::Result<Moderator> {
    Ok(Moderator {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Issues a token for `name` on a stream; the token is returned only here.
pub async fn create(db: &Db, stream_id: &str, name: &str) -> sqlx::Result<(Moderator, String)> {
    let token = crate::ids::secret();
    let moderator = Moderator {
        id: crate::ids::secret(),
        name: name.to_owned(),
        created_at: timestamp(Utc::now()),
    };
    sqlx::query(
        "INSERT INTO moderators (id, stream_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&moderator.id)
    .bind(stream_id)
    .bind(name)
    .bind(hash(&token))
    .bind(&moderator.created_at)
    .execute(db.pool())
    .await?;
    Ok((moderator, token))
}

pub async fn list(db: &Db, stream_id: &str) -> sqlx::Result<Vec<Moderator>> {
    sqlx::query(
        "SELECT id, name, created_at FROM moderators WHERE stream_id = $1 ORDER BY created_at, id",
    )
    .bind(stream_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(moderator_row)
    .collect()
}

/// Returns false when the stream has no such moderator.
pub async fn revoke(db: &Db, stream_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM moderators WHERE stream_id = $1 AND id = $2")
        .bind(stream_id)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The moderator of this stream that `token` belongs to.
pub async fn by_token(db: &Db, stream_id: &str, token: &str) -> sqlx::Result<Option<Moderator>> {
    sqlx::query(
        "SELECT id, name, created_at FROM moderators WHERE stream_id = $1 AND token_hash = $2",
    )
    .bind(stream_id)
    .bind(hash(token))
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(moderator_row)
    .transpose()
}
