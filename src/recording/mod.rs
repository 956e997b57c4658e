//! Recording broadcasts: each one is archived to object storage while it
//! goes on ([`recorder`]) and becomes a replay when it ends ([`replay`]),
//! also when the server that ran it died ([`Recordings::start_upkeep`]);
//! its chat replays beside it ([`chat_replay`]).

pub mod chat_replay;
pub mod ladder;
pub mod plan;
pub mod recorder;
pub mod replay;
pub mod rows;
pub mod timeline;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use storage::AnyStore;
use tracing::{error, info};

use crate::db::Db;
use crate::live::broadcasts;
use crate::vod::plan::VodLadder;
use recorder::{Recorder, Target};
use replay::Ending;

/// How often a server says its broadcasts are alive and looks for ones
/// whose server is gone.
const UPKEEP_EVERY: Duration = Duration::from_secs(30);
/// A broadcast whose server has been silent this long is ended.
const SILENT_FOR: Duration = Duration::from_secs(120);

/// What recording needs: where files and rows go, which server this is,
/// and the ladder replays get (None: they keep their live rungs).
#[derive(Clone)]
pub struct Recordings {
    db: Db,
    store: AnyStore,
    node_id: String,
    ladder: Option<VodLadder>,
}

impl Recordings {
    pub fn new(db: Db, store: AnyStore, node_id: String, ladder: Option<VodLadder>) -> Recordings {
        Recordings {
            db,
            store,
            node_id,
            ladder,
        }
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Starts archiving broadcast `broadcast_id` under asset id `recording_id`.
    pub fn recorder(&self, broadcast_id: &str, recording_id: &str) -> Recorder {
        Recorder::start(Target {
            db: self.db.clone(),
            store: self.store.clone(),
            broadcast_id: broadcast_id.to_owned(),
            recording_id: recording_id.to_owned(),
        })
    }

    /// Ends a broadcast with its replay; the replay's id when it has one.
    pub async fn end(
        &self,
        broadcast_id: &str,
        ended_at: DateTime<Utc>,
    ) -> sqlx::Result<Option<String>> {
        replay::end(
            &self.db,
            broadcast_id,
            Ending::At(ended_at),
            self.ladder.as_ref(),
        )
        .await
    }

    /// Ends (and replays) the broadcasts an earlier run of this server left
    /// open: call it before this run starts any.
    pub async fn recover(&self) {
        self.end_abandoned(Some(&self.node_id)).await;
    }

    /// Keeps saying this server's broadcasts are alive, and ends those of
    /// servers that stopped saying so.
    pub fn start_upkeep(&self) {
        let recordings = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) =
                    broadcasts::alive(&recordings.db, &recordings.node_id, Utc::now()).await
                {
                    error!("marking broadcasts alive: {e}");
                }
                recordings.end_abandoned(None).await;
            }
        });
    }

    async fn end_abandoned(&self, restarted: Option<&str>) {
        let stale_before = Utc::now() - SILENT_FOR;
        let abandoned = match broadcasts::abandoned(&self.db, restarted, stale_before).await {
            Ok(abandoned) => abandoned,
            Err(e) => return error!("looking for abandoned broadcasts: {e}"),
        };
        for broadcast in abandoned {
            let last_heard = DateTime::parse_from_rfc3339(&broadcast.alive_at)
                .map_or_else(|_| Utc::now(), |at| at.with_timezone(&Utc));
            let ending = Ending::LastHeard(last_heard);
            match replay::end(&self.db, &broadcast.id, ending, self.ladder.as_ref()).await {
                Ok(replay) => {
                    info!(broadcast = %broadcast.id, ?replay, "ended a broadcast its server left open");
                }
                Err(e) => error!(broadcast = %broadcast.id, "ending an abandoned broadcast: {e}"),
            }
        }
    }
}

/// This server's id, kept in the data directory: broadcasts it left open
/// when it died are its own to end when it comes back.
pub fn node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(id) if crate::ids::is_id(id.trim()) => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let id = crate::ids::stream_id();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
