//! The retention sweep: every `sweep_every`, on every node, deletes what the
//! `[retention]` settings say has been kept long enough:
//! - an uploaded asset's source file, `upload_source` after the asset became
//!   ready (its renditions stay; `source.deleted_at` records it);
//! - a temporary rendition's files and row, `temporary_rendition_grace`
//!   after its asset became ready (the master stopped listing it then, but a
//!   player that loaded the master before may still be playing it);
//! - a broadcast's replay (as the API's DELETE does) and its recording,
//!   `recordings` after the broadcast ended.
//!
//! [`Due`] turns the clock and the settings into cutoffs; [`sweep`] finds
//! what is older and deletes it item by item: a failure is logged and the
//! sweep goes on. Several nodes may sweep at once: deleting a missing object
//! succeeds, a row is deleted once, and only the node that deleted a
//! replay's row emits `video.deleted`.

use std::sync::Weak;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::any::AnyRow;
use storage::{AnyStore, ObjectStore};
use tracing::{info, warn};

use super::videos::{self, DeleteError};
use super::{Vod, renditions, source_key};
use crate::config::RetentionConfig;
use crate::db::{Db, timestamp};
use crate::jobs::queue;

/// Most items of each kind deleted by one sweep; the rest wait for the next.
const BATCH: i64 = 500;

/// The cutoffs of one sweep, as stored timestamps (which sort as time
/// does): what is older is due. None keeps everything of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// Sources of uploads that became ready before this.
    pub upload_sources: Option<String>,
    /// Temporary renditions of assets that became ready before this.
    pub temporary_renditions: Option<String>,
    /// Replays and recordings of broadcasts that ended before this.
    pub recordings: Option<String>,
}

impl Due {
    pub fn at(now: DateTime<Utc>, settings: &RetentionConfig) -> Due {
        // An age beyond the calendar keeps everything.
        let before = |age: Duration| {
            TimeDelta::from_std(age)
                .ok()
                .and_then(|age| now.checked_sub_signed(age))
                .map(timestamp)
        };
        Due {
            upload_sources: settings.upload_source.and_then(before),
            temporary_renditions: before(settings.temporary_rendition_grace),
            recordings: settings.recordings.and_then(before),
        }
    }
}

/// How many items of each kind one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub upload_sources: usize,
    pub temporary_renditions: usize,
    pub replays: usize,
    pub recordings: usize,
}

/// Sweeps every `settings.sweep_every` while the VOD side lives.
pub(super) async fn run(vod: Weak<Vod>, settings: RetentionConfig) {
    let mut tick = tokio::time::interval(settings.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(vod) = vod.upgrade() else { return };
        let swept = sweep(&vod.db, &vod.store, &Due::at(Utc::now(), &settings)).await;
        if swept != Swept::default() {
            info!(?swept, "retention sweep done");
        }
    }
}

/// Deletes everything `due`.
pub async fn sweep(db: &Db, store: &AnyStore, due: &Due) -> Swept {
    let mut swept = Swept::default();
    if let Some(before) = &due.upload_sources {
        swept.upload_sources = upload_sources(db, store, before).await;
    }
    if let Some(before) = &due.temporary_renditions {
        swept.temporary_renditions = temporary_renditions(db, store, before).await;
    }
    if let Some(before) = &due.recordings {
        swept.replays = replays(db, store, before).await;
        // Then the recordings no asset replays (a replay's own recording
        // went with it).
        swept.recordings = recordings(db, store, before).await;
    }
    swept
}

/// What a listing query found, each row read by `read`; nothing, with a
/// warning naming `what`, when the listing failed (the next sweep tries
/// again).
fn listed<T>(
    found: sqlx::Result<Vec<AnyRow>>,
    what: &str,
    read: impl Fn(&AnyRow) -> sqlx::Result<T>,
) -> Vec<T> {
    match found.and_then(|rows| rows.iter().map(read).collect()) {
        Ok(due) => due,
        Err(e) => {
            warn!("retention: listing {what}: {e}");
            Vec::new()
        }
    }
}

/// Deletes the sources of uploads ready before `before` whose jobs are all
/// done (a failed one may be retried, and would need its source).
async fn upload_sources(db: &Db, store: &AnyStore, before: &str) -> usize {
    // A false match of the LIKE keeps a source: it never deletes one.
    let due = sqlx::query(
        "SELECT id FROM videos v WHERE origin = $1 AND status = $2 AND ready_at < $3 \
         AND (source IS NULL OR source NOT LIKE $4) \
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.video_id = v.id AND j.state <> $5) \
         ORDER BY ready_at LIMIT $6",
    )
    .bind(videos::ORIGIN_UPLOAD)
    .bind(videos::READY)
    .bind(before)
    .bind("%\"deleted_at\"%")
    .bind(queue::DONE)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await;
    let ids: Vec<String> = listed(due, "upload sources", |row| row.try_get("id"));
    let mut deleted = 0;
    for id in ids {
        match delete_upload_source(db, store, &id).await {
            Ok(()) => {
                info!(video = %id, key = %source_key(&id), "retention: upload source deleted, ready longer than upload_source_days");
                deleted += 1;
            }
            Err(e) => warn!(video = %id, "retention: deleting the upload source: {e}"),
        }
    }
    deleted
}

/// Deletes the source object, then records when in the asset's `source`.
async fn delete_upload_source(db: &Db, store: &AnyStore, id: &str) -> Result<(), DeleteError> {
    store.delete(&source_key(id)).await?;
    let mut deleted_at = Map::new();
    deleted_at.insert("deleted_at".into(), Value::from(timestamp(Utc::now())));
    let mut conn = db.pool().acquire().await?;
    videos::add_source_details(&mut conn, id, &deleted_at).await?;
    Ok(())
}

/// Deletes the temporary renditions of assets ready before `before`.
async fn temporary_renditions(db: &Db, store: &AnyStore, before: &str) -> usize {
    // Only those the master withdrew: their asset has a ladder (checked
    // again against `renditions::listed` before anything is deleted).
    let due = sqlx::query(
        "SELECT r.video_id, r.name FROM video_renditions r JOIN videos v ON v.id = r.video_id \
         WHERE r.temporary = 1 AND v.status = $1 AND v.ready_at < $2 \
         AND EXISTS (SELECT 1 FROM video_renditions l WHERE l.video_id = r.video_id \
                     AND l.temporary = 0 AND l.kind = $3) \
         ORDER BY v.ready_at LIMIT $4",
    )
    .bind(videos::READY)
    .bind(before)
    .bind("video")
    .bind(BATCH)
    .fetch_all(db.pool())
    .await;
    let due: Vec<(String, String)> = listed(due, "temporary renditions", |row| {
        Ok((row.try_get("video_id")?, row.try_get("name")?))
    });
    let mut deleted = 0;
    for (id, name) in due {
        match delete_temporary(db, store, &id, &name).await {
            Ok(true) => {
                info!(video = %id, rendition = %name, "retention: temporary rendition deleted, ready longer than temporary_rendition_grace_secs");
                deleted += 1;
            }
            Ok(false) => {}
            Err(e) => {
                warn!(video = %id, rendition = %name, "retention: deleting a temporary rendition: {e}")
            }
        }
    }
    deleted
}

/// Deletes a temporary rendition's files, then its row, unless a master
/// playlist lists it; false when one does (or the asset is gone).
async fn delete_temporary(
    db: &Db,
    store: &AnyStore,
    id: &str,
    name: &str,
) -> Result<bool, DeleteError> {
    let Some(row) = videos::find(db, id).await? else {
        return Ok(false);
    };
    let listed = renditions::listed(db, id, row.status == videos::READY).await?;
    if listed.iter().any(|p| p.name == name) {
        return Ok(false);
    }
    store
        .delete_prefix(&renditions::rendition_prefix(id, name))
        .await?;
    let mut conn = db.pool().acquire().await?;
    renditions::remove_temporary(&mut conn, id, name).await?;
    Ok(true)
}

/// Deletes the replays of broadcasts that ended before `before`.
async fn replays(db: &Db, store: &AnyStore, before: &str) -> usize {
    let due = sqlx::query(
        "SELECT v.id FROM videos v JOIN broadcasts b ON b.id = v.broadcast_id \
         WHERE v.origin = $1 AND b.ended_at IS NOT NULL AND b.ended_at < $2 \
         ORDER BY b.ended_at LIMIT $3",
    )
    .bind(videos::ORIGIN_LIVE)
    .bind(before)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await;
    let ids: Vec<String> = listed(due, "replays", |row| row.try_get("id"));
    let mut deleted = 0;
    for id in ids {
        let removed = match videos::find(db, &id).await {
            Ok(Some(row)) => videos::delete(db, store, &row).await,
            Ok(None) => Ok(false),
            Err(e) => Err(e.into()),
        };
        match removed {
            // Another node removed the row first, and reports it.
            Ok(false) => {}
            Ok(true) => {
                info!(video = %id, "retention: replay deleted (objects, rows, recording), its broadcast ended longer than recording_days ago");
                deleted += 1;
            }
            Err(e) => warn!(video = %id, "retention: deleting a replay: {e}"),
        }
    }
    deleted
}

/// Deletes the recordings no asset replays of broadcasts that ended before
/// `before`.
async fn recordings(db: &Db, store: &AnyStore, before: &str) -> usize {
    let due = sqlx::query(
        "SELECT b.id, b.recording_id FROM broadcasts b \
         WHERE b.recording_id IS NOT NULL AND b.ended_at IS NOT NULL AND b.ended_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM videos v WHERE v.id = b.recording_id OR v.broadcast_id = b.id) \
         ORDER BY b.ended_at LIMIT $2",
    )
    .bind(before)
    .bind(BATCH)
    .fetch_all(db.pool())
    .await;
    let due: Vec<(String, String)> = listed(due, "recordings", |row| {
        Ok((row.try_get("id")?, row.try_get("recording_id")?))
    });
    let mut deleted = 0;
    for (broadcast, recording) in due {
        // It names a prefix of the store: never one that is not an id.
        if !crate::ids::is_id(&recording) {
            warn!(%broadcast, %recording, "retention: a recording id that is not an id; left alone");
            continue;
        }
        match videos::delete_recording(db, store, &recording).await {
            Ok(()) => {
                info!(video = %recording, %broadcast, "retention: recording deleted (objects, rows), its broadcast ended longer than recording_days ago");
                deleted += 1;
            }
            Err(e) => warn!(video = %recording, %broadcast, "retention: deleting a recording: {e}"),
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use storage::StorageError;

    use super::*;
    use crate::db::StreamRow;
    use crate::ids::{secret, stream_id};
    use crate::test_db::databases;
    use crate::test_store::stores;
    use crate::vod::rendition_record::RenditionRecord;
    use crate::vod::{renditions::rendition_prefix, video_prefix};

    const DAY: u64 = 24 * 3600;

    /// Sources go after 30 days, replays 7 days after their broadcast.
    fn settings() -> RetentionConfig {
        RetentionConfig {
            upload_source: Some(Duration::from_secs(30 * DAY)),
            recordings: Some(Duration::from_secs(7 * DAY)),
            ..RetentionConfig::default()
        }
    }

    fn ago(now: DateTime<Utc>, secs: u64) -> String {
        timestamp(now - TimeDelta::seconds(secs as i64))
    }

    #[test]
    fn what_is_due_follows_the_clock_and_unset_keeps() {
        let now = Utc::now();
        let keep = Due::at(now, &RetentionConfig::default());
        assert_eq!(keep.upload_sources, None);
        assert_eq!(keep.recordings, None);
        assert_eq!(keep.temporary_renditions, Some(ago(now, 6 * 3600)));
        let due = Due::at(now, &settings());
        assert_eq!(due.upload_sources, Some(ago(now, 30 * DAY)));
        assert_eq!(due.recordings, Some(ago(now, 7 * DAY)));
        let forever = RetentionConfig {
            temporary_rendition_grace: Duration::from_secs(u64::MAX),
            ..settings()
        };
        assert_eq!(Due::at(now, &forever).temporary_renditions, None);
        // Stored timestamps sort as time does: older is smaller.
        assert!(ago(now, 30 * DAY + 1) < due.upload_sources.unwrap());
    }

    async fn exists(store: &AnyStore, key: &str) -> bool {
        match store.head(key).await {
            Ok(_) => true,
            Err(StorageError::NotFound { .. }) => false,
            Err(e) => panic!("head {key}: {e}"),
        }
    }

    async fn keys(store: &AnyStore, prefix: &str) -> Vec<String> {
        let listed = store.list(prefix).await.unwrap();
        listed.into_iter().map(|o| o.key).collect()
    }

    async fn put(store: &AnyStore, key: &str) {
        store
            .put(key, Bytes::from_static(b"data").into())
            .await
            .unwrap();
    }

    async fn count(db: &Db, sql: &str, id: &str) -> i64 {
        sqlx::query(sql)
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    fn record(name: &str) -> RenditionRecord {
        crate::vod::rendition_record::test_video_record(name)
    }

    /// Publishes the rendition `name` of `id` and writes its file.
    async fn rendition(db: &Db, store: &AnyStore, id: &str, name: &str, temporary: bool) {
        let mut conn = db.pool().acquire().await.unwrap();
        renditions::publish(&mut conn, id, &record(name), temporary)
            .await
            .unwrap();
        put(
            store,
            &format!("{}seg-00001.m4s", rendition_prefix(id, name)),
        )
        .await;
    }

    /// An uploaded asset in `status`, ready since `ready_at`, with its
    /// source and a 720p rendition.
    async fn upload(db: &Db, store: &AnyStore, status: &str, ready_at: Option<&str>) -> String {
        let id = videos::create(db, "t", "").await.unwrap().id;
        sqlx::query("UPDATE videos SET status = $1, ready_at = $2, source = $3 WHERE id = $4")
            .bind(status)
            .bind(ready_at)
            .bind(r#"{"size":4,"sha256":"ab"}"#)
            .bind(&id)
            .execute(db.pool())
            .await
            .unwrap();
        put(store, &source_key(&id)).await;
        rendition(db, store, &id, "720p", false).await;
        id
    }

    async fn job(db: &Db, id: &str, state: &str) {
        let mut conn = db.pool().acquire().await.unwrap();
        let job = queue::NewJob {
            video_id: id,
            kind: "transcode",
            profile: state,
            priority: 0,
            max_attempts: 3,
            spec: None,
        };
        queue::enqueue(&mut conn, &job).await.unwrap();
        sqlx::query("UPDATE jobs SET state = $1 WHERE video_id = $2 AND profile = $3")
            .bind(state)
            .bind(id)
            .bind(state)
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    /// A broadcast (ended at `ended_at`, or going on) recorded under a fresh
    /// id, with a replay asset under that id when `replay`; returns the
    /// broadcast's id and the recording's.
    async fn broadcast(
        db: &Db,
        store: &AnyStore,
        ended_at: Option<&str>,
        replay: bool,
    ) -> (String, String) {
        let stream = StreamRow {
            id: stream_id(),
            title: "show".into(),
            stream_key: secret(),
            created_at: timestamp(Utc::now()),
            ladder: None,
        };
        db.create_stream(&stream).await.unwrap();
        let (broadcast, recording) = (stream_id(), stream_id());
        sqlx::query(
            "INSERT INTO broadcasts (id, stream_id, started_at, ended_at, recording_id, replay_video_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&broadcast)
        .bind(&stream.id)
        .bind(ago(Utc::now(), 60 * DAY))
        .bind(ended_at)
        .bind(&recording)
        .bind(replay.then_some(recording.as_str()))
        .execute(db.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO recording_inits (broadcast_id, rendition, init, config) VALUES ($1, 'source', 0, '{}')",
        )
        .bind(&broadcast)
        .execute(db.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO recording_segments (broadcast_id, rendition, msn, discontinuity, init, \
             timescale, start_ticks, duration, pdt_ms, size, samples) \
             VALUES ($1, 'source', 0, 0, 0, 90000, 0, 90000, 0, 4, 30)",
        )
        .bind(&broadcast)
        .execute(db.pool())
        .await
        .unwrap();
        put(
            store,
            &format!("{}live/source/seg-1.m4s", video_prefix(&recording)),
        )
        .await;
        if replay {
            let now = timestamp(Utc::now());
            sqlx::query(
                "INSERT INTO videos (id, title, description, status, created_at, updated_at, \
                 origin, broadcast_id, ready_at) VALUES ($1, 'replay', '', $2, $3, $4, $5, $6, $7)",
            )
            .bind(&recording)
            .bind(videos::READY)
            .bind(&now)
            .bind(&now)
            .bind(videos::ORIGIN_LIVE)
            .bind(&broadcast)
            .bind(&now)
            .execute(db.pool())
            .await
            .unwrap();
            rendition(db, store, &recording, "720p", false).await;
            job(db, &recording, queue::DONE).await;
        }
        (broadcast, recording)
    }

    /// Everything the sweep may touch, some of it due.
    struct World {
        old_source: String,
        new_source: String,
        partially_ready: String,
        busy: Vec<String>,
        old_temporary: String,
        new_temporary: String,
        temporary_only: String,
        old_replay: (String, String),
        new_replay: (String, String),
        live: (String, String),
        old_recording: (String, String),
    }

    async fn world(db: &Db, store: &AnyStore, now: DateTime<Utc>) -> World {
        let ready = videos::READY;
        let old = ago(now, 31 * DAY);
        let old_source = upload(db, store, ready, Some(&old)).await;
        let new_source = upload(db, store, ready, Some(&ago(now, 29 * DAY))).await;
        let partially_ready = upload(db, store, videos::PARTIALLY_READY, None).await;
        sqlx::query("UPDATE videos SET updated_at = $1, created_at = $2 WHERE id = $3")
            .bind(&old)
            .bind(&old)
            .bind(&partially_ready)
            .execute(db.pool())
            .await
            .unwrap();
        let mut busy = Vec::new();
        for state in [queue::QUEUED, queue::RUNNING, queue::FAILED] {
            let id = upload(db, store, ready, Some(&old)).await;
            job(db, &id, queue::DONE).await;
            job(db, &id, state).await;
            busy.push(id);
        }

        let temporary = |ready_at: String, ladder: bool| async move {
            let id = upload(db, store, ready, Some(&ready_at)).await;
            if !ladder {
                sqlx::query("DELETE FROM video_renditions WHERE video_id = $1")
                    .bind(&id)
                    .execute(db.pool())
                    .await
                    .unwrap();
            }
            rendition(db, store, &id, "source", true).await;
            id
        };
        // Past the grace, not the source's 30 days.
        let old_temporary = temporary(ago(now, 7 * 3600), true).await;
        let new_temporary = temporary(ago(now, 3600), true).await;
        let temporary_only = temporary(ago(now, 7 * 3600), false).await;

        let old_replay = broadcast(db, store, Some(&ago(now, 8 * DAY)), true).await;
        let new_replay = broadcast(db, store, Some(&ago(now, 6 * DAY)), true).await;
        let live = broadcast(db, store, None, false).await;
        let old_recording = broadcast(db, store, Some(&ago(now, 8 * DAY)), false).await;
        World {
            old_source,
            new_source,
            partially_ready,
            busy,
            old_temporary,
            new_temporary,
            temporary_only,
            old_replay,
            new_replay,
            live,
            old_recording,
        }
    }

    async fn source_kept(db: &Db, store: &AnyStore, id: &str) -> bool {
        let row = videos::find(db, id).await.unwrap().unwrap();
        let recorded = row.source.unwrap().contains("deleted_at");
        let kept = exists(store, &source_key(id)).await;
        assert_eq!(kept, !recorded, "{id}: the row says what the store holds");
        assert!(
            exists(
                store,
                &format!("{}seg-00001.m4s", rendition_prefix(id, "720p"))
            )
            .await,
            "{id}: its rendition stays"
        );
        kept
    }

    async fn temporary_kept(db: &Db, store: &AnyStore, id: &str) -> bool {
        let rows = count(
            db,
            "SELECT COUNT(*) FROM video_renditions WHERE video_id = $1 AND temporary = 1",
            id,
        )
        .await;
        let files = keys(store, &rendition_prefix(id, "source")).await;
        assert_eq!(
            rows == 1,
            !files.is_empty(),
            "{id}: row and files go together"
        );
        rows == 1
    }

    /// Whether the broadcast's recording (and replay) are all there; panics
    /// when only some of it is.
    async fn recording_kept(
        db: &Db,
        store: &AnyStore,
        (broadcast, recording): &(String, String),
    ) -> bool {
        let files = !keys(store, &video_prefix(recording)).await.is_empty();
        let segments = count(
            db,
            "SELECT COUNT(*) FROM recording_segments WHERE broadcast_id = $1",
            broadcast,
        )
        .await;
        let inits = count(
            db,
            "SELECT COUNT(*) FROM recording_inits WHERE broadcast_id = $1",
            broadcast,
        )
        .await;
        let linked = count(
            db,
            "SELECT COUNT(*) FROM broadcasts WHERE recording_id IS NOT NULL AND id = $1",
            broadcast,
        )
        .await;
        let parts = [files, segments == 1, inits == 1, linked == 1];
        assert!(parts.iter().all(|p| *p == files), "{recording}: {parts:?}");
        files
    }

    /// Whether the replay's row, renditions and jobs are there; none of them
    /// when it is not.
    async fn replay_kept(db: &Db, recording: &str) -> bool {
        let rows = [
            "SELECT COUNT(*) FROM videos WHERE id = $1",
            "SELECT COUNT(*) FROM video_renditions WHERE video_id = $1",
            "SELECT COUNT(*) FROM jobs WHERE video_id = $1",
            "SELECT COUNT(*) FROM broadcasts WHERE replay_video_id = $1",
        ];
        let mut counts = Vec::new();
        for sql in rows {
            counts.push(count(db, sql, recording).await);
        }
        assert!(
            counts == [1, 1, 1, 1] || counts == [0, 0, 0, 0],
            "{recording}: {counts:?}"
        );
        counts[0] == 1
    }

    async fn deleted_events(db: &Db, id: &str) -> usize {
        let bodies = sqlx::query("SELECT body FROM webhook_deliveries WHERE event_type = $1")
            .bind(crate::webhooks::VIDEO_DELETED)
            .fetch_all(db.pool())
            .await
            .unwrap();
        bodies
            .iter()
            .map(|row| row.try_get::<String, _>("body").unwrap())
            .filter(|body| body.contains(id))
            .count()
    }

    async fn subscribe(db: &Db) {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, events, secret, created_at) \
             VALUES ($1, 'http://127.0.0.1:9/hook', '[\"*\"]', 's', $2)",
        )
        .bind(stream_id())
        .bind(timestamp(Utc::now()))
        .execute(db.pool())
        .await
        .unwrap();
    }

    /// Two nodes sweep at once: what is due goes once (one `video.deleted`),
    /// the rest stays, and a later sweep finds nothing left to do.
    #[tokio::test]
    // The guard only makes heavy tests take turns; nothing else waits on it.
    #[allow(clippy::await_holding_lock)]
    async fn the_sweep_deletes_what_is_due_and_nothing_else() {
        let _turn = crate::test_media::heavy_turn();
        let (stores, _dir) = stores().await;
        for (store_kind, store) in stores {
            for (db_kind, db) in databases().await {
                let kind = format!("{db_kind}, {store_kind}");
                subscribe(&db).await;
                let now = Utc::now();
                let w = world(&db, &store, now).await;
                let due = Due::at(now, &settings());
                tokio::join!(sweep(&db, &store, &due), sweep(&db, &store, &due));

                assert!(!source_kept(&db, &store, &w.old_source).await, "{kind}");
                assert!(source_kept(&db, &store, &w.new_source).await, "{kind}");
                assert!(source_kept(&db, &store, &w.partially_ready).await, "{kind}");
                for id in &w.busy {
                    assert!(source_kept(&db, &store, id).await, "{kind}: {id} has jobs");
                }

                assert!(
                    !temporary_kept(&db, &store, &w.old_temporary).await,
                    "{kind}"
                );
                assert!(
                    temporary_kept(&db, &store, &w.new_temporary).await,
                    "{kind}"
                );
                assert!(
                    temporary_kept(&db, &store, &w.temporary_only).await,
                    "{kind}: listed without a ladder"
                );

                assert!(!replay_kept(&db, &w.old_replay.1).await, "{kind}");
                assert!(!recording_kept(&db, &store, &w.old_replay).await, "{kind}");
                assert_eq!(deleted_events(&db, &w.old_replay.1).await, 1, "{kind}");
                assert!(replay_kept(&db, &w.new_replay.1).await, "{kind}");
                assert!(recording_kept(&db, &store, &w.new_replay).await, "{kind}");
                assert!(recording_kept(&db, &store, &w.live).await, "{kind}");
                assert!(
                    !recording_kept(&db, &store, &w.old_recording).await,
                    "{kind}"
                );

                let again = sweep(&db, &store, &due).await;
                assert_eq!(again, Swept::default(), "{kind}");
            }
        }
    }

    /// Unset, sources and recordings are kept however old; a temporary
    /// rendition has a grace by default and goes after it.
    #[tokio::test]
    // The guard only makes heavy tests take turns; nothing else waits on it.
    #[allow(clippy::await_holding_lock)]
    async fn unset_settings_keep_sources_and_recordings() {
        let _turn = crate::test_media::heavy_turn();
        let (stores, _dir) = stores().await;
        for (store_kind, store) in stores {
            for (db_kind, db) in databases().await {
                let kind = format!("{db_kind}, {store_kind}");
                let now = Utc::now();
                let w = world(&db, &store, now).await;
                let swept = sweep(&db, &store, &Due::at(now, &RetentionConfig::default())).await;
                let expected = Swept {
                    temporary_renditions: 1,
                    ..Swept::default()
                };
                assert_eq!(swept, expected, "{kind}");
                assert!(source_kept(&db, &store, &w.old_source).await, "{kind}");
                assert!(
                    !temporary_kept(&db, &store, &w.old_temporary).await,
                    "{kind}"
                );
                assert!(replay_kept(&db, &w.old_replay.1).await, "{kind}");
                assert!(recording_kept(&db, &store, &w.old_replay).await, "{kind}");
                assert!(
                    recording_kept(&db, &store, &w.old_recording).await,
                    "{kind}"
                );
            }
        }
    }
}
