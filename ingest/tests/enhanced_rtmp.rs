//! Enhanced RTMP (FourCC codecs) from a static ffmpeg 7+ (the PyPI package
//! `imageio-ffmpeg`; Debian's ffmpeg 5 cannot send it): HEVC and AV1 must
//! come out as HEVC and AV1, never misread as H.264.

mod common;

use std::time::Duration;

use common::{TestAuth, check_publish, rtmp_server, spawn, wait_exit};
use ingest::{AudioCodec, VideoCodec};

/// The static ffmpeg's path, found the way `./dev test` installs it.
fn static_ffmpeg() -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        _ => panic!(
            "the static ffmpeg 7+ used for Enhanced RTMP is missing: `python3 -m pip install imageio-ffmpeg` \
             (./dev test installs it)"
        ),
    }
}

async fn publish(
    video: &[&str],
    audio: &[&str],
    expect_video: VideoCodec,
    expect_audio: AudioCodec,
) {
    let auth = TestAuth::default();
    let (_server, port) = rtmp_server(&auth).await;
    let url = format!("rtmp://127.0.0.1:{port}/live/good");
    let mut args = common::test_input("2");
    args.extend(["-g", "30"]);
    args.extend(video);
    args.extend(audio);
    args.extend(["-f", "flv", &url]);
    let mut child = spawn(&static_ffmpeg(), &args);
    let status = wait_exit(&mut child, Duration::from_secs(40))
        .await
        .expect("ffmpeg did not finish");
    assert!(status.success(), "static ffmpeg failed: {status}");
    let collected = auth
        .wait_for(Duration::from_secs(5), |c| c.finished == 1)
        .await;
    check_publish(&collected.publishes[0], expect_video, expect_audio, 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_and_opus() {
    publish(
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
        &["-c:a", "libopus"],
        VideoCodec::Hevc,
        AudioCodec::Opus,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn av1_and_mp3() {
    publish(
        &["-c:v", "libsvtav1", "-preset", "12"],
        &["-c:a", "libmp3lame"],
        VideoCodec::Av1,
        AudioCodec::Mp3,
    )
    .await;
}
