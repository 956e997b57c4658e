//! Renditions taken out of service and brought back (a transcoded rung shed under load), and
//! a rung that stops producing for a while: gap segments with the leader's numbers and
//! durations, playlists and reports without the rung, rejoining at a leader cut, and no
//! effect on the other renditions.

mod common;

use std::collections::VecDeque;
use std::io::Cursor;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::*;
use packager::{
    ActivationError, BlockDecision, LiveOptions, LivePackager, RenditionId, Resource, Sample, Skip,
};

/// The rung arrives this long after the source it is transcoded from.
const RUNG_LAG_90K: i64 = 18_000;
const SECOND_90K: i64 = 90_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Track {
    Video,
    Audio,
    Rung,
}

/// 30 fps video (keyframe every second, so one segment per second: segment `m` starts with
/// frame `30 m`), AAC audio and, once added, a half-size rung of the same pictures.
struct Stream {
    packager: LivePackager,
    video: RenditionId,
    audio: RenditionId,
    rung: Option<RenditionId>,
    /// While set, the rung's samples are not produced (its transcoder stalls).
    rung_stalled: bool,
    events: VecDeque<(i64, Track, Sample)>,
    video_in: Vec<Sample>,
    audio_in: Vec<Sample>,
    /// Frame numbers of the rung samples pushed while it was in service.
    rung_pushed: Vec<u32>,
}

impl Stream {
    fn new(seconds: usize, with_rung: bool) -> Stream {
        let (mut packager, video, audio) = av_packager(LiveOptions::default());
        packager.begin_publish(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let video_in = video_samples(seconds * 30, Clock::Rtmp, 0);
        let audio_in = audio_samples(seconds * 48_000 / 1024, Clock::Rtmp, 3000);
        let mut events: Vec<(i64, Track, Sample)> = interleave(&video_in, &audio_in, 0)
            .into_iter()
            .map(|(track, s)| (s.dts, [Track::Video, Track::Audio][track], s))
            .collect();
        if with_rung {
            events.extend(video_in.iter().map(|s| {
                let small = Sample {
                    data: s.data.slice(..s.data.len() / 2),
                    ..s.clone()
                };
                (s.dts + RUNG_LAG_90K, Track::Rung, small)
            }));
        }
        events.sort_by_key(|(arrival, _, _)| *arrival);
        Stream {
            packager,
            video,
            audio,
            rung: None,
            rung_stalled: false,
            events: events.into(),
            video_in,
            audio_in,
            rung_pushed: Vec::new(),
        }
    }

    /// Adds the rung mid-publish.
    fn add_rung(&mut self) -> RenditionId {
        let rung = self
            .packager
            .add_rendition("low", video_config(640, 360))
            .unwrap();
        self.rung = Some(rung);
        rung
    }

    /// Pushes everything arriving before `arrival_90k`.
    fn run_until(&mut self, arrival_90k: i64) {
        while self
            .events
            .front()
            .is_some_and(|(arrival, _, _)| *arrival < arrival_90k)
        {
            let Some((_, track, sample)) = self.events.pop_front() else {
                break;
            };
            let id = match track {
                Track::Video => self.video,
                Track::Audio => self.audio,
                Track::Rung => match self.rung {
                    Some(rung) if !self.rung_stalled => rung,
                    _ => continue,
                },
            };
            let frame = frame_number(&sample.data);
            let result = self.packager.push(id, sample);
            if track == Track::Rung {
                if self.packager.is_active(id) {
                    self.rung_pushed.push(frame);
                } else {
                    assert_eq!(result, Ok(false), "dropped while out of service");
                }
            }
            result.unwrap();
        }
    }

    fn playlist(&self, id: RenditionId) -> MediaPlaylist {
        MediaPlaylist::parse(&self.packager.media_playlist(id, Skip::No).unwrap())
    }
}

/// The frame number `payload` wrote after the length prefix.
fn frame_number(data: &Bytes) -> u32 {
    u32::from_be_bytes(data[4..8].try_into().unwrap())
}

/// Per media segment: msn, base decode time, whether it starts with a sync sample, and
/// the frame numbers in it.
fn frames(packager: &LivePackager, id: RenditionId) -> Vec<(u64, u64, bool, Vec<u32>)> {
    segments(packager, id)
        .into_iter()
        .map(|(msn, fragments)| {
            let numbers = fragments
                .iter()
                .flat_map(|f| {
                    f.samples
                        .iter()
                        .map(|s| frame_number(&Bytes::from(s.clone())))
                })
                .collect();
            (msn, fragments[0].tfdt, fragments[0].is_sync(0), numbers)
        })
        .collect()
}

/// The sample payloads of every media segment, in order.
fn payloads(packager: &LivePackager, id: RenditionId) -> Vec<Vec<u8>> {
    segments(packager, id)
        .into_iter()
        .flat_map(|(_, fragments)| fragments.into_iter().flat_map(|f| f.samples))
        .collect()
}

fn msns(list: &MediaPlaylist) -> Vec<u64> {
    list.segments.iter().map(|s| s.msn).collect()
}

fn gaps(list: &MediaPlaylist) -> Vec<u64> {
    list.segments
        .iter()
        .filter(|s| s.gap)
        .map(|s| s.msn)
        .collect()
}

fn reported(list: &MediaPlaylist, name: &str) -> bool {
    let uri = format!("../{name}/index.m3u8");
    list.reports.iter().any(|(u, _, _)| *u == uri)
}

/// The rung "low" is in the master playlist and the leader `video` reports on it.
fn assert_listed(stream: &Stream, video: RenditionId) {
    assert!(
        stream
            .packager
            .master_playlist("")
            .contains("low/index.m3u8")
    );
    assert!(reported(&stream.playlist(video), "low"));
}

/// Gap segments last as long as the leader's segments of the same number, and those
/// recent enough to list parts list GAP=YES parts of at most the part target covering
/// that duration.
fn assert_gaps_match_the_leader(rung: &MediaPlaylist, leader: &MediaPlaylist) {
    for gap in rung.segments.iter().filter(|s| s.gap) {
        let lead = leader
            .segments
            .iter()
            .find(|s| s.msn == gap.msn)
            .expect("the leader has the segment");
        assert!(
            (gap.duration - lead.duration).abs() < 1e-4,
            "gap {} lasts {} s, the leader's {} s",
            gap.msn,
            gap.duration,
            lead.duration
        );
        assert_eq!(gap.pdt, lead.pdt);
        if gap.parts.is_empty() {
            continue; // older than the segments whose parts are listed
        }
        assert!(
            gap.parts
                .iter()
                .all(|p| p.gap && !p.independent && p.duration <= 0.2 + 1e-4)
        );
        let parts: f64 = gap.parts.iter().map(|p| p.duration).sum();
        assert!(
            (parts - gap.duration).abs() < 1e-3,
            "gap {}: parts {parts} s",
            gap.msn
        );
    }
}

/// Runs the shed-and-restore scenario: the rung joins at 1.5 s (segment 2 on), goes out of
/// service at 4.5 s (mid-segment 4) and comes back at 7.5 s (mid-segment 7), optionally
/// with a new config. Returns the stream (publish ended) and the frame count pushed to the
/// rung before it was shed.
fn shed_and_restore(new_config: Option<(u32, u32)>) -> (Stream, RenditionId, u32) {
    let mut stream = Stream::new(11, true);
    let (video, audio) = (stream.video, stream.audio);
    stream.run_until(3 * SECOND_90K / 2);
    let rung = stream.add_rung();
    stream.run_until(9 * SECOND_90K / 2);
    assert_listed(&stream, video);

    stream.packager.deactivate(rung).unwrap();
    assert!(!stream.packager.is_active(rung));
    let pushed = stream.rung_pushed.len() as u32;
    let last_pushed = *stream.rung_pushed.last().unwrap();
    // The pending samples became a final part of the open segment 4.
    let position = stream.packager.position(rung).unwrap();
    assert_eq!(position.msn, 4);
    let last_part = stream
        .packager
        .part(rung, position.msn, position.part)
        .unwrap();
    let fragment = &parse_fragments(&last_part)[0];
    let last_sample = Bytes::from(fragment.samples.last().unwrap().clone());
    assert_eq!(frame_number(&last_sample), last_pushed);

    stream.run_until(72 * SECOND_90K / 10);
    // Out of service: not in the master playlist, not reported, gaps for segments 5 and 6.
    let master = stream.packager.master_playlist("");
    assert!(!master.contains("low/"), "{master}");
    assert_eq!(master.matches("#EXT-X-STREAM-INF:").count(), 1);
    for id in [video, audio] {
        let list = stream.playlist(id);
        assert!(!reported(&list, "low"), "{}", list.text);
        assert!(reported(&list, if id == video { "audio" } else { "video" }));
    }
    let leader = stream.playlist(video);
    let list = stream.playlist(rung);
    assert!(reported(&list, "video") && reported(&list, "audio"));
    assert_eq!(msns(&list), vec![2, 3, 4, 5, 6]);
    assert_eq!(gaps(&list), vec![5, 6]);
    assert!(!list.segments[2].gap, "segment 4 keeps its media");
    assert!(list.preload_hint.is_none());
    assert!(list.open_parts.is_empty());
    assert_gaps_match_the_leader(&list, &leader);
    assert_uris_resolve(&stream.packager, rung, &list);
    for msn in [5, 6] {
        for part in [None, Some(0), Some(3)] {
            assert_eq!(
                stream.packager.block_decision(rung, msn, part),
                BlockDecision::Ready
            );
        }
        assert!(stream.packager.segment(rung, msn).is_none());
        assert!(stream.packager.part(rung, msn, 0).is_none());
    }
    // The leader is writing segment 7: its gap comes when the leader completes it.
    assert_eq!(
        stream.packager.block_decision(rung, 7, Some(0)),
        BlockDecision::Wait
    );

    if let Some((width, height)) = new_config {
        stream
            .packager
            .set_config(rung, video_config(width, height))
            .unwrap();
    }
    stream.run_until(15 * SECOND_90K / 2);
    stream.packager.activate(rung).unwrap();
    assert!(stream.packager.is_active(rung));
    // It will start the leader's next segment.
    let hint = stream.playlist(rung).preload_hint;
    assert_eq!(hint.as_deref(), Some("8.0.m4s"));
    assert_listed(&stream, video);

    // Rejoined at the leader's cut 8 with an independent first part.
    stream.run_until(17 * SECOND_90K / 2);
    let list = stream.playlist(rung);
    assert_eq!(msns(&list), vec![2, 3, 4, 5, 6, 7]);
    assert_eq!(gaps(&list), vec![5, 6, 7]);
    assert_gaps_match_the_leader(&list, &stream.playlist(video));
    assert!(!list.open_parts.is_empty());
    assert!(list.open_parts[0].independent);
    assert_eq!(
        stream.packager.position(rung).map(|p| p.msn),
        stream.packager.position(video).map(|p| p.msn)
    );
    let hint = Resource::Part(8, list.open_parts.len() as u32).to_string();
    assert_eq!(list.preload_hint.as_deref(), Some(hint.as_str()));
    assert_uris_resolve(&stream.packager, rung, &list);
    assert_eq!(
        stream.packager.block_decision(rung, 7, None),
        BlockDecision::Ready
    );

    stream.run_until(i64::MAX);
    assert!(stream.packager.end_publish());
    (stream, rung, pushed)
}

#[test]
fn a_rung_taken_out_of_service_gets_gaps_and_rejoins_at_a_leader_cut() {
    let (stream, rung, pushed) = shed_and_restore(None);
    let packager = &stream.packager;
    let (video, audio) = (stream.video, stream.audio);
    let leader = stream.playlist(video);
    let list = stream.playlist(rung);
    assert_uris_resolve(packager, rung, &list);
    assert_eq!(msns(&list), (2..=10).collect::<Vec<_>>());
    assert_eq!(*msns(&leader).last().unwrap(), 10);
    assert_eq!(gaps(&list), vec![5, 6, 7]);
    assert_gaps_match_the_leader(&list, &leader);
    assert_eq!(list.maps, vec!["init0.mp4".to_string()]);

    // Media segments start where the leader's do, with a keyframe.
    let lead_frames = frames(packager, video);
    let rung_frames = frames(packager, rung);
    for (msn, tfdt, sync, numbers) in &rung_frames {
        let (_, lead_tfdt, _, lead_numbers) = lead_frames.iter().find(|(m, ..)| m == msn).unwrap();
        assert_eq!(tfdt, lead_tfdt, "segment {msn}");
        assert!(*sync, "segment {msn}");
        assert_eq!(numbers[0], lead_numbers[0], "segment {msn}");
    }
    // Everything pushed from its first cut until it was shed, then from the rejoin cut on.
    let out: Vec<u32> = rung_frames.iter().flat_map(|(.., n)| n.clone()).collect();
    let first_pushed = stream.rung_pushed[0];
    let expected: Vec<u32> = (60..first_pushed + pushed).chain(240..330).collect();
    assert!(first_pushed <= 60);
    assert_eq!(out, expected);

    // The other renditions are untouched: every sample in is out, and their segments are
    // byte for byte those of the same stream without the rung.
    let video_in: Vec<Vec<u8>> = stream.video_in.iter().map(|s| s.data.to_vec()).collect();
    let audio_in: Vec<Vec<u8>> = stream.audio_in.iter().map(|s| s.data.to_vec()).collect();
    assert_eq!(payloads(packager, video), video_in);
    assert_eq!(payloads(packager, audio), audio_in);
    let mut alone = Stream::new(11, false);
    alone.run_until(i64::MAX);
    alone.packager.end_publish();
    for id in [video, audio] {
        let list = stream.playlist(id);
        let alone_list = alone.playlist(id);
        assert_eq!(msns(&list), msns(&alone_list));
        for msn in msns(&list) {
            assert_eq!(
                packager.segment(id, msn),
                alone.packager.segment(id, msn),
                "segment {msn}"
            );
        }
    }
}

#[test]
fn a_rung_back_with_a_new_config_gets_a_new_map_on_the_same_timeline() {
    let (stream, rung, _) = shed_and_restore(Some((480, 270)));
    let packager = &stream.packager;
    let list = stream.playlist(rung);
    assert_uris_resolve(packager, rung, &list);
    assert_eq!(
        list.maps,
        vec!["init0.mp4".to_string(), "init1.mp4".to_string()]
    );
    assert!(list.segments.iter().all(|s| !s.discontinuity));
    assert!(!list.text.contains("#EXT-X-DISCONTINUITY"));
    let rejoin = list.segments.iter().find(|s| s.msn == 8).unwrap();
    assert_eq!(rejoin.map.as_deref(), Some("init1.mp4"));
    // Besides the playlist's first MAP, only the rejoin segment has one.
    assert!(
        list.segments[1..]
            .iter()
            .filter(|s| s.msn != 8)
            .all(|s| s.map.is_none())
    );

    let size = |bytes: Bytes| {
        let mp4 =
            mp4::Mp4Reader::read_header(Cursor::new(bytes.to_vec()), bytes.len() as u64).unwrap();
        let track = &mp4.tracks()[&1];
        (track.width(), track.height())
    };
    assert_eq!(size(packager.init(rung, 0).unwrap()), (640, 360));
    assert_eq!(size(packager.init(rung, 1).unwrap()), (480, 270));

    // The media timeline goes on: the rejoin segment starts where the leader's does.
    let lead = frames(packager, stream.video);
    let rung_frames = frames(packager, rung);
    let at = |all: &[(u64, u64, bool, Vec<u32>)], msn| all.iter().find(|s| s.0 == msn).unwrap().1;
    assert_eq!(at(&rung_frames, 8), at(&lead, 8));
    // The master playlist describes the new config.
    assert!(packager.master_playlist("").contains("RESOLUTION=480x270"));
}

#[test]
fn shedding_refuses_the_leader_and_unknown_renditions() {
    let (mut packager, video, audio) = av_packager(LiveOptions::default());
    let unknown = RenditionId(9);
    // Between publishes the rendition that would lead the next one is the leader.
    assert_eq!(
        packager.deactivate(video),
        Err(ActivationError::Leader(video))
    );
    assert_eq!(
        packager.deactivate(unknown),
        Err(ActivationError::UnknownRendition(unknown))
    );
    assert_eq!(
        packager.activate(unknown),
        Err(ActivationError::UnknownRendition(unknown))
    );
    assert!(!packager.is_active(unknown));

    packager.begin_publish(SystemTime::UNIX_EPOCH);
    push_all(
        &mut packager,
        [video, audio],
        interleave(
            &video_samples(45, Clock::Exact, 0),
            &audio_samples(70, Clock::Exact, 3000),
            0,
        ),
    );
    assert_eq!(
        packager.deactivate(video),
        Err(ActivationError::Leader(video))
    );
    assert!(packager.is_active(video));
    // Twice either way is harmless.
    assert_eq!(packager.deactivate(audio), Ok(()));
    assert_eq!(packager.deactivate(audio), Ok(()));
    assert!(!packager.is_active(audio));
    // Dropped unread: not even checked against the samples before.
    for sample in audio_samples(71, Clock::Exact, 3000) {
        assert_eq!(packager.push(audio, sample), Ok(false));
    }
    assert_eq!(packager.activate(audio), Ok(()));
    assert_eq!(packager.activate(audio), Ok(()));
    assert!(packager.is_active(audio));
}

#[test]
fn a_rung_that_stops_producing_gets_gaps_instead_of_stalling() {
    let mut stream = Stream::new(12, true);
    let video = stream.video;
    stream.run_until(3 * SECOND_90K / 2);
    let rung = stream.add_rung();
    // The rung's transcoder stalls from 4.3 s to 8.3 s of arrival time.
    stream.run_until(43 * SECOND_90K / 10);
    let produced = *stream.rung_pushed.last().unwrap();
    stream.rung_stalled = true;
    stream.run_until(75 * SECOND_90K / 10);

    // The leader completed segments 5 and 6: the rung's segment 4 is complete and segment 5,
    // for which it has nothing, is a gap rather than a segment that never ends.
    let list = stream.playlist(rung);
    assert_eq!(msns(&list), vec![2, 3, 4, 5]);
    assert_eq!(gaps(&list), vec![5]);
    assert!(list.open_parts.is_empty());
    assert_gaps_match_the_leader(&list, &stream.playlist(video));
    assert_eq!(
        stream.packager.block_decision(rung, 5, Some(0)),
        BlockDecision::Ready
    );
    assert_uris_resolve(&stream.packager, rung, &list);

    stream.run_until(83 * SECOND_90K / 10);
    stream.rung_stalled = false;
    stream.run_until(i64::MAX);
    stream.packager.end_publish();
    let leader = stream.playlist(video);
    let list = stream.playlist(rung);
    assert_uris_resolve(&stream.packager, rung, &list);
    assert_eq!(
        msns(&list),
        (2..=*msns(&leader).last().unwrap()).collect::<Vec<_>>()
    );
    assert_eq!(gaps(&list), vec![5, 6, 7, 8], "{}", list.text);
    assert_gaps_match_the_leader(&list, &leader);
    let lead_frames = frames(&stream.packager, video);
    let rung_frames = frames(&stream.packager, rung);
    for (msn, tfdt, sync, numbers) in &rung_frames {
        let (_, lead_tfdt, _, lead_numbers) = lead_frames.iter().find(|(m, ..)| m == msn).unwrap();
        assert_eq!(tfdt, lead_tfdt, "segment {msn}");
        assert!(*sync);
        assert_eq!(numbers[0], lead_numbers[0]);
    }
    // It resumed at the first cut after the stall (9 s): 8.3 s to 9 s is dropped.
    let out: Vec<u32> = rung_frames.iter().flat_map(|(.., n)| n.clone()).collect();
    let expected: Vec<u32> = (60..=produced).chain(270..360).collect();
    assert_eq!(out, expected);
    let video_in: Vec<Vec<u8>> = stream.video_in.iter().map(|s| s.data.to_vec()).collect();
    assert_eq!(payloads(&stream.packager, video), video_in);
}

#[test]
fn a_rung_whose_first_keyframe_is_at_the_current_cut_starts_that_segment() {
    let mut stream = Stream::new(5, true);
    let video = stream.video;
    // The leader began segment 1 at 1.0 s; the rung's picture of 1.0 s comes 0.2 s later.
    stream.run_until(11 * SECOND_90K / 10);
    let rung = stream.add_rung();
    stream.run_until(4 * SECOND_90K);
    let list = stream.playlist(rung);
    assert_eq!(msns(&list), vec![1, 2], "{}", list.text);
    assert!(gaps(&list).is_empty());
    let leader_starts: Vec<(u64, u64)> = frames(&stream.packager, video)
        .into_iter()
        .filter(|(msn, ..)| *msn >= 1)
        .map(|(msn, tfdt, ..)| (msn, tfdt))
        .collect();
    let rung_starts: Vec<(u64, u64)> = frames(&stream.packager, rung)
        .into_iter()
        .map(|(msn, tfdt, ..)| (msn, tfdt))
        .collect();
    assert_eq!(rung_starts[..2], leader_starts[..2]);

    // Added half a second into segment 2, it starts segment 3.
    let mut stream = Stream::new(6, true);
    stream.run_until(5 * SECOND_90K / 2);
    let rung = stream.add_rung();
    stream.run_until(5 * SECOND_90K);
    assert_eq!(msns(&stream.playlist(rung))[0], 3);
}
