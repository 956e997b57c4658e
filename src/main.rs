//! The `tributary` binary.

use clap::Parser;

use tributary::cli::{self, Cli, Command};
use tributary::{config, server};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match Cli::parse().command {
        Command::Serve(args) => match config::Config::load(*args) {
            Ok(config) => server::serve(config).await,
            Err(e) => Err(e),
        },
        Command::Stream { client, command } => cli::stream(client, command).await,
        Command::Video { client, command } => cli::video::video(client, command).await,
        Command::Worker(args) => match config::Config::load(*args) {
            Ok(config) => tributary::jobs::run_workers(config).await,
            Err(e) => Err(e),
        },
        Command::ProbeSource { timeout_secs, uri } => {
            return cli::probe_source(&uri, timeout_secs);
        }
        Command::ThumbnailsSource {
            source,
            out,
            duration,
            width,
            height,
        } => return cli::thumbnails_source(source, &out, &duration, width.zip(height)),
        Command::TranscodeSource {
            source,
            out,
            spec,
            timeout_secs,
        } => {
            return cli::transcode_source(&source, &out, &spec, timeout_secs);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
