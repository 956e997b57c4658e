use super::*;
use crate::media::{AudioCodec, Frame, TrackKind, VideoCodec};
use crate::testdata::{PPS_320X240_HIGH, SPS_320X240_HIGH};
use pes::tests::pes;
use psi::tests::{pat, pmt};

const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;

/// Splits a PSI section or PES packet into transport packets, stuffing the
/// last one through its adaptation field.
fn packetize(pid: u16, data: &[u8], psi: bool, cc: &mut u8) -> Vec<u8> {
    let mut unit = Vec::new();
    if psi {
        unit.push(0); // pointer_field
    }
    unit.extend_from_slice(data);
    let mut out = Vec::new();
    for (i, chunk) in unit.chunks(184).enumerate() {
        let start = if i == 0 { 0x40 } else { 0 };
        out.extend_from_slice(&[0x47, start | (pid >> 8) as u8, pid as u8]);
        if chunk.len() == 184 {
            out.push(0x10 | *cc);
        } else {
            out.push(0x30 | *cc);
            let stuffing = 184 - chunk.len() - 1;
            out.push(stuffing as u8);
            if stuffing > 0 {
                out.push(0);
                out.extend(std::iter::repeat_n(0xff, stuffing - 1));
            }
        }
        out.extend_from_slice(chunk);
        *cc = (*cc + 1) & 0x0f;
    }
    out
}

fn access_unit(idr: bool, with_parameter_sets: bool) -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x09, 0xf0];
    if with_parameter_sets {
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(&SPS_320X240_HIGH);
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(&PPS_320X240_HIGH);
    }
    au.extend_from_slice(&[0, 0, 1, if idr { 0x65 } else { 0x41 }]);
    au.extend(std::iter::repeat_n(0x5a, 400));
    au
}

/// ADTS AAC-LC 48 kHz stereo frame with a `len`-byte payload.
fn adts(len: usize) -> Vec<u8> {
    let frame_len = len + 7;
    let mut f = vec![
        0xff,
        0xf1,
        0x4c,
        0x80 | (frame_len >> 11) as u8,
        (frame_len >> 3) as u8,
        ((frame_len as u8 & 7) << 5) | 0x1f,
        0xfc,
    ];
    f.extend(std::iter::repeat_n(0x21, len));
    f
}

/// A stream: PAT, PMT, then `count` video access units each followed by an
/// audio PES with two ADTS frames.
fn stream(count: usize) -> Vec<u8> {
    let (mut cc_pat, mut cc_pmt, mut cc_v, mut cc_a) = (0, 0, 0, 0);
    let mut ts = packetize(PID_PAT, &pat(PMT_PID), true, &mut cc_pat);
    ts.extend(packetize(
        PMT_PID,
        &pmt(&[(0x1b, VIDEO_PID), (0x0f, AUDIO_PID)]),
        true,
        &mut cc_pmt,
    ));
    for i in 0..count {
        let pts = 126_000 + i as u64 * 3000;
        let au = access_unit(i % 30 == 0, i % 30 == 0);
        ts.extend(packetize(
            VIDEO_PID,
            &pes(0xe0, pts + 3000, Some(pts), &au, false),
            false,
            &mut cc_v,
        ));
        let mut frames = adts(100);
        frames.extend(adts(120));
        ts.extend(packetize(
            AUDIO_PID,
            &pes(0xc0, pts, None, &frames, true),
            false,
            &mut cc_a,
        ));
    }
    ts
}

fn demux(chunks: impl IntoIterator<Item = Vec<u8>>) -> (Vec<MediaEvent>, Vec<TsError>) {
    let mut demuxer = TsDemuxer::new();
    let (mut events, mut errors) = (Vec::new(), Vec::new());
    for chunk in chunks {
        demuxer.push(&chunk);
        while let Some(r) = demuxer.poll() {
            match r {
                Ok(e) => events.push(e),
                Err(e) => errors.push(e),
            }
        }
    }
    demuxer.flush();
    while let Some(r) = demuxer.poll() {
        match r {
            Ok(e) => events.push(e),
            Err(e) => errors.push(e),
        }
    }
    (events, errors)
}

fn frames(events: &[MediaEvent], kind: TrackKind) -> Vec<&Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) if f.kind == kind => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn demuxes_h264_and_adts() {
    let (events, errors) = demux([stream(5)]);
    assert!(errors.is_empty(), "{errors:?}");
    // Audio PES packets declare their length and complete first; video ones
    // complete when the next starts. Each config precedes its track's frames.
    let video_config_at = events
        .iter()
        .position(|e| matches!(e, MediaEvent::Video(_)))
        .unwrap();
    let first_video_frame = events
        .iter()
        .position(|e| matches!(e, MediaEvent::Frame(f) if f.kind == TrackKind::Video));
    assert!(first_video_frame.unwrap() > video_config_at);
    let MediaEvent::Video(video) = &events[video_config_at] else {
        unreachable!()
    };
    assert_eq!(
        (video.codec, video.width, video.height),
        (VideoCodec::H264, 320, 240)
    );
    assert_eq!(
        video.record,
        crate::h264::build_avcc(&SPS_320X240_HIGH, &[&PPS_320X240_HIGH]).unwrap()
    );
    let audio = events
        .iter()
        .find_map(|e| {
            if let MediaEvent::Audio(a) = e {
                Some(a)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        (audio.codec, audio.sample_rate, audio.channels),
        (AudioCodec::Aac, 48000, 2)
    );
    assert_eq!(&audio.record[..], &[0x11, 0x90]);

    let video_frames = frames(&events, TrackKind::Video);
    assert_eq!(video_frames.len(), 5);
    let first = video_frames[0];
    assert_eq!(
        (first.dts, first.pts, first.keyframe),
        (126_000, 129_000, true)
    );
    // AUD dropped; SPS, PPS and the slice, length-prefixed.
    assert_eq!(&first.data[..4], &[0, 0, 0, SPS_320X240_HIGH.len() as u8]);
    assert_eq!(
        first.data.len(),
        4 * 3 + SPS_320X240_HIGH.len() + PPS_320X240_HIGH.len() + 401
    );
    assert!(!video_frames[1].keyframe);
    assert_eq!(video_frames[1].data.len(), 4 + 401);

    let audio_frames = frames(&events, TrackKind::Audio);
    assert_eq!(audio_frames.len(), 10);
    assert_eq!(
        (audio_frames[0].pts, audio_frames[1].pts),
        (126_000, 126_000 + 1920)
    );
    assert_eq!(audio_frames[1].data.len(), 120);
}

#[test]
fn chunking_does_not_matter() {
    let data = stream(8);
    let (reference, _) = demux([data.clone()]);
    for size in [1, 13, 187, 188, 189, 1316, 1456] {
        let (events, errors) = demux(data.chunks(size).map(<[u8]>::to_vec));
        assert!(errors.is_empty(), "size {size}: {errors:?}");
        assert_eq!(events, reference, "size {size}");
    }
}

#[test]
fn resyncs_after_garbage_and_recovers() {
    let data = stream(40);
    let cut = 188 * 20 + 5;
    let mut corrupted = data[..cut].to_vec();
    corrupted.extend([0x47, 0x00, 0x12, 0x47, 0x55, 0x99, 0x47]);
    corrupted.extend_from_slice(&data[cut..]);
    let (events, errors) = demux(corrupted.chunks(1316).map(<[u8]>::to_vec));
    assert!(
        errors.iter().any(|e| matches!(e, TsError::Sync { .. })),
        "{errors:?}"
    );
    // Frames after the next keyframe (access unit 30) are intact.
    let video = frames(&events, TrackKind::Video);
    assert!(
        video
            .iter()
            .any(|f| f.keyframe && f.dts == 126_000 + 30 * 3000)
    );
    assert!(video.len() >= 10);
}

#[test]
fn joining_mid_stream_waits_for_parameter_sets() {
    let data = stream(35);
    // PAT and PMT, then from inside the first access unit on.
    let mut joined = data[..188 * 2].to_vec();
    joined.extend_from_slice(&data[188 * 3..]);
    let (events, errors) = demux([joined]);
    assert!(errors.is_empty(), "{errors:?}");
    let video = frames(&events, TrackKind::Video);
    assert_eq!(video.len(), 5, "access units 30..35");
    assert!(video[0].keyframe);
    assert_eq!(video[0].dts, 126_000 + 30 * 3000);
}

#[test]
fn garbage_never_panics_nor_grows() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = stream(3);
    let mut demuxer = TsDemuxer::new();
    for round in 0..300 {
        let mut chunk: Vec<u8> = (0..1316).map(|_| next() as u8).collect();
        if round % 3 == 0 {
            // Valid packets with random bytes flipped keep the parsers busy.
            chunk = valid.clone();
            for _ in 0..20 {
                let i = (next() as usize) % chunk.len();
                chunk[i] = next() as u8;
            }
        }
        if round % 5 == 0 {
            for p in chunk.chunks_mut(188) {
                p[0] = 0x47;
            }
        }
        demuxer.push(&chunk);
        while demuxer.poll().is_some() {}
    }
    demuxer.flush();
}

#[test]
fn every_prefix_is_handled() {
    let data = stream(2);
    for len in (0..data.len()).step_by(7) {
        let _ = demux([data[..len].to_vec()]);
    }
}

#[test]
fn oversized_pes_is_capped() {
    let mut cc = 0;
    let (mut cc_pat, mut cc_pmt) = (0, 0);
    let mut ts = packetize(PID_PAT, &pat(PMT_PID), true, &mut cc_pat);
    ts.extend(packetize(
        PMT_PID,
        &pmt(&[(0x0f, AUDIO_PID)]),
        true,
        &mut cc_pmt,
    ));
    let huge = pes(0xc0, 0, None, &vec![0u8; MAX_AUDIO_PES + 1000], false);
    ts.extend(packetize(AUDIO_PID, &huge, false, &mut cc));
    let (_, errors) = demux([ts]);
    assert!(errors.contains(&TsError::PesTooLarge));
}

#[test]
fn reports_unsupported_streams_once() {
    let (mut cc_pat, mut cc_pmt) = (0, 0);
    let mut ts = packetize(PID_PAT, &pat(PMT_PID), true, &mut cc_pat);
    let table = pmt(&[(0x24, 0x100), (0x0f, AUDIO_PID)]);
    ts.extend(packetize(PMT_PID, &table, true, &mut cc_pmt));
    ts.extend(packetize(PMT_PID, &table, true, &mut cc_pmt));
    let (_, errors) = demux([ts]);
    assert_eq!(
        errors,
        vec![TsError::UnsupportedStreamType {
            pid: 0x100,
            stream_type: 0x24
        }]
    );
}
