//! Server configuration: embedded defaults, overridden by an optional
//! `tributary.toml`, then `TRIBUTARY_*` environment variables, then CLI flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::ladder::{Rung, X264_PRESETS};
use crate::ladder_settings::LadderSettings;
use crate::vod::plan::VodLadder;

/// The configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in the data directory.
    pub database_url: String,
    pub http_addr: SocketAddr,
    pub rtmp_addr: SocketAddr,
    pub srt_addr: SocketAddr,
    pub srt_passphrase: Option<String>,
    /// Host name put into the URLs the API hands out; the request's `Host` when unset.
    pub public_host: Option<String>,
    pub admin_token: Option<String>,
    pub live: LiveConfig,
    /// Redis joins the chat of several nodes; None keeps it in this process.
    pub redis_url: Option<String>,
    pub chat: chat::Limits,
    pub storage: StorageConfig,
    pub uploads: UploadConfig,
    pub jobs: JobConfig,
    pub webhooks: WebhookConfig,
    pub vod: VodConfig,
    pub retention: RetentionConfig,
}

/// What the retention sweep (`crate::vod::retention`) deletes, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// An uploaded asset's source is deleted this long after the asset is
    /// ready; None keeps it.
    pub upload_source: Option<Duration>,
    /// A broadcast's replay and recording are deleted this long after the
    /// broadcast ended; None keeps them.
    pub recordings: Option<Duration>,
    /// A temporary rendition's files are deleted this long after its asset
    /// is ready (a player may still play it from a master loaded before).
    pub temporary_rendition_grace: Duration,
    pub sweep_every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            upload_source: None,
            recordings: None,
            temporary_rendition_grace: Duration::from_secs(6 * 3600),
            sweep_every: Duration::from_secs(3600),
        }
    }
}

/// The VOD ladder and where viewers fetch VOD media.
#[derive(Debug, Clone)]
pub struct VodConfig {
    pub ladder: VodLadder,
    /// The ladder also runs on each replay's recorded source and replaces
    /// the rungs it had live.
    pub ladder_recordings: bool,
    /// The API hands out VOD URLs under this (a CDN in front of the origin)
    /// instead of the origin's own address.
    pub playback_base_url: Option<String>,
    /// With S3 storage, media files are answered with a redirect to a
    /// presigned URL instead of streaming through the origin.
    pub redirect_to_storage: bool,
}

impl Default for VodConfig {
    fn default() -> Self {
        VodConfig {
            ladder: VodLadder::default(),
            ladder_recordings: true,
            playback_base_url: None,
            redirect_to_storage: false,
        }
    }
}

/// The workers that run VOD jobs (probe, transcodes).
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Workers in this process (`serve`); 0 leaves the work to `tributary worker`.
    pub workers: usize,
    /// A claimed job is taken again by another worker when its claim is not
    /// renewed for this long.
    pub lease: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            workers: 1,
            lease: Duration::from_secs(30),
        }
    }
}

/// Where objects (upload sources, VOD renditions) live.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageConfig {
    /// Under `data_dir/objects`.
    Fs {
        part_size: u64,
    },
    S3(storage::S3Config),
}

/// Resumable uploads (tus).
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// Largest upload accepted, in bytes.
    pub max_bytes: u64,
    /// An unfinished upload is removed this long after it was created.
    pub expiry: Duration,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_bytes: 50 << 30,
            expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// Outgoing webhooks.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The first wait before a failed delivery is retried; later waits are
    /// multiples of it (docs/webhooks.md).
    pub retry_base: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            retry_base: Duration::from_secs(10),
        }
    }
}

/// Knobs of the live path.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub part_target: Duration,
    pub segment_target: Duration,
    pub dvr_window: Duration,
    /// How long a broadcast waits for its publisher to come back before it ends.
    pub reconnect_window: Duration,
    /// Archive broadcasts to object storage while they go on; each becomes a
    /// replay when it ends.
    pub record: bool,
    /// The default ladder; streams may override it.
    pub ladder: LadderSettings,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            part_target: Duration::from_millis(200),
            segment_target: Duration::from_secs(1),
            dvr_window: Duration::from_secs(300),
            reconnect_window: Duration::from_secs(15),
            record: true,
            ladder: LadderSettings::default(),
        }
    }
}

/// Flags of `tributary serve`; each can also come from the environment.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). `./tributary.toml` is read when present.
    #[arg(long, env = "TRIBUTARY_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "TRIBUTARY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "TRIBUTARY_DATABASE_URL")]
    pub database_url: Option<String>,
    #[arg(long, env = "TRIBUTARY_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    #[arg(long, env = "TRIBUTARY_RTMP_ADDR")]
    pub rtmp_addr: Option<SocketAddr>,
    #[arg(long, env = "TRIBUTARY_SRT_ADDR")]
    pub srt_addr: Option<SocketAddr>,
    #[arg(long, env = "TRIBUTARY_SRT_PASSPHRASE", hide_env_values = true)]
    pub srt_passphrase: Option<String>,
    #[arg(long, env = "TRIBUTARY_PUBLIC_HOST")]
    pub public_host: Option<String>,
    #[arg(long, env = "TRIBUTARY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// LL-HLS part target in milliseconds.
    #[arg(long, env = "TRIBUTARY_PART_TARGET_MS")]
    pub part_target_ms: Option<u64>,
    /// Shortest segment in milliseconds; segments are cut at the next keyframe after it.
    #[arg(long, env = "TRIBUTARY_SEGMENT_TARGET_MS")]
    pub segment_target_ms: Option<u64>,
    /// Seconds of segments kept in live playlists (DVR window).
    #[arg(long, env = "TRIBUTARY_DVR_WINDOW_SECS")]
    pub dvr_window_secs: Option<u64>,
    /// Seconds a broadcast waits for a dropped publisher to reconnect.
    #[arg(long, env = "TRIBUTARY_RECONNECT_WINDOW_SECS")]
    pub reconnect_window_secs: Option<u64>,
    /// Make transcoded rungs for live streams (streams may override it).
    #[arg(long, env = "TRIBUTARY_TRANSCODE")]
    pub transcode: Option<bool>,
    /// Record broadcasts to object storage, each replayed when it ends (default true).
    #[arg(long, env = "TRIBUTARY_RECORD_BROADCASTS")]
    pub record_broadcasts: Option<bool>,
    /// Redis for the chat of several nodes, e.g. redis://127.0.0.1:6379.
    #[arg(long, env = "TRIBUTARY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Object storage: `fs` (under the data directory) or `s3`.
    #[arg(long, env = "TRIBUTARY_STORAGE")]
    pub storage: Option<String>,
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (AWS when unset).
    #[arg(long, env = "TRIBUTARY_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "TRIBUTARY_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "TRIBUTARY_S3_REGION")]
    pub s3_region: Option<String>,
    /// Path-style URLs (endpoint/bucket/key), as most S3-compatible servers want.
    #[arg(long, env = "TRIBUTARY_S3_PATH_STYLE")]
    pub s3_path_style: Option<bool>,
    /// Largest upload accepted, in bytes (default 50 GiB).
    #[arg(long, env = "TRIBUTARY_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Seconds after which an unfinished upload is removed (default 86400).
    #[arg(long, env = "TRIBUTARY_UPLOAD_EXPIRY_SECS")]
    pub upload_expiry_secs: Option<u64>,
    /// Job workers in this process (default 1; 0 for none).
    #[arg(long, env = "TRIBUTARY_WORKERS")]
    pub workers: Option<usize>,
    /// Seconds a worker's claim on a job lasts unless renewed (default 30).
    #[arg(long, env = "TRIBUTARY_JOB_LEASE_SECS")]
    pub job_lease_secs: Option<u64>,
    /// x264 preset of the VOD ladder (default medium).
    #[arg(long, env = "TRIBUTARY_VOD_PRESET")]
    pub vod_preset: Option<String>,
    /// Run the VOD ladder on each replay, replacing its live rungs (default true).
    #[arg(long, env = "TRIBUTARY_LADDER_RECORDINGS")]
    pub ladder_recordings: Option<bool>,
    /// Base of the VOD URLs the API hands out, e.g. a CDN's `https://cdn.example.com`.
    #[arg(long, env = "TRIBUTARY_PLAYBACK_BASE_URL")]
    pub playback_base_url: Option<String>,
    /// With S3 storage, redirect VOD media requests to presigned URLs
    /// instead of streaming them through (default false).
    #[arg(long, env = "TRIBUTARY_VOD_REDIRECT_TO_STORAGE")]
    pub vod_redirect_to_storage: Option<bool>,
    /// Milliseconds before the first retry of a failed webhook delivery (default 10000).
    #[arg(long, env = "TRIBUTARY_WEBHOOK_RETRY_BASE_MS")]
    pub webhook_retry_base_ms: Option<u64>,
    /// Days after an uploaded asset is ready that its source file is deleted
    /// (default: kept).
    #[arg(long, env = "TRIBUTARY_RETENTION_UPLOAD_SOURCE_DAYS")]
    pub retention_upload_source_days: Option<u64>,
    /// Days after a broadcast ended that its replay and recording are deleted
    /// (default: kept).
    #[arg(long, env = "TRIBUTARY_RETENTION_RECORDING_DAYS")]
    pub retention_recording_days: Option<u64>,
    /// Seconds after an asset is ready that its temporary rendition's files
    /// are deleted (default 21600).
    #[arg(long, env = "TRIBUTARY_RETENTION_TEMPORARY_RENDITION_GRACE_SECS")]
    pub retention_temporary_rendition_grace_secs: Option<u64>,
    /// Seconds between two retention sweeps (default 3600).
    #[arg(long, env = "TRIBUTARY_RETENTION_SWEEP_EVERY_SECS")]
    pub retention_sweep_every_secs: Option<u64>,
}

/// The shape of `tributary.toml`; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    http_addr: Option<SocketAddr>,
    rtmp_addr: Option<SocketAddr>,
    srt_addr: Option<SocketAddr>,
    srt_passphrase: Option<String>,
    public_host: Option<String>,
    admin_token: Option<String>,
    redis_url: Option<String>,
    #[serde(default)]
    live: FileLiveConfig,
    #[serde(default)]
    chat: FileChatConfig,
    #[serde(default)]
    storage: FileStorageConfig,
    #[serde(default)]
    uploads: FileUploadConfig,
    #[serde(default)]
    webhooks: FileWebhookConfig,
    #[serde(default)]
    jobs: FileJobConfig,
    #[serde(default)]
    vod: FileVodConfig,
    #[serde(default)]
    retention: FileRetentionConfig,
}

/// `[retention]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetentionConfig {
    upload_source_days: Option<u64>,
    recording_days: Option<u64>,
    temporary_rendition_grace_secs: Option<u64>,
    sweep_every_secs: Option<u64>,
}

/// Longest retention in days (a century): longer is a typo.
const MAX_RETENTION_DAYS: u64 = 36_500;

/// The retention the flags and the file choose.
fn retention_config(
    args: &ServeArgs,
    file: &FileRetentionConfig,
) -> anyhow::Result<RetentionConfig> {
    let defaults = RetentionConfig::default();
    let days = |flag: Option<u64>, file: Option<u64>, name: &str| {
        flag.or(file)
            .map(|days| {
                anyhow::ensure!(
                    days <= MAX_RETENTION_DAYS,
                    "[retention] {name} must be at most {MAX_RETENTION_DAYS}"
                );
                Ok(Duration::from_secs(days * 24 * 3600))
            })
            .transpose()
    };
    let retention = RetentionConfig {
        upload_source: days(
            args.retention_upload_source_days,
            file.upload_source_days,
            "upload_source_days",
        )?,
        recordings: days(
            args.retention_recording_days,
            file.recording_days,
            "recording_days",
        )?,
        temporary_rendition_grace: args
            .retention_temporary_rendition_grace_secs
            .or(file.temporary_rendition_grace_secs)
            .map_or(defaults.temporary_rendition_grace, Duration::from_secs),
        sweep_every: args
            .retention_sweep_every_secs
            .or(file.sweep_every_secs)
            .map_or(defaults.sweep_every, Duration::from_secs),
    };
    anyhow::ensure!(
        (1..=7 * 24 * 3600).contains(&retention.sweep_every.as_secs()),
        "[retention] sweep_every_secs must be 1 to 604800"
    );
    Ok(retention)
}

/// `[vod]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileVodConfig {
    preset: Option<String>,
    /// `[[vod.rungs]]` tables, as `[[live.rungs]]`.
    rungs: Option<Vec<Rung>>,
    ladder_recordings: Option<bool>,
    playback_base_url: Option<String>,
    redirect_to_storage: Option<bool>,
}

/// `[jobs]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJobConfig {
    workers: Option<usize>,
    lease_secs: Option<u64>,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorageConfig {
    kind: Option<String>,
    endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
    /// Multipart part size in MiB (default 50).
    part_size_mib: Option<u64>,
}

/// `[uploads]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUploadConfig {
    max_bytes: Option<u64>,
    expiry_secs: Option<u64>,
}

/// `[webhooks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhookConfig {
    retry_base_ms: Option<u64>,
}

/// The storage the flags and the file choose.
fn storage_config(args: &ServeArgs, file: FileStorageConfig) -> anyhow::Result<StorageConfig> {
    let part_size = file.part_size_mib.map_or(50 << 20, |mib| mib << 20);
    let kind = args
        .storage
        .clone()
        .or(file.kind)
        .unwrap_or_else(|| "fs".into());
    match kind.as_str() {
        "fs" => Ok(StorageConfig::Fs { part_size }),
        "s3" => {
            let bucket = args
                .s3_bucket
                .clone()
                .or(file.bucket)
                .context("storage kind s3 needs a bucket (TRIBUTARY_S3_BUCKET)")?;
            let mut s3 = storage::S3Config::new(bucket);
            s3.endpoint = args.s3_endpoint.clone().or(file.endpoint);
            if let Some(region) = args.s3_region.clone().or(file.region) {
                s3.region = region;
            }
            s3.path_style = args
                .s3_path_style
                .or(file.path_style)
                .unwrap_or(s3.endpoint.is_some());
            s3.part_size = part_size;
            Ok(StorageConfig::S3(s3))
        }
        other => anyhow::bail!("storage kind must be fs or s3, not {other:?}"),
    }
}

/// `[chat]`: the limits of docs/chat.md.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChatConfig {
    messages_per_30s: Option<u32>,
    moderator_messages_per_30s: Option<u32>,
    address_messages_per_30s: Option<u32>,
    /// Events a client may fall behind before it is dropped.
    client_queue: Option<usize>,
}

impl FileChatConfig {
    fn limits(&self) -> anyhow::Result<chat::Limits> {
        let defaults = chat::Limits::default();
        let limits = chat::Limits {
            user_burst: self.messages_per_30s.unwrap_or(defaults.user_burst),
            moderator_burst: self
                .moderator_messages_per_30s
                .unwrap_or(defaults.moderator_burst),
            ip_burst: self.address_messages_per_30s.unwrap_or(defaults.ip_burst),
            client_queue: self.client_queue.unwrap_or(defaults.client_queue),
            ..defaults
        };
        anyhow::ensure!(
            limits.user_burst > 0 && limits.moderator_burst > 0 && limits.ip_burst > 0,
            "[chat] message limits must be at least 1"
        );
        anyhow::ensure!(
            (16..=65_536).contains(&limits.client_queue),
            "[chat] client_queue must be 16 to 65536"
        );
        Ok(limits)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLiveConfig {
    part_target_ms: Option<u64>,
    segment_target_ms: Option<u64>,
    dvr_window_secs: Option<u64>,
    reconnect_window_secs: Option<u64>,
    transcode: Option<bool>,
    record: Option<bool>,
    /// The default ladder, as `[[live.rungs]]` tables.
    rungs: Option<Vec<Rung>>,
}

const DEFAULT_CONFIG_FILE: &str = "tributary.toml";

impl Config {
    /// Layers the file (if any) under the flags and environment.
    pub fn load(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        let storage = storage_config(&args, file.storage)?;
        let retention = retention_config(&args, &file.retention)?;
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = args.database_url.or(file.database_url).unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("tributary.db").display()
            )
        });
        let defaults = LiveConfig::default();
        let millis = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(Duration::from_millis).unwrap_or(default)
        };
        let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(Duration::from_secs).unwrap_or(default)
        };
        let live = LiveConfig {
            part_target: millis(
                args.part_target_ms,
                file.live.part_target_ms,
                defaults.part_target,
            ),
            segment_target: millis(
                args.segment_target_ms,
                file.live.segment_target_ms,
                defaults.segment_target,
            ),
            dvr_window: secs(
                args.dvr_window_secs,
                file.live.dvr_window_secs,
                defaults.dvr_window,
            ),
            reconnect_window: secs(
                args.reconnect_window_secs,
                file.live.reconnect_window_secs,
                defaults.reconnect_window,
            ),
            record: args
                .record_broadcasts
                .or(file.live.record)
                .unwrap_or(defaults.record),
            ladder: LadderSettings {
                transcode: args
                    .transcode
                    .or(file.live.transcode)
                    .unwrap_or(defaults.ladder.transcode),
                rungs: file.live.rungs.unwrap_or(defaults.ladder.rungs),
            },
        };
        live.ladder
            .validate()
            .context("the [[live.rungs]] ladder")?;
        anyhow::ensure!(
            (50..=2000).contains(&live.part_target.as_millis()),
            "part target must be between 50 and 2000 ms"
        );
        anyhow::ensure!(
            live.segment_target >= live.part_target,
            "segment target must not be shorter than the part target"
        );
        let jobs = JobConfig {
            workers: args
                .workers
                .or(file.jobs.workers)
                .unwrap_or(JobConfig::default().workers),
            lease: args
                .job_lease_secs
                .or(file.jobs.lease_secs)
                .map_or(JobConfig::default().lease, Duration::from_secs),
        };
        anyhow::ensure!(
            jobs.lease >= Duration::from_secs(2),
            "the job lease must be at least 2 seconds"
        );
        let mut ladder = VodLadder::default();
        if let Some(preset) = args.vod_preset.or(file.vod.preset) {
            anyhow::ensure!(
                X264_PRESETS.contains(&preset.as_str()),
                "the VOD preset must be one of {}",
                X264_PRESETS.join(", ")
            );
            ladder.preset = preset;
        }
        if let Some(rungs) = file.vod.rungs {
            LadderSettings {
                transcode: true,
                rungs: rungs.clone(),
            }
            .validate()
            .context("the [[vod.rungs]] ladder")?;
            anyhow::ensure!(!rungs.is_empty(), "the [[vod.rungs]] ladder is empty");
            ladder.rungs = rungs;
        }
        let playback_base_url = args
            .playback_base_url
            .or(file.vod.playback_base_url)
            .map(|url| url.trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty());
        if let Some(url) = &playback_base_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "the playback base URL must start with http:// or https://"
            );
        }
        let vod = VodConfig {
            ladder,
            ladder_recordings: args
                .ladder_recordings
                .or(file.vod.ladder_recordings)
                .unwrap_or(true),
            playback_base_url,
            redirect_to_storage: args
                .vod_redirect_to_storage
                .or(file.vod.redirect_to_storage)
                .unwrap_or(false),
        };
        let webhooks = WebhookConfig {
            retry_base: millis(
                args.webhook_retry_base_ms,
                file.webhooks.retry_base_ms,
                WebhookConfig::default().retry_base,
            ),
        };
        anyhow::ensure!(
            (1..=3_600_000).contains(&webhooks.retry_base.as_millis()),
            "the webhook retry base must be 1 ms to 1 hour"
        );
        Ok(Config {
            data_dir,
            database_url,
            http_addr: args
                .http_addr
                .or(file.http_addr)
                .unwrap_or(([0, 0, 0, 0], 8080).into()),
            rtmp_addr: args
                .rtmp_addr
                .or(file.rtmp_addr)
                .unwrap_or(([0, 0, 0, 0], 1935).into()),
            srt_addr: args
                .srt_addr
                .or(file.srt_addr)
                .unwrap_or(([0, 0, 0, 0], 9000).into()),
            srt_passphrase: args
                .srt_passphrase
                .or(file.srt_passphrase)
                .filter(|p| !p.is_empty()),
            public_host: args.public_host.or(file.public_host),
            admin_token: args
                .admin_token
                .or(file.admin_token)
                .filter(|t| !t.is_empty()),
            live,
            redis_url: args.redis_url.or(file.redis_url).filter(|u| !u.is_empty()),
            chat: file.chat.limits()?,
            storage,
            uploads: UploadConfig {
                max_bytes: args
                    .max_upload_bytes
                    .or(file.uploads.max_bytes)
                    .unwrap_or(UploadConfig::default().max_bytes),
                expiry: args
                    .upload_expiry_secs
                    .or(file.uploads.expiry_secs)
                    .map_or(UploadConfig::default().expiry, Duration::from_secs),
            },
            jobs,
            webhooks,
            vod,
            retention,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded() {
        let config = Config::load(ServeArgs::default()).unwrap();
        assert_eq!(config.http_addr.port(), 8080);
        assert_eq!(config.rtmp_addr.port(), 1935);
        assert_eq!(config.srt_addr.port(), 9000);
        assert!(config.database_url.starts_with("sqlite://"));
        assert_eq!(config.live.part_target, Duration::from_millis(200));
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("tributary-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(
            &file,
            "http_addr = \"127.0.0.1:9999\"\n[live]\npart_target_ms = 300\n\
             [[live.rungs]]\nname = \"540p\"\nheight = 540\nbitrate_kbps = 2000\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file.clone()),
            part_target_ms: Some(250),
            ..Default::default()
        };
        let config = Config::load(args).unwrap();
        assert_eq!(config.http_addr.port(), 9999);
        assert_eq!(config.live.part_target, Duration::from_millis(250));
        assert_eq!(config.live.ladder.rungs.len(), 1);
        assert_eq!(config.live.ladder.rungs[0].height, 540);
        assert_eq!(config.live.ladder.rungs.len(), 1);
        assert_eq!(config.live.ladder.rungs[0].height, 540);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn chat_limits_come_from_the_file_and_are_checked() {
        let dir =
            std::env::temp_dir().join(format!("tributary-config-chat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(ServeArgs {
                config: Some(file.clone()),
                ..Default::default()
            })
        };
        let config =
            load("redis_url = \"redis://127.0.0.1:1\"\n[chat]\nmessages_per_30s = 5\n").unwrap();
        assert_eq!(config.chat.user_burst, 5);
        assert_eq!(
            config.chat.moderator_burst,
            chat::Limits::default().moderator_burst
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:1"));
        assert!(load("[chat]\nclient_queue = 1\n").is_err());
        assert!(load("[chat]\nmessages_per_30s = 0\n").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_webhook_retry_base_comes_from_the_file_or_the_flag() {
        let dir =
            std::env::temp_dir().join(format!("tributary-config-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        let load = |text: &str, flag: Option<u64>| {
            std::fs::write(&file, text).unwrap();
            Config::load(ServeArgs {
                config: Some(file.clone()),
                webhook_retry_base_ms: flag,
                ..Default::default()
            })
        };
        let default = load("", None).unwrap();
        assert_eq!(default.webhooks.retry_base, Duration::from_secs(10));
        let from_file = load("[webhooks]\nretry_base_ms = 250\n", None).unwrap();
        assert_eq!(from_file.webhooks.retry_base, Duration::from_millis(250));
        let from_flag = load("[webhooks]\nretry_base_ms = 250\n", Some(40)).unwrap();
        assert_eq!(from_flag.webhooks.retry_base, Duration::from_millis(40));
        assert!(load("", Some(0)).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn retention_comes_from_the_file_or_the_flags_and_keeps_by_default() {
        let dir =
            std::env::temp_dir().join(format!("tributary-config-retention-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        let load = |text: &str, source_days: Option<u64>| {
            std::fs::write(&file, text).unwrap();
            Config::load(ServeArgs {
                config: Some(file.clone()),
                retention_upload_source_days: source_days,
                ..Default::default()
            })
        };
        let default = load("", None).unwrap().retention;
        assert_eq!(default, RetentionConfig::default());
        assert_eq!(default.upload_source, None);
        assert_eq!(default.recordings, None);
        assert_eq!(
            default.temporary_rendition_grace,
            Duration::from_secs(21_600)
        );
        assert_eq!(default.sweep_every, Duration::from_secs(3600));
        let text = "[retention]\nupload_source_days = 30\nrecording_days = 7\n\
                    temporary_rendition_grace_secs = 60\nsweep_every_secs = 600\n";
        let from_file = load(text, None).unwrap().retention;
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(from_file.upload_source, Some(30 * day));
        assert_eq!(from_file.recordings, Some(7 * day));
        assert_eq!(from_file.temporary_rendition_grace, Duration::from_secs(60));
        assert_eq!(from_file.sweep_every, Duration::from_secs(600));
        let from_flag = load(text, Some(0)).unwrap().retention;
        assert_eq!(from_flag.upload_source, Some(Duration::ZERO));
        assert!(load("[retention]\nsweep_every_secs = 0\n", None).is_err());
        assert!(load("[retention]\nrecording_days = 99999999999999\n", None).is_err());
        assert!(load("[retention]\nupload_source_days = 1.5\n", None).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = std::env::temp_dir().join(format!("tributary-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.toml");
        std::fs::write(&file, "htp_addr = \"127.0.0.1:9999\"\n").unwrap();
        let err = Config::load(ServeArgs {
            config: Some(file),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("htp_addr"), "{err:#}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
