//! [`LiveLadder`]: the ladder of one stream, fed frame by frame.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use gstreamer as gst;
use ingest::{Frame, VideoCodec, VideoConfig};
use tokio::sync::mpsc::UnboundedSender;

use super::error::LadderError;
use super::event::{LadderEvent, LadderStatus, RungState, RungStatus};
use super::feeder::{Admit, Feeder};
use super::gate::RungControl;
use super::output::RungOutput;
use super::overload::{Decision, Overload, OverloadPolicy};
use super::pipeline::{Pipeline, Spec};
use super::push_log::{PushLog, Pushed};
use super::restart::Restarts;
use super::rung::{Rung, rung_width};
use super::shared::{RungPlan, Shared};
use super::timebase::TimeBase;
use super::tuning::Tuning;

/// How long batch mode waits for the pipeline to drain at the end.
const BATCH_DRAIN: Duration = Duration::from_secs(120);

/// How a ladder treats a caller that pushes faster than it encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LadderMode {
    /// Push never blocks; overload sheds rungs, latency stays bounded, a
    /// failed pipeline is rebuilt.
    Live,
    /// Push blocks until the pipeline has room; every frame is encoded
    /// (benchmarks and VOD). A pipeline error ends the ladder.
    Batch,
}

impl LadderMode {
    /// How old a frame may get before it is dropped: never in batch mode.
    fn max_lag(self, policy: &OverloadPolicy) -> Option<Duration> {
        match self {
            Self::Live => Some(policy.max_lag),
            Self::Batch => None,
        }
    }
}

/// What a ladder is fed.
#[derive(Debug, Clone)]
pub(crate) enum LadderInput {
    /// H.264 access units (AVCC), decoded by the ladder.
    H264(VideoConfig),
    /// Decoded frames with these `video/x-raw` caps.
    Raw(gst::Caps),
}

impl LadderInput {
    /// Its pictures' height, when known.
    pub(crate) fn height(&self) -> Option<u32> {
        match self {
            LadderInput::H264(config) => Some(config.height).filter(|h| *h > 0),
            LadderInput::Raw(caps) => caps
                .structure(0)
                .and_then(|s| s.get::<i32>("height").ok())
                .and_then(|h| u32::try_from(h).ok()),
        }
    }
}

/// The transcoded renditions of one stream: one GStreamer pipeline
/// (decode once, scale and encode per rung). Dropping it stops the
/// pipeline.
pub struct LiveLadder {
    mode: LadderMode,
    input: LadderInput,
    tuning: Tuning,
    policy: OverloadPolicy,
    rungs: Vec<RungPlan>,
    shared: Shared,
    /// `None` while a failed pipeline waits to be rebuilt (live mode).
    pipeline: Option<Pipeline>,
    feeder: Feeder,
    overload: Overload,
    restarts: Restarts,
    /// Why the pipeline failed, until it is rebuilt (live) or for good
    /// (batch).
    failure: Option<String>,
}

impl LiveLadder {
    /// Starts a ladder with the default [`Tuning`] and [`OverloadPolicy`].
    pub fn start(
        source: &VideoConfig,
        rungs: Vec<Rung>,
        mode: LadderMode,
        events: UnboundedSender<LadderEvent>,
    ) -> Result<Self, LadderError> {
        Self::start_tuned(
            source,
            rungs,
            mode,
            Tuning::default(),
            OverloadPolicy::default(),
            events,
        )
    }

    /// Starts a ladder for an H.264 `source`. `rungs` are encoded in the
    /// given order, which should be largest first (that is the shedding
    /// order and, with [`Tuning::cascade`], the scaling chain); none may
    /// be taller than the source.
    pub fn start_tuned(
        source: &VideoConfig,
        rungs: Vec<Rung>,
        mode: LadderMode,
        tuning: Tuning,
        policy: OverloadPolicy,
        events: UnboundedSender<LadderEvent>,
    ) -> Result<Self, LadderError> {
        let rungs = rungs.into_iter().map(|rung| (rung, None)).collect();
        Self::start_sized(source, rungs, mode, tuning, policy, events)
    }

    /// [`start_tuned`](Self::start_tuned) with each rung's width given
    /// (even), or `None` to follow the source's aspect ratio.
    pub fn start_sized(
        source: &VideoConfig,
        rungs: Vec<(Rung, Option<u32>)>,
        mode: LadderMode,
        tuning: Tuning,
        policy: OverloadPolicy,
        events: UnboundedSender<LadderEvent>,
    ) -> Result<Self, LadderError> {
        if source.codec != VideoCodec::H264 {
            return Err(LadderError::NotH264);
        }
        let avc = ingest::h264::parse_avcc(&source.record)?;
        let size = (avc.sps.width, avc.sps.height);
        let input = LadderInput::H264(source.clone());
        Self::start_input(input, size, rungs, mode, tuning, policy, events)
    }

    /// A batch ladder fed decoded frames (see [`push_raw`](Self::push_raw))
    /// with these `video/x-raw` caps; rungs as in
    /// [`start_sized`](Self::start_sized).
    pub fn start_raw(
        caps: &gst::Caps,
        rungs: Vec<(Rung, Option<u32>)>,
        tuning: Tuning,
        events: UnboundedSender<LadderEvent>,
    ) -> Result<Self, LadderError> {
        let info = gstreamer_video::VideoInfo::from_caps(caps)
            .map_err(|e| LadderError::Init(format!("raw video caps {caps}: {e}")))?;
        let input = LadderInput::Raw(caps.clone());
        Self::start_input(
            input,
            (info.width(), info.height()),
            rungs,
            LadderMode::Batch,
            tuning,
            OverloadPolicy::default(),
            events,
        )
    }

    fn start_input(
        input: LadderInput,
        (width, height): (u32, u32),
        rungs: Vec<(Rung, Option<u32>)>,
        mode: LadderMode,
        tuning: Tuning,
        policy: OverloadPolicy,
        events: UnboundedSender<LadderEvent>,
    ) -> Result<Self, LadderError> {
        crate::gst_init::init().map_err(LadderError::Init)?;
        if rungs.is_empty() {
            return Err(LadderError::NoRungs);
        }
        let rungs = rungs
            .into_iter()
            .map(|(rung, rung_width)| plan(rung, rung_width, width, height))
            .collect::<Result<Vec<_>, _>>()?;
        let now = Instant::now();
        let mut ladder = Self {
            mode,
            input,
            overload: Overload::new(policy.clone(), rungs.len(), now),
            feeder: Feeder::new(mode.max_lag(&policy)),
            policy,
            tuning,
            rungs,
            shared: Shared {
                timebase: Arc::new(OnceLock::new()),
                log: Arc::new(Mutex::new(PushLog::default())),
                events,
            },
            pipeline: None,
            restarts: Restarts::default(),
            failure: None,
        };
        ladder.pipeline = Some(ladder.build()?);
        Ok(ladder)
    }

    /// Feeds one source video frame (AVCC, 90 kHz). In live mode this
    /// never blocks.
    pub fn push(&mut self, frame: &Frame) {
        let data = frame.data.clone();
        self.push_buffer(frame.dts, frame.pts, frame.keyframe, || {
            gst::Buffer::from_slice(data)
        });
    }

    /// Feeds one decoded frame of a [`start_raw`](Self::start_raw) ladder,
    /// presented at `pts` (90 kHz); every rung makes it a keyframe when
    /// `keyframe` says. Blocks while the pipeline is full.
    pub fn push_raw(&mut self, buffer: gst::Buffer, pts: i64, keyframe: bool) {
        self.push_buffer(pts, pts, keyframe, || buffer);
    }

    /// Changes the caps of a [`start_raw`](Self::start_raw) ladder's
    /// frames from the next one on (the source changed size).
    pub fn set_raw_caps(&mut self, caps: &gst::Caps) {
        if let LadderInput::Raw(known) = &mut self.input {
            *known = caps.clone();
            if let Some(pipeline) = &self.pipeline {
                pipeline.set_caps(caps);
            }
        }
    }

    fn push_buffer(
        &mut self,
        dts: i64,
        pts: i64,
        keyframe: bool,
        buffer: impl FnOnce() -> gst::Buffer,
    ) {
        let now = Instant::now();
        self.check_health(now);
        if self.pipeline.is_none() && self.mode == LadderMode::Live && keyframe {
            self.rebuild(now);
        }
        let Some(pipeline) = &self.pipeline else {
            return;
        };
        let backlog = {
            let log = self
                .shared
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pipeline.backlog(&log, now)
        };
        if self.mode == LadderMode::Live {
            self.control_load(now, backlog);
        }
        let wanted = self.rungs.iter().any(|r| r.control.enabled());
        let Admit::Push { discont } = self.feeder.admit(keyframe, backlog, wanted) else {
            return;
        };
        let timebase = *self
            .shared
            .timebase
            .get_or_init(|| TimeBase::starting_at(dts, pts));
        let (Some(clock_pts), Some(clock_dts)) = (timebase.to_clock(pts), timebase.to_clock(dts))
        else {
            tracing::debug!(pts, "ladder: frame before the stream's start, skipped");
            return;
        };
        let mut buffer = buffer();
        {
            // Shares the frame's memory when another holds the buffer.
            let buffer = buffer.make_mut();
            buffer.set_pts(clock_pts);
            buffer.set_dts(clock_dts);
            let mut flags = gst::BufferFlags::empty();
            if !keyframe {
                flags |= gst::BufferFlags::DELTA_UNIT;
            }
            if discont {
                flags |= gst::BufferFlags::DISCONT;
            }
            buffer.set_flags(flags);
        }
        // Logged before the push: the pipeline's threads look it up.
        self.shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(Pushed {
                dts,
                pts,
                at: now,
                keyframe,
            });
        if let Some(pipeline) = &self.pipeline
            && let Err(flow) = pipeline.push(buffer)
        {
            tracing::debug!(?flow, "ladder: appsrc refused a frame");
        }
    }

    /// Ends the stream: the pipeline drains (batch mode waits for every
    /// rung; live mode waits at most the policy's `max_lag`) and stops.
    /// In batch mode a pipeline error during the stream is returned here.
    pub fn finish(mut self) -> Result<(), LadderError> {
        self.check_health(Instant::now());
        if let Some(failure) = self.failure.take() {
            return match self.mode {
                LadderMode::Batch => Err(LadderError::Pipeline(failure)),
                LadderMode::Live => Ok(()),
            };
        }
        let timeout = match self.mode {
            LadderMode::Batch => BATCH_DRAIN,
            LadderMode::Live => self.policy.max_lag,
        };
        match (&self.pipeline, self.mode) {
            (Some(pipeline), LadderMode::Batch) => pipeline.finish(timeout),
            // Live: what does not drain in time is dropped with the pipeline.
            (Some(pipeline), LadderMode::Live) => {
                let _ = pipeline.finish(timeout);
                Ok(())
            }
            (None, _) => Ok(()),
        }
    }

    /// Every rung, whether it is encoded now, and the restarts so far.
    pub fn status(&self) -> LadderStatus {
        let rungs = self
            .rungs
            .iter()
            .enumerate()
            .map(|(index, plan)| RungStatus {
                name: plan.rung.name.clone(),
                width: plan.width,
                height: plan.rung.height,
                bitrate_kbps: plan.rung.bitrate_kbps,
                state: match self.overload.shed_reason(index) {
                    Some(reason) => RungState::Shed {
                        reason: reason.to_owned(),
                    },
                    None => RungState::Encoding,
                },
                latency_ms: plan.output.latency_ms(),
            })
            .collect();
        LadderStatus {
            rungs,
            restarts: self.restarts.count(),
        }
    }

    fn build(&self) -> Result<Pipeline, LadderError> {
        Pipeline::build(&Spec {
            input: &self.input,
            rungs: &self.rungs,
            tuning: &self.tuning,
            max_lag: self.mode.max_lag(&self.policy),
            shared: &self.shared,
        })
    }

    /// Takes the pipeline down if it posted an error.
    fn check_health(&mut self, now: Instant) {
        let Some(error) = self.pipeline.as_ref().and_then(Pipeline::error) else {
            return;
        };
        tracing::warn!("ladder pipeline failed: {error}");
        if let Some(failed) = self.pipeline.take() {
            // Stopping joins GStreamer's threads: not on the caller's.
            std::thread::spawn(move || drop(failed));
        }
        if self.mode == LadderMode::Live {
            self.restarts.failed(now);
        }
        self.failure = Some(error);
    }

    /// Rebuilds a failed pipeline, if the backoff allows (live mode).
    fn rebuild(&mut self, now: Instant) {
        if !self.restarts.ready(now) {
            return;
        }
        match self.build() {
            Ok(pipeline) => {
                self.pipeline = Some(pipeline);
                self.feeder = Feeder::new(self.mode.max_lag(&self.policy));
                let reason = self.failure.take().unwrap_or_default();
                tracing::info!("ladder pipeline rebuilt after: {reason}");
                self.send(LadderEvent::Restarted { reason });
            }
            Err(e) => {
                tracing::warn!("rebuilding the ladder pipeline: {e}");
                self.restarts.failed(now);
            }
        }
    }

    /// Sheds or restores rungs from what the gates and the decoder report.
    fn control_load(&mut self, now: Instant, backlog: Duration) {
        let mut overload = None;
        for plan in &self.rungs {
            if let Some(lag) = plan.control.take_behind()
                && plan.control.enabled()
            {
                overload.get_or_insert_with(|| {
                    format!(
                        "overloaded: {} fell {} ms behind",
                        plan.rung.name,
                        lag.as_millis()
                    )
                });
            }
        }
        if backlog > self.policy.max_lag {
            overload.get_or_insert_with(|| {
                format!(
                    "overloaded: decoding fell {} ms behind",
                    backlog.as_millis()
                )
            });
        }
        match self.overload.observe(now, overload) {
            Some(Decision::Shed { index, reason }) => {
                let Some(plan) = self.rungs.get(index) else {
                    return;
                };
                plan.control.set_enabled(false);
                let rung = plan.rung.name.as_str().into();
                self.send(LadderEvent::Shed { rung, reason });
            }
            Some(Decision::Restore { index }) => {
                let Some(plan) = self.rungs.get(index) else {
                    return;
                };
                plan.control.set_enabled(true);
                let rung = plan.rung.name.as_str().into();
                self.send(LadderEvent::Restored { rung });
            }
            None => {}
        }
    }

    fn send(&self, event: LadderEvent) {
        // A closed channel means nobody listens; nothing to do.
        let _ = self.shared.events.send(event);
    }
}

/// Checks a rung against the source size and works out its width.
fn plan(
    rung: Rung,
    width: Option<u32>,
    source_width: u32,
    source_height: u32,
) -> Result<RungPlan, LadderError> {
    let invalid = |reason| LadderError::InvalidRung {
        name: rung.name.clone(),
        reason,
    };
    if rung.height == 0 || !rung.height.is_multiple_of(2) {
        return Err(invalid("height must be even and not zero"));
    }
    if rung.height > source_height {
        return Err(invalid("taller than the source (never upscaled)"));
    }
    if rung.bitrate_kbps == 0 {
        return Err(invalid("bitrate must not be zero"));
    }
    if width.is_some_and(|width| width == 0 || !width.is_multiple_of(2)) {
        return Err(invalid("width must be even and not zero"));
    }
    Ok(RungPlan {
        width: width.unwrap_or_else(|| rung_width(source_width, source_height, rung.height)),
        control: Arc::new(RungControl::new()),
        output: Arc::new(RungOutput::new(rung.name.clone())),
        rung,
    })
}
