//! Keyframes of ffmpeg-made H.264 (demuxed by ingest's MPEG-TS demuxer)
//! turned into posters; bad input gives errors, not hangs.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ingest::{Frame, VideoConfig};

use super::*;

/// The config and video frames of `frames` frames of a `size` test pattern
/// with a keyframe every five frames.
fn h264(size: &str, frames: u32) -> (VideoConfig, Vec<Frame>) {
    let frames = frames.to_string();
    let x264 = ["-frames:v", &frames, "-preset", "veryfast", "-g", "5"];
    crate::test_media::h264_testsrc(size, 25, &x264)
}

/// Width and height from the JPEG's start-of-frame marker, checking SOI and EOI.
fn jpeg_size(jpeg: &[u8]) -> (u32, u32) {
    assert!(jpeg.starts_with(&[0xff, 0xd8]), "no SOI");
    assert!(jpeg.ends_with(&[0xff, 0xd9]), "no EOI");
    let mut pos = 2;
    loop {
        let segment = &jpeg[pos..];
        assert_eq!(segment[0], 0xff, "marker expected at {pos}");
        let len = usize::from(u16::from_be_bytes([segment[2], segment[3]]));
        if (0xc0..=0xc2).contains(&segment[1]) {
            let height = u16::from_be_bytes([segment[5], segment[6]]);
            let width = u16::from_be_bytes([segment[7], segment[8]]);
            return (u32::from(width), u32::from(height));
        }
        pos += 2 + len;
    }
}

#[test]
fn keyframes_become_jpegs_of_the_asked_width() {
    let (config, frames) = h264("1280x720", 10);
    let keyframes: Vec<&Frame> = frames.iter().filter(|f| f.keyframe).collect();
    assert_eq!(keyframes.len(), 2);
    for (keyframe, max_width) in keyframes.iter().zip([640, 333]) {
        let jpeg = jpeg_from_keyframe(&config, keyframe, max_width).expect("a poster");
        let expected = if max_width == 640 {
            (640, 360)
        } else {
            (332, 186)
        };
        assert_eq!(jpeg_size(&jpeg), expected);
    }
    let full = jpeg_from_keyframe(&config, keyframes[0], 4000).expect("a poster");
    assert_eq!(jpeg_size(&full), (1280, 720));
}

#[test]
fn bad_input_is_an_error_not_a_hang() {
    let (config, frames) = h264("320x240", 3);
    let started = Instant::now();
    let delta = frames.iter().find(|f| !f.keyframe).expect("a delta frame");
    assert!(matches!(
        jpeg_from_keyframe(&config, delta, 640),
        Err(ThumbnailError::NotKeyframe)
    ));
    // A delta frame passed off as a keyframe is still no IDR.
    let posing = Frame {
        keyframe: true,
        ..delta.clone()
    };
    assert!(matches!(
        jpeg_from_keyframe(&config, &posing, 640),
        Err(ThumbnailError::NotKeyframe)
    ));

    let junk = |data: Vec<u8>| Frame {
        data: Bytes::from(data),
        ..frames[0].clone()
    };
    let mut noise = vec![0, 0, 0x13, 0x88, 0x65];
    noise.extend((0..5000u32).map(|i| (i * 37 % 251) as u8));
    for data in [
        vec![],
        vec![0, 0, 0, 1, 0x65],
        vec![0, 0, 0, 9, 0x65],
        noise,
    ] {
        let result = jpeg_from_keyframe(&config, &junk(data), 640);
        assert!(result.is_err(), "{result:?}");
    }
    let bad_config = VideoConfig {
        record: Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]),
        ..config.clone()
    };
    assert!(matches!(
        jpeg_from_keyframe(&bad_config, &frames[0], 640),
        Err(ThumbnailError::Config(_))
    ));
    assert!(matches!(
        jpeg_from_keyframe(&config, &frames[0], 1),
        Err(ThumbnailError::Size { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}
