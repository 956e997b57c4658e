//! Groups one track's samples into parts.
//!
//! A part closes when the next sample would make it longer than the part target; the last
//! sample's duration is only known when the following sample arrives, so a part is complete
//! (and published) at the earliest when its successor's first sample is seen.

use std::mem;

use crate::fmp4::FragmentSample;

/// A finished part: consecutive samples with known durations.
#[derive(Debug)]
pub(crate) struct ClosedPart {
    /// Decode time of the first sample, in track ticks.
    pub base_dts: u64,
    pub samples: Vec<FragmentSample>,
    /// Set when this part is the first of segment `msn`.
    pub starts_segment: Option<u64>,
}

/// What the builder produced, in order.
#[derive(Debug)]
pub(crate) enum Event {
    Part(ClosedPart),
    /// The segment being filled is complete; the next part starts another.
    SegmentEnd,
}

/// Part assembly of one track, in its own timescale.
#[derive(Debug)]
pub(crate) struct PartBuilder {
    /// Part target plus tolerance, in track ticks.
    limit: u64,
    /// Samples of the part being filled. All but the last have their duration set.
    pending: Vec<FragmentSample>,
    /// Decode time of `pending[0]`.
    part_start: u64,
    /// Decode time of the last pending sample.
    last_dts: u64,
    /// Segment that the pending part (or, when empty, the next sample) starts.
    starts_segment: Option<u64>,
    /// Duration of the previous sample: the best guess for the current one.
    last_duration: Option<u32>,
}

impl PartBuilder {
    pub(crate) fn new(limit: u64) -> Self {
        PartBuilder {
            limit,
            pending: Vec::new(),
            part_start: 0,
            last_dts: 0,
            starts_segment: None,
            last_duration: None,
        }
    }

    /// Adds a sample whose decode time is `dts` (strictly after the previous one). With
    /// `starts_segment`, the sample opens segment `msn`: the pending part is closed and a
    /// segment end emitted first.
    pub(crate) fn push(
        &mut self,
        dts: u64,
        sample: FragmentSample,
        starts_segment: Option<u64>,
        out: &mut Vec<Event>,
    ) {
        if !self.pending.is_empty() {
            self.end_last_sample(dts);
            self.close_overflow(dts, out);
        }
        if let Some(msn) = starts_segment {
            self.close(self.pending.len(), out);
            out.push(Event::SegmentEnd);
            self.starts_segment = Some(msn);
        }
        if self.pending.is_empty() {
            self.part_start = dts;
        }
        self.pending.push(sample);
        self.last_dts = dts;
        // Publish now rather than at the next sample if this one will not fit anyway.
        if self.pending.len() > 1 && !self.fits_in_pending_part(dts) {
            self.close(self.pending.len() - 1, out);
        }
    }

    /// Whether a sample at `dts`, lasting as long as the one before it, ends within the
    /// pending part's limit.
    fn fits_in_pending_part(&self, dts: u64) -> bool {
        let estimate = u64::from(self.last_duration.unwrap_or(0));
        (dts + estimate).saturating_sub(self.part_start) <= self.limit
    }

    /// Splits the pending samples for a segment cut: the first sample matching `is_cut`
    /// (given its decode time) opens segment `msn`, the samples before it end the current
    /// segment. Returns false when no pending sample matches.
    pub(crate) fn split_at(
        &mut self,
        msn: u64,
        mut is_cut: impl FnMut(u64, &FragmentSample) -> bool,
        out: &mut Vec<Event>,
    ) -> bool {
        let mut dts = self.part_start;
        let mut found = None;
        for (index, sample) in self.pending.iter().enumerate() {
            if is_cut(dts, sample) {
                found = Some(index);
                break;
            }
            dts += u64::from(sample.duration());
        }
        let Some(index) = found else {
            return false;
        };
        self.close(index, out);
        out.push(Event::SegmentEnd);
        self.starts_segment = Some(msn);
        true
    }

    /// Ends the current segment at the next part boundary: the pending part (or the next
    /// sample) opens segment `msn`.
    pub(crate) fn cut_at_part_boundary(&mut self, msn: u64, out: &mut Vec<Event>) {
        out.push(Event::SegmentEnd);
        self.starts_segment = Some(msn);
    }

    /// The segment that the next part opens, when it opens one.
    pub(crate) fn next_part_opens(&self) -> Option<u64> {
        self.starts_segment
    }

    /// Whether the current segment can end at its last published part, the samples pending
    /// after it opening the next segment with the sample at `next_dts`: the segment has a
    /// published part, and the pending samples are sync samples that are no full part yet
    /// (one more sample would still fit).
    pub(crate) fn can_end_at_published_part(&self, next_dts: u64) -> bool {
        !self.pending.is_empty()
            && self.starts_segment.is_none()
            && self.fits_in_pending_part(next_dts)
            && self.pending.iter().all(FragmentSample::keyframe)
    }

    /// Publishes everything pending and ends the segment. The last sample lasts as long as
    /// the one before it, or `fallback` ticks if it is the only one seen.
    pub(crate) fn flush(&mut self, fallback: u32, out: &mut Vec<Event>) {
        self.drain(fallback, out);
        out.push(Event::SegmentEnd);
        self.starts_segment = None;
    }

    /// Publishes everything pending without ending the segment, for a track that stops
    /// here for a while. The last sample's duration is guessed as in [`PartBuilder::flush`].
    pub(crate) fn drain(&mut self, fallback: u32, out: &mut Vec<Event>) {
        if !self.pending.is_empty() {
            let duration = self.last_duration.unwrap_or(fallback);
            let end = self.last_dts + u64::from(duration);
            self.end_last_sample(end);
            self.close_overflow(end, out);
            self.close(self.pending.len(), out);
        }
        self.last_duration = None;
    }

    fn end_last_sample(&mut self, next_dts: u64) {
        let duration = u32::try_from(next_dts - self.last_dts).unwrap_or(u32::MAX);
        if let Some(last) = self.pending.last_mut() {
            last.set_duration(duration);
        }
        self.last_duration = Some(duration);
    }

    /// Closes parts until the pending samples, which end at `end`, fit the limit. A single
    /// sample longer than the limit becomes a part of its own.
    fn close_overflow(&mut self, end: u64, out: &mut Vec<Event>) {
        while !self.pending.is_empty() && end - self.part_start > self.limit {
            let keep_last = usize::from(self.pending.len() > 1);
            self.close(self.pending.len() - keep_last, out);
        }
    }

    /// Publishes the first `count` pending samples as a part.
    fn close(&mut self, count: usize, out: &mut Vec<Event>) {
        if count == 0 {
            return;
        }
        let rest = self.pending.split_off(count);
        let samples = mem::replace(&mut self.pending, rest);
        let base_dts = self.part_start;
        self.part_start += samples.iter().map(|s| u64::from(s.duration())).sum::<u64>();
        out.push(Event::Part(ClosedPart {
            base_dts,
            samples,
            starts_segment: self.starts_segment.take(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn sample(keyframe: bool) -> FragmentSample {
        FragmentSample::new(Bytes::from_static(b"x"), 0, 0, keyframe).unwrap()
    }

    fn parts(events: &[Event]) -> Vec<(u64, Vec<u32>, Option<u64>)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Part(p) => Some((
                    p.base_dts,
                    p.samples.iter().map(|s| s.duration()).collect(),
                    p.starts_segment,
                )),
                Event::SegmentEnd => None,
            })
            .collect()
    }

    #[test]
    fn closes_parts_at_the_target() {
        // 30 fps in 90 kHz, 200 ms parts: six frames each, published when frame 7 arrives.
        let mut builder = PartBuilder::new(18_000 + 180);
        let mut out = Vec::new();
        for k in 0..6 {
            builder.push(k * 3000, sample(k == 0), (k == 0).then_some(0), &mut out);
        }
        assert!(parts(&out).is_empty());
        builder.push(18_000, sample(false), None, &mut out);
        assert_eq!(parts(&out), vec![(0, vec![3000; 6], Some(0))]);
    }

    #[test]
    fn late_sample_splits_one_earlier() {
        // The sixth frame turns out to be long: the part must end before it.
        let mut builder = PartBuilder::new(18_000 + 180);
        let mut out = Vec::new();
        for k in 0..6 {
            builder.push(k * 3000, sample(false), None, &mut out);
        }
        builder.push(15_000 + 3400, sample(false), None, &mut out);
        assert_eq!(parts(&out), vec![(0, vec![3000; 5], None)]);
        builder.flush(3000, &mut out);
        let all = parts(&out);
        assert_eq!(all[1], (15_000, vec![3400, 3400], None));
    }

    #[test]
    fn segment_start_closes_the_pending_part() {
        let mut builder = PartBuilder::new(18_180);
        let mut out = Vec::new();
        builder.push(0, sample(true), Some(4), &mut out);
        builder.push(3000, sample(false), None, &mut out);
        builder.push(6000, sample(true), Some(5), &mut out);
        builder.flush(3000, &mut out);
        assert_eq!(
            parts(&out),
            vec![(0, vec![3000, 3000], Some(4)), (6000, vec![3000], Some(5))]
        );
        assert!(matches!(
            out[..3],
            [Event::SegmentEnd, Event::Part(_), Event::SegmentEnd]
        ));
    }

    #[test]
    fn drain_publishes_without_ending_the_segment() {
        let mut builder = PartBuilder::new(18_180);
        let mut out = Vec::new();
        builder.push(0, sample(true), Some(4), &mut out);
        builder.push(3000, sample(false), None, &mut out);
        builder.drain(1000, &mut out);
        assert_eq!(parts(&out), vec![(0, vec![3000, 3000], Some(4))]);
        assert!(matches!(out[..], [Event::SegmentEnd, Event::Part(_)]));
    }

    #[test]
    fn split_at_first_matching_sample() {
        let mut builder = PartBuilder::new(100_000);
        let mut out = Vec::new();
        for k in 0..5 {
            builder.push(k * 1024, sample(true), None, &mut out);
        }
        assert!(!builder.split_at(1, |dts, _| dts >= 9000, &mut out));
        assert!(builder.split_at(1, |dts, _| dts >= 2000, &mut out));
        builder.flush(1024, &mut out);
        assert_eq!(
            parts(&out),
            vec![(0, vec![1024; 2], None), (2048, vec![1024; 3], Some(1))]
        );
    }

    #[test]
    fn a_segment_ends_at_its_last_published_part() {
        // 48 kHz AAC, 200 ms parts of 9 frames: frames 9 to 16 are no full part yet.
        let mut builder = PartBuilder::new(9600 + 96);
        let mut out = Vec::new();
        builder.push(0, sample(true), Some(0), &mut out);
        assert!(
            !builder.can_end_at_published_part(1024),
            "the segment's first part"
        );
        for k in 1..17 {
            builder.push(k * 1024, sample(true), None, &mut out);
        }
        assert!(builder.can_end_at_published_part(17 * 1024));
        builder.push(17 * 1024, sample(true), None, &mut out);
        assert!(
            !builder.can_end_at_published_part(18 * 1024),
            "nine frames are a full part"
        );
        builder.cut_at_part_boundary(1, &mut out);
        builder.push(18 * 1024, sample(true), None, &mut out);
        builder.flush(1024, &mut out);
        assert_eq!(
            parts(&out),
            vec![
                (0, vec![1024; 9], Some(0)),
                (9 * 1024, vec![1024; 9], Some(1)),
                (18 * 1024, vec![1024], None)
            ]
        );
    }

    #[test]
    fn video_cannot_end_a_segment_before_its_keyframe() {
        let mut builder = PartBuilder::new(18_180);
        let mut out = Vec::new();
        for k in 0..8 {
            builder.push(k * 3000, sample(k == 0), (k == 0).then_some(0), &mut out);
        }
        assert!(!builder.can_end_at_published_part(8 * 3000));
    }

    #[test]
    fn single_long_sample_is_its_own_part() {
        let mut builder = PartBuilder::new(1000);
        let mut out = Vec::new();
        builder.push(0, sample(true), None, &mut out);
        builder.push(5000, sample(true), None, &mut out);
        assert_eq!(parts(&out), vec![(0, vec![5000], None)]);
    }
}
