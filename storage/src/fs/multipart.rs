//! Multipart uploads on the filesystem: each upload is a directory under
//! `<root>/.tributary-uploads/<id>/` holding the target key (`key`) and one
//! file per part (`part-00001`, ...). Completion concatenates the parts into
//! a temporary file beside the target and renames it into place. A
//! `ResumableUpload` keeps its bytes in the same directory as one file
//! instead (`upload_file.rs`); the parts ignore it.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::body::Body;
use crate::error::{Result, StorageError};
use crate::key::RESERVED_PREFIX;
use crate::store::{Part, check_completion, check_part_number};

use super::atomic::TempFile;

const KEY_FILE: &str = "key";
const PART_PREFIX: &str = "part-";

fn uploads_dir(root: &Path) -> PathBuf {
    root.join(format!("{RESERVED_PREFIX}uploads"))
}

fn part_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{PART_PREFIX}{number:05}"))
}

fn io_error(path: &Path, context: &str, err: io::Error) -> StorageError {
    StorageError::io(format!("{context} {}", path.display()), err)
}

pub(super) async fn create(root: &Path, key: &str) -> Result<String> {
    let upload_id = format!("{:032x}", rand::random::<u128>());
    let dir = uploads_dir(root).join(&upload_id);
    let key_path = dir.join(KEY_FILE);
    let mut temp = TempFile::beside(&key_path).await?;
    temp.write_body(Body::Bytes(key.to_owned().into())).await?;
    temp.commit(&key_path).await?;
    Ok(upload_id)
}

/// The directory of upload `upload_id` to `key`; UploadNotFound when there is
/// none, or when it is another key's.
pub(super) async fn open(root: &Path, key: &str, upload_id: &str) -> Result<PathBuf> {
    let not_found = || StorageError::UploadNotFound {
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
    };
    // Ids are ours: anything else (a path, say) names no upload.
    if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let dir = uploads_dir(root).join(upload_id);
    let key_path = dir.join(KEY_FILE);
    match tokio::fs::read(&key_path).await {
        Ok(stored) if stored == key.as_bytes() => Ok(dir),
        Ok(_) => Err(not_found()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(not_found()),
        Err(err) => Err(io_error(&key_path, "read", err)),
    }
}

/// A part file's etag: its size and modification time, so that a part
/// written again under the same number gets a new one.
fn etag(meta: &std::fs::Metadata) -> String {
    let nanos = meta
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    format!("{}-{nanos:x}", meta.len())
}

async fn part_meta(path: &Path) -> Result<Option<std::fs::Metadata>> {
    match tokio::fs::metadata(path).await {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error(path, "stat", err)),
    }
}

pub(super) async fn upload_part(
    root: &Path,
    key: &str,
    upload_id: &str,
    number: u32,
    body: Body,
) -> Result<Part> {
    check_part_number(number)?;
    let dir = open(root, key, upload_id).await?;
    let path = part_path(&dir, number);
    let mut temp = TempFile::beside(&path).await?;
    temp.write_body(body).await?;
    temp.commit(&path).await?;
    let meta = part_meta(&path)
        .await?
        .ok_or_else(|| io_error(&path, "stat", io::ErrorKind::NotFound.into()))?;
    Ok(Part {
        number,
        size: meta.len(),
        etag: etag(&meta),
    })
}

pub(super) async fn list_parts(root: &Path, key: &str, upload_id: &str) -> Result<Vec<Part>> {
    let dir = open(root, key, upload_id).await?;
    let mut entries = tokio::fs::read_dir(&dir)
        .await
        .map_err(|err| io_error(&dir, "list", err))?;
    let mut parts = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|err| io_error(&dir, "list", err))?
    {
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PART_PREFIX))
            .and_then(|digits| digits.parse::<u32>().ok())
        else {
            continue;
        };
        let meta = entry
            .metadata()
            .await
            .map_err(|err| io_error(&entry.path(), "stat", err))?;
        parts.push(Part {
            number,
            size: meta.len(),
            etag: etag(&meta),
        });
    }
    parts.sort_by_key(|part| part.number);
    Ok(parts)
}

pub(super) async fn complete(
    root: &Path,
    key: &str,
    upload_id: &str,
    parts: &[Part],
    dest: &Path,
) -> Result<()> {
    check_completion(parts)?;
    let dir = open(root, key, upload_id).await?;
    let mut temp = TempFile::beside(dest).await?;
    for part in parts {
        let path = part_path(&dir, part.number);
        let invalid = |reason| StorageError::InvalidPart {
            part_number: part.number,
            reason,
        };
        let meta = part_meta(&path)
            .await?
            .ok_or_else(|| invalid("not uploaded"))?;
        if etag(&meta) != part.etag {
            return Err(invalid("etag does not match the uploaded part"));
        }
        temp.copy_region(&path, 0, meta.len()).await?;
    }
    temp.commit(dest).await?;
    // The object is in place: a failure to clean up only leaves files behind.
    if let Err(err) = tokio::fs::remove_dir_all(&dir).await {
        tracing::warn!(dir = %dir.display(), %err, "could not remove a completed upload");
    }
    Ok(())
}

pub(super) async fn abort(root: &Path, key: &str, upload_id: &str) -> Result<()> {
    let dir = open(root, key, upload_id).await?;
    tokio::fs::remove_dir_all(&dir)
        .await
        .map_err(|err| io_error(&dir, "delete", err))
}
