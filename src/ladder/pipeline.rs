//! One ladder pipeline: `appsrc ! h264parse ! avdec_h264` (or an `appsrc`
//! of decoded frames), then per rung a scaler and an x264 encoder ending in
//! an `appsink`. With
//! [`Tuning::cascade`] each rung is scaled from the next larger one:
//!
//! ```text
//! dec ! scale0 ! tee0 ! queue ! gate ! x264 ! sink0
//!                tee0 ! queue ! scale1 ! tee1 ! queue ! gate ! x264 ! sink1
//!                                        tee1 ! queue ! gate ! scale2 ! x264 ! sink2
//! ```
//!
//! Each queue starts a thread, so decoding, scaling and the encoders run in
//! parallel. A gate (pad probe, see [`gate`](super::gate)) sits on the
//! queue in front of each rung's own work. This module runs the pipeline;
//! [`branches`](super::branches) builds the rung elements.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

use super::branches::Branches;
use super::colorimetry;
use super::error::LadderError;
use super::health::Health;
use super::live_ladder::LadderInput;
use super::push_log::PushLog;
use super::shared::{RungPlan, Shared};
use super::timebase::TimeBase;
use super::tuning::Tuning;
/// Consecutive undecodable frames after which the decoder fails (and a
/// live ladder rebuilds its pipeline) instead of skipping them forever.
const DECODE_ERRORS_TO_FAIL: i32 = 30;
/// Frames queued in the appsrc in batch mode before push blocks.
const BATCH_QUEUE_BYTES: u64 = 4 << 20;

/// A running pipeline; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    health: Arc<Health>,
    /// The dts (ticks) of the last frame the decoder took from the appsrc.
    taken_dts: Arc<AtomicI64>,
}

/// What [`Pipeline::build`] puts together.
pub(crate) struct Spec<'a> {
    pub(crate) input: &'a LadderInput,
    pub(crate) rungs: &'a [RungPlan],
    pub(crate) tuning: &'a Tuning,
    /// `Some(max_lag)` in live mode.
    pub(crate) max_lag: Option<Duration>,
    pub(crate) shared: &'a Shared,
}

impl Pipeline {
    /// Builds the pipeline and sets it playing.
    pub(crate) fn build(spec: &Spec<'_>) -> Result<Self, LadderError> {
        let live = spec.max_lag.is_some();
        let pipeline = gst::Pipeline::new();
        let caps = match spec.input {
            LadderInput::H264(source) => gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .field("codec_data", gst::Buffer::from_slice(source.record.clone()))
                .build(),
            LadderInput::Raw(caps) => caps.clone(),
        };
        let appsrc = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(live)
            // Live: never block, the feeder bounds the queue instead.
            .block(!live)
            .max_bytes(if live { 0 } else { BATCH_QUEUE_BYTES })
            .build();
        pipeline.add(&appsrc)?;
        let decoded = match spec.input {
            LadderInput::H264(source) => decoder(&pipeline, &appsrc, source.height, spec.tuning)?,
            LadderInput::Raw(_) => appsrc.clone().upcast(),
        };
        let branches = Branches {
            pipeline: &pipeline,
            spec,
        };
        if spec.tuning.cascade {
            branches.cascade(&decoded)?;
        } else {
            branches.side_by_side(&decoded)?;
        }

        // Frames pushed before this pipeline are not its backlog.
        let before = spec
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_dts();
        let taken_dts = Arc::new(AtomicI64::new(before.unwrap_or(i64::MIN)));
        watch_taken(&appsrc, &taken_dts, &spec.shared.timebase);
        let bus = pipeline
            .bus()
            .ok_or(LadderError::Init("pipeline without a bus".into()))?;
        let health = Health::watch(&bus);
        let started = Self {
            pipeline,
            appsrc,
            health,
            taken_dts,
        };
        started.pipeline.set_state(gst::State::Playing)?;
        Ok(started)
    }

    /// The caps of the frames pushed from now on.
    pub(crate) fn set_caps(&self, caps: &gst::Caps) {
        self.appsrc.set_caps(Some(caps));
    }

    /// Queues a source frame (blocks in batch mode while the queue is full).
    pub(crate) fn push(&self, buffer: gst::Buffer) -> Result<(), gst::FlowError> {
        self.appsrc.push_buffer(buffer).map(|_| ())
    }

    /// How long the oldest frame not yet taken by the decoder has waited.
    pub(crate) fn backlog(&self, log: &PushLog, now: Instant) -> Duration {
        log.first_after(self.taken_dts.load(Ordering::Relaxed))
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
    }

    /// The first error the pipeline posted, if any.
    pub(crate) fn error(&self) -> Option<String> {
        self.health.error()
    }

    /// Ends the stream and waits (up to `timeout`) until every rung has
    /// output its last frame.
    pub(crate) fn finish(&self, timeout: Duration) -> Result<(), LadderError> {
        // Only fails when already at end of stream.
        let _ = self.appsrc.end_of_stream();
        self.health.wait_eos(timeout)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// `h264parse ! avdec_h264` after `appsrc`, and [`eight_bit`] when the
/// tuning says: the element decoded frames leave.
fn decoder(
    pipeline: &gst::Pipeline,
    appsrc: &gst_app::AppSrc,
    height: u32,
    tuning: &Tuning,
) -> Result<gst::Element, LadderError> {
    let parse = gst::ElementFactory::make("h264parse").build()?;
    let decode = gst::ElementFactory::make("avdec_h264")
        .property("max-errors", DECODE_ERRORS_TO_FAIL)
        .property("max-threads", tuning.decoder_threads(height))
        .build()?;
    pipeline.add_many([&parse, &decode])?;
    gst::Element::link_many([appsrc.upcast_ref(), &parse, &decode])?;
    if let Some(pad) = decode.static_pad("src") {
        colorimetry::make_explicit(&pad);
    }
    if tuning.eight_bit {
        eight_bit(pipeline, &decode)
    } else {
        Ok(decode)
    }
}

/// `videoconvert ! video/x-raw,format=I420` after `decode`: 8-bit 4:2:0
/// whatever the source's depth and chroma (a no-op when it already is).
fn eight_bit(pipeline: &gst::Pipeline, decode: &gst::Element) -> Result<gst::Element, LadderError> {
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let filter = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .build(),
        )
        .build()?;
    pipeline.add_many([&convert, &filter])?;
    gst::Element::link_many([decode, &convert, &filter])?;
    Ok(filter)
}

/// Records the dts of each frame leaving the appsrc.
fn watch_taken(
    appsrc: &gst_app::AppSrc,
    taken: &Arc<AtomicI64>,
    timebase: &Arc<OnceLock<TimeBase>>,
) {
    let Some(pad) = appsrc.static_pad("src") else {
        return;
    };
    let taken = Arc::clone(taken);
    let timebase = Arc::clone(timebase);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let (Some(dts), Some(timebase)) = (info.buffer().and_then(|b| b.dts()), timebase.get()) {
            taken.store(timebase.to_ticks(dts), Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
}
