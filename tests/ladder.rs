//! End to end: the transcoded ladder of a live stream.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::*;

const START: Duration = Duration::from_secs(30);

/// A 720p publish gets 480p and 360p rungs: listed in the master playlist,
/// decoding at the advertised resolution, with segment N starting at the
/// same media time in every rendition (keyframes forced at the source's).
#[tokio::test]
async fn rungs_appear_decode_and_align() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("ladder").await;
    let _ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "1280x720");

    let deadline = Instant::now() + START;
    let master = loop {
        let master = server.wait_master(&id, START).await;
        if variants(&id, &master).len() == 3 {
            break master;
        }
        assert!(
            Instant::now() < deadline,
            "the rungs never appeared:\n{master}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let variants = variants(&id, &master);
    let resolutions: Vec<&str> = variants.iter().map(|(r, _)| r.as_str()).collect();
    assert!(
        resolutions.contains(&"1280x720")
            && resolutions.contains(&"854x480")
            && resolutions.contains(&"640x360"),
        "{master}"
    );
    for line in master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
    {
        assert!(
            line.contains("CODECS=\"avc1.")
                && line.contains("AVERAGE-BANDWIDTH=")
                && line.contains("AUDIO=\"audio\""),
            "{line}"
        );
    }

    let tmp = TempDir::new("ladder");
    let mut starts: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (resolution, path) in &variants {
        let playlist = server.wait_segments(path, 3, START).await;
        assert!(
            playlist.matches("#EXT-X-RENDITION-REPORT").count() >= 3,
            "reports for the other renditions:\n{playlist}"
        );
        let probed = probe_rendition(&server, path, &playlist, &tmp.0).await;
        assert_eq!(
            format!("{}x{}", probed["width"], probed["height"]),
            *resolution,
            "{probed}"
        );
        for uri in segment_uris(&playlist) {
            let msn: u64 = uri.trim_end_matches(".m4s").parse().unwrap();
            let bytes = server.get_bytes(&format!("{}{uri}", folder(path))).await;
            starts
                .entry(msn)
                .or_default()
                .push(first_tfdt(&bytes).expect("tfdt"));
        }
    }
    let aligned: Vec<_> = starts.iter().filter(|(_, s)| s.len() == 3).collect();
    assert!(
        aligned.len() >= 2,
        "too few segments in every rendition: {starts:?}"
    );
    for (msn, times) in aligned {
        let spread = times.iter().max().unwrap() - times.iter().min().unwrap();
        assert!(
            spread <= 3000,
            "segment {msn} starts {times:?} (90 kHz) apart by more than a frame"
        );
    }

    let status = server.stream(&id).await;
    let rungs = status["transcoding"]["rungs"]
        .as_array()
        .unwrap_or_else(|| panic!("{status}"));
    assert_eq!(rungs.len(), 2, "{status}");
    assert!(
        rungs.iter().all(|r| r["state"]["state"] == "encoding"),
        "{status}"
    );
}

/// With transcoding off for the stream, only the source is served.
#[tokio::test]
async fn transcoding_can_be_turned_off_per_stream() {
    let server = Server::start(&[]).await;
    let (id, key) = server.create_stream("no-ladder").await;
    let (status, _) = server
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/streams/{id}"),
            Some(serde_json::json!({ "ladder": { "transcode": false, "rungs": [] } })),
        )
        .await;
    assert_eq!(status, 200);
    let _ffmpeg = ffmpeg_publish(&rtmp_url(&server, &key), "flv", "1280x720");
    let master = server.wait_master(&id, START).await;
    let (video, _) = media_paths(&id, &master);
    server.wait_segments(&video, 3, START).await;
    let master = server.wait_master(&id, START).await;
    assert_eq!(variants(&id, &master).len(), 1, "{master}");
    let status = server.stream(&id).await;
    assert!(status["transcoding"].is_null(), "{status}");
    assert_eq!(status["ladder"]["transcode"], false);
}
