//! Taking a rendition out of service and bringing it back, as the server does when it sheds
//! an expensive transcoded rung under load and restores it later.
//!
//! Out of service, a rendition is left out of the master playlist and of the other
//! renditions' reports, its samples are dropped, and every further leader segment becomes a
//! gap segment in its own playlist: segment numbers stay aligned, and a player still on it
//! skips the gaps or switches away. Back in service it joins at the leader's next segment, as
//! a rendition added during a publish does.

use super::cuts::CutLog;
use super::follower::FollowerState;
use super::rendition::{PublishContext, Rendition};
use super::{LivePackager, choose_leader, leader_msn};
use crate::error::ActivationError;
use crate::track::RenditionId;

impl LivePackager {
    /// Takes a rendition out of service. The leader stays in service (between publishes:
    /// the rendition that would lead the next one). Doing it twice does nothing.
    ///
    /// Its pending samples become a final part (samples held back ahead of the leader are
    /// dropped) and its open segment is completed at the leader's next cut. Then, until
    /// [`LivePackager::activate`]: the master playlist and the other renditions'
    /// EXT-X-RENDITION-REPORT tags leave it out; its own playlist gets an EXT-X-GAP segment
    /// for every further leader segment (same number and duration, GAP=YES parts, nothing behind
    /// its URI) and no preload hint; samples pushed for it are dropped.
    ///
    /// The final part is published by this call: wake blocked readers afterwards.
    pub fn deactivate(&mut self, id: RenditionId) -> Result<(), ActivationError> {
        if id.0 >= self.renditions.len() {
            return Err(ActivationError::UnknownRendition(id));
        }
        if self.leader_index() == Some(id.0) {
            return Err(ActivationError::Leader(id));
        }
        let timeline = self.publish.as_ref().and_then(|p| p.timeline);
        let rendition = &mut self.renditions[id.0];
        if !rendition.active {
            return Ok(());
        }
        rendition.active = false;
        rendition.preroll.clear();
        rendition.forget_held();
        if let Some(timeline) = timeline {
            rendition.drain(&timeline.ctx, &self.cuts);
        }
        rendition.follow = FollowerState::default();
        Ok(())
    }

    /// Brings a rendition back into service. During a publish it starts the leader's next
    /// segment with its first keyframe presented at or after that segment's cut, as a
    /// rendition added during a publish does; until then its playlist gets a gap for every
    /// leader segment it misses. A config set while it was out of service takes effect now:
    /// the segment it rejoins with refers to a new init segment (a new EXT-X-MAP, no
    /// discontinuity: its timeline goes on). Doing it twice does nothing.
    pub fn activate(&mut self, id: RenditionId) -> Result<(), ActivationError> {
        let follow = match &self.publish {
            Some(publish) if publish.timeline.is_some() => {
                FollowerState::joining(leader_msn(&self.renditions, publish.leader))
            }
            _ => FollowerState::default(),
        };
        let rendition = self
            .renditions
            .get_mut(id.0)
            .ok_or(ActivationError::UnknownRendition(id))?;
        if rendition.active {
            return Ok(());
        }
        rendition.active = true;
        rendition.adopt_config();
        rendition.follow = follow;
        Ok(())
    }

    /// Whether a rendition is in service (false for an unknown id).
    pub fn is_active(&self, id: RenditionId) -> bool {
        self.renditions.get(id.0).is_some_and(|r| r.active)
    }

    /// The rendition leading the publish in progress, or else the one that would lead the
    /// next publish.
    fn leader_index(&self) -> Option<usize> {
        match &self.publish {
            Some(publish) => publish.leader,
            None => choose_leader(self.renditions.iter()),
        }
    }
}

impl Rendition {
    /// The leader started segment `msn` while this rendition is out of service: its open
    /// segment is completed and the leader's completed segments become gaps. Returns true if
    /// its playlist changed.
    pub(crate) fn idle_until(&mut self, msn: u64, ctx: &PublishContext, cuts: &CutLog) -> bool {
        let was_open = self.window.open_segment().is_some();
        self.window.close();
        let gaps = self.fill_gaps(msn, ctx, cuts);
        gaps || was_open
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::live::LiveOptions;
    use crate::track::Sample;
    use crate::track::fixtures::{audio, video};

    fn frame(dts: i64, keyframe: bool) -> Sample {
        Sample {
            dts,
            pts: dts,
            keyframe,
            data: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn a_rendition_out_of_service_pins_no_cuts() {
        let mut packager = LivePackager::new(LiveOptions::default());
        let leader = packager.add_rendition("v", video()).unwrap();
        let sound = packager.add_rendition("a", audio()).unwrap();
        let rung = packager.add_rendition("low", video()).unwrap();
        packager.begin_publish(SystemTime::UNIX_EPOCH);
        for n in 0..30 * 20 {
            let dts = n * 3000;
            packager.push(leader, frame(dts, n % 30 == 0)).unwrap();
            if n == 45 {
                packager.deactivate(rung).unwrap();
            }
            packager.push(rung, frame(dts, n % 30 == 0)).unwrap();
            packager.push(sound, frame(dts, true)).unwrap();
        }
        // The audio and the gaps of the rung only need the leader's current segment.
        assert!(packager.cuts.get(17).is_none());
        assert!(packager.cuts.get(19).is_some());
        let gaps = packager.renditions[rung.0]
            .window
            .segments()
            .filter(|s| s.gap)
            .count();
        assert_eq!(gaps, 17);
    }
}
