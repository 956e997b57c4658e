//! What lets a second `video upload` of the same file resume: a small JSON
//! file per upload in the user's cache directory, named after a digest of
//! the server and the file's path, size and modification time.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What makes two runs the same upload.
#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Debug)]
pub struct Identity {
    pub server: String,
    pub file: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Saved {
    #[serde(flatten)]
    identity: Identity,
    pub video_id: String,
    /// The signed tus upload URL: it alone lets one upload, hence mode 0600.
    pub upload_url: String,
}

pub struct StateFile {
    path: PathBuf,
    identity: Identity,
}

impl StateFile {
    pub fn new(identity: Identity) -> anyhow::Result<StateFile> {
        let key = serde_json::to_vec(&identity).context("naming the state file")?;
        let name = crate::ids::hex(&Sha256::digest(&key)[..16]);
        Ok(StateFile {
            path: state_dir()?.join(format!("{name}.json")),
            identity,
        })
    }

    /// The saved upload of this file, if any; an unreadable state is
    /// ignored (the next save replaces it).
    pub fn load(&self) -> Option<Saved> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let saved: Saved = serde_json::from_str(&text).ok()?;
        (saved.identity == self.identity).then_some(saved)
    }

    pub fn save(&self, video_id: &str, upload_url: &str) -> anyhow::Result<()> {
        let saved = Saved {
            identity: self.identity.clone(),
            video_id: video_id.to_owned(),
            upload_url: upload_url.to_owned(),
        };
        let text = serde_json::to_string_pretty(&saved)?;
        write_private(&self.path, text.as_bytes())
            .with_context(|| format!("saving the upload's state in {}", self.path.display()))
    }

    pub fn remove(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// `$XDG_CACHE_HOME/tributary/uploads`, or `~/.cache/tributary/uploads`.
fn state_dir() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .context("no directory for the upload's resume state: set XDG_CACHE_HOME or HOME")?;
    Ok(cache.join("tributary").join("uploads"))
}

/// Writes a file readable by its owner only, whole or not at all (a
/// temporary file renamed into place).
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}
