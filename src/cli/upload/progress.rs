//! The upload's progress on stderr: a bar redrawn in place on a terminal,
//! else (a log, a pipe) a line at every tenth.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const REDRAW_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: u64 = 30;

/// The progress, shared with the request bodies that advance it.
#[derive(Clone)]
pub struct Shared(Arc<Mutex<Progress>>);

impl Shared {
    pub fn new(total: u64) -> Shared {
        Shared(Arc::new(Mutex::new(Progress {
            total,
            terminal: std::io::stderr().is_terminal(),
            started: None,
            drawn_at: None,
            drawn_width: 0,
            tenths: 0,
        })))
    }

    pub fn lock(&self) -> MutexGuard<'_, Progress> {
        // A panic while drawing leaves nothing half-updated that matters.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct Progress {
    total: u64,
    terminal: bool,
    /// When and at which offset this run started sending, for the rate.
    started: Option<(Instant, u64)>,
    drawn_at: Option<Instant>,
    /// Width of the bar on screen, to blank it.
    drawn_width: usize,
    /// The last tenth reported as a line.
    tenths: u64,
}

impl Progress {
    /// `done` bytes of the file are sent (it may go back after a failure).
    pub fn set(&mut self, done: u64) {
        let now = Instant::now();
        if self.started.is_none() {
            self.started = Some((now, done));
            self.tenths = self.tenth(done);
        }
        if self.terminal {
            let due = self.drawn_at.is_none_or(|at| now - at >= REDRAW_EVERY);
            if due || done == self.total {
                self.draw_bar(done, now);
            }
        } else if self.tenth(done) > self.tenths {
            self.tenths = self.tenth(done);
            eprintln!("{}", self.status(done, now));
        }
    }

    /// A message of its own line (the bar is redrawn at the next update).
    pub fn note(&mut self, message: &str) {
        self.clear_bar();
        eprintln!("{message}");
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.drawn_width > 0 {
            eprintln!();
            self.drawn_width = 0;
        }
    }

    fn tenth(&self, done: u64) -> u64 {
        done * 10 / self.total.max(1)
    }

    fn status(&self, done: u64, now: Instant) -> String {
        let percent = 100.0 * done as f64 / self.total.max(1) as f64;
        let rate = self.started.map_or(0.0, |(at, from)| {
            let seconds = (now - at).as_secs_f64().max(0.001);
            done.saturating_sub(from) as f64 / seconds
        });
        format!(
            "{percent:5.1}%  {} / {}  {}/s",
            human(done as f64),
            human(self.total as f64),
            human(rate)
        )
    }

    fn draw_bar(&mut self, done: u64, now: Instant) {
        let filled = (done * BAR_WIDTH / self.total.max(1)).min(BAR_WIDTH) as usize;
        let empty = BAR_WIDTH as usize - filled;
        let line = format!(
            "[{}{}] {}",
            "#".repeat(filled),
            " ".repeat(empty),
            self.status(done, now)
        );
        // Spaces blank what a longer line before left.
        eprint!("\r{line:<width$}", width = self.drawn_width);
        self.drawn_width = self.drawn_width.max(line.len());
        self.drawn_at = Some(now);
    }

    fn clear_bar(&mut self) {
        if self.drawn_width > 0 {
            eprint!("\r{}\r", " ".repeat(self.drawn_width));
            self.drawn_width = 0;
            self.drawn_at = None;
        }
    }
}

/// `20.0 MiB`, `512 B`.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{value:.0} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_binary_units() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(20.0 * 1024.0 * 1024.0), "20.0 MiB");
        assert_eq!(human(1536.0), "1.5 KiB");
    }
}
