//! Where the leader cut its segments: the times every follower cuts at.

use std::collections::VecDeque;

/// The start of one leader segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Presentation time of the leader keyframe that starts the segment, output 90 kHz.
    pub pts_90k: i64,
    /// Length of the leader segment in 90 kHz ticks, once it is complete.
    pub duration_90k: Option<u64>,
    /// Its EXT-X-PROGRAM-DATE-TIME, in Unix milliseconds.
    pub pdt_ms: i64,
}

/// Cuts by media sequence number, for the numbers followers may still need.
#[derive(Debug, Default)]
pub(crate) struct CutLog {
    first_msn: u64,
    cuts: VecDeque<Cut>,
}

impl CutLog {
    /// Records the cut starting segment `msn`. Numbers are consecutive within a broadcast;
    /// should they not be, the log restarts at `msn`.
    pub(crate) fn record(&mut self, msn: u64, cut: Cut) {
        if msn != self.first_msn + self.cuts.len() as u64 {
            self.cuts.clear();
            self.first_msn = msn;
        }
        self.cuts.push_back(cut);
    }

    pub(crate) fn get(&self, msn: u64) -> Option<&Cut> {
        let index = msn.checked_sub(self.first_msn)?;
        self.cuts.get(usize::try_from(index).ok()?)
    }

    /// Sets the length of the leader segment `msn`.
    pub(crate) fn complete(&mut self, msn: u64, duration_90k: u64) {
        let index = msn
            .checked_sub(self.first_msn)
            .and_then(|i| usize::try_from(i).ok());
        if let Some(cut) = index.and_then(|i| self.cuts.get_mut(i)) {
            cut.duration_90k = Some(duration_90k);
        }
    }

    /// Forgets cuts before `msn`.
    pub(crate) fn forget_before(&mut self, msn: u64) {
        while self.first_msn < msn && self.cuts.pop_front().is_some() {
            self.first_msn += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(pts_90k: i64) -> Cut {
        Cut {
            pts_90k,
            duration_90k: None,
            pdt_ms: 0,
        }
    }

    #[test]
    fn keeps_cuts_by_number() {
        let mut log = CutLog::default();
        log.record(5, cut(0));
        log.record(6, cut(90_000));
        log.complete(5, 90_000);
        assert_eq!(log.get(5).unwrap().duration_90k, Some(90_000));
        assert!(log.get(4).is_none());
        log.forget_before(6);
        assert!(log.get(5).is_none());
        assert_eq!(log.get(6).unwrap().pts_90k, 90_000);
        log.record(9, cut(1));
        assert!(log.get(6).is_none());
        assert_eq!(log.get(9).unwrap().pts_90k, 1);
    }
}
