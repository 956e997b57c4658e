//! Test media made by ffmpeg, shared by the unit tests of the modules that
//! decode, transcode or thumbnail it.

use std::process::Command;

use ingest::ts::TsDemuxer;
use ingest::{Frame, MediaEvent, TrackKind, VideoConfig};

/// Runs ffmpeg with `args` and returns what it wrote to stdout.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// ffmpeg's testsrc2 of `size` at `fps`, encoded by libx264 with `x264`
/// output options (length, preset, GOP...), demuxed to its video config and
/// frames in decode order.
pub fn h264_testsrc(size: &str, fps: u32, x264: &[&str]) -> (VideoConfig, Vec<Frame>) {
    let source = format!("testsrc2=size={size}:rate={fps}");
    let mut args = vec!["-f", "lavfi", "-i", &source, "-c:v", "libx264"];
    args.extend(x264);
    args.extend(["-pix_fmt", "yuv420p", "-f", "mpegts", "-"]);
    let mut demuxer = TsDemuxer::new();
    demuxer.push(&ffmpeg(&args));
    demuxer.flush();
    let (mut config, mut frames) = (None, Vec::new());
    while let Some(event) = demuxer.poll() {
        match event.expect("clean MPEG-TS") {
            MediaEvent::Video(video) => config = Some(video),
            MediaEvent::Frame(frame) if frame.kind == TrackKind::Video => frames.push(frame),
            _ => {}
        }
    }
    (config.expect("a video config"), frames)
}

/// Tests that load the machine take turns: the ladder's overload test
/// measures what the ladder does when it alone overloads the machine, and
/// another encode (or a storm of S3 and database requests) beside it would
/// shed rungs it must keep.
pub fn heavy_turn() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
