//! Decides which tracks a publish carries before its media enters the
//! packager: holds frames until every track has announced its config (or one
//! second of media shows a track is absent), and drops what cannot start a
//! stream (frames before their config, video before the first keyframe, audio
//! from before that keyframe).

use ingest::{AudioConfig, Frame, MediaEvent, TIMESCALE, TrackKind, VideoConfig};

/// How much media of one track proves the other is not coming.
const SETTLE_TICKS: i64 = TIMESCALE as i64;
/// Bound on held frames, whatever the timestamps say.
const MAX_HELD: usize = 1_000;

#[derive(Debug, Default)]
pub struct TrackGate {
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    held: Vec<Frame>,
    first_keyframe_pts: Option<i64>,
}

/// The tracks a publish carries and the frames held until they were known.
#[derive(Debug)]
pub struct Tracks {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
    pub held: Vec<Frame>,
}

impl TrackGate {
    /// Takes one event; returns the tracks once they are settled.
    pub fn push(&mut self, event: MediaEvent) -> Option<Tracks> {
        match event {
            MediaEvent::Video(config) => self.video = Some(config),
            MediaEvent::Audio(config) => self.audio = Some(config),
            MediaEvent::Frame(frame) => self.hold(frame),
        }
        self.settled().then(|| Tracks {
            video: self.video.take(),
            audio: self.audio.take(),
            held: std::mem::take(&mut self.held),
        })
    }

    fn hold(&mut self, frame: Frame) {
        match frame.kind {
            TrackKind::Video if self.video.is_none() => return,
            TrackKind::Audio if self.audio.is_none() => return,
            TrackKind::Video if self.first_keyframe_pts.is_none() => {
                if !frame.keyframe {
                    return;
                }
                let start = frame.pts;
                self.first_keyframe_pts = Some(start);
                self.held.retain(|held| held.pts >= start);
            }
            TrackKind::Audio => {
                if self
                    .first_keyframe_pts
                    .is_some_and(|start| frame.pts < start)
                {
                    return;
                }
            }
            TrackKind::Video => {}
        }
        self.held.push(frame);
    }

    fn settled(&self) -> bool {
        if self.held.len() >= MAX_HELD {
            return self.video.is_some() || self.audio.is_some();
        }
        match (&self.video, &self.audio) {
            (Some(_), Some(_)) => self.first_keyframe_pts.is_some(),
            (Some(_), None) => self.span(TrackKind::Video) >= SETTLE_TICKS,
            (None, Some(_)) => self.span(TrackKind::Audio) >= SETTLE_TICKS,
            (None, None) => false,
        }
    }

    fn span(&self, kind: TrackKind) -> i64 {
        let mut dts = self.held.iter().filter(|f| f.kind == kind).map(|f| f.dts);
        match dts.next() {
            Some(first) => dts.last().map_or(0, |last| last - first),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ingest::{AudioCodec, VideoCodec};

    fn video_config() -> MediaEvent {
        MediaEvent::Video(VideoConfig {
            codec: VideoCodec::H264,
            record: Bytes::new(),
            width: 640,
            height: 360,
            codec_string: "avc1.64001e".into(),
        })
    }

    fn audio_config() -> MediaEvent {
        MediaEvent::Audio(AudioConfig {
            codec: AudioCodec::Aac,
            record: Bytes::new(),
            sample_rate: 48_000,
            channels: 2,
            codec_string: "mp4a.40.2".into(),
        })
    }

    fn frame(kind: TrackKind, ms: i64, keyframe: bool) -> MediaEvent {
        MediaEvent::Frame(Frame {
            kind,
            dts: ms * 90,
            pts: ms * 90,
            keyframe,
            data: Bytes::new(),
        })
    }

    #[test]
    fn waits_for_both_configs_and_a_keyframe() {
        let mut gate = TrackGate::default();
        assert!(gate.push(video_config()).is_none());
        assert!(
            gate.push(frame(TrackKind::Video, 0, false)).is_none(),
            "no keyframe yet"
        );
        assert!(gate.push(audio_config()).is_none());
        assert!(gate.push(frame(TrackKind::Audio, 10, true)).is_none());
        let tracks = gate
            .push(frame(TrackKind::Video, 33, true))
            .expect("settled");
        assert!(tracks.video.is_some() && tracks.audio.is_some());
        // The leading delta frame and the audio from before the keyframe are gone.
        assert_eq!(tracks.held.len(), 1);
        assert!(tracks.held[0].keyframe);
    }

    #[test]
    fn video_only_settles_after_a_second() {
        let mut gate = TrackGate::default();
        gate.push(video_config());
        for ms in (0..1000).step_by(33) {
            assert!(gate.push(frame(TrackKind::Video, ms, ms == 0)).is_none());
        }
        let tracks = gate
            .push(frame(TrackKind::Video, 1001, false))
            .expect("settled");
        assert!(tracks.audio.is_none());
        assert_eq!(tracks.held.len(), 32);
    }

    #[test]
    fn frames_before_their_config_are_dropped() {
        let mut gate = TrackGate::default();
        assert!(gate.push(frame(TrackKind::Audio, 0, true)).is_none());
        gate.push(audio_config());
        for ms in (21..1100).step_by(21) {
            if let Some(tracks) = gate.push(frame(TrackKind::Audio, ms, true)) {
                assert!(tracks.held.iter().all(|f| f.dts > 0));
                return;
            }
        }
        panic!("audio-only publish never settled");
    }
}
