//! `tributary video upload` end to end: the real binary against a real
//! server, interrupted by Ctrl-C (the next run resumes from the server's
//! offset) and by a kill -9 of the server (the running CLI retries by itself).

mod support;

// No workers: the probe stays queued, the status is what the upload made it.
const NO_WORKERS: &[&str] = &["--workers", "0"];

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

use support::{Proc, Server, TOKEN, TempDir, bytes, hex};

const SIZE: usize = 20_000_000;
/// Slow enough to interrupt mid-way, fast enough for a short test.
const RATE_KIB: &str = "6144";
/// Interrupt once the CLI has sent this much: with 1 MiB chunks sent one
/// after the other, the server then holds at least 5 MiB.
const INTERRUPT_AT_PERCENT: f64 = 30.0;
const HELD_AT_INTERRUPT: u64 = 5 << 20;

/// A file to upload and the cache directory the CLI keeps its state in.
struct Setup {
    dir: TempDir,
    file: PathBuf,
    sha256: String,
}

impl Setup {
    fn new(seed: u8) -> Setup {
        let dir = TempDir::new("cli-upload");
        let file = dir.0.join("movie.mp4");
        let data = bytes(SIZE, seed);
        std::fs::write(&file, &data).unwrap();
        Setup {
            sha256: hex(&Sha256::digest(&data)),
            file,
            dir,
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.0.join("cache")
    }

    fn state_files(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.cache().join("tributary/uploads")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `tributary video …` against `server`, with this setup's cache.
    fn cli(&self, server: &Server, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tributary"));
        command
            .arg("video")
            .args(args)
            .args(["--server", &server.url(""), "--token", TOKEN])
            .env("XDG_CACHE_HOME", self.cache())
            .env_remove("TRIBUTARY_SERVER")
            .env_remove("TRIBUTARY_ADMIN_TOKEN")
            .stdin(Stdio::null());
        command
    }

    fn upload(&self, server: &Server) -> Cli {
        let file = self.file.to_str().unwrap();
        let args = [
            "upload",
            file,
            "--title",
            "My movie",
            "--chunk-size-mib",
            "1",
            "--limit-rate",
            RATE_KIB,
        ];
        Cli::spawn(self.cli(server, &args))
    }
}

/// A running CLI whose output is collected as it comes.
struct Cli {
    proc: Proc,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: [std::thread::JoinHandle<()>; 2],
    stdout: Arc<Mutex<String>>,
}

impl Cli {
    fn spawn(mut command: Command) -> Cli {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut proc = Proc::spawn("tributary video upload", &mut command);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(proc.child.stderr.take().unwrap()).lines();
        let collected = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let mut out = proc.child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let text = stdout.clone();
        let stdout_reader = std::thread::spawn(move || {
            let _ = out.read_to_string(&mut text.lock().unwrap());
        });
        Cli {
            proc,
            stderr,
            readers: [stderr_reader, stdout_reader],
            stdout,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits for the CLI to exit; returns (success, stdout, stderr).
    fn finish(mut self, timeout: Duration) -> (bool, String, String) {
        let status = self.proc.wait_exit(timeout);
        assert!(
            status.is_some(),
            "the CLI did not finish:\n{}",
            self.stderr()
        );
        for reader in self.readers {
            reader.join().unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        (
            status.unwrap().success(),
            stdout,
            self.stderr.lock().unwrap().join("\n"),
        )
    }
}

/// Waits until the CLI reports `percent` of the file sent. (Polling the
/// server's HEAD instead would cut the CLI's PATCH short: HEAD is how a tus
/// client that reconnects releases its hung request.)
async fn wait_for_progress(cli: &Cli, percent: f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let reached = |line: &String| {
        line.trim_start()
            .split_once('%')
            .and_then(|(number, _)| number.parse::<f64>().ok())
            .is_some_and(|sent| sent >= percent)
    };
    while !cli.stderr.lock().unwrap().iter().any(reached) {
        assert!(
            Instant::now() < deadline,
            "the upload never reached {percent}%:\n{}",
            cli.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn only_video(server: &Server) -> Value {
    let (status, list) = server.api(Method::GET, "/api/v1/videos", None).await;
    assert_eq!(status, 200, "{list}");
    let videos = list["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "one upload, one video: {list}");
    videos[0].clone()
}

/// Runs an upload and stops it with Ctrl-C once it is under way.
async fn interrupted_upload(server: &Server, setup: &Setup) -> String {
    let cli = setup.upload(server);
    wait_for_progress(&cli, INTERRUPT_AT_PERCENT).await;
    let interrupted = Command::new("kill")
        .args(["-INT", &cli.proc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let (ok, _, stderr) = cli.finish(Duration::from_secs(10));
    assert!(!ok, "an interrupted upload fails:\n{stderr}");
    assert!(
        stderr.contains("interrupted: run the same command again to resume"),
        "{stderr}"
    );
    assert_eq!(
        setup.state_files().len(),
        1,
        "the state stays for the next run"
    );
    stderr
}

/// The upload URL the CLI saved.
fn saved_upload_url(setup: &Setup) -> String {
    let state = std::fs::read_to_string(&setup.state_files()[0]).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    state["upload_url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_interrupted_upload_resumes_from_the_server_offset() {
    let server = Server::start(NO_WORKERS).await;
    let setup = Setup::new(7);

    interrupted_upload(&server, &setup).await;
    let video = only_video(&server).await;
    assert_eq!(video["status"], "awaiting_upload");
    let id = video["id"].as_str().unwrap().to_owned();

    let (ok, stdout, stderr) = setup.upload(&server).finish(Duration::from_secs(30));
    assert!(ok, "{stderr}\n{}", server.log());
    let resumed_at: u64 = stderr
        .split(&format!("resuming video {id} at "))
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the second run did not resume:\n{stderr}"));
    assert!(
        (HELD_AT_INTERRUPT..SIZE as u64).contains(&resumed_at),
        "resumed at {resumed_at}, the server had at least {HELD_AT_INTERRUPT} when interrupted"
    );
    assert!(!stderr.contains("uploading "), "no new upload:\n{stderr}");
    assert!(
        stdout.contains(&format!("Video {id} \"My movie\" (queued)")),
        "{stdout}"
    );
    assert!(stdout.contains(&setup.sha256), "{stdout}");
    assert!(
        setup.state_files().is_empty(),
        "the state goes once the upload completes"
    );

    let video = only_video(&server).await;
    assert_eq!(video["status"], "queued");
    assert_eq!(video["source"]["size"], SIZE);
    assert_eq!(video["source"]["sha256"], setup.sha256.as_str());

    let list = setup.cli(&server, &["list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let line = list
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("queued") && line.contains("My movie"),
        "{line}"
    );
    let shown = setup
        .cli(&server, &["show", &id, "--json"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["source"]["sha256"], setup.sha256.as_str());
}

#[tokio::test]
async fn the_cli_retries_through_a_server_kill_9() {
    let mut server = Server::start(NO_WORKERS).await;
    let setup = Setup::new(8);

    let cli = setup.upload(&server);
    wait_for_progress(&cli, INTERRUPT_AT_PERCENT).await;
    server.restart().await;
    let (ok, stdout, stderr) = cli.finish(Duration::from_secs(40));
    assert!(ok, "{stderr}\n{}", server.log());
    assert!(
        stderr.contains("retrying in"),
        "the CLI saw the server go:\n{stderr}"
    );
    assert!(stdout.contains("(queued)"), "{stdout}");
    assert!(setup.state_files().is_empty());

    let video = only_video(&server).await;
    assert_eq!(video["status"], "queued");
    assert_eq!(video["source"]["sha256"], setup.sha256.as_str());
}

#[tokio::test]
async fn a_gone_upload_starts_again_for_its_video_else_for_a_new_one() {
    let server = Server::start(NO_WORKERS).await;
    let setup = Setup::new(10);

    // The upload is terminated: the video still awaits one, so it gets a new one.
    interrupted_upload(&server, &setup).await;
    let first = only_video(&server).await["id"].as_str().unwrap().to_owned();
    let url = saved_upload_url(&setup);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let terminated = server
            .client
            .delete(&url)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        // 423 while the server still winds up the interrupted PATCH.
        if terminated.status() == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "DELETE: {}", terminated.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stderr = interrupted_upload(&server, &setup).await;
    assert!(
        stderr.contains(&format!(
            "the saved upload of video {first} is gone: starting it again"
        )),
        "{stderr}"
    );
    assert_eq!(only_video(&server).await["id"], first.as_str());

    // The video is deleted: the upload goes to a new one.
    let (status, _) = server
        .api(Method::DELETE, &format!("/api/v1/videos/{first}"), None)
        .await;
    assert_eq!(status, 204);
    let (ok, stdout, stderr) = setup.upload(&server).finish(Duration::from_secs(30));
    assert!(ok, "{stderr}\n{}", server.log());
    let video = only_video(&server).await;
    assert_ne!(video["id"], first.as_str());
    assert!(
        stderr.contains(&format!("as video {}", video["id"].as_str().unwrap())),
        "{stderr}"
    );
    assert!(stdout.contains("(queued)"), "{stdout}");
    assert_eq!(video["source"]["sha256"], setup.sha256.as_str());
    assert!(setup.state_files().is_empty());
}

#[tokio::test]
async fn a_missing_file_and_a_missing_token_are_clear_errors() {
    let server = Server::start(NO_WORKERS).await;
    let setup = Setup::new(9);
    let missing = setup.dir.0.join("nope.mp4");
    let output = setup
        .cli(
            &server,
            &["upload", missing.to_str().unwrap(), "--title", "x"],
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nope.mp4") && stderr.contains("No such file"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["video", "list", "--server", &server.url(""), "--data-dir"])
        .arg(setup.dir.0.join("no-data"))
        .env_remove("TRIBUTARY_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no admin token"));
}
