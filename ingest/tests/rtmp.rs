//! RTMP ingest against real publishers: ffmpeg, GStreamer's rtmp2sink, and
//! hostile raw TCP clients.

mod common;

use std::time::Duration;

use common::{TestAuth, rtmp_server, spawn, test_source, wait_exit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PUBLISH_LIMIT: Duration = Duration::from_secs(30);

async fn ffmpeg_publish(port: u16, path: &str, seconds: &'static str) -> std::process::ExitStatus {
    let url = format!("rtmp://127.0.0.1:{port}/{path}");
    let mut args = test_source(seconds);
    args.extend(["-f", "flv", &url]);
    let mut child = spawn("ffmpeg", &args);
    wait_exit(&mut child, PUBLISH_LIMIT)
        .await
        .expect("ffmpeg did not finish")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_yields_configs_and_frames() {
    let auth = TestAuth::default();
    let (_server, port) = rtmp_server(&auth).await;
    let status = ffmpeg_publish(port, "live/good", "3").await;
    assert!(status.success(), "ffmpeg failed: {status}");
    let collected = auth.expect_h264_aac(1, Duration::from_secs(5), 3.0).await;
    assert_eq!(collected.finished, 1, "publisher not finished");
    let request = &collected.requests[0];
    assert_eq!(
        (request.app.as_str(), request.key.as_str()),
        ("live", "good")
    );
    let video = common::video_config(&collected.publishes[0]).unwrap();
    let expected = format!(
        "avc1.{:02x}{:02x}{:02x}",
        video.record[1], video.record[2], video.record[3]
    );
    assert_eq!(video.codec_string, expected);
    let audio = common::audio_config(&collected.publishes[0]).unwrap();
    assert_eq!(
        (
            audio.sample_rate,
            audio.channels,
            audio.codec_string.as_str()
        ),
        (44100, 1, "mp4a.40.2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_rtmp2sink_publish() {
    let auth = TestAuth::default();
    let (_server, port) = rtmp_server(&auth).await;
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 ! h264parse ! flvmux name=m streamable=true \
         ! rtmp2sink location=rtmp://127.0.0.1:{port}/live/good \
         audiotestsrc is-live=true num-buffers=130 ! voaacenc ! aacparse ! m."
    );
    let mut args = vec!["-q", "-e"];
    args.extend(pipeline.split_whitespace());
    let mut child = spawn("gst-launch-1.0", &args);
    let status = wait_exit(&mut child, PUBLISH_LIMIT)
        .await
        .expect("gst-launch did not finish");
    assert!(status.success(), "gst-launch failed: {status}");
    auth.expect_h264_aac(1, Duration::from_secs(5), 3.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_wrong_app_are_rejected() {
    let auth = TestAuth::default();
    let (_server, port) = rtmp_server(&auth).await;

    let status = ffmpeg_publish(port, "live/bad", "3").await;
    assert!(!status.success(), "ffmpeg published with a wrong key");
    let collected = auth.snapshot();
    assert_eq!(collected.requests.len(), 1);
    assert_eq!(collected.requests[0].key, "bad");

    let status = ffmpeg_publish(port, "vod/good", "3").await;
    assert!(!status.success(), "ffmpeg published to a wrong app");
    let collected = auth.snapshot();
    assert_eq!(
        collected.requests.len(),
        1,
        "the wrong app reached the authorizer"
    );
    assert_eq!(
        collected.event_count(),
        0,
        "media arrived from rejected publishers"
    );
}

/// Reads until the server closes the connection; panics if it stays open.
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "server kept a hostile connection open");
}

/// Runs the client side of the RTMP handshake over `stream`.
async fn handshake(stream: &mut TcpStream) {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    let mut hs = Handshake::new(PeerType::Client);
    stream
        .write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed during the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).await.unwrap()
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                stream.write_all(&response_bytes).await.unwrap();
                return;
            }
        }
    }
}

/// One AMF0 message with a full chunk header on chunk stream 3 (chunk size 128).
fn amf_message(type_id: u8, stream_id: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut bytes = vec![
        0x03,
        0,
        0,
        0,
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        type_id,
        stream_id,
        0,
        0,
        0,
    ];
    for (i, chunk) in payload.chunks(128).enumerate() {
        if i > 0 {
            bytes.push(0xc3);
        }
        bytes.extend_from_slice(chunk);
    }
    bytes
}

fn random_bytes(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_malformed_amf_then_a_good_publish() {
    use rml_rtmp::rml_amf0::{Amf0Value, serialize};
    let auth = TestAuth::default();
    let (_server, port) = rtmp_server(&auth).await;
    let addr = format!("127.0.0.1:{port}");
    let mut seed = 0x1234_5678_9abc_def1u64;

    // Garbage instead of a handshake.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let _ = stream.write_all(&random_bytes(&mut seed, 10_000)).await;
    expect_closed(&mut stream).await;

    // Garbage after a valid handshake.
    for _ in 0..3 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        handshake(&mut stream).await;
        let _ = stream.write_all(&random_bytes(&mut seed, 20_000)).await;
        expect_closed(&mut stream).await;
    }

    // A connect whose command object is not an object.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut stream).await;
    let connect = serialize(&vec![
        Amf0Value::Utf8String("connect".into()),
        Amf0Value::Number(1.0),
        Amf0Value::Utf8String("not an object".into()),
    ])
    .unwrap();
    stream
        .write_all(&amf_message(20, 0, &connect))
        .await
        .unwrap();
    expect_closed(&mut stream).await;

    // A truncated AMF string inside connect (length runs past the message).
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut stream).await;
    stream
        .write_all(&amf_message(
            20,
            0,
            &[0x02, 0, 7, b'c', b'o', b'n', 0x03, 0, 3, b'a', 0x02, 0xff],
        ))
        .await
        .unwrap();
    expect_closed(&mut stream).await;

    // "@setDataFrame" with nothing after it makes rml_rtmp 0.8 index past the end.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut stream).await;
    let data = serialize(&vec![Amf0Value::Utf8String("@setDataFrame".into())]).unwrap();
    stream.write_all(&amf_message(18, 1, &data)).await.unwrap();
    expect_closed(&mut stream).await;

    // AMF nested deep enough to overflow a recursive parser's stack.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut stream).await;
    let mut deep = serialize(&vec![
        Amf0Value::Utf8String("connect".into()),
        Amf0Value::Number(1.0),
    ])
    .unwrap();
    for _ in 0..100_000 {
        deep.extend([0x0a, 0, 0, 0, 1]);
    }
    let _ = stream.write_all(&amf_message(20, 0, &deep)).await;
    expect_closed(&mut stream).await;

    // Half a handshake, then silence: the server does not wait forever (checked
    // by expect_closed's limit against the setup timeout).
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(&[3; 100]).await.unwrap();
    expect_closed(&mut stream).await;

    assert!(auth.snapshot().requests.is_empty());
    let status = ffmpeg_publish(port, "live/good", "2").await;
    assert!(
        status.success(),
        "ffmpeg failed after the garbage: {status}"
    );
    auth.expect_h264_aac(1, Duration::from_secs(5), 2.0).await;
}
