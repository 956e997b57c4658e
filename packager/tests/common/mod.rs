//! Test support: synthetic streams, an fMP4 reader built on the `mp4` crate plus a small
//! top-level box walker, a media playlist parser, H.264 Annex B parsing ([`h264`]) and
//! ffmpeg/ffprobe runners ([`tools`]). Nothing here uses packager internals.
#![allow(dead_code)]

pub mod h264;
pub mod tools;

use std::io::Cursor;

use bytes::Bytes;
use mp4::{BoxHeader, MoofBox, ReadBox};
use packager::{Codec, LivePackager, RenditionId, Resource, Sample, TrackConfig};

pub const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
    0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
];
pub const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

/// An AVCDecoderConfigurationRecord with one SPS and one PPS.
pub fn avcc(sps: &[u8], pps: &[u8]) -> Bytes {
    let mut record = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    record.extend_from_slice(sps);
    record.push(1);
    record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    record.extend_from_slice(pps);
    Bytes::from(record)
}

pub fn video_config(width: u32, height: u32) -> TrackConfig {
    TrackConfig {
        codec: Codec::H264,
        record: avcc(SPS, PPS),
        width,
        height,
        sample_rate: 0,
        channels: 0,
        codec_string: "avc1.64001f".into(),
    }
}

/// AAC-LC, 48 kHz, stereo.
pub fn audio_config() -> TrackConfig {
    TrackConfig {
        codec: Codec::Aac,
        record: Bytes::from_static(&[0x11, 0x90]),
        width: 0,
        height: 0,
        sample_rate: 48_000,
        channels: 2,
        codec_string: "mp4a.40.2".into(),
    }
}

/// How timestamps are produced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Clock {
    /// Exact 90 kHz times.
    Exact,
    /// Rounded to whole milliseconds, as RTMP carries them.
    Rtmp,
}

fn stamp(exact_90k: i64, clock: Clock) -> i64 {
    match clock {
        Clock::Exact => exact_90k,
        Clock::Rtmp => (exact_90k + 45).div_euclid(90) * 90,
    }
}

/// Display order inside a 30-frame closed GOP, listed in decode order: I P B B P B B ...
fn gop_display_order() -> Vec<i64> {
    let mut order = vec![0];
    let mut next = 1;
    while next + 2 < 30 {
        order.extend([next + 2, next, next + 1]);
        next += 3;
    }
    while next < 30 {
        order.push(next);
        next += 1;
    }
    order
}

/// `frames` frames of 30 fps video with a keyframe every 30 frames and B-frame
/// reordering, starting at input time `start_90k`. Each sample's payload is unique.
pub fn video_samples(frames: usize, clock: Clock, start_90k: i64) -> Vec<Sample> {
    let order = gop_display_order();
    (0..frames)
        .map(|n| {
            let gop = (n / 30) as i64;
            let display = gop * 30 + order[n % 30];
            let dts_exact = n as i64 * 3000;
            let pts_exact = (display + 1) * 3000;
            let dts = start_90k + stamp(dts_exact, clock);
            let pts = dts + stamp(pts_exact - dts_exact, clock);
            let size = 300 + (n * 37) % 900 + if n % 30 == 0 { 4000 } else { 0 };
            Sample {
                dts,
                pts,
                keyframe: n % 30 == 0,
                data: payload(n as u32, size),
            }
        })
        .collect()
}

/// `frames` AAC frames at 48 kHz starting at input time `start_90k`.
pub fn audio_samples(frames: usize, clock: Clock, start_90k: i64) -> Vec<Sample> {
    (0..frames)
        .map(|k| {
            let t = start_90k + stamp(k as i64 * 1920, clock);
            Sample {
                dts: t,
                pts: t,
                keyframe: true,
                data: payload(0x8000_0000 | k as u32, 200 + k % 50),
            }
        })
        .collect()
}

/// A 4-byte length prefix followed by a payload that starts with `id`.
pub fn payload(id: u32, size: usize) -> Bytes {
    let mut data = Vec::with_capacity(size + 4);
    data.extend_from_slice(&(size as u32).to_be_bytes());
    data.extend_from_slice(&id.to_be_bytes());
    data.extend((0..size.saturating_sub(4)).map(|i| (i as u32 ^ id) as u8));
    Bytes::from(data)
}

/// Interleaves two tracks by arrival time; audio arrives `audio_lead_90k` early.
pub fn interleave(video: &[Sample], audio: &[Sample], audio_lead_90k: i64) -> Vec<(usize, Sample)> {
    let mut all: Vec<(i64, usize, Sample)> = video
        .iter()
        .map(|s| (s.dts, 0, s.clone()))
        .chain(audio.iter().map(|s| (s.dts - audio_lead_90k, 1, s.clone())))
        .collect();
    all.sort_by_key(|(arrival, track, _)| (*arrival, *track));
    all.into_iter().map(|(_, track, s)| (track, s)).collect()
}

/// A packager with a "video" and an "audio" rendition.
pub fn av_packager(options: packager::LiveOptions) -> (LivePackager, RenditionId, RenditionId) {
    let mut packager = LivePackager::new(options);
    let video = packager
        .add_rendition("video", video_config(1280, 720))
        .unwrap();
    let audio = packager.add_rendition("audio", audio_config()).unwrap();
    (packager, video, audio)
}

/// Pushes interleaved samples (track 0 = `ids[0]`, 1 = `ids[1]`).
pub fn push_all(packager: &mut LivePackager, ids: [RenditionId; 2], samples: Vec<(usize, Sample)>) {
    for (track, sample) in samples {
        packager.push(ids[track], sample).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// fMP4 reading
// ---------------------------------------------------------------------------------------

/// One parsed moof + mdat.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub sequence: u32,
    pub tfdt: u64,
    pub trun_version: u8,
    pub durations: Vec<u32>,
    pub sizes: Vec<u32>,
    pub flags: Vec<u32>,
    pub cts: Vec<i32>,
    /// Sample bytes located through the trun data offset.
    pub samples: Vec<Vec<u8>>,
}

impl Fragment {
    pub fn duration(&self) -> u64 {
        self.durations.iter().map(|d| u64::from(*d)).sum()
    }

    pub fn is_sync(&self, index: usize) -> bool {
        let flags = self.flags[index];
        flags >> 24 & 3 == 2 && flags & 0x0001_0000 == 0
    }

    pub fn pts(&self, index: usize) -> i64 {
        let dts = self.tfdt as i64
            + self.durations[..index]
                .iter()
                .map(|d| i64::from(*d))
                .sum::<i64>();
        dts + i64::from(self.cts[index])
    }
}

/// Top-level boxes: (offset, size, type).
pub fn top_level_boxes(bytes: &[u8]) -> Vec<(usize, usize, [u8; 4])> {
    let mut boxes = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let mut size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().unwrap();
        if size == 1 {
            size = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap()) as usize;
        }
        assert!(
            size >= 8 && at + size <= bytes.len(),
            "box {:?} at {at} overruns",
            String::from_utf8_lossy(&kind)
        );
        boxes.push((at, size, kind));
        at += size;
    }
    assert_eq!(at, bytes.len(), "trailing bytes after the last box");
    boxes
}

/// Parses every moof (with the `mp4` crate) and resolves its samples in the following mdat.
pub fn parse_fragments(bytes: &[u8]) -> Vec<Fragment> {
    let boxes = top_level_boxes(bytes);
    let mut fragments = Vec::new();
    for (index, &(offset, size, kind)) in boxes.iter().enumerate() {
        if &kind != b"moof" {
            continue;
        }
        let mut cursor = Cursor::new(&bytes[offset..offset + size]);
        let header = BoxHeader::read(&mut cursor).unwrap();
        let moof = MoofBox::read_box(&mut cursor, header.size).unwrap();
        assert_eq!(moof.trafs.len(), 1);
        let traf = &moof.trafs[0];
        assert_eq!(traf.tfhd.track_id, 1);
        assert_eq!(
            traf.tfhd.flags & 0x02_0000,
            0x02_0000,
            "default-base-is-moof"
        );
        let tfdt = traf.tfdt.as_ref().expect("tfdt");
        assert_eq!(tfdt.version, 1);
        let trun = traf.trun.as_ref().expect("trun");
        let (mdat_offset, mdat_size, mdat_kind) = boxes[index + 1];
        assert_eq!(&mdat_kind, b"mdat");
        let data_start = offset + trun.data_offset.expect("data offset") as usize;
        let mdat_header = if mdat_size > u32::MAX as usize { 16 } else { 8 };
        assert_eq!(
            data_start,
            mdat_offset + mdat_header,
            "data offset points at the mdat payload"
        );
        let mut at = data_start;
        let mut samples = Vec::new();
        for size in &trun.sample_sizes {
            samples.push(bytes[at..at + *size as usize].to_vec());
            at += *size as usize;
        }
        assert_eq!(
            at,
            mdat_offset + mdat_size,
            "mdat holds exactly the samples"
        );
        fragments.push(Fragment {
            sequence: moof.mfhd.sequence_number,
            tfdt: tfdt.base_media_decode_time,
            trun_version: trun.version,
            durations: trun.sample_durations.clone(),
            sizes: trun.sample_sizes.clone(),
            flags: trun.sample_flags.clone(),
            cts: trun.sample_cts.iter().map(|c| *c as i32).collect(),
            samples,
        });
    }
    fragments
}

/// All fragments of every complete segment of a rendition, by msn.
pub fn segments(packager: &LivePackager, id: RenditionId) -> Vec<(u64, Vec<Fragment>)> {
    let playlist = MediaPlaylist::parse(&packager.media_playlist(id, packager::Skip::No).unwrap());
    playlist
        .segments
        .iter()
        .filter(|s| !s.gap)
        .map(|s| {
            let data = packager
                .segment(id, s.msn)
                .expect("listed segment resolves");
            let bytes: Vec<u8> = data.chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(bytes.len() as u64, data.len);
            (s.msn, parse_fragments(&bytes))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Playlist parsing
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct PartLine {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
    pub gap: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SegmentLine {
    pub msn: u64,
    pub duration: f64,
    pub uri: String,
    pub parts: Vec<PartLine>,
    pub pdt: Option<String>,
    pub discontinuity: bool,
    pub map: Option<String>,
    pub gap: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MediaPlaylist {
    pub text: String,
    pub version: u32,
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub part_target: f64,
    pub server_control: String,
    pub skipped: u64,
    pub skip_line: Option<String>,
    pub maps: Vec<String>,
    pub segments: Vec<SegmentLine>,
    /// Parts after the last complete segment (the open segment).
    pub open_parts: Vec<PartLine>,
    pub preload_hint: Option<String>,
    pub reports: Vec<(String, u64, u32)>,
    pub endlist: bool,
}

/// Attribute list value by name (quotes removed).
pub fn attribute(list: &str, name: &str) -> Option<String> {
    let mut in_quotes = false;
    let mut start = 0;
    let bytes = list.as_bytes();
    for i in 0..=bytes.len() {
        if i == bytes.len() || (bytes[i] == b',' && !in_quotes) {
            let item = &list[start..i];
            if let Some((key, value)) = item.split_once('=')
                && key == name
            {
                return Some(value.trim_matches('"').to_owned());
            }
            start = i + 1;
        } else if bytes[i] == b'"' {
            in_quotes = !in_quotes;
        }
    }
    None
}

impl MediaPlaylist {
    pub fn parse(text: &str) -> MediaPlaylist {
        let mut playlist = MediaPlaylist {
            text: text.to_owned(),
            ..MediaPlaylist::default()
        };
        let mut next = SegmentLine::default();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("#EXTM3U"));
        for line in lines {
            if let Some(v) = line.strip_prefix("#EXT-X-VERSION:") {
                playlist.version = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                playlist.target_duration = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                playlist.media_sequence = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
                playlist.discontinuity_sequence = v.parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
                playlist.server_control = v.to_owned();
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
                playlist.part_target = attribute(v, "PART-TARGET").unwrap().parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-SKIP:") {
                playlist.skipped = attribute(v, "SKIPPED-SEGMENTS").unwrap().parse().unwrap();
                playlist.skip_line = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
                let uri = attribute(v, "URI").unwrap();
                playlist.maps.push(uri.clone());
                next.map = Some(uri);
            } else if line == "#EXT-X-DISCONTINUITY" {
                next.discontinuity = true;
            } else if line == "#EXT-X-GAP" {
                next.gap = true;
            } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                next.pdt = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
                next.parts.push(PartLine {
                    duration: attribute(v, "DURATION").unwrap().parse().unwrap(),
                    uri: attribute(v, "URI").unwrap(),
                    independent: attribute(v, "INDEPENDENT").as_deref() == Some("YES"),
                    gap: attribute(v, "GAP").as_deref() == Some("YES"),
                });
            } else if let Some(v) = line.strip_prefix("#EXTINF:") {
                next.duration = v.trim_end_matches(',').parse().unwrap();
            } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
                assert_eq!(attribute(v, "TYPE").as_deref(), Some("PART"));
                playlist.preload_hint = attribute(v, "URI");
            } else if let Some(v) = line.strip_prefix("#EXT-X-RENDITION-REPORT:") {
                playlist.reports.push((
                    attribute(v, "URI").unwrap(),
                    attribute(v, "LAST-MSN").unwrap().parse().unwrap(),
                    attribute(v, "LAST-PART").unwrap().parse().unwrap(),
                ));
            } else if line == "#EXT-X-ENDLIST" {
                playlist.endlist = true;
            } else if line.starts_with('#') {
                panic!("unexpected tag {line}");
            } else {
                next.uri = line.to_owned();
                next.msn =
                    playlist.media_sequence + playlist.skipped + playlist.segments.len() as u64;
                playlist.segments.push(std::mem::take(&mut next));
            }
        }
        playlist.open_parts = next.parts;
        playlist
    }

    /// Every part listed, with the msn it belongs to.
    pub fn all_parts(&self) -> Vec<(u64, &PartLine)> {
        let open_msn = self.media_sequence + self.skipped + self.segments.len() as u64;
        self.segments
            .iter()
            .flat_map(|s| s.parts.iter().map(move |p| (s.msn, p)))
            .chain(self.open_parts.iter().map(|p| (open_msn, p)))
            .collect()
    }
}

/// Checks that every URI in a media playlist resolves through the packager.
pub fn assert_uris_resolve(packager: &LivePackager, id: RenditionId, playlist: &MediaPlaylist) {
    for map in &playlist.maps {
        let Some(Resource::Init(disc)) = Resource::parse(map) else {
            panic!("bad map {map}")
        };
        assert!(packager.init(id, disc).is_some(), "{map} resolves");
    }
    for segment in &playlist.segments {
        assert_eq!(
            Resource::parse(&segment.uri),
            Some(Resource::Segment(segment.msn))
        );
        if !segment.gap {
            assert!(
                packager.segment(id, segment.msn).is_some(),
                "{} resolves",
                segment.uri
            );
        }
    }
    for (msn, part) in playlist.all_parts() {
        let Some(Resource::Part(part_msn, index)) = Resource::parse(&part.uri) else {
            panic!("bad part {}", part.uri)
        };
        assert_eq!(part_msn, msn);
        assert_eq!(
            packager.part(id, msn, index).is_some(),
            !part.gap,
            "{} resolves unless it is a gap",
            part.uri
        );
    }
}
