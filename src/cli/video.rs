//! `tributary video …`: upload, list and show VOD assets on a running server.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::upload::{self, UploadArgs};
use super::{Api, ClientArgs};

/// Largest page the API serves.
const PAGE: &str = "100";

#[derive(Subcommand)]
pub enum VideoCommand {
    /// Upload a file as a new video, resumably (tus), with a progress bar.
    ///
    /// The file goes up in chunks, each with its SHA-256 so the server
    /// refuses a corrupted one. A dropped connection or a restarting server
    /// is retried from the server's offset, with backoff. Running the same
    /// command again after an interruption (Ctrl-C, a crash, too many
    /// failures) resumes where the server is instead of starting over, into
    /// the video the first run created.
    ///
    /// What resumes an upload is a small state file, keyed by the server URL
    /// and the file's path, size and modification time, in
    /// $XDG_CACHE_HOME/tributary/uploads/ (~/.cache/tributary/uploads/ when
    /// XDG_CACHE_HOME is unset); it holds the video's id and the signed
    /// upload URL, and is removed when the upload completes. A changed file
    /// starts a new upload.
    Upload(UploadArgs),
    /// List videos, newest first.
    List {
        /// Only videos in this status (awaiting_upload, uploaded, queued,
        /// processing, ready, partially_ready, failed).
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one video.
    Show { id: String },
}

pub async fn video(client: ClientArgs, command: VideoCommand) -> anyhow::Result<()> {
    let api = client.api()?;
    let json = client.json;
    match command {
        VideoCommand::Upload(args) => {
            let video = upload::upload(&api, args).await?;
            print_video(&video, json)
        }
        VideoCommand::Show { id } => {
            let video = api.send(api.request(Method::GET, &video_path(&id))).await?;
            print_video(&video, json)
        }
        VideoCommand::List { status } => {
            let videos = list(&api, status.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&videos)?);
                return Ok(());
            }
            for video in &videos {
                println!(
                    "{}  {:<15}  {}",
                    text(video, "id"),
                    text(video, "status"),
                    text(video, "title")
                );
            }
            Ok(())
        }
    }
}

pub fn video_path(id: &str) -> String {
    format!("/api/v1/videos/{}", urlencoding::encode(id))
}

/// Every video (in `status`), following the API's pages.
async fn list(api: &Api, status: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let mut videos = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", PAGE)];
        query.extend(status.map(|s| ("status", s)));
        query.extend(before.as_deref().map(|b| ("before", b)));
        let page = api
            .send(api.request(Method::GET, "/api/v1/videos").query(&query))
            .await?;
        if let Value::Array(more) = &page["videos"] {
            videos.extend(more.iter().cloned());
        }
        match page["next_before"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => return Ok(videos),
        }
    }
}

fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name].as_str().unwrap_or("")
}

fn print_video(video: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(video)?);
        return Ok(());
    }
    println!(
        "Video {} \"{}\" ({})",
        text(video, "id"),
        text(video, "title"),
        text(video, "status")
    );
    let source = &video["source"];
    if let Some(size) = source["size"].as_u64() {
        println!("Source: {size} bytes, sha256 {}", text(source, "sha256"));
    }
    let error = &video["error"];
    if error.is_object() {
        println!(
            "Error: {} ({})",
            text(error, "message"),
            text(error, "code")
        );
    }
    if let Some(url) = video["upload_url"].as_str() {
        println!("Upload URL (tus): {url}");
    }
    Ok(())
}
