//! A VOD rendition as JSON, finished or written so far: what the transcode
//! child reports to its worker and what the database keeps, so that the
//! manifests can be written again from the renditions published so far as
//! each new one lands.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use packager::vod::{FrameRate, Rendition, Segment, VodError};
use packager::{Codec, TrackConfig};
use serde::{Deserialize, Serialize};

/// Everything a [`Rendition`] holds, in a serializable shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenditionRecord {
    pub name: String,
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
    #[error(transparent)]
    Vod(#[from] VodError),
}

impl RenditionRecord {
    /// The record of a rendition, finished or not.
    pub fn of(rendition: &Rendition) -> RenditionRecord {
        let config = rendition.config();
        RenditionRecord {
            name: rendition.name().to_owned(),
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
            frame_rate: rendition.frame_rate().map(|rate| [rate.num(), rate.den()]),
            language: rendition.language().map(str::to_owned),
            segments: rendition
                .segments()
                .iter()
                .map(|s| [s.start, s.duration, s.size])
                .collect(),
            complete: rendition.is_complete(),
        }
    }

    /// The rendition this record describes (finished when it says).
    pub fn rendition(&self) -> Result<Rendition, RecordError> {
        let record = STANDARD
            .decode(&self.record)
            .map_err(|_| RecordError::Record(self.name.clone()))?;
        let config = TrackConfig {
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
        };
        let mut rendition = match self.codec {
            RecordCodec::H264 => {
                let [num, den] = self
                    .frame_rate
                    .ok_or_else(|| RecordError::NoFrameRate(self.name.clone()))?;
                Rendition::video(&self.name, config, FrameRate::new(num, den)?)?
            }
            RecordCodec::Aac => Rendition::audio(&self.name, config, self.language.as_deref())?,
        };
        for &[start, duration, size] in &self.segments {
            rendition.push_segment(Segment {
                start,
                duration,
                size,
            })?;
        }
        if self.complete {
            rendition.finish()?;
        }
        Ok(rendition)
    }

    pub fn is_video(&self) -> bool {
        self.codec == RecordCodec::H264
    }

    /// The duration in seconds, from its segments.
    pub fn duration_secs(&self) -> f64 {
        let timescale = match self.codec {
            RecordCodec::H264 => packager::TIMESCALE,
            RecordCodec::Aac => self.sample_rate.max(1),
        };
        let end = self
            .segments
            .last()
            .map_or(0, |[start, duration, _]| start + duration);
        let start = self.segments.first().map_or(0, |[start, ..]| *start);
        (end - start) as f64 / f64::from(timescale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio() -> RenditionRecord {
        RenditionRecord {
            name: "audio".into(),
            codec: RecordCodec::Aac,
            record: STANDARD.encode([0x12, 0x10]),
            codec_string: "mp4a.40.2".into(),
            width: 0,
            height: 0,
            sample_rate: 48_000,
            channels: 2,
            frame_rate: None,
            language: Some("en".into()),
            segments: vec![[0, 192_000, 64_000], [192_000, 96_000, 32_000]],
            complete: true,
        }
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
        bad.record = "not base64!".into();
        assert!(matches!(bad.rendition(), Err(RecordError::Record(_))));
        let mut empty = audio();
        empty.segments.clear();
        assert!(matches!(empty.rendition(), Err(RecordError::Vod(_))));
        let mut video = audio();
        video.codec = RecordCodec::H264;
        assert!(matches!(
            video.rendition(),
            Err(RecordError::NoFrameRate(_))
        ));
    }
}
