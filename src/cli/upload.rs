//! `tributary video upload`: creates the video, then sends the file with
//! tus in checksummed chunks; a failed request is retried from the server's
//! offset, and an interrupted run is resumed by the next one from a state
//! file.

mod chunk;
mod progress;
mod state;
mod tus;

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::video::video_path;
use super::{Api, ApiRefusal};
use chunk::Chunk;
use progress::{Shared, human};
use state::{Identity, StateFile};
use tus::{Failure, Tus};

/// Failed requests in a row before giving up (the state file stays: the
/// same command resumes).
const MAX_FAILURES: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

#[derive(Args)]
pub struct UploadArgs {
    /// The video file.
    file: PathBuf,
    /// The video's title.
    #[arg(long)]
    title: String,
    /// The video's description.
    #[arg(long, default_value = "", hide_default_value = true)]
    description: String,
    /// Size of each request (chunk), in MiB.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    chunk_size_mib: u64,
    /// After the upload, show the transcode's progress until the video is
    /// ready (or plays with nothing left to do, or failed).
    #[arg(long)]
    pub wait: bool,
    /// Send at most this many KiB a second (no limit by default).
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u64).range(1..))]
    limit_rate: Option<u64>,
}

/// The file as it was when the upload started.
struct Source {
    path: PathBuf,
    name: String,
    size: u64,
    modified_ns: u64,
}

/// The upload this run sends to.
struct Target {
    video_id: String,
    url: String,
    offset: u64,
}

/// Uploads the file and returns the video as the API shows it then.
pub async fn upload(api: &Api, args: UploadArgs) -> anyhow::Result<Value> {
    let source = Source::open(&args.file)?;
    let state = StateFile::new(Identity {
        server: api.server().to_owned(),
        file: source.path.clone(),
        size: source.size,
        modified_ns: source.modified_ns,
    })?;
    let mut run = Run {
        api,
        tus: Tus::new()?,
        progress: Shared::new(source.size),
        failures: 0,
        state,
        source,
        args,
    };
    let sent = tokio::select! {
        sent = run.target_and_send() => sent,
        Ok(()) = tokio::signal::ctrl_c() => Err(anyhow!("interrupted: run the same command again to resume")),
    };
    run.progress.lock().finish();
    let video_id = sent?;
    run.state.remove()?;
    if run.args.wait {
        return super::processing::wait(api, &video_id).await;
    }
    api.send(api.request(Method::GET, &video_path(&video_id)))
        .await
}

impl Source {
    fn open(file: &Path) -> anyhow::Result<Source> {
        let path = std::fs::canonicalize(file).with_context(|| format!("{}", file.display()))?;
        let metadata = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if !metadata.is_file() {
            bail!("{} is not a file", path.display());
        }
        if metadata.len() == 0 {
            bail!("{} is empty", path.display());
        }
        Ok(Source {
            name: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size: metadata.len(),
            modified_ns: modified_ns(&metadata),
            path,
        })
    }

    /// Fails if the file changed since the upload started: what is sent
    /// must be one version of it.
    fn ensure_unchanged(&self) -> anyhow::Result<()> {
        let metadata =
            std::fs::metadata(&self.path).with_context(|| format!("{}", self.path.display()))?;
        if metadata.len() != self.size || modified_ns(&metadata) != self.modified_ns {
            bail!("{} changed during the upload", self.path.display());
        }
        Ok(())
    }
}

fn modified_ns(metadata: &std::fs::Metadata) -> u64 {
    metadata
        .modified()
        .ok()
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// One run of the command: what it uploads, where, and its retry budget.
struct Run<'a> {
    api: &'a Api,
    tus: Tus,
    state: StateFile,
    source: Source,
    args: UploadArgs,
    progress: Shared,
    /// Failed requests in a row.
    failures: u32,
}

impl Run<'_> {
    /// Sends the file to the upload it belongs to; returns the video's id.
    async fn target_and_send(&mut self) -> anyhow::Result<String> {
        let target = self.target().await?;
        self.send(&target).await?;
        Ok(target.video_id)
    }

    /// The saved upload of this file where the server still has it, else a
    /// new upload: for the saved video while it awaits one, else for a new
    /// video.
    async fn target(&mut self) -> anyhow::Result<Target> {
        if let Some(saved) = self.state.load() {
            if let Some(offset) = self.server_offset(&saved.upload_url).await? {
                self.note(&format!(
                    "resuming video {} at {offset} bytes ({} of {})",
                    saved.video_id,
                    human(offset as f64),
                    human(self.source.size as f64)
                ));
                return Ok(Target {
                    video_id: saved.video_id,
                    url: saved.upload_url,
                    offset,
                });
            }
            if let Some(creation_url) = self.awaiting_upload(&saved.video_id).await? {
                self.note(&format!(
                    "the saved upload of video {} is gone: starting it again",
                    saved.video_id
                ));
                return self.start(saved.video_id, &creation_url).await;
            }
        }
        let new = json!({ "title": self.args.title, "description": self.args.description });
        let video = self
            .api
            .send(self.api.request(Method::POST, "/api/v1/videos").json(&new))
            .await
            .context("creating the video")?;
        let (Some(id), Some(creation_url)) = (video["id"].as_str(), video["upload_url"].as_str())
        else {
            bail!("the server created a video without an id or upload_url: {video}");
        };
        self.start(id.to_owned(), creation_url).await
    }

    /// The creation URL of a video that still awaits its upload; None when
    /// the video is gone or has its source.
    async fn awaiting_upload(&self, video_id: &str) -> anyhow::Result<Option<String>> {
        let api = self.api;
        match api
            .send(api.request(Method::GET, &video_path(video_id)))
            .await
        {
            Ok(video) if video["status"] == "awaiting_upload" => {
                Ok(video["upload_url"].as_str().map(str::to_owned))
            }
            Ok(_) => Ok(None),
            Err(e)
                if e.downcast_ref::<ApiRefusal>()
                    .is_some_and(|r| r.status == StatusCode::NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.context(format!("looking up video {video_id}"))),
        }
    }

    /// Creates the upload and saves it, so that a next run can resume it.
    async fn start(&self, video_id: String, creation_url: &str) -> anyhow::Result<Target> {
        let source = &self.source;
        let url = self
            .tus
            .create(creation_url, source.size, &source.name)
            .await?;
        self.state.save(&video_id, &url)?;
        self.note(&format!(
            "uploading {} ({}) as video {video_id}",
            source.path.display(),
            human(source.size as f64)
        ));
        Ok(Target {
            video_id,
            url,
            offset: 0,
        })
    }

    /// Sends the file from the target's offset to its end, chunk by chunk.
    async fn send(&mut self, target: &Target) -> anyhow::Result<()> {
        let chunk_size = self.args.chunk_size_mib << 20;
        let limit = self.args.limit_rate.map(|kib| kib << 10);
        let path = self.source.path.clone();
        let size = self.source.size;
        let mut offset = target.offset;
        self.progress.lock().set(offset);
        while offset < size {
            self.source.ensure_unchanged()?;
            let chunk = Chunk::read(&path, offset, chunk_size.min(size - offset)).await?;
            let body = chunk.body(&path, limit, self.progress.clone()).await?;
            offset = match self.tus.patch(&target.url, &chunk, body).await {
                Ok(next) => {
                    self.failures = 0;
                    next
                }
                Err(Failure::Retry(cause)) => {
                    self.backoff(cause).await?;
                    self.server_offset(&target.url).await?.ok_or_else(gone)?
                }
                Err(Failure::Gone) => return Err(gone()),
                Err(Failure::Fatal(e)) => return Err(e),
            };
            self.progress.lock().set(offset);
        }
        Ok(())
    }

    /// The server's offset of an upload, asked again through passing
    /// failures; None when the upload is gone.
    async fn server_offset(&mut self, url: &str) -> anyhow::Result<Option<u64>> {
        loop {
            match self.tus.offset(url).await {
                Ok(offset) => return Ok(Some(offset)),
                Err(Failure::Gone) => return Ok(None),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(cause)) => self.backoff(cause).await?,
            }
        }
    }

    /// Pauses before a retry, twice as long each time up to MAX_BACKOFF;
    /// gives up after MAX_FAILURES failures in a row.
    async fn backoff(&mut self, cause: anyhow::Error) -> anyhow::Result<()> {
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            return Err(cause.context(format!(
                "giving up after {MAX_FAILURES} retries: run the same command again to resume"
            )));
        }
        let delay = (FIRST_BACKOFF * 2u32.pow(self.failures - 1)).min(MAX_BACKOFF);
        self.note(&format!(
            "{cause:#}; retrying in {:.2} s ({}/{MAX_FAILURES})",
            delay.as_secs_f64(),
            self.failures
        ));
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// A message on stderr, between progress updates.
    fn note(&self, message: &str) {
        self.progress.lock().note(message);
    }
}

fn gone() -> anyhow::Error {
    anyhow!(
        "the upload is gone (it expired or was removed): run the same command again to start it over"
    )
}
