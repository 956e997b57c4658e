//! The object stores unit tests run on: the filesystem in a temporary
//! directory and the S3 server that `./dev test` starts.

use storage::{AnyStore, FsStore, S3Config, S3Store};
use tempfile::TempDir;

/// One store per kind, named for assertion messages, and the directory of
/// the filesystem store (removed when dropped). The S3 bucket is shared by
/// every test: keep keys distinct (under a fresh asset id, say).
pub async fn stores() -> (Vec<(&'static str, AnyStore)>, TempDir) {
    let dir = TempDir::new().expect("a temporary directory");
    let fs = FsStore::open(dir.path().join("objects"))
        .await
        .expect("a filesystem store");
    let s3 = S3Store::new(s3_config()).await.expect("an S3 store");
    (vec![("fs", fs.into()), ("s3", s3.into())], dir)
}

fn s3_config() -> S3Config {
    let env = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is unset: run the tests through ./dev test, which starts an S3 server")
        })
    };
    // The credentials come from the SDK's chain: ./dev exports them.
    env("AWS_ACCESS_KEY_ID");
    let mut config = S3Config::new(env("TRIBUTARY_TEST_S3_BUCKET"));
    config.endpoint = Some(env("TRIBUTARY_TEST_S3_ENDPOINT"));
    config.region = env("TRIBUTARY_TEST_S3_REGION");
    config.path_style = true;
    config
}
