//! Benchmarks of the tributary binary, driven with real clients.
//!
//! `tributary-bench live [seconds]`, `tributary-bench ladder [seconds]`,
//! `tributary-bench vod [seconds] [--jobs]`, `tributary-bench chat
//! [options]` and `tributary-bench upload [--size-mib N]` (run through
//! `./dev bench live|ladder|vod|chat|upload`).

mod archive;
mod chat;
mod flv_file;
mod fmp4_samples;
mod ladder;
mod live;
mod part_latency;
mod process;
mod raw_put;
mod replay;
mod rtmp_publisher;
mod server;
mod stats;
mod upload;
mod vod;

use std::path::PathBuf;

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let binary = PathBuf::from(
        std::env::var("TRIBUTARY_BIN").unwrap_or_else(|_| "target/release/tributary".into()),
    );
    let dir = std::env::temp_dir().join(format!("tributary-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    let seconds = || -> anyhow::Result<u32> {
        Ok(args
            .get(1)
            .map(|s| s.parse())
            .transpose()
            .context("seconds")?
            .unwrap_or(60))
    };
    let result = match args.first().map(String::as_str) {
        Some("live") => live::run(&binary, &dir, seconds()?).await,
        Some("ladder") => ladder::run(&dir, seconds()?),
        Some("chat") => chat::run(&binary, &dir, &args[1..]).await,
        Some("upload") => upload::run(&binary, &dir, &args[1..]).await,
        Some("vod") => vod::run(&binary, &dir, &args[1..]).await,
        Some("raw-put-server") => match args.get(1) {
            Some(data) => raw_put::serve(std::path::Path::new(data)),
            None => bail!("usage: tributary-bench raw-put-server DIR"),
        },
        _ => bail!(
            "usage: tributary-bench live|ladder [seconds] | vod [seconds] [--jobs] | chat [options] | upload [--size-mib N]"
        ),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}
