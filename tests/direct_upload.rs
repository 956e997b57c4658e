//! Direct uploads to S3 end to end: the real binary on the test S3 server
//! hands out presigned part URLs, this test PUTs the bytes straight to the
//! bucket with a plain HTTP client, and `complete` makes the asset.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use storage::{ObjectStore, S3Config, S3Store, StorageError};

use support::{Server, TOKEN, TempDir, bytes, hex};

const MIB: usize = 1024 * 1024;

/// A server on S3 with 5 MiB parts (S3's least), so that a test file of a
/// few MiB makes several parts, and no job workers; `extra` flags after the
/// S3 ones.
async fn s3_server(extra: &[&str]) -> (Server, TempDir) {
    s3_server_on(support::s3_flags(), extra).await
}

async fn s3_server_on(flags: Vec<String>, extra: &[&str]) -> (Server, TempDir) {
    let config = TempDir::new("direct-config");
    let path = config.0.join("tributary.toml");
    std::fs::write(&path, "[storage]\npart_size_mib = 5\n").unwrap();
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // No workers: the probe stays queued and the asset as `complete` made it.
    flags.extend(["--workers", "0", "--config", path.to_str().unwrap()]);
    flags.extend(extra);
    (Server::start(&flags).await, config)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is unset: run through ./dev test"))
}

/// The test S3 server's bucket, as the server under test sees it.
async fn test_store() -> S3Store {
    store_at(
        env("TRIBUTARY_TEST_S3_ENDPOINT"),
        env("TRIBUTARY_TEST_S3_BUCKET"),
    )
    .await
}

async fn store_at(endpoint: String, bucket: String) -> S3Store {
    let mut config = S3Config::new(bucket);
    config.endpoint = Some(endpoint);
    config.region = env("TRIBUTARY_TEST_S3_REGION");
    config.path_style = true;
    S3Store::new(config).await.unwrap()
}

async fn read_all(store: &S3Store, key: &str) -> Vec<u8> {
    let mut body = store.get(key, None).await.expect("the stored source").body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn create_direct(server: &Server, body: Value) -> (u16, Value) {
    server.api(Method::POST, "/api/v1/videos", Some(body)).await
}

/// A direct upload of `size` bytes, created and checked: the asset's id
/// and its `direct_upload`.
async fn new_direct_upload(server: &Server, size: usize) -> (String, Value) {
    let (status, video) = create_direct(
        server,
        json!({ "title": "Direct", "direct": true, "size": size }),
    )
    .await;
    assert_eq!(status, 201, "{video}");
    assert_eq!(video["status"], "awaiting_upload");
    assert!(video.get("upload_url").is_none(), "no tus URL: {video}");
    let id = video["id"].as_str().unwrap().to_owned();
    (id, video["direct_upload"].clone())
}

/// The upload id S3 gave the multipart upload, as the part URLs carry it.
fn store_upload_id(direct: &Value) -> String {
    let url = reqwest::Url::parse(direct["parts"][0]["url"].as_str().unwrap()).unwrap();
    url.query_pairs()
        .find(|(name, _)| name == "uploadId")
        .map(|(_, value)| value.into_owned())
        .expect("uploadId in a part URL")
}

fn part_url(direct: &Value, number: usize) -> String {
    direct["parts"][number - 1]["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// PUTs `body` to part `number`'s URL; returns its ETag.
async fn put_part(direct: &Value, number: usize, body: Vec<u8>) -> String {
    let response = reqwest::Client::new()
        .put(part_url(direct, number))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "PUT part {number}");
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// PUTs every part of `data` at once, the last first; returns the
/// `parts` of a completion, by number.
async fn put_all(direct: &Value, data: &[u8]) -> Vec<Value> {
    let part_size = direct["part_size"].as_u64().unwrap() as usize;
    let mut puts = Vec::new();
    for (index, chunk) in data.chunks(part_size).enumerate().rev() {
        let (direct, chunk) = (direct.clone(), chunk.to_vec());
        puts.push(tokio::spawn(async move {
            let etag = put_part(&direct, index + 1, chunk).await;
            json!({ "number": index + 1, "etag": etag })
        }));
    }
    let mut parts = Vec::new();
    for put in puts {
        parts.push(put.await.unwrap());
    }
    parts.reverse();
    parts
}

async fn complete(server: &Server, id: &str, parts: &[Value]) -> (u16, Value) {
    server
        .api(
            Method::POST,
            &format!("/api/v1/videos/{id}/complete"),
            Some(json!({ "parts": parts })),
        )
        .await
}

/// Each test named here runs on the server's SQLite and on PostgreSQL.
macro_rules! on_sqlite_and_postgres {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                super::$test(&[]).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let url = super::support::postgres_url().await;
                super::$test(&["--database-url", &url]).await;
            })*
        }
    };
}

on_sqlite_and_postgres!(
    parts_put_straight_to_the_bucket_make_the_asset,
    deleting_the_asset_aborts_its_upload,
);

async fn parts_put_straight_to_the_bucket_make_the_asset(extra: &[&str]) {
    let (server, _config) = s3_server(extra).await;
    let data = bytes(12 * MIB + 345_679, 7);
    let (id, direct) = new_direct_upload(&server, data.len()).await;

    assert_eq!(direct["part_size"], 5 * MIB);
    let parts = direct["parts"].as_array().unwrap();
    let layout: Vec<(u64, u64)> = parts
        .iter()
        .map(|p| (p["number"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect();
    let (five, rest) = (5 * MIB as u64, 2 * MIB as u64 + 345_679);
    assert_eq!(layout, [(1, five), (2, five), (3, rest)]);
    // The bytes go to the bucket, not through the server.
    let endpoint = env("TRIBUTARY_TEST_S3_ENDPOINT");
    for part in parts {
        let url = part["url"].as_str().unwrap();
        assert!(url.starts_with(&endpoint), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
    }
    let expires = chrono::DateTime::parse_from_rfc3339(direct["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let lifetime = expires - chrono::Utc::now();
    assert!(
        lifetime > chrono::Duration::hours(23) && lifetime <= chrono::Duration::hours(24),
        "{lifetime}"
    );
    assert_eq!(
        direct["complete_url"],
        server.url(&format!("/api/v1/videos/{id}/complete"))
    );

    let completed = put_all(&direct, &data).await;
    assert_eq!(server.video(&id).await["status"], "awaiting_upload");

    let (status, video) = complete(&server, &id, &completed).await;
    assert_eq!(status, 200, "{video}");
    assert_eq!(video["id"], id);
    // Uploaded, and its probe queued as after a tus upload (no worker runs it).
    assert_eq!(video["status"], "queued", "{video}");
    assert_eq!(video["source"]["size"], data.len());
    assert_eq!(video["source"]["sha256"], hex(&Sha256::digest(&data)));
    assert_eq!(server.video(&id).await["source"], video["source"]);
    let store = test_store().await;
    assert!(read_all(&store, &format!("videos/{id}/source")).await == data);

    let (status, again) = complete(&server, &id, &completed).await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again["error"].as_str().unwrap().contains("source already"),
        "{again}"
    );
}

async fn deleting_the_asset_aborts_its_upload(extra: &[&str]) {
    let (server, _config) = s3_server(extra).await;
    let data = bytes(6 * MIB, 8);
    let (id, direct) = new_direct_upload(&server, data.len()).await;
    put_part(&direct, 1, data[..5 * MIB].to_vec()).await;
    let store = test_store().await;
    let key = format!("videos/{id}/source");
    let upload_id = store_upload_id(&direct);
    let listed = store.list_parts(&key, &upload_id).await.unwrap();
    assert_eq!(listed.len(), 1);

    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_upload_aborted(&store, &key, &upload_id, &direct).await;
    assert!(
        store
            .list(&format!("videos/{id}/"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The multipart upload is over: no part listed, none taken.
async fn assert_upload_aborted(store: &S3Store, key: &str, upload_id: &str, direct: &Value) {
    match store.list_parts(key, upload_id).await {
        // S3 forgets an aborted upload; s3s-fs lists no parts for it.
        Err(StorageError::UploadNotFound { .. }) => {}
        Ok(parts) => assert!(parts.is_empty(), "{parts:?}"),
        Err(e) => panic!("listing the parts: {e}"),
    }
    let late = reqwest::Client::new()
        .put(part_url(direct, 2))
        .body(vec![1; 1000])
        .send()
        .await
        .unwrap();
    assert!(late.status().is_client_error(), "{}", late.status());
}

#[tokio::test]
async fn the_part_list_is_checked_before_anything_changes() {
    let (server, _config) = s3_server(&[]).await;
    let data = bytes(11 * MIB, 9);
    let (id, direct) = new_direct_upload(&server, data.len()).await;
    assert_eq!(direct["parts"].as_array().unwrap().len(), 3);
    let etag1 = put_part(&direct, 1, data[..5 * MIB].to_vec()).await;
    let etag3 = put_part(&direct, 3, data[10 * MIB..].to_vec()).await;
    // Part 2 with a byte too few.
    let short = put_part(&direct, 2, data[5 * MIB..10 * MIB - 1].to_vec()).await;
    let part = |number: usize, etag: &str| json!({ "number": number, "etag": etag });

    for (parts, says) in [
        (vec![part(1, &etag1), part(3, &etag3)], "part 2 is missing"),
        (
            vec![
                part(1, &etag1),
                part(2, &short),
                part(3, &etag3),
                part(4, "x"),
            ],
            "part 4 is not in this upload",
        ),
        (
            vec![
                part(1, &etag1),
                part(2, &short),
                part(2, &short),
                part(3, &etag3),
            ],
            "part 2 is listed twice",
        ),
        (
            vec![
                part(0, "x"),
                part(1, &etag1),
                part(2, &short),
                part(3, &etag3),
            ],
            "part 0 is not in this upload",
        ),
        (vec![], "part 1 is missing"),
        (
            vec![part(1, &etag1), part(2, ""), part(3, &etag3)],
            "part 2 has no etag",
        ),
        (
            vec![part(1, &etag1), part(2, &short), part(3, &etag3)],
            "part 2 holds 5242879 bytes, not 5242880",
        ),
    ] {
        let (status, body) = complete(&server, &id, &parts).await;
        assert_eq!(status, 400, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{error:?} should say {says:?}");
        assert_eq!(server.video(&id).await["status"], "awaiting_upload");
    }
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/api/v1/videos/{id}/complete"),
            Some(json!({ "parts": [{ "number": 1 }] })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The upload is still open: the client PUTs part 2 again and completes.
    let etag2 = put_part(&direct, 2, data[5 * MIB..10 * MIB].to_vec()).await;
    // ETags without their quotes, as a client may send them.
    let parts = [
        part(3, etag3.trim_matches('"')),
        part(1, &etag1),
        part(2, &etag2),
    ];
    let (status, video) = complete(&server, &id, &parts).await;
    assert_eq!(status, 200, "{video}");
    assert_eq!(video["source"]["sha256"], hex(&Sha256::digest(&data)));
    assert!(read_all(&test_store().await, &format!("videos/{id}/source")).await == data);
}

#[tokio::test]
async fn bad_creations_and_completions_get_clear_errors() {
    let (server, _config) = s3_server(&["--max-upload-bytes", "20000000"]).await;
    let cases = [
        (json!({ "title": "t", "direct": true }), 422, "size"),
        (
            json!({ "title": "t", "direct": true, "size": 0 }),
            422,
            "at least 1 byte",
        ),
        (
            json!({ "title": "t", "direct": true, "size": 20_000_001 }),
            413,
            "at most 20000000 bytes",
        ),
        (json!({ "title": "t", "size": 10 }), 422, "\"direct\": true"),
        (
            json!({ "title": "", "direct": true, "size": 10 }),
            422,
            "title",
        ),
        (
            json!({ "title": "t", "direct": "yes", "size": 10 }),
            422,
            "direct",
        ),
    ];
    for (body, status, says) in cases {
        let (got, answer) = create_direct(&server, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(says),
            "{body}: {error:?} should say {says:?}"
        );
    }
    let (_, listed) = server.api(Method::GET, "/api/v1/videos", None).await;
    assert_eq!(
        listed["videos"],
        json!([]),
        "no asset made by a refused request"
    );

    // The largest allowed size is taken.
    let (status, video) = create_direct(
        &server,
        json!({ "title": "t", "direct": true, "size": 20_000_000 }),
    )
    .await;
    assert_eq!(status, 201, "{video}");
    let id = video["id"].as_str().unwrap();

    let anonymous = server.client.post(server.url("/api/v1/videos"));
    let anonymous = anonymous
        .json(&json!({ "title": "t", "direct": true, "size": 10 }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let anonymous = server
        .client
        .post(server.url(&format!("/api/v1/videos/{id}/complete")))
        .json(&json!({ "parts": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = server
        .client
        .post(server.url(&format!("/api/v1/videos/{id}/complete")))
        .bearer_auth(format!("{TOKEN}x"))
        .json(&json!({ "parts": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let (status, _) = complete(&server, "nosuchvideo", &[json!({"number": 1, "etag": "e"})]).await;
    assert_eq!(status, 404);
    // A tus asset has no direct upload to complete.
    let (tus_id, _) = server.create_video("tus").await;
    let (status, body) = complete(&server, &tus_id, &[json!({"number": 1, "etag": "e"})]).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("no direct upload"),
        "{body}"
    );
}

#[tokio::test]
async fn on_the_filesystem_backend_direct_uploads_are_refused() {
    let server = Server::start(&[]).await;
    let (status, body) = create_direct(
        &server,
        json!({ "title": "t", "direct": true, "size": 1000 }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("s3 storage backend"),
        "{body}"
    );
    let (_, listed) = server.api(Method::GET, "/api/v1/videos", None).await;
    assert_eq!(listed["videos"], json!([]));
}

#[tokio::test]
async fn an_abandoned_direct_upload_expires() {
    let (server, _config) = s3_server(&["--upload-expiry-secs", "2"]).await;
    let (id, direct) = new_direct_upload(&server, 6 * MIB).await;
    put_part(&direct, 1, bytes(5 * MIB, 10)).await;
    server
        .wait_log("upload expired: removed", Duration::from_secs(15))
        .await;
    let store = test_store().await;
    let key = format!("videos/{id}/source");
    assert_upload_aborted(&store, &key, &store_upload_id(&direct), &direct).await;
    let (status, body) = complete(&server, &id, &[json!({"number": 1, "etag": "e"})]).await;
    assert_eq!(status, 409, "{body}");
}

/// What s3s-fs, the test S3 server, does not do and S3 does: refuse a
/// completion whose ETags are not those of the parts, keeping the upload
/// open. A proxy in front of it records the ETag of each part PUT through it
/// and answers a completion that lists another with S3's `InvalidPart`; it
/// passes everything else on as it came (signatures cover the Host header,
/// which stays the proxy's).
struct EtagChecker {
    address: SocketAddr,
    refused: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Checker {
    upstream: String,
    client: reqwest::Client,
    /// (upload id, part number) -> the ETag its PUT answered.
    etags: Arc<Mutex<HashMap<(String, String), String>>>,
    refused: Arc<AtomicUsize>,
}

impl EtagChecker {
    async fn start() -> EtagChecker {
        let refused = Arc::new(AtomicUsize::new(0));
        let checker = Checker {
            upstream: env("TRIBUTARY_TEST_S3_ENDPOINT"),
            client: reqwest::Client::new(),
            etags: Arc::default(),
            refused: refused.clone(),
        };
        let app = axum::Router::new()
            .fallback(check_and_forward)
            .with_state(checker);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        EtagChecker { address, refused }
    }
}

fn query_param(uri: &axum::http::Uri, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://x{uri}")).ok()?;
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The (part number, ETag) pairs of a CompleteMultipartUpload body.
fn listed_etags(body: &str) -> Vec<(String, String)> {
    let field = |part: &str, tag: &str| {
        let open = format!("<{tag}>");
        let start = part.find(&open)? + open.len();
        let end = part[start..].find(&format!("</{tag}>"))? + start;
        Some(
            part[start..end]
                .replace("&quot;", "\"")
                .replace("&#34;", "\""),
        )
    };
    body.split("<Part>")
        .skip(1)
        .filter_map(|part| Some((field(part, "PartNumber")?, field(part, "ETag")?)))
        .collect()
}

async fn check_and_forward(
    axum::extract::State(checker): axum::extract::State<Checker>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * MIB).await.unwrap();
    let upload_id = query_param(&parts.uri, "uploadId");
    let part_number = query_param(&parts.uri, "partNumber");
    if parts.method == Method::POST
        && let Some(upload_id) = &upload_id
    {
        let etags = checker.etags.lock().unwrap().clone();
        let wrong = listed_etags(&String::from_utf8_lossy(&body))
            .into_iter()
            .find(|(number, etag)| {
                etags
                    .get(&(upload_id.clone(), number.clone()))
                    .map(|e| e.trim_matches('"'))
                    != Some(etag.trim_matches('"'))
            });
        if let Some((number, _)) = wrong {
            checker.refused.fetch_add(1, Ordering::SeqCst);
            let error = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidPart</Code>\
                 <Message>One or more of the specified parts could not be found. The part may not \
                 have been uploaded, or the specified entity tag may not match the part's entity \
                 tag (part {number}).</Message></Error>"
            );
            return (
                axum::http::StatusCode::BAD_REQUEST,
                [("content-type", "application/xml")],
                error,
            )
                .into_response();
        }
    }
    let mut headers = parts.headers.clone();
    for hop in ["connection", "transfer-encoding", "content-length"] {
        headers.remove(hop);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = checker
        .client
        .request(parts.method.clone(), format!("{}{path}", checker.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let mut headers = answer.headers().clone();
    for hop in ["connection", "transfer-encoding", "content-length"] {
        headers.remove(hop);
    }
    if parts.method == Method::PUT
        && status.is_success()
        && let (Some(upload_id), Some(number)) = (upload_id, part_number)
        && let Some(etag) = headers.get("etag").and_then(|e| e.to_str().ok())
    {
        checker
            .etags
            .lock()
            .unwrap()
            .insert((upload_id, number), etag.to_owned());
    }
    let body = answer.bytes().await.unwrap();
    (status, headers, body).into_response()
}

/// A wrong ETag: S3 refuses the completion, the server answers 400 and the
/// upload stays open, so the client completes it with the right ETags.
#[tokio::test]
async fn a_wrong_etag_is_refused_and_the_client_can_retry() {
    let checker = EtagChecker::start().await;
    let mut flags = support::s3_flags();
    let endpoint = flags.iter().position(|f| f == "--s3-endpoint").unwrap() + 1;
    flags[endpoint] = format!("http://{}", checker.address);
    let (server, _config) = s3_server_on(flags, &[]).await;
    let data = bytes(7 * MIB, 11);
    let (id, direct) = new_direct_upload(&server, data.len()).await;
    let mut parts = put_all(&direct, &data).await;
    let right = parts[0]["etag"].clone();
    parts[0]["etag"] = json!(format!("\"{}\"", hex(&Sha256::digest(b"other")[..16])));

    let (status, body) = complete(&server, &id, &parts).await;
    assert_eq!(status, 400, "{body}\n{}", server.log());
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("ETag") && error.contains("InvalidPart"),
        "{error}"
    );
    assert_eq!(checker.refused.load(Ordering::SeqCst), 1);
    assert_eq!(server.video(&id).await["status"], "awaiting_upload");
    let store = test_store().await;
    let key = format!("videos/{id}/source");
    let open = store.list_parts(&key, &store_upload_id(&direct)).await;
    assert_eq!(open.unwrap().len(), 2, "the upload is still open");

    parts[0]["etag"] = right;
    let (status, video) = complete(&server, &id, &parts).await;
    assert_eq!(status, 200, "{video}");
    assert_eq!(video["source"]["sha256"], hex(&Sha256::digest(&data)));
    assert!(read_all(&store, &key).await == data);
}

#[test]
fn the_etag_checker_reads_a_completion() {
    let body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
        <Part><ETag>&quot;abc&quot;</ETag><PartNumber>1</PartNumber></Part>\
        <Part><ETag>def</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
    assert_eq!(
        listed_etags(body),
        [
            ("1".to_owned(), "\"abc\"".to_owned()),
            ("2".to_owned(), "def".to_owned())
        ]
    );
}
