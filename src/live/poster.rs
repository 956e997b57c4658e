//! The live poster: a JPEG of a recent source keyframe, refreshed every few
//! seconds, for stream lists and the watch page before play.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ingest::{Frame, VideoConfig};
use tracing::debug;

/// How often the poster is refreshed.
const REFRESH: Duration = Duration::from_secs(5);
/// Posters are small: the watch page scales them to the player.
const MAX_WIDTH: u32 = 640;

#[derive(Default)]
pub struct Poster {
    latest: Mutex<Option<Bytes>>,
    last_started: Mutex<Option<Instant>>,
    /// A decode is running; keyframes offered meanwhile are skipped.
    busy: AtomicBool,
}

impl Poster {
    /// Offers a source keyframe; when a refresh is due it is decoded off the
    /// async threads. Cheap when not due (one lock, no copy).
    pub fn offer(self: &Arc<Self>, config: &VideoConfig, keyframe: &Frame) {
        {
            let mut last = self.last_started.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < REFRESH)
                || self.busy.swap(true, Ordering::AcqRel)
            {
                return;
            }
            *last = Some(Instant::now());
        }
        let (poster, config, keyframe) = (self.clone(), config.clone(), keyframe.clone());
        tokio::task::spawn_blocking(move || {
            match crate::thumbnail::jpeg_from_keyframe(&config, &keyframe, MAX_WIDTH) {
                Ok(jpeg) => *poster.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(jpeg),
                Err(e) => debug!("poster not refreshed: {e}"),
            }
            poster.busy.store(false, Ordering::Release);
        });
    }

    pub fn latest(&self) -> Option<Bytes> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The broadcast ended: no poster until the next one.
    pub fn clear(&self) {
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.last_started.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
