//! `tributary serve`: opens the metadata store, binds the listeners and runs
//! ingest and HTTP until interrupted.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use tracing::{error, info};

use crate::api::{self, ApiState};
use crate::config::Config;
use crate::db::Db;
use crate::live::LiveManager;
use crate::{admin_token, media, watch};

pub async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db = Db::connect(&config.database_url).await?;
    let (token, generated) =
        admin_token::load_or_generate(config.admin_token.as_deref(), &config.data_dir)?;
    if generated {
        println!(
            "Generated the admin token (kept in {}; it is shown only this once):\n\n    {token}\n",
            config.data_dir.join("admin_token").display()
        );
    }
    let store = crate::vod::open_store(&config).await?;
    let recordings = if config.live.record {
        let node_id = crate::recording::node_id(&config.data_dir)?;
        let ladder = config
            .vod
            .ladder_recordings
            .then(|| config.vod.ladder.clone());
        let recordings =
            crate::recording::Recordings::new(db.clone(), store.clone(), node_id, ladder);
        recordings.recover().await;
        recordings.start_upkeep();
        Some(recordings)
    } else {
        None
    };
    let live = Arc::new(LiveManager::new(
        db.clone(),
        config.live.clone(),
        recordings,
    ));
    let chat = crate::chat::start(
        db.clone(),
        &live,
        config.chat.clone(),
        config.redis_url.as_deref(),
    )?;
    let bind = |what: &'static str, addr| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {what} on {addr}"))
    };
    let jobs = crate::jobs::Jobs::new(db.clone());
    jobs.start_workers(store.clone(), &config, config.jobs.workers)?;
    let vod = crate::vod::Vod::start(&config, db.clone(), store, jobs, &token).await?;
    crate::webhooks::start(db.clone(), &config.webhooks)?;
    let http = bind("HTTP", config.http_addr).await?;
    let rtmp = bind("RTMP", config.rtmp_addr).await?;
    let srt_options = ingest::srt::SrtOptions {
        passphrase: config.srt_passphrase.clone(),
        ..Default::default()
    };

    // A blocking request gives up after three target durations, never sooner than three
    // configured segment targets (the target duration before the first segment is cut).
    let min_block_timeout = (config.live.segment_target * 3).max(Duration::from_secs(3));
    let max_upload_bytes = config.uploads.max_bytes;
    let config = Arc::new(config);
    let app = Router::new()
        .merge(api::routes(ApiState {
            db,
            live: live.clone(),
            config: config.clone(),
            admin_token: token.into(),
            chat,
            vod,
        }))
        .merge(media::routes(live.clone(), min_block_timeout))
        .merge(watch::routes())
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers(Any),
        )
        .layer(axum::middleware::from_fn(move |request, next| {
            crate::vod::tus::advertise(max_upload_bytes, request, next)
        }));

    info!(
        http = %config.http_addr,
        rtmp = %config.rtmp_addr,
        srt = %config.srt_addr,
        data_dir = %config.data_dir.display(),
        "tributary is running"
    );
    let http = async {
        // Chat needs each client's address (bans and limits by IP).
        axum::serve(
            http,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server")
    };
    let rtmp = async {
        ingest::rtmp::serve(rtmp, live.clone())
            .await
            .context("RTMP listener")
    };
    let srt = async {
        ingest::srt::serve(config.srt_addr, srt_options, live.clone())
            .await
            .context("SRT listener")
    };
    tokio::select! {
        result = http => result,
        result = rtmp => result.and_then(|()| anyhow::bail!("RTMP listener stopped")),
        result = srt => result.and_then(|()| anyhow::bail!("SRT listener stopped")),
    }
    .inspect_err(|e| error!("{e:#}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down");
}
