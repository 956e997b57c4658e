//! End to end: real publishers into the real binary, LL-HLS out.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const START: Duration = Duration::from_secs(20);

/// ffmpeg publishes over RTMP; the master and media playlists carry the LL-HLS
/// tags, the API reports what is live, and init + segments + parts decode.
#[tokio::test]
async fn rtmp_publish_is_served_as_ll_hls() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("rtmp").await;
    let _ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "640x360");

    let master = server.wait_master(&id, START).await;
    assert!(master.contains("RESOLUTION=640x360"), "{master}");
    assert!(
        master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"),
        "{master}"
    );
    assert!(master.contains("#EXT-X-MEDIA:TYPE=AUDIO"), "{master}");
    let (video, audio) = media_paths(&id, &master);
    let audio = audio.expect("an audio rendition");

    let playlist = server.wait_segments(&video, 3, START).await;
    for tag in [
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
        "PART-HOLD-BACK=",
        "CAN-SKIP-UNTIL=",
        "#EXT-X-PART:",
        "INDEPENDENT=YES",
        "#EXT-X-PRELOAD-HINT:TYPE=PART",
        "#EXT-X-RENDITION-REPORT:",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-MAP:",
    ] {
        assert!(playlist.contains(tag), "missing {tag}:\n{playlist}");
    }

    let status = server.wait_status(&id, "live", START).await;
    assert_eq!(status["video"]["width"], 640, "{status}");
    assert_eq!(status["video"]["height"], 360, "{status}");
    assert!(
        status["video"]["codec"]
            .as_str()
            .unwrap()
            .starts_with("avc1."),
        "{status}"
    );
    assert_eq!(status["audio"]["codec"], "mp4a.40.2", "{status}");
    assert!(status["started_at"].is_string(), "{status}");
    let rate = status["frame_rate"].as_f64().unwrap_or(0.0);
    assert!((28.0..=32.0).contains(&rate), "frame rate {rate}: {status}");
    let keyint = status["keyframe_interval_secs"].as_f64().unwrap_or(0.0);
    assert!(
        (0.9..=1.1).contains(&keyint),
        "keyframe interval {keyint}: {status}"
    );
    assert!(
        status["bitrate_kbps"].as_u64().unwrap_or(0) > 50,
        "{status}"
    );

    // The live poster: a JPEG of a recent keyframe.
    let deadline = Instant::now() + START;
    let jpeg = loop {
        let response = server
            .get(&format!("/api/v1/streams/{id}/thumbnail.jpg"))
            .await;
        if response.status() == 200 {
            assert_eq!(response.headers()["content-type"], "image/jpeg");
            break response.bytes().await.unwrap();
        }
        assert!(Instant::now() < deadline, "no thumbnail:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(jpeg_size(&jpeg), Some((640, 360)));
    let (other, _) = server.create_stream("offline").await;
    assert_eq!(
        server
            .get(&format!("/api/v1/streams/{other}/thumbnail.jpg"))
            .await
            .status(),
        404
    );

    let tmp = TempDir::new("probe");
    let probed = probe_rendition(&server, &video, &playlist, &tmp.0).await;
    assert_eq!(probed["codec_name"], "h264", "{probed}");
    assert_eq!(probed["width"], 640, "{probed}");
    let frames: u64 = probed["nb_read_frames"].as_str().unwrap().parse().unwrap();
    assert!(
        frames >= 60,
        "only {frames} frames decoded from {} segments",
        segment_uris(&playlist).len()
    );

    let audio_playlist = server.wait_segments(&audio, 3, START).await;
    let probed = probe_rendition(&server, &audio, &audio_playlist, &tmp.0).await;
    assert_eq!(probed["codec_name"], "aac", "{probed}");
    assert_eq!(probed["sample_rate"], "48000", "{probed}");

    // An init segment plus the parts of one segment decode on their own.
    let base = folder(&video);
    let init = attribute(&playlist, "#EXT-X-MAP", "URI").unwrap();
    let parts = part_uris(&playlist);
    let first_independent = playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .position(|l| l.contains("INDEPENDENT=YES"))
        .expect("an independent part");
    let mut bytes = server.get_bytes(&format!("{base}{init}")).await;
    for uri in &parts[first_independent..] {
        bytes.extend(server.get_bytes(&format!("{base}{uri}")).await);
    }
    let file = tmp.0.join("parts.mp4");
    std::fs::write(&file, bytes).unwrap();
    let probed = ffprobe(&file);
    let frames: u64 = probed["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames > 0, "parts did not decode: {probed}");
}

/// (width, height) from a baseline JPEG's SOF0 marker.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    if !jpeg.starts_with(&[0xff, 0xd8]) || !jpeg.ends_with(&[0xff, 0xd9]) {
        return None;
    }
    let at = jpeg.windows(2).position(|w| w == [0xff, 0xc0])?;
    let sof = jpeg.get(at + 5..at + 9)?;
    Some((
        u16::from_be_bytes([sof[2], sof[3]]),
        u16::from_be_bytes([sof[0], sof[1]]),
    ))
}

/// Headers a player and a CDN rely on: immutable media, short-lived playlists,
/// open CORS, HEAD and Range on segments.
#[tokio::test]
async fn media_headers_ranges_and_cors() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("headers").await;
    let _ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    let playlist = server.wait_segments(&video, 2, START).await;
    let segment = format!("{}{}", folder(&video), segment_uris(&playlist)[0]);

    let response = server
        .client
        .get(server.url(&segment))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["accept-ranges"], "bytes");
    let whole = response.bytes().await.unwrap();
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        whole.len().to_string()
    );

    let ranged = server
        .client
        .get(server.url(&segment))
        .header("Range", "bytes=10-109")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"].to_str().unwrap(),
        format!("bytes 10-109/{}", whole.len())
    );
    assert_eq!(ranged.bytes().await.unwrap(), whole.slice(10..110));

    let past = server
        .client
        .get(server.url(&segment))
        .header("Range", format!("bytes={}-", whole.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);

    let head = server
        .client
        .head(server.url(&segment))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        whole.len().to_string()
    );

    let playlist_response = server.get(&video).await;
    assert_eq!(
        playlist_response.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(
        playlist_response.headers()["cache-control"],
        "public, max-age=1"
    );

    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url(&video))
        .header("Origin", "https://elsewhere.example")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

/// Blocking reload per RFC 8216bis: waits for the part, answers 400 beyond
/// the next segment plus two, 503 when it does not come in time; the preload
/// hint blocks; delta updates skip old segments.
#[tokio::test]
async fn blocking_reload_and_delta_updates() {
    let server = Server::start(&["--reconnect-window-secs", "120"]).await;
    let (id, key) = server.create_stream("blocking").await;
    let mut ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    let playlist = server
        .wait_segments(&video, 8, Duration::from_secs(30))
        .await;

    // Delta update: more than CAN-SKIP-UNTIL (6 target durations) of segments are in the playlist.
    let (status, delta) = server.get_text(&format!("{video}?_HLS_skip=YES")).await;
    assert_eq!(status, 200);
    let skipped: usize = attribute(&delta, "#EXT-X-SKIP", "SKIPPED-SEGMENTS")
        .expect(&delta)
        .parse()
        .unwrap();
    assert!(skipped >= 1, "{delta}");
    let full = server.get_text(&video).await.1;
    assert!(
        segment_uris(&delta).len() + skipped >= segment_uris(&playlist).len(),
        "{delta}"
    );
    assert!(delta.len() < full.len());

    // Block for the next part: answered once it exists, within about a part duration.
    let hint = attribute(&playlist, "#EXT-X-PRELOAD-HINT", "URI").unwrap();
    let (msn, part) = parse_part_uri(&hint);
    let started = Instant::now();
    let (status, blocked) = server
        .get_text(&format!("{video}?_HLS_msn={msn}&_HLS_part={part}"))
        .await;
    let waited = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        blocked.contains(&format!("URI=\"{hint}\"")) && blocked.contains("#EXT-X-PART:"),
        "{hint} not in\n{blocked}"
    );
    assert!(waited < Duration::from_millis(1500), "blocked {waited:?}");

    // The preload hint URL itself blocks until the part exists.
    let next_hint = attribute(&blocked, "#EXT-X-PRELOAD-HINT", "URI").unwrap();
    let started = Instant::now();
    let response = server.get(&format!("{}{next_hint}", folder(&video))).await;
    assert_eq!(response.status(), 200);
    assert!(!response.bytes().await.unwrap().is_empty());
    assert!(started.elapsed() < Duration::from_millis(1500));

    // Too far ahead: 400 at once.
    let too_far = msn + 3;
    let started = Instant::now();
    let (status, _) = server
        .get_text(&format!("{video}?_HLS_msn={too_far}"))
        .await;
    assert_eq!(status, 400);
    assert!(started.elapsed() < Duration::from_millis(500));

    // Hostile query strings: clear 400s.
    for query in [
        "_HLS_part=1",
        "_HLS_msn=abc",
        "_HLS_msn=1&_HLS_msn=2",
        "_HLS_skip=maybe",
        "_HLS_msn=-5",
    ] {
        let (status, body) = server.get_text(&format!("{video}?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }

    // The publisher stops; a request for a part that will not come times out with 503.
    ffmpeg.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let current = server.get_text(&video).await.1;
    let last = segment_uris(&current)
        .last()
        .map(|uri| parse_part_uri(uri).0)
        .unwrap();
    let started = Instant::now();
    let (status, _) = server
        .get_text(&format!("{video}?_HLS_msn={}&_HLS_part=0", last + 2))
        .await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "gave up after {:?}",
        started.elapsed()
    );
}

/// `12.m4s` → (12, 0); `12.3.m4s` → (12, 3).
fn parse_part_uri(uri: &str) -> (u64, u32) {
    let stem = uri.trim_end_matches(".m4s");
    match stem.split_once('.') {
        Some((msn, part)) => (msn.parse().unwrap(), part.parse().unwrap()),
        None => (stem.parse().unwrap(), 0),
    }
}

/// A publisher that drops and comes back continues the same playlist after a
/// discontinuity, with a new init segment; what follows still decodes.
#[tokio::test]
async fn reconnect_continues_after_a_discontinuity() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("reconnect").await;
    let mut first = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    server.wait_segments(&video, 2, START).await;
    first.kill();
    server
        .wait_status(&id, "idle", Duration::from_secs(10))
        .await;

    let _second = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    server.wait_status(&id, "live", START).await;
    let playlist = wait_discontinuity(&server, &video).await;
    let maps: Vec<_> = playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MAP"))
        .collect();
    assert_eq!(maps.len(), 2, "{playlist}");
    assert_ne!(maps[0], maps[1]);
    let again = server.wait_master(&id, START).await;
    assert_eq!(
        media_paths(&id, &again),
        media_paths(&id, &master),
        "the same broadcast continues"
    );

    // The segments after the discontinuity decode with the new init segment.
    let after = playlist.split("#EXT-X-DISCONTINUITY\n").nth(1).unwrap();
    let tmp = TempDir::new("reconnect");
    let probed = probe_rendition(&server, &video, after, &tmp.0).await;
    assert_eq!(probed["codec_name"], "h264");
}

/// The media playlist at `video` once it has two segments after an EXT-X-DISCONTINUITY.
async fn wait_discontinuity(server: &Server, video: &str) -> String {
    let deadline = Instant::now() + START;
    loop {
        let (_, playlist) = server.get_text(video).await;
        let after = playlist
            .split("#EXT-X-DISCONTINUITY\n")
            .nth(1)
            .map(segment_uris)
            .unwrap_or_default();
        if after.len() >= 2 {
            return playlist;
        }
        assert!(
            Instant::now() < deadline,
            "no discontinuity with segments after it:\n{playlist}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A publisher that changes resolution without reconnecting (a second AVC sequence header
/// mid-stream): the broadcast goes on after a discontinuity whose segments decode at the
/// new size, and the ladder is rebuilt for the new source (a 360p rung appears under 480p).
#[tokio::test]
async fn a_mid_stream_resolution_change_continues_after_a_discontinuity() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("resize").await;
    let tmp = TempDir::new("resize");
    let small = tmp.0.join("small.flv");
    let large = tmp.0.join("large.flv");
    for (size, path) in [("640x360", &small), ("854x480", &large)] {
        let mut codecs = X264.to_vec();
        codecs.extend(["-c:a", "aac", "-t", "6"]);
        let status = test_source(
            "ffmpeg",
            size,
            "48000",
            &codecs,
            "flv",
            path.to_str().unwrap(),
        )
        .status()
        .unwrap();
        assert!(status.success());
    }
    let spliced = tmp.0.join("spliced.flv");
    std::fs::write(
        &spliced,
        splice_flv(
            &std::fs::read(&small).unwrap(),
            &std::fs::read(&large).unwrap(),
        ),
    )
    .unwrap();
    let mut relay = Command::new("ffmpeg");
    relay
        .args(["-hide_banner", "-loglevel", "error", "-re", "-i"])
        .arg(&spliced)
        .args(["-c", "copy", "-f", "flv", &rtmp_url(&server, &key)])
        .stdin(Stdio::null());
    let _publisher = Proc::spawn("ffmpeg", &mut relay);

    let master = server.wait_master(&id, START).await;
    assert_eq!(
        variants(&id, &master).len(),
        1,
        "no rung under 360p:\n{master}"
    );
    let (video, _) = media_paths(&id, &master);
    let playlist = wait_discontinuity(&server, &video).await;
    let (before, after) = playlist.split_once("#EXT-X-DISCONTINUITY\n").unwrap();
    let before_probe = probe_rendition(&server, &video, before, &tmp.0).await;
    let after_probe = probe_rendition(&server, &video, after, &tmp.0).await;
    assert_eq!(
        (&before_probe["width"], &before_probe["height"]),
        (&json!(640), &json!(360))
    );
    assert_eq!(
        (&after_probe["width"], &after_probe["height"]),
        (&json!(854), &json!(480))
    );
    assert!(
        server.log().contains("source video changed"),
        "{}",
        server.log()
    );

    let deadline = Instant::now() + START;
    while variants(&id, &server.wait_master(&id, START).await).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no 360p rung for the 480p source:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let status = server.stream(&id).await;
    assert_eq!(status["video"]["height"], 480, "{status}");
}

/// FLV `second`'s tags after `first`'s (its script tag dropped, its timestamps moved past
/// `first`'s end): one file whose video changes mid-stream, sequence header included.
fn splice_flv(first: &[u8], second: &[u8]) -> Vec<u8> {
    fn tags(file: &[u8]) -> Vec<(u8, u32, &[u8])> {
        let mut tags = Vec::new();
        let mut at = 13; // header and the first PreviousTagSize
        while at + 11 <= file.len() {
            let size = u32::from_be_bytes([0, file[at + 1], file[at + 2], file[at + 3]]) as usize;
            let ts = u32::from_be_bytes([file[at + 7], file[at + 4], file[at + 5], file[at + 6]]);
            tags.push((file[at], ts, &file[at + 11..at + 11 + size]));
            at += 11 + size + 4;
        }
        tags
    }
    let first_tags = tags(first);
    let offset = first_tags.iter().map(|t| t.1).max().unwrap_or(0) + 33;
    let mut out = first[..13].to_vec();
    let second_tags = tags(second)
        .into_iter()
        .filter(|t| t.0 != 18)
        .map(|(kind, ts, body)| (kind, ts + offset, body));
    for (kind, ts, body) in first_tags.into_iter().chain(second_tags) {
        let size = (body.len() as u32).to_be_bytes();
        let ts = ts.to_be_bytes();
        out.extend([
            kind, size[1], size[2], size[3], ts[1], ts[2], ts[3], ts[0], 0, 0, 0,
        ]);
        out.extend(body);
        out.extend((11 + body.len() as u32).to_be_bytes());
    }
    out
}

/// Wrong keys are turned away over RTMP and SRT, and so is a second publisher on a live key.
#[tokio::test]
async fn wrong_keys_and_second_publishers_are_rejected() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("keys").await;

    let mut wrong = ffmpeg_publish(&rtmp_url(&server, "not-the-key"), "flv", "320x240");
    let status = wrong
        .wait_exit(Duration::from_secs(15))
        .expect("ffmpeg kept publishing with a wrong key");
    assert!(!status.success());
    let mut wrong_srt = ffmpeg_publish(
        &srt_url(&server, "#!::r=live/not-the-key,m=publish"),
        "mpegts",
        "320x240",
    );
    let status = wrong_srt
        .wait_exit(Duration::from_secs(15))
        .expect("ffmpeg kept publishing over SRT with a wrong key");
    assert!(!status.success());
    assert_eq!(server.stream(&id).await["status"], "idle");
    assert!(
        server.log().contains("unknown stream key"),
        "{}",
        server.log()
    );

    let _first = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    server.wait_status(&id, "live", START).await;
    let mut second = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    let status = second
        .wait_exit(Duration::from_secs(15))
        .expect("a second publisher was accepted");
    assert!(!status.success());
    assert_eq!(server.stream(&id).await["status"], "live");
}

/// ffmpeg and srt-live-transmit publish over SRT, with the streamid forms OBS and others use.
#[tokio::test]
async fn srt_publishers_are_served() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("srt").await;
    let mut ffmpeg = ffmpeg_publish(
        &srt_url(&server, &format!("#!::r=live/{key},m=publish")),
        "mpegts",
        "320x240",
    );
    let master = server.wait_master(&id, START).await;
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    let (video, _) = media_paths(&id, &master);
    let playlist = server.wait_segments(&video, 2, START).await;
    let tmp = TempDir::new("srt");
    let probed = probe_rendition(&server, &video, &playlist, &tmp.0).await;
    assert_eq!(probed["codec_name"], "h264");
    ffmpeg.kill();
    server
        .wait_status(&id, "idle", Duration::from_secs(15))
        .await;

    // srt-live-transmit carrying ffmpeg's MPEG-TS from a pipe, with a bare key.
    let mut codecs = X264.to_vec();
    codecs.extend(["-c:a", "aac"]);
    let mut source = test_source("ffmpeg", "320x240", "48000", &codecs, "mpegts", "-");
    source.stdout(Stdio::piped());
    let mut source = Proc::spawn("ffmpeg", &mut source);
    let pipe = source.child.stdout.take().unwrap();
    let mut transmit = Command::new("srt-live-transmit");
    transmit
        .args(["-q", "file://con"])
        .arg(format!("srt://{}?streamid={key}", server.srt))
        .stdin(pipe)
        .stdout(Stdio::null());
    let _transmit = Proc::spawn("srt-live-transmit", &mut transmit);
    let status = server.wait_status(&id, "live", START).await;
    assert_eq!(status["publisher"]["protocol"], "srt", "{status}");
    let deadline = Instant::now() + START;
    while status_has_video(&server, &id).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "srt-live-transmit publish never got video"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status_has_video(server: &Server, id: &str) -> Option<u64> {
    server.stream(id).await["video"]["width"].as_u64()
}

/// GStreamer's rtmp2sink (the client OBS-like tools build on) publishes.
#[tokio::test]
async fn gstreamer_rtmp2sink_publish() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("gstreamer").await;
    let pipeline = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency \
         key-int-max=30 speed-preset=ultrafast ! h264parse ! flvmux name=m streamable=true ! rtmp2sink location={} \
         audiotestsrc is-live=true ! audioconvert ! audioresample ! avenc_aac ! aacparse ! m.",
        rtmp_url(&server, &key)
    );
    let mut command = Command::new("gst-launch-1.0");
    command
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let _gst = Proc::spawn("gst-launch-1.0", &mut command);
    let master = server.wait_master(&id, START).await;
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    let (video, audio) = media_paths(&id, &master);
    assert!(audio.is_some(), "{master}");
    let playlist = server.wait_segments(&video, 2, START).await;
    let tmp = TempDir::new("gst");
    let probed = probe_rendition(&server, &video, &playlist, &tmp.0).await;
    assert_eq!(probed["codec_name"], "h264");
}

/// Garbage on both listeners neither takes them down nor disturbs a publish.
#[tokio::test]
async fn garbage_on_the_listeners_then_a_good_publish() {
    use std::io::Write;
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("garbage").await;
    let mut noise = vec![0u8; 64 * 1024];
    let mut state = 0x2545_f491_u32;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *byte = state as u8;
    }
    for chunk in [&noise[..1], &noise[..1537], &noise[..]] {
        if let Ok(mut tcp) = std::net::TcpStream::connect(server.rtmp) {
            let _ = tcp.write_all(chunk);
        }
    }
    // A valid RTMP handshake (C0+C1, then C2) followed by garbage chunks.
    if let Ok(mut tcp) = std::net::TcpStream::connect(server.rtmp) {
        let mut c0c1 = vec![3u8];
        c0c1.extend_from_slice(&[0u8; 1536]);
        let _ = tcp.write_all(&c0c1);
        std::thread::sleep(Duration::from_millis(200));
        let _ = tcp.write_all(&[0u8; 1536]);
        let _ = tcp.write_all(&noise[..8192]);
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for size in [1, 16, 64, 1316, 1456, 1500] {
        for offset in (0..noise.len() - size).step_by(4099) {
            let _ = udp.send_to(&noise[offset..offset + size], server.srt);
        }
    }
    assert!(server.proc.child.id() > 0);

    let _rtmp = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    server.wait_segments(&video, 1, START).await;

    let (srt_id, srt_key) = server.create_stream("garbage-srt").await;
    let _srt = ffmpeg_publish(&srt_url(&server, &srt_key), "mpegts", "320x240");
    server.wait_master(&srt_id, START).await;
}

/// HEVC over Enhanced RTMP is recognised as HEVC (never misread as H.264),
/// refused with a clear log line, and the key still works for H.264 after.
#[tokio::test]
async fn enhanced_rtmp_hevc_is_refused_clearly() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("hevc").await;
    let hevc = [
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        "-c:a",
        "aac",
    ];
    let mut command = test_source(
        &support::ffmpeg7(),
        "320x240",
        "48000",
        &hevc,
        "flv",
        &rtmp_url(&server, &key),
    );
    command.stderr(Stdio::null());
    let mut hevc = Proc::spawn("static ffmpeg", &mut command);
    let status = hevc
        .wait_exit(Duration::from_secs(20))
        .expect("the HEVC publisher was not disconnected");
    assert!(!status.success());
    assert!(
        server
            .log()
            .contains("video codec Hevc is not supported yet; publish H.264"),
        "{}",
        server.log()
    );
    let (status, _) = server.get_text(&format!("/live/{id}/index.m3u8")).await;
    assert_eq!(status, 404, "nothing of the HEVC publish is served");

    let _h264 = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "320x240");
    server.wait_master(&id, START).await;
}

/// Random bytes sent as MPEG-TS inside an accepted SRT connection are
/// dropped without harm; a good publish on the same key follows.
#[tokio::test]
async fn garbage_mpeg_ts_over_srt_then_a_good_publish() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("garbage-ts").await;
    let garbage = TempDir::new("garbage-ts");
    let mut noise = vec![0u8; 2 * 1024 * 1024];
    let mut state = 0x9e37_79b9_u32;
    for (i, byte) in noise.iter_mut().enumerate() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Sprinkle sync bytes so the demuxer keeps trying to lock on.
        *byte = if i % 188 == 0 { 0x47 } else { state as u8 };
    }
    let file = garbage.0.join("noise.ts");
    std::fs::write(&file, &noise).unwrap();
    // srt-live-transmit polls its input, so it needs a pipe, not a file.
    let mut cat = Command::new("cat");
    cat.arg(&file).stdout(Stdio::piped());
    let mut cat = Proc::spawn("cat", &mut cat);
    let mut transmit = Command::new("srt-live-transmit");
    transmit
        .args(["-q", "-a:no", "-t:10", "file://con"])
        .arg(format!("srt://{}?streamid={key}", server.srt))
        .stdin(cat.child.stdout.take().unwrap())
        .stdout(Stdio::null());
    let mut transmit = Proc::spawn("srt-live-transmit", &mut transmit);
    transmit.wait_exit(Duration::from_secs(15));
    transmit.kill();
    server
        .wait_status(&id, "idle", Duration::from_secs(15))
        .await;
    assert_eq!(
        server.log().matches("publisher connected").count(),
        1,
        "the garbage was not sent over an accepted connection"
    );

    let _good = ffmpeg_publish(&srt_url(&server, &key), "mpegts", "320x240");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    server.wait_segments(&video, 1, START).await;
}

/// Opus (Enhanced RTMP) and MP3 (legacy FLV) audio are transcoded once to
/// AAC; the audio rendition decodes as AAC at the expected rate.
#[tokio::test]
async fn non_aac_audio_is_transcoded_to_aac() {
    let server = Server::start(&[]).await;
    for (ffmpeg, codec, rate) in [
        ("ffmpeg".to_owned(), "libmp3lame", "44100"),
        (support::ffmpeg7(), "libopus", "48000"),
    ] {
        let (id, key) = server.create_stream(codec).await;
        let mut codecs = X264.to_vec();
        codecs.extend(["-c:a", codec, "-ar", rate]);
        let mut command = test_source(
            &ffmpeg,
            "320x240",
            rate,
            &codecs,
            "flv",
            &rtmp_url(&server, &key),
        );
        command.stderr(Stdio::null());
        let _publisher = Proc::spawn(codec, &mut command);
        let master = server.wait_master(&id, START).await;
        assert!(master.contains("mp4a.40.2"), "{master}");
        let (_, audio) = media_paths(&id, &master);
        let audio = audio.expect("an audio rendition");
        let playlist = server.wait_segments(&audio, 2, START).await;
        let tmp = TempDir::new("transcoded-audio");
        let probed = probe_rendition(&server, &audio, &playlist, &tmp.0).await;
        assert_eq!(probed["codec_name"], "aac", "{codec}: {probed}");
        assert_eq!(probed["sample_rate"], rate, "{codec}: {probed}");
        let frames: u64 = probed["nb_read_frames"].as_str().unwrap().parse().unwrap();
        assert!(
            frames > 40,
            "{codec}: only {frames} AAC frames in 2 segments"
        );
    }
}
