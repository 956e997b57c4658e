//! Renditions written as they come: an init segment once the track's
//! config is known, then one fMP4 segment file (one moof+mdat) per segment,
//! written when the next segment starts. Only the current segment's
//! samples are held in memory.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use packager::fmp4::{FragmentSample, fragment, init_segment};
use packager::vod::{AssetFile, FrameRate, Rendition, Segment, VodError, media_playlist};
use packager::{Codec, TrackConfig};

use super::cuts::{AudioCuts, SegmentCutter, VIDEO_TIMESCALE};

/// Why a rendition could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rendition {0}: a frame before its configuration")]
    NoConfig(String),
    #[error("rendition {0}: no frames")]
    Empty(String),
    #[error("rendition {name}: {message}")]
    Invalid { name: String, message: String },
}

fn write_file(dir: &Path, file: &AssetFile<'_>, data: &[u8]) -> Result<(), WriteError> {
    let path = dir.join(file.to_string());
    fs::write(&path, data).map_err(|source| WriteError::Io { path, source })
}

fn invalid(name: &str, message: impl ToString) -> WriteError {
    WriteError::Invalid {
        name: name.to_owned(),
        message: message.to_string(),
    }
}

/// What segment files a rendition wrote: shared by video and audio.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    name: String,
    segments: Vec<Segment>,
    sequence: u32,
}

impl Files {
    fn new(dir: &Path, name: &str) -> Result<Self, WriteError> {
        let folder = dir.join(name);
        fs::create_dir_all(&folder).map_err(|source| WriteError::Io {
            path: folder,
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
            segments: Vec::new(),
            sequence: 0,
        })
    }

    fn init(&self, config: &TrackConfig) -> Result<(), WriteError> {
        config.validate().map_err(|e| invalid(&self.name, e))?;
        write_file(
            &self.dir,
            &AssetFile::Init(&self.name, 0),
            &init_segment(config),
        )
    }

    /// Writes one segment: `samples` from decode time `base`, presented
    /// from `start` for `duration`.
    fn segment(
        &mut self,
        base: u64,
        samples: &[FragmentSample],
        start: u64,
        duration: u64,
    ) -> Result<(), WriteError> {
        self.sequence += 1;
        let data = fragment(self.sequence, base, samples);
        let number = packager::vod::FIRST_SEGMENT_NUMBER + self.segments.len() as u64;
        write_file(&self.dir, &AssetFile::Segment(&self.name, number), &data)?;
        self.segments.push(Segment {
            start,
            duration,
            size: data.len() as u64,
        });
        Ok(())
    }

    /// `rendition` with the segments written so far.
    fn with_segments(&self, mut rendition: Rendition) -> Result<Rendition, WriteError> {
        for segment in &self.segments {
            rendition
                .push_segment(*segment)
                .map_err(|e| invalid(&self.name, e))?;
        }
        Ok(rendition)
    }

    /// The rendition `make` builds from `config`, with the segments written
    /// so far (not finished), once there is one.
    fn so_far(
        &self,
        config: Option<&TrackConfig>,
        make: impl FnOnce(TrackConfig) -> Result<Rendition, WriteError>,
    ) -> Result<Option<Rendition>, WriteError> {
        match config {
            Some(config) if !self.segments.is_empty() => {
                self.with_segments(make(config.clone())?).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The rendition `make` builds from `config`, finished; its media
    /// playlist is written. Refused without a config or a segment.
    fn finish(
        &self,
        config: Option<TrackConfig>,
        make: impl FnOnce(TrackConfig) -> Result<Rendition, WriteError>,
    ) -> Result<Rendition, WriteError> {
        let Some(config) = config.filter(|_| !self.segments.is_empty()) else {
            return Err(WriteError::Empty(self.name.clone()));
        };
        let mut rendition = self.with_segments(make(config)?)?;
        rendition.finish().map_err(|e| invalid(&self.name, e))?;
        let playlist = media_playlist(&rendition).map_err(|e| invalid(&self.name, e))?;
        write_file(
            &self.dir,
            &AssetFile::MediaPlaylist(&self.name),
            playlist.as_bytes(),
        )?;
        Ok(rendition)
    }
}

/// One video frame in 90 kHz ticks.
#[derive(Debug, Clone)]
pub struct VideoSample {
    pub pts: i64,
    pub dts: i64,
    pub keyframe: bool,
    /// AVCC (length-prefixed NAL units, as the config's avcC says).
    pub data: Bytes,
}

/// A video rendition being written.
#[derive(Debug)]
pub struct VideoWriter {
    files: Files,
    config: Option<TrackConfig>,
    frame_rate: Option<FrameRate>,
    cutter: SegmentCutter,
    /// The current segment's samples, in decode order.
    pending: Vec<VideoSample>,
    /// Added to every dts so that the first frame decodes at its
    /// presentation time (decode times stay positive with B-frames).
    dts_shift: Option<i64>,
    /// The last sample's duration, for the very last one.
    last_duration: u32,
    frames: u64,
    first_pts: Option<i64>,
    last_pts: Option<i64>,
}

impl VideoWriter {
    pub fn new(dir: &Path, name: &str, cutter: SegmentCutter) -> Result<Self, WriteError> {
        Ok(Self {
            files: Files::new(dir, name)?,
            config: None,
            frame_rate: None,
            cutter,
            pending: Vec::new(),
            dts_shift: None,
            last_duration: 3000,
            frames: 0,
            first_pts: None,
            last_pts: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.files.name
    }

    /// The track's config (the first one counts: a later, different one is
    /// logged and ignored) and frame rate when known; writes the init segment.
    pub fn configure(
        &mut self,
        config: TrackConfig,
        frame_rate: Option<FrameRate>,
    ) -> Result<(), WriteError> {
        if self.frame_rate.is_none() {
            self.frame_rate = frame_rate;
        }
        match &self.config {
            Some(known) if *known != config => {
                tracing::warn!(
                    rendition = self.name(),
                    "the decoder configuration changed mid-stream; the first is kept"
                );
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                self.files.init(&config)?;
                self.config = Some(config);
                Ok(())
            }
        }
    }

    /// Adds a frame (decode order); a keyframe may end the current segment,
    /// which is then written. Frames before the first keyframe, or
    /// presented before time zero, are dropped.
    pub fn push(&mut self, sample: VideoSample) -> Result<(), WriteError> {
        if self.config.is_none() {
            return Err(WriteError::NoConfig(self.name().to_owned()));
        }
        if sample.pts < 0 || (self.pending.is_empty() && !sample.keyframe) {
            tracing::debug!(rendition = self.name(), pts = sample.pts, "frame dropped");
            return Ok(());
        }
        if sample.keyframe && self.cutter.keyframe(sample.pts as u64) && !self.pending.is_empty() {
            self.flush(Some(&sample))?;
        }
        let shift = *self
            .dts_shift
            .get_or_insert_with(|| (sample.pts - sample.dts).max(0));
        let sample = VideoSample {
            dts: sample.dts + shift,
            ..sample
        };
        self.frames += 1;
        self.first_pts.get_or_insert(sample.pts);
        self.last_pts = Some(self.last_pts.map_or(sample.pts, |p| p.max(sample.pts)));
        self.pending.push(sample);
        Ok(())
    }

    /// Presentation time reached, in seconds.
    pub fn done_secs(&self) -> f64 {
        self.last_pts
            .map_or(0.0, |pts| pts as f64 / VIDEO_TIMESCALE as f64)
    }

    /// Writes the pending samples as a segment; `next` starts the next one.
    fn flush(&mut self, next: Option<&VideoSample>) -> Result<(), WriteError> {
        let samples = std::mem::take(&mut self.pending);
        let Some(first) = samples.first() else {
            return Ok(());
        };
        let shift = self.dts_shift.unwrap_or(0);
        let next_dts = next.map(|n| n.dts + shift);
        let mut fragment_samples = Vec::with_capacity(samples.len());
        let mut end = 0i64;
        for (i, sample) in samples.iter().enumerate() {
            let following = samples.get(i + 1).map(|s| s.dts).or(next_dts);
            let duration = match following {
                Some(dts) if dts > sample.dts => {
                    u32::try_from(dts - sample.dts).unwrap_or(u32::MAX)
                }
                _ => self.last_duration,
            };
            self.last_duration = duration;
            end = end.max(sample.pts + i64::from(duration));
            let offset = i32::try_from(sample.pts - sample.dts).unwrap_or(0);
            fragment_samples.push(
                FragmentSample::new(sample.data.clone(), duration, offset, sample.keyframe)
                    .map_err(|e| invalid(&self.files.name, e))?,
            );
        }
        let start = samples.iter().map(|s| s.pts).min().unwrap_or(first.pts);
        let end = next.map_or(end, |n| n.pts);
        let duration = u64::try_from(end - start).unwrap_or(0).max(1);
        self.files.segment(
            u64::try_from(first.dts).unwrap_or(0),
            &fragment_samples,
            u64::try_from(start).unwrap_or(0),
            duration,
        )
    }

    /// Segment files written so far.
    pub fn segments_written(&self) -> usize {
        self.files.segments.len()
    }

    /// The rendition as written so far (not finished), once it has a segment.
    pub fn so_far(&self) -> Result<Option<Rendition>, WriteError> {
        self.files
            .so_far(self.config.as_ref(), |config| self.rendition(config))
    }

    /// Writes the last segment and the media playlist.
    pub fn finish(mut self) -> Result<Rendition, WriteError> {
        self.flush(None)?;
        let config = self.config.take();
        self.files.finish(config, |config| self.rendition(config))
    }

    /// A rendition of this track without segments.
    fn rendition(&self, config: TrackConfig) -> Result<Rendition, WriteError> {
        let frame_rate = match self.frame_rate {
            Some(rate) => rate,
            None => self
                .measured_frame_rate()
                .map_err(|e| invalid(&self.files.name, e))?,
        };
        Rendition::video(&self.files.name, config, frame_rate)
            .map_err(|e| invalid(&self.files.name, e))
    }

    /// Frames per second over the frames written, in thousandths (30 when
    /// there are too few to tell).
    fn measured_frame_rate(&self) -> Result<FrameRate, VodError> {
        let (num, den) = match (self.first_pts, self.last_pts) {
            (Some(first), Some(last)) if self.frames >= 2 && last > first => {
                let fps = (self.frames - 1) as f64 * VIDEO_TIMESCALE as f64 / (last - first) as f64;
                ((fps * 1000.0).round().max(1.0) as u32, 1000)
            }
            _ => (30, 1),
        };
        FrameRate::new(num, den)
    }
}

/// An AAC rendition being written; times in its sample rate.
#[derive(Debug)]
pub struct AudioWriter {
    files: Files,
    config: Option<TrackConfig>,
    language: Option<String>,
    cuts: AudioCuts,
    /// With no video to follow: segments of this many samples.
    own_segment_secs: Option<f64>,
    /// The current segment's frames: start time and data.
    pending: Vec<(u64, Bytes)>,
    starts: Vec<u64>,
    /// The next frame's expected start (contiguous frames).
    expected: Option<u64>,
    segment_origin: Option<u64>,
    /// Own cuts scheduled so far.
    own_cuts: u64,
}

/// Samples per AAC frame.
const AAC_FRAME: u64 = packager::AAC_FRAME_SAMPLES as u64;

impl AudioWriter {
    /// `own_segment_secs`: cut every this many seconds (no video in the
    /// job); `None` to cut where [`AudioWriter::cut_near`] says.
    pub fn new(dir: &Path, name: &str, own_segment_secs: Option<f64>) -> Result<Self, WriteError> {
        Ok(Self {
            files: Files::new(dir, name)?,
            config: None,
            language: None,
            cuts: AudioCuts::default(),
            own_segment_secs,
            pending: Vec::new(),
            starts: Vec::new(),
            expected: None,
            segment_origin: None,
            own_cuts: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.files.name
    }

    fn rate(&self) -> u64 {
        self.config
            .as_ref()
            .map_or(48_000, |c| u64::from(c.sample_rate))
    }

    /// The AAC config (the first counts); writes the init segment.
    pub fn configure(&mut self, config: TrackConfig) -> Result<(), WriteError> {
        if self.config.is_some() {
            if self.config.as_ref() != Some(&config) {
                tracing::warn!(rendition = self.name(), "audio config changed; first kept");
            }
            return Ok(());
        }
        self.files.init(&config)?;
        self.config = Some(config);
        Ok(())
    }

    /// A video segment starts at `ticks` (90 kHz): end an audio segment
    /// at the frame boundary nearest it.
    pub fn cut_near(&mut self, ticks: u64) -> Result<(), WriteError> {
        if self.own_segment_secs.is_some() {
            return Ok(());
        }
        let time =
            (u128::from(ticks) * u128::from(self.rate()) / u128::from(VIDEO_TIMESCALE)) as u64;
        self.cuts.add(time);
        self.try_cut()
    }

    /// Adds one raw AAC frame that starts at `pts_ns` (nanoseconds).
    /// Frames are laid end to end; a gap of more than half a frame is kept.
    pub fn push(&mut self, pts_ns: i64, data: Bytes) -> Result<(), WriteError> {
        if self.config.is_none() {
            return Err(WriteError::NoConfig(self.name().to_owned()));
        }
        let Ok(pts_ns) = u64::try_from(pts_ns) else {
            return Ok(());
        };
        let rate = self.rate();
        let time = (u128::from(pts_ns) * u128::from(rate) / 1_000_000_000) as u64;
        let start = match self.expected {
            Some(expected) if time.abs_diff(expected) <= AAC_FRAME / 2 => expected,
            // Overlapping frames (a timestamp going back) are dropped.
            Some(expected) if time < expected => return Ok(()),
            _ => time,
        };
        self.expected = Some(start + AAC_FRAME);
        self.segment_origin.get_or_insert(start);
        self.schedule_own_cut();
        self.pending.push((start, data));
        self.starts.push(start);
        self.try_cut()
    }

    fn try_cut(&mut self) -> Result<(), WriteError> {
        while let Some(index) = self.cuts.cut(&self.starts) {
            let rest = self.pending.split_off(index);
            let frames = std::mem::replace(&mut self.pending, rest);
            self.starts.drain(..index);
            let next = self.starts.first().copied();
            self.write(&frames, next)?;
            self.schedule_own_cut();
        }
        Ok(())
    }

    /// With no video to follow: the next cut at the next multiple of the
    /// segment length from the first frame.
    fn schedule_own_cut(&mut self) {
        let (Some(secs), Some(origin)) = (self.own_segment_secs, self.segment_origin) else {
            return;
        };
        if self.cuts.next().is_some() {
            return;
        }
        let length = ((secs * self.rate() as f64).round() as u64).max(AAC_FRAME);
        self.own_cuts += 1;
        self.cuts.add(origin + self.own_cuts * length);
    }

    fn write(&mut self, frames: &[(u64, Bytes)], next: Option<u64>) -> Result<(), WriteError> {
        let Some((first, _)) = frames.first() else {
            return Ok(());
        };
        let mut samples = Vec::with_capacity(frames.len());
        for (i, (start, data)) in frames.iter().enumerate() {
            let following = frames.get(i + 1).map(|(s, _)| *s).or(next);
            let duration = following.map_or(AAC_FRAME, |f| f.saturating_sub(*start).max(1));
            samples.push(
                FragmentSample::new(
                    data.clone(),
                    u32::try_from(duration).unwrap_or(u32::MAX),
                    0,
                    true,
                )
                .map_err(|e| invalid(&self.files.name, e))?,
            );
        }
        let end = next.unwrap_or_else(|| frames.last().map_or(*first, |(s, _)| s + AAC_FRAME));
        self.files
            .segment(*first, &samples, *first, (end - first).max(1))
    }

    /// Presentation time reached, in seconds.
    pub fn done_secs(&self) -> f64 {
        self.expected
            .map_or(0.0, |end| end as f64 / self.rate() as f64)
    }

    /// Segment files written so far.
    pub fn segments_written(&self) -> usize {
        self.files.segments.len()
    }

    /// The rendition as written so far (not finished), once it has a segment.
    pub fn so_far(&self) -> Result<Option<Rendition>, WriteError> {
        self.files
            .so_far(self.config.as_ref(), |config| self.rendition(config))
    }

    /// Writes the last segment and the media playlist.
    pub fn finish(mut self) -> Result<Rendition, WriteError> {
        let frames = std::mem::take(&mut self.pending);
        self.write(&frames, None)?;
        let config = self.config.take();
        self.files.finish(config, |config| self.rendition(config))
    }

    fn rendition(&self, config: TrackConfig) -> Result<Rendition, WriteError> {
        Rendition::audio(&self.files.name, config, self.language.as_deref())
            .map_err(|e| invalid(&self.files.name, e))
    }
}

/// The packager's track config of an H.264 stream from its avcC.
pub fn h264_config(record: &Bytes) -> Result<TrackConfig, String> {
    let avc = ingest::h264::parse_avcc(record).map_err(|e| format!("avcC: {e}"))?;
    Ok(TrackConfig {
        codec: Codec::H264,
        codec_string: ingest::h264::codec_string(&avc.sps),
        width: avc.sps.width,
        height: avc.sps.height,
        record: avc.record,
        sample_rate: 0,
        channels: 0,
    })
}

/// The packager's track config of AAC from its AudioSpecificConfig.
pub fn aac_config(record: &Bytes) -> Result<TrackConfig, String> {
    let asc = ingest::aac::parse_asc(record).map_err(|e| format!("AudioSpecificConfig: {e}"))?;
    Ok(TrackConfig {
        codec: Codec::Aac,
        record: record.clone(),
        width: 0,
        height: 0,
        sample_rate: asc.sample_rate,
        channels: asc.channels,
        codec_string: asc.codec_string(),
    })
}
