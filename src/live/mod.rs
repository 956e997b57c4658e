//! Live streams: where publishers (from ingest) and viewers (from the media
//! routes) meet. One `LiveStream` per stream that has been published since the
//! server started; it holds the publisher, the current broadcast and the one
//! before it.

mod aac_audio;
mod broadcast;
pub mod broadcasts;
mod poster;
mod rungs;
mod session;
mod stats;
mod track_gate;
mod tracks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use chrono::{DateTime, Utc};
use ingest::{
    AudioConfig, MediaSink, Protocol, PublishAuthorizer, PublishRejection, PublishRequest,
    VideoConfig,
};
use packager::{ConfigError, LiveOptions, TrackConfig};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

pub use broadcast::{Broadcast, WaitError};
use poster::Poster;
pub use stats::Measured;
use stats::StatsMeter;

use crate::config::LiveConfig;
use crate::db::Db;
use crate::ladder::{LadderStatus, LiveLadder};
use crate::ladder_settings::LadderSettings;
use crate::recording::Recordings;
use crate::recording::recorder::RecordingStatus;
use crate::recording::replay::{self, Ending};

/// Media events buffered between an ingest connection and its session task.
const MEDIA_QUEUE: usize = 512;

/// Live events buffered for slow listeners.
const EVENT_QUEUE: usize = 256;

/// Every live stream of this node.
pub struct LiveManager {
    db: Db,
    config: LiveConfig,
    /// Broadcasts are recorded when set.
    recordings: Option<Recordings>,
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
    events: tokio::sync::broadcast::Sender<LiveEvent>,
}

/// A broadcast began or ended (a reconnect inside the window is neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    Started {
        stream_id: String,
        broadcast_id: String,
    },
    Ended {
        stream_id: String,
        broadcast_id: String,
    },
}

/// The live side of one stream.
pub struct LiveStream {
    pub stream_id: String,
    db: Db,
    config: LiveConfig,
    recordings: Option<Recordings>,
    state: Mutex<StreamState>,
    poster: Arc<Poster>,
    events: tokio::sync::broadcast::Sender<LiveEvent>,
}

#[derive(Default)]
struct StreamState {
    publisher: Option<Publisher>,
    current: Option<Arc<Broadcast>>,
    previous: Option<Arc<Broadcast>>,
    /// Counts publishers, so a stale reconnect timer knows it is stale.
    generation: u64,
}

struct Publisher {
    protocol: Protocol,
    remote: SocketAddr,
    connected_at: DateTime<Utc>,
    /// Sending (or dropping) ends the publish.
    kick: Option<oneshot::Sender<()>>,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    meter: Arc<Mutex<StatsMeter>>,
    /// The transcoded ladder of this publish, for its status; the session
    /// owns it (and stops it off the async threads).
    ladder: Option<Weak<Mutex<LiveLadder>>>,
}

/// What the API reports of a stream while it is live.
#[derive(Debug, Clone, Serialize)]
pub struct LiveStatus {
    pub broadcast_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub publisher: PublisherInfo,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    #[serde(flatten)]
    pub measured: Measured,
    /// Transcoded rungs: encoding or shed (and why).
    pub transcoding: Option<LadderStatus>,
    /// How the recording of the broadcast keeps up, when it is recorded.
    pub recording: Option<RecordingStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PublisherInfo {
    pub protocol: String,
    pub remote_addr: String,
    pub connected_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u8,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LiveManager {
    pub fn new(db: Db, config: LiveConfig, recordings: Option<Recordings>) -> LiveManager {
        LiveManager {
            db,
            config,
            recordings,
            streams: Mutex::default(),
            events: tokio::sync::broadcast::channel(EVENT_QUEUE).0,
        }
    }

    /// Broadcasts beginning and ending from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    pub fn stream(&self, stream_id: &str) -> Option<Arc<LiveStream>> {
        lock(&self.streams).get(stream_id).cloned()
    }

    fn stream_entry(&self, stream_id: &str) -> Arc<LiveStream> {
        lock(&self.streams)
            .entry(stream_id.to_owned())
            .or_insert_with(|| {
                Arc::new(LiveStream {
                    stream_id: stream_id.to_owned(),
                    db: self.db.clone(),
                    config: self.config.clone(),
                    recordings: self.recordings.clone(),
                    state: Mutex::default(),
                    poster: Arc::default(),
                    events: self.events.clone(),
                })
            })
            .clone()
    }

    /// Ends the current publish of a stream, if any (its key was rotated).
    pub fn kick(&self, stream_id: &str) {
        if let Some(stream) = self.stream(stream_id) {
            stream.kick();
        }
    }

    /// The stream was deleted: end its publish and forget it.
    pub fn remove(&self, stream_id: &str) {
        if let Some(stream) = lock(&self.streams).remove(stream_id) {
            stream.kick();
        }
    }
}

impl PublishAuthorizer for LiveManager {
    async fn authorize(&self, request: PublishRequest) -> Result<MediaSink, PublishRejection> {
        let bare_srt_key = request.protocol == Protocol::Srt && request.app.is_empty();
        if request.app != "live" && !bare_srt_key {
            return Err(PublishRejection::UnknownApp(request.app));
        }
        let row = self
            .db
            .stream_by_key(&request.key)
            .await
            .map_err(|e| PublishRejection::Internal(e.to_string()))?
            .ok_or(PublishRejection::UnknownKey)?;
        let stream = self.stream_entry(&row.id);
        let (sink, media) = mpsc::channel(MEDIA_QUEUE);
        let (kick, kicked) = oneshot::channel();
        let generation = {
            let mut state = lock(&stream.state);
            if state.publisher.is_some() {
                return Err(PublishRejection::AlreadyPublishing);
            }
            state.generation += 1;
            state.publisher = Some(Publisher {
                protocol: request.protocol,
                remote: request.remote,
                connected_at: Utc::now(),
                kick: Some(kick),
                video: None,
                audio: None,
                meter: Arc::default(),
                ladder: None,
            });
            state.generation
        };
        info!(stream = %row.id, protocol = %request.protocol, remote = %request.remote, "publisher connected");
        let ladder = LadderSettings::effective(&self.config.ladder, row.ladder.as_deref());
        tokio::spawn(session::run(stream, media, kicked, generation, ladder));
        Ok(sink)
    }
}

impl LiveStream {
    fn options(&self) -> LiveOptions {
        LiveOptions {
            part_target: self.config.part_target,
            segment_target: self.config.segment_target,
            dvr_window: self.config.dvr_window,
        }
    }

    /// The broadcast a publish with these tracks continues, or a new one.
    /// A reconnect with the same set of tracks continues the open broadcast
    /// (after a discontinuity); anything else starts a new broadcast.
    async fn attach(
        &self,
        video: Option<TrackConfig>,
        audio: Option<TrackConfig>,
    ) -> Result<Arc<Broadcast>, ConfigError> {
        let (broadcast, ended, recording_id) = {
            let mut state = lock(&self.state);
            if let Some(current) = state.current.as_ref().filter(|current| {
                !current.is_finished()
                    && current.video.is_some() == video.is_some()
                    && current.audio.is_some() == audio.is_some()
            }) {
                let current = current.clone();
                let mut result = Ok(());
                current.publish(|packager| {
                    result = [(current.video, video), (current.audio, audio)]
                        .into_iter()
                        .filter_map(|(id, config)| Some((id?, config?)))
                        .try_for_each(|(id, config)| packager.set_config(id, config));
                    false
                });
                return result.map(|()| current);
            }
            let id = crate::ids::broadcast_id();
            let recording = self
                .recordings
                .as_ref()
                .map(|recordings| (recordings, crate::ids::stream_id()));
            let recorder = recording
                .as_ref()
                .map(|(recordings, recording_id)| recordings.recorder(&id, recording_id));
            let broadcast = Arc::new(Broadcast::new(id, self.options(), video, audio, recorder)?);
            let recording_id = recording.map(|(_, recording_id)| recording_id);
            let ended = state
                .current
                .replace(broadcast.clone())
                .filter(|old| !old.is_finished());
            if let Some(old) = &ended {
                old.finish();
            }
            state.previous = ended.clone().or(state.previous.take());
            (broadcast, ended, recording_id)
        };
        if let Some(old) = ended {
            self.record_end(&old).await;
        }
        self.announce(LiveEvent::Started {
            stream_id: self.stream_id.clone(),
            broadcast_id: broadcast.id.clone(),
        });
        let start = broadcasts::Start {
            id: &broadcast.id,
            stream_id: &self.stream_id,
            started_at: broadcast.started_at,
            node_id: self.recordings.as_ref().map_or("", |r| r.node_id()),
            recording_id: recording_id.as_deref(),
        };
        if let Err(e) = broadcasts::started(&self.db, &start).await {
            error!(stream = %self.stream_id, broadcast = %broadcast.id, "recording broadcast start: {e}");
        }
        Ok(broadcast)
    }

    /// Records the end of `broadcast` (finished) with its replay, once what
    /// it recorded is written.
    async fn record_end(&self, broadcast: &Broadcast) {
        if let Some(recorder) = broadcast.recorder() {
            recorder.finish().await;
        }
        let ended = match &self.recordings {
            Some(recordings) => recordings.end(&broadcast.id, Utc::now()).await,
            None => replay::end(&self.db, &broadcast.id, Ending::At(Utc::now()), None).await,
        };
        match ended {
            Ok(replay) => {
                info!(stream = %self.stream_id, broadcast = %broadcast.id, ?replay, "broadcast recorded as ended");
            }
            Err(e) => {
                error!(stream = %self.stream_id, broadcast = %broadcast.id, "recording broadcast end: {e}");
            }
        }
        self.announce(LiveEvent::Ended {
            stream_id: self.stream_id.clone(),
            broadcast_id: broadcast.id.clone(),
        });
    }

    fn announce(&self, event: LiveEvent) {
        // Nobody listening is fine.
        let _ = self.events.send(event);
    }

    fn set_tracks(&self, video: Option<VideoConfig>, audio: Option<AudioConfig>) {
        if let Some(publisher) = lock(&self.state).publisher.as_mut() {
            publisher.video = video;
            publisher.audio = audio;
        }
    }

    fn set_source_video(&self, video: VideoConfig) {
        if let Some(publisher) = lock(&self.state).publisher.as_mut() {
            publisher.video = Some(video);
        }
    }

    fn set_ladder(&self, ladder: &Arc<Mutex<LiveLadder>>) {
        if let Some(publisher) = lock(&self.state).publisher.as_mut() {
            publisher.ladder = Some(Arc::downgrade(ladder));
        }
    }

    fn meter(&self) -> Arc<Mutex<StatsMeter>> {
        lock(&self.state)
            .publisher
            .as_ref()
            .map(|p| p.meter.clone())
            .unwrap_or_default()
    }

    fn kick(&self) {
        if let Some(kick) = lock(&self.state)
            .publisher
            .as_mut()
            .and_then(|p| p.kick.take())
        {
            let _ = kick.send(());
        }
    }

    /// The session of publisher `generation` ended; the broadcast ends too
    /// unless a publisher comes back within the reconnect window.
    fn publisher_left(self: &Arc<Self>, generation: u64) {
        {
            let mut state = lock(&self.state);
            if state.generation != generation {
                return;
            }
            state.publisher = None;
        }
        let stream = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(stream.config.reconnect_window).await;
            let ended = {
                let state = lock(&stream.state);
                if state.generation != generation || state.publisher.is_some() {
                    return;
                }
                state.current.clone().filter(|b| !b.is_finished())
            };
            if let Some(broadcast) = ended {
                broadcast.finish();
                stream.poster.clear();
                info!(stream = %stream.stream_id, broadcast = %broadcast.id, "broadcast ended");
                stream.record_end(&broadcast).await;
            }
        });
    }

    /// A JPEG of a recent keyframe, while a broadcast is open.
    pub fn poster(&self) -> Option<bytes::Bytes> {
        self.poster.latest()
    }

    /// The broadcast a media path names: the current one or the one before.
    pub fn broadcast(&self, broadcast_id: &str) -> Option<Arc<Broadcast>> {
        let state = lock(&self.state);
        [&state.current, &state.previous]
            .into_iter()
            .flatten()
            .find(|b| b.id == broadcast_id)
            .cloned()
    }

    /// The broadcast viewers should be sent to, while one is open and playable.
    pub fn playable_broadcast(&self) -> Option<Arc<Broadcast>> {
        lock(&self.state)
            .current
            .clone()
            .filter(|b| !b.is_finished() && b.is_playable())
    }

    /// The open broadcast's id, while one is open.
    pub fn open_broadcast_id(&self) -> Option<String> {
        lock(&self.state)
            .current
            .as_ref()
            .filter(|b| !b.is_finished())
            .map(|b| b.id.clone())
    }

    /// The open broadcast and the program date time at its live edge, while
    /// media flows (between publishes of a broadcast: the wall clock, which
    /// the next publish's program date times continue from).
    pub fn live_position(&self) -> Option<chat::LivePosition> {
        let broadcast = lock(&self.state)
            .current
            .clone()
            .filter(|b| !b.is_finished())?;
        let edge = broadcast.packager().live_edge_unix_ms();
        let media_time = edge
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or_else(Utc::now);
        Some(chat::LivePosition {
            broadcast_id: broadcast.id.clone(),
            media_time,
        })
    }

    /// Some while a publisher is connected.
    pub fn status(&self) -> Option<LiveStatus> {
        let state = lock(&self.state);
        let publisher = state.publisher.as_ref()?;
        let broadcast = state.current.as_ref().filter(|b| !b.is_finished());
        Some(LiveStatus {
            broadcast_id: broadcast.map(|b| b.id.clone()),
            started_at: broadcast.map(|b| b.started_at),
            publisher: PublisherInfo {
                protocol: publisher.protocol.to_string(),
                remote_addr: publisher.remote.to_string(),
                connected_at: publisher.connected_at,
            },
            video: publisher.video.as_ref().map(|v| VideoInfo {
                codec: v.codec_string.clone(),
                width: v.width,
                height: v.height,
            }),
            audio: publisher.audio.as_ref().map(|a| AudioInfo {
                codec: a.codec_string.clone(),
                sample_rate: a.sample_rate,
                channels: a.channels,
            }),
            measured: lock(&publisher.meter).measured(),
            transcoding: publisher
                .ladder
                .as_ref()
                .and_then(Weak::upgrade)
                .map(|ladder| lock(&ladder).status()),
            recording: broadcast.and_then(|b| b.recorder()).map(|r| r.status()),
        })
    }
}
