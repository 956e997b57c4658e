//! Non-AAC publish audio (Opus, MP3) transcoded once to AAC; the AAC track
//! is the broadcast's one audio rendition, shared by every video rendition.

use ingest::{AudioCodec, AudioConfig, Frame};
use packager::Sample;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::broadcast::Broadcast;
use super::tracks;
use crate::audio_transcode::{AacTranscoder, AudioEvent, aac_config};

pub struct AacAudio {
    transcoder: AacTranscoder,
    events: mpsc::UnboundedReceiver<AudioEvent>,
}

impl AacAudio {
    /// For a non-AAC source: the transcoder and the AAC config it will
    /// produce. None for AAC (it passes through) or when it cannot start.
    pub fn start(stream_id: &str, source: &AudioConfig) -> Option<(AacAudio, AudioConfig)> {
        if source.codec == AudioCodec::Aac {
            return None;
        }
        let (sender, events) = mpsc::unbounded_channel();
        match AacTranscoder::start(source, sender) {
            Ok(transcoder) => {
                let aac = aac_config(source);
                info!(stream = %stream_id, from = ?source.codec, rate = aac.sample_rate, "transcoding audio to AAC");
                Some((AacAudio { transcoder, events }, aac))
            }
            Err(e) => {
                warn!(stream = %stream_id, "audio dropped: {:?} could not be transcoded: {e}", source.codec);
                None
            }
        }
    }

    /// Never blocks: a stuck pipeline drops (and counts) frames.
    pub fn push(&mut self, frame: &Frame) {
        self.transcoder.push(frame);
    }

    pub async fn next_event(&mut self) -> Option<AudioEvent> {
        self.events.recv().await
    }

    /// Puts transcoded AAC into the broadcast's audio rendition.
    pub fn apply(broadcast: &Broadcast, event: AudioEvent) {
        let Some(id) = broadcast.audio else { return };
        match event {
            AudioEvent::Config(config) => {
                if let Ok(track) = tracks::audio(&config) {
                    broadcast.publish(|packager| {
                        let _ = packager.set_config(id, track);
                        false
                    });
                }
            }
            AudioEvent::Frame(frame) => broadcast.publish(|packager| {
                let sample = Sample {
                    dts: frame.dts,
                    pts: frame.pts,
                    keyframe: true,
                    data: frame.data,
                };
                packager.push(id, sample).unwrap_or(false)
            }),
        }
    }
}
