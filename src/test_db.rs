//! The databases unit tests run on: SQLite in memory and a fresh database on
//! the PostgreSQL that `./dev test` starts.

use sqlx::{Connection, Executor, PgConnection};

use crate::db::Db;

/// The server `./dev test` starts, as a URL.
const POSTGRES_ENV: &str = "TRIBUTARY_TEST_POSTGRES";

/// One migrated, empty Db per kind, named for assertion messages.
pub async fn databases() -> Vec<(&'static str, Db)> {
    let postgres = fresh_postgres_database().await;
    vec![
        ("sqlite", Db::connect("sqlite::memory:").await.unwrap()),
        ("postgres", Db::connect(&postgres).await.unwrap()),
    ]
}

/// Creates a uniquely named database on the test server; returns its URL.
async fn fresh_postgres_database() -> String {
    let server = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!("{POSTGRES_ENV} is unset: run the tests through ./dev test, which starts PostgreSQL")
    });
    let name = format!(
        "tributary_test_{}_{}",
        std::process::id(),
        rand::random::<u64>()
    );
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("connecting to {server}: {e}"));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut url = reqwest::Url::parse(&server).unwrap();
    url.set_path(&name);
    url.into()
}
