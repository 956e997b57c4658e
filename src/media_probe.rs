//! What a media file is, from GStreamer's discoverer: container, duration,
//! codecs, resolution, frame rate, rotation and audio. It runs in the
//! `tributary probe-source` child process (see `jobs::media_task`), so a
//! demuxer that crashes on a hostile file takes nothing else down.

use std::time::Duration;

use gstreamer as gst;
use gstreamer_pbutils::prelude::*;
use gstreamer_pbutils::{Discoverer, DiscovererInfo};
use serde::{Deserialize, Serialize};

use crate::jobs::JobError;

/// The probe's findings, added to the asset's `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `mp4`, `mov`, `mkv`, `webm`, `mpegts`, `flv`, ... (the caps name when unknown).
    pub container: String,
    /// Seconds.
    pub duration: f64,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// None when the stream does not say (variable frame rate).
    pub fps: Option<f64>,
    /// Clockwise degrees a player turns the picture: 0, 90, 180 or 270.
    pub rotation: u32,
    pub profile: Option<String>,
    pub bit_depth: Option<u32>,
    /// `4:2:0`, `4:2:2`, ... when the stream says.
    pub chroma_format: Option<String>,
    /// Bits per second, when the container says.
    pub bitrate: Option<u32>,
    /// H.264 only: the longest gap between keyframes in the first 30 s, in
    /// seconds (see [`crate::vod::transcode::gop`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_gap: Option<f64>,
}

impl VideoInfo {
    /// The picture's size as it is shown: a phone video turned 90° is
    /// portrait.
    pub fn upright(&self) -> (u32, u32) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub bitrate: Option<u32>,
}

fn error(code: &str, message: impl Into<String>) -> JobError {
    JobError {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Probes the media at `uri` (`file://…` or `http(s)://…`).
pub fn probe(uri: &str, timeout: Duration) -> Result<SourceInfo, JobError> {
    crate::gst_init::init().map_err(|e| error("worker_error", e))?;
    let timeout =
        gst::ClockTime::from_nseconds(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX));
    let discoverer =
        Discoverer::new(timeout).map_err(|e| error("worker_error", format!("discoverer: {e}")))?;
    let info = discoverer.discover_uri(uri).map_err(|e| {
        error(
            "not_media",
            format!(
                "the file could not be read as video or audio: {}",
                e.message()
            ),
        )
    })?;
    describe(&info)
}

fn describe(info: &DiscovererInfo) -> Result<SourceInfo, JobError> {
    let video = info
        .video_streams()
        .into_iter()
        .find(|stream| !stream.is_image());
    if video.is_none() && !info.video_streams().is_empty() && info.audio_streams().is_empty() {
        return Err(error("not_media", "the file is a still image, not a video"));
    }
    let audio = info.audio_streams().into_iter().next();
    if video.is_none() && audio.is_none() {
        return Err(error("no_streams", "the file has neither video nor audio"));
    }
    let container = info
        .stream_info()
        .and_then(|top| top.caps())
        .and_then(|caps| caps.structure(0).map(container_name))
        .unwrap_or_else(|| "unknown".into());
    let duration = info.duration().map_or(0.0, |d| d.nseconds() as f64 / 1e9);
    let video = video.map(|stream| {
        let caps = stream.caps();
        let structure = caps.as_ref().and_then(|caps| caps.structure(0));
        let rate = stream.framerate();
        let fps = (rate.numer() > 0 && rate.denom() > 0)
            .then(|| f64::from(rate.numer()) / f64::from(rate.denom()));
        let orientation = stream.tags().and_then(|tags| {
            tags.get::<gst::tags::ImageOrientation>()
                .map(|t| t.get().to_owned())
        });
        VideoInfo {
            codec: structure.map_or_else(|| "unknown".into(), codec_name),
            width: stream.width(),
            height: stream.height(),
            fps,
            rotation: orientation.as_deref().map_or(0, rotation),
            profile: structure.and_then(|s| s.get::<String>("profile").ok()),
            bit_depth: structure
                .and_then(|s| s.get::<u32>("bit-depth-luma").ok())
                .or_else(|| (stream.depth() > 0).then(|| stream.depth())),
            chroma_format: structure.and_then(|s| s.get::<String>("chroma-format").ok()),
            bitrate: nonzero(stream.bitrate()).or_else(|| nonzero(stream.max_bitrate())),
            keyframe_gap: None,
        }
    });
    let audio = audio.map(|stream| AudioInfo {
        codec: stream
            .caps()
            .as_ref()
            .and_then(|caps| caps.structure(0).map(codec_name))
            .unwrap_or_else(|| "unknown".into()),
        sample_rate: stream.sample_rate(),
        channels: stream.channels(),
        bitrate: nonzero(stream.bitrate()).or_else(|| nonzero(stream.max_bitrate())),
    });
    Ok(SourceInfo {
        container,
        duration,
        video,
        audio,
    })
}

fn nonzero(value: u32) -> Option<u32> {
    (value > 0).then_some(value)
}

/// A short container name from the demuxer's caps.
fn container_name(caps: &gst::StructureRef) -> String {
    match caps.name().as_str() {
        "video/quicktime" => match caps.get::<String>("variant").ok().as_deref() {
            Some("iso" | "iso-fragmented") => "mp4".into(),
            Some("3gpp") => "3gp".into(),
            _ => "mov".into(),
        },
        "video/x-matroska" => "mkv".into(),
        "video/webm" | "audio/webm" => "webm".into(),
        "video/mpegts" => "mpegts".into(),
        "video/mpeg" if caps.get::<bool>("systemstream").unwrap_or(false) => "mpegps".into(),
        "video/x-flv" => "flv".into(),
        "video/x-msvideo" => "avi".into(),
        "application/ogg" | "audio/ogg" | "video/ogg" => "ogg".into(),
        "audio/x-wav" => "wav".into(),
        "audio/x-m4a" => "m4a".into(),
        "application/x-id3" | "audio/mpeg" => "mp3".into(),
        "audio/x-flac" => "flac".into(),
        other => other.into(),
    }
}

/// A short codec name from a stream's caps.
fn codec_name(caps: &gst::StructureRef) -> String {
    let version = |field| caps.get::<i32>(field).ok();
    match caps.name().as_str() {
        "video/x-h264" => "h264".into(),
        "video/x-h265" => "hevc".into(),
        "video/x-vp8" => "vp8".into(),
        "video/x-vp9" => "vp9".into(),
        "video/x-av1" => "av1".into(),
        "video/x-prores" => "prores".into(),
        "video/x-theora" => "theora".into(),
        "image/jpeg" => "mjpeg".into(),
        "video/mpeg" => match version("mpegversion") {
            Some(4) => "mpeg4".into(),
            Some(2) => "mpeg2".into(),
            _ => "mpeg1".into(),
        },
        "audio/mpeg" => match (version("mpegversion"), version("layer")) {
            (Some(2 | 4), _) => "aac".into(),
            (_, Some(3)) => "mp3".into(),
            _ => "mp2".into(),
        },
        "audio/x-opus" => "opus".into(),
        "audio/x-vorbis" => "vorbis".into(),
        "audio/x-flac" => "flac".into(),
        "audio/x-ac3" => "ac3".into(),
        "audio/x-eac3" => "eac3".into(),
        "audio/x-alac" => "alac".into(),
        "audio/x-raw" => "pcm".into(),
        other => other
            .trim_start_matches("video/x-")
            .trim_start_matches("audio/x-")
            .into(),
    }
}

/// Degrees clockwise from an `image-orientation` tag (`rotate-90`,
/// `flip-rotate-180`, ...); the mirroring of a `flip-` tag is not reported.
fn rotation(tag: &str) -> u32 {
    tag.trim_start_matches("flip-")
        .trim_start_matches("rotate-")
        .parse::<u32>()
        .map_or(0, |degrees| degrees % 360)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(text: &str) -> gst::Caps {
        crate::gst_init::init().unwrap();
        text.parse().unwrap()
    }

    #[test]
    fn codec_names() {
        let name = |text: &str| codec_name(caps(text).structure(0).unwrap());
        assert_eq!(name("video/x-h264, profile=(string)high"), "h264");
        assert_eq!(name("video/x-h265"), "hevc");
        assert_eq!(name("video/mpeg, mpegversion=(int)2"), "mpeg2");
        assert_eq!(name("audio/mpeg, mpegversion=(int)4"), "aac");
        assert_eq!(name("audio/mpeg, mpegversion=(int)1, layer=(int)3"), "mp3");
        assert_eq!(name("audio/x-opus"), "opus");
        assert_eq!(name("video/x-dirac"), "dirac");
    }

    #[test]
    fn container_names() {
        let name = |text: &str| container_name(caps(text).structure(0).unwrap());
        assert_eq!(name("video/quicktime, variant=(string)iso"), "mp4");
        assert_eq!(name("video/quicktime"), "mov");
        assert_eq!(name("video/x-matroska"), "mkv");
        assert_eq!(name("video/mpegts, systemstream=(boolean)true"), "mpegts");
    }

    #[test]
    fn rotations() {
        assert_eq!(rotation("rotate-90"), 90);
        assert_eq!(rotation("rotate-270"), 270);
        assert_eq!(rotation("rotate-0"), 0);
        assert_eq!(rotation("flip-rotate-180"), 180);
        assert_eq!(rotation("garbage"), 0);
    }
}
