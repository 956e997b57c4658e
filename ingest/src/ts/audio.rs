//! ADTS AAC elementary streams in MPEG-TS: a PES packet holds one or more
//! ADTS frames; each becomes a raw AAC frame, the first at the PES PTS and
//! the next ones 1024 samples apart.

use bytes::Bytes;

use super::TsError;
use crate::TIMESCALE;
use crate::aac::parse_adts;
use crate::media::{AudioCodec, AudioConfig, Frame, MediaEvent, TrackKind};

/// Samples in one AAC frame.
const SAMPLES_PER_FRAME: i64 = 1024;

/// The config announced so far.
#[derive(Debug, Default)]
pub(super) struct AdtsTrack {
    config: Option<AudioConfig>,
}

impl AdtsTrack {
    /// Splits one PES payload into frames.
    pub(super) fn pes(
        &mut self,
        pts: i64,
        payload: &Bytes,
        out: &mut impl FnMut(Result<MediaEvent, TsError>),
    ) {
        let mut pos = 0;
        let mut index: i64 = 0;
        while pos < payload.len() {
            let header = match parse_adts(&payload[pos..]) {
                Ok(header) => header,
                Err(e) => return out(Err(e.into())),
            };
            let end = pos + header.frame_len;
            if end > payload.len() {
                return out(Err(TsError::AdtsTruncated));
            }
            let config = AudioConfig {
                codec: AudioCodec::Aac,
                record: header.asc(),
                sample_rate: header.sample_rate,
                channels: header.channels,
                codec_string: format!("mp4a.40.{}", header.object_type),
            };
            if self.config.as_ref() != Some(&config) {
                out(Ok(MediaEvent::Audio(config.clone())));
                self.config = Some(config);
            }
            let offset =
                index * SAMPLES_PER_FRAME * i64::from(TIMESCALE) / i64::from(header.sample_rate);
            let frame_pts = pts + offset;
            let data = payload.slice(pos + header.header_len..end);
            out(Ok(MediaEvent::Frame(Frame {
                kind: TrackKind::Audio,
                dts: frame_pts,
                pts: frame_pts,
                keyframe: true,
                data,
            })));
            pos = end;
            index += 1;
        }
    }
}
