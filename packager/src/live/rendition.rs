//! One rendition: its config and init segments, its part builder and its window.

use std::collections::VecDeque;
use std::mem;

use bytes::Bytes;

use super::aac_clock::AacClock;
use super::cuts::CutLog;
use super::follower::FollowerState;
use super::leader::LeaderState;
use super::options::{LiveOptions, TIMESTAMP_TOLERANCE, ticks};
use super::part_builder::{ClosedPart, Event, PartBuilder};
use super::window::{SegmentHeader, Window};
use crate::error::PushError;
use crate::fmp4::{FragmentSample, fragment, init_segment};
use crate::timescale::{rescale, rescale_ceil, rescale_floor};
use crate::track::{AAC_FRAME_SAMPLES, Codec, Sample, TIMESCALE, TrackConfig};
use crate::wallclock::unix_millis;

/// Duration given to a lone last video sample whose successor never came (one 30 fps frame).
const FALLBACK_VIDEO_DURATION: u32 = TIMESCALE / 30;

/// A sample on the output timeline, in the rendition's timescale.
#[derive(Debug)]
pub(crate) struct Timed {
    pub dts: i64,
    pub sample: FragmentSample,
}

impl Timed {
    pub(crate) fn pts(&self) -> i64 {
        self.dts + i64::from(self.sample.composition_offset())
    }
}

/// Timeline facts of the publish in progress, shared by all renditions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublishContext {
    pub discontinuity: u32,
    /// Wall clock of the anchor, Unix milliseconds.
    pub wall_ms: i64,
    /// The anchor (the first sample pushed in this publish) on the output timeline, 90 kHz.
    pub anchor_90k: i64,
}

impl PublishContext {
    pub(crate) fn new(
        discontinuity: u32,
        wallclock: std::time::SystemTime,
        anchor_90k: i64,
    ) -> Self {
        PublishContext {
            discontinuity,
            wall_ms: unix_millis(wallclock),
            anchor_90k,
        }
    }

    /// EXT-X-PROGRAM-DATE-TIME of output time `pts_90k`.
    pub(crate) fn pdt_ms(&self, pts_90k: i64) -> i64 {
        self.wall_ms + rescale(pts_90k - self.anchor_90k, TIMESCALE, 1000)
    }
}

/// Everything the packager keeps for one rendition.
#[derive(Debug)]
pub(crate) struct Rendition {
    pub name: String,
    /// The newest config; it takes effect at the next discontinuity, or when the rendition
    /// comes back into service.
    pub config: TrackConfig,
    /// Codec and timescale of the segments being written.
    pub codec: Codec,
    pub timescale: u32,
    pub options: LiveOptions,
    /// The discontinuity being written.
    discontinuity: u32,
    /// Init segments, oldest first; the last one is current.
    inits: VecDeque<Init>,
    /// In service: listed, reported and fed. Out of service it only gets gap segments.
    pub active: bool,
    pub window: Window,
    pub builder: PartBuilder,
    clock: AacClock,
    /// mfhd sequence number of the next fragment.
    sequence: u32,
    /// Decode time of the last accepted sample of this publish.
    last_dts: Option<i64>,
    /// Samples decoding before this belong to an earlier publish.
    floor: i64,
    /// End of the last published part, track ticks.
    pub timeline_end: i64,
    /// Reused buffer of builder output.
    pub events: Vec<Event>,
    /// Samples of a follower that arrived before the publish's timeline was known.
    pub preroll: VecDeque<Sample>,
    pub lead: LeaderState,
    pub follow: FollowerState,
}

/// One init segment and the track it was written from.
#[derive(Debug)]
struct Init {
    number: u32,
    bytes: Bytes,
    config: TrackConfig,
}

impl Rendition {
    /// A rendition whose first init segment belongs to `discontinuity` and has its number.
    pub(crate) fn new(
        name: &str,
        config: TrackConfig,
        options: LiveOptions,
        discontinuity: u32,
    ) -> Self {
        let timescale = config.timescale();
        let mut inits = VecDeque::new();
        inits.push_back(Init {
            number: discontinuity,
            bytes: init_segment(&config),
            config: config.clone(),
        });
        Rendition {
            name: name.to_owned(),
            codec: config.codec,
            timescale,
            clock: AacClock::new(timescale),
            builder: PartBuilder::new(part_limit(&options, timescale)),
            config,
            options,
            discontinuity,
            inits,
            active: true,
            window: Window::default(),
            sequence: 1,
            last_dts: None,
            floor: 0,
            timeline_end: 0,
            events: Vec::new(),
            preroll: VecDeque::new(),
            lead: LeaderState::default(),
            follow: FollowerState::default(),
        }
    }

    /// Starts writing `discontinuity` with the newest config: a new init segment, a fresh
    /// builder and clock, and a floor at the end of what was written so far.
    pub(crate) fn begin_discontinuity(&mut self, discontinuity: u32) {
        self.discontinuity = discontinuity;
        self.apply_config();
        self.preroll.clear();
        self.lead = LeaderState::default();
        self.follow = FollowerState::default();
        self.install_init(discontinuity, init_segment(&self.config));
    }

    /// Switches to a config changed while the rendition was out of service, within the
    /// current discontinuity: the timeline goes on, and the next segment refers to a new
    /// init segment.
    pub(crate) fn adopt_config(&mut self) {
        let init = init_segment(&self.config);
        if self
            .inits
            .back()
            .is_some_and(|current| current.bytes == init)
        {
            return;
        }
        self.apply_config();
        self.install_init(self.current_init().saturating_add(1), init);
    }

    /// Codec and timescale of the newest config, a fresh builder and clock, and a floor at
    /// the end of what was written so far.
    fn apply_config(&mut self) {
        let old_timescale = self.timescale;
        self.codec = self.config.codec;
        self.timescale = self.config.timescale();
        self.floor = rescale_ceil(self.timeline_end, old_timescale, self.timescale);
        self.timeline_end = self.floor;
        self.last_dts = None;
        self.clock = AacClock::new(self.timescale);
        self.builder = PartBuilder::new(part_limit(&self.options, self.timescale));
    }

    /// Makes `init` current. The current one is replaced in place while no segment refers
    /// to it and its number is at least `min_number`; otherwise `init` gets the next number,
    /// at least `min_number` (so numbers equal discontinuities unless a config changed
    /// within one).
    fn install_init(&mut self, min_number: u32, bytes: Bytes) {
        let last_used = self.window.last().map(|s| s.init);
        let config = self.config.clone();
        match self.inits.back_mut() {
            Some(current) if current.number >= min_number && last_used != Some(current.number) => {
                current.bytes = bytes;
                current.config = config;
            }
            back => {
                let number = back.map_or(min_number, |current| {
                    min_number.max(current.number.saturating_add(1))
                });
                self.inits.push_back(Init {
                    number,
                    bytes,
                    config,
                });
            }
        }
    }

    fn find_init(&self, number: u32) -> Option<&Init> {
        self.inits.iter().find(|init| init.number == number)
    }

    /// Init segment number `number`, while segments refer to it.
    pub(crate) fn init(&self, number: u32) -> Option<&Bytes> {
        self.find_init(number).map(|init| &init.bytes)
    }

    /// The track init segment `number` was written from, while segments refer to it.
    pub(crate) fn init_config(&self, number: u32) -> Option<&TrackConfig> {
        self.find_init(number).map(|init| &init.config)
    }

    /// The discontinuity the next segments belong to.
    pub(crate) fn current_discontinuity(&self) -> u32 {
        self.discontinuity
    }

    /// Number of the init segment the next segments refer to.
    pub(crate) fn current_init(&self) -> u32 {
        self.inits
            .back()
            .map_or(self.discontinuity, |current| current.number)
    }

    /// End of the published timeline in 90 kHz ticks.
    pub(crate) fn timeline_end_90k(&self) -> i64 {
        rescale_ceil(self.timeline_end, self.timescale, TIMESCALE)
    }

    /// Puts an input sample on the output timeline (`offset_90k` rebases this publish).
    /// `None` means the sample decodes before this rendition's timeline and is dropped.
    pub(crate) fn stamp(
        &mut self,
        input: Sample,
        offset_90k: i64,
    ) -> Result<Option<Timed>, PushError> {
        let dts_90k = input.dts.saturating_add(offset_90k);
        let (dts, offset, keyframe) = match self.codec {
            Codec::H264 => {
                let offset = input.pts.saturating_sub(input.dts);
                let offset =
                    i32::try_from(offset).map_err(|_| PushError::CompositionOffset(offset))?;
                (dts_90k, offset, input.keyframe)
            }
            Codec::Aac => (self.clock.stamp(dts_90k), 0, true),
        };
        if dts < self.floor {
            return Ok(None);
        }
        if let Some(previous) = self.last_dts.filter(|previous| dts <= *previous) {
            return Err(PushError::NonMonotonic { dts, previous });
        }
        let sample = FragmentSample::new(input.data, 0, offset, keyframe)?;
        if self.codec == Codec::Aac {
            self.clock.accept(dts);
        }
        self.last_dts = Some(dts);
        Ok(Some(Timed { dts, sample }))
    }

    /// Hands a sample to the part builder; with `starts_segment` it opens that segment.
    /// Returns true if a part was published.
    pub(crate) fn feed(
        &mut self,
        timed: Timed,
        starts_segment: Option<u64>,
        ctx: &PublishContext,
        cuts: &CutLog,
    ) -> bool {
        // Non-negative: stamp() only accepts decode times at or after the floor (>= 0).
        let dts = u64::try_from(timed.dts).unwrap_or(0);
        self.builder
            .push(dts, timed.sample, starts_segment, &mut self.events);
        self.publish_events(ctx, cuts)
    }

    /// Publishes everything pending and completes the open segment.
    pub(crate) fn flush(&mut self, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let fallback = self.fallback_duration();
        self.builder.flush(fallback, &mut self.events);
        self.publish_events(ctx, cuts)
    }

    /// Publishes everything pending as a final part; the open segment stays open.
    pub(crate) fn drain(&mut self, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let fallback = self.fallback_duration();
        self.builder.drain(fallback, &mut self.events);
        self.publish_events(ctx, cuts)
    }

    /// Duration of a last sample whose successor never came, when nothing better is known.
    fn fallback_duration(&self) -> u32 {
        let ticks = match self.codec {
            Codec::H264 => rescale(
                i64::from(FALLBACK_VIDEO_DURATION),
                TIMESCALE,
                self.timescale,
            ),
            Codec::Aac => i64::from(AAC_FRAME_SAMPLES),
        };
        u32::try_from(ticks).unwrap_or(1)
    }

    /// Applies builder output to the window. Returns true if a part was published.
    pub(crate) fn publish_events(&mut self, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let mut events = mem::take(&mut self.events);
        let mut published = false;
        for event in events.drain(..) {
            match event {
                // A completed segment changes the playlist: a request blocked on a part
                // the segment ended without is answered now.
                Event::SegmentEnd => published |= self.window.close(),
                Event::Part(part) => published |= self.publish_part(part, ctx, cuts),
            }
        }
        self.events = events;
        if published {
            self.trim();
        }
        published
    }

    fn publish_part(&mut self, part: ClosedPart, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let Some(first) = part.samples.first() else {
            return false;
        };
        let independent = first.keyframe();
        let first_pts = part.base_dts as i64 + i64::from(first.composition_offset());
        match part.starts_segment {
            Some(msn) => self.open_segment(msn, first_pts, ctx, cuts),
            // Every part after a segment end is marked as a segment start; this only guards
            // the invariant instead of dropping media.
            None if self.window.open_segment().is_none() => {
                self.open_segment(self.window.next_msn(), first_pts, ctx, cuts)
            }
            None => {}
        }
        let duration: u64 = part.samples.iter().map(|s| u64::from(s.duration())).sum();
        let bytes = fragment(self.sequence, part.base_dts, &part.samples);
        self.sequence = self.sequence.wrapping_add(1);
        self.timeline_end = (part.base_dts + duration) as i64;
        let duration = u32::try_from(duration).unwrap_or(u32::MAX);
        self.window
            .append_part(duration, independent, part.samples.len(), bytes)
    }

    fn open_segment(&mut self, msn: u64, first_pts: i64, ctx: &PublishContext, cuts: &CutLog) {
        self.window.close();
        self.fill_gaps(msn, ctx, cuts);
        let pts_90k = rescale(first_pts, self.timescale, TIMESCALE);
        self.window.open(SegmentHeader {
            msn,
            discontinuity: ctx.discontinuity,
            init: self.current_init(),
            timescale: self.timescale,
            start: u64::try_from(first_pts).unwrap_or(0),
            pdt_ms: ctx.pdt_ms(pts_90k),
        });
    }

    /// Adds gap segments until the next segment is `msn`, so that segment numbers keep
    /// meaning the same media time in every rendition. Returns true if it added any.
    pub(crate) fn fill_gaps(&mut self, msn: u64, ctx: &PublishContext, cuts: &CutLog) -> bool {
        if self.window.is_empty() {
            self.window.skip_to(msn);
            return false;
        }
        self.window.close();
        let default_90k = ticks(self.options.segment_target, TIMESCALE);
        let added = self.window.next_msn() < msn;
        while self.window.next_msn() < msn {
            let gap_msn = self.window.next_msn();
            let cut = cuts.get(gap_msn);
            let duration_90k = cut.and_then(|c| c.duration_90k).unwrap_or(default_90k);
            let pdt_ms = match (cut, self.window.last()) {
                (Some(cut), _) => cut.pdt_ms,
                (None, Some(last)) => last.pdt_ms + (last.duration_ns / 1_000_000) as i64,
                (None, None) => ctx.wall_ms,
            };
            let duration = rescale(duration_90k as i64, TIMESCALE, self.timescale).max(1) as u64;
            let start = match (cut, self.window.last()) {
                (Some(cut), _) => rescale(cut.pts_90k, TIMESCALE, self.timescale),
                (None, Some(last)) => (last.start + last.duration) as i64,
                (None, None) => 0,
            };
            // A gap keeps the init in force: a changed one is announced with media.
            let init = match self.window.last() {
                Some(last) if last.discontinuity == ctx.discontinuity => last.init,
                _ => self.current_init(),
            };
            let header = SegmentHeader {
                msn: gap_msn,
                discontinuity: ctx.discontinuity,
                init,
                timescale: self.timescale,
                start: u64::try_from(start).unwrap_or(0),
                pdt_ms,
            };
            let part = ticks(self.options.part_target, self.timescale);
            self.window
                .push_gap(header, duration, u32::try_from(part).unwrap_or(u32::MAX));
        }
        if added {
            self.trim();
        }
        added
    }

    /// Applies the DVR window and forgets init segments no segment refers to.
    fn trim(&mut self) {
        let target = self
            .window
            .target_duration(min_target_duration(&self.options));
        self.window.trim(
            nanos_of(self.options.dvr_window),
            target * 3 * 1_000_000_000,
        );
        if let Some(first) = self.window.first_init() {
            while self.inits.len() > 1 && self.inits.front().is_some_and(|i| i.number < first) {
                self.inits.pop_front();
            }
        }
    }

    /// Track ticks in 90 kHz ticks, rounded to the nearest.
    pub(crate) fn ticks_to_90k(&self, ticks: i64) -> i64 {
        rescale(ticks, self.timescale, TIMESCALE)
    }

    /// 90 kHz ticks in track ticks, rounded up.
    pub(crate) fn ticks_from_90k_ceil(&self, value: i64) -> i64 {
        rescale_ceil(value, TIMESCALE, self.timescale)
    }

    /// 90 kHz ticks in track ticks, rounded down.
    pub(crate) fn ticks_from_90k_floor(&self, value: i64) -> i64 {
        rescale_floor(value, TIMESCALE, self.timescale)
    }

    /// Shortest segment the leader may cut, in track ticks.
    pub(crate) fn min_segment_ticks(&self) -> i64 {
        let min = self
            .options
            .segment_target
            .saturating_sub(TIMESTAMP_TOLERANCE);
        ticks(min, self.timescale) as i64
    }
}

/// Part target plus tolerance in ticks of `timescale`.
fn part_limit(options: &LiveOptions, timescale: u32) -> u64 {
    ticks(options.part_target + TIMESTAMP_TOLERANCE, timescale)
}

/// EXT-X-TARGETDURATION never goes below the segment target, rounded up to whole seconds.
pub(crate) fn min_target_duration(options: &LiveOptions) -> u64 {
    u64::try_from(options.segment_target.as_nanos().div_ceil(1_000_000_000)).unwrap_or(u64::MAX)
}

fn nanos_of(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
