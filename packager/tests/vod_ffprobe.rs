//! A VOD asset on disk: two x264 rungs with B-frames and shared keyframes plus AAC, all from
//! ffmpeg, re-segmented by the crate's own fMP4 writer into the `vod` layout, with the `vod`
//! manifests beside them. ffprobe then reads the HLS master playlist and the DASH MPD and must
//! find every stream, every frame and the duration.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use common::avcc;
use common::h264::{access_units, timestamps};
use common::tools::{require_tool, run, scratch_dir};
use packager::fmp4::{FragmentSample, fragment, init_segment};
use packager::vod::{
    AssetFile, FrameRate, Presentation, Rendition, Segment, master_playlist, media_playlist, mpd,
};
use packager::{Codec, TrackConfig};

const SECONDS: u32 = 10;
const FPS: u32 = 30;
/// One keyframe every 4 s: segments of 4, 4 and 2 s.
const GOP: u32 = 4 * FPS;
const FRAME_90K: i64 = 90_000 / FPS as i64;
const AAC_FRAME: u64 = 1024;

fn write(dir: &Path, file: AssetFile<'_>, bytes: &[u8]) {
    let path = dir.join(file.to_string());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Encodes the two rungs (Annex B) and the audio (ADTS) in one ffmpeg run.
fn encode(dir: &Path) {
    let x264 = |label: &str, file: &str| -> Vec<String> {
        let gop = GOP.to_string();
        [
            "-map",
            label,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            &gop,
            "-keyint_min",
            &gop,
            "-sc_threshold",
            "0",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            file,
        ]
        .map(String::from)
        .to_vec()
    };
    run(Command::new("ffmpeg")
        .current_dir(dir)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "testsrc2=size=320x180:rate={FPS}:duration={SECONDS}"
        ))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=48000:duration={SECONDS}"
        ))
        .args(["-filter_complex", "[0:v]split[hi][v];[v]scale=160:90[lo]"])
        .args(x264("[hi]", "hi.h264"))
        .args(x264("[lo]", "lo.h264"))
        .args([
            "-map",
            "1:a",
            "-ac",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "adts",
            "audio.aac",
        ]));
}

/// One GOP of a rung, ready to become a segment.
struct Gop {
    /// Decode time of its first sample, 90 kHz.
    base: u64,
    samples: Vec<FragmentSample>,
    /// Its earliest presentation time, 90 kHz.
    start: u64,
    /// Up to the next GOP's start; for the last, one frame after its last picture.
    duration: u64,
}

impl Gop {
    /// The same GOP `by` ticks later.
    fn delayed(self, by: u64) -> Gop {
        Gop {
            base: self.base + by,
            start: self.start + by,
            ..self
        }
    }
}

/// The track config of an H.264 rung and its GOPs.
fn rung(dir: &Path, name: &str, width: u32, height: u32) -> (TrackConfig, Vec<Gop>) {
    let (units, sps, pps) = access_units(&std::fs::read(dir.join(format!("{name}.h264"))).unwrap());
    assert_eq!(units.len(), (SECONDS * FPS) as usize);
    let times = timestamps(&units);
    let config = TrackConfig {
        codec: Codec::H264,
        record: avcc(&sps, &pps),
        width,
        height,
        sample_rate: 0,
        channels: 0,
        codec_string: format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]),
    };
    let starts: Vec<usize> = (0..units.len()).filter(|&i| units[i].keyframe).collect();
    assert_eq!(
        starts,
        [0, GOP as usize, 2 * GOP as usize],
        "x264 keyframes"
    );
    let ranges: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(k, &from)| (from, starts.get(k + 1).copied().unwrap_or(units.len())))
        .collect();
    // A segment starts at its earliest presentation time and lasts until the next one
    // starts; the last ends one frame after its last picture.
    let mut bounds: Vec<i64> = ranges
        .iter()
        .map(|&(from, to)| times[from..to].iter().map(|t| t.1).min().unwrap())
        .collect();
    bounds.push(times.iter().map(|t| t.1).max().unwrap() + FRAME_90K);
    let gops = ranges
        .iter()
        .enumerate()
        .map(|(k, &(from, to))| Gop {
            base: times[from].0 as u64,
            samples: (from..to)
                .map(|i| {
                    let (dts, pts) = times[i];
                    let data = Bytes::from(units[i].data.clone());
                    FragmentSample::new(
                        data,
                        FRAME_90K as u32,
                        (pts - dts) as i32,
                        units[i].keyframe,
                    )
                    .unwrap()
                })
                .collect(),
            start: bounds[k] as u64,
            duration: (bounds[k + 1] - bounds[k]) as u64,
        })
        .collect();
    (config, gops)
}

/// Writes `gop` as the next segment of `rendition` and records it.
fn write_gop(dir: &Path, rendition: &mut Rendition, gop: &Gop) {
    let sequence = rendition.segments().len() as u32 + 1;
    let bytes = fragment(sequence, gop.base, &gop.samples);
    write(dir, rendition.next_segment(), &bytes);
    rendition
        .push_segment(Segment {
            start: gop.start,
            duration: gop.duration,
            size: bytes.len() as u64,
        })
        .unwrap();
}

/// Cuts an H.264 rung into one segment per GOP, writes init and segments, and returns the
/// finished rendition.
fn video_rendition(dir: &Path, name: &str, width: u32, height: u32) -> Rendition {
    let (config, gops) = rung(dir, name, width, height);
    write(dir, AssetFile::Init(name, 0), &init_segment(&config));
    let mut rendition = Rendition::video(name, config, FrameRate::new(FPS, 1).unwrap()).unwrap();
    for gop in &gops {
        write_gop(dir, &mut rendition, gop);
    }
    rendition.finish().unwrap();
    rendition
}

/// Raw AAC frames of an ADTS stream and the AudioSpecificConfig its headers describe.
fn adts_frames(stream: &[u8]) -> (Vec<Bytes>, Bytes) {
    let mut frames = Vec::new();
    let mut asc = Bytes::new();
    let mut at = 0;
    while at + 7 <= stream.len() {
        let h = &stream[at..];
        assert_eq!((h[0], h[1] & 0xF0), (0xFF, 0xF0), "ADTS sync at {at}");
        let header_len = if h[1] & 1 == 1 { 7 } else { 9 };
        let object_type = u16::from(h[2] >> 6) + 1;
        let frequency_index = u16::from((h[2] >> 2) & 0xF);
        let channels = u16::from(((h[2] & 1) << 2) | (h[3] >> 6));
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        asc = Bytes::copy_from_slice(
            &((object_type << 11) | (frequency_index << 7) | (channels << 3)).to_be_bytes(),
        );
        frames.push(Bytes::copy_from_slice(&stream[at + header_len..at + len]));
        at += len;
    }
    (frames, asc)
}

/// Cuts the AAC stream at the first frame that starts at or after each video segment start.
fn audio_rendition(dir: &Path, video: &Rendition) -> Rendition {
    let (frames, asc) = adts_frames(&std::fs::read(dir.join("audio.aac")).unwrap());
    let config = TrackConfig {
        codec: Codec::Aac,
        record: asc,
        width: 0,
        height: 0,
        sample_rate: 48_000,
        channels: 2,
        codec_string: "mp4a.40.2".into(),
    };
    write(dir, AssetFile::Init("audio", 0), &init_segment(&config));
    let mut rendition = Rendition::audio("audio", config, Some("en")).unwrap();
    let mut cuts: Vec<usize> = video.segments()[1..]
        .iter()
        .map(|s| (s.start * 48_000 / 90_000).div_ceil(AAC_FRAME) as usize)
        .collect();
    cuts.insert(0, 0);
    cuts.push(frames.len());
    for (k, window) in cuts.windows(2).enumerate() {
        let samples: Vec<FragmentSample> = frames[window[0]..window[1]]
            .iter()
            .map(|f| FragmentSample::new(f.clone(), AAC_FRAME as u32, 0, true).unwrap())
            .collect();
        let start = window[0] as u64 * AAC_FRAME;
        let bytes = fragment(k as u32 + 1, start, &samples);
        write(dir, rendition.next_segment(), &bytes);
        rendition
            .push_segment(Segment {
                start,
                duration: (window[1] - window[0]) as u64 * AAC_FRAME,
                size: bytes.len() as u64,
            })
            .unwrap();
    }
    rendition.finish().unwrap();
    rendition
}

/// ffprobe's compact output: (section, fields) per line.
fn ffprobe(
    dir: &Path,
    manifest: AssetFile<'_>,
    args: &[&str],
) -> Vec<(String, BTreeMap<String, String>)> {
    let output = run(Command::new("ffprobe")
        .current_dir(dir)
        .args(["-v", "error", "-of", "compact"])
        .args(args)
        .arg(manifest.to_string()));
    output
        .lines()
        .map(|line| {
            let mut fields = line.split('|');
            let section = fields.next().unwrap().to_owned();
            let map = fields
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (section, map)
        })
        .collect()
}

/// The streams of `manifest`, each with the frames ffprobe decodes from it, and its duration.
///
/// Frames are counted one stream at a time: ffmpeg's DASH demuxer (libavformat/dashdec.c,
/// `dash_read_packet`) reads from the representation with the lowest timestamp and ends the
/// whole input at the first representation's EOF, dropping the last frames of the others
/// when every stream is read at once. With one stream selected the others are discarded.
fn probe(dir: &Path, manifest: AssetFile<'_>) -> (Vec<BTreeMap<String, String>>, f64) {
    let sections = ffprobe(
        dir,
        manifest,
        &[
            "-show_entries",
            "stream=index,codec_type,codec_name,width,height,sample_rate,channels:format=duration",
        ],
    );
    let duration = sections
        .iter()
        .find(|(section, _)| section == "format")
        .and_then(|(_, map)| map.get("duration")?.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {sections:?}"));
    // Streams are listed once per program (HLS variant) and once on their own.
    let mut streams: BTreeMap<String, BTreeMap<String, String>> = sections
        .into_iter()
        .filter(|(section, _)| section == "stream")
        .map(|(_, map)| (map["index"].clone(), map))
        .collect();
    for (index, stream) in &mut streams {
        let counted = ffprobe(
            dir,
            manifest,
            &[
                "-select_streams",
                index,
                "-count_frames",
                "-show_entries",
                "stream=index,nb_read_frames",
            ],
        );
        let frames = counted
            .iter()
            .filter_map(|(_, map)| {
                (map.get("index") == Some(index)).then(|| map.get("nb_read_frames"))?
            })
            .next()
            .unwrap_or_else(|| panic!("no frame count for stream {index}: {counted:?}"));
        stream.insert("nb_read_frames".into(), frames.clone());
    }
    (streams.into_values().collect(), duration)
}

/// Streams as comparable lines, sorted.
fn summary(streams: &[BTreeMap<String, String>]) -> Vec<String> {
    let mut lines: Vec<String> = streams
        .iter()
        .map(|s| {
            let get = |key: &str| s.get(key).map_or("?", String::as_str);
            match get("codec_type") {
                "video" => format!(
                    "video {} {}x{} frames={}",
                    get("codec_name"),
                    get("width"),
                    get("height"),
                    get("nb_read_frames")
                ),
                _ => format!(
                    "audio {} {} Hz {} ch frames={}",
                    get("codec_name"),
                    get("sample_rate"),
                    get("channels"),
                    get("nb_read_frames")
                ),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn ffprobe_reads_the_hls_master_and_the_mpd() {
    require_tool("ffmpeg");
    require_tool("ffprobe");
    let dir = scratch_dir("vod");
    encode(&dir);
    let hi = video_rendition(&dir, "hi", 320, 180);
    let lo = video_rendition(&dir, "lo", 160, 90);
    let audio = audio_rendition(&dir, &hi);
    assert_eq!(hi.segments().len(), 3);
    assert_eq!(audio.segments().len(), 3);

    for rendition in [&hi, &lo, &audio] {
        let playlist = media_playlist(rendition).unwrap();
        write(
            &dir,
            AssetFile::MediaPlaylist(rendition.name()),
            playlist.as_bytes(),
        );
    }
    let presentation = Presentation::new([&hi, &lo, &audio]).unwrap();
    write(
        &dir,
        AssetFile::MasterPlaylist,
        master_playlist(&presentation).as_bytes(),
    );
    write(&dir, AssetFile::Mpd, mpd(&presentation).unwrap().as_bytes());

    let expected = [
        "audio aac 48000 Hz 2 ch frames=470".to_owned(),
        format!("video h264 160x90 frames={}", SECONDS * FPS),
        format!("video h264 320x180 frames={}", SECONDS * FPS),
    ];
    for manifest in [AssetFile::MasterPlaylist, AssetFile::Mpd] {
        let (streams, duration) = probe(&dir, manifest);
        assert_eq!(summary(&streams), expected, "{manifest}");
        assert!(
            (duration - f64::from(SECONDS)).abs() < 0.1,
            "{manifest}: {duration} s"
        );
    }

    // A rendition still being written: an EVENT playlist without an end, which ffmpeg reads
    // as a live playlist.
    let mut partial = Rendition::audio("partial", audio.config().clone(), None).unwrap();
    write(
        &dir,
        AssetFile::Init("partial", 0),
        &std::fs::read(dir.join(AssetFile::Init("audio", 0).to_string())).unwrap(),
    );
    for (number, segment) in audio.numbered_segments().take(2) {
        let bytes =
            std::fs::read(dir.join(AssetFile::Segment("audio", number).to_string())).unwrap();
        write(&dir, partial.next_segment(), &bytes);
        partial.push_segment(*segment).unwrap();
    }
    let event = media_playlist(&partial).unwrap();
    assert!(event.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n") && !event.contains("ENDLIST"));
    write(&dir, AssetFile::MediaPlaylist("partial"), event.as_bytes());
    let streams = ffprobe(
        &dir,
        AssetFile::MediaPlaylist("partial"),
        &["-show_entries", "stream=codec_name,sample_rate,channels"],
    );
    assert!(
        streams.iter().any(
            |(_, s)| s.get("codec_name").map(String::as_str) == Some("aac")
                && s.get("sample_rate").map(String::as_str) == Some("48000")
        ),
        "{streams:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// ffprobe's complaints while it decodes every frame of `manifest`.
fn decode_errors(dir: &Path, manifest: AssetFile<'_>) -> String {
    let output = Command::new("ffprobe")
        .current_dir(dir)
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .arg(manifest.to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A replay of a broadcast that reconnected: the first 8 s of a rung, then 2 s later on the
/// timeline, after a discontinuity and with an init segment of its own, its last 2 s.
/// ffprobe reads the media playlist across the discontinuity and decodes every frame of
/// both parts without an error.
///
/// Both parts have the same track: ffmpeg's mp4 demuxer skips the second init segment's
/// moov ("Found duplicated MOOV Atom"), so it would decode a changed avcC with the first
/// one's parameter sets.
#[test]
fn ffprobe_reads_a_media_playlist_with_a_discontinuity() {
    require_tool("ffmpeg");
    require_tool("ffprobe");
    let dir = scratch_dir("vod-discontinuity");
    encode(&dir);
    let (config, gops) = rung(&dir, "hi", 320, 180);
    let name = "replay";
    write(&dir, AssetFile::Init(name, 0), &init_segment(&config));
    let mut replay =
        Rendition::video(name, config.clone(), FrameRate::new(FPS, 1).unwrap()).unwrap();
    let mut gops = gops.into_iter();
    for gop in gops.by_ref().take(2) {
        write_gop(&dir, &mut replay, &gop);
    }
    let init = replay.begin_discontinuity(config.clone()).unwrap();
    write(&dir, AssetFile::Init(name, init), &init_segment(&config));
    for gop in gops {
        write_gop(&dir, &mut replay, &gop.delayed(2 * 90_000));
    }
    replay.finish().unwrap();
    assert_eq!(replay.discontinuities().collect::<Vec<_>>(), [3]);

    let playlist = media_playlist(&replay).unwrap();
    assert!(
        playlist.contains("seg-00002.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"),
        "{playlist}"
    );
    let manifest = AssetFile::MediaPlaylist(name);
    write(&dir, manifest, playlist.as_bytes());
    let (streams, duration) = probe(&dir, manifest);
    assert_eq!(
        summary(&streams),
        [format!("video h264 320x180 frames={}", SECONDS * FPS)]
    );
    // The playlist's timeline has no gap: 8 s, then 2 s.
    assert!((duration - f64::from(SECONDS)).abs() < 0.1, "{duration} s");
    assert_eq!(decode_errors(&dir, manifest), "");
    std::fs::remove_dir_all(&dir).ok();
}
