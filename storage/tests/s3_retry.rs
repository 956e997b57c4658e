//! The S3 store retries, with backoff, what a server fails with a 5xx. The
//! test S3 server never fails on its own, so a proxy in front of it answers
//! the first requests with 503 itself (the one fault made up here).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{data, read};
use storage::{Body, ObjectStore, S3Config, S3Store, StorageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Attempts the store makes per request, the first included.
const MAX_ATTEMPTS: usize = 5;

/// A proxy to the test S3 server whose first `failures` connections get a
/// 503 instead; returns its store and the count of requests it failed.
async fn flaky_store(failures: usize) -> (S3Store, Arc<AtomicUsize>) {
    let config = common::s3_config();
    let upstream = config
        .endpoint
        .as_deref()
        .and_then(|endpoint| endpoint.strip_prefix("http://"))
        .expect("an http:// endpoint")
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let failed = Arc::new(AtomicUsize::new(0));
    let counter = failed.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let fail = counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < failures).then_some(n + 1)
                })
                .is_ok();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if fail {
                    answer_503(&mut client).await;
                } else if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    let store = S3Store::new(S3Config {
        endpoint: Some(format!("http://{address}")),
        ..config
    })
    .await
    .unwrap();
    (store, failed)
}

/// Reads one request whole (so that closing does not reset the connection
/// under the client) and answers 503 as S3 does.
async fn answer_503(client: &mut TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let Ok(n) = client.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let body_len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse().ok())
        .unwrap_or(0);
    let mut received = request.len() - head_end;
    while received < body_len {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => received += n,
        }
    }
    let body = "<Error><Code>ServiceUnavailable</Code><Message>try again</Message></Error>";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(answer.as_bytes()).await;
    let _ = client.shutdown().await;
}

#[tokio::test]
async fn requests_are_retried_after_a_503() {
    let (store, failed) = flaky_store(2).await;
    let key = format!("retry-{:016x}/object", rand::random::<u64>());
    let bytes = data(100_000, 30);
    store.put(&key, Body::from(bytes.clone())).await.unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 2);
    assert_eq!(read(&store, &key, None).await, bytes);
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn parts_from_files_are_retried() {
    let store = common::s3_store().await;
    let dir = tempfile::TempDir::new().unwrap();
    let key = format!("retry-{:016x}/multipart", rand::random::<u64>());
    let bytes = data(6 * 1024 * 1024, 31);
    let path = dir.path().join("part");
    std::fs::write(&path, &bytes).unwrap();
    let id = store.create_upload(&key).await.unwrap();
    // Only the part's upload meets the failures.
    let (flaky, failed) = flaky_store(3).await;
    let part = flaky
        .upload_part(&key, &id, 1, Body::from_file(&path).await.unwrap())
        .await
        .unwrap();
    assert_eq!(failed.load(Ordering::SeqCst), 3);
    store.complete_upload(&key, &id, &[part]).await.unwrap();
    assert!(read(&store, &key, None).await == bytes);
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_given_up_on() {
    let (store, failed) = flaky_store(usize::MAX).await;
    let err = store
        .put("retry/never", Body::from(&b"x"[..]))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::S3 { .. }), "{err}");
    assert_eq!(failed.load(Ordering::SeqCst), MAX_ATTEMPTS);
}
