//! SRT ingest against real callers: ffmpeg (libsrt) and srt-live-transmit,
//! wrong keys, UDP garbage, and the handshakes that used to panic
//! srt-tokio's listener.

mod common;

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{TestAuth, check_publish, spawn, srt_server, test_source, wait_exit};
use ingest::{AudioCodec, VideoCodec};
use tokio::process::Command;

const LIMIT: Duration = Duration::from_secs(30);
/// Logged by `ingest::srt::serve` when srt-tokio's listener task died.
const RESTARTED: &str = "listener stopped unexpectedly";

fn assert_listener_survived(logs: &str) {
    assert!(
        !logs.contains(RESTARTED),
        "the listener had to be restarted"
    );
}

async fn ffmpeg_srt(port: u16, query: &str, seconds: &'static str) -> ExitStatus {
    let url = format!("srt://127.0.0.1:{port}?{query}");
    let mut args = test_source(seconds);
    args.extend(["-f", "mpegts", &url]);
    let mut child = spawn("ffmpeg", &args);
    wait_exit(&mut child, LIMIT)
        .await
        .expect("ffmpeg did not finish")
}

/// `ffmpeg ... -f mpegts - | srt-live-transmit file://con srt://...`;
/// returns whether srt-live-transmit reported success.
async fn srt_live_transmit(port: u16, query: &str, seconds: &'static str) -> bool {
    let mut args = test_source(seconds);
    args.extend(["-f", "mpegts", "-"]);
    let mut ffmpeg = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run ffmpeg");
    let pipe: Stdio = ffmpeg.stdout.take().unwrap().try_into().unwrap();
    let url = format!("srt://127.0.0.1:{port}?{query}");
    let mut transmit = Command::new("srt-live-transmit")
        .args(["-q", "-a:no", "-t:20", "file://con", &url])
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot run srt-live-transmit");
    wait_exit(&mut ffmpeg, LIMIT)
        .await
        .expect("ffmpeg did not finish");
    match wait_exit(&mut transmit, Duration::from_secs(10)).await {
        Some(status) => status.success(),
        None => true, // Still connected and sending at the end of its input.
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish() {
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    let status = ffmpeg_srt(port, "streamid=#!::r=live/good,m=publish", "3").await;
    assert!(status.success(), "ffmpeg failed: {status}");
    let collected = auth.expect_h264_aac(1, Duration::from_secs(10), 3.0).await;
    assert_eq!(collected.finished, 1, "publisher not finished");
    let request = &collected.requests[0];
    assert_eq!(
        (request.app.as_str(), request.key.as_str()),
        ("live", "good")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_live_transmit_publish() {
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    srt_live_transmit(port, "streamid=good", "3").await;
    let collected = auth.expect_h264_aac(1, Duration::from_secs(10), 3.0).await;
    let request = &collected.requests[0];
    assert_eq!((request.app.as_str(), request.key.as_str()), ("", "good"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_and_request_mode_are_rejected_at_the_handshake() {
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    let status = ffmpeg_srt(port, "streamid=#!::r=live/bad,m=publish", "2").await;
    assert!(!status.success(), "ffmpeg published with a wrong key");
    let status = ffmpeg_srt(port, "streamid=#!::r=live/good,m=request", "2").await;
    assert!(!status.success(), "ffmpeg published in request mode");
    let collected = auth.snapshot();
    let keys: Vec<&str> = collected.requests.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        ["bad"],
        "m=request must be refused before authorization"
    );
    assert_eq!(collected.event_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_garbage_then_a_good_publish() {
    let logs = common::capture_logs();
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    let mut seed = 0xdead_beef_cafe_f00du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..5 {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..200 {
            let len = (next() % 1500) as usize;
            let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && len > 20 {
                // Control packets (handshake, keepalive, ...) with random bodies.
                datagram[0] = 0x80;
                datagram[1] = (next() % 8) as u8;
            }
            socket
                .send_to(&datagram, ("127.0.0.1", port))
                .await
                .unwrap();
        }
    }
    let status = ffmpeg_srt(port, "streamid=live/good", "2").await;
    assert!(
        status.success(),
        "ffmpeg failed after the garbage: {status}"
    );
    auth.expect_h264_aac(1, Duration::from_secs(10), 2.0).await;
    assert_listener_survived(&logs());
}

/// srt-tokio 0.4.4 panicked (and lost its listener) when an encrypted caller
/// reached a listener without a passphrase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_caller_on_plain_listener_then_a_good_publish() {
    let logs = common::capture_logs();
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    let status = ffmpeg_srt(port, "streamid=good&passphrase=0123456789", "2").await;
    assert!(
        !status.success(),
        "an encrypted caller got through a plain listener"
    );
    let status = ffmpeg_srt(port, "streamid=good", "2").await;
    assert!(status.success(), "the listener died: {status}");
    // The key is authorized before the key exchange fails, so the refused
    // caller shows up as a publisher that ended without media.
    let collected = auth.expect_h264_aac(2, Duration::from_secs(10), 2.0).await;
    assert_eq!(collected.publishes.len(), 2);
    assert!(collected.publishes[0].is_empty());
    assert_listener_survived(&logs());
}

/// srt-tokio 0.4.4 panicked when the caller's key length (pbkeylen) differed
/// from the listener's. Now the caller's key length is used, as libsrt does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_key_lengths_and_wrong_passphrases_then_a_good_publish() {
    let logs = common::capture_logs();
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, Some("0123456789")).await;
    assert!(srt_live_transmit(port, "streamid=good&passphrase=0123456789&pbkeylen=32", "2").await);
    auth.expect_h264_aac(1, Duration::from_secs(10), 2.0).await;

    let status = ffmpeg_srt(port, "streamid=good&passphrase=0123456789&pbkeylen=24", "2").await;
    assert!(status.success(), "AES-192 caller failed: {status}");
    let status = ffmpeg_srt(port, "streamid=good&passphrase=wrongpassword", "2").await;
    assert!(!status.success(), "wrong passphrase accepted");
    let status = ffmpeg_srt(port, "streamid=good", "2").await;
    assert!(!status.success(), "unencrypted caller accepted");

    let status = ffmpeg_srt(port, "streamid=good&passphrase=0123456789", "2").await;
    assert!(status.success(), "the listener died: {status}");
    // The refused callers were authorized before their key exchange failed.
    let collected = auth
        .wait_for(Duration::from_secs(10), |c| c.finished == 5)
        .await;
    let with_media: Vec<_> = collected
        .publishes
        .iter()
        .filter(|p| !p.is_empty())
        .collect();
    assert_eq!((collected.publishes.len(), with_media.len()), (5, 3));
    check_publish(with_media[1], VideoCodec::H264, AudioCodec::Aac, 2.0);
    check_publish(with_media[2], VideoCodec::H264, AudioCodec::Aac, 2.0);
    assert_listener_survived(&logs());
}

/// A handshake control packet: the 16-byte header and the 48-byte body,
/// followed by `extensions` (already encoded).
fn handshake(version: u32, ext_flags: u16, kind: i32, cookie: i32, extensions: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(0x8000_0000u32.to_be_bytes()); // control packet, type handshake
    p.extend([0; 12]); // type-specific info, timestamp, destination socket id
    p.extend(version.to_be_bytes());
    p.extend(0u16.to_be_bytes()); // encryption field
    p.extend(ext_flags.to_be_bytes());
    p.extend(0x1234u32.to_be_bytes()); // initial sequence number
    p.extend(1500u32.to_be_bytes());
    p.extend(8192u32.to_be_bytes());
    p.extend(kind.to_be_bytes());
    p.extend(0x4242u32.to_be_bytes()); // socket id
    p.extend(cookie.to_be_bytes());
    p.extend([127, 0, 0, 1]);
    p.extend([0; 12]);
    p.extend_from_slice(extensions);
    p
}

/// A handshake extension block: type, length in 32-bit words, content.
fn extension(kind: u16, content: &[u8]) -> Vec<u8> {
    let mut e = kind.to_be_bytes().to_vec();
    e.extend(((content.len() / 4) as u16).to_be_bytes());
    e.extend_from_slice(content);
    e
}

/// A string as SRT stores it in extensions: 32-bit little-endian words.
fn le_words(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(bytes.len().div_ceil(4) * 4, 0);
    bytes
        .chunks(4)
        .flat_map(|w| [w[3], w[2], w[1], w[0]])
        .collect()
}

/// Runs the induction from a fresh socket, then sends a conclusion with
/// `extensions`; returns whether the listener answered the conclusion.
async fn conclusion(port: u16, ext_flags: u16, extensions: &[u8]) -> bool {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(("127.0.0.1", port)).await.unwrap();
    socket.send(&handshake(4, 2, 1, 0, &[])).await.unwrap();
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
        .await
        .expect("no induction reply")
        .unwrap();
    assert!(n >= 64, "short induction reply");
    let cookie = i32::from_be_bytes([buf[44], buf[45], buf[46], buf[47]]);
    socket
        .send(&handshake(5, ext_flags, -1, cookie, extensions))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf))
        .await
        .is_ok()
}

/// srt-protocol 0.4.4 panicked in the listener task on handshake extensions
/// it does not implement (packet filter, group, congestion) and on empty
/// string extensions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_handshake_extensions_then_a_good_publish() {
    let logs = common::capture_logs();
    let auth = TestAuth::default();
    let (_server, port) = srt_server(&auth, None).await;
    let hsreq = extension(1, &[0, 1, 5, 1, 0, 0, 0, 0xbf, 0, 0x78, 0, 0x78]);
    let sid = extension(5, &le_words("good"));
    const HS: u16 = 1;
    const CONFIG: u16 = 4;
    let cases: [Vec<u8>; 4] = [
        [
            hsreq.clone(),
            sid.clone(),
            extension(7, &le_words("fec,cols:4,rows:2")),
        ]
        .concat(),
        [hsreq.clone(), sid.clone(), extension(6, &le_words("file"))].concat(),
        [hsreq.clone(), sid.clone(), extension(8, &[])].concat(),
        [hsreq.clone(), extension(5, &[])].concat(),
    ];
    for extensions in &cases {
        conclusion(port, HS | CONFIG, extensions).await;
    }
    // A well-formed one is answered: the listener is alive.
    assert!(
        conclusion(port, HS | CONFIG, &[hsreq, sid].concat()).await,
        "listener did not answer"
    );

    let status = ffmpeg_srt(port, "streamid=good", "2").await;
    assert!(status.success(), "the listener died: {status}");
    let collected = auth
        .wait_for(Duration::from_secs(10), |c| {
            c.publishes.last().is_some_and(|p| !p.is_empty()) && c.finished == c.publishes.len()
        })
        .await;
    check_publish(
        collected.publishes.last().unwrap(),
        VideoCodec::H264,
        AudioCodec::Aac,
        2.0,
    );
    assert_listener_survived(&logs());
}
