//! Presigned URLs on the test S3 server, used by a plain HTTP client as a
//! browser or curl would: no SDK, no credentials, only the URL.

mod common;

use std::time::Duration;

use common::{S3_PART_SIZE, data, read};
use storage::{Body, ObjectStore, Part, StorageError};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_presigned_get_reads_the_object_and_ranges_of_it() {
    let h = common::s3().await;
    let key = h.key("media/source.mp4");
    let bytes = data(300_000, 11);
    h.store.put(&key, Body::from(bytes.clone())).await.unwrap();
    let url = h.store.presign_get(&key, MINUTE).await.unwrap();
    let http = reqwest::Client::new();

    let whole = http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap(), bytes);

    let ranged = http
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"].to_str().unwrap(),
        "bytes 1000-1999/300000"
    );
    assert_eq!(ranged.bytes().await.unwrap(), &bytes[1000..2000]);

    let tail = http
        .get(&url)
        .header("Range", "bytes=299990-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap(), &bytes[299_990..]);
}

#[tokio::test]
async fn a_presigned_get_names_one_object_and_expires() {
    let h = common::s3().await;
    let key = h.key("private");
    let other = h.key("other");
    h.store.put(&key, Body::from(data(1000, 12))).await.unwrap();
    h.store
        .put(&other, Body::from(data(1000, 13)))
        .await
        .unwrap();
    let http = reqwest::Client::new();

    // The signature covers the key: the URL does not open another object.
    let url = h.store.presign_get(&key, MINUTE).await.unwrap();
    let forged = url.replacen(&key, &other, 1);
    assert_ne!(forged, url);
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);
    // Nor does it lose its signature.
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(http.get(unsigned).send().await.unwrap().status(), 403);

    let short = h
        .store
        .presign_get(&key, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(http.get(&short).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(http.get(&short).send().await.unwrap().status(), 403);
}

/// A multipart upload whose parts a client PUTs to presigned URLs, all at
/// once and out of order; the store joins them with the ETags the client
/// got back.
#[tokio::test]
async fn parts_put_to_presigned_urls_complete_the_upload() {
    let h = common::s3().await;
    let key = h.key("videos/direct/source");
    let part_size = S3_PART_SIZE as usize;
    let bytes = data(2 * part_size + 123_457, 14);
    let id = h.store.create_upload(&key).await.unwrap();
    let chunks: Vec<&[u8]> = bytes.chunks(part_size).collect();
    assert_eq!(chunks.len(), 3);

    let http = reqwest::Client::new();
    let mut puts = Vec::new();
    for (index, chunk) in chunks.iter().enumerate().rev() {
        let number = index as u32 + 1;
        let url = h
            .store
            .presign_upload_part(&key, &id, number, MINUTE)
            .await
            .unwrap();
        let request = http.put(url).body(chunk.to_vec());
        puts.push(tokio::spawn(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "part {number}");
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            (number, etag)
        }));
    }
    let mut parts = Vec::new();
    for put in puts {
        let (number, etag) = put.await.unwrap();
        let size = chunks[number as usize - 1].len() as u64;
        parts.push(Part { number, size, etag });
    }
    parts.sort_by_key(|part| part.number);

    let listed = h.store.list_parts(&key, &id).await.unwrap();
    let sizes: Vec<_> = listed.iter().map(|part| (part.number, part.size)).collect();
    let expected: Vec<_> = parts.iter().map(|part| (part.number, part.size)).collect();
    assert_eq!(sizes, expected);
    assert!(h.store.head(&key).await.unwrap_err().is_not_found());

    h.store.complete_upload(&key, &id, &parts).await.unwrap();
    assert_eq!(h.store.head(&key).await.unwrap().size, bytes.len() as u64);
    assert!(read(&h.store, &key, None).await == bytes);
}

#[tokio::test]
async fn a_part_url_names_its_upload_and_part_number() {
    let h = common::s3().await;
    let key = h.key("source");
    let id = h.store.create_upload(&key).await.unwrap();
    let url = h
        .store
        .presign_upload_part(&key, &id, 2, MINUTE)
        .await
        .unwrap();
    let http = reqwest::Client::new();

    let moved = url.replacen("partNumber=2", "partNumber=3", 1);
    assert_ne!(moved, url);
    let response = http.put(&moved).body(vec![1; 100]).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(h.store.list_parts(&key, &id).await.unwrap().is_empty());

    let response = http.put(&url).body(vec![1; 100]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let listed = h.store.list_parts(&key, &id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|p| (p.number, p.size))
            .collect::<Vec<_>>(),
        [(2, 100)]
    );
    h.store.abort_upload(&key, &id).await.unwrap();
}

#[tokio::test]
async fn presigning_checks_keys_and_part_numbers() {
    let h = common::s3().await;
    assert!(matches!(
        h.store.presign_get("../etc/passwd", MINUTE).await,
        Err(StorageError::InvalidKey { .. })
    ));
    for number in [0, 10_001] {
        assert!(matches!(
            h.store
                .presign_upload_part(&h.key("k"), "upload", number, MINUTE)
                .await,
            Err(StorageError::InvalidPart { .. })
        ));
    }
}

/// A completion the server refuses (here a part below S3's minimum that is
/// not the last) is `PartsRejected`, which a caller answers as a client
/// error.
#[tokio::test]
async fn a_refused_completion_is_parts_rejected() {
    let h = common::s3().await;
    let key = h.key("small-parts");
    let id = h.store.create_upload(&key).await.unwrap();
    let http = reqwest::Client::new();
    let mut parts = Vec::new();
    for number in [1, 2] {
        let url = h
            .store
            .presign_upload_part(&key, &id, number, MINUTE)
            .await
            .unwrap();
        let response = http.put(url).body(vec![7; 1000]).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        parts.push(Part {
            number,
            size: 1000,
            etag,
        });
    }
    let err = h
        .store
        .complete_upload(&key, &id, &parts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::PartsRejected { message } if message.contains("EntityTooSmall")),
        "{err:?}"
    );
}
