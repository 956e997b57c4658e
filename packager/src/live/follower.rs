//! Followers (audio, transcoded rungs) start segment N at their first sample presented at
//! or after the leader's segment-N keyframe, so that a segment number means the same media
//! time in every rendition.
//!
//! Audio starts it up to one part earlier: when the frames since its last published part
//! are no full part, the segment ends at that part and those frames open the next segment.
//! A short last part is published right after the part before it, and hls.js counts a
//! complete segment as buffered once less than 0.2 s of it is missing: when the playlist
//! completing the segment arrived before the part before was appended, hls.js never loaded
//! the short part and stalled at the hole until the segment's parts left the playlist,
//! three target durations later. With full last parts, as in video, hls.js has to fall a
//! whole part behind for that to happen.
//!
//! A follower's samples are held back while they are ahead of the leader: a cut the leader
//! has not announced yet can only fall after the leader's newest decode time, so samples
//! presented up to that time are safe to publish. Should the leader stall, samples are
//! released anyway once they are a segment target ahead, and a late cut then splits the
//! unpublished samples or starts at the next part boundary.
//!
//! A follower that falls more than a segment behind, or stops producing, does not hold its
//! playlist back: the segments it missed become gaps and it resumes at a later cut.

use std::collections::VecDeque;

use super::cuts::{Cut, CutLog};
use super::options::ticks;
use super::rendition::{PublishContext, Rendition, Timed};
use crate::track::Codec;

/// Cut bookkeeping of a follower within one publish.
#[derive(Debug, Default)]
pub(crate) struct FollowerState {
    /// The leader segment whose start this follower looks for next; `None` until the
    /// publish's first leader segment is known.
    pub next_cut: Option<u64>,
    /// Whether this follower started a segment in this publish.
    started: bool,
    /// Stamped samples not yet given to the part builder.
    held: VecDeque<Timed>,
    /// Presentation time of the newest sample given to the part builder.
    released_pts: Option<i64>,
    /// A segment already under way that this follower may still start, with a keyframe
    /// exactly at its cut (a rung whose encoder began with the leader's keyframe).
    join_exactly: Option<u64>,
}

impl FollowerState {
    /// A follower joining a publish whose leader is writing segment `current_msn`.
    pub(crate) fn joining(current_msn: Option<u64>) -> Self {
        FollowerState {
            next_cut: current_msn.map(|msn| msn + 1),
            ..FollowerState::default()
        }
    }

    /// A new rendition joining a publish whose leader is writing segment `current_msn`: it
    /// starts that segment if its first keyframe is presented exactly at the segment's cut
    /// (so a rung started with the publish covers it from the first segment), else the next.
    pub(crate) fn joining_now(current_msn: Option<u64>) -> Self {
        FollowerState {
            next_cut: current_msn,
            join_exactly: current_msn,
            ..FollowerState::default()
        }
    }
}

impl Rendition {
    /// Takes a stamped sample and publishes what is safe given the leader's decode time.
    pub(crate) fn follow(
        &mut self,
        timed: Timed,
        horizon_90k: i64,
        ctx: &PublishContext,
        cuts: &CutLog,
    ) -> bool {
        self.follow.held.push_back(timed);
        self.release(Some(horizon_90k), ctx, cuts)
    }

    /// Gives held samples to the part builder: those presented at or before the leader's
    /// decode time `horizon_90k`, those a segment target behind the newest, or all of them
    /// when `horizon_90k` is `None` (the publish ends).
    pub(crate) fn release(
        &mut self,
        horizon_90k: Option<i64>,
        ctx: &PublishContext,
        cuts: &CutLog,
    ) -> bool {
        let horizon = horizon_90k.map(|h| self.ticks_from_90k_floor(h));
        let hold_limit = ticks(self.options.segment_target, self.timescale) as i64;
        let mut published = false;
        while let (Some(front), Some(back)) = (self.follow.held.front(), self.follow.held.back()) {
            let safe =
                horizon.is_none_or(|h| front.pts() <= h) || back.pts() - front.pts() > hold_limit;
            if !safe {
                break;
            }
            let Some(timed) = self.follow.held.pop_front() else {
                break;
            };
            published |= self.place(timed, ctx, cuts);
        }
        published
    }

    /// Feeds one released sample, opening the segments whose cuts it reaches.
    fn place(&mut self, timed: Timed, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let Some(mut next) = self.follow.next_cut else {
            return false;
        };
        let mut starts = None;
        while let Some(cut) = cuts.get(next)
            && self.reaches(&timed, cut)
        {
            starts = Some(next);
            next += 1;
        }
        self.follow.next_cut = Some(next);
        if !self.follow.started {
            let late = starts.is_some()
                && starts == self.follow.join_exactly
                && cuts
                    .get(next - 1)
                    .is_some_and(|cut| timed.pts() != self.ticks_from_90k_ceil(cut.pts_90k));
            if starts.is_none() || late {
                // Before this follower's first segment of the publish.
                return false;
            }
            self.follow.started = true;
        }
        self.follow.released_pts = Some(timed.pts());
        let starts = match starts {
            Some(msn) if self.ends_at_published_part(&timed) => {
                self.builder.cut_at_part_boundary(msn, &mut self.events);
                None
            }
            starts => starts,
        };
        self.feed(timed, starts, ctx, cuts)
    }

    /// Whether this follower ends a segment at its last published part when `next` opens
    /// the next one: audio whose frames since that part are no full part (see the module's
    /// documentation).
    fn ends_at_published_part(&self, next: &Timed) -> bool {
        self.codec == Codec::Aac
            && self
                .builder
                .can_end_at_published_part(u64::try_from(next.dts).unwrap_or(0))
    }

    /// The leader announced the cut of segment `msn`. Samples already given to the builder
    /// may lie past it (when they were released without the leader): split them there, or
    /// (audio) cut at the next part boundary if the samples past the cut are published.
    pub(crate) fn on_leader_cut(&mut self, msn: u64, ctx: &PublishContext, cuts: &CutLog) -> bool {
        if !self.follow.started || self.follow.next_cut != Some(msn) {
            return false;
        }
        let Some(cut) = cuts.get(msn) else {
            return false;
        };
        let cut_pts = self.ticks_from_90k_ceil(cut.pts_90k);
        if self.follow.released_pts.is_none_or(|pts| pts < cut_pts) {
            return false;
        }
        let split = self.builder.split_at(
            msn,
            |dts, s| s.keyframe() && dts as i64 + i64::from(s.composition_offset()) >= cut_pts,
            &mut self.events,
        );
        if !split {
            if self.codec != Codec::Aac {
                // Video must start a segment with a keyframe: wait for the next one past the cut.
                return false;
            }
            self.builder.cut_at_part_boundary(msn, &mut self.events);
        }
        self.follow.next_cut = Some(msn + 1);
        self.publish_events(ctx, cuts)
    }

    /// The leader started segment `leader_msn`. A follower that has given the builder
    /// nothing from the cut of its next segment on, although the leader has completed that
    /// segment and the one after it, fell behind or stopped: its open segment ends, the
    /// segments it missed become gaps, and it starts the leader's previous segment next at
    /// the earliest. Samples for the skipped segments that still come are dropped.
    /// Returns true if the playlist changed.
    pub(crate) fn skip_missed(
        &mut self,
        leader_msn: u64,
        ctx: &PublishContext,
        cuts: &CutLog,
    ) -> bool {
        let resume = leader_msn.saturating_sub(1);
        let Some(next) = self.follow.next_cut.filter(|next| *next < resume) else {
            return false;
        };
        let Some(cut) = cuts.get(next) else {
            return false;
        };
        let cut_pts = self.ticks_from_90k_ceil(cut.pts_90k);
        if self.follow.released_pts.is_some_and(|pts| pts >= cut_pts) {
            // It has media there; it waits for a keyframe to start the segment.
            return false;
        }
        let was_open = self.window.open_segment().is_some();
        let published = self.flush(ctx, cuts);
        let gaps = self.fill_gaps(resume, ctx, cuts);
        self.follow.started = false;
        self.follow.next_cut = Some(resume);
        published || gaps || was_open
    }

    /// Whether `timed` may start the segment beginning at `cut`.
    fn reaches(&self, timed: &Timed, cut: &Cut) -> bool {
        timed.sample.keyframe() && timed.pts() >= self.ticks_from_90k_ceil(cut.pts_90k)
    }

    /// Drops samples of this publish that were never released.
    pub(crate) fn forget_held(&mut self) {
        self.follow.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::fmp4::FragmentSample;
    use crate::live::LiveOptions;
    use crate::track::fixtures::audio;

    fn frame(dts: i64) -> Timed {
        Timed {
            dts,
            sample: FragmentSample::new(Bytes::from_static(b"aac"), 0, 0, true).unwrap(),
        }
    }

    #[test]
    fn holds_samples_ahead_of_the_leader_and_starts_at_the_cut() {
        let ctx = PublishContext::new(0, SystemTime::UNIX_EPOCH, 0);
        let mut cuts = CutLog::default();
        // Leader segment 3 starts at 1 s (48000 audio ticks).
        cuts.record(
            3,
            Cut {
                pts_90k: 90_000,
                duration_90k: None,
                pdt_ms: 0,
            },
        );
        let mut follower = Rendition::new("a", audio(), LiveOptions::default(), 0);
        follower.follow.next_cut = Some(3);

        // Frames from 0.957 s to 1.3 s arrive while the leader is at 0.5 s: all held.
        let mut t = 48_000 - 2 * 1024;
        while t < 48_000 + 14 * 1024 {
            assert!(!follower.follow(frame(t), 45_000, &ctx, &cuts));
            t += 1024;
        }
        assert_eq!(follower.follow.held.len(), 16);
        // The leader reaches 1.2 s: frames presented up to then are released; the two
        // before the cut are dropped, the first at the cut opens segment 3.
        assert!(follower.release(Some(108_000), &ctx, &cuts));
        assert_eq!(follower.follow.next_cut, Some(4));
        let segment = follower.window.get(3).expect("segment 3");
        assert_eq!(segment.parts.len(), 1);
        assert_eq!(segment.parts[0].duration, 9 * 1024);
        assert!(follower.follow.held.len() < 16 - 2 - 9);
    }

    #[test]
    fn releases_anyway_when_the_leader_stalls() {
        let ctx = PublishContext::new(0, SystemTime::UNIX_EPOCH, 0);
        let cuts = CutLog::default();
        let mut follower = Rendition::new("a", audio(), LiveOptions::default(), 0);
        follower.follow.next_cut = Some(0);
        for k in 0..60 {
            follower.follow(frame(k * 1024), 0, &ctx, &cuts);
        }
        // Held back at most one segment target (1 s = 46.875 frames).
        assert!(follower.follow.held.len() <= 48);
    }
}
