//! One chunk of the file: read once for its SHA-256 (Upload-Checksum goes
//! before the body), then streamed from the file as the request body, paced
//! to the rate limit. Memory holds a buffer, never the chunk.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;
use tokio_util::io::ReaderStream;

use super::progress::Shared;

const BUFFER: usize = 64 * 1024;

pub struct Chunk {
    pub offset: u64,
    pub length: u64,
    pub sha256: [u8; 32],
}

impl Chunk {
    /// Hashes the file's bytes `offset..offset + length`.
    pub async fn read(path: &Path, offset: u64, length: u64) -> anyhow::Result<Chunk> {
        let mut reader = open_region(path, offset, length).await?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; BUFFER];
        let mut read = 0;
        loop {
            let n = reader
                .read(&mut buffer)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            read += n as u64;
        }
        if read != length {
            bail!("{} got shorter during the upload", path.display());
        }
        Ok(Chunk {
            offset,
            length,
            sha256: hasher.finalize().into(),
        })
    }

    /// The chunk's bytes as a request body, read as they are sent, at most
    /// `limit` bytes a second; `progress` follows them.
    pub async fn body(
        &self,
        path: &Path,
        limit: Option<u64>,
        progress: Shared,
    ) -> anyhow::Result<reqwest::Body> {
        let reader = open_region(path, self.offset, self.length).await?;
        let mut position = self.offset;
        let mut due = Instant::now();
        let pieces = ReaderStream::with_capacity(reader, BUFFER).then(move |piece| {
            let len = piece.as_ref().map_or(0, |bytes| bytes.len() as u64);
            position += len;
            // Each piece leaves no sooner than the rate allows after the last.
            let wait = limit.map(|rate| {
                due = due.max(Instant::now()) + Duration::from_secs_f64(len as f64 / rate as f64);
                due
            });
            let progress = progress.clone();
            let at = position;
            async move {
                if let Some(due) = wait {
                    tokio::time::sleep_until(due).await;
                }
                progress.lock().set(at);
                piece
            }
        });
        Ok(reqwest::Body::wrap_stream(pieces))
    }
}

async fn open_region(
    path: &Path,
    offset: u64,
    length: u64,
) -> anyhow::Result<tokio::io::Take<tokio::fs::File>> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(file.take(length))
}
