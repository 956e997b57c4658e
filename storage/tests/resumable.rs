//! ResumableUpload on the filesystem and on S3: appends of any size, the
//! durable offset, resuming after a restart, completion and abort.

mod common;

use bytes::Bytes;
use common::{Harness, chunked, data, read, sha256};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use storage::{AnyStore, Body, ByteStream, ObjectStore, ResumableUpload, StorageError};

both_stores!(
    odd_chunks_cross_part_boundaries,
    resume_reports_the_durable_offset,
    resume_ignores_a_tail_a_part_absorbed,
    a_broken_request_keeps_what_arrived,
    a_dropped_append_keeps_what_was_durable,
    a_sealed_upload_only_completes,
    empty_upload,
    abort_removes_everything,
);

/// Chunk sizes a client might send: tiny, odd, and larger than a part.
const CHUNKS: [usize; 5] = [1, 7, 1024 * 1024 + 3, 4096, 65_537];

/// Sends `bytes` as one request (one append), in `CHUNKS`-sized chunks.
async fn append<S: ObjectStore>(upload: &mut ResumableUpload<S>, bytes: &[u8]) -> u64 {
    upload
        .append(chunked(bytes, &CHUNKS))
        .await
        .expect("append")
}

/// Request sizes that leave tails, fill parts exactly, and cross them.
fn requests(part_size: usize) -> Vec<usize> {
    let odd = part_size / 4 + 3;
    vec![
        1,
        7,
        odd,
        part_size - (odd + 8), // the first part, exactly
        part_size + 5,
        3,
        part_size / 2,
        2 * part_size + 1,
        12_345,
    ]
}

/// An upload begun through the store's multipart API, which goes on through
/// parts: on the filesystem, what an upload created before uploads were kept
/// as one file looks like; on S3, what every upload is.
async fn begin_through_parts<S: ObjectStore + Clone>(
    h: &Harness<S>,
    key: &str,
) -> ResumableUpload<S> {
    let id = h.store.create_upload(key).await.unwrap();
    ResumableUpload::resume(h.store.clone(), key, &id, h.spool_dir())
        .await
        .unwrap()
}

/// Only the object is under the test's prefix: no tail, no leftover.
async fn only_object_left<S: ObjectStore>(h: &Harness<S>, key: &str) {
    let left: Vec<String> = h
        .store
        .list(&h.prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|meta| meta.key)
        .collect();
    assert_eq!(left, [key]);
}

async fn odd_chunks_cross_part_boundaries<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("upload/source");
    let sizes = requests(h.store.part_size() as usize);
    let bytes = data(sizes.iter().sum(), 10);
    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    let mut sent = 0;
    for size in sizes {
        let offset = append(&mut upload, &bytes[sent..sent + size]).await;
        sent += size;
        assert_eq!(offset, sent as u64);
        assert_eq!(upload.offset(), sent as u64);
    }
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.size, bytes.len() as u64);
    assert_eq!(completed.sha256, sha256(&bytes));
    let stored = read(&h.store, &key, None).await;
    assert!(stored == bytes, "the stored bytes differ");
    assert_eq!(sha256(&stored), sha256(&bytes));
    only_object_left(&h, &key).await;
}

async fn resume_reports_the_durable_offset<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("resumed");
    let part_size = h.store.part_size() as usize;
    let bytes = data(3 * part_size + 777, 11);
    // Requests that end mid-part, so that what is durable includes a tail.
    let cuts = [
        part_size / 3,
        part_size + 5,
        2 * part_size + 100,
        bytes.len(),
    ];

    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    let id = upload.upload_id().to_owned();
    append(&mut upload, &bytes[..cuts[0]]).await;
    append(&mut upload, &bytes[cuts[0]..cuts[1]]).await;
    // A restart: the process and its spool are gone.
    drop(upload);

    let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    assert_eq!(upload.offset(), cuts[1] as u64);
    append(&mut upload, &bytes[cuts[1]..cuts[2]]).await;
    drop(upload);

    // Resuming twice in a row changes nothing.
    drop(
        ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
            .await
            .unwrap(),
    );
    let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    assert_eq!(upload.offset(), cuts[2] as u64);
    append(&mut upload, &bytes[cuts[2]..]).await;
    // Completion reads the object back for the hash a resume lost.
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.size, bytes.len() as u64);
    assert_eq!(completed.sha256, sha256(&bytes));
    assert!(read(&h.store, &key, None).await == bytes);
    only_object_left(&h, &key).await;
}

/// The tail objects are `<key>.<first 8 bytes of sha256(upload id), hex>.tail.<N>`.
fn tail_key(key: &str, upload_id: &str, part_number: u32) -> String {
    let digest = Sha256::digest(upload_id.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{key}.{hash}.tail.{part_number}")
}

async fn resume_ignores_a_tail_a_part_absorbed<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("absorbed");
    let part_size = h.store.part_size() as usize;
    let bytes = data(part_size + 10, 12);
    let mut upload = begin_through_parts(&h, &key).await;
    let id = upload.upload_id().to_owned();
    append(&mut upload, &bytes).await;
    drop(upload);
    // What a crash between a part's upload and the deletion of the tail it
    // absorbed leaves: a tail for part 1, which exists.
    let stale = tail_key(&key, &id, 1);
    h.store
        .put(&stale, Body::from(&b"stale bytes"[..]))
        .await
        .unwrap();

    let upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    assert_eq!(upload.offset(), bytes.len() as u64);
    assert!(h.store.head(&stale).await.unwrap_err().is_not_found());
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.sha256, sha256(&bytes));
    assert!(read(&h.store, &key, None).await == bytes);
    only_object_left(&h, &key).await;
}

async fn a_broken_request_keeps_what_arrived<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("broken");
    let bytes = data(h.store.part_size() as usize + 1000, 13);
    let (first, rest) = bytes.split_at(h.store.part_size() as usize / 2 + 3);
    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    let id = upload.upload_id().to_owned();
    // A client that goes away after `first`.
    let broken = futures_util::stream::iter([
        Ok(Bytes::copy_from_slice(&first[..10])),
        Ok(Bytes::copy_from_slice(&first[10..])),
        Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
    ]);
    let err = upload.append(broken).await.unwrap_err();
    assert!(matches!(err, StorageError::Body(_)), "{err}");
    assert_eq!(upload.offset(), first.len() as u64);
    drop(upload);

    let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    assert_eq!(upload.offset(), first.len() as u64);
    append(&mut upload, rest).await;
    upload.complete().await.unwrap();
    assert!(read(&h.store, &key, None).await == bytes);
}

/// An append whose future is dropped mid-request (its task cancelled) leaves
/// the upload where it was durable: the next append goes on from there.
async fn a_dropped_append_keeps_what_was_durable<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("dropped");
    let bytes = data(3 * 1024 * 1024 + 17, 16);
    let first = 100_001;
    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    append(&mut upload, &bytes[..first]).await;
    // The rest, in a request that never ends.
    let never_ends = chunked(&bytes[first..], &CHUNKS).chain(futures_util::stream::pending());
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        upload.append(never_ends),
    )
    .await;
    assert!(dropped.is_err(), "the append ended");
    // What was acknowledged, and perhaps parts the request filled before it
    // was dropped.
    let offset = upload.offset() as usize;
    assert!(offset >= first, "{offset} < {first}");
    assert_eq!(
        append(&mut upload, &bytes[offset..]).await,
        bytes.len() as u64
    );
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.sha256, sha256(&bytes));
    assert!(read(&h.store, &key, None).await == bytes);
    only_object_left(&h, &key).await;
}

/// A completion stopped after the tail became the last part: the upload
/// holds every byte and can only be completed (on S3, where a short part can
/// only be the last; on the filesystem it simply goes on).
async fn a_sealed_upload_only_completes<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("sealed");
    let part_size = h.store.part_size() as usize;
    let bytes = data(part_size + 10, 14);
    let mut upload = begin_through_parts(&h, &key).await;
    let id = upload.upload_id().to_owned();
    append(&mut upload, &bytes[..part_size + 5]).await;
    drop(upload);
    // The completion's first step, by hand: the last 5 bytes as part 2.
    h.store
        .upload_part(
            &key,
            &id,
            2,
            Body::from(bytes[part_size..part_size + 5].to_vec()),
        )
        .await
        .unwrap();

    let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
        .await
        .unwrap();
    assert_eq!(upload.offset(), part_size as u64 + 5);
    let expected = if h.store.min_part_size() > 5 {
        let err = upload
            .append(chunked(&bytes[part_size + 5..], &CHUNKS))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::UploadSealed { .. }), "{err}");
        &bytes[..part_size + 5]
    } else {
        append(&mut upload, &bytes[part_size + 5..]).await;
        &bytes[..]
    };
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.size, expected.len() as u64);
    assert_eq!(completed.sha256, sha256(expected));
    assert!(read(&h.store, &key, None).await == expected);
    only_object_left(&h, &key).await;
}

async fn empty_upload<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("empty");
    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    // An empty request changes nothing.
    assert_eq!(append(&mut upload, b"").await, 0);
    let completed = upload.complete().await.unwrap();
    assert_eq!(completed.size, 0);
    assert_eq!(completed.sha256, sha256(b""));
    assert_eq!(h.store.head(&key).await.unwrap().size, 0);
    only_object_left(&h, &key).await;
}

async fn abort_removes_everything<S: ObjectStore + Clone>(h: Harness<S>) {
    let key = h.key("aborted");
    let part_size = h.store.part_size() as usize;
    let bytes = data(2 * part_size + 99, 15);
    let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
        .await
        .unwrap();
    let id = upload.upload_id().to_owned();
    append(&mut upload, &bytes).await;
    upload.abort().await.unwrap();
    assert!(h.store.list(&h.prefix).await.unwrap().is_empty());
    match ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir()).await {
        Err(StorageError::UploadNotFound { .. }) => {}
        // s3s-fs lists no parts for an upload it does not know.
        Ok(upload) => assert_eq!(upload.offset(), 0),
        Err(err) => panic!("{err}"),
    }
    // The spool files went with the uploads.
    assert_eq!(std::fs::read_dir(h.spool_dir()).unwrap().count(), 0);
}

/// A server drives uploads in spawned tasks: their futures must be Send.
#[test]
fn futures_are_send() {
    fn is_send<T: Send>(_: T) {}
    fn append<S: ObjectStore>(upload: &mut ResumableUpload<S>, request: ByteStream) {
        is_send(upload.append(request));
    }
    fn complete<S: ObjectStore>(upload: ResumableUpload<S>) {
        is_send(upload.complete());
    }
    fn resume(store: AnyStore) {
        is_send(ResumableUpload::resume(
            store,
            "key",
            "id",
            std::path::Path::new("/"),
        ));
    }
    let _ = (append::<AnyStore>, complete::<AnyStore>, resume);
}

/// What only the filesystem store shows: an upload kept as one file in its
/// directory, `<root>/.tributary-uploads/<id>/data`, beside the parts of the
/// multipart API.
mod fs_file {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use storage::FsStore;

    use super::*;

    fn upload_dir(h: &Harness<FsStore>, upload: &ResumableUpload<FsStore>) -> PathBuf {
        h.store
            .root()
            .join(".tributary-uploads")
            .join(upload.upload_id())
    }

    /// The names in the upload's directory, sorted.
    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_go_straight_into_the_upload_file() {
        let h = common::fs().await;
        let key = h.key("straight");
        // Requests below, at and across the 1 MiB block, and an empty one.
        let sizes = [1, 1024 * 1024 - 1, 0, 1024 * 1024, 3 * 1024 * 1024 + 5, 77];
        let bytes = data(sizes.iter().sum(), 30);
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let dir = upload_dir(&h, &upload);
        let mut sent = 0;
        for size in sizes {
            sent += size;
            assert_eq!(
                append(&mut upload, &bytes[sent - size..sent]).await,
                sent as u64
            );
            assert_eq!(upload.offset(), sent as u64);
            assert!(std::fs::read(dir.join("data")).unwrap() == bytes[..sent]);
        }
        // One file, no parts, no spool.
        assert_eq!(names(&dir), ["data", "key", "offset"]);
        assert_eq!(std::fs::read_dir(h.spool_dir()).unwrap().count(), 0);

        let inode = std::fs::metadata(dir.join("data")).unwrap().ino();
        let completed = upload.complete().await.unwrap();
        assert_eq!(completed.size, bytes.len() as u64);
        assert_eq!(completed.sha256, sha256(&bytes));
        assert!(read(&h.store, &key, None).await == bytes);
        // The file itself became the object: no copy.
        let object = h.store.object_path(&key).unwrap();
        assert_eq!(std::fs::metadata(object).unwrap().ino(), inode);
        assert!(!dir.exists());
        only_object_left(&h, &key).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_body_keeps_its_bytes_in_the_file() {
        let h = common::fs().await;
        let key = h.key("broken");
        let bytes = data(3 * 1024 * 1024, 31);
        let (first, rest) = bytes.split_at(2 * 1024 * 1024 + 3);
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let dir = upload_dir(&h, &upload);
        let broken = chunked(first, &CHUNKS).chain(futures_util::stream::iter([Err(
            StorageError::Body("connection reset".into()),
        )]));
        let err = upload.append(broken).await.unwrap_err();
        assert!(matches!(err, StorageError::Body(_)), "{err}");
        assert_eq!(upload.offset(), first.len() as u64);
        assert!(std::fs::read(dir.join("data")).unwrap() == first);
        // The hash went on: completion needs no read back.
        append(&mut upload, rest).await;
        assert_eq!(upload.complete().await.unwrap().sha256, sha256(&bytes));
        assert!(read(&h.store, &key, None).await == bytes);
    }

    /// A request longer than a part is synced as it goes (every 1 MiB block
    /// here, past the tests' small parts): what it made durable counts even
    /// when it never ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_request_is_made_durable_as_it_goes() {
        let h = common::fs().await;
        let key = h.key("long");
        let bytes = data(4 * 1024 * 1024, 37);
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let hangs =
            chunked(&bytes[..3 * 1024 * 1024 + 7], &CHUNKS).chain(futures_util::stream::pending());
        let dropped =
            tokio::time::timeout(std::time::Duration::from_millis(500), upload.append(hangs)).await;
        assert!(dropped.is_err(), "the append ended");
        // The first two blocks at least; the third may still be syncing.
        let offset = upload.offset() as usize;
        assert!(offset >= 2 * 1024 * 1024, "{offset}");
        append(&mut upload, &bytes[offset..]).await;
        let completed = upload.complete().await.unwrap();
        assert_eq!(completed.sha256, sha256(&bytes));
        assert!(read(&h.store, &key, None).await == bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resume_cuts_off_what_was_never_acknowledged() {
        let h = common::fs().await;
        let key = h.key("cut");
        let bytes = data(2 * 1024 * 1024 + 999, 32);
        let (first, rest) = bytes.split_at(1024 * 1024 + 10);
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let id = upload.upload_id().to_owned();
        let dir = upload_dir(&h, &upload);
        append(&mut upload, first).await;
        drop(upload);
        // What a crash mid-request leaves: bytes written past the durable
        // offset, never acknowledged.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("data"))
            .unwrap()
            .write_all(&data(300_000, 33))
            .unwrap();

        let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
            .await
            .unwrap();
        assert_eq!(upload.offset(), first.len() as u64);
        assert_eq!(
            std::fs::metadata(dir.join("data")).unwrap().len(),
            first.len() as u64
        );
        append(&mut upload, rest).await;
        let completed = upload.complete().await.unwrap();
        assert_eq!(completed.size, bytes.len() as u64);
        assert_eq!(completed.sha256, sha256(&bytes));
        assert!(read(&h.store, &key, None).await == bytes);
        assert!(!dir.exists());
        only_object_left(&h, &key).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abort_leaves_nothing() {
        let h = common::fs().await;
        let key = h.key("aborted");
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let id = upload.upload_id().to_owned();
        let dir = upload_dir(&h, &upload);
        append(&mut upload, &data(1024 * 1024 + 1, 34)).await;
        upload.abort().await.unwrap();
        assert!(!dir.exists());
        assert!(h.store.list("").await.unwrap().is_empty());
        assert!(matches!(
            ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir()).await,
            Err(StorageError::UploadNotFound { .. })
        ));
    }

    /// A crash after completion renamed the file into place, before the
    /// upload's directory was removed: the upload is over.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_completion_stopped_after_the_rename_is_over() {
        let h = common::fs().await;
        let key = h.key("renamed");
        let bytes = data(5000, 35);
        let mut upload = ResumableUpload::create(h.store.clone(), &key, h.spool_dir())
            .await
            .unwrap();
        let id = upload.upload_id().to_owned();
        let dir = upload_dir(&h, &upload);
        append(&mut upload, &bytes).await;
        drop(upload);
        let object = h.store.object_path(&key).unwrap();
        std::fs::create_dir_all(object.parent().unwrap()).unwrap();
        std::fs::rename(dir.join("data"), &object).unwrap();

        assert!(matches!(
            ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir()).await,
            Err(StorageError::UploadNotFound { .. })
        ));
        assert!(!dir.exists());
        assert!(read(&h.store, &key, None).await == bytes);
    }

    /// An upload created before uploads were kept as one file (parts on
    /// disk, no data file) resumes and completes through parts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_begun_through_parts_goes_on_through_parts() {
        let h = common::fs().await;
        let key = h.key("parts");
        let part_size = h.store.part_size() as usize;
        let bytes = data(2 * part_size + 321, 36);
        let cut = part_size + 7;
        let mut upload = begin_through_parts(&h, &key).await;
        let id = upload.upload_id().to_owned();
        let dir = upload_dir(&h, &upload);
        append(&mut upload, &bytes[..cut]).await;
        drop(upload);
        assert_eq!(names(&dir), ["key", "part-00001", "part-00002"]);

        let mut upload = ResumableUpload::resume(h.store.clone(), &key, &id, h.spool_dir())
            .await
            .unwrap();
        assert_eq!(upload.offset(), cut as u64);
        append(&mut upload, &bytes[cut..]).await;
        assert!(!dir.join("data").exists());
        let completed = upload.complete().await.unwrap();
        assert_eq!(completed.size, bytes.len() as u64);
        assert_eq!(completed.sha256, sha256(&bytes));
        assert!(read(&h.store, &key, None).await == bytes);
        assert!(!dir.exists());
        only_object_left(&h, &key).await;
    }
}
