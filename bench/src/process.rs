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
        let stat = Stat::of(pid)?;
        // SAFETY: sysconf only reads a constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        Ok(Usage {
            cpu: stat.seconds(14)? + stat.seconds(15)?,
            rss: stat.field(24)? * page,
        })
    }

    pub fn add(&mut self, other: &Usage) {
        self.cpu += other.cpu;
        self.rss += other.rss;
    }
}

/// CPU seconds (user + system) of a process, and of the children it has
/// waited for.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub own: f64,
    pub children: f64,
}

impl Cpu {
    pub fn of(pid: u32) -> anyhow::Result<Cpu> {
        let stat = Stat::of(pid)?;
        Ok(Cpu {
            own: stat.seconds(14)? + stat.seconds(15)?,
            children: stat.seconds(16)? + stat.seconds(17)?,
        })
    }

    pub fn of_self() -> anyhow::Result<Cpu> {
        Cpu::of(std::process::id())
    }

    pub fn total(&self) -> f64 {
        self.own + self.children
    }
}

/// The fields of /proc/PID/stat after the command name, which may hold
/// spaces: state is field 3, utime 14, stime 15, cutime 16, cstime 17, rss
/// (pages) 24.
struct Stat {
    pid: u32,
    fields: Vec<String>,
}

impl Stat {
    fn of(pid: u32) -> anyhow::Result<Stat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("process {pid} is gone"))?;
        let fields = stat
            .rsplit_once(')')
            .context("/proc/PID/stat")?
            .1
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Ok(Stat { pid, fields })
    }

    fn field(&self, n: usize) -> anyhow::Result<u64> {
        self.fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("field {n} of /proc/{}/stat", self.pid))
    }

    /// A field counted in clock ticks, in seconds.
    fn seconds(&self, n: usize) -> anyhow::Result<f64> {
        Ok(self.field(n)? as f64 / clock_ticks())
    }
}

pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}
