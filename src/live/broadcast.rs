//! One broadcast: the packager window of a stream from its first publish until
//! the publisher has been gone longer than the reconnect window. Readers lock
//! it briefly to copy out a handle or render a playlist; blocked readers wait
//! on a watch channel that ticks whenever a part is published.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use packager::{BlockDecision, ConfigError, LiveOptions, LivePackager, RenditionId, TrackConfig};
use tokio::sync::watch;

use crate::recording::plan;
use crate::recording::recorder::Recorder;

/// Complete segments a broadcast needs before players are sent to it.
const PLAYABLE_SEGMENTS: u64 = 2;

pub struct Broadcast {
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// The source video rendition, when the publish has video.
    pub video: Option<RenditionId>,
    pub audio: Option<RenditionId>,
    packager: Mutex<LivePackager>,
    /// Ticks whenever a part is published or the broadcast ends.
    published: watch::Sender<u64>,
    finished: AtomicBool,
    playable: AtomicBool,
    /// Archives its segments, when broadcasts are recorded.
    recorder: Option<Recorder>,
}

/// Why a blocking request did not get what it waited for.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitError {
    /// Asked for more than two segments past the live edge.
    TooFar,
    /// Not there before the deadline.
    Timeout,
    /// The broadcast ended before it came.
    Ended,
}

impl Broadcast {
    /// A broadcast carrying the given tracks, renditions named `source` and
    /// `audio`, archived by `recorder` if there is one.
    pub fn new(
        id: String,
        options: LiveOptions,
        video: Option<TrackConfig>,
        audio: Option<TrackConfig>,
        recorder: Option<Recorder>,
    ) -> Result<Broadcast, ConfigError> {
        let mut packager = LivePackager::new(options);
        let video = video
            .map(|config| packager.add_rendition(plan::SOURCE, config))
            .transpose()?;
        let audio = audio
            .map(|config| packager.add_rendition(plan::AUDIO, config))
            .transpose()?;
        Ok(Broadcast {
            id,
            started_at: Utc::now(),
            video,
            audio,
            packager: Mutex::new(packager),
            published: watch::Sender::new(0),
            finished: false.into(),
            playable: false.into(),
            recorder,
        })
    }

    /// The packager, for a short critical section.
    pub fn packager(&self) -> MutexGuard<'_, LivePackager> {
        // A panic while holding the lock leaves a packager we still want to serve.
        self.packager
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the packager, hands what it completed to the recorder and
    /// wakes blocked readers if it published.
    pub fn publish(&self, f: impl FnOnce(&mut LivePackager) -> bool) {
        let mut packager = self.packager();
        let published = f(&mut packager);
        if let (true, Some(recorder)) = (published, &self.recorder) {
            recorder.offer(&mut packager);
        }
        drop(packager);
        if published {
            self.published.send_modify(|n| *n += 1);
        }
    }

    /// Ends the broadcast for good: playlists get ENDLIST, waiters return.
    pub fn finish(&self) {
        let mut packager = self.packager();
        packager.finish();
        if let Some(recorder) = &self.recorder {
            recorder.offer(&mut packager);
        }
        drop(packager);
        self.finished.store(true, Ordering::Release);
        self.published.send_modify(|n| *n += 1);
    }

    /// Its recorder, when broadcasts are recorded.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// Whether players should be sent here yet: the publish's own tracks
    /// (source video, audio) have a couple of complete segments. A player
    /// that joins a playlist of a few parts starts seconds behind the live
    /// edge and stays there. Transcoded rungs join later and may be shed
    /// before their first output, so they do not count. Once playable,
    /// always playable.
    pub fn is_playable(&self) -> bool {
        if self.playable.load(Ordering::Acquire) {
            return true;
        }
        let packager = self.packager();
        let ready = [self.video, self.audio].into_iter().flatten().all(|id| {
            packager
                .position(id)
                .is_some_and(|p| p.msn >= PLAYABLE_SEGMENTS)
        });
        let playable = ready && (self.video.is_some() || self.audio.is_some());
        self.playable.store(playable, Ordering::Release);
        playable
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Waits until part `part` of segment `msn` (or the whole segment when
    /// `part` is None) of a rendition is published.
    pub async fn wait_for(
        &self,
        rendition: RenditionId,
        msn: u64,
        part: Option<u32>,
        deadline: Instant,
    ) -> Result<(), WaitError> {
        let mut ticks = self.published.subscribe();
        loop {
            match self.packager().block_decision(rendition, msn, part) {
                BlockDecision::Ready | BlockDecision::Gone => return Ok(()),
                BlockDecision::TooFar => return Err(WaitError::TooFar),
                BlockDecision::Wait if self.is_finished() => return Err(WaitError::Ended),
                BlockDecision::Wait => {}
            }
            match tokio::time::timeout_at(deadline.into(), ticks.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(WaitError::Ended),
                Err(_) => return Err(WaitError::Timeout),
            }
        }
    }
}
