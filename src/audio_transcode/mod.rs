//! Non-AAC live audio (Opus, MP3) transcoded once to AAC with GStreamer.
//!
//! AAC passes through untouched; any other audio goes through one
//! [`AacTranscoder`] per publish and the resulting AAC track is shared by
//! every rendition.
//!
//! Timeline: frames enter the pipeline relative to the first pushed frame's
//! pts and leave it with that pts added back, so the AAC frames are on the
//! source's 90 kHz timeline, a frame's pts being the time of its first
//! decoded sample on both sides. The AAC encoder's priming delay is removed
//! (see `output`). The Opus pre-skip (6.5 ms of Opus encoder priming at the
//! start of the stream) is kept, as a player of the source would play it:
//! `opusdec` only trims it when a demuxer marks it. Small timestamp jitter
//! is absorbed by the encoder, which counts samples and only resynchronises
//! on gaps of more than 40 ms.

mod clock;
mod output;
mod pipeline;
#[cfg(test)]
mod tests;

use std::sync::{Arc, OnceLock};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::{AppSinkCallbacks, AppSrc};
use ingest::{AudioConfig, Frame, TrackKind};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, warn};

use self::output::{Output, OutputError};
use self::pipeline::OutputFormat;

/// Input frames queued in the pipeline beyond which new ones are dropped
/// (about a second of Opus or MP3).
const MAX_QUEUED: u64 = 50;
/// How long [`AacTranscoder::finish`] waits for the encoder to drain.
const FINISH_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// Dropped frames are logged at the first and then every this many.
const DROP_LOG_EVERY: u64 = 500;

/// What a transcoder produces, in order: a config precedes the frames it
/// describes.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioEvent {
    /// The AAC track's config: codec AAC, record = the encoder's
    /// AudioSpecificConfig, codec string `mp4a.40.2`.
    Config(AudioConfig),
    /// One raw AAC access unit (no ADTS), pts = dts on the source timeline.
    Frame(Frame),
}

/// Why a transcoder could not start.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("{0}")]
    Init(String),
    #[error("AAC audio needs no transcoding")]
    AlreadyAac,
    #[error("Opus config: {0}")]
    OpusHead(#[from] ingest::opus::OpusError),
    #[error("building the transcoding pipeline: {0}")]
    Pipeline(#[from] gst::glib::Error),
    #[error("transcoding pipeline has no {0}")]
    Element(&'static str),
    #[error("starting the transcoding pipeline: {0}")]
    Start(#[from] gst::StateChangeError),
}

/// The AAC config a transcoder of `source` will produce (AAC-LC at the
/// output rate and channels), known before its first output so the audio
/// rendition can be set up at once; the encoder's own arrives as
/// [`AudioEvent::Config`].
pub fn aac_config(source: &AudioConfig) -> AudioConfig {
    let format = OutputFormat::for_source(source);
    let channels = format.channels as u8;
    let index = ingest::aac::frequency_index(format.rate).unwrap_or(3);
    AudioConfig {
        codec: ingest::AudioCodec::Aac,
        record: ingest::aac::build_asc(2, index, channels),
        sample_rate: format.rate,
        channels,
        codec_string: "mp4a.40.2".to_owned(),
    }
}

/// One live audio track transcoded to AAC (see the [module docs](self)).
#[derive(Debug)]
pub struct AacTranscoder {
    pipeline: gst::Pipeline,
    appsrc: AppSrc,
    /// The pts of the first pushed frame, shared with the output side.
    origin: Arc<OnceLock<i64>>,
    failed: bool,
    dropped: u64,
}

impl AacTranscoder {
    /// Starts `appsrc ! decoder ! audioconvert ! audioresample ! avenc_aac !
    /// appsink` for an Opus or MP3 `source`; AAC events go to `events`.
    ///
    /// The output keeps the source's sampling rate when AAC supports it
    /// (Opus: 48 kHz), mono stays mono, more channels become stereo, at
    /// 64 kbit/s per channel.
    pub fn start(
        source: &AudioConfig,
        events: UnboundedSender<AudioEvent>,
    ) -> Result<AacTranscoder, TranscodeError> {
        crate::gst_init::init().map_err(TranscodeError::Init)?;
        let format = OutputFormat::for_source(source);
        let parts = pipeline::build(source, format)?;
        let origin = Arc::new(OnceLock::new());
        let mut output = Output::new(Arc::clone(&origin), format.rate, events);
        parts.appsink.set_callbacks(
            AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    match output.sample(sample) {
                        Ok(()) => Ok(gst::FlowSuccess::Ok),
                        Err(OutputError::Closed) => Err(gst::FlowError::Eos),
                        Err(e) => {
                            warn!("skipping transcoded audio frame: {e}");
                            Ok(gst::FlowSuccess::Ok)
                        }
                    }
                })
                .build(),
        );
        let transcoder = AacTranscoder {
            pipeline: parts.pipeline,
            appsrc: parts.appsrc,
            origin,
            failed: false,
            dropped: 0,
        };
        transcoder.pipeline.set_state(gst::State::Playing)?;
        Ok(transcoder)
    }

    /// Queues one source audio frame. Never blocks: a frame is dropped (and
    /// counted) when it predates the first frame, when the pipeline has
    /// failed, or when it is stuck with [`MAX_QUEUED`] frames queued. Video
    /// frames are ignored.
    pub fn push(&mut self, frame: &Frame) {
        if frame.kind != TrackKind::Audio {
            return;
        }
        self.check_bus();
        let origin = *self.origin.get_or_init(|| frame.pts);
        let offset = frame
            .pts
            .checked_sub(origin)
            .and_then(|o| u64::try_from(o).ok());
        let queued: u64 = self.appsrc.property("current-level-buffers");
        let Some(offset) = offset.filter(|_| !self.failed && queued < MAX_QUEUED) else {
            return self.drop_frame();
        };
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(buffer) = buffer.get_mut() {
            buffer.set_pts(gst::ClockTime::from_nseconds(clock::ticks_to_nanos(offset)));
        }
        if let Err(e) = self.appsrc.push_buffer(buffer) {
            debug!("audio transcoder refused a frame: {e}");
            self.drop_frame();
        }
    }

    /// Frames dropped so far (see [`push`](Self::push)).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Ends the stream: waits (at most two seconds) until the encoder has
    /// emitted its last frames, then stops the pipeline. Blocking: call it
    /// from `spawn_blocking` in async code.
    pub fn finish(self) {
        if self.failed || self.appsrc.end_of_stream().is_err() {
            return;
        }
        let Some(bus) = self.pipeline.bus() else {
            return;
        };
        let done = [gst::MessageType::Eos, gst::MessageType::Error];
        let outcome = bus.timed_pop_filtered(FINISH_TIMEOUT, &done);
        match outcome.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(e)) => {
                warn!("audio transcoder failed while draining: {}", e.error());
            }
            None => warn!("audio transcoder did not drain in {FINISH_TIMEOUT}"),
            Some(_) => {}
        }
    }

    /// Notes pipeline errors (and discards other bus messages) without waiting.
    fn check_bus(&mut self) {
        let Some(bus) = self.pipeline.bus() else {
            return;
        };
        while let Some(message) =
            bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning])
        {
            match message.view() {
                gst::MessageView::Error(e) if !self.failed => {
                    warn!("audio transcoder failed: {} ({:?})", e.error(), e.debug());
                    self.failed = true;
                }
                gst::MessageView::Warning(w) => debug!("audio transcoder: {}", w.error()),
                _ => {}
            }
        }
    }

    fn drop_frame(&mut self) {
        self.dropped += 1;
        if self.dropped % DROP_LOG_EVERY == 1 {
            warn!(
                dropped = self.dropped,
                "audio transcoder is dropping frames"
            );
        }
    }
}

impl Drop for AacTranscoder {
    fn drop(&mut self) {
        // Stopping can only fail for elements already broken; nothing is left to do then.
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
