//! Resumable uploads (tus 1.0.0) end to end: every status code of the
//! protocol from raw HTTP requests, the asset's life, a kill -9 mid-upload,
//! expiry; on `fs` and on `s3` object storage.

mod support;

// No workers: the probe stays queued, the status is what the upload made it.
const NO_WORKERS: &[&str] = &["--workers", "0"];

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use support::{Server, TOKEN, bytes, hex};

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A bare tus client: each request as the spec spells it.
struct Tus<'a> {
    server: &'a Server,
}

impl Tus<'_> {
    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            self.server.url(url)
        };
        self.server
            .client
            .request(method, url)
            .header("Tus-Resumable", "1.0.0")
    }

    async fn create(&self, creation_url: &str, length: usize) -> Response {
        self.request(Method::POST, creation_url)
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", "filename bW92aWUubXA0")
            .send()
            .await
            .unwrap()
    }

    async fn head(&self, url: &str) -> Response {
        self.request(Method::HEAD, url).send().await.unwrap()
    }

    async fn patch(&self, url: &str, offset: usize, chunk: Vec<u8>) -> Response {
        self.request(Method::PATCH, url)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(chunk)
            .send()
            .await
            .unwrap()
    }

    async fn offset(&self, url: &str) -> usize {
        let response = self.head(url).await;
        assert_eq!(response.status(), 200);
        header(&response, "upload-offset").unwrap().parse().unwrap()
    }
}

/// Reads an object back through the store the server uses.
async fn stored_source(server: &Server, id: &str, s3: bool) -> Vec<u8> {
    let key = format!("videos/{id}/source");
    if !s3 {
        return std::fs::read(server.dir.0.join("data/objects").join(&key))
            .expect("the stored source");
    }
    let endpoint = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").unwrap();
    let bucket = std::env::var("TRIBUTARY_TEST_S3_BUCKET").unwrap();
    let mut config = storage::S3Config::new(bucket);
    config.endpoint = Some(endpoint);
    config.path_style = true;
    config.region =
        std::env::var("TRIBUTARY_TEST_S3_REGION").unwrap_or_else(|_| "us-east-1".into());
    let store = storage::S3Store::new(config).await.unwrap();
    read_all(&store, &key).await
}

async fn read_all(store: &impl storage::ObjectStore, key: &str) -> Vec<u8> {
    use futures::StreamExt;
    let object = store.get(key, None).await.expect("the stored source");
    let mut out = Vec::new();
    let mut chunks = object.body;
    while let Some(chunk) = chunks.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn protocol_status_codes(extra: &[&str], s3: bool) {
    let mut flags: Vec<&str> = vec!["--max-upload-bytes", "100000000"];
    flags.extend(NO_WORKERS);
    flags.extend(extra);
    let server = Server::start(&flags).await;
    let tus = Tus { server: &server };

    let options = server
        .client
        .request(Method::OPTIONS, server.url("/api/v1/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(header(&options, "tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(
        header(&options, "tus-max-size").as_deref(),
        Some("100000000")
    );
    assert_eq!(
        header(&options, "tus-checksum-algorithm").as_deref(),
        Some("sha1,sha256")
    );
    let extensions = header(&options, "tus-extension").unwrap();
    for extension in [
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(
            extensions.split(',').any(|e| e == extension),
            "{extension} in {extensions}"
        );
    }

    let (id, creation) = server.create_video("status codes").await;
    let no_version = server
        .client
        .post(&creation)
        .header("Upload-Length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 412);
    assert_eq!(header(&no_version, "tus-version").as_deref(), Some("1.0.0"));
    let no_length = tus.request(Method::POST, &creation).send().await.unwrap();
    assert_eq!(no_length.status(), 400);
    let huge = tus.create(&creation, 100_000_001).await;
    assert_eq!(huge.status(), 413);
    let hostile = tus
        .request(Method::POST, &creation)
        .header("Upload-Length", "10")
        .header("Upload-Metadata", "filename not*base64,filename x")
        .send()
        .await
        .unwrap();
    assert_eq!(hostile.status(), 400);
    let tampered = creation.replace("sig=", "sig=0");
    assert_eq!(tus.create(&tampered, 10).await.status(), 403);

    let data = bytes(3_000_000, 1);
    let created = tus.create(&creation, data.len()).await;
    assert_eq!(created.status(), 201);
    assert!(header(&created, "upload-expires").unwrap().ends_with("GMT"));
    let url = header(&created, "location").unwrap();
    let head = tus.head(&url).await;
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "upload-offset").as_deref(), Some("0"));
    assert_eq!(header(&head, "upload-length").as_deref(), Some("3000000"));
    assert_eq!(header(&head, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        header(&head, "upload-metadata").as_deref(),
        Some("filename bW92aWUubXA0")
    );
    assert_eq!(tus.head(&url.replace("sig=", "sig=1")).await.status(), 403);
    assert_eq!(
        tus.head(&url.replace("expires=", "expires=1"))
            .await
            .status(),
        403
    );

    let wrong_type = tus
        .request(Method::PATCH, &url)
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(tus.patch(&url, 5, vec![0; 10]).await.status(), 409);
    let first = data[..1_000_000].to_vec();
    let ok = tus.patch(&url, 0, first).await;
    assert_eq!(ok.status(), 204);
    assert_eq!(header(&ok, "upload-offset").as_deref(), Some("1000000"));
    let mismatch = tus.patch(&url, 0, vec![0; 10]).await;
    assert_eq!(mismatch.status(), 409, "a stale offset changes nothing");
    assert_eq!(tus.offset(&url).await, 1_000_000);

    // Checksums: a wrong digest discards the chunk (460); a right one takes it.
    use base64::Engine;
    let chunk = data[1_000_000..2_000_000].to_vec();
    let sha1 = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&chunk));
    let bad = tus
        .request(Method::PATCH, &url)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "1000000")
        .header(
            "Upload-Checksum",
            format!(
                "sha1 {}",
                base64::engine::general_purpose::STANDARD.encode([7u8; 20])
            ),
        )
        .body(chunk.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 460);
    assert_eq!(
        tus.offset(&url).await,
        1_000_000,
        "the mismatched chunk was discarded"
    );
    let unsupported = tus
        .request(Method::PATCH, &url)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "1000000")
        .header("Upload-Checksum", "md5 1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status(), 400);
    let good = tus
        .request(Method::PATCH, &url)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "1000000")
        .header("Upload-Checksum", format!("sha1 {sha1}"))
        .body(chunk)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 204);
    assert_eq!(tus.offset(&url).await, 2_000_000);

    // More than Upload-Length: 413; what arrived before the chunk that went
    // past the length is kept (the final digest proves it is the right bytes).
    let mut too_much = data[2_000_000..].to_vec();
    too_much.extend_from_slice(b"extra");
    assert_eq!(tus.patch(&url, 2_000_000, too_much).await.status(), 413);
    let offset = tus.offset(&url).await;
    assert!((2_000_000..3_000_000).contains(&offset), "{offset}");

    // X-HTTP-Method-Override carries the last PATCH.
    let last = tus
        .request(Method::POST, &url)
        .header("X-HTTP-Method-Override", "PATCH")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(data[offset..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), 204);
    assert_eq!(header(&last, "upload-offset").as_deref(), Some("3000000"));
    let uploaded = server.video(&id).await;
    assert_eq!(uploaded["status"], "queued");
    assert_eq!(uploaded["source"]["size"], 3_000_000);
    assert_eq!(uploaded["source"]["sha256"], hex(&Sha256::digest(&data)));
    assert!(uploaded.get("upload_url").is_none());
    assert_eq!(stored_source(&server, &id, s3).await, data);
    assert_eq!(
        tus.patch(&url, 3_000_000, vec![1]).await.status(),
        409,
        "a complete upload takes nothing more"
    );
    assert_eq!(
        tus.create(&creation, 10).await.status(),
        409,
        "the asset has its source"
    );

    // Deferred length, creation-with-upload and termination.
    let (other, creation) = server.create_video("deferred").await;
    let deferred = tus
        .request(Method::POST, &creation)
        .header("Upload-Defer-Length", "1")
        .header("Content-Type", "application/offset+octet-stream")
        .body(vec![5u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(deferred.status(), 201);
    assert_eq!(header(&deferred, "upload-offset").as_deref(), Some("1000"));
    let url = header(&deferred, "location").unwrap();
    let head = tus.head(&url).await;
    assert_eq!(header(&head, "upload-defer-length").as_deref(), Some("1"));
    let sized = tus
        .request(Method::PATCH, &url)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "1000")
        .header("Upload-Length", "3000")
        .body(vec![6u8; 500])
        .send()
        .await
        .unwrap();
    assert_eq!(sized.status(), 204);
    assert_eq!(
        header(&tus.head(&url).await, "upload-length").as_deref(),
        Some("3000")
    );
    let terminated = tus.request(Method::DELETE, &url).send().await.unwrap();
    assert_eq!(terminated.status(), 204);
    assert_eq!(tus.head(&url).await.status(), 404);
    assert_eq!(server.video(&other).await["status"], "awaiting_upload");

    // The plain endpoint takes the admin token and titles the asset from its metadata.
    let anonymous = tus
        .request(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", "3")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let plain = tus
        .request(Method::POST, "/api/v1/uploads")
        .bearer_auth(TOKEN)
        .header("Upload-Length", "3")
        .header("Upload-Metadata", "filename bXkgY2xpcC5tb3Y=")
        .header("Content-Type", "application/offset+octet-stream")
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 201);
    let (_, list) = server
        .api(Method::GET, "/api/v1/videos?status=queued", None)
        .await;
    let titles: Vec<&str> = list["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["my clip.mov", "status codes"], "newest first");
    let (status, _) = server
        .api(Method::GET, "/api/v1/videos?status=bogus", None)
        .await;
    assert_eq!(status, 400);

    // Deleting an asset removes its objects and rows.
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server
        .api(Method::GET, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 404);
    if !s3 {
        assert!(
            !server
                .dir
                .0
                .join(format!("data/objects/videos/{id}"))
                .exists()
        );
    }
}

#[tokio::test]
async fn every_tus_status_code_on_fs() {
    protocol_status_codes(&[], false).await;
}

#[tokio::test]
async fn every_tus_status_code_on_s3_and_postgres() {
    let database = support::postgres_url().await;
    let mut flags = support::s3_flags();
    flags.extend(["--database-url".to_owned(), database]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    protocol_status_codes(&flags, true).await;
}

/// A PATCH body that sends `first`, then stalls until dropped.
fn stalling_body(first: Vec<u8>) -> (reqwest::Body, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(first)) })
        .chain(futures::stream::once(async move {
            let _ = stopped.await;
            Err(std::io::Error::other("client gone"))
        }));
    (
        reqwest::Body::wrap_stream(futures::StreamExt::boxed(stream)),
        stop,
    )
}

use futures::StreamExt as _;

async fn one_request_at_a_time_and_kill_9(extra: &[&str], s3: bool) {
    let mut flags = NO_WORKERS.to_vec();
    flags.extend(extra);
    let mut server = Server::start(&flags).await;
    let tus = Tus { server: &server };
    let (id, creation) = server.create_video("hung connection").await;
    let data = bytes(12_000_000, 2);
    let url = header(&tus.create(&creation, data.len()).await, "location").unwrap();

    // A PATCH whose connection hangs after 4 MB.
    let (body, _keep_stalled) = stalling_body(data[..4_000_000].to_vec());
    let hung = tokio::spawn({
        let request = tus
            .request(Method::PATCH, &url)
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", "0")
            .body(body);
        async move { request.send().await }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        tus.patch(&url, 0, vec![0; 10]).await.status(),
        423,
        "one request at a time"
    );
    // Beside a PATCH still receiving, HEAD answers without stopping it.
    assert_eq!(tus.offset(&url).await, 0);
    // Once that PATCH has heard nothing for a while, a reconnecting client's
    // HEAD stops it, and it keeps what it got.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let offset = tus.offset(&url).await;
    assert_eq!(offset, 4_000_000);
    hung.abort();

    let ok = tus
        .patch(&url, offset, data[offset..8_000_000].to_vec())
        .await;
    assert_eq!(ok.status(), 204);

    // kill -9 and start again: the acknowledged offset survives.
    server.restart().await;
    let tus = Tus { server: &server };
    let offset = tus.offset(&url).await;
    assert_eq!(offset, 8_000_000, "the acknowledged bytes survive kill -9");
    let done = tus.patch(&url, offset, data[offset..].to_vec()).await;
    assert_eq!(done.status(), 204);
    let uploaded = server.video(&id).await;
    assert_eq!(uploaded["status"], "queued");
    assert_eq!(uploaded["source"]["sha256"], hex(&Sha256::digest(&data)));
    assert_eq!(stored_source(&server, &id, s3).await, data);
}

#[tokio::test]
async fn a_hung_patch_is_released_by_head_and_kill_9_loses_nothing_on_fs() {
    one_request_at_a_time_and_kill_9(&[], false).await;
}

#[tokio::test]
async fn a_hung_patch_is_released_by_head_and_kill_9_loses_nothing_on_s3() {
    let flags = support::s3_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    one_request_at_a_time_and_kill_9(&flags, true).await;
}

#[tokio::test]
async fn unfinished_uploads_expire_and_their_bytes_go() {
    let server = Server::start(&["--upload-expiry-secs", "2"]).await;
    let tus = Tus { server: &server };
    let (_, creation) = server.create_video("expiring").await;
    let url = header(&tus.create(&creation, 100_000).await, "location").unwrap();
    assert_eq!(tus.patch(&url, 0, bytes(50_000, 3)).await.status(), 204);
    let uploads = server.dir.0.join("data/objects/.tributary-uploads");
    assert!(std::fs::read_dir(&uploads).unwrap().count() > 0);
    server
        .wait_log("upload expired: removed", Duration::from_secs(10))
        .await;
    assert_eq!(tus.head(&url).await.status(), StatusCode::GONE);
    assert_eq!(
        tus.patch(&url, 50_000, vec![0; 10]).await.status(),
        StatusCode::GONE
    );
    assert_eq!(
        std::fs::read_dir(&uploads).unwrap().count(),
        0,
        "expired bytes are removed"
    );
}
