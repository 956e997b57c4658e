//! The live LL-HLS window of one broadcast: renditions fed with samples, queried for
//! playlists, init segments, parts and segments.

mod aac_clock;
mod activation;
mod block;
mod cuts;
mod follower;
mod leader;
mod master_playlist;
mod media_playlist;
mod options;
mod part_builder;
mod rendition;
mod window;

use std::collections::VecDeque;
use std::time::SystemTime;

use bytes::Bytes;

pub use block::{BlockDecision, Position, Skip};
pub use options::LiveOptions;

use crate::error::{ConfigError, PushError};
use crate::track::{RenditionId, Sample, TIMESCALE, TrackConfig, check_rendition_name};
use cuts::{Cut, CutLog};
use follower::FollowerState;
use media_playlist::Report;
use rendition::{PublishContext, Rendition};

/// Room left between the end of one publish and the start of the next on the output
/// timeline, so that a follower whose first decode time precedes the leader's first
/// keyframe (a transcoded rung with deeper B-frame reordering) still lands after the end
/// of its previous publish.
const REBASE_HEADROOM_90K: i64 = TIMESCALE as i64;
/// Follower samples kept while the leader has not sent its first keyframe.
const MAX_PREROLL_90K: i64 = 10 * TIMESCALE as i64;

/// A whole segment as the list of its parts' bytes (cheap clones, never a copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentData {
    /// The parts' moof+mdat chunks in order.
    pub chunks: Vec<Bytes>,
    /// Total length in bytes.
    pub len: u64,
}

/// A segment that became complete, for archiving: where it sits on its rendition's
/// timeline and its media (the parts' chunks, shared, not copied).
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedSegment {
    pub rendition: RenditionId,
    pub msn: u64,
    /// The publish (0 for the first, then one more per reconnect) it belongs to.
    pub discontinuity: u32,
    /// The init segment its media needs ([`LivePackager::init`]).
    pub init: u32,
    pub timescale: u32,
    /// Presentation time of its first sample, in `timescale` ticks.
    pub start: u64,
    pub duration: u64,
    /// EXT-X-PROGRAM-DATE-TIME, in milliseconds since the Unix epoch.
    pub pdt_ms: i64,
    /// No media for it (a rung shed or not started): `chunks` is empty.
    pub gap: bool,
    pub chunks: Vec<Bytes>,
    pub len: u64,
    /// Samples (frames) in it.
    pub samples: u64,
}

/// The publish in progress.
#[derive(Debug)]
struct Publish {
    wallclock: SystemTime,
    /// Output time the publish starts at.
    origin_90k: i64,
    /// Input presentation time of the first sample pushed.
    anchor_in: Option<i64>,
    /// The rendition whose keyframes cut segments.
    leader: Option<usize>,
    /// Known from the leader's first keyframe on.
    timeline: Option<Timeline>,
}

#[derive(Debug, Clone, Copy)]
struct Timeline {
    /// Added to input timestamps to get output timestamps.
    offset_90k: i64,
    ctx: PublishContext,
    /// The leader's newest decode time, output 90 kHz.
    horizon_90k: i64,
}

/// The live LL-HLS packager of one broadcast of one stream.
///
/// Feed it with [`LivePackager::push`] between [`LivePackager::begin_publish`] and
/// [`LivePackager::end_publish`]; read playlists and media at any time.
#[derive(Debug)]
pub struct LivePackager {
    options: LiveOptions,
    renditions: Vec<Rendition>,
    cuts: CutLog,
    publish: Option<Publish>,
    /// Discontinuity number of the segments being written.
    discontinuity: u32,
    started: bool,
    finished: bool,
}

impl LivePackager {
    /// An empty packager. Options are clamped to sane minimums (a part of at least 10 ms,
    /// a segment of at least one part, a window of at least one segment).
    pub fn new(options: LiveOptions) -> Self {
        LivePackager {
            options: options.sanitized(),
            renditions: Vec::new(),
            cuts: CutLog::default(),
            publish: None,
            discontinuity: 0,
            started: false,
            finished: false,
        }
    }

    /// Adds a rendition. The first video rendition in service when a publish starts is the
    /// leader: its keyframes decide segment cuts. Every other rendition follows and starts
    /// segment N at its first sample presented at or after the leader's segment-N keyframe.
    /// Audio-only streams cut audio by duration.
    ///
    /// `name` is the rendition's folder in URIs: letters, digits, `-` and `_`.
    pub fn add_rendition(
        &mut self,
        name: &str,
        config: TrackConfig,
    ) -> Result<RenditionId, ConfigError> {
        check_rendition_name(name)?;
        if self.rendition_by_name(name).is_some() {
            return Err(ConfigError::DuplicateRendition(name.to_owned()));
        }
        config.validate()?;
        let mut rendition = Rendition::new(name, config, self.options, self.discontinuity);
        let id = RenditionId(self.renditions.len());
        if let Some(publish) = &mut self.publish {
            rendition.begin_discontinuity(self.discontinuity);
            match publish.timeline {
                // Joins at the leader's next segment.
                Some(_) => {
                    rendition.follow =
                        FollowerState::joining_now(leader_msn(&self.renditions, publish.leader));
                }
                None => publish.leader = choose_leader(self.renditions.iter().chain([&rendition])),
            }
        }
        self.renditions.push(rendition);
        Ok(id)
    }

    /// All renditions, in service or not: id, name and newest config.
    pub fn renditions(&self) -> impl Iterator<Item = (RenditionId, &str, &TrackConfig)> {
        self.renditions
            .iter()
            .enumerate()
            .map(|(i, r)| (RenditionId(i), r.name.as_str(), &r.config))
    }

    /// The rendition called `name`.
    pub fn rendition_by_name(&self, name: &str) -> Option<RenditionId> {
        self.renditions
            .iter()
            .position(|r| r.name == name)
            .map(RenditionId)
    }

    /// Start of a publish. The first call starts the timeline; a later call (the publisher
    /// reconnected) closes all open segments, and the next segments carry
    /// EXT-X-DISCONTINUITY and a new init segment built from the then-current configs.
    /// Timestamps are rebased so that the output timeline continues. The first sample pushed
    /// after this call is shown at `wallclock` (EXT-X-PROGRAM-DATE-TIME).
    ///
    /// Does nothing after [`LivePackager::finish`].
    pub fn begin_publish(&mut self, wallclock: SystemTime) {
        if self.finished {
            return;
        }
        self.end_publish();
        let current_used = self.renditions.iter().any(|r| {
            r.window
                .last()
                .is_some_and(|s| s.discontinuity == self.discontinuity)
        });
        if self.started && current_used {
            self.discontinuity += 1;
        }
        self.started = true;
        let end_90k = self
            .renditions
            .iter()
            .map(Rendition::timeline_end_90k)
            .max()
            .unwrap_or(0);
        for rendition in &mut self.renditions {
            rendition.begin_discontinuity(self.discontinuity);
        }
        self.publish = Some(Publish {
            wallclock,
            origin_90k: end_90k + REBASE_HEADROOM_90K,
            anchor_in: None,
            leader: choose_leader(self.renditions.iter()),
            timeline: None,
        });
    }

    /// Replaces a rendition's config; it takes effect at the next [`LivePackager::begin_publish`],
    /// or, for a rendition out of service, when [`LivePackager::activate`] brings it back.
    pub fn set_config(&mut self, id: RenditionId, config: TrackConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let rendition = self
            .renditions
            .get_mut(id.0)
            .ok_or(ConfigError::UnknownRendition(id))?;
        rendition.config = config;
        Ok(())
    }

    /// Feeds one sample. Returns true when this published at least one new part or
    /// completed a segment (of any rendition), so the caller can wake blocked readers.
    /// Samples before the leader's first keyframe, and samples of a rendition out of
    /// service, are dropped (`Ok(false)`).
    pub fn push(&mut self, id: RenditionId, sample: Sample) -> Result<bool, PushError> {
        let publish = self.publish.as_mut().ok_or(PushError::NotPublishing)?;
        let rendition = self
            .renditions
            .get(id.0)
            .ok_or(PushError::UnknownRendition(id))?;
        if !rendition.active {
            return Ok(false);
        }
        publish.anchor_in.get_or_insert(sample.pts);
        if publish.leader == Some(id.0) {
            self.push_leader(id.0, sample)
        } else {
            self.push_follower(id.0, sample)
        }
    }

    fn push_leader(&mut self, index: usize, sample: Sample) -> Result<bool, PushError> {
        let Some(publish) = self.publish.as_mut() else {
            return Err(PushError::NotPublishing);
        };
        let leader = &mut self.renditions[index];
        let first_keyframe = publish.timeline.is_none();
        if first_keyframe && leader.codec.is_video() && !sample.keyframe {
            return Ok(false);
        }
        let mut timeline = match publish.timeline {
            Some(timeline) => timeline,
            None => {
                let offset_90k = publish.origin_90k - sample.dts;
                let anchor_90k = publish.anchor_in.unwrap_or(sample.pts) + offset_90k;
                Timeline {
                    offset_90k,
                    ctx: PublishContext::new(self.discontinuity, publish.wallclock, anchor_90k),
                    horizon_90k: publish.origin_90k,
                }
            }
        };
        let Some(timed) = leader.stamp(sample, timeline.offset_90k)? else {
            return Ok(false);
        };
        timeline.horizon_90k = leader.ticks_to_90k(timed.dts);
        publish.timeline = Some(timeline);
        let ctx = timeline.ctx;

        let first_msn = self
            .renditions
            .iter()
            .map(|r| r.window.next_msn())
            .max()
            .unwrap_or(0);
        let leader = &mut self.renditions[index];
        let cut = leader.leader_cut(&timed, first_msn);
        if let Some(cut) = cut {
            if let Some((ended, ticks)) = cut.ended {
                self.cuts
                    .complete(ended, leader.ticks_to_90k(ticks).max(0) as u64);
            }
            let pts_90k = leader.ticks_to_90k(timed.pts());
            self.cuts.record(
                cut.msn,
                Cut {
                    pts_90k,
                    duration_90k: None,
                    pdt_ms: ctx.pdt_ms(pts_90k),
                },
            );
        }
        let mut published = leader.feed(timed, cut.map(|c| c.msn), &ctx, &self.cuts);

        if first_keyframe {
            let first = cut.map(|c| c.msn);
            for (i, follower) in self.renditions.iter_mut().enumerate() {
                if i != index && follower.active {
                    follower.follow.next_cut = first;
                    published |= drain_preroll(follower, &timeline, &self.cuts);
                }
            }
        }
        for (i, follower) in self.renditions.iter_mut().enumerate() {
            if i == index {
                continue;
            }
            if !follower.active {
                if let Some(cut) = cut {
                    published |= follower.idle_until(cut.msn, &ctx, &self.cuts);
                }
                continue;
            }
            if let Some(cut) = cut {
                published |= follower.on_leader_cut(cut.msn, &ctx, &self.cuts);
            }
            published |= follower.release(Some(timeline.horizon_90k), &ctx, &self.cuts);
            if let Some(cut) = cut {
                published |= follower.skip_missed(cut.msn, &ctx, &self.cuts);
            }
        }
        self.forget_cuts(index);
        Ok(published)
    }

    fn push_follower(&mut self, index: usize, sample: Sample) -> Result<bool, PushError> {
        let Some(publish) = self.publish.as_mut() else {
            return Err(PushError::NotPublishing);
        };
        let follower = &mut self.renditions[index];
        let Some(timeline) = publish.timeline else {
            // Kept until the leader's first keyframe fixes the timeline.
            follower.preroll.push_back(sample);
            while let (Some(front), Some(back)) =
                (follower.preroll.front(), follower.preroll.back())
            {
                if back.dts.saturating_sub(front.dts) <= MAX_PREROLL_90K {
                    break;
                }
                follower.preroll.pop_front();
            }
            return Ok(false);
        };
        let Some(timed) = follower.stamp(sample, timeline.offset_90k)? else {
            return Ok(false);
        };
        Ok(follower.follow(timed, timeline.horizon_90k, &timeline.ctx, &self.cuts))
    }

    /// Keeps the cuts followers may still need: from their next cut and next segment on,
    /// the cut of the leader's current segment (a rendition added now may start it), and
    /// never older than the leader's window.
    fn forget_cuts(&mut self, leader: usize) {
        let current = self.renditions[leader]
            .leader_segment()
            .map_or(u64::MAX, |(msn, _)| msn);
        let oldest_needed = self
            .renditions
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != leader)
            .map(|(_, r)| {
                r.follow
                    .next_cut
                    .unwrap_or(u64::MAX)
                    .min(r.window.next_msn())
            })
            .min()
            .unwrap_or(u64::MAX)
            .min(current);
        let leader_first = self.renditions[leader].window.first_msn();
        self.cuts.forget_before(oldest_needed.max(leader_first));
    }

    /// The publisher left: pending samples become final parts (the last sample lasts as long
    /// as the one before it) and open segments are completed. Renditions that have no media
    /// for the leader's last segments get gap segments, so numbers stay aligned. Returns true
    /// if anything was published.
    pub fn end_publish(&mut self) -> bool {
        let Some(publish) = self.publish.take() else {
            return false;
        };
        let (Some(timeline), Some(leader)) = (publish.timeline, publish.leader) else {
            for rendition in &mut self.renditions {
                rendition.preroll.clear();
            }
            return false;
        };
        let ctx = timeline.ctx;
        let mut published = self.renditions[leader].flush(&ctx, &self.cuts);
        if let Some((msn, ticks)) = self.renditions[leader].leader_segment() {
            let duration_90k = self.renditions[leader].ticks_to_90k(ticks).max(0) as u64;
            self.cuts.complete(msn, duration_90k);
        }
        let next_msn = self.renditions[leader].window.next_msn();
        for (i, rendition) in self.renditions.iter_mut().enumerate() {
            if i == leader {
                continue;
            }
            rendition.preroll.clear();
            published |= rendition.release(None, &ctx, &self.cuts);
            rendition.forget_held();
            published |= rendition.flush(&ctx, &self.cuts);
            published |= rendition.fill_gaps(next_msn, &ctx, &self.cuts);
        }
        published
    }

    /// The broadcast is over for good: playlists get EXT-X-ENDLIST and no preload hint.
    pub fn finish(&mut self) {
        self.end_publish();
        self.finished = true;
    }

    /// EXT-X-PROGRAM-DATE-TIME of the newest sample of the leader (the live
    /// edge), in Unix milliseconds; None outside a publish or before its first keyframe.
    pub fn live_edge_unix_ms(&self) -> Option<i64> {
        let timeline = self.publish.as_ref()?.timeline?;
        Some(timeline.ctx.pdt_ms(timeline.horizon_90k))
    }

    /// The newest published part of a rendition.
    pub fn position(&self, id: RenditionId) -> Option<Position> {
        self.renditions.get(id.0)?.window.position()
    }

    /// EXT-X-TARGETDURATION of a rendition's playlist.
    pub fn target_duration(&self, id: RenditionId) -> Option<std::time::Duration> {
        let rendition = self.renditions.get(id.0)?;
        let secs = rendition
            .window
            .target_duration(rendition::min_target_duration(&rendition.options));
        Some(std::time::Duration::from_secs(secs))
    }

    /// Whether a request blocking on segment `msn` (and `part`) can be answered now.
    /// An unknown rendition is [`BlockDecision::Gone`]; after [`LivePackager::finish`]
    /// nothing more will come, so nothing waits. Gap segments count as published.
    pub fn block_decision(&self, id: RenditionId, msn: u64, part: Option<u32>) -> BlockDecision {
        let Some(rendition) = self.renditions.get(id.0) else {
            return BlockDecision::Gone;
        };
        match rendition.window.block_decision(msn, part) {
            BlockDecision::Wait | BlockDecision::TooFar if self.finished => BlockDecision::Ready,
            decision => decision,
        }
    }

    /// The media playlist of a rendition. It reports on the other renditions in service.
    pub fn media_playlist(&self, id: RenditionId, skip: Skip) -> Option<String> {
        let rendition = self.renditions.get(id.0)?;
        let reports = self
            .renditions
            .iter()
            .enumerate()
            .filter(|(i, other)| *i != id.0 && other.active)
            .filter_map(|(_, other)| {
                Some(Report {
                    name: &other.name,
                    position: other.window.position()?,
                })
            });
        Some(media_playlist::media_playlist(
            rendition,
            reports,
            self.finished,
            skip,
        ))
    }

    /// The multivariant playlist of the renditions in service; media playlist URIs are
    /// `{media_prefix}{name}/index.m3u8`.
    pub fn master_playlist(&self, media_prefix: &str) -> String {
        master_playlist::master_playlist(&self.renditions, media_prefix)
    }

    /// Init segment number `number` of a rendition (`init{number}.mp4`, see
    /// [`crate::Resource::Init`]), while it is referenced.
    pub fn init(&self, id: RenditionId, number: u32) -> Option<Bytes> {
        self.renditions.get(id.0)?.init(number).cloned()
    }

    /// The track init segment `number` of a rendition was written from, while it is
    /// referenced.
    pub fn init_config(&self, id: RenditionId, number: u32) -> Option<&TrackConfig> {
        self.renditions.get(id.0)?.init_config(number)
    }

    /// One part, while its segment is in the DVR window.
    pub fn part(&self, id: RenditionId, msn: u64, part: u32) -> Option<Bytes> {
        self.renditions.get(id.0)?.window.part(msn, part).cloned()
    }

    /// The segments of every rendition completed since the last call (each once, in
    /// completion order per rendition), while they are in the DVR window: an archive
    /// that takes them at least once per window loses none.
    pub fn take_completed(&mut self) -> Vec<CompletedSegment> {
        let mut completed = Vec::new();
        for (index, rendition) in self.renditions.iter_mut().enumerate() {
            completed.extend(rendition.window.take_completed().into_iter().map(|s| {
                CompletedSegment {
                    rendition: RenditionId(index),
                    msn: s.msn,
                    discontinuity: s.discontinuity,
                    init: s.init,
                    timescale: s.timescale,
                    start: s.start,
                    duration: s.duration,
                    pdt_ms: s.pdt_ms,
                    gap: s.gap,
                    chunks: s.chunks.clone(),
                    len: s.len,
                    samples: s.samples,
                }
            }));
        }
        completed
    }

    /// A complete segment, while it is in the window.
    pub fn segment(&self, id: RenditionId, msn: u64) -> Option<SegmentData> {
        let (chunks, len) = self.renditions.get(id.0)?.window.segment_chunks(msn)?;
        Some(SegmentData {
            chunks: chunks.to_vec(),
            len,
        })
    }
}

/// The first video rendition in service, else the first one in service.
fn choose_leader<'a>(renditions: impl Iterator<Item = &'a Rendition>) -> Option<usize> {
    let mut first = None;
    for (index, rendition) in renditions.enumerate() {
        if !rendition.active {
            continue;
        }
        if rendition.codec.is_video() {
            return Some(index);
        }
        first.get_or_insert(index);
    }
    first
}

/// The segment `leader` is writing.
fn leader_msn(renditions: &[Rendition], leader: Option<usize>) -> Option<u64> {
    let (msn, _) = renditions.get(leader?)?.leader_segment()?;
    Some(msn)
}

/// Stamps and holds the samples a follower received before the timeline was known.
fn drain_preroll(follower: &mut Rendition, timeline: &Timeline, cuts: &CutLog) -> bool {
    let preroll: VecDeque<Sample> = std::mem::take(&mut follower.preroll);
    let mut published = false;
    for sample in preroll {
        // A preroll sample the timeline cannot place is dropped like any pre-start sample.
        if let Ok(Some(timed)) = follower.stamp(sample, timeline.offset_90k) {
            published |= follower.follow(timed, timeline.horizon_90k, &timeline.ctx, cuts);
        }
    }
    published
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::fixtures::{audio, video};

    #[test]
    fn the_first_video_rendition_leads() {
        let options = LiveOptions::default();
        let a = Rendition::new("a", audio(), options, 0);
        let v = Rendition::new("v", video(), options, 0);
        let v2 = Rendition::new("v2", video(), options, 0);
        assert_eq!(choose_leader([&a, &v, &v2].into_iter()), Some(1));
        assert_eq!(choose_leader([&a].into_iter()), Some(0));
        assert_eq!(choose_leader(std::iter::empty()), None);
        let mut out_of_service = Rendition::new("v0", video(), options, 0);
        out_of_service.active = false;
        assert_eq!(
            choose_leader([&out_of_service, &a, &v].into_iter()),
            Some(2)
        );
        assert_eq!(choose_leader([&out_of_service, &a].into_iter()), Some(1));
    }

    #[test]
    fn followers_wait_in_preroll_for_the_leaders_first_keyframe() {
        let mut packager = LivePackager::new(LiveOptions::default());
        let audio_id = packager.add_rendition("a", audio()).unwrap();
        let video_id = packager.add_rendition("v", video()).unwrap();
        packager.begin_publish(SystemTime::UNIX_EPOCH);
        let frame = |dts: i64, keyframe| Sample {
            dts,
            pts: dts,
            keyframe,
            data: Bytes::from_static(b"x"),
        };
        for k in 0..20 {
            assert_eq!(packager.push(audio_id, frame(k * 1920, true)), Ok(false));
        }
        assert_eq!(packager.renditions[0].preroll.len(), 20);
        assert_eq!(packager.push(video_id, frame(3000, false)), Ok(false));
        assert_eq!(packager.push(video_id, frame(6000, true)), Ok(false));
        assert!(packager.renditions[0].preroll.is_empty());
        assert_eq!(packager.renditions[0].follow.next_cut, Some(0));
    }
}
