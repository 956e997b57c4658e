//! Running ffmpeg and ffprobe from tests.

use std::path::PathBuf;
use std::process::Command;

/// Fails the test, with how to fix it, when `name` is not installed.
pub fn require_tool(name: &str) {
    let found = Command::new(name)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not on PATH: ./dev test installs it");
}

/// An empty directory of this test process, named after `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("packager-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn run(command: &mut Command) -> String {
    let output = command.output().expect("runs");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
