//! A real H.264 stream from ffmpeg (x264 with B-frames) goes through the packager; ffprobe
//! and ffmpeg then read init + parts as one fragmented MP4.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use bytes::Bytes;
use common::h264::{access_units, timestamps};
use common::tools::{require_tool, run, scratch_dir};
use common::{MediaPlaylist, avcc};
use packager::{Codec, LiveOptions, LivePackager, Resource, Sample, Skip, TrackConfig};

fn write_fmp4(dir: &Path, packager: &LivePackager, id: packager::RenditionId) -> PathBuf {
    let playlist = MediaPlaylist::parse(&packager.media_playlist(id, Skip::No).unwrap());
    assert_eq!(playlist.maps, vec!["init0.mp4".to_string()]);
    let mut file = packager.init(id, 0).unwrap().to_vec();
    for (msn, part) in playlist.all_parts() {
        let Some(Resource::Part(_, index)) = Resource::parse(&part.uri) else {
            panic!()
        };
        file.extend_from_slice(&packager.part(id, msn, index).unwrap());
    }
    let path = dir.join("stream.mp4");
    std::fs::write(&path, file).unwrap();
    path
}

#[test]
fn ffprobe_reads_a_real_h264_stream() {
    require_tool("ffmpeg");
    require_tool("ffprobe");
    let dir = scratch_dir("ffprobe");
    let h264 = dir.join("out.h264");
    run(Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .args([
            "testsrc2=size=320x240:rate=30",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
        ])
        .arg(&h264));

    let (units, sps, pps) = access_units(&std::fs::read(&h264).unwrap());
    assert_eq!(units.len(), 60);
    let times = timestamps(&units);
    assert!(
        times
            .iter()
            .any(|(dts, pts)| pts - dts != times[0].1 - times[0].0),
        "the stream has B-frames"
    );

    let mut packager = LivePackager::new(LiveOptions::default());
    let config = TrackConfig {
        codec: Codec::H264,
        record: avcc(&sps, &pps),
        width: 320,
        height: 240,
        sample_rate: 0,
        channels: 0,
        codec_string: format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]),
    };
    let video = packager.add_rendition("video", config).unwrap();
    packager.begin_publish(SystemTime::now());
    for (unit, (dts, pts)) in units.iter().zip(&times) {
        let sample = Sample {
            dts: *dts,
            pts: *pts,
            keyframe: unit.keyframe,
            data: Bytes::from(unit.data.clone()),
        };
        packager.push(video, sample).unwrap();
    }
    packager.end_publish();
    let path = write_fmp4(&dir, &packager, video);

    let streams = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames,time_base",
            "-of",
            "default=nw=1",
        ])
        .arg(&path));
    for expected in [
        "codec_name=h264",
        "width=320",
        "height=240",
        "nb_read_frames=60",
        "time_base=1/90000",
    ] {
        assert!(
            streams.lines().any(|l| l == expected),
            "{expected} in\n{streams}"
        );
    }

    // Packets carry exactly the pushed decode times, composition offsets and keyframes.
    let packets = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=pts,dts,flags,size",
            "-of",
            "compact=p=0",
        ])
        .arg(&path));
    let packets: Vec<(i64, i64, bool, usize)> = packets
        .lines()
        .map(|line| {
            let field = |name: &str| {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .to_owned()
            };
            (
                field("dts").parse().unwrap(),
                field("pts").parse().unwrap(),
                field("flags").starts_with('K'),
                field("size").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(packets.len(), 60);
    let base = packets[0].0 - times[0].0;
    for ((dts, pts, key, size), ((in_dts, in_pts), unit)) in
        packets.iter().zip(times.iter().zip(&units))
    {
        assert_eq!((*dts - base, *pts - base), (*in_dts, *in_pts));
        assert_eq!(*key, unit.keyframe);
        assert_eq!(*size, unit.data.len());
    }

    // And every frame decodes without complaint.
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    std::fs::remove_dir_all(&dir).ok();
}
