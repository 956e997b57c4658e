//! The leader rendition decides where segments start: at its keyframes, once the current
//! segment has reached the segment target.

use super::rendition::{Rendition, Timed};

/// Segment state of the leader within one publish.
#[derive(Debug, Default)]
pub(crate) struct LeaderState {
    /// Number and first decode time of the segment being written.
    current: Option<(u64, i64)>,
}

/// A segment the leader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaderCut {
    pub msn: u64,
    /// The segment it ends and that segment's length in track ticks.
    pub ended: Option<(u64, i64)>,
}

impl Rendition {
    /// Whether `timed` starts a segment; `first_msn` numbers the first one of the publish.
    pub(crate) fn leader_cut(&mut self, timed: &Timed, first_msn: u64) -> Option<LeaderCut> {
        if !timed.sample.keyframe() {
            return None;
        }
        let cut = match self.lead.current {
            None => LeaderCut {
                msn: first_msn,
                ended: None,
            },
            Some((msn, start)) if timed.dts - start >= self.min_segment_ticks() => LeaderCut {
                msn: msn + 1,
                ended: Some((msn, timed.dts - start)),
            },
            Some(_) => return None,
        };
        self.lead.current = Some((cut.msn, timed.dts));
        Some(cut)
    }

    /// The segment the leader is writing and its length so far (up to the end of the last
    /// published part).
    pub(crate) fn leader_segment(&self) -> Option<(u64, i64)> {
        self.lead
            .current
            .map(|(msn, start)| (msn, self.timeline_end - start))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::fmp4::FragmentSample;
    use crate::live::LiveOptions;
    use crate::track::fixtures::video;

    fn frame(dts: i64, keyframe: bool) -> Timed {
        Timed {
            dts,
            sample: FragmentSample::new(Bytes::new(), 0, 0, keyframe).unwrap(),
        }
    }

    #[test]
    fn cuts_at_the_first_keyframe_after_the_target() {
        let mut leader = Rendition::new("v", video(), LiveOptions::default(), 0);
        assert_eq!(leader.leader_cut(&frame(0, false), 7), None);
        assert_eq!(
            leader.leader_cut(&frame(3000, true), 7),
            Some(LeaderCut {
                msn: 7,
                ended: None
            })
        );
        assert_eq!(leader.leader_cut(&frame(6000, false), 7), None);
        // A keyframe half a second in does not cut.
        assert_eq!(leader.leader_cut(&frame(48_000, true), 7), None);
        // 998 ms: within the millisecond-rounding tolerance of the 1 s target.
        let cut = leader.leader_cut(&frame(3000 + 89_820, true), 7);
        assert_eq!(
            cut,
            Some(LeaderCut {
                msn: 8,
                ended: Some((7, 89_820))
            })
        );
        assert_eq!(
            leader.leader_cut(&frame(3000 + 89_820 + 3000, true), 7),
            None
        );
    }
}
