//! H.264 elementary streams in MPEG-TS: one PES packet is one access unit in
//! Annex B form; it becomes one length-prefixed frame, and its parameter sets
//! become the track's [`VideoConfig`].

use bytes::Bytes;

use super::TsError;
use crate::h264::{self, nal_type, nal_unit_type, nal_units};
use crate::media::{Frame, MediaEvent, TrackKind, VideoCodec, VideoConfig};

/// Parameter sets seen so far and the config announced from them.
#[derive(Debug, Default)]
pub(super) struct H264Track {
    sps: Option<Bytes>,
    pps: Vec<Bytes>,
    config: Option<VideoConfig>,
}

impl H264Track {
    /// Turns one access unit into a frame, preceded by a config when the
    /// parameter sets are new or changed.
    pub(super) fn access_unit(
        &mut self,
        dts: i64,
        pts: i64,
        payload: &[u8],
        out: &mut impl FnMut(Result<MediaEvent, TsError>),
    ) {
        let nals: Vec<&[u8]> = nal_units(payload)
            .filter(|nal| nal_unit_type(nal) != Some(nal_type::AUD))
            .collect();
        let mut keyframe = false;
        let mut pps_in_au = Vec::new();
        let mut changed = false;
        for nal in &nals {
            match nal_unit_type(nal) {
                Some(nal_type::SPS) if self.sps.as_deref() != Some(*nal) => {
                    self.sps = Some(Bytes::copy_from_slice(nal));
                    changed = true;
                }
                Some(nal_type::PPS) => pps_in_au.push(*nal),
                Some(nal_type::IDR) => keyframe = true,
                _ => {}
            }
        }
        if !pps_in_au.is_empty()
            && !self
                .pps
                .iter()
                .map(|p| &p[..])
                .eq(pps_in_au.iter().copied())
        {
            self.pps = pps_in_au
                .iter()
                .map(|p| Bytes::copy_from_slice(p))
                .collect();
            changed = true;
        }
        if changed && let Err(e) = self.update_config(out) {
            out(Err(e));
        }
        if self.config.is_none() || nals.is_empty() {
            // Joining mid-stream: nothing is decodable before the parameter sets.
            return;
        }
        let data = h264::to_length_prefixed(nals.iter().copied());
        out(Ok(MediaEvent::Frame(Frame {
            kind: TrackKind::Video,
            dts,
            pts,
            keyframe,
            data,
        })));
    }

    fn update_config(
        &mut self,
        out: &mut impl FnMut(Result<MediaEvent, TsError>),
    ) -> Result<(), TsError> {
        let (Some(sps), false) = (&self.sps, self.pps.is_empty()) else {
            return Ok(());
        };
        let pps: Vec<&[u8]> = self.pps.iter().map(|p| &p[..]).collect();
        let record = h264::build_avcc(sps, &pps)?;
        let parsed = h264::parse_sps(sps)?;
        let config = VideoConfig {
            codec: VideoCodec::H264,
            record,
            width: parsed.width,
            height: parsed.height,
            codec_string: h264::codec_string(&parsed),
        };
        if self.config.as_ref() != Some(&config) {
            out(Ok(MediaEvent::Video(config.clone())));
            self.config = Some(config);
        }
        Ok(())
    }
}
