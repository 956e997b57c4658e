//! One ladder pipeline: `appsrc ! h264parse ! avdec_h264`, then per rung a
//! scaler and an x264 encoder ending in an `appsink`. With
//! [`Tuning::cascade`] each rung is scaled from the next larger one:
//!
//! ```text
//! dec ! scale0 ! tee0 ! queue ! gate ! x264 ! sink0
//!                tee0 ! queue ! scale1 ! tee1 ! queue ! gate ! x264 ! sink1
//!                                        tee1 ! queue ! gate ! scale2 ! x264 ! sink2
//! ```
//!
//! Each queue starts a thread, so decoding, scaling and the encoders run in
//! parallel. A gate (pad probe, see [`Gate`]) sits on the queue in front of
//! each rung's own work.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use ingest::VideoConfig;
use tokio::sync::mpsc::UnboundedSender;

use super::colorimetry;
use super::error::LadderError;
use super::event::LadderEvent;
use super::gate::{Gate, RungControl, Verdict};
use super::health::Health;
use super::output::{Output, RungOutput};
use super::push_log::PushLog;
use super::rung::Rung;
use super::timebase::TimeBase;
use super::tuning::Tuning;

/// x264 never starts a GOP on its own (keyframes are forced where the
/// source has them): its "infinite" keyint.
const KEY_INT_MAX: u32 = 1 << 30;
/// Consecutive undecodable frames after which the decoder fails (and a
/// live ladder rebuilds its pipeline) instead of skipping them forever.
const DECODE_ERRORS_TO_FAIL: i32 = 30;
/// Compressed frames queued in the appsrc in batch mode before push blocks.
const BATCH_QUEUE_BYTES: u64 = 4 << 20;

/// A rung as the pipeline makes it, with the state it shares with the
/// ladder.
#[derive(Debug)]
pub(crate) struct RungPlan {
    pub(crate) rung: Rung,
    pub(crate) width: u32,
    pub(crate) control: Arc<RungControl>,
    pub(crate) output: Arc<RungOutput>,
}

/// Ladder state the pipeline's threads read and write.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) timebase: Arc<OnceLock<TimeBase>>,
    pub(crate) log: Arc<Mutex<PushLog>>,
    pub(crate) events: UnboundedSender<LadderEvent>,
}

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
    pub(crate) source: &'a VideoConfig,
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
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .field(
                "codec_data",
                gst::Buffer::from_slice(spec.source.record.clone()),
            )
            .build();
        let appsrc = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(live)
            // Live: never block, the feeder bounds the queue instead.
            .block(!live)
            .max_bytes(if live { 0 } else { BATCH_QUEUE_BYTES })
            .build();
        let parse = gst::ElementFactory::make("h264parse").build()?;
        let decode = gst::ElementFactory::make("avdec_h264")
            .property("max-errors", DECODE_ERRORS_TO_FAIL)
            .build()?;
        pipeline.add_many([appsrc.upcast_ref(), &parse, &decode])?;
        gst::Element::link_many([appsrc.upcast_ref(), &parse, &decode])?;
        if let Some(pad) = decode.static_pad("src") {
            colorimetry::make_explicit(&pad);
        }

        let builder = Builder {
            pipeline: &pipeline,
            spec,
        };
        if spec.tuning.cascade {
            builder.cascade(&decode)?;
        } else {
            builder.side_by_side(&decode)?;
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

/// Adds the rung elements to a pipeline.
struct Builder<'a> {
    pipeline: &'a gst::Pipeline,
    spec: &'a Spec<'a>,
}

impl Builder<'_> {
    /// Every rung scaled from the next larger one.
    fn cascade(&self, decode: &gst::Element) -> Result<(), LadderError> {
        let Some((last, larger)) = self.spec.rungs.split_last() else {
            return Err(LadderError::NoRungs);
        };
        let mut feed = decode.clone();
        for (index, plan) in larger.iter().enumerate() {
            let mut chain = Vec::new();
            if index > 0 {
                // Off the previous rung's tee: scale in a thread of its own.
                chain.push(self.queue(&format!("scale-{}", plan.rung.name))?);
            }
            chain.extend(self.scaler(plan)?);
            let tee = self.make("tee", &format!("tee-{}", plan.rung.name))?;
            chain.push(tee.clone());
            self.add_linked(&feed, &chain)?;
            let branch = self.encoder_branch(plan, false)?;
            self.add_linked(&tee, &branch)?;
            feed = tee;
        }
        let branch = self.encoder_branch(last, true)?;
        self.add_linked(&feed, &branch)
    }

    /// Every rung scaled from the source.
    fn side_by_side(&self, decode: &gst::Element) -> Result<(), LadderError> {
        if self.spec.rungs.is_empty() {
            return Err(LadderError::NoRungs);
        }
        let tee = self.make("tee", "tee-source")?;
        self.add_linked(decode, std::slice::from_ref(&tee))?;
        for plan in self.spec.rungs {
            let branch = self.encoder_branch(plan, true)?;
            self.add_linked(&tee, &branch)?;
        }
        Ok(())
    }

    /// `queue ! [scaler !] x264enc ! appsink`, gated at the queue.
    fn encoder_branch(
        &self,
        plan: &RungPlan,
        scale: bool,
    ) -> Result<Vec<gst::Element>, LadderError> {
        let name = &plan.rung.name;
        let queue = self.queue(&format!("encode-{name}"))?;
        if let Some(pad) = queue.static_pad("src") {
            self.gate(&pad, plan);
        }
        let mut branch = vec![queue];
        if scale {
            branch.extend(self.scaler(plan)?);
        }
        let tuning = self.spec.tuning;
        let encoder = gst::ElementFactory::make("x264enc")
            .name(format!("x264enc-{name}"))
            .property_from_str("speed-preset", tuning.preset)
            .property_from_str("tune", "zerolatency")
            .property("bframes", 0u32)
            .property("key-int-max", KEY_INT_MAX)
            .property("bitrate", plan.rung.bitrate_kbps)
            .property("vbv-buf-capacity", tuning.vbv_ms)
            .property("threads", tuning.encoder_threads)
            .property("option-string", "scenecut=0")
            // Access unit delimiters are noise in AVCC.
            .property("aud", false)
            .build()?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .build();
        let sink = gst_app::AppSink::builder()
            .name(format!("sink-{name}"))
            .caps(&caps)
            .sync(false)
            .property("enable-last-sample", false)
            .build();
        let output = Output {
            rung: Arc::clone(&plan.output),
            timebase: Arc::clone(&self.spec.shared.timebase),
            log: Arc::clone(&self.spec.shared.log),
            events: self.spec.shared.events.clone(),
        };
        sink.set_callbacks(output.callbacks());
        branch.push(encoder);
        branch.push(sink.upcast());
        Ok(branch)
    }

    /// `videoscale ! capsfilter` to the rung's size, square pixels.
    fn scaler(&self, plan: &RungPlan) -> Result<[gst::Element; 2], LadderError> {
        let name = &plan.rung.name;
        let scale = gst::ElementFactory::make("videoscale")
            .name(format!("videoscale-{name}"))
            .property_from_str("method", self.spec.tuning.scale.gst_nick())
            .property("add-borders", false)
            .build()?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", i32::try_from(plan.width).unwrap_or(i32::MAX))
            .field(
                "height",
                i32::try_from(plan.rung.height).unwrap_or(i32::MAX),
            )
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .name(format!("size-{name}"))
            .property("caps", caps)
            .build()?;
        Ok([scale, filter])
    }

    fn queue(&self, name: &str) -> Result<gst::Element, LadderError> {
        Ok(gst::ElementFactory::make("queue")
            .name(format!("queue-{name}"))
            .property("max-size-buffers", self.spec.tuning.queue_frames)
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build()?)
    }

    fn make(&self, factory: &str, name: &str) -> Result<gst::Element, LadderError> {
        Ok(gst::ElementFactory::make(factory).name(name).build()?)
    }

    /// Adds `chain` to the pipeline, linked in order after `feed`.
    fn add_linked(&self, feed: &gst::Element, chain: &[gst::Element]) -> Result<(), LadderError> {
        self.pipeline.add_many(chain)?;
        gst::Element::link_many(std::iter::once(feed).chain(chain))?;
        Ok(())
    }

    /// Installs the rung's gate on `pad`: see [`Gate`].
    fn gate(&self, pad: &gst::Pad, plan: &RungPlan) {
        let gate = Mutex::new(Gate::new(self.spec.max_lag));
        let control = Arc::clone(&plan.control);
        let shared = self.spec.shared.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let Some(buffer) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            let pushed = match (buffer.pts(), shared.timebase.get()) {
                (Some(pts), Some(timebase)) => shared
                    .log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(timebase.to_ticks(pts)),
                _ => None,
            };
            let verdict = gate.lock().unwrap_or_else(PoisonError::into_inner).admit(
                pushed,
                &control,
                Instant::now(),
            );
            match verdict {
                Verdict::Pass { keyframe: true } => {
                    // Serialized before this frame, so this very frame
                    // becomes the keyframe.
                    let force = gst_video::DownstreamForceKeyUnitEvent::builder()
                        .all_headers(true)
                        .build();
                    pad.push_event(force);
                    gst::PadProbeReturn::Ok
                }
                Verdict::Pass { keyframe: false } => gst::PadProbeReturn::Ok,
                Verdict::Drop => gst::PadProbeReturn::Drop,
            }
        });
    }
}
