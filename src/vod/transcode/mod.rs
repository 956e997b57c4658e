//! `tributary transcode-source`: one job's renditions out of one read of the
//! source, written as CMAF files into a directory (see
//! [`packager::vod::AssetFile`]).
//!
//! Two ways through, both ending in the live ladder in batch mode for the
//! encoded renditions, so every video rendition has its keyframes at the
//! same presentation times:
//!
//! - [`Keyframes::Source`] (H.264 sources): the source's access units are
//!   demuxed; they are the `Copy` rendition and the ladder's input (which
//!   forces a keyframe at each source keyframe).
//! - [`Keyframes::Every`]: the source is decoded once (any codec), turned
//!   upright, converted to 8-bit 4:2:0, capped in frame rate and scaled to
//!   the largest rendition; the decoded frames feed the ladder, marked as
//!   keyframes every N seconds.
//!
//! Segments are cut by [`cuts::SegmentCutter`] from keyframe times alone,
//! audio at the frame boundary nearest each video cut.

pub mod cuts;
pub mod gop;
mod source;
mod writer;

use std::path::Path;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ingest::{Frame, TrackKind, VideoCodec, VideoConfig};
use packager::vod::FrameRate;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use self::source::{AudioPlan, Failure, Msg, VideoPlan};
use self::writer::{AudioWriter, VideoSample, VideoWriter, aac_config, h264_config};
use super::rendition_record::RenditionRecord;
use super::transcode_spec::{AudioOut, Keyframes, TranscodeEvent, TranscodeSpec, VideoOut};
use crate::jobs::JobError;
use crate::ladder::{LadderEvent, LadderMode, LiveLadder, OverloadPolicy, Rung, Tuning};

/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often the loop wakes to check the deadline.
const TICK: Duration = Duration::from_millis(200);

fn job_error(code: &str, message: impl Into<String>) -> JobError {
    JobError {
        code: code.to_owned(),
        message: message.into(),
    }
}

impl From<Failure> for JobError {
    fn from(failure: Failure) -> Self {
        job_error(failure.code, failure.message)
    }
}

/// An `Encode` video rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Encoded {
    name: String,
    width: u32,
    height: u32,
    bitrate_kbps: u32,
}

/// What a spec asks, checked.
#[derive(Debug)]
struct Plan {
    copy: Option<String>,
    /// Encoded by the ladder, largest first.
    ladder: Vec<Encoded>,
    keyframes: Keyframes,
    tuning: Tuning,
}

fn bad_spec(message: impl Into<String>) -> JobError {
    job_error("bad_spec", message)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Plan {
    fn of(spec: &TranscodeSpec) -> Result<Plan, JobError> {
        if spec.video.is_empty() && spec.audio.is_empty() {
            return Err(bad_spec("no renditions"));
        }
        if !(spec.segment_secs.is_finite() && spec.segment_secs >= 0.5) {
            return Err(bad_spec("segment_secs must be at least 0.5"));
        }
        if spec.max_fps == 0 {
            return Err(bad_spec("max_fps must not be zero"));
        }
        let tuning = Tuning::vod(&spec.preset)
            .ok_or_else(|| bad_spec(format!("unknown x264 preset {:?}", spec.preset)))?;
        let mut names: Vec<&str> = spec.video.iter().map(VideoOut::name).collect();
        names.extend(spec.audio.iter().map(AudioOut::name));
        for (i, name) in names.iter().enumerate() {
            if !valid_name(name) {
                return Err(bad_spec(format!("bad rendition name {name:?}")));
            }
            if names[..i].contains(name) {
                return Err(bad_spec(format!("rendition name {name} used twice")));
            }
        }
        if let Some(unknown) = spec
            .early
            .iter()
            .find(|name| !names.contains(&name.as_str()))
        {
            return Err(bad_spec(format!("early rendition {unknown} is not made")));
        }
        if let Keyframes::Every { secs } = spec.keyframes
            && !(secs.is_finite() && secs >= 0.1)
        {
            return Err(bad_spec("keyframes every must be at least 0.1 s"));
        }
        if !spec.cuts.is_empty() {
            if spec.keyframes != Keyframes::Source
                || spec.video.is_empty()
                || !spec.audio.is_empty()
            {
                return Err(bad_spec(
                    "cuts are for video renditions with the source's keyframes only",
                ));
            }
            if !spec.cuts.is_sorted_by(|a, b| a < b) {
                return Err(bad_spec("cuts must be increasing"));
            }
        }
        let mut copy = None;
        let mut encoded = Vec::new();
        for video in &spec.video {
            match video {
                VideoOut::Copy { name } => {
                    if copy.is_some() {
                        return Err(bad_spec("more than one Copy video rendition"));
                    }
                    if matches!(spec.keyframes, Keyframes::Every { .. }) {
                        return Err(bad_spec(
                            "a Copy rendition has the source's keyframes, not keyframes every N seconds",
                        ));
                    }
                    copy = Some(name.clone());
                }
                VideoOut::Encode {
                    name,
                    width,
                    height,
                    bitrate_kbps,
                } => {
                    let even = |v: u32| v > 0 && v.is_multiple_of(2) && v <= 8192;
                    if !even(*width) || !even(*height) {
                        return Err(bad_spec(format!(
                            "{name}: width and height must be even, 2 to 8192"
                        )));
                    }
                    if *bitrate_kbps == 0 {
                        return Err(bad_spec(format!("{name}: bitrate must not be zero")));
                    }
                    encoded.push(Encoded {
                        name: name.clone(),
                        width: *width,
                        height: *height,
                        bitrate_kbps: *bitrate_kbps,
                    });
                }
            }
        }
        // Largest first: the ladder's cascade order.
        encoded.sort_by_key(|e| std::cmp::Reverse(u64::from(e.width) * u64::from(e.height)));
        if let Some((largest, smaller)) = encoded.split_first()
            && let Some(taller) = smaller.iter().find(|e| e.height > largest.height)
        {
            return Err(bad_spec(format!(
                "{} is taller than the largest rendition {}",
                taller.name, largest.name
            )));
        }
        Ok(Plan {
            copy,
            ladder: encoded,
            keyframes: spec.keyframes,
            tuning,
        })
    }

    fn has_video(&self) -> bool {
        self.copy.is_some() || !self.ladder.is_empty()
    }

    fn video_plan(&self, max_fps: u32) -> VideoPlan {
        match (self.ladder.first(), self.keyframes) {
            (Some(largest), Keyframes::Every { .. }) => VideoPlan::Decode {
                width: largest.width,
                height: largest.height,
                max_fps,
                scale: self.tuning.scale,
            },
            _ if self.has_video() => VideoPlan::Demux,
            _ => VideoPlan::None,
        }
    }

    /// Where the decoded frames get their keyframes (decode path only).
    fn keyframe_clock(&self) -> Option<cuts::KeyframeClock> {
        match self.keyframes {
            Keyframes::Every { secs } => Some(cuts::KeyframeClock::new(secs)),
            Keyframes::Source => None,
        }
    }
}

/// The options of one run.
pub struct Options<'a> {
    pub uri: &'a str,
    pub out: &'a Path,
    pub spec: &'a TranscodeSpec,
    pub timeout: Duration,
}

/// Runs the job: renditions written under `out`; progress (seconds of the
/// source done) and each new segment of the spec's early renditions
/// reported through `report` as they come.
pub fn transcode(
    options: &Options<'_>,
    mut report: impl FnMut(TranscodeEvent),
) -> Result<Vec<RenditionRecord>, JobError> {
    let spec = options.spec;
    let plan = Plan::of(spec)?;
    std::fs::create_dir_all(options.out).map_err(|e| {
        job_error(
            "worker_error",
            format!("creating {}: {e}", options.out.display()),
        )
    })?;
    let write_error = |e: writer::WriteError| job_error("worker_error", e.to_string());
    let cutter = if spec.cuts.is_empty() {
        cuts::SegmentCutter::new(spec.segment_secs)
    } else {
        cuts::SegmentCutter::at(spec.cuts.clone())
    };
    let mut run = Run {
        deadline: Instant::now() + options.timeout,
        timeout: options.timeout,
        cutter: cutter.clone(),
        first_cut: spec.cuts.first().map(|at| *at as i64),
        shift: 0,
        keyframes: plan.keyframe_clock(),
        copy: None,
        rungs: Vec::new(),
        ladder: None,
        ladder_events: None,
        ladder_spec: plan.ladder.clone(),
        tuning: plan.tuning.clone(),
        audio: Vec::new(),
        frame_rate: None,
        streams_seen: false,
        early: spec.early.iter().map(|name| (name.clone(), 0)).collect(),
    };
    let out = options.out;
    if let Some(name) = &plan.copy {
        run.copy = Some(VideoWriter::new(out, name, cutter.clone()).map_err(write_error)?);
    }
    for rung in &plan.ladder {
        run.rungs
            .push(VideoWriter::new(out, &rung.name, cutter.clone()).map_err(write_error)?);
    }
    let own_cuts = (!plan.has_video()).then_some(spec.segment_secs);
    let mut audio_plans = Vec::new();
    for audio in &spec.audio {
        run.audio
            .push(AudioWriter::new(out, audio.name(), own_cuts).map_err(write_error)?);
        audio_plans.push(match audio {
            AudioOut::Copy { .. } => AudioPlan::Copy,
            AudioOut::Encode { bitrate_kbps, .. } => AudioPlan::Encode {
                bitrate_kbps: *bitrate_kbps,
            },
        });
    }
    let source = source::start(options.uri, plan.video_plan(spec.max_fps), audio_plans)?;
    let wants = (plan.has_video(), !spec.audio.is_empty());
    let result = run.read(source.messages(), wants, &mut report);
    drop(source);
    result?;
    run.finish()
}

/// The state of one run.
struct Run {
    deadline: Instant,
    timeout: Duration,
    /// The cuts of every video rendition, from the source's keyframes or
    /// `keyframes`: the audio follows them.
    cutter: cuts::SegmentCutter,
    /// Where the first video frame goes (the spec's first cut), and the
    /// ticks added to every video time to put it there.
    first_cut: Option<i64>,
    shift: i64,
    /// Decode path: which decoded frames are keyframes.
    keyframes: Option<cuts::KeyframeClock>,
    /// The Copy rendition.
    copy: Option<VideoWriter>,
    /// The ladder's renditions, in the ladder's order.
    rungs: Vec<VideoWriter>,
    ladder: Option<LiveLadder>,
    ladder_events: Option<UnboundedReceiver<LadderEvent>>,
    ladder_spec: Vec<Encoded>,
    tuning: Tuning,
    audio: Vec<AudioWriter>,
    /// The source's frame rate (after `max_fps`), when its caps say.
    frame_rate: Option<FrameRate>,
    streams_seen: bool,
    /// The early renditions, and how many of their segments were reported.
    early: Vec<(String, usize)>,
}

impl Run {
    /// Takes what the source pipeline sends until its end.
    fn read(
        &mut self,
        rx: &std::sync::mpsc::Receiver<Msg>,
        (wants_video, wants_audio): (bool, bool),
        report: &mut impl FnMut(TranscodeEvent),
    ) -> Result<(), JobError> {
        let mut reported = Instant::now();
        let mut media = false;
        loop {
            self.drain_ladder()?;
            self.report_early(report)?;
            if reported.elapsed() >= PROGRESS_EVERY && media {
                reported = Instant::now();
                report(TranscodeEvent::Progress {
                    done_secs: self.done_secs(),
                });
            }
            if Instant::now() >= self.deadline {
                return Err(job_error(
                    "timeout",
                    format!("still running after {} s", self.timeout.as_secs()),
                ));
            }
            let msg = match rx.recv_timeout(TICK) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match msg {
                Msg::Streams { video, audio } => {
                    self.streams_seen = true;
                    if video.is_none() && audio.is_none() {
                        return Err(job_error(
                            "no_streams",
                            "the file has neither video nor audio",
                        ));
                    }
                    if wants_video && video.is_none() {
                        return Err(bad_spec("video renditions asked of a source without video"));
                    }
                    if wants_audio && audio.is_none() {
                        return Err(bad_spec("audio renditions asked of a source without audio"));
                    }
                }
                Msg::VideoCaps { record, frame_rate } => self.video_caps(record, frame_rate)?,
                Msg::RawCaps(caps) => self.raw_caps(&caps)?,
                Msg::Raw { pts, buffer } => {
                    media = true;
                    self.raw(pts, buffer)?;
                }
                Msg::Video {
                    pts,
                    dts,
                    keyframe,
                    data,
                } => {
                    media = true;
                    self.video(ns_to_ticks(pts), ns_to_ticks(dts), keyframe, data)?;
                }
                Msg::AudioCaps { index, record } => {
                    let config = aac_config(&record).map_err(|e| job_error("decode_error", e))?;
                    if let Some(writer) = self.audio.get_mut(index) {
                        writer.configure(config).map_err(worker)?;
                    }
                }
                Msg::Audio { index, pts, data } => {
                    media = true;
                    if let Some(writer) = self.audio.get_mut(index) {
                        writer.push(pts, data).map_err(worker)?;
                    }
                }
                Msg::Failed(failure) => {
                    let partial = media && failure.code == "decode_error";
                    if !partial {
                        return Err(failure.into());
                    }
                    // A source that stops decoding halfway: keep what it gave
                    // (finish refuses a rendition with no segment).
                    tracing::warn!(
                        "the source stopped decoding at {:.1} s: {}",
                        self.done_secs(),
                        failure.message
                    );
                    return Ok(());
                }
                Msg::Eos => break,
            }
        }
        if !media && !self.streams_seen {
            return Err(job_error(
                "no_streams",
                "the file has neither video nor audio",
            ));
        }
        Ok(())
    }

    fn video_caps(
        &mut self,
        record: Bytes,
        frame_rate: Option<(u32, u32)>,
    ) -> Result<(), JobError> {
        let config = h264_config(&record).map_err(|e| job_error("decode_error", e))?;
        let frame_rate = frame_rate.and_then(|(num, den)| FrameRate::new(num, den).ok());
        if self.frame_rate.is_none() {
            self.frame_rate = frame_rate;
        }
        if let Some(copy) = &mut self.copy {
            copy.configure(config.clone(), self.frame_rate)
                .map_err(worker)?;
        }
        if self.ladder.is_none() && !self.ladder_spec.is_empty() {
            let source = VideoConfig {
                codec: VideoCodec::H264,
                record: config.record.clone(),
                width: config.width,
                height: config.height,
                codec_string: config.codec_string.clone(),
            };
            let (events, received) = unbounded_channel();
            let ladder = LiveLadder::start_sized(
                &source,
                self.ladder_rungs(),
                LadderMode::Batch,
                self.tuning.clone(),
                OverloadPolicy::default(),
                events,
            );
            self.ladder = Some(ladder.map_err(ladder_error)?);
            self.ladder_events = Some(received);
        }
        Ok(())
    }

    /// The decoded frames' caps: the ladder starts on the first.
    fn raw_caps(&mut self, caps: &gstreamer::Caps) -> Result<(), JobError> {
        if let Some(ladder) = &mut self.ladder {
            ladder.set_raw_caps(caps);
            return Ok(());
        }
        if self.frame_rate.is_none() {
            self.frame_rate = caps
                .structure(0)
                .and_then(|s| s.get::<gstreamer::Fraction>("framerate").ok())
                .and_then(|f| {
                    let num = u32::try_from(f.numer()).ok()?;
                    let den = u32::try_from(f.denom()).ok()?;
                    FrameRate::new(num, den).ok()
                });
        }
        let (events, received) = unbounded_channel();
        let ladder = LiveLadder::start_raw(caps, self.ladder_rungs(), self.tuning.clone(), events);
        self.ladder = Some(ladder.map_err(ladder_error)?);
        self.ladder_events = Some(received);
        Ok(())
    }

    fn ladder_rungs(&self) -> Vec<(Rung, Option<u32>)> {
        self.ladder_spec
            .iter()
            .map(|e| {
                let rung = Rung {
                    name: e.name.clone(),
                    height: e.height,
                    bitrate_kbps: e.bitrate_kbps,
                };
                (rung, Some(e.width))
            })
            .collect()
    }

    /// One decoded frame: a keyframe of every rendition when the clock
    /// says, and where a segment may start.
    fn raw(&mut self, pts: i64, buffer: gstreamer::Buffer) -> Result<(), JobError> {
        let keyframe = self
            .keyframes
            .as_mut()
            .is_some_and(|clock| clock.is_keyframe(pts));
        let ticks = ns_to_ticks(pts);
        self.cut_at(ticks, keyframe)?;
        if let Some(ladder) = &mut self.ladder {
            ladder.push_raw(buffer, ticks, keyframe);
        }
        Ok(())
    }

    /// A keyframe at `pts` (ticks) may start a segment: the audio is cut
    /// near it when it does.
    fn cut_at(&mut self, pts: i64, keyframe: bool) -> Result<(), JobError> {
        if keyframe && pts >= 0 && self.cutter.keyframe(pts as u64) {
            for audio in &mut self.audio {
                audio.cut_near(pts as u64).map_err(worker)?;
            }
        }
        Ok(())
    }

    fn video(&mut self, pts: i64, dts: i64, keyframe: bool, data: Bytes) -> Result<(), JobError> {
        if let Some(first) = self.first_cut.take() {
            self.shift = first - pts;
        }
        let (pts, dts) = (pts + self.shift, dts + self.shift);
        self.cut_at(pts, keyframe)?;
        if let Some(ladder) = &mut self.ladder {
            ladder.push(&Frame {
                kind: TrackKind::Video,
                dts,
                pts,
                keyframe,
                data: data.clone(),
            });
        }
        if let Some(copy) = &mut self.copy {
            copy.push(VideoSample {
                pts,
                dts,
                keyframe,
                data,
            })
            .map_err(worker)?;
        }
        Ok(())
    }

    /// Writes what the ladder encoded so far.
    fn drain_ladder(&mut self) -> Result<(), JobError> {
        let Some(events) = &mut self.ladder_events else {
            return Ok(());
        };
        while let Ok(event) = events.try_recv() {
            match event {
                LadderEvent::Config { rung, config } => {
                    let track =
                        h264_config(&config.record).map_err(|e| job_error("encode_error", e))?;
                    if let Some(writer) = self.rungs.iter_mut().find(|w| w.name() == &*rung) {
                        writer.configure(track, self.frame_rate).map_err(worker)?;
                    }
                }
                LadderEvent::Frame { rung, frame } => {
                    if let Some(writer) = self.rungs.iter_mut().find(|w| w.name() == &*rung) {
                        writer
                            .push(VideoSample {
                                pts: frame.pts,
                                dts: frame.dts,
                                keyframe: frame.keyframe,
                                data: frame.data,
                            })
                            .map_err(worker)?;
                    }
                }
                other => tracing::warn!("ladder: {other:?}"),
            }
        }
        Ok(())
    }

    /// Reports each early rendition that has written a segment since.
    fn report_early(&mut self, report: &mut impl FnMut(TranscodeEvent)) -> Result<(), JobError> {
        for (name, reported) in &mut self.early {
            let video = self
                .copy
                .iter()
                .chain(&self.rungs)
                .find(|w| w.name() == name);
            let audio = self.audio.iter().find(|w| w.name() == name);
            let written = match (video, audio) {
                (Some(video), _) => video.segments_written(),
                (None, Some(audio)) => audio.segments_written(),
                (None, None) => continue,
            };
            if written <= *reported {
                continue;
            }
            let so_far = match video {
                Some(video) => video.so_far(),
                None => audio.map_or(Ok(None), AudioWriter::so_far),
            };
            if let Some(rendition) = so_far.map_err(worker)? {
                *reported = written;
                report(TranscodeEvent::Made {
                    rendition: RenditionRecord::of(&rendition),
                });
            }
        }
        Ok(())
    }

    /// Seconds done by the slowest rendition.
    fn done_secs(&self) -> f64 {
        let video = self
            .copy
            .iter()
            .chain(&self.rungs)
            .map(VideoWriter::done_secs);
        let audio = self.audio.iter().map(AudioWriter::done_secs);
        video.chain(audio).fold(f64::INFINITY, f64::min).max(0.0)
    }

    /// Drains the ladder, writes every rendition's last segment and
    /// playlist.
    fn finish(mut self) -> Result<Vec<RenditionRecord>, JobError> {
        if let Some(ladder) = self.ladder.take() {
            ladder
                .finish()
                .map_err(|e| job_error("encode_error", e.to_string()))?;
        }
        self.drain_ladder()?;
        let empty = |e: writer::WriteError| match e {
            writer::WriteError::Empty(name) => job_error(
                "decode_error",
                format!("{name}: the source gave no complete segment"),
            ),
            other => worker(other),
        };
        let mut records = Vec::new();
        for writer in self.copy.into_iter().chain(self.rungs) {
            records.push(RenditionRecord::of(&writer.finish().map_err(empty)?));
        }
        for writer in self.audio {
            records.push(RenditionRecord::of(&writer.finish().map_err(empty)?));
        }
        Ok(records)
    }
}

fn ladder_error(e: crate::ladder::LadderError) -> JobError {
    match e {
        crate::ladder::LadderError::InvalidRung { .. } => bad_spec(e.to_string()),
        other => job_error("encode_error", other.to_string()),
    }
}

fn worker(e: writer::WriteError) -> JobError {
    job_error("worker_error", e.to_string())
}

/// Nanoseconds to 90 kHz ticks, rounded to the nearest.
fn ns_to_ticks(ns: i64) -> i64 {
    let ticks = (i128::from(ns) * i128::from(cuts::VIDEO_TIMESCALE) + 500_000_000)
        .div_euclid(1_000_000_000);
    i64::try_from(ticks).unwrap_or(i64::MAX)
}
