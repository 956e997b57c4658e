//! What a process uses, from /proc: CPU time and resident memory.

use anyhow::Context;

#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// utime + stime, in seconds.
    pub cpu: f64,
    pub rss: u64,
}

impl Usage {
    pub fn of(pid: u32) -> anyhow::Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("process {pid} is gone"))?;
        // Fields after the command name, which may hold spaces: state is
        // field 3, utime 14, stime 15, rss (pages) 24.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .context("/proc/PID/stat")?
            .1
            .split_whitespace()
            .collect();
        let field = |n: usize| -> anyhow::Result<u64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("field {n} of /proc/{pid}/stat"))
        };
        // SAFETY: sysconf only reads a constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        Ok(Usage {
            cpu: (field(14)? + field(15)?) as f64 / clock_ticks(),
            rss: field(24)? * page,
        })
    }

    pub fn add(&mut self, other: &Usage) {
        self.cpu += other.cpu;
        self.rss += other.rss;
    }
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}
