//! The published segments and parts of one rendition, bounded by the DVR window.

use std::collections::VecDeque;

use bytes::Bytes;

use super::block::{BlockDecision, Position};
use crate::bitrate::bits_per_second;

const NANOS_PER_SECOND: u128 = 1_000_000_000;
/// The same, as the timescale of nanosecond durations.
const NANOS_PER_SECOND_U32: u32 = 1_000_000_000;

/// One published part.
#[derive(Debug)]
pub(crate) struct Part {
    /// Duration in the segment's timescale.
    pub duration: u32,
    /// Starts with a sync sample.
    pub independent: bool,
}

/// One segment: complete, still receiving parts (the last one), or a gap.
#[derive(Debug)]
pub(crate) struct Segment {
    pub msn: u64,
    pub discontinuity: u32,
    /// Number of the init segment (EXT-X-MAP) its media needs.
    pub init: u32,
    pub timescale: u32,
    /// Presentation time of its first sample (for a gap: of the leader's segment), in
    /// `timescale` ticks.
    pub start: u64,
    /// Sum of the part durations (for a gap: the leader's duration), in `timescale` ticks.
    pub duration: u64,
    pub duration_ns: u64,
    /// EXT-X-PROGRAM-DATE-TIME, in milliseconds since the Unix epoch.
    pub pdt_ms: i64,
    pub parts: Vec<Part>,
    /// The parts' moof+mdat bytes in order (none for a gap): the segment resource is
    /// these chunks, never a copy, and part N is chunk N.
    pub chunks: Vec<Bytes>,
    pub len: u64,
    pub samples: u64,
    pub complete: bool,
    /// No media: this rendition has nothing for the leader's segment of this number.
    pub gap: bool,
}

/// What a new segment needs to know up front.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentHeader {
    pub msn: u64,
    pub discontinuity: u32,
    pub init: u32,
    pub timescale: u32,
    pub start: u64,
    pub pdt_ms: i64,
}

/// Bitrate and frame rate measured over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measured {
    pub peak_bps: u64,
    pub average_bps: u64,
    pub frame_rate: f64,
}

/// Segments of one rendition, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Window {
    segments: VecDeque<Segment>,
    /// The number the next opened segment gets.
    next_msn: u64,
    /// Sum of `duration_ns` over all segments.
    total_ns: u64,
    /// The parts of segments before this number are no longer listed.
    parts_listed_from: u64,
    /// Longest complete segment in the window.
    longest_ns: u64,
    /// Segments completed since [`Window::take_completed`] last ran, oldest first (only
    /// those still in the window).
    completed: VecDeque<u64>,
}

impl Window {
    pub(crate) fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// Moves the numbering forward, for a rendition that starts after others did.
    pub(crate) fn skip_to(&mut self, msn: u64) {
        self.next_msn = self.next_msn.max(msn);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub(crate) fn segments(&self) -> impl DoubleEndedIterator<Item = &Segment> + ExactSizeIterator {
        self.segments.iter()
    }

    pub(crate) fn first_msn(&self) -> u64 {
        self.segments.front().map_or(self.next_msn, |s| s.msn)
    }

    pub(crate) fn last(&self) -> Option<&Segment> {
        self.segments.back()
    }

    pub(crate) fn get(&self, msn: u64) -> Option<&Segment> {
        let index = msn.checked_sub(self.first_msn())?;
        self.segments.get(usize::try_from(index).ok()?)
    }

    /// The open segment, if the last one is still receiving parts.
    pub(crate) fn open_segment(&self) -> Option<&Segment> {
        self.segments.back().filter(|s| !s.complete)
    }

    /// Starts a segment; the previous one is completed first.
    pub(crate) fn open(&mut self, header: SegmentHeader) {
        self.close();
        self.next_msn = header.msn + 1;
        self.segments.push_back(Segment {
            msn: header.msn,
            discontinuity: header.discontinuity,
            init: header.init,
            timescale: header.timescale,
            start: header.start,
            duration: 0,
            duration_ns: 0,
            pdt_ms: header.pdt_ms,
            parts: Vec::new(),
            chunks: Vec::new(),
            len: 0,
            samples: 0,
            complete: false,
            gap: false,
        });
    }

    /// Adds a complete segment without media, standing for the leader's segment `msn`.
    ///
    /// Its `duration` is split into parts of at most `part_duration`, listed with GAP=YES
    /// like any part: a player's next blocking reload then follows the live edge (parts
    /// only in an older segment would keep it asking for that segment's next part), and
    /// it meets the gap at the part it plays next.
    pub(crate) fn push_gap(&mut self, header: SegmentHeader, duration: u64, part_duration: u32) {
        self.open(header);
        if let Some(gap) = self.segments.back_mut() {
            let part_duration = u64::from(part_duration.max(1));
            let mut left = duration;
            while left > 0 {
                let this = left.min(part_duration);
                gap.parts.push(Part {
                    duration: u32::try_from(this).unwrap_or(u32::MAX),
                    independent: false,
                });
                left -= this;
            }
            gap.gap = true;
            gap.complete = true;
            self.completed.push_back(gap.msn);
            gap.duration = duration;
            gap.duration_ns = nanos(duration, header.timescale);
            self.total_ns += gap.duration_ns;
            self.longest_ns = self.longest_ns.max(gap.duration_ns);
        }
    }

    /// Appends a part to the open segment. Returns false if no segment is open.
    pub(crate) fn append_part(
        &mut self,
        duration: u32,
        independent: bool,
        samples: usize,
        data: Bytes,
    ) -> bool {
        let Some(segment) = self.segments.back_mut().filter(|s| !s.complete) else {
            return false;
        };
        self.total_ns -= segment.duration_ns;
        segment.duration += u64::from(duration);
        segment.duration_ns = nanos(segment.duration, segment.timescale);
        self.total_ns += segment.duration_ns;
        segment.len += data.len() as u64;
        segment.samples += samples as u64;
        segment.chunks.push(data);
        segment.parts.push(Part {
            duration,
            independent,
        });
        true
    }

    /// Completes the open segment, if any, and returns whether one was completed. An open
    /// segment without parts is discarded.
    pub(crate) fn close(&mut self) -> bool {
        let Some(segment) = self.segments.back_mut().filter(|s| !s.complete) else {
            return false;
        };
        if segment.parts.is_empty() {
            self.next_msn = segment.msn;
            self.segments.pop_back();
            return false;
        }
        segment.complete = true;
        self.longest_ns = self.longest_ns.max(segment.duration_ns);
        self.completed.push_back(segment.msn);
        true
    }

    /// The segments completed since the last call, oldest first; those already dropped
    /// from the window are not.
    pub(crate) fn take_completed(&mut self) -> Vec<&Segment> {
        let first = self.first_msn();
        let msns: Vec<u64> = self
            .completed
            .drain(..)
            .filter(|msn| *msn >= first)
            .collect();
        msns.into_iter().filter_map(|msn| self.get(msn)).collect()
    }

    /// The longest complete segment rounded to whole seconds, at least `min_secs`.
    ///
    /// RFC 8216bis requires each EXTINF rounded to the nearest integer to be at most the
    /// target duration. Rounding (not the ceiling) matters: segments cut at the first
    /// keyframe or AAC frame after one second last 1.001 or 1.003 s, and a ceiling would
    /// double the target duration and with it HOLD-BACK.
    pub(crate) fn target_duration(&self, min_secs: u64) -> u64 {
        let nanos_per_second = NANOS_PER_SECOND as u64;
        ((self.longest_ns + nanos_per_second / 2) / nanos_per_second).max(min_secs)
    }

    /// Drops segments that ended more than `dvr_ns` before the live edge, and stops listing
    /// the parts of segments that ended more than `parts_ns` before it.
    pub(crate) fn trim(&mut self, dvr_ns: u64, parts_ns: u64) {
        self.trim_segments(dvr_ns);
        let first = self.first_msn();
        while self.completed.front().is_some_and(|msn| *msn < first) {
            self.completed.pop_front();
        }
        self.stop_listing_old_parts(parts_ns);
    }

    fn trim_segments(&mut self, dvr_ns: u64) {
        while let Some(front) = self.segments.front() {
            let ended_ago = self.total_ns - front.duration_ns;
            if !front.complete || ended_ago <= dvr_ns {
                break;
            }
            self.total_ns -= front.duration_ns;
            let dropped_longest = front.duration_ns == self.longest_ns;
            self.segments.pop_front();
            if dropped_longest {
                self.longest_ns = self
                    .segments
                    .iter()
                    .filter(|s| s.complete)
                    .map(|s| s.duration_ns)
                    .max()
                    .unwrap_or(0);
            }
        }
    }

    fn stop_listing_old_parts(&mut self, parts_ns: u64) {
        let mut ended_ago = 0;
        let mut keep_from = self.first_msn();
        for segment in self.segments.iter().rev() {
            if segment.complete && ended_ago > parts_ns {
                keep_from = segment.msn + 1;
                break;
            }
            ended_ago += segment.duration_ns;
        }
        self.parts_listed_from = self.parts_listed_from.max(keep_from);
    }

    /// True while the parts of `segment` are listed.
    pub(crate) fn lists_parts(&self, segment: &Segment) -> bool {
        segment.msn >= self.parts_listed_from
    }

    /// Duration of all segments in the window.
    pub(crate) fn total_ns(&self) -> u64 {
        self.total_ns
    }

    /// The newest published part.
    pub(crate) fn position(&self) -> Option<Position> {
        let last = self.segments.back()?;
        Some(Position {
            msn: last.msn,
            part: u32::try_from(last.parts.len().saturating_sub(1)).unwrap_or(u32::MAX),
        })
    }

    /// Whether a blocking request for `msn` (and `part`) can be answered now.
    pub(crate) fn block_decision(&self, msn: u64, part: Option<u32>) -> BlockDecision {
        if msn < self.first_msn() {
            return BlockDecision::Gone;
        }
        if let Some(segment) = self.get(msn) {
            let part_published = part.is_some_and(|p| (p as usize) < segment.parts.len());
            if segment.complete || part_published {
                return BlockDecision::Ready;
            }
            return BlockDecision::Wait;
        }
        // RFC 8216bis 6.2.5.2: more than two segments beyond the last one is a bad request.
        let last = self
            .segments
            .back()
            .map_or(i128::from(self.next_msn) - 1, |s| i128::from(s.msn));
        if i128::from(msn) > last + 2 {
            BlockDecision::TooFar
        } else {
            BlockDecision::Wait
        }
    }

    /// The whole segment `msn` as its parts' chunks.
    pub(crate) fn segment_chunks(&self, msn: u64) -> Option<(&[Bytes], u64)> {
        let segment = self.get(msn).filter(|s| s.complete && !s.gap)?;
        Some((&segment.chunks, segment.len))
    }

    /// Part `part` of segment `msn`, while the segment is in the window.
    ///
    /// Served after the playlist stops listing it: a player that switches level or
    /// falls behind asks for parts from a playlist it loaded a few seconds before, and
    /// a 404 there makes hls.js give up the level. The bytes are the segment's anyway.
    pub(crate) fn part(&self, msn: u64, part: u32) -> Option<&Bytes> {
        self.get(msn)?.chunks.get(part as usize)
    }

    /// Lowest discontinuity number still referenced.
    pub(crate) fn first_discontinuity(&self) -> Option<u32> {
        self.segments.front().map(|s| s.discontinuity)
    }

    /// Lowest init segment number still referenced.
    pub(crate) fn first_init(&self) -> Option<u32> {
        self.segments.front().map(|s| s.init)
    }

    /// Bitrates over complete segments (falling back to the open one) and frame rate over all.
    pub(crate) fn measure(&self) -> Option<Measured> {
        let media = || self.segments.iter().filter(|s| !s.gap && s.duration_ns > 0);
        let complete: Vec<&Segment> = media().filter(|s| s.complete).collect();
        let measured: Vec<&Segment> = if complete.is_empty() {
            media().collect()
        } else {
            complete
        };
        if measured.is_empty() {
            return None;
        }
        let bps = |s: &Segment| bits_per_second(s.len, s.duration_ns, NANOS_PER_SECOND_U32);
        let peak_bps = measured.iter().map(|s| bps(s)).max().unwrap_or(0);
        let (len, ns) = measured
            .iter()
            .fold((0, 0), |(len, ns), s| (len + s.len, ns + s.duration_ns));
        let (samples, all_ns) =
            media().fold((0, 0), |(n, ns), s| (n + s.samples, ns + s.duration_ns));
        Some(Measured {
            peak_bps,
            average_bps: bits_per_second(len, ns, NANOS_PER_SECOND_U32),
            frame_rate: samples as f64 * NANOS_PER_SECOND as f64 / all_ns as f64,
        })
    }
}

/// `ticks` of `timescale` Hz in nanoseconds.
pub(crate) fn nanos(ticks: u64, timescale: u32) -> u64 {
    u64::try_from(u128::from(ticks) * NANOS_PER_SECOND / u128::from(timescale.max(1)))
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(msn: u64) -> SegmentHeader {
        SegmentHeader {
            msn,
            discontinuity: 0,
            init: 0,
            timescale: 1000,
            start: msn * 1000,
            pdt_ms: 0,
        }
    }

    /// A window of `count` one-second segments of five 200 ms parts each.
    fn window(count: u64) -> Window {
        let mut w = Window::default();
        for msn in 0..count {
            w.open(header(msn));
            for p in 0..5 {
                assert!(w.append_part(200, p == 0, 6, Bytes::from(vec![0u8; 100])));
            }
        }
        w
    }

    #[test]
    fn segments_collect_their_parts() {
        let mut w = window(2);
        w.close();
        let s = w.get(1).unwrap();
        assert_eq!(
            (s.duration, s.duration_ns, s.len, s.samples),
            (1000, 1_000_000_000, 500, 30)
        );
        assert_eq!(w.segment_chunks(1).unwrap().0.len(), 5);
        assert_eq!(w.total_ns(), 2_000_000_000);
        assert_eq!(w.position(), Some(Position { msn: 1, part: 4 }));
        assert_eq!(w.target_duration(1), 1);
        assert_eq!(w.target_duration(2), 2);
    }

    #[test]
    fn completed_segments_are_taken_once_while_in_the_window() {
        let mut w = window(3);
        let taken: Vec<(u64, u64, bool)> = w
            .take_completed()
            .iter()
            .map(|s| (s.msn, s.start, s.gap))
            .collect();
        // The third is still open.
        assert_eq!(taken, [(0, 0, false), (1, 1000, false)]);
        assert!(w.take_completed().is_empty());
        w.push_gap(header(3), 1000, 200);
        let taken: Vec<(u64, bool)> = w.take_completed().iter().map(|s| (s.msn, s.gap)).collect();
        assert_eq!(taken, [(2, false), (3, true)]);
        // Completed, then dropped by the DVR window before anyone took them.
        let mut w = window(20);
        w.close();
        w.trim(5_000_000_000, 1_000_000_000);
        let first = w.take_completed().first().map(|s| s.msn);
        assert_eq!(first, Some(w.first_msn()));
    }

    #[test]
    fn target_duration_rounds_to_the_nearest_second() {
        let mut w = Window::default();
        w.open(header(0));
        w.append_part(1499, true, 1, Bytes::new());
        w.close();
        assert_eq!(w.target_duration(1), 1);
        w.open(header(1));
        w.append_part(2500, true, 1, Bytes::new());
        w.close();
        assert_eq!(w.target_duration(1), 3);
    }

    #[test]
    fn dvr_drops_old_segments_and_lists_only_recent_parts() {
        let mut w = window(20);
        // 10 s window, parts listed for 3 s.
        w.trim(10_000_000_000, 3_000_000_000);
        assert_eq!(w.first_msn(), 9);
        let listed = |w: &Window, msn| w.lists_parts(w.get(msn).unwrap());
        assert!(!listed(&w, 15));
        assert!(listed(&w, 16));
        // Parts no longer listed are still served while their segment is in the window.
        assert_eq!(w.part(9, 4).map(Bytes::len), Some(100));
        assert!(w.part(9, 5).is_none());
        assert!(w.part(8, 0).is_none());
        assert!(w.segment_chunks(10).is_some());
        assert!(w.get(8).is_none());
        assert_eq!(w.block_decision(8, None), BlockDecision::Gone);
    }

    #[test]
    fn block_decisions() {
        let w = window(3); // segment 2 open with 5 parts
        assert_eq!(w.block_decision(1, None), BlockDecision::Ready);
        assert_eq!(w.block_decision(2, Some(4)), BlockDecision::Ready);
        assert_eq!(w.block_decision(2, Some(5)), BlockDecision::Wait);
        assert_eq!(w.block_decision(2, None), BlockDecision::Wait);
        assert_eq!(w.block_decision(4, Some(0)), BlockDecision::Wait);
        assert_eq!(w.block_decision(5, Some(0)), BlockDecision::TooFar);
        let empty = Window::default();
        assert_eq!(empty.block_decision(1, Some(0)), BlockDecision::Wait);
        assert_eq!(empty.block_decision(2, Some(0)), BlockDecision::TooFar);
    }

    #[test]
    fn empty_open_segment_is_discarded() {
        let mut w = window(1);
        w.open(header(1));
        w.close();
        assert_eq!(w.next_msn(), 1);
        assert!(w.get(1).is_none());
    }

    #[test]
    fn measures_bitrate_and_frame_rate() {
        let mut w = window(2);
        w.close();
        let m = w.measure().unwrap();
        assert_eq!(m.peak_bps, 4000);
        assert_eq!(m.average_bps, 4000);
        assert!((m.frame_rate - 30.0).abs() < 1e-9);
    }
}
