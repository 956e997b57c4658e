//! Turns the encoder's samples into [`AudioEvent`]s on the source timeline.
//!
//! `avenc_aac` (libavcodec's AAC encoder) primes with 1024 samples of
//! silence yet timestamps its first packet at the first input sample, so
//! every packet's audio sounds one frame later than its timestamp says. The
//! encoder delay is subtracted from each timestamp, which puts the decoded
//! audio back where the input had it, and the priming packet, which would
//! now start before the first input frame, is dropped.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use gstreamer as gst;
use ingest::aac::{AacError, parse_asc};
use ingest::{AudioCodec, AudioConfig, Frame, TrackKind};
use tokio::sync::mpsc::UnboundedSender;

use super::AudioEvent;
use super::clock::{nanos_to_ticks, samples_to_nanos};

/// libavcodec's AAC encoder delay (its `initial_padding`), in samples.
const ENCODER_DELAY_SAMPLES: u64 = 1024;

/// Why one encoder output could not become an event.
#[derive(Debug, thiserror::Error)]
pub(super) enum OutputError {
    #[error("the receiver of audio events is gone")]
    Closed,
    #[error("encoder output without {0}")]
    Missing(&'static str),
    #[error("encoder AudioSpecificConfig: {0}")]
    Asc(#[from] AacError),
}

/// State of the appsink side: the announced config and the last timestamp.
pub(super) struct Output {
    /// The source pts of the first pushed frame (pipeline time zero).
    origin: Arc<OnceLock<i64>>,
    delay_nanos: u64,
    /// The encoder caps the config was last derived from.
    caps: Option<gst::Caps>,
    config: Option<AudioConfig>,
    last_pts: Option<i64>,
    events: UnboundedSender<AudioEvent>,
}

impl Output {
    pub(super) fn new(
        origin: Arc<OnceLock<i64>>,
        rate: u32,
        events: UnboundedSender<AudioEvent>,
    ) -> Self {
        Self {
            origin,
            delay_nanos: samples_to_nanos(ENCODER_DELAY_SAMPLES, rate),
            caps: None,
            config: None,
            last_pts: None,
            events,
        }
    }

    /// Sends the config (when new) and the frame of one encoder sample.
    /// Priming and out-of-order packets are skipped.
    pub(super) fn sample(&mut self, sample: gst::Sample) -> Result<(), OutputError> {
        self.update_config(sample.caps().ok_or(OutputError::Missing("caps"))?)?;
        let buffer = sample
            .buffer_owned()
            .ok_or(OutputError::Missing("buffer"))?;
        let pts = buffer.pts().ok_or(OutputError::Missing("timestamp"))?;
        let origin = *self.origin.get().ok_or(OutputError::Missing("input"))?;
        let Some(nanos) = pts.nseconds().checked_sub(self.delay_nanos) else {
            return Ok(());
        };
        let pts = origin + nanos_to_ticks(nanos);
        if self.last_pts.is_some_and(|last| pts <= last) {
            return Ok(());
        }
        self.last_pts = Some(pts);
        let data = buffer
            .into_mapped_buffer_readable()
            .map(Bytes::from_owner)
            .map_err(|_| OutputError::Missing("readable memory"))?;
        self.send(AudioEvent::Frame(Frame {
            kind: TrackKind::Audio,
            dts: pts,
            pts,
            keyframe: true,
            data,
        }))
    }

    /// Sends the config when the encoder caps describe a new one.
    fn update_config(&mut self, caps: &gst::CapsRef) -> Result<(), OutputError> {
        if self
            .caps
            .as_ref()
            .is_some_and(|known| known.as_ref() == caps)
        {
            return Ok(());
        }
        let config = aac_config(caps)?;
        self.caps = Some(caps.to_owned());
        if self.config.as_ref() != Some(&config) {
            self.send(AudioEvent::Config(config.clone()))?;
            self.config = Some(config);
        }
        Ok(())
    }

    fn send(&self, event: AudioEvent) -> Result<(), OutputError> {
        self.events.send(event).map_err(|_| OutputError::Closed)
    }
}

/// The AAC config described by the encoder's caps (`codec_data` is the
/// AudioSpecificConfig).
fn aac_config(caps: &gst::CapsRef) -> Result<AudioConfig, OutputError> {
    let codec_data = caps
        .structure(0)
        .and_then(|s| s.get::<gst::Buffer>("codec_data").ok())
        .ok_or(OutputError::Missing("codec_data"))?;
    let record = codec_data
        .map_readable()
        .map(|map| Bytes::copy_from_slice(&map))
        .map_err(|_| OutputError::Missing("readable codec_data"))?;
    let asc = parse_asc(&record)?;
    Ok(AudioConfig {
        codec: AudioCodec::Aac,
        sample_rate: asc.sample_rate,
        channels: asc.channels,
        codec_string: asc.codec_string(),
        record,
    })
}
