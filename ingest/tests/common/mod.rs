//! Shared pieces of the ingest integration tests: a test authorizer that
//! collects media, real client processes that die with the test, ports.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingest::{
    AudioCodec, AudioConfig, Frame, MediaEvent, PublishAuthorizer, PublishRejection,
    PublishRequest, TrackKind, VideoCodec, VideoConfig,
};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Accepts the key "good", rejects every other; records requests and the
/// media of accepted publishers.
#[derive(Clone, Default)]
pub struct TestAuth {
    state: Arc<Mutex<Collected>>,
}

#[derive(Default, Clone)]
pub struct Collected {
    pub requests: Vec<PublishRequest>,
    /// The media of each accepted publisher, in order of acceptance.
    pub publishes: Vec<Vec<MediaEvent>>,
    /// Publishers whose sink has been dropped by ingest.
    pub finished: usize,
}

impl Collected {
    /// Media events of all publishers.
    pub fn event_count(&self) -> usize {
        self.publishes.iter().map(Vec::len).sum()
    }
}

impl PublishAuthorizer for TestAuth {
    async fn authorize(
        &self,
        request: PublishRequest,
    ) -> Result<ingest::MediaSink, PublishRejection> {
        let index = {
            let mut state = self.state.lock().unwrap();
            let key = request.key.clone();
            state.requests.push(request);
            if key != "good" {
                return Err(PublishRejection::UnknownKey);
            }
            state.publishes.push(Vec::new());
            state.publishes.len() - 1
        };
        let (tx, mut rx) = mpsc::channel(1024);
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                state.lock().unwrap().publishes[index].push(event);
            }
            state.lock().unwrap().finished += 1;
        });
        Ok(tx)
    }
}

impl TestAuth {
    pub fn snapshot(&self) -> Collected {
        self.state.lock().unwrap().clone()
    }

    /// Waits (up to `limit`) until `done` holds for what was collected.
    /// Waits until `finished` publishers have ended, then checks that the
    /// last one carried H.264 and AAC for about `seconds`.
    pub async fn expect_h264_aac(
        &self,
        finished: usize,
        limit: Duration,
        seconds: f64,
    ) -> Collected {
        let collected = self.wait_for(limit, |c| c.finished == finished).await;
        let last = collected
            .publishes
            .get(finished - 1)
            .expect("that many publishers");
        check_publish(last, VideoCodec::H264, AudioCodec::Aac, seconds);
        collected
    }

    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&Collected) -> bool) -> Collected {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let snapshot = self.snapshot();
            if done(&snapshot) || tokio::time::Instant::now() >= deadline {
                return snapshot;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Aborts a spawned server when the test ends.
pub struct Server(pub JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts an RTMP server on a free port; returns its port.
pub async fn rtmp_server(auth: &TestAuth) -> (Server, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let auth = Arc::new(auth.clone());
    let handle = tokio::spawn(async move {
        ingest::rtmp::serve(listener, auth)
            .await
            .expect("rtmp server failed");
    });
    (Server(handle), port)
}

/// Starts an SRT server on a free UDP port; returns its port.
pub async fn srt_server(auth: &TestAuth, passphrase: Option<&str>) -> (Server, u16) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let options = ingest::srt::SrtOptions {
        passphrase: passphrase.map(str::to_owned),
        ..Default::default()
    };
    let auth = Arc::new(auth.clone());
    let handle = tokio::spawn(async move {
        ingest::srt::serve(addr, options, auth)
            .await
            .expect("srt server failed");
    });
    // Let the listener bind before callers arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    (Server(handle), port)
}

/// A child process killed when dropped.
pub fn spawn(program: &str, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// Waits up to `limit` for the child to exit; None if it did not.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    tokio::time::timeout(limit, child.wait())
        .await
        .ok()
        .map(|status| status.unwrap())
}

/// ffmpeg arguments reading a 320x240 test pattern and a sine tone for
/// `seconds`, in real time.
pub fn test_input(seconds: &'static str) -> Vec<&'static str> {
    vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        seconds,
    ]
}

/// [`test_input`] encoded as H.264 + AAC.
pub fn test_source(seconds: &'static str) -> Vec<&'static str> {
    let mut args = test_input(seconds);
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ]);
    args
}

pub fn video_config(events: &[MediaEvent]) -> Option<&VideoConfig> {
    events.iter().find_map(|e| {
        if let MediaEvent::Video(c) = e {
            Some(c)
        } else {
            None
        }
    })
}

pub fn audio_config(events: &[MediaEvent]) -> Option<&AudioConfig> {
    events.iter().find_map(|e| {
        if let MediaEvent::Audio(c) = e {
            Some(c)
        } else {
            None
        }
    })
}

pub fn frames(events: &[MediaEvent], kind: TrackKind) -> Vec<&Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Frame(f) if f.kind == kind => Some(f),
            _ => None,
        })
        .collect()
}

/// Checks a publish of about `seconds` of 30 fps video (keyframe every 30
/// frames) and audio: configs first, sane timestamps, keyframes.
pub fn check_publish(
    events: &[MediaEvent],
    video_codec: VideoCodec,
    audio_codec: AudioCodec,
    seconds: f64,
) {
    let video = video_config(events).expect("no video config");
    assert_eq!(video.codec, video_codec, "{video:?}");
    assert_eq!((video.width, video.height), (320, 240));
    assert!(!video.record.is_empty());
    let audio = audio_config(events).expect("no audio config");
    assert_eq!(audio.codec, audio_codec, "{audio:?}");
    assert!(
        audio.sample_rate == 44100 || audio.sample_rate == 48000,
        "{audio:?}"
    );

    for kind in [TrackKind::Video, TrackKind::Audio] {
        let config_at = events
            .iter()
            .position(|e| match e {
                MediaEvent::Video(_) => kind == TrackKind::Video,
                MediaEvent::Audio(_) => kind == TrackKind::Audio,
                MediaEvent::Frame(_) => false,
            })
            .unwrap();
        let first_frame_at = events
            .iter()
            .position(|e| matches!(e, MediaEvent::Frame(f) if f.kind == kind))
            .unwrap();
        assert!(
            config_at < first_frame_at,
            "{kind:?} config after its first frame"
        );
        let frames = frames(events, kind);
        for pair in frames.windows(2) {
            assert!(
                pair[1].dts >= pair[0].dts,
                "{kind:?} dts went back: {} -> {}",
                pair[0].dts,
                pair[1].dts
            );
        }
        for f in &frames {
            assert!(
                f.pts >= f.dts,
                "{kind:?} pts {} before dts {}",
                f.pts,
                f.dts
            );
            assert!(!f.data.is_empty());
        }
        let span = (frames.last().unwrap().dts - frames[0].dts) as f64 / 90_000.0;
        assert!(
            span > seconds * 0.7 && span < seconds * 1.3,
            "{kind:?} spans {span:.2}s, expected ~{seconds}s"
        );
    }
    let video_frames = frames(events, TrackKind::Video);
    assert!(
        video_frames[0].keyframe,
        "first video frame is not a keyframe"
    );
    let keyframes = video_frames.iter().filter(|f| f.keyframe).count();
    let expected = (seconds / 1.0).floor() as usize;
    assert!(
        keyframes >= expected && keyframes <= expected + 2,
        "{keyframes} keyframes in {seconds}s"
    );
    assert!(
        video_frames.len() as f64 >= seconds * 30.0 * 0.8,
        "{} video frames",
        video_frames.len()
    );
    // MP3 frames hold 1152 samples: under 40 per second at 44.1 kHz.
    assert!(
        frames(events, TrackKind::Audio).len() as f64 >= seconds * 30.0,
        "too few audio frames"
    );
}

/// Log lines of this test binary (all tests share one global subscriber).
static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing ingest's logs (once per test binary); returns a reader.
pub fn capture_logs() -> impl Fn() -> String {
    let buffer = LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(Arc::clone(&buffer));
        let _ = tracing_subscriber::fmt()
            .with_env_filter("ingest=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
    move || String::from_utf8_lossy(&buffer.lock().unwrap()).into_owned()
}
