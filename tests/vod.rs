//! The VOD ladder end to end: an upload is probed, repackaged or encoded
//! into renditions, published rendition by rendition, and played over HLS
//! (hls.js on the watch page) and DASH (dash.js) in Chromium, from `fs` and
//! from `s3` storage.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use support::{
    Server, TempDir, attribute, ffprobe, first_tfdt, node_script, postgres_url, process_dir,
    s3_flags, segment_uris,
};

/// Media files made once per run.
struct Fixtures {
    dir: PathBuf,
    /// H.264 1920x1080 30 fps at 2 Mbit/s, keyframes every 2 s, + AAC; 6 s.
    h264: PathBuf,
    /// HEVC 640x360 shown turned 90° (portrait) + MP3; 4 s.
    hevc_portrait: PathBuf,
    /// HEVC 1280x720 30 fps + AAC; 12 s.
    hevc_720p: PathBuf,
    /// H.264 640x360 + AAC with one keyframe every 10 s; 12 s.
    sparse_keyframes: PathBuf,
    /// MP3 only, 128 kbit/s, 6 s, with a 320x320 cover picture.
    song: PathBuf,
    /// AAC only, mono, 4 s, no picture.
    podcast: PathBuf,
    /// The first half of a 6 s H.264 + AAC MPEG-TS.
    truncated: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = process_dir("vod-fixtures");
        let h264 = dir.join("h264.mp4");
        let hevc = dir.join("hevc.mp4");
        let hevc_portrait = dir.join("hevc-portrait.mp4");
        let source = |size: &str, secs: &str| {
            vec![
                "-f".to_owned(),
                "lavfi".into(),
                "-i".into(),
                format!("testsrc2=size={size}:rate=30"),
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                "sine=frequency=440:sample_rate=48000".into(),
                "-t".into(),
                secs.into(),
                "-ac".into(),
                "2".into(),
                "-pix_fmt".into(),
                "yuv420p".into(),
            ]
        };
        let mut args = source("1920x1080", "6");
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "2000k",
                "-maxrate",
                "2400k",
                "-bufsize",
                "2000k",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
                "-c:a",
                "aac",
            ]
            .map(String::from),
        );
        args.push(h264.to_str().unwrap().into());
        ffmpeg("ffmpeg", &args);
        let mut args = source("640x360", "4");
        args.extend(
            [
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-c:a",
                "libmp3lame",
            ]
            .map(String::from),
        );
        args.push(hevc.to_str().unwrap().into());
        ffmpeg("ffmpeg", &args);
        // Debian's ffmpeg 5 cannot write rotation; the static ffmpeg 7 `./dev` installs can.
        let args = [
            "-display_rotation:v:0",
            "90",
            "-i",
            hevc.to_str().unwrap(),
            "-c",
            "copy",
        ]
        .map(String::from)
        .into_iter()
        .chain([hevc_portrait.to_str().unwrap().to_owned()])
        .collect::<Vec<_>>();
        ffmpeg(&support::ffmpeg7(), &args);
        let hevc_720p = dir.join("hevc-720p.mp4");
        let mut args = source("1280x720", "12");
        args.extend(["-c:v", "libx265", "-preset", "ultrafast", "-c:a", "aac"].map(String::from));
        args.push(hevc_720p.to_str().unwrap().into());
        ffmpeg("ffmpeg", &args);
        let sparse_keyframes = dir.join("sparse-keyframes.mp4");
        let mut args = source("640x360", "12");
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "300",
                "-keyint_min",
                "300",
                "-sc_threshold",
                "0",
                "-c:a",
                "aac",
            ]
            .map(String::from),
        );
        args.push(sparse_keyframes.to_str().unwrap().into());
        ffmpeg("ffmpeg", &args);
        let song = dir.join("song.mp3");
        let args = [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=44100:duration=6",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:size=320x320:duration=1",
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-c:v",
            "mjpeg",
            "-frames:v",
            "1",
            "-disposition:v",
            "attached_pic",
            "-id3v2_version",
            "3",
            song.to_str().unwrap(),
        ];
        ffmpeg("ffmpeg", &args.map(String::from));
        let podcast = dir.join("podcast.m4a");
        let args = [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=200:sample_rate=48000:duration=4",
            "-c:a",
            "aac",
            podcast.to_str().unwrap(),
        ];
        ffmpeg("ffmpeg", &args.map(String::from));
        let ts = dir.join("whole.ts");
        let mut args = source("640x360", "6");
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "30",
                "-c:a",
                "aac",
            ]
            .map(String::from),
        );
        args.push(ts.to_str().unwrap().into());
        ffmpeg("ffmpeg", &args);
        let truncated = dir.join("truncated.ts");
        let bytes = std::fs::read(&ts).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        Fixtures {
            dir,
            h264,
            hevc_portrait,
            hevc_720p,
            sparse_keyframes,
            song,
            podcast,
            truncated,
        }
    })
}

fn ffmpeg(program: &str, args: &[String]) {
    let status = Command::new(program)
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "{program} {args:?}");
}

async fn upload(server: &Server, title: &str, path: &Path) -> String {
    let (id, creation) = server.create_video(title).await;
    server.upload(&creation, std::fs::read(path).unwrap()).await;
    id
}

/// A URL's path and query: the API may hand out a CDN's URLs.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

async fn get(server: &Server, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.expect("GET")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `#EXTINF` durations of a media playlist.
fn extinfs(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(str::to_owned)
        .collect()
}

/// Every file of one rendition, concatenated, as ffprobe sees it.
async fn probe_rendition(server: &Server, base: &str, rendition: &str, dir: &Path) -> Value {
    let playlist_path = format!("{base}{rendition}/index.m3u8");
    let response = get(server, &playlist_path, None).await;
    assert_eq!(response.status(), 200, "{playlist_path}");
    let playlist = response.text().await.unwrap();
    let init = attribute(&playlist, "#EXT-X-MAP", "URI").expect("EXT-X-MAP");
    let mut bytes = server.get_bytes(&format!("{base}{rendition}/{init}")).await;
    for uri in segment_uris(&playlist) {
        bytes.extend(server.get_bytes(&format!("{base}{rendition}/{uri}")).await);
    }
    let file = dir.join(format!("{rendition}.mp4"));
    std::fs::write(&file, &bytes).unwrap();
    ffprobe(&file)["streams"][0].clone()
}

fn renditions(video: &Value) -> Vec<(String, u64, u64)> {
    let mut all: Vec<(String, u64, u64)> = video["renditions"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["width"].as_u64().unwrap_or(0),
                r["height"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    all.sort();
    all
}

async fn play(server: &Server, id: &str, mode: &str) -> Value {
    node_script(
        "tests/browser/vod.mjs",
        vec![server.url(&format!("/watch/v/{id}")), mode.into()],
        &[],
    )
    .await
}

const CDN: &str = "https://cdn.example.com";
const TIMEOUT: Duration = Duration::from_secs(120);

/// A 1080p H.264 upload is repackaged (its 1080p rung, without
/// re-encoding), playable before the ladder is done, and gets 720p, 480p
/// and 360p rungs aligned with it; everything about serving it.
async fn an_h264_upload_is_repackaged_laddered_and_plays(extra: &[&str]) {
    let fixtures = fixtures();
    let mut flags = vec!["--playback-base-url", CDN];
    flags.extend(extra);
    let server = Server::start(&flags).await;
    let id = upload(&server, "Evening <b>news</b>", &fixtures.h264).await;
    let uploaded = Instant::now();
    let video = server
        .wait_video(&id, &["partially_ready", "ready", "failed"], TIMEOUT)
        .await;
    let playable_after = uploaded.elapsed();
    // The repackaged source plays while the ladder is encoded.
    assert_eq!(video["status"], "partially_ready", "{video}");
    assert_eq!(renditions(&video)[0].0, "1080p", "{video}");
    let gap = video["source"]["video"]["keyframe_gap"].as_f64().unwrap();
    assert!((gap - 2.0).abs() < 0.05, "{video}");
    let (status, early) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    assert_eq!(status, 200);
    assert!(
        early.contains("RESOLUTION=1920x1080") && !early.contains("RESOLUTION=640x360"),
        "{early}"
    );
    let video = server.wait_video(&id, &["ready", "failed"], TIMEOUT).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(
        renditions(&video),
        [
            ("1080p".into(), 1920, 1080),
            ("360p".into(), 640, 360),
            ("480p".into(), 854, 480),
            ("720p".into(), 1280, 720),
            ("audio".into(), 0, 0)
        ],
        "{video}"
    );
    let hls_url = video["hls_url"].as_str().unwrap();
    assert_eq!(hls_url, format!("{CDN}/vod/{id}/master.m3u8"));
    assert_eq!(video["dash_url"], format!("{CDN}/vod/{id}/manifest.mpd"));
    assert!(
        (video["duration"].as_f64().unwrap() - 6.0).abs() < 0.1,
        "{video}"
    );

    // The multivariant playlist: every rung and the audio, settled.
    let master = get(&server, path_of(hls_url), None).await;
    assert_eq!(master.status(), 200);
    assert_eq!(
        header(&master, "content-type"),
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(header(&master, "cache-control"), "public, max-age=3600");
    assert_eq!(header(&master, "access-control-allow-origin"), "*");
    let master = master.text().await.unwrap();
    for resolution in ["1920x1080", "1280x720", "854x480", "640x360"] {
        assert!(
            master.contains(&format!("RESOLUTION={resolution}")),
            "{master}"
        );
    }
    assert!(master.contains("TYPE=AUDIO"), "{master}");
    assert!(
        master.contains("avc1.") && master.contains("mp4a.40.2"),
        "{master}"
    );

    // Each media playlist is a complete VOD playlist; every segment N
    // starts at the same time (tfdt) in every video rendition: the
    // source's keyframes, every 2 s.
    let base = format!("/vod/{id}/");
    let mut starts = Vec::new();
    for rendition in ["1080p", "720p", "480p", "360p", "audio"] {
        let (status, playlist) = server
            .get_text(&format!("{base}{rendition}/index.m3u8"))
            .await;
        assert_eq!(status, 200, "{rendition}");
        for tag in ["#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST", "#EXT-X-MAP:"] {
            assert!(playlist.contains(tag), "{rendition}: {playlist}");
        }
        let total: f64 = extinfs(&playlist)
            .iter()
            .map(|d| d.trim_end_matches(',').parse::<f64>().unwrap())
            .sum();
        assert!(
            (total - 6.0).abs() < 0.1,
            "{rendition}: {total} s\n{playlist}"
        );
        if rendition != "audio" {
            let mut tfdts = Vec::new();
            for uri in segment_uris(&playlist) {
                let segment = server.get_bytes(&format!("{base}{rendition}/{uri}")).await;
                tfdts.push(first_tfdt(&segment).expect("a tfdt"));
            }
            starts.push((rendition, tfdts));
        }
    }
    assert!(starts[0].1.len() >= 2, "{starts:?}");
    for (rendition, tfdts) in &starts[1..] {
        assert_eq!(tfdts, &starts[0].1, "{rendition} is not cut like 1080p");
    }

    // What the files hold: the 1080p rung is the source's own H.264, the
    // others new encodes; all decode whole at their advertised size.
    let probe_dir = TempDir::new("vod-probe");
    for (rendition, width, height) in [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ] {
        let probe = probe_rendition(&server, &base, rendition, &probe_dir.0).await;
        assert_eq!(probe["codec_name"], "h264", "{probe}");
        assert_eq!(
            (probe["width"].as_u64(), probe["height"].as_u64()),
            (Some(width), Some(height)),
            "{rendition}"
        );
        assert_eq!(probe["nb_read_frames"], "180", "{rendition}: {probe}");
    }
    let audio = probe_rendition(&server, &base, "audio", &probe_dir.0).await;
    assert_eq!(audio["codec_name"], "aac", "{audio}");

    // ffprobe and GStreamer (the discoverer of `tributary probe-source`)
    // read the MPD.
    let mpd_url = server.url(&format!("{base}manifest.mpd"));
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json", &mpd_url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let streams: Value = serde_json::from_slice(&output.stdout).unwrap();
    let heights: Vec<u64> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["height"].as_u64())
        .collect();
    assert_eq!(heights.len(), 4, "{streams}");
    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["probe-source", &mpd_url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let discovered: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(discovered["video"]["codec"], "h264", "{discovered}");
    assert_eq!(discovered["audio"]["codec"], "aac", "{discovered}");

    // The MPD names the same files.
    let mpd = get(&server, &format!("{base}manifest.mpd"), None).await;
    assert_eq!(header(&mpd, "content-type"), "application/dash+xml");
    let mpd = mpd.text().await.unwrap();
    assert_eq!(mpd.matches("<Representation ").count(), 5, "{mpd}");
    assert!(
        mpd.contains("SegmentTimeline") && mpd.contains("type=\"static\""),
        "{mpd}"
    );

    // Segments: immutable, with byte ranges.
    let segment = format!("{base}360p/seg-00001.m4s");
    let whole = get(&server, &segment, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(
        header(&whole, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    let whole = whole.bytes().await.unwrap();
    let first = get(&server, &segment, Some("bytes=0-99")).await;
    assert_eq!(first.status(), 206);
    assert_eq!(
        header(&first, "content-range"),
        format!("bytes 0-99/{}", whole.len())
    );
    assert_eq!(first.bytes().await.unwrap(), whole[..100]);
    let last = get(&server, &segment, Some("bytes=-10")).await;
    assert_eq!(last.status(), 206);
    assert_eq!(last.bytes().await.unwrap(), whole[whole.len() - 10..]);
    let past = get(&server, &segment, Some(&format!("bytes={}-", whole.len()))).await;
    assert_eq!(past.status(), 416);

    // Hostile and unknown paths.
    for path in [
        format!("{base}../../source"),
        format!("{base}360p/seg-1.m4s"),
        format!("{base}360p/../../source"),
        format!("{base}source"),
        format!("{base}nope/index.m3u8"),
        "/vod/zzzzzzzzzzzz/master.m3u8".to_owned(),
        "/vod/bad%2Fid/master.m3u8".to_owned(),
    ] {
        let (status, _) = server.get_text(&path).await;
        assert_eq!(status, 404, "{path}");
    }

    // The poster and the storyboard of seek-bar thumbnails.
    assert_eq!(
        video["thumbnail_url"],
        format!("{CDN}/vod/{id}/poster.jpg"),
        "{video}"
    );
    assert_eq!(
        video["storyboard_url"],
        format!("{CDN}/vod/{id}/storyboard.vtt"),
        "{video}"
    );
    let poster = get(&server, &format!("{base}poster.jpg"), None).await;
    assert_eq!(header(&poster, "content-type"), "image/jpeg");
    assert_eq!(poster.bytes().await.unwrap()[..2], [0xFF, 0xD8]);
    let (status, vtt) = server.get_text(&format!("{base}storyboard.vtt")).await;
    assert_eq!(status, 200);
    assert!(vtt.starts_with("WEBVTT\n"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), 6, "one tile a second: {vtt}");
    assert!(
        vtt.contains("00:00:03.000 --> 00:00:04.000\nsprite.jpg#xywh=480,0,160,90"),
        "{vtt}"
    );
    let sprite = server.get_bytes(&format!("{base}sprite.jpg")).await;
    let sprite_file = probe_dir.0.join("sprite.jpg");
    std::fs::write(&sprite_file, sprite).unwrap();
    let sprite = &ffprobe(&sprite_file)["streams"][0];
    assert_eq!(
        (sprite["width"].as_u64(), sprite["height"].as_u64()),
        (Some(960), Some(90)),
        "{sprite}"
    );

    let (status, progress) = server
        .api(
            Method::GET,
            &format!("/api/v1/videos/{id}/transcode-status"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["percent"], 100.0, "{progress}");
    assert_eq!(
        progress["renditions"].as_array().unwrap().len(),
        5,
        "{progress}"
    );

    // The watch page: the title as text, hls.js over the ladder.
    let (status, page) = server.get_text(&format!("/watch/v/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Evening &lt;b&gt;news&lt;/b&gt;"), "{page}");
    let hls = play(&server, &id, "hls").await;
    let mut levels: Vec<u64> = hls["started"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_u64().unwrap())
        .collect();
    levels.sort();
    assert_eq!(levels, [360, 480, 720, 1080], "{hls}");
    assert_eq!(
        hls["started"]["qualities"],
        serde_json::json!(["Auto", "1080p", "720p", "480p", "360p"]),
        "{hls}"
    );
    assert!(
        (hls["started"]["duration"].as_f64().unwrap() - 6.0).abs() < 0.2,
        "{hls}"
    );
    assert_eq!(hls["ended"]["ended"], true, "{hls}");
    assert!(
        hls["started"]["poster"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/vod/{id}/poster.jpg")),
        "{hls}"
    );
    assert_eq!(hls["started"]["cues"], 6, "{hls}");
    let preview = &hls["started"]["previewAt3"];
    assert_eq!(
        (preview["x"].as_u64(), preview["w"].as_u64()),
        (Some(480), Some(160)),
        "{hls}"
    );
    assert!(
        preview["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/vod/{id}/sprite.jpg")),
        "{hls}"
    );
    let dash = play(&server, &id, "dash").await;
    assert_eq!(
        dash["started"]["representations"].as_array().unwrap().len(),
        4,
        "{dash}"
    );
    assert_eq!(dash["started"]["audioTracks"], 1, "{dash}");
    assert_eq!(dash["ended"]["ended"], true, "{dash}");

    eprintln!("{id}: playable {playable_after:?} after the upload");

    // Deleting the asset removes its media.
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{id}"), None)
        .await;
    assert_eq!(status, 204);
    for path in [
        format!("{base}master.m3u8"),
        segment,
        format!("/watch/v/{id}"),
    ] {
        assert_eq!(server.get_text(&path).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn an_h264_upload_is_repackaged_laddered_and_plays_on_fs_and_sqlite() {
    an_h264_upload_is_repackaged_laddered_and_plays(&[]).await;
}

#[tokio::test]
async fn an_h264_upload_is_repackaged_laddered_and_plays_on_s3_and_postgres() {
    let db = postgres_url().await;
    let mut flags = s3_flags();
    flags.extend(["--database-url".into(), db]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    an_h264_upload_is_repackaged_laddered_and_plays(&flags).await;
}

/// A portrait HEVC phone video with MP3 audio, uploaded with the CLI, which
/// shows the transcode's progress: every rung is encoded upright to H.264,
/// the audio to AAC, and it plays.
#[tokio::test]
async fn a_portrait_hevc_upload_is_encoded_upright() {
    let fixtures = fixtures();
    let server = Server::start(&[]).await;
    let cache = TempDir::new("vod-cli-cache");
    let mut cli = Command::new(env!("CARGO_BIN_EXE_tributary"));
    cli.args(["video", "upload", "--title", "phone", "--wait", "--json"])
        .arg(&fixtures.hevc_portrait)
        .args(["--server", &server.url(""), "--token", support::TOKEN])
        .env("XDG_CACHE_HOME", &cache.0)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || cli.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let video: Value = serde_json::from_slice(&output.stdout).expect("the video as JSON");
    assert_eq!(video["status"], "ready", "{video}\n{stderr}");
    assert!(
        stderr.contains("ready 100%: 480p done, 360p done, audio done"),
        "{stderr}"
    );
    let id = video["id"].as_str().unwrap().to_owned();
    assert_eq!(
        renditions(&video),
        [
            ("360p".into(), 202, 360),
            ("480p".into(), 270, 480),
            ("audio".into(), 0, 0)
        ],
        "{video}"
    );
    let base = format!("/vod/{id}/");
    let mut cuts = Vec::new();
    for rendition in ["480p", "360p"] {
        let (_, playlist) = server
            .get_text(&format!("{base}{rendition}/index.m3u8"))
            .await;
        cuts.push(extinfs(&playlist));
        let probe = probe_rendition(&server, &base, rendition, &fixtures.dir).await;
        assert_eq!(probe["codec_name"], "h264", "{probe}");
        assert_eq!(probe["pix_fmt"], "yuv420p", "{probe}");
    }
    // Encoded on a 2 s keyframe grid: 4 s segments, every rung alike.
    assert_eq!(cuts[0], cuts[1]);
    let audio = probe_rendition(&server, &base, "audio", &fixtures.dir).await;
    assert_eq!(audio["codec_name"], "aac", "{audio}");
    let hls = play(&server, &id, "hls").await;
    let started = &hls["started"];
    assert!(
        started["width"].as_u64().unwrap() < started["height"].as_u64().unwrap(),
        "{hls}"
    );
    assert_eq!(hls["ended"]["ended"], true, "{hls}");
}

/// An HEVC upload plays while its rungs are encoded: the lowest rung and
/// the audio are published segment by segment (`EVENT` playlists, no MPD
/// yet), then every rung is complete, cut alike, and the MPD appears.
#[tokio::test]
async fn an_hevc_upload_plays_while_its_rungs_are_encoded() {
    let fixtures = fixtures();
    let server = Server::start(&[]).await;
    let id = upload(&server, "hevc", &fixtures.hevc_720p).await;
    let base = format!("/vod/{id}/");
    let deadline = Instant::now() + TIMEOUT;
    let growing = loop {
        assert!(Instant::now() < deadline, "360p never appeared");
        let (status, playlist) = server.get_text(&format!("{base}360p/index.m3u8")).await;
        if status == 200 {
            break playlist;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        growing.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !growing.contains("#EXT-X-ENDLIST"),
        "360p was complete before it was seen growing:\n{growing}"
    );
    let (status, master) = server.get_text(&format!("{base}master.m3u8")).await;
    assert_eq!(status, 200);
    assert!(
        master.contains("RESOLUTION=640x360") && !master.contains("RESOLUTION=1280x720"),
        "{master}"
    );
    assert_eq!(
        get(&server, &format!("{base}manifest.mpd"), None)
            .await
            .status(),
        404
    );
    let first = segment_uris(&growing)
        .into_iter()
        .next()
        .expect("a segment");
    assert_eq!(
        get(&server, &format!("{base}360p/{first}"), None)
            .await
            .status(),
        200
    );
    let video = server.video(&id).await;
    assert_eq!(video["status"], "partially_ready", "{video}");
    assert!(video["dash_url"].is_null(), "{video}");
    assert!(video["hls_url"].is_string(), "{video}");

    let video = server.wait_video(&id, &["ready", "failed"], TIMEOUT).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert!(video["dash_url"].is_string(), "{video}");
    let mut cuts = Vec::new();
    for rendition in ["720p", "480p", "360p"] {
        let (_, playlist) = server
            .get_text(&format!("{base}{rendition}/index.m3u8"))
            .await;
        assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
        cuts.push(extinfs(&playlist));
    }
    assert_eq!(cuts[0], cuts[1]);
    assert_eq!(cuts[0], cuts[2]);
    assert_eq!(cuts[0].len(), 3, "{cuts:?}");
    let early = extinfs(&growing);
    assert_eq!(early[..], cuts[2][..early.len()]);
    assert_eq!(
        get(&server, &format!("{base}manifest.mpd"), None)
            .await
            .status(),
        200
    );
    let probe = probe_rendition(&server, &base, "720p", &fixtures.dir).await;
    assert_eq!(
        (probe["width"].as_u64(), probe["height"].as_u64()),
        (Some(1280), Some(720)),
        "{probe}"
    );
}

/// An H.264 file with keyframes 10 s apart is encoded, not repackaged:
/// its segments would be as long as its gaps.
#[tokio::test]
async fn an_h264_upload_with_keyframes_far_apart_is_encoded() {
    let fixtures = fixtures();
    let server = Server::start(&[]).await;
    let id = upload(&server, "screen recording", &fixtures.sparse_keyframes).await;
    let video = server.wait_video(&id, &["ready", "failed"], TIMEOUT).await;
    assert_eq!(video["status"], "ready", "{video}");
    let gap = video["source"]["video"]["keyframe_gap"].as_f64().unwrap();
    assert!((gap - 10.0).abs() < 0.1, "{video}");
    assert_eq!(
        renditions(&video),
        [("360p".into(), 640, 360), ("audio".into(), 0, 0)],
        "{video}"
    );
    let (_, playlist) = server.get_text(&format!("/vod/{id}/360p/index.m3u8")).await;
    assert_eq!(
        extinfs(&playlist),
        ["4.00000,", "4.00000,", "4.00000,"],
        "{playlist}"
    );
}

/// The width and height of an image the server serves.
async fn image_size(server: &Server, url: &str, dir: &Path) -> (u64, u64) {
    let response = get(server, path_of(url), None).await;
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    let file = dir.join("image.jpg");
    std::fs::write(&file, response.bytes().await.unwrap()).unwrap();
    let stream = &ffprobe(&file)["streams"][0];
    (
        stream["width"].as_u64().unwrap(),
        stream["height"].as_u64().unwrap(),
    )
}

/// A song gets the audio ladder (never above its own bitrate), its cover as
/// its poster, and plays; a podcast without a picture gets its waveform as
/// its poster; a file cut in half plays what it holds.
#[tokio::test]
async fn audio_only_and_truncated_uploads() {
    let fixtures = fixtures();
    let server = Server::start(&[]).await;
    let song = upload(&server, "song", &fixtures.song).await;
    let podcast = upload(&server, "podcast", &fixtures.podcast).await;
    let truncated = upload(&server, "cut", &fixtures.truncated).await;

    let video = server
        .wait_video(&song, &["ready", "failed"], TIMEOUT)
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(
        renditions(&video),
        [("audio-128k".into(), 0, 0), ("audio-64k".into(), 0, 0)],
        "{video}"
    );
    assert_eq!(video["storyboard_url"], Value::Null, "{video}");
    let probe_dir = TempDir::new("vod-song");
    let poster = video["thumbnail_url"].as_str().expect("a poster");
    assert_eq!(image_size(&server, poster, &probe_dir.0).await, (320, 320));
    let video = server
        .wait_video(&podcast, &["ready", "failed"], TIMEOUT)
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    let poster = video["thumbnail_url"].as_str().expect("a waveform");
    assert_eq!(image_size(&server, poster, &probe_dir.0).await, (1280, 720));
    let (status, master) = server.get_text(&format!("/vod/{song}/master.m3u8")).await;
    assert_eq!(status, 200);
    assert!(
        !master.contains("RESOLUTION") && master.contains("mp4a.40.2"),
        "{master}"
    );
    let audio = probe_rendition(&server, &format!("/vod/{song}/"), "audio-64k", &probe_dir.0).await;
    assert_eq!(audio["codec_name"], "aac", "{audio}");
    let bitrate: f64 = audio["bit_rate"].as_str().unwrap_or("0").parse().unwrap();
    assert!((40_000.0..90_000.0).contains(&bitrate), "{audio}");
    let played = play(&server, &song, "hls").await;
    assert_eq!(played["ended"]["ended"], true, "{played}");
    assert!(
        (played["started"]["duration"].as_f64().unwrap() - 6.0).abs() < 0.2,
        "{played}"
    );

    let video = server
        .wait_video(&truncated, &["ready", "partially_ready", "failed"], TIMEOUT)
        .await;
    assert_eq!(video["status"], "ready", "{video}");
    let duration = video["duration"].as_f64().unwrap();
    assert!((2.0..4.0).contains(&duration), "{video}");
    let played = play(&server, &truncated, "hls").await;
    assert_eq!(played["ended"]["ended"], true, "{played}");
}

/// With S3 storage and `--vod-redirect-to-storage`, media files are
/// redirects to presigned URLs: the bytes come from the bucket.
#[tokio::test]
async fn media_redirects_to_presigned_storage_urls() {
    let mut flags = s3_flags();
    flags.extend(["--vod-redirect-to-storage".into(), "true".into()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start(&flags).await;
    let id = upload(&server, "redirected", &fixtures().h264).await;
    let video = server.wait_video(&id, &["ready", "failed"], TIMEOUT).await;
    assert_eq!(video["status"], "ready", "{video}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (file, starts) in [
        ("1080p/init.mp4", &b"\0\0\0"[..]),
        ("poster.jpg", &[0xFF, 0xD8][..]),
    ] {
        let response = client
            .get(server.url(&format!("/vod/{id}/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "{file}");
        let location = header(&response, "location").to_owned();
        assert!(location.contains("X-Amz-Signature="), "{location}");
        let bytes = client
            .get(&location)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(bytes.starts_with(starts), "{file}");
    }
    // Manifests are still made by the origin.
    let (status, master) = server.get_text(&format!("/vod/{id}/master.m3u8")).await;
    assert_eq!(status, 200);
    assert!(master.contains("1080p/index.m3u8"), "{master}");
}
