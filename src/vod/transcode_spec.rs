//! What one transcode job makes: the renditions it writes and how. The
//! worker hands it to the `tributary transcode-source` child as JSON; the
//! plan (`vod::plan`) decides it from the probe and the server's settings.

use serde::{Deserialize, Serialize};

/// One job's work: renditions out of one read of the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeSpec {
    /// Video renditions. Encoded ones are listed largest first.
    #[serde(default)]
    pub video: Vec<VideoOut>,
    #[serde(default)]
    pub audio: Vec<AudioOut>,
    /// Where every video rendition of the asset has its keyframes.
    pub keyframes: Keyframes,
    /// Segments are cut at the first shared keyframe at least this long
    /// after the segment's start.
    pub segment_secs: f64,
    /// x264 `speed-preset` of encoded renditions.
    pub preset: String,
    /// Encoded renditions run at the source's frame rate up to this.
    pub max_fps: u32,
    /// Renditions published segment by segment as they are made (the
    /// child reports each [`TranscodeEvent::Made`]); the others when the
    /// job ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub early: Vec<String>,
    /// Segments start at these presentation times (90 kHz ticks, one per
    /// segment, increasing) instead of every `segment_secs`: a recorded
    /// rendition's, which the video renditions made line up with. The
    /// source's times are moved so that its first frame is at the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<u64>,
}

/// A video rendition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum VideoOut {
    /// The source's own H.264 frames, repackaged without re-encoding.
    Copy { name: String },
    /// Decoded (rotation applied, 8-bit 4:2:0), scaled to this size and
    /// encoded with x264.
    Encode {
        name: String,
        width: u32,
        height: u32,
        bitrate_kbps: u32,
    },
}

/// An audio rendition (AAC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum AudioOut {
    /// The source's own AAC frames.
    Copy { name: String },
    /// Decoded and encoded to AAC-LC at this bitrate.
    Encode { name: String, bitrate_kbps: u32 },
}

/// Where keyframes go, the same for every video rendition of an asset so
/// that segment N covers the same seconds in each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "at", rename_all = "snake_case", deny_unknown_fields)]
pub enum Keyframes {
    /// At the source's keyframes (the source's H.264 is repackaged).
    Source,
    /// Every this many seconds of presentation time from the first frame.
    Every { secs: f64 },
}

impl TranscodeSpec {
    /// Every rendition it makes: video, then audio.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.video
            .iter()
            .map(VideoOut::name)
            .chain(self.audio.iter().map(AudioOut::name))
    }
}

impl VideoOut {
    pub fn name(&self) -> &str {
        match self {
            VideoOut::Copy { name } | VideoOut::Encode { name, .. } => name,
        }
    }
}

impl AudioOut {
    pub fn name(&self) -> &str {
        match self {
            AudioOut::Copy { name } | AudioOut::Encode { name, .. } => name,
        }
    }
}

/// One line of what the child prints on stdout: progress as it goes, then
/// the renditions it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TranscodeEvent {
    /// Seconds of the source done so far (by the slowest rendition).
    Progress { done_secs: f64 },
    /// An early rendition so far: its init segment and `segments` are
    /// written.
    Made {
        rendition: super::rendition_record::RenditionRecord,
    },
    /// Every rendition, finished, its files in the output directory.
    Done {
        renditions: Vec<super::rendition_record::RenditionRecord>,
    },
}
