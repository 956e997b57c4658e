//! The ObjectStore contract, on the filesystem and on S3.

mod common;

use bytes::Bytes;
use common::{Harness, data, read};
use storage::{Body, ObjectMeta, ObjectStore, StorageError};

both_stores!(
    put_get_head,
    put_from_file_and_stream,
    stream_of_the_wrong_length_fails,
    ranges,
    missing_objects,
    list_by_prefix,
    delete_and_delete_prefix,
    hostile_keys,
    multipart_upload,
    multipart_abort,
    multipart_unknown_upload,
);

async fn put_get_head<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("a/b/object.bin");
    let bytes = data(100_000, 1);
    h.store.put(&key, Body::from(bytes.clone())).await.unwrap();
    assert_eq!(read(&h.store, &key, None).await, bytes);
    let object = h.store.get(&key, None).await.unwrap();
    assert_eq!((object.size, object.range.clone()), (100_000, 0..100_000));
    assert_eq!(h.store.head(&key).await.unwrap().size, 100_000);

    // A put replaces the object whole.
    h.store.put(&key, Body::from(&b"short"[..])).await.unwrap();
    assert_eq!(read(&h.store, &key, None).await, b"short");
    assert_eq!(h.store.head(&key).await.unwrap().size, 5);

    let empty = h.key("empty");
    h.store
        .put(&empty, Body::Bytes(Bytes::new()))
        .await
        .unwrap();
    assert_eq!(read(&h.store, &empty, None).await, b"");
    assert_eq!(h.store.head(&empty).await.unwrap().size, 0);
}

async fn put_from_file_and_stream<S: ObjectStore>(h: Harness<S>) {
    let bytes = data(3 * 1024 * 1024 + 17, 2);
    let path = h.dir.path().join("source");
    std::fs::write(&path, &bytes).unwrap();

    let whole = h.key("whole");
    h.store
        .put(&whole, Body::from_file(&path).await.unwrap())
        .await
        .unwrap();
    assert_eq!(read(&h.store, &whole, None).await, bytes);

    let region = h.key("region");
    let body = Body::File {
        path: path.clone(),
        offset: 1000,
        len: 70_000,
    };
    h.store.put(&region, body).await.unwrap();
    assert_eq!(read(&h.store, &region, None).await, &bytes[1000..71_000]);

    let streamed = h.key("streamed");
    let body = Body::Stream {
        stream: common::chunked(&bytes, &[1, 7, 65_536, 1024 * 1024 + 3]),
        len: bytes.len() as u64,
    };
    h.store.put(&streamed, body).await.unwrap();
    assert_eq!(read(&h.store, &streamed, None).await, bytes);
}

async fn stream_of_the_wrong_length_fails<S: ObjectStore>(h: Harness<S>) {
    for (declared, actual) in [(10, 5), (5, 10)] {
        let key = h.key(&format!("wrong-{declared}-{actual}"));
        let body = Body::Stream {
            stream: common::chunked(&data(actual, 3), &[3]),
            len: declared as u64,
        };
        assert!(h.store.put(&key, body).await.is_err());
        assert!(h.store.head(&key).await.unwrap_err().is_not_found());
    }
}

async fn ranges<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("ranged");
    let bytes = data(1000, 4);
    h.store.put(&key, Body::from(bytes.clone())).await.unwrap();
    for (range, expected) in [
        (0..1, 0..1),
        (10..20, 10..20),
        (990..1000, 990..1000),
        (990..5000, 990..1000),
        (500..u64::MAX, 500..1000),
        (0..1000, 0..1000),
    ] {
        let object = h.store.get(&key, Some(range.clone())).await.unwrap();
        assert_eq!(
            (object.size, object.range.clone()),
            (1000, expected.clone()),
            "{range:?}"
        );
        let got = read(&h.store, &key, Some(range.clone())).await;
        assert_eq!(
            got,
            &bytes[expected.start as usize..expected.end as usize],
            "{range:?}"
        );
    }
    assert!(matches!(
        h.store.get(&key, Some(1000..1001)).await,
        Err(StorageError::RangeNotSatisfiable {
            start: 1000,
            size: 1000
        })
    ));
    assert!(matches!(
        h.store.get(&key, Some(5..5)).await,
        Err(StorageError::InvalidRange { .. })
    ));

    let empty = h.key("empty");
    h.store
        .put(&empty, Body::Bytes(Bytes::new()))
        .await
        .unwrap();
    assert!(matches!(
        h.store.get(&empty, Some(0..10)).await,
        Err(StorageError::RangeNotSatisfiable { start: 0, size: 0 })
    ));
    assert!(
        h.store
            .get(&h.key("missing"), Some(0..10))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn missing_objects<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("missing/object");
    let err = h.store.get(&key, None).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::NotFound { key: k } if *k == key),
        "{err}"
    );
    let err = h.store.head(&key).await.unwrap_err();
    assert!(matches!(&err, StorageError::NotFound { .. }), "{err}");
    // Deleting what is not there succeeds.
    h.store.delete(&key).await.unwrap();
    assert_eq!(h.store.delete_prefix(&h.key("nothing/")).await.unwrap(), 0);
}

async fn list_by_prefix<S: ObjectStore>(h: Harness<S>) {
    let names = ["a/1", "a/2", "a/b/3", "ab", "b", "a/b/c/4"];
    for (i, name) in names.iter().enumerate() {
        h.store
            .put(&h.key(name), Body::from(data(i * 10, 5)))
            .await
            .unwrap();
    }
    let listed = |found: Vec<ObjectMeta>| -> Vec<(String, u64)> {
        found
            .into_iter()
            .map(|meta| (meta.key[h.prefix.len() + 1..].to_owned(), meta.size))
            .collect()
    };
    let all = listed(h.store.list(&format!("{}/", h.prefix)).await.unwrap());
    assert_eq!(
        all,
        [
            ("a/1", 0),
            ("a/2", 10),
            ("a/b/3", 20),
            ("a/b/c/4", 50),
            ("ab", 30),
            ("b", 40)
        ]
        .map(|(key, size)| (key.to_owned(), size))
    );
    let a = listed(h.store.list(&h.key("a")).await.unwrap());
    assert_eq!(
        a.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2", "a/b/3", "a/b/c/4", "ab"]
    );
    let a_dir = listed(h.store.list(&h.key("a/")).await.unwrap());
    assert_eq!(
        a_dir.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/1", "a/2", "a/b/3", "a/b/c/4"]
    );
    let ab = listed(h.store.list(&h.key("a/b")).await.unwrap());
    assert_eq!(
        ab.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a/b/3", "a/b/c/4"]
    );
    assert!(h.store.list(&h.key("zzz")).await.unwrap().is_empty());
}

async fn delete_and_delete_prefix<S: ObjectStore>(h: Harness<S>) {
    for name in [
        "v/1/seg1",
        "v/1/seg2",
        "v/1/sub/seg3",
        "v/10/seg",
        "v/2/seg",
    ] {
        h.store
            .put(&h.key(name), Body::from(&b"x"[..]))
            .await
            .unwrap();
    }
    h.store.delete(&h.key("v/2/seg")).await.unwrap();
    assert!(
        h.store
            .head(&h.key("v/2/seg"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    assert_eq!(h.store.delete_prefix(&h.key("v/1/")).await.unwrap(), 3);
    let left: Vec<String> = h
        .store
        .list(&h.key("v/"))
        .await
        .unwrap()
        .into_iter()
        .map(|meta| meta.key)
        .collect();
    assert_eq!(left, [h.key("v/10/seg")]);
    // A key can be written again where a deleted "directory" was.
    h.store
        .put(&h.key("v/1/seg1"), Body::from(&b"y"[..]))
        .await
        .unwrap();
    assert_eq!(read(&h.store, &h.key("v/1/seg1"), None).await, b"y");

    assert!(matches!(
        h.store.delete_prefix("").await,
        Err(StorageError::InvalidKey { .. })
    ));
}

async fn hostile_keys<S: ObjectStore>(h: Harness<S>) {
    let hostile = [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../outside",
        "a/./b",
        "a//b",
        "a/",
        "a\\..\\b",
        "a\0b",
        ".tributary-uploads/x",
    ];
    for key in hostile {
        let invalid = |result: Result<(), StorageError>| {
            assert!(
                matches!(result, Err(StorageError::InvalidKey { .. })),
                "{key:?}: {result:?}"
            );
        };
        invalid(h.store.put(key, Body::from(&b"evil"[..])).await);
        invalid(h.store.get(key, None).await.map(drop));
        invalid(h.store.head(key).await.map(drop));
        invalid(h.store.delete(key).await);
        invalid(h.store.create_upload(key).await.map(drop));
    }
    for prefix in ["/", "../", "a//"] {
        assert!(matches!(
            h.store.list(prefix).await,
            Err(StorageError::InvalidKey { .. })
        ));
        assert!(matches!(
            h.store.delete_prefix(prefix).await,
            Err(StorageError::InvalidKey { .. })
        ));
    }
    // On the filesystem nothing was written beside the store's root.
    let beside: Vec<_> = std::fs::read_dir(h.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(beside.is_empty() || beside == ["root"], "{beside:?}");
}

async fn multipart_upload<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("multi/object");
    let part_size = h.store.part_size() as usize;
    let bytes = data(3 * part_size + 1234, 6);
    let path = h.dir.path().join("part2");
    std::fs::write(&path, &bytes[part_size..2 * part_size]).unwrap();

    let id = h.store.create_upload(&key).await.unwrap();
    let part1 = h
        .store
        .upload_part(&key, &id, 1, Body::from(bytes[..part_size].to_vec()))
        .await
        .unwrap();
    // Part 3 before part 2, and part 2 twice: the last write wins.
    let part3 = h
        .store
        .upload_part(
            &key,
            &id,
            3,
            Body::from(bytes[2 * part_size..3 * part_size].to_vec()),
        )
        .await
        .unwrap();
    h.store
        .upload_part(&key, &id, 2, Body::from(data(part_size, 99)))
        .await
        .unwrap();
    let part2 = h
        .store
        .upload_part(&key, &id, 2, Body::from_file(&path).await.unwrap())
        .await
        .unwrap();
    let tail = &bytes[3 * part_size..];
    let part4 = h
        .store
        .upload_part(
            &key,
            &id,
            4,
            Body::Stream {
                stream: common::chunked(tail, &[100]),
                len: tail.len() as u64,
            },
        )
        .await
        .unwrap();
    assert_eq!(part4.size, 1234);

    let uploaded = [part1, part2, part3, part4];
    let listed = h.store.list_parts(&key, &id).await.unwrap();
    assert_eq!(listed.len(), 4);
    for (listed, uploaded) in listed.iter().zip(&uploaded) {
        assert_eq!(
            (listed.number, listed.size),
            (uploaded.number, uploaded.size)
        );
        // s3s-fs lists no ETags.
        assert!(
            listed.etag.is_empty() || listed.etag == uploaded.etag,
            "{listed:?}"
        );
    }
    assert!(h.store.head(&key).await.unwrap_err().is_not_found());

    h.store.complete_upload(&key, &id, &uploaded).await.unwrap();
    assert_eq!(h.store.head(&key).await.unwrap().size, bytes.len() as u64);
    assert!(read(&h.store, &key, None).await == bytes);
    let middle = (part_size as u64 - 10)..(part_size as u64 + 10);
    assert_eq!(
        read(&h.store, &key, Some(middle)).await,
        &bytes[part_size - 10..part_size + 10]
    );
    assert_upload_gone(&h.store, &key, &id).await;
    // Only the object is left.
    let left = h.store.list(&h.key("multi")).await.unwrap();
    assert_eq!(left.len(), 1);
}

async fn multipart_abort<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("aborted");
    let id = h.store.create_upload(&key).await.unwrap();
    h.store
        .upload_part(&key, &id, 1, Body::from(data(1000, 7)))
        .await
        .unwrap();
    h.store.abort_upload(&key, &id).await.unwrap();
    assert_upload_gone(&h.store, &key, &id).await;
    assert!(h.store.head(&key).await.unwrap_err().is_not_found());
    assert!(h.store.list(&h.prefix).await.unwrap().is_empty());
}

async fn multipart_unknown_upload<S: ObjectStore>(h: Harness<S>) {
    let key = h.key("object");
    assert_upload_gone(&h.store, &key, "0123456789abcdef0123456789abcdef").await;
    assert_upload_gone(&h.store, &key, "../../etc").await;
}

/// Checks that an upload is over: no part can be added, and none is listed.
/// S3 and the filesystem answer UploadNotFound; s3s-fs, the test S3 server,
/// lists no parts and refuses uploads with AccessDenied.
async fn assert_upload_gone<S: ObjectStore>(store: &S, key: &str, id: &str) {
    match store.list_parts(key, id).await {
        Err(StorageError::UploadNotFound { .. }) => {}
        Ok(parts) if parts.is_empty() => {}
        other => panic!("parts of upload {id}: {other:?}"),
    }
    let err = store
        .upload_part(key, id, 1, Body::from(&b"x"[..]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::UploadNotFound { .. } | StorageError::S3 { .. }
        ),
        "{err}"
    );
    assert!(store.abort_upload(key, id).await.is_err());
}

/// What only the filesystem can check: its own layout.
mod fs_only {
    use super::*;

    #[tokio::test]
    async fn a_directory_is_no_object() {
        let h = common::fs().await;
        h.store
            .put(&h.key("dir/file"), Body::from(&b"x"[..]))
            .await
            .unwrap();
        assert!(
            h.store
                .head(&h.key("dir"))
                .await
                .unwrap_err()
                .is_not_found()
        );
        assert!(
            h.store
                .get(&h.key("dir"), None)
                .await
                .unwrap_err()
                .is_not_found()
        );
        h.store.delete(&h.key("dir")).await.unwrap();
    }

    #[tokio::test]
    async fn an_upload_belongs_to_its_key() {
        let h = common::fs().await;
        let id = h.store.create_upload(&h.key("one")).await.unwrap();
        let other = h.key("other");
        assert!(matches!(
            h.store.list_parts(&other, &id).await,
            Err(StorageError::UploadNotFound { .. })
        ));
        assert!(matches!(
            h.store.abort_upload(&other, &id).await,
            Err(StorageError::UploadNotFound { .. })
        ));
        h.store.abort_upload(&h.key("one"), &id).await.unwrap();
    }

    #[tokio::test]
    async fn temporary_files_and_uploads_stay_hidden() {
        let h = common::fs().await;
        let key = h.key("object");
        let id = h.store.create_upload(&key).await.unwrap();
        h.store
            .upload_part(&key, &id, 1, Body::from(&b"part"[..]))
            .await
            .unwrap();
        // What a crash leaves behind: a temporary file beside an object.
        let dir = h.store.root().join(&h.prefix);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".tributary-tmp-0000"), b"half").unwrap();
        h.store.put(&key, Body::from(&b"whole"[..])).await.unwrap();
        let all: Vec<String> = h
            .store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(all, [key]);
    }
}
