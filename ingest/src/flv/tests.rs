use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::testdata::{
    ASC_AAC_LC_44100_STEREO, AV1C_320X240, HVCC_320X240_MAIN, OPUS_HEAD_STEREO, PPS_320X240_HIGH,
    SPS_320X240_HIGH,
};

fn avc_sequence_header() -> Bytes {
    let record = h264::build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap();
    let mut tag = BytesMut::from(&[0x17, 0, 0, 0, 0][..]);
    tag.put_slice(&record);
    tag.freeze()
}

fn avc_frame(keyframe: bool, cts_ms: i32) -> Bytes {
    let mut tag = BytesMut::new();
    tag.put_u8(if keyframe { 0x17 } else { 0x27 });
    tag.put_u8(1);
    tag.put_slice(&cts_ms.to_be_bytes()[1..]);
    tag.put_slice(&[0, 0, 0, 2, 0x65, 0x88]);
    tag.freeze()
}

fn push_video(demuxer: &mut FlvDemuxer, ts: u32, data: Bytes) -> Result<Vec<MediaEvent>, FlvError> {
    let mut out = Vec::new();
    demuxer.push_video(ts, data, &mut out).map(|()| out)
}

fn push_audio(demuxer: &mut FlvDemuxer, ts: u32, data: Bytes) -> Result<Vec<MediaEvent>, FlvError> {
    let mut out = Vec::new();
    demuxer.push_audio(ts, data, &mut out).map(|()| out)
}

fn frame(event: &MediaEvent) -> &Frame {
    match event {
        MediaEvent::Frame(frame) => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[test]
fn h264_config_then_frames() {
    let mut demuxer = FlvDemuxer::new();
    let events = push_video(&mut demuxer, 0, avc_sequence_header()).unwrap();
    let [MediaEvent::Video(config)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(config.codec, VideoCodec::H264);
    assert_eq!((config.width, config.height), (320, 240));
    assert_eq!(config.codec_string, "avc1.64000d");

    let events = push_video(&mut demuxer, 40, avc_frame(true, 80)).unwrap();
    let f = frame(&events[0]);
    assert_eq!((f.dts, f.pts, f.keyframe), (3600, 10800, true));
    assert_eq!(&f.data[..], &[0, 0, 0, 2, 0x65, 0x88]);

    let events = push_video(&mut demuxer, 80, avc_frame(false, 0)).unwrap();
    assert!(!frame(&events[0]).keyframe);

    // The same sequence header again is not a new config.
    assert!(
        push_video(&mut demuxer, 80, avc_sequence_header())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn frames_before_config_are_refused() {
    let mut demuxer = FlvDemuxer::new();
    assert_eq!(
        push_video(&mut demuxer, 0, avc_frame(true, 0)),
        Err(FlvError::FrameBeforeConfig(TrackKind::Video))
    );
    assert_eq!(
        push_audio(&mut demuxer, 0, Bytes::from_static(&[0xaf, 1, 0x21])),
        Err(FlvError::FrameBeforeConfig(TrackKind::Audio))
    );
    // An HEVC frame after an H.264 config does not match it either.
    push_video(&mut demuxer, 0, avc_sequence_header()).unwrap();
    let hevc_frame = Bytes::from_static(b"\x93hvc1\x00\x00\x00\x01\x26");
    assert_eq!(
        push_video(&mut demuxer, 0, hevc_frame),
        Err(FlvError::FrameBeforeConfig(TrackKind::Video))
    );
}

#[test]
fn enhanced_hevc_and_av1() {
    let mut demuxer = FlvDemuxer::new();
    let mut tag = BytesMut::from(&b"\x90hvc1"[..]);
    tag.put_slice(&HVCC_320X240_MAIN);
    let events = push_video(&mut demuxer, 0, tag.freeze()).unwrap();
    let [MediaEvent::Video(config)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (config.codec, config.width, config.height),
        (VideoCodec::Hevc, 320, 240)
    );
    assert_eq!(config.codec_string, "hvc1.1.6.L60.90");

    let events = push_video(
        &mut demuxer,
        33,
        Bytes::from_static(b"\x91hvc1\x00\x00\x21\x00\x00\x00\x01\x26"),
    )
    .unwrap();
    let f = frame(&events[0]);
    assert_eq!((f.dts, f.pts, f.keyframe), (2970, 5940, true));

    let mut tag = BytesMut::from(&b"\x90av01"[..]);
    tag.put_slice(&AV1C_320X240);
    let events = push_video(&mut demuxer, 66, tag.freeze()).unwrap();
    let [MediaEvent::Video(config)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!((config.codec, config.width), (VideoCodec::Av1, 320));
    let events = push_video(
        &mut demuxer,
        99,
        Bytes::from_static(b"\x91av01\x12\x00\x0a"),
    )
    .unwrap();
    assert_eq!(
        &frame(&events[0]).data[..],
        &[0x12, 0, 0x0a],
        "AV1 OBUs pass through"
    );
}

#[test]
fn aac_opus_and_mp3_audio() {
    let mut demuxer = FlvDemuxer::new();
    let mut tag = BytesMut::from(&[0xaf, 0][..]);
    tag.put_slice(&ASC_AAC_LC_44100_STEREO);
    let events = push_audio(&mut demuxer, 0, tag.freeze()).unwrap();
    let [MediaEvent::Audio(config)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (config.codec, config.sample_rate, config.channels),
        (AudioCodec::Aac, 44100, 2)
    );
    assert_eq!(config.codec_string, "mp4a.40.2");
    let events = push_audio(&mut demuxer, 23, Bytes::from_static(&[0xaf, 1, 0x21, 0x10])).unwrap();
    let f = frame(&events[0]);
    assert_eq!(
        (f.dts, f.pts, f.keyframe, &f.data[..]),
        (2070, 2070, true, &[0x21, 0x10][..])
    );

    let mut tag = BytesMut::from(&b"\x90Opus"[..]);
    tag.put_slice(&OPUS_HEAD_STEREO);
    let events = push_audio(&mut demuxer, 40, tag.freeze()).unwrap();
    let [MediaEvent::Audio(config)] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (config.codec, config.sample_rate, config.channels),
        (AudioCodec::Opus, 48000, 2)
    );

    let mut demuxer = FlvDemuxer::new();
    let mp3 = Bytes::from_static(&[0x2f, 0xff, 0xfb, 0x90, 0x64, 0]);
    let events = push_audio(&mut demuxer, 0, mp3.clone()).unwrap();
    assert!(
        matches!(&events[..], [MediaEvent::Audio(c), MediaEvent::Frame(_)] if c.codec == AudioCodec::Mp3 && c.sample_rate == 44100)
    );
    assert_eq!(
        push_audio(&mut demuxer, 26, mp3).unwrap().len(),
        1,
        "config not repeated"
    );
}

#[test]
fn timestamps_unwrap() {
    let mut demuxer = FlvDemuxer::new();
    push_video(&mut demuxer, u32::MAX - 39, avc_sequence_header()).unwrap();
    let events = push_video(&mut demuxer, u32::MAX - 39, avc_frame(true, 0)).unwrap();
    let first = frame(&events[0]).dts;
    let events = push_video(&mut demuxer, 1, avc_frame(false, 0)).unwrap();
    assert_eq!(frame(&events[0]).dts - first, 41 * 90);
}

#[test]
fn every_prefix_of_valid_messages_is_handled() {
    let header = avc_sequence_header();
    let frame = avc_frame(true, 40);
    let mut hevc = BytesMut::from(&b"\x90hvc1"[..]);
    hevc.put_slice(&HVCC_320X240_MAIN);
    let hevc = hevc.freeze();
    for len in 0..header.len() {
        let mut demuxer = FlvDemuxer::new();
        let _ = push_video(&mut demuxer, 0, header.slice(..len));
        let _ = push_video(&mut demuxer, 0, frame.clone());
    }
    let mut demuxer = FlvDemuxer::new();
    push_video(&mut demuxer, 0, header).unwrap();
    for len in 0..frame.len() {
        let _ = push_video(&mut demuxer, 0, frame.slice(..len));
    }
    for len in 0..hevc.len() {
        let _ = push_video(&mut FlvDemuxer::new(), 0, hevc.slice(..len));
    }
    let mut aac = BytesMut::from(&[0xaf, 0][..]);
    aac.put_slice(&ASC_AAC_LC_44100_STEREO);
    let aac = aac.freeze();
    for len in 0..aac.len() {
        let _ = push_audio(&mut FlvDemuxer::new(), 0, aac.slice(..len));
    }
}
