//! Media work runs in a child process of this binary (a hidden subcommand):
//! a decoder that crashes on a hostile file takes down the child, not the
//! server; the child runs at a lower CPU priority than live ingest and the
//! live ladder; and dropping the task kills it (a deleted asset, a lost lease).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use super::lifecycle::Failure;

/// The nice value of media work: below everything the live path runs.
const NICENESS: libc::c_int = 10;
/// The longest line a child may print: its answer is one JSON document on
/// one line (a long video's list of segments makes it large).
const MAX_LINE: u64 = 64 << 20;

/// Runs `exe args…`, hands each line it prints on stdout to `on_line` as it
/// comes, and returns the last line once it exits with success; a timeout,
/// a crash or a failed start is a transient failure, a non-zero exit the
/// failure the child printed last (`{"code", "message"}`).
pub async fn run(
    exe: &Path,
    args: &[&str],
    timeout: Duration,
    mut on_line: impl FnMut(&[u8]),
) -> Result<Vec<u8>, Failure> {
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // SAFETY: only async-signal-safe calls (setpriority, prctl) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS);
            // The child dies with the server rather than run on unsupervised.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::transient("worker_error", format!("starting media task: {e}")))?;
    let mut stdout = Vec::new();
    let run = async {
        if let Some(out) = child.stdout.take() {
            let mut out = BufReader::new(out);
            let mut line = Vec::new();
            loop {
                line.clear();
                if (&mut out)
                    .take(MAX_LINE)
                    .read_until(b'\n', &mut line)
                    .await?
                    == 0
                {
                    break;
                }
                let text = line.trim_ascii();
                if !text.is_empty() {
                    on_line(text);
                    stdout.clear();
                    stdout.extend_from_slice(text);
                }
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(Failure::transient(
                "worker_error",
                format!("running media task: {e}"),
            ));
        }
        Err(_) => {
            return Err(Failure::transient(
                "timeout",
                format!("media task still running after {} s", timeout.as_secs()),
            ));
        }
    };
    if status.success() {
        return Ok(stdout);
    }
    if status.code().is_none() {
        return Err(Failure::transient(
            "worker_crashed",
            format!("media task ended by {status}"),
        ));
    }
    match serde_json::from_slice::<super::queue::JobError>(&stdout) {
        Ok(error) => Err(Failure {
            error,
            retryable: false,
        }),
        Err(_) => Err(Failure::transient(
            "worker_error",
            format!("media task failed ({status}) without saying why"),
        )),
    }
}
