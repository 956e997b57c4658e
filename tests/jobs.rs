//! VOD jobs end to end: every upload is probed by a worker (in `serve` or a
//! `tributary worker` process), which queues the jobs of its renditions;
//! bad files fail with a reason; a worker that hangs or dies loses its job
//! to another, and its late output is never published; deleting a video
//! stops its work.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use support::webhooks::{WebhookReceiver, subscribe, verify_signature};
use support::{Proc, Server, TempDir, postgres_url, process_dir, s3_flags};

/// Media files made once per run.
struct Fixtures {
    /// H.264 640x360 30 fps + AAC 48 kHz stereo, 3 s, turned 90° for display.
    phone: PathBuf,
    /// AAC only, 3 s.
    audio: PathBuf,
    /// The first half of an MP4 whose index (moov) is at its end.
    truncated: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = process_dir("job-fixtures");
        let plain = dir.join("plain.mp4");
        let phone = dir.join("phone.mp4");
        let audio = dir.join("audio.m4a");
        let truncated = dir.join("truncated.mp4");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
            "-ac",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            plain.to_str().unwrap(),
        ]);
        // Debian's ffmpeg 5 cannot write rotation; the static ffmpeg 7 `./dev` installs can.
        let ffmpeg7 = support::ffmpeg7();
        let status = Command::new(&ffmpeg7)
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
            .arg(&phone)
            .status()
            .expect("ffmpeg 7");
        assert!(status.success());
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "3",
            "-c:a",
            "aac",
            audio.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&plain).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        Fixtures {
            phone,
            audio,
            truncated,
        }
    })
}

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg {args:?}");
}

async fn upload(server: &Server, title: &str, bytes: Vec<u8>) -> String {
    let (id, creation) = server.create_video(title).await;
    server.upload(&creation, bytes).await;
    id
}

async fn jobs(server: &Server, id: &str) -> Vec<Value> {
    let (status, body) = server
        .api(Method::GET, &format!("/api/v1/videos/{id}/jobs"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["jobs"].as_array().unwrap().clone()
}

const DONE: &[&str] = &["ready", "failed"];

async fn uploads_are_probed(flags: &[&str]) {
    let fixtures = fixtures();
    let server = Server::start(flags).await;
    let receiver = WebhookReceiver::start(0);
    let (_, secret) = subscribe(&server, &receiver.url(), &["*"]).await;
    let read = |path: &PathBuf| std::fs::read(path).unwrap();
    let phone = upload(&server, "phone", read(&fixtures.phone)).await;
    let audio = upload(&server, "podcast", read(&fixtures.audio)).await;
    let junk = upload(&server, "junk", support::bytes(300_000, 7)).await;
    let truncated = upload(&server, "truncated", read(&fixtures.truncated)).await;
    let empty = upload(&server, "empty", Vec::new()).await;
    let timeout = Duration::from_secs(120);

    let video = server.wait_video(&phone, DONE, timeout).await;
    assert_eq!(video["status"], "ready", "{video}");
    let source = &video["source"];
    assert_eq!(source["container"], "mp4", "{source}");
    assert!(
        (source["duration"].as_f64().unwrap() - 3.0).abs() < 0.1,
        "{source}"
    );
    assert_eq!(
        source["size"],
        std::fs::metadata(&fixtures.phone).unwrap().len()
    );
    assert_eq!(source["sha256"].as_str().unwrap().len(), 64);
    let v = &source["video"];
    assert_eq!(
        (
            v["codec"].as_str(),
            v["width"].as_u64(),
            v["height"].as_u64()
        ),
        (Some("h264"), Some(640), Some(360)),
        "{v}"
    );
    assert_eq!(v["fps"].as_f64(), Some(30.0), "{v}");
    // ffmpeg's 90° is counter-clockwise: a player turns the picture 270° clockwise.
    assert_eq!(v["rotation"], 270, "{v}");
    assert_eq!(
        (v["bit_depth"].as_u64(), v["chroma_format"].as_str()),
        (Some(8), Some("4:2:0")),
        "{v}"
    );
    let a = &source["audio"];
    assert_eq!(
        (
            a["codec"].as_str(),
            a["sample_rate"].as_u64(),
            a["channels"].as_u64()
        ),
        (Some("aac"), Some(48000), Some(2)),
        "{a}"
    );
    // The probe queued the renditions' jobs: a phone video is turned
    // upright, so all its rungs are encoded in the first job (its lowest
    // published early), then its thumbnails are made.
    let done: Vec<_> = jobs(&server, &phone)
        .await
        .iter()
        .map(|job| {
            (
                job["kind"].as_str().unwrap().to_owned(),
                job["profile"].as_str().unwrap().to_owned(),
                job["state"].as_str().unwrap().to_owned(),
                job["attempt"].as_i64().unwrap(),
            )
        })
        .collect();
    let done_job = |kind: &str, profile: &str| (kind.into(), profile.into(), "done".into(), 1);
    assert_eq!(
        done,
        [
            done_job("probe", ""),
            done_job("transcode", "first"),
            done_job("thumbnails", ""),
        ]
    );

    let video = server.wait_video(&audio, DONE, timeout).await;
    assert_eq!(video["status"], "ready", "{video}");
    assert_eq!(video["source"]["video"], Value::Null);
    assert_eq!(video["source"]["audio"]["codec"], "aac");
    assert_eq!(video["source"]["audio"]["sample_rate"], 44100);

    // A half MP4 usually fails as not media; GStreamer's discoverer has
    // also been seen to give up on it with no stream found (on a loaded
    // machine, after its timeout).
    for (id, codes) in [
        (&junk, &["not_media"][..]),
        (&truncated, &["not_media", "no_streams"][..]),
        (&empty, &["empty_source"][..]),
    ] {
        let video = server.wait_video(id, DONE, timeout).await;
        assert_eq!(video["status"], "failed", "{video}");
        assert!(
            codes.iter().any(|code| video["error"]["code"] == *code),
            "{codes:?}: {video}"
        );
        assert!(
            video["error"]["message"].as_str().unwrap().len() > 10,
            "{video}"
        );
        // Bad input fails at once: trying again would change nothing.
        assert_eq!(jobs(&server, id).await[0]["attempt"], 1);
    }

    // A retry queues the failed work again, with more attempts.
    let (status, body) = server
        .api(Method::POST, &format!("/api/v1/videos/{junk}/retry"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        ["queued", "processing", "failed"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );
    let started = Instant::now();
    loop {
        let job = &jobs(&server, &junk).await[0];
        if job["attempt"] == 2 && job["state"] == "failed" {
            assert_eq!(job["max_attempts"], 4, "{job}");
            break;
        }
        assert!(started.elapsed() < timeout, "the retry never ran: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.video(&junk).await["status"], "failed");

    // Each transition reached the webhook receiver, signed, with the asset.
    let events = |id: &str| -> Vec<(String, Value)> {
        receiver
            .requests()
            .iter()
            .map(|request| {
                let header = request.header("tributary-signature").unwrap_or_default();
                assert!(verify_signature(header, &request.body, &secret), "{header}");
                (request.event_type().to_owned(), request.json())
            })
            .filter(|(_, body)| body["data"]["video"]["id"] == id)
            .collect()
    };
    let deadline = Instant::now() + timeout;
    while events(&junk).len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kinds = |id: &str| {
        events(id)
            .into_iter()
            .map(|(kind, _)| kind)
            .collect::<Vec<_>>()
    };
    // Playable once its first rung is published, ready with the ladder.
    assert_eq!(
        kinds(&phone),
        ["video.uploaded", "video.partially_ready", "video.ready"]
    );
    assert_eq!(
        kinds(&junk),
        ["video.uploaded", "video.failed", "video.failed"]
    );
    let (_, ready) = &events(&phone)[2];
    assert_eq!(ready["data"]["video"]["status"], "ready");
    assert_eq!(ready["data"]["video"]["source"]["video"]["codec"], "h264");
    let (_, failed) = &events(&empty)[1];
    assert_eq!(failed["data"]["video"]["error"]["code"], "empty_source");
    for (id, why) in [(&phone, "ready"), (&"nope".to_owned(), "unknown")] {
        let (status, body) = server
            .api(Method::POST, &format!("/api/v1/videos/{id}/retry"), None)
            .await;
        assert_eq!(
            status,
            if why == "ready" { 409 } else { 404 },
            "{why}: {body}"
        );
    }
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[tokio::test]
async fn uploads_are_probed_on_fs_and_sqlite() {
    uploads_are_probed(&[]).await;
}

#[tokio::test]
async fn uploads_are_probed_on_s3_and_postgres() {
    let db = postgres_url().await;
    let mut flags = s3_flags();
    flags.extend(["--database-url".into(), db]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    uploads_are_probed(&flags).await;
}

/// `tributary worker` on the server's database and storage, `s3_endpoint`
/// replacing the S3 server's address; its log in `dir`.
fn start_worker(
    dir: &TempDir,
    name: &str,
    database: &str,
    s3_endpoint: &str,
    lease_secs: u64,
) -> Proc {
    let log = std::fs::File::create(dir.0.join(format!("{name}.log"))).unwrap();
    let mut flags = s3_flags();
    let endpoint = flags.iter().position(|f| f == "--s3-endpoint").unwrap() + 1;
    flags[endpoint] = s3_endpoint.to_owned();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
    command
        .arg("worker")
        .args(&flags)
        .args([
            "--database-url",
            database,
            "--job-lease-secs",
            &lease_secs.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.0.join(name))
        .env("RUST_LOG", "info")
        .env_remove("TRIBUTARY_CONFIG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Proc::spawn(name, &mut command)
}

fn signal(proc: &Proc, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Processes whose parent is `pid` and whose command line mentions `needle`.
fn children_running(pid: u32, needle: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1));
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            parent == Some(&pid.to_string()) && String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .count()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn running_attempt(server: &Server, id: &str) -> Option<i64> {
    let jobs = jobs(server, id).await;
    (jobs.first()?["state"] == "running")
        .then(|| jobs[0]["attempt"].as_i64())
        .flatten()
}

#[tokio::test]
async fn a_hung_worker_loses_its_job_and_a_deleted_video_stops_its_work() {
    const LEASE: u64 = 3;
    let database = postgres_url().await;
    let mut flags = s3_flags();
    flags.extend([
        "--database-url".into(),
        database.clone(),
        "--workers".into(),
        "0".into(),
    ]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start(&flags).await;
    let receiver = WebhookReceiver::start(0);
    subscribe(&server, &receiver.url(), &["video.ready"]).await;
    let dir = TempDir::new("workers");
    // Worker A reaches the S3 server through a proxy that holds every byte:
    // its probe hangs mid-job, as on a stalled network.
    let s3 = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").unwrap();
    let proxy = support::stalling_proxy::StallingProxy::start(s3.trim_start_matches("http://"));
    proxy.stall(true);
    let mut a = start_worker(
        &dir,
        "a",
        &database,
        &format!("http://{}", proxy.addr()),
        LEASE,
    );
    let a_log = || std::fs::read_to_string(dir.0.join("a.log")).unwrap_or_default();
    let bytes = std::fs::read(&fixtures().phone).unwrap();

    // A deletion stops the work: the worker sees its claim gone and kills the media task.
    let doomed = upload(&server, "doomed", bytes.clone()).await;
    wait_for("worker A to claim", Duration::from_secs(20), async || {
        running_attempt(&server, &doomed).await == Some(1)
    })
    .await;
    let a_pid = a.child.id();
    wait_for("the probe task", Duration::from_secs(10), async || {
        children_running(a_pid, "probe-source") == 1
    })
    .await;
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{doomed}"), None)
        .await;
    assert_eq!(status, 204);
    wait_for("the work to stop", Duration::from_secs(10), async || {
        children_running(a_pid, "probe-source") == 0 && a_log().contains("no longer ours")
    })
    .await;

    // A hangs (SIGSTOP) holding a claim: B takes the job once the lease ends.
    let id = upload(&server, "contested", bytes).await;
    wait_for("worker A to claim", Duration::from_secs(20), async || {
        running_attempt(&server, &id).await == Some(1)
    })
    .await;
    signal(&a, "-STOP");
    let hung_at = Instant::now();
    let mut b = start_worker(&dir, "b", &database, &s3, LEASE);
    let b_log = || std::fs::read_to_string(dir.0.join("b.log")).unwrap_or_default();
    wait_for(
        "worker B to probe",
        Duration::from_secs(LEASE + 15),
        async || jobs(&server, &id).await[0]["state"] == "done",
    )
    .await;
    let taken_over = hung_at.elapsed();
    let job = jobs(&server, &id).await[0].clone();
    assert_eq!(
        (job["attempt"].as_i64(), job["state"].as_str()),
        (Some(2), Some("done")),
        "{job}\n{}",
        b_log()
    );
    // B goes on with the renditions.
    let video = server.wait_video(&id, DONE, Duration::from_secs(120)).await;
    assert_eq!(video["status"], "ready", "{video}\n{}", b_log());

    // A wakes up and its probe completes: nothing of it is published.
    proxy.stall(false);
    signal(&a, "-CONT");
    wait_for("worker A to notice", Duration::from_secs(15), async || {
        a_log().matches("no longer ours").count() == 2
    })
    .await;
    assert_eq!(
        server.video(&id).await,
        video,
        "the late worker changed the video"
    );
    assert_eq!(
        jobs(&server, &id).await[0],
        job,
        "the late worker changed the job"
    );
    receiver
        .wait_for_event("video.ready", Duration::from_secs(10))
        .await;
    let ready = receiver
        .requests()
        .iter()
        .filter(|request| request.json()["data"]["video"]["id"] == id)
        .count();
    assert_eq!(ready, 1, "video.ready sent once");
    println!("job taken over {taken_over:?} after its worker hung (lease {LEASE} s)");
    a.kill();
    b.kill();
}
