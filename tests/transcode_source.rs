//! `tributary transcode-source` on small files made by ffmpeg: the CMAF
//! renditions it writes decode, share their keyframes and segment times,
//! and bad input fails with the right code.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::{TempDir, child_box, ffmpeg7};

/// Runs ffmpeg (Debian's) with `args`, failing the test if it fails.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What one run printed and how it ended.
struct Outcome {
    success: bool,
    lines: Vec<Value>,
}

impl Outcome {
    fn last(&self) -> &Value {
        self.lines.last().expect("a line on stdout")
    }

    /// The renditions of a successful run, by name.
    fn renditions(&self) -> Vec<Value> {
        assert!(self.success, "the run failed: {:?}", self.lines.last());
        let done = self.last();
        assert_eq!(done["event"], "done", "{done}");
        for line in &self.lines[..self.lines.len() - 1] {
            assert_eq!(line["event"], "progress", "{line}");
            assert!(line["done_secs"].as_f64().is_some(), "{line}");
        }
        done["renditions"].as_array().expect("renditions").clone()
    }
}

fn transcode(source: &Path, out: &Path, spec: &Value) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("transcode-source")
        .arg("--source")
        .arg(format!("file://{}", source.display()))
        .arg("--out")
        .arg(out)
        .arg("--spec")
        .arg(spec.to_string())
        .args(["--timeout-secs", "120"])
        .output()
        .expect("running tributary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
        })
        .collect();
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    Outcome {
        success: output.status.success(),
        lines,
    }
}

fn rendition<'a>(renditions: &'a [Value], name: &str) -> &'a Value {
    renditions
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no rendition {name} in {renditions:?}"))
}

/// The segment files a media playlist lists, in order.
fn playlist_segments(out: &Path, name: &str) -> Vec<String> {
    let playlist = std::fs::read_to_string(out.join(name).join("index.m3u8")).expect("playlist");
    assert!(
        playlist.contains("#EXT-X-MAP:URI=\"init.mp4\""),
        "{playlist}"
    );
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// init.mp4 and every segment in one file, checked against the playlist
/// and the folder (no segment left out).
fn concatenated(out: &Path, name: &str, work: &Path) -> PathBuf {
    let segments = playlist_segments(out, name);
    let mut on_disk: Vec<String> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".m4s"))
        .collect();
    on_disk.sort();
    assert_eq!(
        segments, on_disk,
        "{name}: the playlist lists every segment"
    );
    let mut bytes = std::fs::read(out.join(name).join("init.mp4")).unwrap();
    for segment in &segments {
        bytes.extend(std::fs::read(out.join(name).join(segment)).unwrap());
    }
    let file = work.join(format!("{name}.mp4"));
    std::fs::write(&file, bytes).unwrap();
    file
}

/// ffprobe of the stream of a rendition, decoding every frame; any
/// decoder complaint fails the test.
fn probe(file: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(file)
        .output()
        .expect("ffprobe");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "ffprobe {}: {stderr}",
        file.display()
    );
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    value
}

/// The presentation times of the key frames ffprobe decodes.
fn keyframe_times(file: &Path) -> Vec<f64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_frames"])
        .args(["-show_entries", "frame=pts_time,key_frame,pict_type"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.first() == Some(&"1")).then(|| fields[1].parse::<f64>().unwrap())
        })
        .collect()
}

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

/// Every sample of a rendition from its segments' moof boxes, in decode
/// order: (presentation time, sync sample), in the track's timescale.
fn samples(out: &Path, name: &str) -> Vec<(i64, bool)> {
    let mut samples = Vec::new();
    for segment in playlist_segments(out, name) {
        let data = std::fs::read(out.join(name).join(segment)).unwrap();
        let traf = child_box(child_box(&data, b"moof").unwrap(), b"traf").unwrap();
        let tfdt = child_box(traf, b"tfdt").unwrap();
        assert_eq!(tfdt[0], 1, "tfdt version 1");
        let mut decode = u64::from_be_bytes(tfdt[4..12].try_into().unwrap()) as i64;
        let trun = child_box(traf, b"trun").unwrap();
        let flags = be32(trun, 0) & 0xff_ffff;
        assert_eq!(flags, 0xf01, "duration, size, flags and offset per sample");
        let count = be32(trun, 4) as usize;
        for i in 0..count {
            let entry = 12 + 16 * i;
            let duration = i64::from(be32(trun, entry));
            let sample_flags = be32(trun, entry + 8);
            let offset = i64::from(be32(trun, entry + 12) as i32);
            samples.push((decode + offset, sample_flags & 0x0001_0000 == 0));
            decode += duration;
        }
    }
    samples
}

/// The presentation times of a video rendition's sync samples.
fn sync_times(out: &Path, name: &str) -> Vec<i64> {
    samples(out, name)
        .into_iter()
        .filter(|(_, sync)| *sync)
        .map(|(pts, _)| pts)
        .collect()
}

/// A rendition's `[start, duration, size]` segments.
fn segments(rendition: &Value) -> Vec<[u64; 3]> {
    serde_json::from_value(rendition["segments"].clone()).unwrap()
}

fn duration_secs(rendition: &Value, timescale: f64) -> f64 {
    segments(rendition)
        .iter()
        .map(|[_, duration, _]| *duration as f64)
        .sum::<f64>()
        / timescale
}

#[test]
fn h264_copied_and_encoded_renditions_share_keyframes_and_segments() {
    let dir = TempDir::new("transcode-h264");
    let source = dir.0.join("source.mp4");
    // 6 s, 30 fps, a keyframe every 2 s (B-frames in the copy), AAC.
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "6",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-bf",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-shortest",
        ]
        .into_iter()
        .chain([source.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    let out = dir.0.join("out");
    let spec = json!({
        "video": [
            {"mode": "copy", "name": "360p"},
            {"mode": "encode", "name": "240p", "width": 426, "height": 240, "bitrate_kbps": 400},
            {"mode": "encode", "name": "180p", "width": 320, "height": 180, "bitrate_kbps": 250},
        ],
        "audio": [{"mode": "copy", "name": "audio"}],
        "keyframes": {"at": "source"},
        "segment_secs": 4.0,
        "preset": "veryfast",
        "max_fps": 60,
    });
    let renditions = transcode(&source, &out, &spec).renditions();
    assert_eq!(renditions.len(), 4);
    let copy = rendition(&renditions, "360p");
    assert_eq!(copy["codec"], "h264");
    let starts = |r: &Value| -> Vec<u64> { segments(r).iter().map(|s| s[0]).collect() };
    // Keyframes at 0, 2, 4 s; segments of at least 4 s: 0-4, 4-6.
    assert_eq!(starts(copy), [0, 360_000], "{copy}");
    for (name, width, height) in [("360p", 640, 360), ("240p", 426, 240), ("180p", 320, 180)] {
        let r = rendition(&renditions, name);
        assert_eq!(starts(r), starts(copy), "{name}: the copy's segment starts");
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(width), Some(height))
        );
        assert_eq!(r["frame_rate"], json!([30, 1]), "{name}");
        // One frame of the source is 3000 ticks.
        let duration = duration_secs(r, 90_000.0);
        assert!((duration - 6.0).abs() <= 1.0 / 30.0, "{name}: {duration} s");
        let file = concatenated(&out, name, &dir.0);
        let stream = &probe(&file)["streams"][0];
        assert_eq!(stream["codec_name"], "h264", "{name}");
        assert_eq!(stream["nb_read_frames"], "180", "{name}");
        assert_eq!(stream["width"], width, "{name}");
        // ffprobe shows a copy with B-frames one frame late (it shifts
        // negative composition offsets): the samples say where keyframes are.
        assert_eq!(
            sync_times(&out, name),
            [0, 180_000, 360_000],
            "{name}: keyframes"
        );
        let mut pts: Vec<i64> = samples(&out, name).iter().map(|(pts, _)| *pts).collect();
        pts.sort_unstable();
        assert_eq!(
            pts,
            (0..180).map(|n| n * 3000).collect::<Vec<_>>(),
            "{name}"
        );
    }
    let audio = rendition(&renditions, "audio");
    assert_eq!(audio["codec"], "aac");
    assert_eq!(audio["sample_rate"], 48_000);
    let audio_starts = starts(audio);
    assert_eq!(audio_starts.len(), 2);
    // The audio cut is the AAC frame boundary nearest 4 s.
    assert!(
        audio_starts[1].abs_diff(4 * 48_000) <= 512,
        "{audio_starts:?}"
    );
    let duration = duration_secs(audio, 48_000.0);
    assert!((duration - 6.0).abs() < 0.05, "audio: {duration} s");
    let stream = &probe(&concatenated(&out, "audio", &dir.0))["streams"][0];
    assert_eq!(stream["codec_name"], "aac");
}

/// A source with a keyframe every second, encoded at the server's default
/// preset (`medium`, whose lookahead once outlasted a 1 s GOP so that the
/// encoder dropped every other forced keyframe): every rung has the
/// source's keyframes and its segments.
#[test]
fn one_second_keyframes_survive_the_default_preset() {
    let dir = TempDir::new("transcode-1s-gop");
    for fps in [25, 30] {
        let source = dir.0.join(format!("source-{fps}.mp4"));
        let args = format!(
            "-f lavfi -i testsrc2=size=320x180:rate={fps} -t 5 -c:v libx264 -preset veryfast \
             -g {fps} -keyint_min {fps} -sc_threshold 0 -pix_fmt yuv420p"
        );
        let mut args: Vec<&str> = args.split_whitespace().collect();
        args.push(source.to_str().unwrap());
        ffmpeg(&args);
        let out = dir.0.join(format!("out-{fps}"));
        let spec = json!({
            "video": [
                {"mode": "copy", "name": "180p"},
                {"mode": "encode", "name": "90p", "width": 160, "height": 90, "bitrate_kbps": 100},
            ],
            "keyframes": {"at": "source"},
            "segment_secs": 1.0,
            "preset": "medium",
            "max_fps": 60,
        });
        let renditions = transcode(&source, &out, &spec).renditions();
        let every_second: Vec<i64> = (0..5).map(|s| s * 90_000).collect();
        assert_eq!(
            sync_times(&out, "180p"),
            every_second,
            "{fps} fps: the copy"
        );
        assert_eq!(sync_times(&out, "90p"), every_second, "{fps} fps: the rung");
        let starts = |name| -> Vec<u64> {
            segments(rendition(&renditions, name))
                .iter()
                .map(|s| s[0])
                .collect()
        };
        assert_eq!(starts("90p"), starts("180p"), "{fps} fps: segments");
        assert_eq!(starts("90p").len(), 5, "{fps} fps");
    }
}

/// Two jobs on the same asset, one for the copy and one for a rung,
/// cut at the same times.
#[test]
fn separate_jobs_cut_at_the_same_times() {
    let dir = TempDir::new("transcode-jobs");
    let source = dir.0.join("source.mp4");
    // Irregular keyframes: at 0, 1.5, 2.2, 4.1 and 5 s; B-frames; audio that
    // neither job wants (it once held up the video of an MP4 for good).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-c:a",
        "aac",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "1000",
        "-sc_threshold",
        "0",
        "-force_key_frames",
        "0,1.5,2.2,4.1,5",
        "-pix_fmt",
        "yuv420p",
        source.to_str().unwrap(),
    ]);
    let spec = |video: Value| {
        json!({
            "video": [video], "keyframes": {"at": "source"}, "segment_secs": 2.0,
            "preset": "ultrafast", "max_fps": 30,
        })
    };
    let first = transcode(
        &source,
        &dir.0.join("a"),
        &spec(json!({"mode": "copy", "name": "src"})),
    )
    .renditions();
    let second = transcode(
        &source,
        &dir.0.join("b"),
        &spec(json!({"mode": "encode", "name": "90p", "width": 160, "height": 90, "bitrate_kbps": 100})),
    )
    .renditions();
    let starts = |r: &Value| -> Vec<u64> { segments(r).iter().map(|s| s[0]).collect() };
    let copy = starts(&first[0]);
    assert_eq!(copy, starts(&second[0]));
    // Cut at the first keyframe at least 2 s into each segment: 0, 2.2, 5.
    let origin = copy[0];
    let relative: Vec<u64> = copy.iter().map(|s| s - origin).collect();
    assert_eq!(relative, [0, 198_000, 450_000]);
}

#[test]
fn a_rotated_hevc_source_is_encoded_upright_with_keyframes_every_two_seconds() {
    let dir = TempDir::new("transcode-hevc");
    let plain = dir.0.join("plain.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "5",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "libopus",
        "-b:a",
        "64k",
        "-shortest",
        plain.to_str().unwrap(),
    ]);
    // Shown turned 90° (a phone held upright).
    let source = dir.0.join("rotated.mp4");
    let status = Command::new(ffmpeg7())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-display_rotation:v:0",
            "90",
            "-i",
        ])
        .arg(&plain)
        .args(["-c", "copy"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.0.join("out");
    let spec = json!({
        "video": [
            {"mode": "encode", "name": "320p", "width": 180, "height": 320, "bitrate_kbps": 300},
            {"mode": "encode", "name": "160p", "width": 90, "height": 160, "bitrate_kbps": 120},
        ],
        "audio": [{"mode": "encode", "name": "aac", "bitrate_kbps": 96}],
        "keyframes": {"at": "every", "secs": 2.0},
        "segment_secs": 2.0,
        "preset": "veryfast",
        "max_fps": 30,
    });
    let renditions = transcode(&source, &out, &spec).renditions();
    let starts = |r: &Value| -> Vec<u64> { segments(r).iter().map(|s| s[0]).collect() };
    for (name, width, height) in [("320p", 180, 320), ("160p", 90, 160)] {
        let r = rendition(&renditions, name);
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(width), Some(height))
        );
        assert!(
            r["codec_string"].as_str().unwrap().starts_with("avc1.64"),
            "{r}"
        );
        assert_eq!(starts(r), [0, 180_000, 360_000], "{name}");
        let file = concatenated(&out, name, &dir.0);
        let stream = &probe(&file)["streams"][0];
        assert_eq!(stream["codec_name"], "h264");
        assert_eq!(stream["width"], width);
        assert_eq!(stream["height"], height);
        assert_eq!(stream["nb_read_frames"], "125", "{name}");
        assert_eq!(keyframe_times(&file), [0.0, 2.0, 4.0], "{name}");
        assert_eq!(sync_times(&out, name), [0, 180_000, 360_000], "{name}");
    }
    let audio = rendition(&renditions, "aac");
    assert_eq!(audio["codec_string"], "mp4a.40.2");
    let duration = duration_secs(audio, audio["sample_rate"].as_f64().unwrap());
    assert!((duration - 5.0).abs() < 0.1, "audio: {duration} s");
    let stream = &probe(&concatenated(&out, "aac", &dir.0))["streams"][0];
    assert_eq!(stream["codec_name"], "aac");
}

#[test]
fn a_ten_bit_source_gives_eight_bit_high_profile() {
    let dir = TempDir::new("transcode-10bit");
    let source = dir.0.join("source.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p10le",
        source.to_str().unwrap(),
    ]);
    for keyframes in [json!({"at": "every", "secs": 1.0}), json!({"at": "source"})] {
        let out = dir.0.join(keyframes["at"].as_str().unwrap());
        let spec = json!({
            "video": [
                {"mode": "encode", "name": "180p", "width": 320, "height": 180, "bitrate_kbps": 300},
                {"mode": "encode", "name": "90p", "width": 160, "height": 90, "bitrate_kbps": 100},
            ],
            "keyframes": keyframes, "segment_secs": 1.0, "preset": "veryfast", "max_fps": 30,
        });
        let renditions = transcode(&source, &out, &spec).renditions();
        for name in ["180p", "90p"] {
            let r = rendition(&renditions, name);
            assert!(
                r["codec_string"].as_str().unwrap().starts_with("avc1.64"),
                "{r}"
            );
            let stream = &probe(&concatenated(&out, name, &dir.0))["streams"][0];
            assert_eq!(stream["profile"], "High", "{name} {keyframes}");
            assert_eq!(stream["pix_fmt"], "yuv420p", "{name} {keyframes}");
            assert_eq!(segments(r).len(), 3, "{name} {keyframes}");
        }
    }
}

#[test]
fn audio_only_mp3() {
    let dir = TempDir::new("transcode-mp3");
    let source = dir.0.join("source.mp3");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        "5",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "128k",
        source.to_str().unwrap(),
    ]);
    let out = dir.0.join("out");
    let spec = json!({
        "audio": [{"mode": "encode", "name": "audio", "bitrate_kbps": 128}],
        "keyframes": {"at": "source"}, "segment_secs": 2.0, "preset": "medium", "max_fps": 30,
    });
    let renditions = transcode(&source, &out, &spec).renditions();
    assert_eq!(renditions.len(), 1);
    let audio = &renditions[0];
    assert_eq!(audio["sample_rate"], 44_100);
    let starts: Vec<u64> = segments(audio).iter().map(|s| s[0]).collect();
    assert_eq!(starts.len(), 3, "{starts:?}");
    // Cut at the frame boundaries nearest 2 s and 4 s of its own.
    for (n, start) in starts.iter().enumerate().skip(1) {
        let nominal = starts[0] + n as u64 * 88_200;
        assert!(start.abs_diff(nominal) <= 512, "{starts:?}");
    }
    let duration = duration_secs(audio, 44_100.0);
    assert!((duration - 5.0).abs() < 0.1, "{duration} s");
    let stream = &probe(&concatenated(&out, "audio", &dir.0))["streams"][0];
    assert_eq!(stream["codec_name"], "aac");
    // Copying it is refused: it is not AAC.
    let spec = json!({
        "audio": [{"mode": "copy", "name": "audio"}],
        "keyframes": {"at": "source"}, "segment_secs": 2.0, "preset": "medium", "max_fps": 30,
    });
    let outcome = transcode(&source, &dir.0.join("copy"), &spec);
    assert!(!outcome.success);
    assert_eq!(outcome.last()["code"], "unsupported", "{}", outcome.last());
}

#[test]
fn bad_input_fails_with_a_reason() {
    let dir = TempDir::new("transcode-bad");
    let spec = json!({
        "video": [{"mode": "copy", "name": "src"}],
        "audio": [{"mode": "copy", "name": "audio"}],
        "keyframes": {"at": "source"}, "segment_secs": 2.0, "preset": "medium", "max_fps": 30,
    });
    let random = dir.0.join("random.bin");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, bytes).unwrap();
    let outcome = transcode(&random, &dir.0.join("random"), &spec);
    assert!(!outcome.success);
    assert_eq!(outcome.last()["code"], "not_media", "{}", outcome.last());

    // A spec that does not parse, or asks the impossible.
    let mut bad = spec.clone();
    bad["preset"] = json!("warp-speed");
    let outcome = transcode(&random, &dir.0.join("bad"), &bad);
    assert_eq!(outcome.last()["code"], "bad_spec", "{}", outcome.last());

    // A VP9 source cannot be copied as H.264.
    let vp9 = dir.0.join("vp9.webm");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x90:rate=10",
        "-t",
        "1",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        vp9.to_str().unwrap(),
    ]);
    let video_only = json!({
        "video": [{"mode": "copy", "name": "src"}],
        "keyframes": {"at": "source"}, "segment_secs": 2.0, "preset": "medium", "max_fps": 30,
    });
    let outcome = transcode(&vp9, &dir.0.join("vp9"), &video_only);
    assert_eq!(outcome.last()["code"], "unsupported", "{}", outcome.last());

    // Subtitles only: neither video nor audio.
    let srt = dir.0.join("only.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,000\nhello\n\n").unwrap();
    let mkv = dir.0.join("subtitles.mkv");
    ffmpeg(&["-i", srt.to_str().unwrap(), mkv.to_str().unwrap()]);
    let outcome = transcode(&mkv, &dir.0.join("subtitles"), &spec);
    assert!(!outcome.success);
    assert_eq!(outcome.last()["code"], "no_streams", "{}", outcome.last());

    // A run that outlives its timeout ends with code "timeout".
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .arg("transcode-source")
        .arg("--source")
        .arg(format!("file://{}", vp9.display()))
        .arg("--out")
        .arg(dir.0.join("timeout"))
        .arg("--spec")
        .arg(video_only.to_string())
        .args(["--timeout-secs", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let last: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(last["code"], "timeout", "{last}");
}

/// An MPEG-TS cut in half: the part before the cut is kept.
#[test]
fn a_truncated_source_keeps_what_decoded() {
    let dir = TempDir::new("transcode-truncated");
    let whole = dir.0.join("whole.ts");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "8",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "50",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        whole.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&whole).unwrap();
    let half = dir.0.join("half.ts");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let spec = json!({
        "video": [
            {"mode": "copy", "name": "src"},
            {"mode": "encode", "name": "90p", "width": 160, "height": 90, "bitrate_kbps": 100},
        ],
        "audio": [{"mode": "copy", "name": "audio"}],
        "keyframes": {"at": "source"}, "segment_secs": 2.0, "preset": "ultrafast", "max_fps": 30,
    });
    let out = dir.0.join("out");
    let renditions = transcode(&half, &out, &spec).renditions();
    for name in ["src", "90p"] {
        let r = rendition(&renditions, name);
        let duration = duration_secs(r, 90_000.0);
        assert!((2.0..6.0).contains(&duration), "{name}: {duration} s");
        assert_eq!(
            sync_times(&out, name).len(),
            (duration / 2.0).ceil() as usize,
            "{name}"
        );
    }
    // The copy's last frame is cut short as the file is (ffmpeg complains
    // about it); the encoded rung decodes cleanly.
    let stream = &probe(&concatenated(&out, "90p", &dir.0))["streams"][0];
    assert_eq!(stream["codec_name"], "h264");
    let audio = rendition(&renditions, "audio");
    let duration = duration_secs(audio, 48_000.0);
    let video = duration_secs(rendition(&renditions, "src"), 90_000.0);
    assert!(
        (duration - video).abs() < 0.5,
        "audio {duration} s, video {video} s"
    );
}

#[test]
fn a_vp9_source_at_60_fps_is_capped_at_max_fps() {
    let dir = TempDir::new("transcode-vp9");
    let source = dir.0.join("source.webm");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=60",
        "-t",
        "4",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        source.to_str().unwrap(),
    ]);
    let out = dir.0.join("out");
    let spec = json!({
        "video": [
            {"mode": "encode", "name": "360p", "width": 640, "height": 360, "bitrate_kbps": 800},
            {"mode": "encode", "name": "180p", "width": 320, "height": 180, "bitrate_kbps": 200},
        ],
        "keyframes": {"at": "every", "secs": 2.0}, "segment_secs": 2.0,
        "preset": "veryfast", "max_fps": 30,
    });
    let renditions = transcode(&source, &out, &spec).renditions();
    for name in ["360p", "180p"] {
        let r = rendition(&renditions, name);
        assert_eq!(r["frame_rate"], json!([30, 1]), "{name}");
        // No frame past the source's end opens a segment of its own.
        let starts: Vec<u64> = segments(r).iter().map(|s| s[0]).collect();
        assert_eq!(starts, [0, 180_000], "{name}");
        let stream = &probe(&concatenated(&out, name, &dir.0))["streams"][0];
        assert_eq!(stream["nb_read_frames"], "120", "{name}");
        assert_eq!(sync_times(&out, name), [0, 180_000], "{name}");
    }
}
