//! A VOD rendition as JSON, finished or written so far: what the transcode
//! child reports to its worker and what the database keeps, so that the
//! manifests can be written again from the renditions published so far as
//! each new one lands.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use packager::vod::{FIRST_SEGMENT_NUMBER, FrameRate, Rendition, Segment, VodError};
use packager::{Codec, TrackConfig};
use serde::{Deserialize, Serialize};

/// Everything a [`Rendition`] holds, in a serializable shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionRecord {
    pub name: String,
    /// The track of its first init segment.
    #[serde(flatten)]
    pub track: TrackRecord,
    /// Video only: frames per `frame_rate[1]` seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_rate: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `[start, duration, size]` per segment, in the track's timescale.
    pub segments: Vec<[u64; 3]>,
    /// False while segments are still to come.
    #[serde(default = "finished", skip_serializing_if = "is_finished")]
    pub complete: bool,
    /// The first init segment's number and the first segment's number, when a
    /// recording chose them (see [`Rendition::number_from`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbered_from: Option<(u32, u64)>,
    /// Where the track or the timeline changes, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discontinuities: Vec<DiscontinuityRecord>,
}

/// A [`TrackConfig`] in a serializable shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackRecord {
    pub codec: RecordCodec,
    /// The decoder configuration (avcC or AudioSpecificConfig), base64.
    pub record: String,
    pub codec_string: String,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(default)]
    pub sample_rate: u32,
    #[serde(default)]
    pub channels: u8,
}

/// The segments from `index` on follow a discontinuity: init segment `init`,
/// numbered from `first_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscontinuityRecord {
    pub index: usize,
    pub init: u32,
    pub first_number: u64,
    pub track: TrackRecord,
}

fn finished() -> bool {
    true
}

fn is_finished(complete: &bool) -> bool {
    *complete
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordCodec {
    H264,
    Aac,
}

/// Why a record is not a rendition.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("rendition {0}: the decoder configuration is not base64")]
    Record(String),
    #[error("rendition {0}: a video rendition needs a frame rate")]
    NoFrameRate(String),
    #[error("rendition {0}: a discontinuity is out of order")]
    Discontinuity(String),
    #[error(transparent)]
    Vod(#[from] VodError),
}

impl TrackRecord {
    pub fn of(config: &TrackConfig) -> TrackRecord {
        TrackRecord {
            codec: match config.codec {
                Codec::H264 => RecordCodec::H264,
                Codec::Aac => RecordCodec::Aac,
            },
            record: STANDARD.encode(&config.record),
            codec_string: config.codec_string.clone(),
            width: config.width,
            height: config.height,
            sample_rate: config.sample_rate,
            channels: config.channels,
        }
    }

    /// The track; `None` when the decoder configuration is not base64.
    pub fn config(&self) -> Option<TrackConfig> {
        let record = STANDARD.decode(&self.record).ok()?;
        Some(TrackConfig {
            codec: match self.codec {
                RecordCodec::H264 => Codec::H264,
                RecordCodec::Aac => Codec::Aac,
            },
            record: Bytes::from(record),
            width: self.width,
            height: self.height,
            sample_rate: self.sample_rate,
            channels: self.channels,
            codec_string: self.codec_string.clone(),
        })
    }

    /// Ticks per second of its times.
    pub fn timescale(&self) -> u32 {
        match self.codec {
            RecordCodec::H264 => packager::TIMESCALE,
            RecordCodec::Aac => self.sample_rate.max(1),
        }
    }
}

impl RenditionRecord {
    /// The record of a rendition, finished or not.
    pub fn of(rendition: &Rendition) -> RenditionRecord {
        let mut parts = rendition.parts();
        let first = parts.next();
        let numbered_from = first
            .map(|part| (part.init, part.first_number))
            .filter(|&numbers| numbers != (0, FIRST_SEGMENT_NUMBER));
        let mut index = first.map_or(0, |part| part.segments.len());
        let discontinuities = parts
            .map(|part| {
                let discontinuity = DiscontinuityRecord {
                    index,
                    init: part.init,
                    first_number: part.first_number,
                    track: TrackRecord::of(part.config),
                };
                index += part.segments.len();
                discontinuity
            })
            .collect();
        RenditionRecord {
            name: rendition.name().to_owned(),
            track: TrackRecord::of(rendition.config()),
            frame_rate: rendition.frame_rate().map(|rate| [rate.num(), rate.den()]),
            language: rendition.language().map(str::to_owned),
            segments: rendition
                .segments()
                .iter()
                .map(|s| [s.start, s.duration, s.size])
                .collect(),
            complete: rendition.is_complete(),
            numbered_from,
            discontinuities,
        }
    }

    /// The rendition this record describes (finished when it says).
    pub fn rendition(&self) -> Result<Rendition, RecordError> {
        let config = self.track_config(&self.track)?;
        let mut rendition = match self.track.codec {
            RecordCodec::H264 => {
                let [num, den] = self
                    .frame_rate
                    .ok_or_else(|| RecordError::NoFrameRate(self.name.clone()))?;
                Rendition::video(&self.name, config, FrameRate::new(num, den)?)?
            }
            RecordCodec::Aac => Rendition::audio(&self.name, config, self.language.as_deref())?,
        };
        if let Some((init, first_number)) = self.numbered_from {
            rendition.number_from(init, first_number)?;
        }
        let mut discontinuities = self.discontinuities.iter().peekable();
        for (index, &[start, duration, size]) in self.segments.iter().enumerate() {
            if let Some(discontinuity) = discontinuities.next_if(|d| d.index == index) {
                let config = self.track_config(&discontinuity.track)?;
                rendition.begin_discontinuity_at(
                    config,
                    discontinuity.init,
                    discontinuity.first_number,
                )?;
            }
            rendition.push_segment(Segment {
                start,
                duration,
                size,
            })?;
        }
        if discontinuities.next().is_some() {
            return Err(RecordError::Discontinuity(self.name.clone()));
        }
        if self.complete {
            rendition.finish()?;
        }
        Ok(rendition)
    }

    fn track_config(&self, track: &TrackRecord) -> Result<TrackConfig, RecordError> {
        track
            .config()
            .ok_or_else(|| RecordError::Record(self.name.clone()))
    }

    pub fn is_video(&self) -> bool {
        self.track.codec == RecordCodec::H264
    }

    /// The duration in seconds: the sum of its segments' (a recording's
    /// timeline may jump between two).
    pub fn duration_secs(&self) -> f64 {
        let ticks: u64 = self.segments.iter().map(|[_, duration, _]| duration).sum();
        ticks as f64 / f64::from(self.track.timescale())
    }
}

/// A 16:9 H.264 track `width` wide, for tests.
#[cfg(test)]
pub(crate) fn test_video_track(width: u32) -> TrackRecord {
    TrackRecord {
        codec: RecordCodec::H264,
        record: "AWQAH//hABlnZAAfrNlAUAW7ARAAAAMAEAAAAwPA8YMZYAEABmjr48siwA==".into(),
        codec_string: "avc1.64001f".into(),
        width,
        height: width * 9 / 16,
        sample_rate: 0,
        channels: 0,
    }
}

/// A 48 kHz stereo AAC track, for tests.
#[cfg(test)]
pub(crate) fn test_audio_track() -> TrackRecord {
    TrackRecord {
        codec: RecordCodec::Aac,
        record: STANDARD.encode([0x12, 0x10]),
        codec_string: "mp4a.40.2".into(),
        width: 0,
        height: 0,
        sample_rate: 48_000,
        channels: 2,
    }
}

/// A finished 640x360 H.264 rendition of one 6 s segment, for tests.
#[cfg(test)]
pub(crate) fn test_video_record(name: &str) -> RenditionRecord {
    RenditionRecord {
        name: name.into(),
        track: test_video_track(640),
        frame_rate: Some([30, 1]),
        language: None,
        segments: vec![[0, 540_000, 100_000]],
        complete: true,
        numbered_from: None,
        discontinuities: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio() -> RenditionRecord {
        RenditionRecord {
            name: "audio".into(),
            track: test_audio_track(),
            frame_rate: None,
            language: Some("en".into()),
            segments: vec![[0, 192_000, 64_000], [192_000, 96_000, 32_000]],
            complete: true,
            numbered_from: None,
            discontinuities: Vec::new(),
        }
    }

    #[test]
    fn a_recording_keeps_its_numbers_and_discontinuities() {
        let record = RenditionRecord {
            segments: vec![
                [0, 48_000, 1000],
                [48_000, 48_000, 1000],
                [200_000, 48_000, 1000],
            ],
            numbered_from: Some((1, 3)),
            discontinuities: vec![DiscontinuityRecord {
                index: 2,
                init: 4,
                first_number: 9,
                track: TrackRecord {
                    channels: 1,
                    ..test_audio_track()
                },
            }],
            ..audio()
        };
        let rendition = record.rendition().unwrap();
        let numbers: Vec<(u64, Option<u32>)> = rendition
            .numbered_segments()
            .map(|(n, _)| (n, rendition.init_of(n)))
            .collect();
        assert_eq!(numbers, [(3, Some(1)), (4, Some(1)), (9, Some(4))]);
        assert_eq!(RenditionRecord::of(&rendition), record);
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<RenditionRecord>(&json).unwrap(),
            record
        );
        assert!((record.duration_secs() - 3.0).abs() < 1e-9);

        let mut late = record.clone();
        late.discontinuities[0].index = 5;
        assert!(matches!(
            late.rendition(),
            Err(RecordError::Discontinuity(_))
        ));
    }

    #[test]
    fn a_record_round_trips_through_a_rendition_and_json() {
        let record = audio();
        let rendition = record.rendition().unwrap();
        assert!(rendition.is_complete());
        assert_eq!(rendition.segments().len(), 2);
        assert_eq!(RenditionRecord::of(&rendition), record);
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<RenditionRecord>(&json).unwrap(),
            record
        );
        assert!((record.duration_secs() - 6.0).abs() < 1e-9);
        assert!(!json.contains("complete"));

        let growing = RenditionRecord {
            complete: false,
            ..record
        };
        let json = serde_json::to_string(&growing).unwrap();
        let read: RenditionRecord = serde_json::from_str(&json).unwrap();
        assert!(!read.rendition().unwrap().is_complete());
        assert_eq!(RenditionRecord::of(&read.rendition().unwrap()), growing);
    }

    #[test]
    fn bad_records_are_errors() {
        let mut bad = audio();
        bad.track.record = "not base64!".into();
        assert!(matches!(bad.rendition(), Err(RecordError::Record(_))));
        let mut empty = audio();
        empty.segments.clear();
        assert!(matches!(empty.rendition(), Err(RecordError::Vod(_))));
        let mut video = audio();
        video.track.codec = RecordCodec::H264;
        assert!(matches!(
            video.rendition(),
            Err(RecordError::NoFrameRate(_))
        ));
    }
}
