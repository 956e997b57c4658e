//! MPEG-TS demuxing (sans-IO): byte chunks of any size in, [`MediaEvent`]s
//! out. Carries H.264 (stream type 0x1b) and ADTS AAC (0x0f), the program
//! being the first one in the PAT.
//!
//! Garbage is skipped (the demuxer resynchronizes on sync bytes) and
//! reported as [`TsError`]s among the events; PES packets are capped in size,
//! so no input makes it buffer without bound.

mod audio;
mod packet;
mod pes;
mod psi;
#[cfg(test)]
mod tests;
mod video;

use std::collections::VecDeque;

use crate::aac::AacError;
use crate::clock::MpegClock;
use crate::h264::H264Error;
use crate::media::MediaEvent;
use audio::AdtsTrack;
use packet::{PacketSync, TsPacket, parse_packet};
use pes::{Pes, PesAssembler};
use psi::{SectionBuffer, parse_pat, parse_pmt};
use video::H264Track;

const PID_PAT: u16 = 0;
const STREAM_TYPE_H264: u8 = 0x1b;
const STREAM_TYPE_ADTS: u8 = 0x0f;
/// Cap on one video PES packet (one access unit).
const MAX_VIDEO_PES: usize = 8 << 20;
/// Cap on one audio PES packet.
const MAX_AUDIO_PES: usize = 1 << 20;

/// What went wrong in a transport stream. None of these stop the demuxer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("lost sync, skipped {skipped} bytes")]
    Sync { skipped: usize },
    #[error("packet flagged with a transport error")]
    TransportError,
    #[error("malformed adaptation field")]
    AdaptationField,
    #[error("continuity counter jumped (expected {expected}, found {found}); PES dropped")]
    Continuity { expected: u8, found: u8 },
    #[error("malformed PSI section: {0}")]
    Section(&'static str),
    #[error("PSI section CRC mismatch")]
    Crc,
    #[error("malformed PES packet: {0}")]
    Pes(&'static str),
    #[error("PES packet over the size cap; dropped")]
    PesTooLarge,
    #[error("PES packet without a PTS")]
    MissingPts,
    #[error(
        "unsupported stream type 0x{stream_type:02x} on PID {pid} (supported: H.264 0x1b, ADTS AAC 0x0f)"
    )]
    UnsupportedStreamType { pid: u16, stream_type: u8 },
    #[error("H.264: {0}")]
    H264(#[from] H264Error),
    #[error("AAC: {0}")]
    Aac(#[from] AacError),
    #[error("ADTS frame runs past the end of its PES packet")]
    AdtsTruncated,
}

/// One elementary stream being reassembled.
#[derive(Debug)]
struct Stream {
    pid: u16,
    pes: PesAssembler,
}

impl Stream {
    fn new(pid: u16, max_len: usize) -> Self {
        Self {
            pid,
            pes: PesAssembler::new(max_len),
        }
    }
}

/// Demultiplexes one transport stream; see the [module docs](self).
#[derive(Debug, Default)]
pub struct TsDemuxer {
    sync: PacketSync,
    pat: SectionBuffer,
    pmt_pid: Option<u16>,
    pmt: SectionBuffer,
    /// The stream types last reported as unsupported, to report each once.
    unsupported: Vec<(u16, u8)>,
    video: Option<Stream>,
    audio: Option<Stream>,
    h264: H264Track,
    adts: AdtsTrack,
    clock: MpegClock,
    output: VecDeque<Result<MediaEvent, TsError>>,
}

impl TsDemuxer {
    /// A demuxer for one transport stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream; then drain [`poll`](Self::poll).
    pub fn push(&mut self, data: &[u8]) {
        let mut sync = std::mem::take(&mut self.sync);
        let skipped = sync.push(data, |packet| match parse_packet(packet) {
            Ok(packet) => self.packet(&packet),
            Err(e) => self.output.push_back(Err(e)),
        });
        self.sync = sync;
        if skipped > 0 {
            self.output.push_back(Err(TsError::Sync { skipped }));
        }
    }

    /// Completes the PES packets in progress (their end is normally only
    /// known when the next one starts); call at the end of the stream.
    pub fn flush(&mut self) {
        if let Some(result) = self.video.as_mut().and_then(|s| s.pes.flush()) {
            self.video_pes(result);
        }
        if let Some(result) = self.audio.as_mut().and_then(|s| s.pes.flush()) {
            self.audio_pes(result);
        }
    }

    /// The next event or error, in stream order.
    pub fn poll(&mut self) -> Option<Result<MediaEvent, TsError>> {
        self.output.pop_front()
    }

    fn packet(&mut self, packet: &TsPacket<'_>) {
        if !packet.has_payload {
            return;
        }
        let (unit_start, cc, discontinuity, payload) = (
            packet.unit_start,
            packet.continuity_counter,
            packet.discontinuity,
            packet.payload,
        );
        if packet.pid == PID_PAT {
            match self
                .pat
                .push(unit_start, payload)
                .and_then(|s| s.map(|s| parse_pat(&s)).transpose())
            {
                Ok(Some(pmt_pid)) => self.pmt_pid = pmt_pid,
                Ok(None) => {}
                Err(e) => self.output.push_back(Err(e)),
            }
        } else if Some(packet.pid) == self.pmt_pid {
            match self
                .pmt
                .push(unit_start, payload)
                .and_then(|s| s.map(|s| parse_pmt(&s)).transpose())
            {
                Ok(Some(streams)) => self.program(&streams),
                Ok(None) => {}
                Err(e) => self.output.push_back(Err(e)),
            }
        } else if let Some(stream) = self.video.as_mut().filter(|s| s.pid == packet.pid) {
            let mut done = Vec::new();
            stream
                .pes
                .push(unit_start, cc, discontinuity, payload, |r| done.push(r));
            done.into_iter().for_each(|r| self.video_pes(r));
        } else if let Some(stream) = self.audio.as_mut().filter(|s| s.pid == packet.pid) {
            let mut done = Vec::new();
            stream
                .pes
                .push(unit_start, cc, discontinuity, payload, |r| done.push(r));
            done.into_iter().for_each(|r| self.audio_pes(r));
        }
    }

    /// Applies a PMT: picks the first H.264 and the first ADTS stream.
    fn program(&mut self, streams: &[(u8, u16)]) {
        let video = streams
            .iter()
            .find(|(t, _)| *t == STREAM_TYPE_H264)
            .map(|&(_, pid)| pid);
        let audio = streams
            .iter()
            .find(|(t, _)| *t == STREAM_TYPE_ADTS)
            .map(|&(_, pid)| pid);
        if self.video.as_ref().map(|s| s.pid) != video {
            self.video = video.map(|pid| Stream::new(pid, MAX_VIDEO_PES));
        }
        if self.audio.as_ref().map(|s| s.pid) != audio {
            self.audio = audio.map(|pid| Stream::new(pid, MAX_AUDIO_PES));
        }
        let unsupported: Vec<(u16, u8)> = streams
            .iter()
            .filter(|(t, _)| *t != STREAM_TYPE_H264 && *t != STREAM_TYPE_ADTS)
            .map(|&(stream_type, pid)| (pid, stream_type))
            .collect();
        if unsupported != self.unsupported {
            for &(pid, stream_type) in &unsupported {
                self.output
                    .push_back(Err(TsError::UnsupportedStreamType { pid, stream_type }));
            }
            self.unsupported = unsupported;
        }
    }

    fn video_pes(&mut self, result: Result<Pes, TsError>) {
        let Some((pes, pts)) = self.timed(result) else {
            return;
        };
        let dts = match pes.dts {
            Some(dts) => self.clock.unwrap(dts),
            None => pts,
        };
        let output = &mut self.output;
        self.h264
            .access_unit(dts, pts, &pes.payload, &mut |r| output.push_back(r));
    }

    fn audio_pes(&mut self, result: Result<Pes, TsError>) {
        let Some((pes, pts)) = self.timed(result) else {
            return;
        };
        let output = &mut self.output;
        self.adts
            .pes(pts, &pes.payload, &mut |r| output.push_back(r));
    }

    /// A PES packet and its unwrapped PTS, or None after reporting why not.
    fn timed(&mut self, result: Result<Pes, TsError>) -> Option<(Pes, i64)> {
        let pes = result.map_err(|e| self.output.push_back(Err(e))).ok()?;
        let Some(pts) = pes.pts else {
            self.output.push_back(Err(TsError::MissingPts));
            return None;
        };
        let pts = self.clock.unwrap(pts);
        Some((pes, pts))
    }
}
