//! Segmentation of synthetic streams: parts, segment cuts, follower alignment, no loss.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use packager::{LiveOptions, LivePackager, RenditionId, Sample, Skip};

const PART_LIMIT_S: f64 = 0.2 + 0.002 + 1e-9;
const AUDIO_FRAME_S: f64 = 1024.0 / 48_000.0;
const PART_S: f64 = 0.2;

struct Expect {
    video: Vec<Sample>,
    /// Audio samples that must come out (those presented from the first keyframe on).
    audio: Vec<Sample>,
}

fn run(
    clock: Clock,
    seconds: usize,
    audio_lead_90k: i64,
    jitter: bool,
) -> (LivePackager, RenditionId, RenditionId, Expect) {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    let mut video_in = video_samples(seconds * 30, clock, 0);
    if jitter {
        add_jitter(&mut video_in);
    }
    // Audio starts a little before the first keyframe is presented: those frames are dropped.
    let audio_in = audio_samples(seconds * 48_000 / 1024, clock, -4 * 1920);
    let first_key_pts = video_in[0].pts;
    let expect = Expect {
        video: video_in.clone(),
        audio: audio_in
            .iter()
            .filter(|s| s.pts >= first_key_pts)
            .cloned()
            .collect(),
    };
    packager.begin_publish(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    push_all(
        &mut packager,
        [video, audio],
        interleave(&video_in, &audio_in, audio_lead_90k),
    );
    assert!(packager.end_publish());
    (packager, video, audio, expect)
}

/// Moves non-key video frames by up to one millisecond, keeping decode order.
fn add_jitter(samples: &mut [Sample]) {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for sample in samples.iter_mut().filter(|s| !s.keyframe) {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let shift = ((seed >> 33) % 3) as i64 * 90 - 90;
        sample.dts += shift;
        sample.pts += shift;
    }
}

fn concat_samples(segments: &[(u64, Vec<Fragment>)]) -> Vec<Vec<u8>> {
    segments
        .iter()
        .flat_map(|(_, f)| f.iter().flat_map(|f| f.samples.iter().cloned()))
        .collect()
}

/// The checks every A/V scenario must pass.
fn check_av(packager: &LivePackager, video: RenditionId, audio: RenditionId, expect: &Expect) {
    let video_segments = segments(packager, video);
    let audio_segments = segments(packager, audio);

    // Same segment numbers in both renditions, no gaps.
    let msns = |s: &[(u64, Vec<Fragment>)]| s.iter().map(|(m, _)| *m).collect::<Vec<_>>();
    assert_eq!(msns(&video_segments), msns(&audio_segments));
    assert!(video_segments.len() >= 5);

    // No sample lost, duplicated or reordered.
    let video_out = concat_samples(&video_segments);
    let video_in: Vec<Vec<u8>> = expect.video.iter().map(|s| s.data.to_vec()).collect();
    assert_eq!(video_out, video_in);
    let audio_out = concat_samples(&audio_segments);
    let audio_in: Vec<Vec<u8>> = expect.audio.iter().map(|s| s.data.to_vec()).collect();
    assert_eq!(audio_out.len(), audio_in.len());
    assert!(audio_out == audio_in);

    for (segments, timescale) in [(&video_segments, 90_000.0), (&audio_segments, 48_000.0)] {
        let fragments: Vec<&Fragment> = segments.iter().flat_map(|(_, f)| f).collect();
        for pair in fragments.windows(2) {
            assert_eq!(
                pair[1].tfdt,
                pair[0].tfdt + pair[0].duration(),
                "decode times are continuous"
            );
            assert_eq!(pair[1].sequence, pair[0].sequence + 1);
        }
        for fragment in &fragments {
            let seconds = fragment.duration() as f64 / timescale;
            assert!(seconds <= PART_LIMIT_S, "part of {seconds} s");
        }
    }

    // Video: segments start with a keyframe, keyframes only there, ~1 s long.
    let count = video_segments.len();
    for (index, (msn, fragments)) in video_segments.iter().enumerate() {
        assert!(
            fragments[0].is_sync(0),
            "segment {msn} starts with a keyframe"
        );
        let syncs = fragments
            .iter()
            .flat_map(|f| (0..f.flags.len()).map(move |i| f.is_sync(i)))
            .filter(|s| *s)
            .count();
        assert_eq!(syncs, 1);
        let seconds = fragments.iter().map(Fragment::duration).sum::<u64>() as f64 / 90_000.0;
        if index + 1 < count {
            assert!(
                (seconds - 1.0).abs() < 0.003,
                "segment {msn} lasts {seconds} s"
            );
        }
    }
    // Audio: every sample is a sync sample.
    for (_, fragments) in &audio_segments {
        assert!(
            fragments
                .iter()
                .all(|f| (0..f.flags.len()).all(|i| f.is_sync(i)))
        );
    }

    // Segment N of audio starts where video segment N is presented, within one frame, or
    // up to a part earlier where the frames before would have made a short last part.
    for ((msn, v), (_, a)) in video_segments.iter().zip(&audio_segments) {
        let video_start = v[0].pts(0) as f64 / 90_000.0;
        let audio_start = a[0].tfdt as f64 / 48_000.0;
        let late = audio_start - video_start;
        assert!(
            (-PART_S..AUDIO_FRAME_S + 0.0005).contains(&late),
            "segment {msn}: audio starts {late} s after video"
        );
    }
    // Audio segments (but the publish's last) end with a full part: one more frame would
    // not fit.
    for (msn, fragments) in &audio_segments[..audio_segments.len() - 1] {
        let last = fragments[fragments.len() - 1].duration() as f64 / 48_000.0;
        assert!(
            last + AUDIO_FRAME_S > PART_LIMIT_S,
            "segment {msn} ends with a part of {last} s"
        );
    }

    // Playlist: EXTINF is the sum of the parts, flags match the fragments.
    for (id, segments, timescale) in [
        (video, &video_segments, 90_000.0),
        (audio, &audio_segments, 48_000.0),
    ] {
        let playlist = MediaPlaylist::parse(&packager.media_playlist(id, Skip::No).unwrap());
        assert_uris_resolve(packager, id, &playlist);
        for (line, (msn, fragments)) in playlist.segments.iter().zip(segments.iter()) {
            assert_eq!(line.msn, *msn);
            let exact = fragments.iter().map(Fragment::duration).sum::<u64>() as f64 / timescale;
            assert!((line.duration - exact).abs() < 0.000_01);
            if !line.parts.is_empty() {
                assert_eq!(line.parts.len(), fragments.len());
                let sum: f64 = line.parts.iter().map(|p| p.duration).sum();
                assert!((sum - line.duration).abs() < 0.000_01 * (line.parts.len() + 1) as f64);
                for (part, fragment) in line.parts.iter().zip(fragments) {
                    assert_eq!(part.independent, fragment.is_sync(0));
                    assert!(part.duration <= PART_LIMIT_S);
                }
            }
        }
    }
}

#[test]
fn exact_timestamps() {
    let (packager, video, audio, expect) = run(Clock::Exact, 8, 0, false);
    check_av(&packager, video, audio, &expect);
}

#[test]
fn rtmp_millisecond_timestamps() {
    let (packager, video, audio, expect) = run(Clock::Rtmp, 8, 0, false);
    check_av(&packager, video, audio, &expect);
}

#[test]
fn jittery_rtmp_timestamps() {
    let (packager, video, audio, expect) = run(Clock::Rtmp, 8, 0, true);
    check_av(&packager, video, audio, &expect);
}

#[test]
fn audio_arriving_before_the_keyframe() {
    // Within one part and beyond one part ahead of the video.
    for lead_ms in [60, 150, 450] {
        let (packager, video, audio, expect) = run(Clock::Rtmp, 6, lead_ms * 90, false);
        check_av(&packager, video, audio, &expect);
    }
}

#[test]
fn audio_arriving_after_the_keyframe() {
    let (packager, video, audio, expect) = run(Clock::Rtmp, 6, -300 * 90, false);
    check_av(&packager, video, audio, &expect);
}

#[test]
fn parts_are_published_while_the_stream_runs() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(SystemTime::now());
    let samples = interleave(
        &video_samples(90, Clock::Rtmp, 0),
        &audio_samples(140, Clock::Rtmp, 3000),
        0,
    );
    let mut published = 0;
    let mut last = None;
    for (track, sample) in samples {
        if packager.push([video, audio][track], sample).unwrap() {
            published += 1;
        }
        let position = packager.position(video);
        assert!(position >= last, "positions only move forward");
        last = position;
    }
    // 3 s of 200 ms video parts and 192 ms audio parts.
    assert!(published >= 25, "{published} pushes published parts");
    let position = packager.position(video).unwrap();
    assert_eq!(position.msn, 2);
    assert!(position.part >= 3);
    let audio_position = packager.position(audio).unwrap();
    assert!(audio_position.msn == 2, "{audio_position:?}");
}

#[test]
fn audio_only_stream_cuts_by_duration() {
    let mut packager = LivePackager::new(LiveOptions::default());
    let audio = packager.add_rendition("audio", audio_config()).unwrap();
    packager.begin_publish(SystemTime::now());
    let input = audio_samples(48_000 * 5 / 1024, Clock::Rtmp, 0);
    for sample in input.clone() {
        packager.push(audio, sample).unwrap();
    }
    packager.end_publish();
    let segments = segments(&packager, audio);
    assert!(segments.len() >= 4);
    for (msn, fragments) in &segments[..segments.len() - 1] {
        let frames: usize = fragments.iter().map(|f| f.durations.len()).sum();
        assert_eq!(frames, 47, "segment {msn}: first frame at or after 1 s");
        assert!(
            fragments
                .iter()
                .all(|f| f.durations.len() <= 9 && f.durations.iter().all(|d| *d == 1024))
        );
    }
    let out = concat_samples(&segments);
    assert_eq!(
        out,
        input.iter().map(|s| s.data.to_vec()).collect::<Vec<_>>()
    );
    let playlist = MediaPlaylist::parse(&packager.media_playlist(audio, Skip::No).unwrap());
    assert!(playlist.all_parts().iter().all(|(_, p)| p.independent));
}

#[test]
fn a_lagging_video_rung_follows_the_leaders_cuts() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    let rung = packager
        .add_rendition("low", video_config(640, 360))
        .unwrap();
    packager.begin_publish(SystemTime::now());
    let source = video_samples(6 * 30, Clock::Rtmp, 0);
    let sound = audio_samples(6 * 48_000 / 1024, Clock::Rtmp, 3000);
    // The rung is the same picture sequence, smaller, arriving half a second late.
    let mut events: Vec<(i64, RenditionId, Sample)> = interleave(&source, &sound, 0)
        .into_iter()
        .map(|(track, s)| (s.dts, [video, audio][track], s))
        .collect();
    events.extend(source.iter().map(|s| {
        let small = Sample {
            data: s.data.slice(..s.data.len() / 2),
            ..s.clone()
        };
        (s.dts + 45_000, rung, small)
    }));
    events.sort_by_key(|(arrival, _, _)| *arrival);
    for (_, id, sample) in events {
        packager.push(id, sample).unwrap();
    }
    packager.end_publish();

    let leader = segments(&packager, video);
    let follower = segments(&packager, rung);
    assert_eq!(leader.len(), follower.len());
    for ((msn, a), (rung_msn, b)) in leader.iter().zip(&follower) {
        assert_eq!(msn, rung_msn);
        assert_eq!(
            a[0].tfdt, b[0].tfdt,
            "segment {msn} starts at the same decode time"
        );
        assert!(b[0].is_sync(0));
        let samples = |f: &[Fragment]| f.iter().map(|f| f.samples.len()).sum::<usize>();
        assert_eq!(samples(a), samples(b));
    }
    let master = packager.master_playlist("");
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 2);
    assert!(master.contains("RESOLUTION=640x360"));
    assert!(master.contains("\nlow/index.m3u8\n"));
}

/// A packager (video, audio) publishing, and six seconds of samples to push, in order.
fn publishing_six_seconds() -> (LivePackager, [RenditionId; 2], Vec<(usize, Sample)>) {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    let video_in = video_samples(6 * 30, Clock::Rtmp, 0);
    let audio_in = audio_samples(6 * 48_000 / 1024, Clock::Rtmp, 0);
    packager.begin_publish(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    (
        packager,
        [video, audio],
        interleave(&video_in, &audio_in, 0),
    )
}

#[test]
fn every_playlist_change_is_announced() {
    // A push that adds a part or completes a segment must say so, or requests blocked on
    // it wait for the next part. An audio segment that ends at its last published part
    // completes without a part of its own, and hls.js gives up a blocking request after
    // 0.8 s. (The preload hint alone moving answers no blocked request.)
    let (mut packager, [video, audio], samples) = publishing_six_seconds();
    let listed = |packager: &LivePackager, id| {
        let playlist = packager.media_playlist(id, Skip::No).unwrap();
        playlist
            .lines()
            .filter(|line| !line.starts_with("#EXT-X-PRELOAD-HINT"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut playlists = [video, audio].map(|id| listed(&packager, id));
    for (track, sample) in samples {
        let announced = packager.push([video, audio][track], sample).unwrap();
        for (id, before) in [video, audio].into_iter().zip(playlists.iter_mut()) {
            let now = listed(&packager, id);
            assert!(
                announced || now == *before,
                "unannounced change:\n{before}\n---\n{now}"
            );
            *before = now;
        }
    }
}

#[test]
fn the_preload_hint_names_the_next_part() {
    // A follower's hint pointed two segments ahead between the end of a segment and the
    // next part, so a player preloading it waited a whole segment.
    let (mut packager, [video, audio], samples) = publishing_six_seconds();
    let parts_and_hint = |packager: &LivePackager, id| {
        let playlist = MediaPlaylist::parse(&packager.media_playlist(id, Skip::No).unwrap());
        let parts: Vec<String> = playlist
            .segments
            .iter()
            .flat_map(|segment| &segment.parts)
            .chain(&playlist.open_parts)
            .map(|part| part.uri.clone())
            .collect();
        (parts, playlist.preload_hint)
    };
    let mut state = [video, audio].map(|id| parts_and_hint(&packager, id));
    let mut checked = 0;
    for (track, sample) in samples {
        packager.push([video, audio][track], sample).unwrap();
        for (id, (parts, hint)) in [video, audio].into_iter().zip(state.iter_mut()) {
            let (now, next_hint) = parts_and_hint(&packager, id);
            if let (Some(hint), Some(new)) =
                (hint.as_ref(), now.iter().find(|p| !parts.contains(p)))
            {
                assert_eq!(new, hint, "the part published after the hint");
                checked += 1;
            }
            (*parts, *hint) = (now, next_hint);
        }
    }
    assert!(checked > 50);
}
