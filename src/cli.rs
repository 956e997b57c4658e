//! Command-line interface: `serve`, and `stream …` subcommands that call the
//! API of a running server.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
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

pub async fn stream(client: ClientArgs, command: StreamCommand) -> anyhow::Result<()> {
    let token = match client
        .token
        .clone()
        .or_else(|| crate::admin_token::read(&client.data_dir))
    {
        Some(token) => token,
        None => bail!(
            "no admin token: pass --token or TRIBUTARY_ADMIN_TOKEN, or run where the server's data directory ({}) is",
            client.data_dir.display()
        ),
    };
    let base = format!("{}/api/v1/streams", client.server.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let request = match &command {
        StreamCommand::Create { title } => http
            .post(&base)
            .json(&serde_json::json!({ "title": title })),
        StreamCommand::List => http.get(&base),
        StreamCommand::Show { id } => http.get(format!("{base}/{id}")),
        StreamCommand::RotateKey { id } => http.post(format!("{base}/{id}/rotate-key")),
        StreamCommand::Delete { id } => http.delete(format!("{base}/{id}")),
    };
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("calling {}", client.server))?;
    let status = response.status();
    let body = response.text().await.context("reading the answer")?;
    if !status.is_success() {
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("{status}: {message}");
    }
    if matches!(command, StreamCommand::Delete { .. }) {
        println!("deleted");
        return Ok(());
    }
    let value: Value = serde_json::from_str(&body).context("parsing the answer")?;
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
