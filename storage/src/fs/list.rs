//! Listing the filesystem store: a walk of the directories a prefix can
//! reach, skipping the store's own reserved files.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};
use crate::key::RESERVED_PREFIX;
use crate::store::ObjectMeta;

/// The objects under `root` whose keys start with `prefix`, by key.
pub(super) async fn list(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>> {
    // Start from the deepest directory the prefix names whole.
    let start = prefix.rfind('/').map_or("", |slash| &prefix[..=slash]);
    let mut pending: Vec<(PathBuf, String)> = vec![(root.join(start), start.to_owned())];
    let mut found = Vec::new();
    while let Some((dir, dir_key)) = pending.pop() {
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(read_error(&dir, err)),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|err| read_error(&dir, err))?
        {
            // A name that is not UTF-8 cannot be a key: not ours.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with(RESERVED_PREFIX) {
                continue;
            }
            let key = format!("{dir_key}{name}");
            // The type of the entry itself: symlinks are not followed.
            let file_type = entry
                .file_type()
                .await
                .map_err(|err| read_error(&entry.path(), err))?;
            if file_type.is_dir() {
                let sub = format!("{key}/");
                if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                    pending.push((entry.path(), sub));
                }
            } else if file_type.is_file() && key.starts_with(prefix) {
                let meta = entry
                    .metadata()
                    .await
                    .map_err(|err| read_error(&entry.path(), err))?;
                found.push(ObjectMeta {
                    key,
                    size: meta.len(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

fn read_error(path: &Path, err: io::Error) -> StorageError {
    StorageError::io(format!("list {}", path.display()), err)
}
