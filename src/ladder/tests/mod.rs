//! Tests of the ladder against real GStreamer, with sources made by ffmpeg.

mod batch;
mod live;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use ingest::{Frame, VideoConfig};
use tokio::sync::mpsc::UnboundedReceiver;

use super::LadderEvent;

/// An H.264 source: its config and its video frames in decode order.
pub(super) struct Source {
    pub(super) config: VideoConfig,
    pub(super) frames: Vec<Frame>,
}

impl Source {
    /// Encodes `seconds` of ffmpeg's testsrc2 with libx264 (`x264` are
    /// extra output options) and demuxes it.
    pub(super) fn testsrc(size: &str, fps: u32, seconds: f32, x264: &[&str]) -> Self {
        let seconds = seconds.to_string();
        let mut options = vec!["-t", &seconds];
        options.extend(x264);
        let (config, frames) = crate::test_media::h264_testsrc(size, fps, &options);
        Self { config, frames }
    }

    /// The pts of every source keyframe.
    pub(super) fn keyframe_pts(&self) -> Vec<i64> {
        let mut pts: Vec<i64> = self
            .frames
            .iter()
            .filter(|f| f.keyframe)
            .map(|f| f.pts)
            .collect();
        pts.sort_unstable();
        pts
    }
}

/// What one rung put out.
#[derive(Default)]
pub(super) struct RungOut {
    pub(super) configs: Vec<VideoConfig>,
    pub(super) frames: Vec<Frame>,
    /// A frame came before any config.
    pub(super) frame_before_config: bool,
}

/// Everything else the ladder reported, in order.
pub(super) type Notices = Vec<LadderEvent>;

/// Drains the events received so far into per-rung outputs and notices.
pub(super) fn drain(
    events: &mut UnboundedReceiver<LadderEvent>,
    outputs: &mut HashMap<String, RungOut>,
    notices: &mut Notices,
) {
    while let Ok(event) = events.try_recv() {
        match event {
            LadderEvent::Config { rung, config } => outputs
                .entry(rung.to_string())
                .or_default()
                .configs
                .push(config),
            LadderEvent::Frame { rung, frame } => {
                let out = outputs.entry(rung.to_string()).or_default();
                out.frame_before_config |= out.configs.is_empty();
                out.frames.push(frame);
            }
            other => notices.push(other),
        }
    }
}

/// NAL unit types in an AVCC frame.
pub(super) fn nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        assert!(len > 0 && len <= tail.len(), "bad NAL length");
        types.push(tail[0] & 0x1f);
        rest = &tail[len..];
    }
    assert!(rest.is_empty(), "trailing bytes");
    types
}

/// The SPS and PPS NAL units of an avcC record.
fn parameter_sets(record: &Bytes) -> Vec<&[u8]> {
    let mut sets = Vec::new();
    let mut pos = 5;
    for _ in 0..2 {
        let count = usize::from(record[pos] & 0x1f);
        pos += 1;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([record[pos], record[pos + 1]]));
            sets.push(&record[pos + 2..pos + 2 + len]);
            pos += 2 + len;
        }
    }
    sets
}

/// The rung as an Annex B elementary stream.
pub(super) fn annex_b(out: &RungOut) -> Vec<u8> {
    let mut stream = Vec::new();
    let config = out.configs.first().expect("a config");
    for set in parameter_sets(&config.record) {
        stream.extend_from_slice(&[0, 0, 0, 1]);
        stream.extend_from_slice(set);
    }
    for frame in &out.frames {
        let mut rest = &frame.data[..];
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let len = u32::from_be_bytes(*len) as usize;
            stream.extend_from_slice(&[0, 0, 0, 1]);
            stream.extend_from_slice(&tail[..len]);
            rest = &tail[len..];
        }
    }
    stream
}

/// What ffprobe finds in a stream it decodes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Probed {
    pub(super) width: u32,
    pub(super) height: u32,
    /// The VUI's matrix coefficients, e.g. `bt709`.
    pub(super) color_space: String,
    pub(super) frames: usize,
}

/// Decodes an Annex B stream with ffprobe, failing on any decoder
/// complaint.
pub(super) fn ffprobe(stream: &[u8], name: &str) -> Probed {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "tributary-ladder-{}-{n}-{name}.h264",
        std::process::id()
    ));
    std::fs::write(&path, stream).expect("write stream");
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=width,height,color_space,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "ffprobe: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = stdout.trim().split(',').collect();
    let [width, height, color_space, frames] = fields[..] else {
        panic!("ffprobe said {stdout:?}");
    };
    let parse = |s: &str| s.parse::<u32>().expect("a number");
    Probed {
        width: parse(width),
        height: parse(height),
        color_space: color_space.to_owned(),
        frames: parse(frames) as usize,
    }
}
