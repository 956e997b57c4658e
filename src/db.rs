//! Metadata: one pool over SQLite or PostgreSQL, migrations embedded in the
//! binary, and the queries the server runs. Every query here is portable SQL.

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

/// A stream: a title and the key that lets a publisher go live on it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    pub id: String,
    pub title: String,
    pub stream_key: String,
    pub created_at: String,
    /// The stream's own ladder settings (JSON); None for the server's defaults.
    pub ladder: Option<String>,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    postgres: bool,
}

impl Db {
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite:") { 1 } else { 10 })
            .connect(url)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running migrations")?;
        Ok(Db {
            pool,
            postgres: url.starts_with("postgres"),
        })
    }

    /// Whether this is PostgreSQL (for the few statements SQLite lacks).
    pub(crate) fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// The pool, for the queries that live beside their feature (chat).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn create_stream(&self, row: &StreamRow) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO streams (id, title, stream_key, created_at, ladder) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.id)
        .bind(&row.title)
        .bind(&row.stream_key)
        .bind(&row.created_at)
        .bind(&row.ladder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn streams(&self) -> sqlx::Result<Vec<StreamRow>> {
        sqlx::query(
            "SELECT id, title, stream_key, created_at, ladder FROM streams ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(stream_row)
        .collect()
    }

    pub async fn stream(&self, id: &str) -> sqlx::Result<Option<StreamRow>> {
        sqlx::query("SELECT id, title, stream_key, created_at, ladder FROM streams WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(stream_row)
            .transpose()
    }

    pub async fn stream_by_key(&self, key: &str) -> sqlx::Result<Option<StreamRow>> {
        sqlx::query(
            "SELECT id, title, stream_key, created_at, ladder FROM streams WHERE stream_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(stream_row)
        .transpose()
    }

    /// Returns false when no such stream exists.
    pub async fn set_stream_key(&self, id: &str, key: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE streams SET stream_key = $1 WHERE id = $2")
            .bind(key)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Returns false when no such stream exists.
    pub async fn set_title(&self, id: &str, title: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE streams SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Returns false when no such stream exists.
    pub async fn set_ladder(&self, id: &str, ladder: Option<&str>) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE streams SET ladder = $1 WHERE id = $2")
            .bind(ladder)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Returns false when no such stream exists.
    pub async fn delete_stream(&self, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM streams WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The one text form of instants stored in the database (sorts as time does).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn stream_row(row: &AnyRow) -> sqlx::Result<StreamRow> {
    Ok(StreamRow {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        stream_key: row.try_get("stream_key")?,
        created_at: row.try_get("created_at")?,
        ladder: row.try_get("ladder")?,
    })
}

/// Drops the password from a database URL before it goes into a message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_db::databases;

    fn row(id: &str, key: &str) -> StreamRow {
        StreamRow {
            id: id.into(),
            title: format!("show {id}"),
            stream_key: key.into(),
            created_at: timestamp(Utc::now()),
            ladder: None,
        }
    }

    #[tokio::test]
    async fn streams_round_trip() {
        for (kind, db) in databases().await {
            let mut own = row("c", "kc");
            own.ladder = Some(r#"{"transcode":false}"#.into());
            db.create_stream(&row("a", "ka")).await.unwrap();
            db.create_stream(&row("b", "kb")).await.unwrap();
            db.create_stream(&own).await.unwrap();
            assert_eq!(db.streams().await.unwrap().len(), 3, "{kind}");
            assert_eq!(db.stream("c").await.unwrap(), Some(own), "{kind}");
            assert_eq!(
                db.stream_by_key("kb").await.unwrap().unwrap().id,
                "b",
                "{kind}"
            );
            assert!(db.set_stream_key("a", "ka2").await.unwrap(), "{kind}");
            assert!(db.set_ladder("a", Some("{}")).await.unwrap(), "{kind}");
            assert_eq!(
                db.stream("a").await.unwrap().unwrap().ladder.as_deref(),
                Some("{}"),
                "{kind}"
            );
            assert!(db.set_ladder("a", None).await.unwrap(), "{kind}");
            assert_eq!(
                db.stream("a").await.unwrap().unwrap().ladder,
                None,
                "{kind}"
            );
            assert!(db.set_title("a", "renamed").await.unwrap(), "{kind}");
            assert_eq!(
                db.stream("a").await.unwrap().unwrap().title,
                "renamed",
                "{kind}"
            );
            assert!(db.stream_by_key("ka").await.unwrap().is_none(), "{kind}");
            assert!(db.delete_stream("a").await.unwrap(), "{kind}");
            assert!(!db.delete_stream("a").await.unwrap(), "{kind}");
            assert!(db.stream("a").await.unwrap().is_none(), "{kind}");
            assert!(!db.set_title("a", "gone").await.unwrap(), "{kind}");
        }
    }

    #[tokio::test]
    async fn stream_keys_are_unique() {
        for (kind, db) in databases().await {
            db.create_stream(&row("a", "same")).await.unwrap();
            assert!(db.create_stream(&row("b", "same")).await.is_err(), "{kind}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://…@host/db"
        );
        assert_eq!(redact("sqlite://data/t.db"), "sqlite://data/t.db");
    }
}
