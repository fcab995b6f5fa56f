//! How busy the machine was with work other than the benchmark's own, from /proc: on a
//! shared machine a latency tail may come from a neighbour, not from the code measured.
//!
//! "Ours" is the bench itself, the dbx-server under test, and the backends it talks to:
//! the Garage whose pid scripts/bench.sh passes, and the Postgres backends connected to the
//! bench's database.

/// CPU time, in clock ticks, at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Every CPU's ticks, busy or not.
    total: u64,
    /// Every CPU's busy ticks.
    busy: u64,
    /// Busy ticks of our processes.
    ours: u64,
}

/// Knows which processes are ours.
#[derive(Debug, Clone, Default)]
pub struct CpuProbe {
    /// Fixed pids counted as ours besides the bench and the server (Garage).
    pub extra_pids: Vec<u32>,
    /// The Postgres database whose backends count as ours.
    pub pg_database: Option<String>,
}

impl CpuProbe {
    pub fn snapshot(&self, server_pid: Option<u32>) -> Option<Snapshot> {
        let MachineTicks { total, busy, .. } = machine_now()?;
        let mut pids = vec![std::process::id()];
        pids.extend(server_pid);
        pids.extend(self.extra_pids.iter().copied());
        if let Some(db) = &self.pg_database {
            pids.extend(postgres_backends(db));
        }
        let ours = pids.into_iter().filter_map(process_ticks).sum();
        Some(Snapshot { total, busy, ours })
    }
}

/// Share of the whole machine (all cores) that other processes used between two
/// snapshots, 0 to 1.
pub fn other_share(a: &Snapshot, b: &Snapshot) -> Option<f64> {
    let total = b.total.checked_sub(a.total)?;
    if total == 0 {
        return None;
    }
    let busy = b.busy.saturating_sub(a.busy);
    let ours = b.ours.saturating_sub(a.ours);
    Some(busy.saturating_sub(ours) as f64 / total as f64)
}

/// The `cpu` line of /proc/stat, summed over the machine's cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MachineTicks {
    /// Every tick, busy, idle or stolen.
    total: u64,
    /// Ticks this machine's processes and kernel ran.
    busy: u64,
    /// Ticks the hypervisor gave to other machines while this one had work to run.
    steal: u64,
}

fn machine_now() -> Option<MachineTicks> {
    machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    let steal = get(7);
    Some(MachineTicks {
        total: busy + idle + steal,
        busy,
        steal,
    })
}

/// Samples the host's steal while a measurement runs: a latency tail can come from the
/// hypervisor running other machines on this one's cores, in bursts that an average over
/// the whole measurement hides.
pub struct StealWatch {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<f64>>,
}

/// How long each steal sample spans.
const STEAL_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

impl StealWatch {
    pub fn start() -> StealWatch {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut last = machine_now()?;
            let mut peak = 0.0f64;
            let mut tick = tokio::time::interval(STEAL_WINDOW);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return Some(peak),
                }
                let now = machine_now()?;
                peak = peak.max(steal_share(&last, &now).unwrap_or(0.0));
                last = now;
            }
        });
        StealWatch { stop, task }
    }

    /// The largest share of the machine's CPU time the host took in one
    /// [`STEAL_WINDOW`], 0 to 1; None where /proc/stat cannot be read.
    pub async fn peak(self) -> Option<f64> {
        let _ = self.stop.send(());
        self.task.await.ok().flatten()
    }
}

fn steal_share(a: &MachineTicks, b: &MachineTicks) -> Option<f64> {
    let total = b.total.checked_sub(a.total).filter(|t| *t > 0)?;
    Some(b.steal.saturating_sub(a.steal) as f64 / total as f64)
}

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_ticks(&stat)
}

fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Pids of Postgres backends connected to `db` ("postgres: 15/main: user db host ...").
fn postgres_backends(db: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.starts_with("postgres:") && c.split_whitespace().any(|w| w == db)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\n";
        assert_eq!(
            machine_ticks(stat),
            Some(MachineTicks {
                total: 1181,
                busy: 158,
                steal: 3
            })
        );
    }

    #[test]
    fn parses_process_stat_with_odd_names() {
        let stat = "42 (dbx server) S 1 42 42 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0";
        assert_eq!(stat_ticks(stat), Some(10));
    }

    #[test]
    fn steal_share_is_of_all_ticks() {
        let stat = |steal: u64, idle: u64| {
            machine_ticks(&format!("cpu  10 0 10 {idle} 0 0 0 {steal} 0 0\n"))
        };
        let (a, b) = (stat(5, 100).expect("a"), stat(14, 111).expect("b"));
        assert_eq!(steal_share(&a, &b), Some(0.45));
        assert_eq!(steal_share(&a, &a), None);
    }

    #[test]
    fn other_share_is_the_rest() {
        let a = Snapshot {
            total: 1000,
            busy: 100,
            ours: 50,
        };
        let b = Snapshot {
            total: 2000,
            busy: 700,
            ours: 350,
        };
        assert_eq!(other_share(&a, &b), Some(0.3));
    }
}
