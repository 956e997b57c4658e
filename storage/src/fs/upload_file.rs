//! Uploads kept as one file: what a [`crate::ResumableUpload`] appends to on
//! the filesystem store, so that each byte is written once. Beside the parts
//! of the multipart API, the upload's directory then holds:
//! - `data`: the bytes appended, written in 1 MiB blocks whose writeback
//!   starts at once, and synced at the end of each append and every part
//!   size within a long one;
//! - `offset`: the durable offset, as two records 4 KiB apart, each the
//!   offset and a checksum of it. An append syncs `data`, then overwrites the
//!   older record in place and syncs it: one block and no metadata to journal
//!   (a file renamed into place costs two journal commits per append). A torn
//!   write spoils only the record being written; the other still holds the
//!   previous offset. The durable offset is the larger valid record.
//!
//! Opening an upload truncates `data` to the durable offset: bytes past it
//! were never acknowledged and may never have reached the disk. Completion
//! renames `data` into place as the object. A directory with `offset` but no
//! `data` is that of a completion that stopped after the rename: opening it
//! finishes the completion's cleanup and reports the upload gone, as a whole
//! completion would have left it. A directory without `offset` is that of an
//! upload begun through parts (before uploads were kept as one file): it has
//! no file and goes on through parts.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::key::validate_key;

use super::atomic::{TempFile, parent, sync_dir};
use super::multipart;

const DATA_FILE: &str = "data";
const OFFSET_FILE: &str = "offset";
/// Appended bytes go to the file in blocks of this size, each written on a
/// blocking thread while the next one fills: one trip to the blocking pool
/// per MiB, not per chunk.
const BLOCK: usize = 1024 * 1024;
/// Where the two offset records are: in different disk blocks, so that a
/// write to one never tears the other.
const RECORD_AT: [u64; 2] = [0, 4096];
const RECORD_LEN: usize = 16;

/// Where a filesystem store keeps its uploads, as
/// [`crate::ObjectStore::local_uploads`] hands it out: a
/// [`crate::ResumableUpload`] uses it to append to one file per upload.
#[derive(Debug, Clone)]
pub struct LocalUploads {
    root: Arc<Path>,
    /// How many bytes a long append takes, at most, between two syncs: the
    /// store's part size, so that a crash keeps as much as with parts.
    checkpoint: u64,
}

impl LocalUploads {
    pub(super) fn new(root: Arc<Path>, checkpoint: u64) -> LocalUploads {
        LocalUploads { root, checkpoint }
    }

    /// Gives upload `upload_id` to `key`, just created, its file.
    pub(crate) async fn start(&self, key: &str, upload_id: &str) -> Result<UploadFile> {
        let (dir, dest) = self.locate(key, upload_id).await?;
        let data = dir.join(DATA_FILE);
        tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&data)
            .await
            .map_err(|err| io_error(&data, "create", err))?;
        // Committed after `data` exists, with a sync of the directory: an
        // `offset` implies its `data` (see `open_files`).
        let offset = dir.join(OFFSET_FILE);
        let mut temp = TempFile::beside(&offset).await?;
        temp.write_body(Body::Bytes(initial_records().into()))
            .await?;
        temp.commit(&offset).await?;
        UploadFile::open(key, upload_id, dir, dest, self.checkpoint)
            .await?
            .ok_or_else(|| not_found(key, upload_id))
    }

    /// The file of upload `upload_id` to `key`, cut back to its durable
    /// offset; None when the upload has none (it was begun through parts).
    pub(crate) async fn open(&self, key: &str, upload_id: &str) -> Result<Option<UploadFile>> {
        let (dir, dest) = self.locate(key, upload_id).await?;
        UploadFile::open(key, upload_id, dir, dest, self.checkpoint).await
    }

    /// The upload's directory and the path of the object it makes.
    async fn locate(&self, key: &str, upload_id: &str) -> Result<(PathBuf, PathBuf)> {
        validate_key(key)?;
        let dir = multipart::open(&self.root, key, upload_id).await?;
        Ok((dir, self.root.join(key)))
    }
}

/// An upload's data file, open for appending.
pub(crate) struct UploadFile {
    dir: PathBuf,
    /// Where the object goes on completion.
    dest: PathBuf,
    files: Arc<Files>,
    /// Within a long append, the bytes are made durable at least this often.
    checkpoint: u64,
    /// The bytes of `data` that are durable, as the records say.
    durable: u64,
    /// The bytes taken so far: durable, being written, or in `block`.
    len: u64,
    /// The record the next sync overwrites: the older one.
    next_record: usize,
    /// The block being filled; allocated by the first write after a sync.
    block: Vec<u8>,
    /// The block being written (and perhaps synced) on a blocking thread.
    /// Kept here rather than in an append's future so that after a dropped
    /// append, `reload` waits for it before cutting the file back.
    writing: Option<JoinHandle<Result<Written>>>,
}

/// The open files of an upload, shared with the blocking threads that
/// write them.
struct Files {
    data: File,
    data_path: PathBuf,
    records: File,
    records_path: PathBuf,
}

/// What a block's write hands back.
struct Written {
    /// The block, emptied, for the next one.
    block: Vec<u8>,
    /// The durable offset recorded after the block, if it was synced.
    recorded: Option<u64>,
}

impl UploadFile {
    async fn open(
        key: &str,
        upload_id: &str,
        dir: PathBuf,
        dest: PathBuf,
        checkpoint: u64,
    ) -> Result<Option<UploadFile>> {
        let opened = blocking({
            let dir = dir.clone();
            move || open_files(&dir)
        })
        .await?;
        match opened {
            Opened::Parts => Ok(None),
            Opened::Completed => {
                if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
                    tracing::warn!(dir = %dir.display(), %err, "could not remove a completed upload");
                }
                Err(not_found(key, upload_id))
            }
            Opened::Files {
                files,
                durable,
                next_record,
            } => Ok(Some(UploadFile {
                dir,
                dest,
                files: Arc::new(files),
                checkpoint,
                durable,
                len: durable,
                next_record,
                block: Vec::new(),
                writing: None,
            })),
        }
    }

    /// How many bytes are durable.
    pub(crate) fn durable(&self) -> u64 {
        self.durable
    }

    /// Takes `bytes`, writing a block each time one fills, and syncing one
    /// now and then; `sync` makes them all durable.
    pub(crate) async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            if self.block.capacity() == 0 {
                self.block.reserve_exact(BLOCK);
            }
            let taken = (BLOCK - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..taken]);
            self.len += taken as u64;
            bytes = &bytes[taken..];
            if self.block.len() == BLOCK {
                // The block written before hands its memory over.
                let spare = self.wait().await?.unwrap_or_default();
                let full = std::mem::replace(&mut self.block, spare);
                // A crash in a long request keeps what the last
                // checkpoint made durable, as it kept the parts.
                let sync = self.len - self.durable >= self.checkpoint;
                self.spawn(full, sync);
            }
        }
        Ok(())
    }

    /// Writes what is left, syncs the data and records the new durable
    /// offset; returns it.
    pub(crate) async fn sync(&mut self) -> Result<u64> {
        self.wait().await?;
        if self.len > self.durable {
            let rest = std::mem::take(&mut self.block);
            self.spawn(rest, true);
            self.wait().await?;
        }
        Ok(self.durable)
    }

    /// Goes back to the durable offset it reports, after a failed or
    /// dropped append. A sync cut short may have recorded more, but nobody
    /// was told: that record is put back too, so that the offset reported
    /// stays the one the next append goes on from.
    pub(crate) async fn reload(&mut self) -> Result<()> {
        let (durable, next_record) = (self.durable, self.next_record);
        // Whatever the write in flight did, its record included, is undone
        // below: only its end matters, not its outcome.
        let _ = self.wait().await;
        self.durable = durable;
        self.next_record = next_record;
        self.block = Vec::new();
        let files = self.files.clone();
        blocking(move || files.cut_back(durable, next_record)).await?;
        self.len = durable;
        Ok(())
    }

    /// Makes the data the object: synced, renamed into place, its directory
    /// synced; then removes the upload. Returns the object's size.
    pub(crate) async fn complete(mut self) -> Result<u64> {
        let size = self.sync().await?;
        let files = self.files.clone();
        blocking(move || {
            files
                .data
                .sync_all()
                .map_err(|err| io_error(&files.data_path, "sync", err))
        })
        .await?;
        rename_into_place(&self.files.data_path, &self.dest).await?;
        // The object is in place: a failure to clean up only leaves files behind.
        if let Err(err) = tokio::fs::remove_dir_all(&self.dir).await {
            tracing::warn!(dir = %self.dir.display(), %err, "could not remove a completed upload");
        }
        Ok(size)
    }

    /// Removes the upload and its bytes.
    pub(crate) async fn abort(self) -> Result<()> {
        tokio::fs::remove_dir_all(&self.dir)
            .await
            .map_err(|err| io_error(&self.dir, "delete", err))
    }

    /// Writes `block`, the last bytes taken, on a blocking thread; with
    /// `sync`, then makes every byte taken durable.
    fn spawn(&mut self, mut block: Vec<u8>, sync: bool) {
        let files = self.files.clone();
        let at = self.len - block.len() as u64;
        let record = sync.then_some((self.len, self.next_record));
        self.writing = Some(tokio::task::spawn_blocking(move || {
            files.append(&block, at)?;
            if let Some((offset, index)) = record {
                files.record(offset, index)?;
            }
            block.clear();
            Ok(Written {
                block,
                recorded: record.map(|(offset, _)| offset),
            })
        }));
    }

    /// Waits for the block being written; returns it, emptied.
    async fn wait(&mut self) -> Result<Option<Vec<u8>>> {
        let Some(writing) = &mut self.writing else {
            return Ok(None);
        };
        // Awaited in place: a drop of this future leaves it in `writing`.
        let written = writing.await;
        self.writing = None;
        let written = written.map_err(|err| StorageError::io("write", io::Error::other(err)))??;
        if let Some(offset) = written.recorded {
            self.durable = offset;
            self.next_record = 1 - self.next_record;
        }
        Ok(Some(written.block))
    }
}

impl Files {
    /// Appends `block`, which starts at `at` in the file, and has the kernel
    /// start writing it out.
    fn append(&self, block: &[u8], at: u64) -> Result<()> {
        (&self.data)
            .write_all(block)
            .map_err(|err| io_error(&self.data_path, "write", err))?;
        if !block.is_empty() {
            // Only a hint: the sync that follows reports what failed.
            let _ = start_writeback(&self.data, at, block.len() as u64);
        }
        Ok(())
    }

    /// Syncs the data, then records `offset` as durable in record `index`.
    fn record(&self, offset: u64, index: usize) -> Result<()> {
        self.data
            .sync_data()
            .map_err(|err| io_error(&self.data_path, "sync", err))?;
        write_record(&self.records, RECORD_AT[index], offset)
            .map_err(|err| io_error(&self.records_path, "write", err))
    }

    /// Cuts the data back to `offset` and makes record `index` say so: the
    /// other one does already, and stands if this write tears.
    fn cut_back(&self, offset: u64, index: usize) -> Result<()> {
        // The record first: one above the data's length would not open.
        write_record(&self.records, RECORD_AT[index], offset)
            .map_err(|err| io_error(&self.records_path, "write", err))?;
        self.data
            .set_len(offset)
            .and_then(|()| (&self.data).seek(SeekFrom::Start(offset)))
            .map_err(|err| io_error(&self.data_path, "truncate", err))?;
        Ok(())
    }
}

enum Opened {
    /// No offset record: an upload begun through parts.
    Parts,
    /// An offset record without data: the data became the object.
    Completed,
    Files {
        files: Files,
        durable: u64,
        next_record: usize,
    },
}

/// Reads the durable offset and opens the data file at it, cutting off the
/// bytes past it.
fn open_files(dir: &Path) -> Result<Opened> {
    let records_path = dir.join(OFFSET_FILE);
    let mut records = match OpenOptions::new()
        .read(true)
        .write(true)
        .open(&records_path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Opened::Parts),
        Err(err) => return Err(io_error(&records_path, "open", err)),
    };
    let mut bytes = Vec::new();
    records
        .read_to_end(&mut bytes)
        .map_err(|err| io_error(&records_path, "read", err))?;
    let (durable, newest) = newest_record(&bytes).ok_or_else(|| {
        io_error(
            &records_path,
            "read",
            io::Error::new(io::ErrorKind::InvalidData, "no valid offset record"),
        )
    })?;
    let data_path = dir.join(DATA_FILE);
    let mut data = match OpenOptions::new().write(true).open(&data_path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Opened::Completed),
        Err(err) => return Err(io_error(&data_path, "open", err)),
    };
    let len = data
        .metadata()
        .map_err(|err| io_error(&data_path, "stat", err))?
        .len();
    if len < durable {
        return Err(io_error(
            &data_path,
            "open",
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{len} bytes where {durable} were recorded as durable"),
            ),
        ));
    }
    if len > durable {
        data.set_len(durable)
            .map_err(|err| io_error(&data_path, "truncate", err))?;
    }
    data.seek(SeekFrom::Start(durable))
        .map_err(|err| io_error(&data_path, "seek", err))?;
    Ok(Opened::Files {
        files: Files {
            data,
            data_path,
            records,
            records_path,
        },
        durable,
        next_record: 1 - newest,
    })
}

/// A new upload's records: offset 0 in the first, the second invalid (and
/// allocated, so that writing it changes no file size).
fn initial_records() -> Vec<u8> {
    let mut bytes = vec![0; RECORD_AT[1] as usize + RECORD_LEN];
    bytes[..RECORD_LEN].copy_from_slice(&encode_record(0));
    bytes
}

fn encode_record(offset: u64) -> [u8; RECORD_LEN] {
    let mut record = [0; RECORD_LEN];
    record[..8].copy_from_slice(&offset.to_le_bytes());
    record[8..].copy_from_slice(&record_check(offset));
    record
}

fn record_check(offset: u64) -> [u8; 8] {
    let digest = Sha256::digest(offset.to_le_bytes());
    let mut check = [0; 8];
    check.copy_from_slice(&digest[..8]);
    check
}

fn decode_record(record: &[u8]) -> Option<u64> {
    let offset = u64::from_le_bytes(record.get(..8)?.try_into().ok()?);
    (record.get(8..RECORD_LEN)? == record_check(offset)).then_some(offset)
}

/// The larger valid record of the file's bytes, and which one it is.
fn newest_record(bytes: &[u8]) -> Option<(u64, usize)> {
    (0..RECORD_AT.len())
        .filter_map(|index| {
            let at = RECORD_AT[index] as usize;
            let offset = decode_record(bytes.get(at..at + RECORD_LEN)?)?;
            Some((offset, index))
        })
        .max_by_key(|&(offset, index)| (offset, std::cmp::Reverse(index)))
}

fn write_record(records: &File, at: u64, offset: u64) -> io::Result<()> {
    let mut file = records;
    file.seek(SeekFrom::Start(at))?;
    file.write_all(&encode_record(offset))?;
    records.sync_data()
}

/// Asks the kernel to start writing `len` bytes from `offset` out now
/// rather than when a sync asks: the disk works while the next blocks
/// arrive, and the sync at the end of an append finds little left to do.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor belongs to `file`, open for the whole call;
    // sync_file_range reads no memory of ours.
    let result = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_: &File, _: u64, _: u64) -> io::Result<()> {
    Ok(())
}

/// Renames `from` to `dest`, creating `dest`'s directory when missing, and
/// syncs that directory so that the new name survives a crash.
async fn rename_into_place(from: &Path, dest: &Path) -> Result<()> {
    let dir = parent(dest)?;
    let mut attempts = 0;
    loop {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|err| io_error(dir, "create", err))?;
        match tokio::fs::rename(from, dest).await {
            Ok(()) => return sync_dir(dir).await,
            // A concurrent delete may prune the directory once it is empty,
            // between its creation and the rename.
            Err(err) if err.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(err) => return Err(io_error(dest, "write", err)),
        }
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|err| StorageError::io("blocking task", io::Error::other(err)))?
}

fn not_found(key: &str, upload_id: &str) -> StorageError {
    StorageError::UploadNotFound {
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
    }
}

fn io_error(path: &Path, context: &str, err: io::Error) -> StorageError {
    StorageError::io(format!("{context} {}", path.display()), err)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{FsStore, ObjectStore};

    fn records(first: Option<u64>, second: Option<u64>) -> Vec<u8> {
        let mut bytes = vec![0xAB; RECORD_AT[1] as usize + RECORD_LEN];
        for (index, offset) in [first, second].into_iter().enumerate() {
            if let Some(offset) = offset {
                let at = RECORD_AT[index] as usize;
                bytes[at..at + RECORD_LEN].copy_from_slice(&encode_record(offset));
            }
        }
        bytes
    }

    #[test]
    fn the_larger_valid_record_wins() {
        assert_eq!(newest_record(&initial_records()), Some((0, 0)));
        assert_eq!(newest_record(&records(Some(5), Some(9))), Some((9, 1)));
        assert_eq!(newest_record(&records(Some(12), Some(9))), Some((12, 0)));
        assert_eq!(newest_record(&records(Some(7), Some(7))), Some((7, 0)));
        // A torn or garbled record is ignored.
        assert_eq!(newest_record(&records(Some(5), None)), Some((5, 0)));
        let mut torn = records(Some(5), Some(1 << 40));
        torn[RECORD_AT[1] as usize + 12] ^= 1;
        assert_eq!(newest_record(&torn), Some((5, 0)));
        assert_eq!(newest_record(&records(None, None)), None);
        assert_eq!(newest_record(&[]), None);
        // A file cut short holds the first record only.
        assert_eq!(
            newest_record(&records(Some(3), Some(4))[..100]),
            Some((3, 0))
        );
    }

    /// A sync whose future is dropped goes on and records its offset, which
    /// was never reported: a reload puts the file and the record back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reload_undoes_a_sync_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).await.unwrap();
        let uploads = store.local_uploads().unwrap();
        let id = store.create_upload("key").await.unwrap();
        let mut file = uploads.start("key", &id).await.unwrap();
        let mut durable = b"durable".to_vec();
        file.write(&durable).await.unwrap();
        assert_eq!(file.sync().await.unwrap(), 7);
        // A sync polled once (it starts on a blocking thread), then dropped;
        // one that finished within that poll is simply durable.
        loop {
            file.write(b", more").await.unwrap();
            match tokio::time::timeout(Duration::ZERO, file.sync()).await {
                Err(_) => break,
                Ok(synced) => {
                    durable.extend_from_slice(b", more");
                    assert_eq!(synced.unwrap(), durable.len() as u64);
                }
            }
        }
        let recorded = durable.len() as u64 + 6;
        let records = file.dir.join(OFFSET_FILE);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while newest_record(&std::fs::read(&records).unwrap()).map(|(offset, _)| offset)
            != Some(recorded)
        {
            assert!(std::time::Instant::now() < deadline, "the sync never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        file.reload().await.unwrap();
        assert_eq!(file.durable(), durable.len() as u64);
        assert_eq!(std::fs::read(file.dir.join(DATA_FILE)).unwrap(), durable);
        file.write(b"!").await.unwrap();
        durable.push(b'!');
        assert_eq!(file.sync().await.unwrap(), durable.len() as u64);
        drop(file);
        let file = uploads.open("key", &id).await.unwrap().unwrap();
        assert_eq!(file.durable(), durable.len() as u64);
        assert_eq!(std::fs::read(file.dir.join(DATA_FILE)).unwrap(), durable);
    }
}
