//! Command-line interface: `serve`, and `stream …` and `video …`
//! subcommands that call the API of a running server.

mod processing;
mod upload;
pub mod video;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::config::ServeArgs;

#[derive(Parser)]
#[command(name = "tributary", version, about = "Live and VOD streaming server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage streams on a running server.
    Stream {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: StreamCommand,
    },
    /// Upload and manage videos (VOD) on a running server.
    Video {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: video::VideoCommand,
    },
    /// Run VOD job workers only (probe, transcodes), beside servers sharing
    /// the same database and storage. Takes the same settings as `serve`.
    Worker(Box<ServeArgs>),
    /// Print what a media file is, as JSON (the workers' media task).
    #[command(hide = true)]
    ProbeSource {
        #[arg(long, default_value_t = 60)]
        timeout_secs: u64,
        uri: String,
    },
    /// Write a video's poster, sprite sheet and storyboard (the workers'
    /// media task); what was made on stdout as JSON.
    #[command(hide = true)]
    ThumbnailsSource {
        /// One or more files played one after the other (a replay's
        /// stretches between reconnects), each with its `--duration`.
        #[arg(long, required = true)]
        source: Vec<String>,
        #[arg(long)]
        out: PathBuf,
        /// Seconds, one per `--source`.
        #[arg(long, required = true)]
        duration: Vec<f64>,
        /// The picture's upright size; without it the source is audio.
        #[arg(long, requires = "height")]
        width: Option<u32>,
        #[arg(long, requires = "width")]
        height: Option<u32>,
    },
    /// Write a source's renditions as CMAF files, printing progress and
    /// then the renditions as JSON lines (the workers' media task).
    #[command(hide = true)]
    TranscodeSource {
        /// `file:///…` or `http(s)://…`.
        #[arg(long)]
        source: String,
        /// The directory the renditions' folders go into.
        #[arg(long)]
        out: PathBuf,
        /// A `TranscodeSpec` as JSON.
        #[arg(long)]
        spec: String,
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
}

/// `thumbnails-source`: what was made on stdout and exit 0, or why not
/// (`{"code", "message"}`) and exit 2.
/// Without `width` and `height`, the source is audio: a poster only.
pub fn thumbnails_source(
    sources: Vec<String>,
    out: &Path,
    durations: &[f64],
    size: Option<(u32, u32)>,
) -> std::process::ExitCode {
    use crate::vod::thumbnails::{self, Stretch};
    let bad = |message: String| crate::jobs::JobError {
        code: "bad_arguments".into(),
        message,
    };
    if sources.len() != durations.len() {
        let message = format!(
            "{} sources but {} durations",
            sources.len(),
            durations.len()
        );
        return print_answer::<()>(Err(bad(message)));
    }
    let stretches: Vec<Stretch> = sources
        .into_iter()
        .zip(durations)
        .map(|(uri, &duration)| Stretch { uri, duration })
        .collect();
    print_answer(match (size, stretches.first()) {
        (_, None) => Err(bad("no --source".into())),
        (Some((width, height)), _) => thumbnails::make(&stretches, out, width, height),
        (None, Some(first)) => thumbnails::make_audio(&first.uri, out),
    })
}

/// The answer of a media task: its JSON on stdout; exit 2 for an error.
fn print_answer<T: serde::Serialize>(
    answer: Result<T, crate::jobs::JobError>,
) -> std::process::ExitCode {
    let (answer, code) = match answer {
        Ok(made) => (serde_json::to_string(&made), 0),
        Err(error) => (serde_json::to_string(&error), 2),
    };
    match answer {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `probe-source`: the source's description on stdout and exit 0, or the
/// reason it is not usable (`{"code", "message"}`) on stdout and exit 2.
pub fn probe_source(uri: &str, timeout_secs: u64) -> std::process::ExitCode {
    let timeout = std::time::Duration::from_secs(timeout_secs);
    let probed = crate::media_probe::probe(uri, timeout).map(|mut info| {
        if let Some(video) = &mut info.video
            && video.codec == "h264"
            && video.rotation == 0
        {
            video.keyframe_gap = keyframe_gap(uri, timeout);
        }
        info
    });
    print_answer(probed)
}

/// The source's longest keyframe gap in its first seconds; `None` (and a
/// log line) when it cannot be read.
fn keyframe_gap(uri: &str, timeout: std::time::Duration) -> Option<f64> {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(30);
    crate::vod::transcode::gop::longest_keyframe_gap(uri, WINDOW, timeout)
        .inspect_err(|e| tracing::warn!("reading the keyframes: {}: {}", e.code, e.message))
        .ok()
        .flatten()
}

/// `transcode-source`: `{"event":"progress",…}` lines, then
/// `{"event":"done","renditions":[…]}` and exit 0; or, as the last line,
/// why it failed (`{"code", "message"}`) and exit 1.
pub fn transcode_source(
    source: &str,
    out: &std::path::Path,
    spec: &str,
    timeout_secs: u64,
) -> std::process::ExitCode {
    use crate::vod::transcode::{Options, transcode};
    use crate::vod::transcode_spec::{TranscodeEvent, TranscodeSpec};
    use std::io::Write;

    fn print<T: serde::Serialize>(value: &T) {
        if let Ok(json) = serde_json::to_string(value) {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{json}");
            let _ = stdout.flush();
        }
    }
    let result = serde_json::from_str::<TranscodeSpec>(spec)
        .map_err(|e| crate::jobs::JobError {
            code: "bad_spec".into(),
            message: format!("the spec: {e}"),
        })
        .and_then(|spec| {
            let options = Options {
                uri: source,
                out,
                spec: &spec,
                timeout: std::time::Duration::from_secs(timeout_secs),
            };
            transcode(&options, |event| print(&event))
        });
    match result {
        Ok(renditions) => {
            print(&TranscodeEvent::Done { renditions });
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("transcode failed: {}: {}", error.code, error.message);
            print(&error);
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(Args)]
pub struct ClientArgs {
    /// Base URL of the server's HTTP API.
    #[arg(
        long,
        env = "TRIBUTARY_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// Admin token; read from the data directory when not given.
    #[arg(
        long,
        env = "TRIBUTARY_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    #[arg(
        long,
        env = "TRIBUTARY_DATA_DIR",
        default_value = "data",
        global = true
    )]
    data_dir: PathBuf,
    /// Print the API's JSON instead of a summary.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum StreamCommand {
    /// Create a stream and print its OBS settings.
    Create {
        #[arg(long)]
        title: String,
    },
    /// List streams.
    List,
    /// Show one stream.
    Show { id: String },
    /// Give a stream a new key (a publisher on the old key is disconnected).
    RotateKey { id: String },
    /// Delete a stream.
    Delete { id: String },
}

/// The API of a running server, called as its admin.
pub struct Api {
    http: reqwest::Client,
    server: String,
    token: String,
}

/// What the API answered instead of a success.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiRefusal {
    pub status: StatusCode,
    pub message: String,
}

impl ClientArgs {
    fn api(&self) -> anyhow::Result<Api> {
        let token = self
            .token
            .clone()
            .or_else(|| crate::admin_token::read(&self.data_dir));
        let Some(token) = token else {
            bail!(
                "no admin token: pass --token or TRIBUTARY_ADMIN_TOKEN, or run where the server's data directory ({}) is",
                self.data_dir.display()
            );
        };
        Ok(Api {
            http: reqwest::Client::new(),
            server: self.server.trim_end_matches('/').to_owned(),
            token,
        })
    }
}

impl Api {
    /// The server's base URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.server))
            .bearer_auth(&self.token)
    }

    /// Sends a request: the JSON of a success (`Null` when it has no body),
    /// else an `ApiRefusal` with the API's message.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {}", self.server))?;
        let status = response.status();
        let body = response.text().await.context("reading the answer")?;
        if !status.is_success() {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or(body);
            return Err(ApiRefusal { status, message }.into());
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).context("parsing the answer")
    }
}

pub async fn stream(client: ClientArgs, command: StreamCommand) -> anyhow::Result<()> {
    let api = client.api()?;
    let base = "/api/v1/streams";
    let request = match &command {
        StreamCommand::Create { title } => api
            .request(Method::POST, base)
            .json(&serde_json::json!({ "title": title })),
        StreamCommand::List => api.request(Method::GET, base),
        StreamCommand::Show { id } => api.request(Method::GET, &format!("{base}/{id}")),
        StreamCommand::RotateKey { id } => {
            api.request(Method::POST, &format!("{base}/{id}/rotate-key"))
        }
        StreamCommand::Delete { id } => api.request(Method::DELETE, &format!("{base}/{id}")),
    };
    let value = api.send(request).await?;
    if matches!(command, StreamCommand::Delete { .. }) {
        println!("deleted");
        return Ok(());
    }
    if client.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if let Value::Array(streams) = &value {
        for stream in streams {
            println!(
                "{}  {:<5}  {}",
                stream["id"].as_str().unwrap_or(""),
                stream["status"].as_str().unwrap_or(""),
                stream["title"].as_str().unwrap_or("")
            );
        }
    } else {
        print_stream(&value);
    }
    Ok(())
}

fn print_stream(stream: &Value) {
    let field = |name: &str| stream[name].as_str().unwrap_or("").to_owned();
    println!(
        "Stream {} \"{}\" ({})",
        field("id"),
        field("title"),
        field("status")
    );
    println!();
    println!("OBS: Settings > Stream > Service: Custom");
    println!("  Server:     {}", field("rtmp_url"));
    println!("  Stream Key: {}", field("stream_key"));
    println!();
    println!("SRT:   {}", field("srt_url"));
    println!("Watch: {}", field("watch_url"));
    println!("HLS:   {}", field("playback_url"));
}
