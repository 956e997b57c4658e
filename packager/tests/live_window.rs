//! The live window as a player sees it: playlists, URIs, reconnects, DVR, delta updates,
//! blocking decisions, the master playlist and refused input.

mod common;

use std::io::Cursor;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::*;
use packager::{
    BlockDecision, ConfigError, LiveOptions, LivePackager, PushError, RenditionId, Resource,
    Sample, Skip,
};

fn wallclock(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Pushes `seconds` of A/V starting at input time zero.
fn publish(packager: &mut LivePackager, ids: [RenditionId; 2], seconds: usize) {
    let video = video_samples(seconds * 30, Clock::Rtmp, 0);
    let audio = audio_samples(seconds * 48_000 / 1024, Clock::Rtmp, 3000);
    push_all(packager, ids, interleave(&video, &audio, 0));
}

fn playlist(packager: &LivePackager, id: RenditionId, skip: Skip) -> MediaPlaylist {
    MediaPlaylist::parse(&packager.media_playlist(id, skip).unwrap())
}

/// Milliseconds since the epoch of an ISO 8601 UTC time with milliseconds.
fn parse_pdt(text: &str) -> i64 {
    let (date, time) = text.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|v| v.parse().unwrap()).collect();
    let (hms, ms) = time.split_once('.').unwrap();
    let t: Vec<i64> = hms.split(':').map(|v| v.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant), independent of the packager's formatter.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms.parse::<i64>().unwrap()
}

#[test]
fn media_playlist_has_the_ll_hls_tags_and_every_uri_resolves() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_700_000_000));
    publish(&mut packager, [video, audio], 6);

    let text = packager.media_playlist(video, Skip::No).unwrap();
    let head: Vec<&str> = text.lines().take(8).collect();
    assert_eq!(
        head,
        vec![
            "#EXTM3U",
            "#EXT-X-VERSION:9",
            "#EXT-X-TARGETDURATION:1",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=3,CAN-SKIP-UNTIL=6,CAN-SKIP-DATERANGES=YES",
            "#EXT-X-PART-INF:PART-TARGET=0.2",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-MAP:URI=\"init0.mp4\"",
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z",
        ]
    );
    let list = playlist(&packager, video, Skip::No);
    assert_uris_resolve(&packager, video, &list);
    assert!(!list.endlist);
    assert!(list.segments.len() >= 4);
    assert!(
        list.segments
            .iter()
            .all(|s| s.pdt.is_some() && !s.discontinuity && !s.gap)
    );
    // RFC 8216bis 4.4.3.1: EXTINF rounded to the nearest integer is at most the target.
    assert!(
        list.segments
            .iter()
            .all(|s| s.duration.round() as u64 <= list.target_duration)
    );

    // Program date times advance with the media.
    for pair in list.segments.windows(2) {
        let step =
            parse_pdt(pair[1].pdt.as_deref().unwrap()) - parse_pdt(pair[0].pdt.as_deref().unwrap());
        assert!((step as f64 - pair[0].duration * 1000.0).abs() <= 1.0);
    }

    // Parts are listed for the last three target durations and the open segment only.
    let total: f64 = list.segments.iter().map(|s| s.duration).sum::<f64>()
        + list.open_parts.iter().map(|p| p.duration).sum::<f64>();
    let mut end = 0.0;
    for segment in &list.segments {
        end += segment.duration;
        let within = total - end <= 3.0 * list.target_duration as f64 + 1e-6;
        assert_eq!(!segment.parts.is_empty(), within, "segment {}", segment.msn);
    }
    assert!(!list.open_parts.is_empty());
    assert!(list.open_parts[0].independent);
    let position = packager.position(video).unwrap();
    let next_part = Resource::Part(position.msn, position.part + 1).to_string();
    assert_eq!(list.preload_hint.as_deref(), Some(next_part.as_str()));
    assert_eq!(list.open_parts.len() as u32, position.part + 1);

    // The other rendition is reported where it is.
    let audio_position = packager.position(audio).unwrap();
    assert_eq!(
        list.reports,
        vec![(
            "../audio/index.m3u8".to_string(),
            audio_position.msn,
            audio_position.part
        )]
    );
    let audio_list = playlist(&packager, audio, Skip::No);
    assert_uris_resolve(&packager, audio, &audio_list);
    assert_eq!(audio_list.reports[0].0, "../video/index.m3u8");
    assert_eq!(
        audio_list.target_duration, list.target_duration,
        "AAC-aligned segments round to the same target"
    );

    packager.finish();
    let list = playlist(&packager, video, Skip::No);
    assert!(list.endlist);
    assert!(list.preload_hint.is_none());
    assert!(list.open_parts.is_empty());
    assert_uris_resolve(&packager, video, &list);
    assert!(
        packager.push(video, video_samples(1, Clock::Exact, 0).remove(0))
            == Err(PushError::NotPublishing)
    );
}

#[test]
fn reconnect_adds_a_discontinuity_and_keeps_the_timeline_going() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_000));
    // The publisher drops 0.1 s after a keyframe; its audio ended before that keyframe.
    let video_in = video_samples(93, Clock::Rtmp, 0);
    let audio_in = audio_samples(135, Clock::Rtmp, 3000);
    push_all(
        &mut packager,
        [video, audio],
        interleave(&video_in, &audio_in, 0),
    );
    packager.end_publish();

    packager.set_config(video, video_config(640, 360)).unwrap();
    packager.begin_publish(wallclock(2_000));
    // A new connection: timestamps start from zero again.
    publish(&mut packager, [video, audio], 3);
    packager.end_publish();

    let video_list = playlist(&packager, video, Skip::No);
    let audio_list = playlist(&packager, audio, Skip::No);
    for (id, list) in [(video, &video_list), (audio, &audio_list)] {
        assert_uris_resolve(&packager, id, list);
        assert_eq!(
            list.maps,
            vec!["init0.mp4".to_string(), "init1.mp4".to_string()]
        );
        let discontinuities: Vec<&SegmentLine> =
            list.segments.iter().filter(|s| s.discontinuity).collect();
        assert_eq!(discontinuities.len(), 1);
        assert_eq!(discontinuities[0].msn, 4);
        assert_eq!(discontinuities[0].map.as_deref(), Some("init1.mp4"));
        assert_eq!(
            parse_pdt(discontinuities[0].pdt.as_deref().unwrap()),
            2_000_000
        );
    }
    // Audio had nothing for video segment 3: a gap keeps the numbers aligned.
    let msns = |l: &MediaPlaylist| l.segments.iter().map(|s| s.msn).collect::<Vec<_>>();
    assert_eq!(msns(&video_list), msns(&audio_list));
    let gaps: Vec<u64> = audio_list
        .segments
        .iter()
        .filter(|s| s.gap)
        .map(|s| s.msn)
        .collect();
    assert_eq!(gaps, vec![3]);
    assert!((audio_list.segments[3].duration - video_list.segments[3].duration).abs() < 0.001);
    assert!(packager.segment(audio, 3).is_none());

    // The new init carries the new config; the old one is still served.
    let read = |bytes: Bytes| {
        let mp4 =
            mp4::Mp4Reader::read_header(Cursor::new(bytes.to_vec()), bytes.len() as u64).unwrap();
        let track = &mp4.tracks()[&1];
        (track.width(), track.height())
    };
    assert_eq!(read(packager.init(video, 0).unwrap()), (1280, 720));
    assert_eq!(read(packager.init(video, 1).unwrap()), (640, 360));

    // Decode times keep increasing across the reconnect, in both renditions.
    for id in [video, audio] {
        let segments = segments(&packager, id);
        let fragments: Vec<&Fragment> = segments.iter().flat_map(|(_, f)| f).collect();
        for pair in fragments.windows(2) {
            assert!(pair[1].tfdt >= pair[0].tfdt + pair[0].duration());
        }
        let samples: usize = fragments.iter().map(|f| f.samples.len()).sum();
        let expected = if id == video {
            93 + 90
        } else {
            135 + 3 * 48_000 / 1024
        };
        assert_eq!(samples, expected);
    }
}

#[test]
fn begin_publish_without_end_publish_closes_the_open_segments() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_000));
    publish(&mut packager, [video, audio], 2);
    assert!(playlist(&packager, video, Skip::No).open_parts.len() > 1);
    packager.begin_publish(wallclock(2_000));
    let list = playlist(&packager, video, Skip::No);
    assert!(list.open_parts.is_empty());
    assert_eq!(list.segments.len(), 2);
    publish(&mut packager, [video, audio], 2);
    let list = playlist(&packager, video, Skip::No);
    assert_eq!(list.segments.iter().filter(|s| s.discontinuity).count(), 1);
    assert_uris_resolve(&packager, video, &list);
}

#[test]
fn a_publish_without_media_adds_no_discontinuity() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_000));
    publish(&mut packager, [video, audio], 2);
    packager.begin_publish(wallclock(2_000));
    packager.end_publish();
    packager.begin_publish(wallclock(3_000));
    publish(&mut packager, [video, audio], 2);
    packager.end_publish();
    let list = playlist(&packager, video, Skip::No);
    assert_eq!(
        list.maps,
        vec!["init0.mp4".to_string(), "init1.mp4".to_string()]
    );
    assert_uris_resolve(&packager, video, &list);
}

#[test]
fn dvr_window_drops_old_segments() {
    let options = LiveOptions {
        dvr_window: Duration::from_secs(5),
        ..LiveOptions::default()
    };
    let (mut packager, video, audio) = av_packager(options);
    packager.begin_publish(wallclock(1_000));
    publish(&mut packager, [video, audio], 3);
    packager.end_publish();
    packager.begin_publish(wallclock(2_000));
    publish(&mut packager, [video, audio], 9);

    for id in [video, audio] {
        let list = playlist(&packager, id, Skip::No);
        assert_uris_resolve(&packager, id, &list);
        assert!(
            list.media_sequence >= 6,
            "media sequence {}",
            list.media_sequence
        );
        let listed: f64 = list.segments.iter().map(|s| s.duration).sum();
        assert!(listed <= 6.1, "{listed} s listed");
        // The first publish fell out of the window: its discontinuity is counted, not shown.
        assert_eq!(list.discontinuity_sequence, 1);
        assert!(list.segments.iter().all(|s| !s.discontinuity));
        assert_eq!(list.maps, vec!["init1.mp4".to_string()]);
        assert!(packager.init(id, 0).is_none());
        assert!(packager.segment(id, 0).is_none());
        assert!(packager.part(id, 0, 0).is_none());
        assert_eq!(packager.block_decision(id, 0, None), BlockDecision::Gone);
        assert_eq!(
            packager.block_decision(id, list.media_sequence - 1, Some(0)),
            BlockDecision::Gone
        );
    }
    let text = packager.media_playlist(video, Skip::No).unwrap();
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
}

#[test]
fn delta_updates_skip_old_segments() {
    let options = LiveOptions {
        dvr_window: Duration::from_secs(60),
        ..LiveOptions::default()
    };
    let (mut packager, video, audio) = av_packager(options);
    packager.begin_publish(wallclock(1_000));
    publish(&mut packager, [video, audio], 20);

    let full = playlist(&packager, video, Skip::No);
    assert!(full.skip_line.is_none());
    let total: f64 = full.segments.iter().map(|s| s.duration).sum::<f64>()
        + full.open_parts.iter().map(|p| p.duration).sum::<f64>();
    let skip_until = 6.0 * full.target_duration as f64;
    let mut end = 0.0;
    let expected = full
        .segments
        .iter()
        .take_while(|s| {
            end += s.duration;
            total - end > skip_until
        })
        .count() as u64;
    assert!(expected >= 10);

    for (skip, version) in [(Skip::Yes, 9), (Skip::V2, 10)] {
        let delta = playlist(&packager, video, skip);
        assert_eq!(delta.skipped, expected);
        assert_eq!(delta.version, version);
        assert_eq!(delta.media_sequence, full.media_sequence);
        assert_eq!(
            delta
                .skip_line
                .as_deref()
                .unwrap()
                .contains("RECENTLY-REMOVED-DATERANGES=\"\""),
            skip == Skip::V2
        );
        let tail: Vec<(u64, String)> = full.segments[expected as usize..]
            .iter()
            .map(|s| (s.msn, s.uri.clone()))
            .collect();
        let listed: Vec<(u64, String)> = delta
            .segments
            .iter()
            .map(|s| (s.msn, s.uri.clone()))
            .collect();
        assert_eq!(listed, tail);
        assert_eq!(delta.open_parts, full.open_parts);
        assert_uris_resolve(&packager, video, &delta);
    }
}

#[test]
fn blocking_decisions() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    assert_eq!(
        packager.block_decision(video, 0, Some(0)),
        BlockDecision::Wait
    );
    assert_eq!(
        packager.block_decision(video, 2, Some(0)),
        BlockDecision::TooFar
    );
    packager.begin_publish(wallclock(1_000));
    let video_in = video_samples(90, Clock::Rtmp, 0);
    let audio_in = audio_samples(140, Clock::Rtmp, 3000);
    let mut samples = interleave(&video_in, &audio_in, 0).into_iter();
    // Push until segment 2 has two parts.
    for (track, sample) in samples.by_ref() {
        packager.push([video, audio][track], sample).unwrap();
        if packager
            .position(video)
            .is_some_and(|p| p.msn == 2 && p.part == 1)
        {
            break;
        }
    }
    let at = |p: &LivePackager, msn, part| p.block_decision(video, msn, part);
    assert_eq!(at(&packager, 2, Some(1)), BlockDecision::Ready);
    assert_eq!(at(&packager, 2, Some(0)), BlockDecision::Ready);
    assert_eq!(at(&packager, 2, Some(2)), BlockDecision::Wait);
    assert_eq!(at(&packager, 2, None), BlockDecision::Wait);
    assert_eq!(at(&packager, 1, None), BlockDecision::Ready);
    assert_eq!(at(&packager, 1, Some(9)), BlockDecision::Ready);
    assert_eq!(at(&packager, 3, Some(0)), BlockDecision::Wait);
    assert_eq!(at(&packager, 4, Some(0)), BlockDecision::Wait);
    assert_eq!(at(&packager, 5, Some(0)), BlockDecision::TooFar);
    assert_eq!(
        packager.block_decision(RenditionId(7), 0, None),
        BlockDecision::Gone
    );

    // Waiting ends when the part is published.
    for (track, sample) in samples.by_ref() {
        if packager.push([video, audio][track], sample).unwrap()
            && at(&packager, 2, Some(2)) == BlockDecision::Ready
        {
            break;
        }
    }
    assert_eq!(at(&packager, 2, Some(2)), BlockDecision::Ready);
    assert!(packager.part(video, 2, 2).is_some());

    packager.finish();
    assert_eq!(at(&packager, 2, None), BlockDecision::Ready);
    assert_eq!(
        at(&packager, 3, Some(0)),
        BlockDecision::Ready,
        "nothing more will come"
    );
}

#[test]
fn master_playlist_describes_the_variants() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    let before = packager.master_playlist("/live/s/");
    assert!(before.contains("BANDWIDTH="));
    assert!(!before.contains("FRAME-RATE"));

    packager.begin_publish(wallclock(1_000));
    publish(&mut packager, [video, audio], 4);
    let master = packager.master_playlist("/live/s/");
    let lines: Vec<&str> = master.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert!(lines[1].starts_with("#EXT-X-VERSION:"));
    assert_eq!(lines[2], "#EXT-X-INDEPENDENT-SEGMENTS");
    let media = lines[3].strip_prefix("#EXT-X-MEDIA:").unwrap();
    for (name, value) in [
        ("TYPE", "AUDIO"),
        ("GROUP-ID", "audio"),
        ("NAME", "audio"),
        ("DEFAULT", "YES"),
        ("AUTOSELECT", "YES"),
        ("URI", "/live/s/audio/index.m3u8"),
    ] {
        assert_eq!(attribute(media, name).as_deref(), Some(value), "{name}");
    }
    let inf = lines[4].strip_prefix("#EXT-X-STREAM-INF:").unwrap();
    assert_eq!(lines[5], "/live/s/video/index.m3u8");
    assert_eq!(lines.len(), 6);
    assert_eq!(
        attribute(inf, "CODECS").as_deref(),
        Some("avc1.64001f,mp4a.40.2")
    );
    assert_eq!(attribute(inf, "RESOLUTION").as_deref(), Some("1280x720"));
    assert_eq!(attribute(inf, "FRAME-RATE").as_deref(), Some("30.000"));
    assert_eq!(attribute(inf, "AUDIO").as_deref(), Some("audio"));

    // BANDWIDTH: peak segment bitrate of video plus that of audio.
    let peak = |id| {
        let list = playlist(&packager, id, Skip::No);
        list.segments
            .iter()
            .map(|s| packager.segment(id, s.msn).unwrap().len as f64 * 8.0 / s.duration)
            .fold(0.0, f64::max)
    };
    let bandwidth: f64 = attribute(inf, "BANDWIDTH").unwrap().parse().unwrap();
    let expected = peak(video) + peak(audio);
    assert!(
        (bandwidth - expected).abs() / expected < 0.001,
        "{bandwidth} vs {expected}"
    );
    let average: f64 = attribute(inf, "AVERAGE-BANDWIDTH")
        .unwrap()
        .parse()
        .unwrap();
    assert!(average <= bandwidth && average > 0.5 * bandwidth);
}

#[test]
fn audio_only_master_playlist() {
    let mut packager = LivePackager::new(LiveOptions::default());
    packager.add_rendition("audio", audio_config()).unwrap();
    let master = packager.master_playlist("");
    let lines: Vec<&str> = master.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[3].starts_with("#EXT-X-STREAM-INF:"));
    assert_eq!(attribute(lines[3], "CODECS").as_deref(), Some("mp4a.40.2"));
    assert_eq!(lines[4], "audio/index.m3u8");
}

#[test]
fn refuses_bad_input() {
    let mut packager = LivePackager::new(LiveOptions::default());
    let video = packager
        .add_rendition("video", video_config(1280, 720))
        .unwrap();
    let sample = |dts: i64| Sample {
        dts,
        pts: dts,
        keyframe: true,
        data: payload(1, 10),
    };
    assert_eq!(
        packager.push(video, sample(0)),
        Err(PushError::NotPublishing)
    );
    assert_eq!(
        packager.add_rendition("video", video_config(1, 1)),
        Err(ConfigError::DuplicateRendition("video".into()))
    );
    for name in ["", "a/b", "..", "a b", "ä"] {
        assert_eq!(
            packager.add_rendition(name, audio_config()),
            Err(ConfigError::RenditionName(name.into()))
        );
    }
    let mut broken = audio_config();
    broken.record = Bytes::new();
    assert!(packager.add_rendition("audio", broken.clone()).is_err());
    assert!(packager.set_config(video, broken).is_err());
    assert_eq!(
        packager.set_config(RenditionId(9), audio_config()),
        Err(ConfigError::UnknownRendition(RenditionId(9)))
    );

    packager.begin_publish(wallclock(1));
    assert_eq!(
        packager.push(RenditionId(5), sample(0)),
        Err(PushError::UnknownRendition(RenditionId(5)))
    );
    assert_eq!(
        packager.push(
            video,
            Sample {
                keyframe: false,
                ..sample(0)
            }
        ),
        Ok(false),
        "before the first keyframe"
    );
    assert_eq!(packager.push(video, sample(0)), Ok(false));
    assert!(matches!(
        packager.push(video, sample(0)),
        Err(PushError::NonMonotonic { .. })
    ));
    let reordered = Sample {
        pts: 0,
        ..sample(1i64 << 40)
    };
    assert!(matches!(
        packager.push(video, reordered),
        Err(PushError::CompositionOffset(_))
    ));
    assert_eq!(packager.push(video, sample(3000)), Ok(false));

    packager.finish();
    packager.begin_publish(wallclock(2));
    assert_eq!(
        packager.push(video, sample(6000)),
        Err(PushError::NotPublishing)
    );
}

/// Keyframes 3 s apart make 3 s segments: the target duration a blocking request's
/// timeout is based on follows them, above the 1 s segment target.
#[test]
fn target_duration_follows_the_keyframe_interval() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_700_000_000));
    let mut frames = video_samples(10 * 30, Clock::Rtmp, 0);
    for (n, frame) in frames.iter_mut().enumerate() {
        frame.keyframe = n % 90 == 0;
    }
    let audio_frames = audio_samples(10 * 48_000 / 1024, Clock::Rtmp, 3000);
    push_all(
        &mut packager,
        [video, audio],
        interleave(&frames, &audio_frames, 0),
    );

    assert_eq!(
        packager.target_duration(video),
        Some(Duration::from_secs(3))
    );
    let text = packager.media_playlist(video, Skip::No).unwrap();
    assert!(text.contains("#EXT-X-TARGETDURATION:3\n"), "{text}");
    assert_eq!(packager.target_duration(RenditionId(9)), None);
}

#[test]
fn the_live_edge_is_the_newest_sample_on_the_program_date_time_clock() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    assert_eq!(packager.live_edge_unix_ms(), None);
    packager.begin_publish(wallclock(1_700_000_000));
    publish(&mut packager, [video, audio], 4);
    let edge = packager
        .live_edge_unix_ms()
        .expect("an edge while publishing");
    let list = playlist(&packager, video, Skip::No);
    let first = parse_pdt(list.segments[0].pdt.as_deref().unwrap());
    let listed_ms = (list.segments.iter().map(|s| s.duration).sum::<f64>()
        + list.open_parts.iter().map(|p| p.duration).sum::<f64>())
        * 1000.0;
    // The newest frame sits at most a frame and a part past what playlists list.
    let past_listed = edge - first - listed_ms.round() as i64;
    assert!((-34..=234).contains(&past_listed), "{past_listed} ms");
    packager.end_publish();
    assert_eq!(packager.live_edge_unix_ms(), None);
}

/// What an archive takes while the stream runs: every segment once, with its place on the
/// timeline, its publish, its init and its bytes; an audio gap as a gap.
#[test]
fn completed_segments_are_handed_out_once_for_archiving() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    packager.begin_publish(wallclock(1_000));
    let video_in = video_samples(93, Clock::Rtmp, 0);
    let audio_in = audio_samples(135, Clock::Rtmp, 3000);
    push_all(
        &mut packager,
        [video, audio],
        interleave(&video_in, &audio_in, 0),
    );
    let mut taken = packager.take_completed();
    assert!(
        !taken.is_empty(),
        "segments complete while the publish goes on"
    );
    packager.end_publish();
    packager.begin_publish(wallclock(2_000));
    publish(&mut packager, [video, audio], 3);
    packager.end_publish();
    taken.extend(packager.take_completed());
    assert!(packager.take_completed().is_empty());

    for id in [video, audio] {
        let mine: Vec<&packager::CompletedSegment> =
            taken.iter().filter(|s| s.rendition == id).collect();
        let msns: Vec<u64> = mine.iter().map(|s| s.msn).collect();
        assert_eq!(msns, (0..msns.len() as u64).collect::<Vec<_>>(), "{id:?}");
        for pair in mine.windows(2) {
            assert!(
                pair[0].start + pair[0].duration <= pair[1].start,
                "{pair:?}"
            );
        }
        for segment in &mine {
            assert_eq!(u32::from(segment.msn >= 4), segment.discontinuity);
            assert_eq!(segment.init, segment.discontinuity);
            if segment.gap {
                assert!(segment.chunks.is_empty());
                assert_eq!(segment.samples, 0);
                continue;
            }
            assert!(segment.samples > 0, "{segment:?}");
            let config = packager.init_config(id, segment.init).unwrap();
            assert_eq!(config.codec.is_video(), id == video);
            let served = packager.segment(id, segment.msn).unwrap();
            assert_eq!(segment.chunks, served.chunks);
            assert_eq!(segment.len, served.len);
        }
        assert_eq!(mine[4].pdt_ms, 2_000_000, "{id:?}");
    }
    let gaps: Vec<(RenditionId, u64)> = taken
        .iter()
        .filter(|s| s.gap)
        .map(|s| (s.rendition, s.msn))
        .collect();
    assert_eq!(gaps, [(audio, 3)]);
    let video_samples: u64 = taken
        .iter()
        .filter(|s| s.rendition == video)
        .map(|s| s.samples)
        .sum();
    assert_eq!(
        video_samples,
        93 + 3 * 30,
        "every video frame in one segment"
    );
}
