//! The MPEG-TS demuxer on real ffmpeg output, cut into datagram-sized and
//! odd-sized chunks, with and without garbage.

mod common;

use common::check_publish;
use ingest::ts::TsDemuxer;
use ingest::{AudioCodec, MediaEvent, VideoCodec};

/// Two seconds of 320x240 H.264 + AAC in MPEG-TS, from ffmpeg.
fn ffmpeg_ts() -> Vec<u8> {
    let mut args = common::test_source("2");
    args.retain(|a| *a != "-re");
    args.extend(["-f", "mpegts", "-"]);
    let output = std::process::Command::new("ffmpeg")
        .args(&args)
        .output()
        .expect("cannot run ffmpeg");
    assert!(output.status.success(), "ffmpeg failed");
    output.stdout
}

fn demux<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<MediaEvent>, usize) {
    let mut demuxer = TsDemuxer::new();
    let (mut events, mut errors) = (Vec::new(), 0);
    let mut drain = |demuxer: &mut TsDemuxer| {
        while let Some(result) = demuxer.poll() {
            match result {
                Ok(event) => events.push(event),
                Err(_) => errors += 1,
            }
        }
    };
    for chunk in chunks {
        demuxer.push(chunk);
        drain(&mut demuxer);
    }
    demuxer.flush();
    drain(&mut demuxer);
    (events, errors)
}

#[test]
fn any_chunking_gives_the_same_media() {
    let ts = ffmpeg_ts();
    let (reference, errors) = demux(ts.chunks(1316));
    assert_eq!(errors, 0);
    check_publish(&reference, VideoCodec::H264, AudioCodec::Aac, 2.0);
    for size in [1456, 188, 1000, 7] {
        let (events, errors) = demux(ts.chunks(size));
        assert_eq!(errors, 0, "chunk size {size}");
        assert_eq!(events, reference, "chunk size {size}");
    }
}

#[test]
fn garbage_between_datagrams_is_skipped() {
    let ts = ffmpeg_ts();
    let mut with_garbage = Vec::new();
    for (i, datagram) in ts.chunks(1316).enumerate() {
        with_garbage.extend_from_slice(datagram);
        if i % 50 == 25 {
            with_garbage.extend([0x47, 0x13, 0x37, 0, 0, 1, 0xe0, 0x47, 0xff]);
        }
    }
    let (events, errors) = demux(with_garbage.chunks(1316));
    assert!(errors > 0);
    let video = common::frames(&events, ingest::TrackKind::Video);
    let (reference, _) = demux(ts.chunks(1316));
    let reference_video = common::frames(&reference, ingest::TrackKind::Video);
    assert!(
        video.len() * 10 >= reference_video.len() * 7,
        "{} of {} frames",
        video.len(),
        reference_video.len()
    );
}
