//! The task that carries one publish from ingest into a broadcast.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use ingest::{AudioCodec, Frame, MediaEvent, TrackKind, VideoConfig};
use packager::{LivePackager, PushError, RenditionId, Sample, TrackConfig};
use tokio::sync::{mpsc, oneshot};

use crate::audio_transcode::AudioEvent;
use crate::ladder::LadderEvent;
use crate::ladder_settings::LadderSettings;
use tracing::{info, warn};

use super::LiveStream;
use super::aac_audio::AacAudio;
use super::broadcast::Broadcast;
use super::poster::Poster;
use super::rungs::{Rungs, retire_previous_rungs};
use super::stats::StatsMeter;
use super::track_gate::{TrackGate, Tracks};
use super::tracks::{self, UnsupportedTrack};

/// Runs until the publisher leaves, is kicked, or sends what cannot be carried.
/// Returning drops `media`, which makes ingest close the connection.
pub(super) async fn run(
    stream: Arc<LiveStream>,
    mut media: mpsc::Receiver<MediaEvent>,
    mut kick: oneshot::Receiver<()>,
    generation: u64,
    ladder: LadderSettings,
) {
    let settled = tokio::select! {
        tracks = settle(&mut media) => tracks,
        _ = &mut kick => None,
    };
    let carrier = match settled {
        Some(tracks) => Carrier::start(&stream, tracks, &ladder).await,
        None => None,
    };
    if let Some(mut carrier) = carrier {
        loop {
            let event = tokio::select! {
                event = media.recv() => event,
                _ = &mut kick => None,
                Some(rung_event) = next_rung_event(&mut carrier.rungs) => {
                    if let Some(rungs) = &carrier.rungs {
                        rungs.apply(&carrier.broadcast, rung_event);
                    }
                    continue;
                }
                Some(audio_event) = next_audio_event(&mut carrier.aac_audio) => {
                    AacAudio::apply(&carrier.broadcast, audio_event);
                    continue;
                }
            };
            let Some(event) = event else { break };
            if let Err(refused) = carrier.carry(event) {
                warn!(stream = %stream.stream_id, "ending publish: {refused}");
                break;
            }
        }
        carrier.broadcast.publish(LivePackager::end_publish);
        info!(stream = %stream.stream_id, broadcast = %carrier.broadcast.id, "publisher left");
        drop_off_async((carrier.rungs.take(), carrier.aac_audio.take()));
    }
    stream.publisher_left(generation);
}

/// Stopping a GStreamer pipeline blocks briefly: drop ladders and
/// transcoders off the async threads.
fn drop_off_async<T: Send + 'static>(pipelines: T) {
    tokio::task::spawn_blocking(move || drop(pipelines));
}

/// The ladder of `video`, shown in the stream's status, when the settings ask for one.
fn start_rungs(stream: &LiveStream, video: &VideoConfig, ladder: &LadderSettings) -> Option<Rungs> {
    let rungs = Rungs::start(&stream.stream_id, video, ladder)?;
    stream.set_ladder(rungs.ladder());
    Some(rungs)
}

/// The next ladder event; never resolves for a publish without rungs.
async fn next_rung_event(rungs: &mut Option<Rungs>) -> Option<LadderEvent> {
    match rungs {
        Some(rungs) => rungs.next_event().await,
        None => std::future::pending().await,
    }
}

/// The next transcoded audio event; never resolves without a transcoder.
async fn next_audio_event(aac_audio: &mut Option<AacAudio>) -> Option<AudioEvent> {
    match aac_audio {
        Some(aac_audio) => aac_audio.next_event().await,
        None => std::future::pending().await,
    }
}

async fn settle(media: &mut mpsc::Receiver<MediaEvent>) -> Option<Tracks> {
    let mut gate = TrackGate::default();
    while let Some(event) = media.recv().await {
        if let Some(tracks) = gate.push(event) {
            return Some(tracks);
        }
    }
    None
}

/// Moves one publisher's events into the packager of its broadcast.
struct Carrier {
    stream: Arc<LiveStream>,
    stream_id: String,
    ladder: LadderSettings,
    broadcast: Arc<Broadcast>,
    meter: Arc<Mutex<StatsMeter>>,
    poster: Arc<Poster>,
    /// The source video's current config (for posters).
    source_video: Option<VideoConfig>,
    /// Transcoded rungs of the source video, when there are any.
    rungs: Option<Rungs>,
    /// The AAC transcoder of non-AAC source audio.
    aac_audio: Option<AacAudio>,
    /// Frames the packager refused since the last warning.
    refused: u64,
    warned_new_track: bool,
}

impl Carrier {
    async fn start(
        stream: &Arc<LiveStream>,
        tracks: Tracks,
        ladder: &LadderSettings,
    ) -> Option<Carrier> {
        // Opus and MP3 become AAC through a transcoder; AAC passes through.
        let (aac_audio, packaged_audio) = match tracks
            .audio
            .as_ref()
            .map(|a| (a, AacAudio::start(&stream.stream_id, a)))
        {
            Some((_, Some((transcoder, aac)))) => (Some(transcoder), Some(aac)),
            Some((source, None)) if source.codec == AudioCodec::Aac => (None, Some(source.clone())),
            _ => (None, None),
        };
        let configs = tracks
            .video
            .as_ref()
            .map(tracks::video)
            .transpose()
            .and_then(|video| {
                let audio = packaged_audio.as_ref().map(tracks::audio).transpose()?;
                Ok((video, audio))
            });
        let (video, audio) = match configs {
            Ok(configs) => configs,
            Err(unsupported) => {
                warn!(stream = %stream.stream_id, "refusing publish: {unsupported}");
                return None;
            }
        };
        let broadcast = match stream.attach(video, audio).await {
            Ok(broadcast) => broadcast,
            Err(invalid) => {
                warn!(stream = %stream.stream_id, "refusing publish: {invalid}");
                return None;
            }
        };
        info!(
            stream = %stream.stream_id,
            broadcast = %broadcast.id,
            video = tracks.video.as_ref().map(|v| format!("{} {}x{}", v.codec_string, v.width, v.height)),
            audio = tracks.audio.as_ref().map(|a| format!("{} {} Hz", a.codec_string, a.sample_rate)),
            "publish started"
        );
        stream.set_tracks(tracks.video.clone(), tracks.audio.clone());
        retire_previous_rungs(&broadcast);
        let rungs = tracks
            .video
            .as_ref()
            .and_then(|video| start_rungs(stream, video, ladder));
        let mut carrier = Carrier {
            stream: stream.clone(),
            stream_id: stream.stream_id.clone(),
            ladder: ladder.clone(),
            broadcast,
            meter: stream.meter(),
            poster: stream.poster.clone(),
            source_video: tracks.video.clone(),
            rungs,
            aac_audio,
            refused: 0,
            warned_new_track: false,
        };
        carrier.broadcast.publish(|packager| {
            packager.begin_publish(SystemTime::now());
            false
        });
        for frame in tracks.held {
            carrier.frame(frame);
        }
        Some(carrier)
    }

    fn carry(&mut self, event: MediaEvent) -> Result<(), UnsupportedTrack> {
        match event {
            MediaEvent::Frame(frame) => self.frame(frame),
            MediaEvent::Video(config) => self.change_video(config)?,
            // A transcoded source keeps its transcoder; its config repeats.
            MediaEvent::Audio(_) if self.aac_audio.is_some() => {}
            MediaEvent::Audio(config) => self.config(self.broadcast.audio, tracks::audio(&config)?),
        }
        Ok(())
    }

    fn rendition(&self, kind: TrackKind) -> Option<RenditionId> {
        match kind {
            TrackKind::Video => self.broadcast.video,
            TrackKind::Audio => self.broadcast.audio,
        }
    }

    fn frame(&mut self, frame: Frame) {
        let Some(id) = self.rendition(frame.kind) else {
            if !std::mem::replace(&mut self.warned_new_track, true) {
                warn!(stream = %self.stream_id, "dropping {:?} frames: the track was not there when the publish started", frame.kind);
            }
            return;
        };
        self.meter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&frame, Instant::now());
        if let (TrackKind::Video, true, Some(config)) =
            (frame.kind, frame.keyframe, &self.source_video)
        {
            self.poster.offer(config, &frame);
        }
        if let (TrackKind::Video, Some(rungs)) = (frame.kind, &self.rungs) {
            rungs.push(&frame);
        }
        if let (TrackKind::Audio, Some(aac_audio)) = (frame.kind, &mut self.aac_audio) {
            aac_audio.push(&frame);
            return;
        }
        let sample = Sample {
            dts: frame.dts,
            pts: frame.pts,
            keyframe: frame.keyframe,
            data: frame.data,
        };
        let mut refused: Option<PushError> = None;
        self.broadcast
            .publish(|packager| match packager.push(id, sample) {
                Ok(published) => published,
                Err(e) => {
                    refused = Some(e);
                    false
                }
            });
        if let Some(e) = refused {
            // One line per burst of refusals, not one per frame.
            if self.refused.is_power_of_two() || self.refused == 0 {
                warn!(stream = %self.stream_id, refused = self.refused + 1, "dropping a {:?} frame: {e}", frame.kind);
            }
            self.refused += 1;
        }
    }

    /// The source's video changed without a reconnect (a new SPS: another resolution,
    /// profile or level). Its frames cannot be played with the old init segment nor fed to
    /// the old ladder, so the broadcast goes on as after a reconnect: a discontinuity with
    /// the new config, and a new ladder for the new source.
    fn change_video(&mut self, config: VideoConfig) -> Result<(), UnsupportedTrack> {
        let track = tracks::video(&config)?;
        let Some(id) = self.broadcast.video else {
            return Ok(());
        };
        info!(
            stream = %self.stream_id,
            video = format!("{} {}x{}", config.codec_string, config.width, config.height),
            "source video changed: continuing after a discontinuity"
        );
        let stream_id = &self.stream_id;
        self.broadcast.publish(|packager| {
            let published = packager.end_publish();
            if let Err(e) = packager.set_config(id, track) {
                warn!(stream = %stream_id, "ignoring an invalid track config: {e}");
            }
            packager.begin_publish(SystemTime::now());
            published
        });
        drop_off_async(self.rungs.take());
        retire_previous_rungs(&self.broadcast);
        self.rungs = start_rungs(&self.stream, &config, &self.ladder);
        self.stream.set_source_video(config.clone());
        self.source_video = Some(config);
        Ok(())
    }

    /// A new decoder config mid-publish; it applies from the next discontinuity.
    fn config(&self, id: Option<RenditionId>, config: TrackConfig) {
        let Some(id) = id else { return };
        self.broadcast.publish(|packager| {
            if let Err(e) = packager.set_config(id, config) {
                warn!(stream = %self.stream_id, "ignoring an invalid track config: {e}");
            }
            false
        });
    }
}
