//! Real Opus and MP3 from ffmpeg through the transcoder; the AAC it makes is
//! checked for timing and decoded again by ffmpeg.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSink;
use ingest::{AudioCodec, AudioConfig, Frame, TIMESCALE, TrackKind};
use tokio::sync::mpsc;

use super::*;
use crate::test_media::ffmpeg;

/// Where the first input frame sits on the source timeline (10 s).
const START: i64 = 900_000;

/// A directory for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tributary-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The packets of a file as a GStreamer demuxer or parser splits them;
/// header packets (the OpusHead) come first.
fn packets(path: &str, splitter: &str) -> (Vec<Bytes>, Vec<Bytes>) {
    crate::gst_init::init().expect("GStreamer");
    let description =
        format!("filesrc location={path} ! {splitter} ! appsink name=sink sync=false");
    let pipeline = gst::parse::launch(&description).expect("pipeline");
    let pipeline = pipeline.downcast::<gst::Pipeline>().expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .expect("sink")
        .downcast::<AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let (mut headers, mut frames) = (Vec::new(), Vec::new());
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) {
        let buffer = sample.buffer().expect("buffer");
        let data = Bytes::copy_from_slice(&buffer.map_readable().expect("readable"));
        if buffer.flags().contains(gst::BufferFlags::HEADER) {
            headers.push(data);
        } else {
            frames.push(data);
        }
    }
    pipeline.set_state(gst::State::Null).expect("stopped");
    (headers, frames)
}

/// Audio frames of `samples` each from `START` at `rate`, rounded to ticks.
fn timed(frames: Vec<Bytes>, samples: i64, rate: i64) -> Vec<Frame> {
    frames
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let pts = START + i as i64 * samples * i64::from(TIMESCALE) / rate;
            Frame {
                kind: TrackKind::Audio,
                dts: pts,
                pts,
                keyframe: true,
                data,
            }
        })
        .collect()
}

/// Pushes every frame, finishes and returns everything the transcoder said.
fn transcode(source: &AudioConfig, frames: &[Frame]) -> (Vec<AudioEvent>, u64) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut transcoder = AacTranscoder::start(source, tx).expect("transcoder starts");
    for frame in frames {
        transcoder.push(frame);
        // A live source trickles: stay within the queue bound (for a while).
        let deadline = Instant::now() + Duration::from_secs(1);
        while transcoder.appsrc.property::<u64>("current-level-buffers") > MAX_QUEUED / 2
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let dropped = transcoder.dropped();
    transcoder.finish();
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    (events, dropped)
}

/// Splits events into the single config and the frames, checking their order.
/// The config predicted before the first output describes the same AAC-LC
/// stream; the encoder may append an explicit "no SBR" extension.
fn assert_predicted(actual: &AudioConfig, predicted: &AudioConfig) {
    let fields = |c: &AudioConfig| (c.codec, c.sample_rate, c.channels, c.codec_string.clone());
    assert_eq!(fields(actual), fields(predicted));
    assert!(
        actual.record.starts_with(&predicted.record),
        "{actual:?} vs {predicted:?}"
    );
}

fn config_and_frames(events: Vec<AudioEvent>) -> (AudioConfig, Vec<Frame>) {
    let mut events = events.into_iter();
    let Some(AudioEvent::Config(config)) = events.next() else {
        panic!("the first event is not a config");
    };
    let frames = events
        .map(|e| match e {
            AudioEvent::Frame(frame) => frame,
            AudioEvent::Config(c) => panic!("second config {c:?}"),
        })
        .collect();
    (config, frames)
}

/// Checks the AAC frames are 1024 samples apart from the start of the
/// input, and that as many came out as the input lasted.
fn check_timeline(config: &AudioConfig, frames: &[Frame], input_samples: i64) {
    let rate = i64::from(config.sample_rate);
    let frame_ticks = 1024 * i64::from(TIMESCALE) / rate;
    let expected = input_samples / 1024;
    let count = frames.len() as i64;
    assert!(
        (count - expected).abs() <= 2,
        "{count} frames for {expected} of input"
    );
    for (i, frame) in frames.iter().enumerate() {
        let ideal = START + i as i64 * 1024 * i64::from(TIMESCALE) / rate;
        assert!(
            (frame.pts - ideal).abs() <= frame_ticks,
            "frame {i} at {} not {ideal}",
            frame.pts
        );
        assert_eq!(
            (frame.dts, frame.kind, frame.keyframe),
            (frame.pts, TrackKind::Audio, true)
        );
        assert!(!frame.data.is_empty());
    }
    assert!(
        frames.windows(2).all(|w| w[0].pts < w[1].pts),
        "timestamps not increasing"
    );
}

/// Writes the frames as ADTS and decodes them with ffmpeg to mono s16 PCM.
fn decode(config: &AudioConfig, frames: &[Frame], scratch: &Scratch) -> Vec<i16> {
    let asc = ingest::aac::parse_asc(&config.record).expect("ASC");
    let index = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
    ]
    .iter()
    .position(|&r| r == asc.sample_rate)
    .expect("indexed rate") as u8;
    let mut adts = Vec::new();
    for frame in frames {
        let len = frame.data.len() + 7;
        adts.extend_from_slice(&[
            0xff,
            0xf1,
            ((asc.object_type - 1) << 6) | (index << 2) | (asc.channels >> 2),
            ((asc.channels & 3) << 6) | (len >> 11) as u8,
            (len >> 3) as u8,
            ((len & 7) << 5) as u8 | 0x1f,
            0xfc,
        ]);
        adts.extend_from_slice(&frame.data);
    }
    let (aac, pcm) = (scratch.path("out.aac"), scratch.path("out.pcm"));
    std::fs::write(&aac, adts).expect("writing ADTS");
    ffmpeg(&["-i", &aac, "-ac", "1", "-f", "s16le", &pcm]);
    let pcm = std::fs::read(pcm).expect("decoded PCM");
    pcm.chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn opus_becomes_aac_aligned_with_the_source() {
    // Half a second of silence, then a tone: its onset shows the alignment.
    let scratch = Scratch::new("opus");
    let ogg = scratch.path("step.ogg");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "aevalsrc='if(gte(t,0.5),0.8*sin(2*PI*440*t),0)':s=48000:d=2",
        "-ac",
        "2",
        "-c:a",
        "libopus",
        "-b:a",
        "96k",
        "-frame_duration",
        "20",
        &ogg,
    ]);
    let (headers, packets) = packets(&ogg, "oggdemux");
    let head = headers
        .into_iter()
        .find(|h| h.starts_with(b"OpusHead"))
        .expect("OpusHead");
    let pre_skip = i64::from(u16::from_le_bytes([head[10], head[11]]));
    let source = AudioConfig {
        codec: AudioCodec::Opus,
        record: head,
        sample_rate: 48_000,
        channels: 2,
        codec_string: "opus".into(),
    };
    let input = timed(packets, 960, 48_000);
    let (events, dropped) = transcode(&source, &input);
    assert_eq!(dropped, 0);
    let (config, frames) = config_and_frames(events);
    assert_predicted(&config, &super::aac_config(&source));
    assert_eq!(
        (
            config.codec,
            config.sample_rate,
            config.channels,
            config.codec_string.as_str()
        ),
        (AudioCodec::Aac, 48_000, 2, "mp4a.40.2")
    );
    check_timeline(&config, &frames, input.len() as i64 * 960);

    let pcm = decode(&config, &frames, &scratch);
    assert!(
        pcm.len() >= frames.len() * 1024,
        "{} samples decoded",
        pcm.len()
    );
    let onset = pcm
        .iter()
        .position(|s| s.unsigned_abs() > 3000)
        .expect("a tone");
    let onset_ticks = frames[0].pts + onset as i64 * i64::from(TIMESCALE) / 48_000;
    // A packet's pts is the time of its first decoded sample, so the Opus
    // encoder's pre-skip (its priming) delays the tone as it would in FLV.
    let expected = START + (24_000 + pre_skip) * i64::from(TIMESCALE) / 48_000;
    // 5 ms; without removing the AAC encoder delay the tone would sound 21 ms late.
    assert!(
        (onset_ticks - expected).abs() < 450,
        "tone at {onset_ticks}, expected {expected}"
    );
}

#[test]
fn mp3_becomes_aac_at_its_own_rate() {
    let scratch = Scratch::new("mp3");
    let mp3 = scratch.path("tone.mp3");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=2",
        "-ac",
        "2",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        "-write_xing",
        "0",
        "-id3v2_version",
        "0",
        &mp3,
    ]);
    let (_, packets) = packets(&mp3, "mpegaudioparse");
    let source = AudioConfig {
        codec: AudioCodec::Mp3,
        record: Bytes::new(),
        sample_rate: 44_100,
        channels: 2,
        codec_string: "mp4a.40.34".into(),
    };
    let input = timed(packets, 1152, 44_100);
    let (events, dropped) = transcode(&source, &input);
    assert_eq!(dropped, 0);
    let (config, frames) = config_and_frames(events);
    assert_eq!(
        (config.codec, config.sample_rate, config.channels),
        (AudioCodec::Aac, 44_100, 2)
    );
    assert_predicted(&config, &super::aac_config(&source));
    check_timeline(&config, &frames, input.len() as i64 * 1152);
    let pcm = decode(&config, &frames, &scratch);
    assert!(
        pcm.len() >= frames.len() * 1024,
        "{} samples decoded",
        pcm.len()
    );
    // ffmpeg's sine has an amplitude of 1/8 (4096); mixing mono to stereo
    // and back costs 3 dB (2896).
    let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(
        (2600..3200).contains(&peak),
        "peak {peak}: the tone did not survive"
    );
}

#[test]
fn garbage_neither_panics_nor_hangs() {
    let head = Bytes::from_static(b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0");
    let opus = AudioConfig {
        codec: AudioCodec::Opus,
        record: head,
        sample_rate: 48_000,
        channels: 2,
        codec_string: "opus".into(),
    };
    let mp3 = AudioConfig {
        codec: AudioCodec::Mp3,
        record: Bytes::new(),
        ..opus.clone()
    };
    let junk: Vec<Bytes> = (0..200u32)
        .map(|i| {
            Bytes::from(
                (0..i % 97)
                    .map(|j| (i * 31 + j * 7) as u8)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    for source in [opus.clone(), mp3] {
        let started = Instant::now();
        let (events, _) = transcode(&source, &timed(junk.clone(), 960, 48_000));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            events
                .iter()
                .all(|e| matches!(e, AudioEvent::Config(_) | AudioEvent::Frame(_)))
        );
    }

    let bad_head = AudioConfig {
        record: Bytes::from_static(b"OpusHea"),
        ..opus.clone()
    };
    assert!(matches!(
        AacTranscoder::start(&bad_head, mpsc::unbounded_channel().0),
        Err(TranscodeError::OpusHead(_))
    ));
    let aac = AudioConfig {
        codec: AudioCodec::Aac,
        ..opus.clone()
    };
    assert!(matches!(
        AacTranscoder::start(&aac, mpsc::unbounded_channel().0),
        Err(TranscodeError::AlreadyAac)
    ));
}

#[test]
fn frames_before_the_first_are_dropped() {
    let opus = AudioConfig {
        codec: AudioCodec::Opus,
        record: Bytes::from_static(b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0"),
        sample_rate: 48_000,
        channels: 2,
        codec_string: "opus".into(),
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut transcoder = AacTranscoder::start(&opus, tx).expect("transcoder starts");
    let frame = |pts| Frame {
        kind: TrackKind::Audio,
        dts: pts,
        pts,
        keyframe: true,
        data: Bytes::from_static(&[0xfc]),
    };
    transcoder.push(&frame(START));
    transcoder.push(&frame(START - 1));
    transcoder.push(&frame(i64::MIN));
    assert_eq!(transcoder.dropped(), 2);
    transcoder.finish();
}
