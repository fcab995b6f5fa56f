//! Running many transfers at once (`--transfers N`) with progress, counting what was
//! sent, skipped and failed. One failed file does not stop the others; Ctrl-C stops all
//! of them and lets their temporary files be removed.

use std::future::Future;
use std::sync::Arc;

use anyhow::bail;
use tokio::task::JoinSet;

use crate::progress::{self, Progress};

/// How one file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sent this many bytes.
    Sent(u64),
    /// Already the same on the other side.
    Skipped,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub sent: u64,
    pub bytes: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Stats {
    /// `pushed 1,204 files (3.1 GiB) in 41 s, 12 skipped`.
    pub fn summary(&self, verb: &str, elapsed: std::time::Duration) -> String {
        let mut line = format!(
            "{verb} {} {} ({}) in {}, {} skipped",
            progress::count(self.sent),
            progress::files(self.sent),
            progress::bytes(self.bytes),
            progress::duration(elapsed),
            progress::count(self.skipped),
        );
        if self.failed > 0 {
            line.push_str(&format!(", {} failed", progress::count(self.failed)));
        }
        line
    }
}

/// Runs `work` on every item, at most `transfers` at a time. Failures are reported as
/// they happen (one line each) and counted; the caller decides what they mean.
pub async fn run_all<T, F, Fut>(
    items: Vec<T>,
    transfers: usize,
    progress: Arc<Progress>,
    work: F,
) -> anyhow::Result<Stats>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome>> + Send + 'static,
{
    let mut stats = Stats::default();
    let mut items = items.into_iter();
    let mut running = JoinSet::new();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        while running.len() < transfers.max(1) {
            match items.next() {
                Some(item) => {
                    running.spawn(work(item));
                }
                None => break,
            }
        }
        tokio::select! {
            done = running.join_next() => match done {
                None => break,
                Some(Ok(Ok(Outcome::Sent(n)))) => {
                    stats.sent += 1;
                    stats.bytes += n;
                }
                Some(Ok(Ok(Outcome::Skipped))) => stats.skipped += 1,
                Some(Ok(Err(e))) => {
                    stats.failed += 1;
                    progress.warn(&format!("failed: {e:#}"));
                }
                Some(Err(e)) => {
                    stats.failed += 1;
                    progress.warn(&format!("failed: a transfer task died: {e}"));
                }
            },
            _ = &mut interrupted => {
                // Aborting drops each transfer, and with it its temporary file.
                running.shutdown().await;
                progress.finish();
                bail!("interrupted");
            }
        }
        progress.file_done();
    }
    Ok(stats)
}

/// Prints the summary line (unless `-q`) and fails if anything did; `verb` is "pushed"
/// or "pulled".
pub fn conclude(progress: &Progress, quiet: bool, verb: &str, stats: Stats) -> anyhow::Result<()> {
    progress.finish();
    if !quiet {
        eprintln!("{}", stats.summary(verb, progress.elapsed()));
    }
    if stats.failed > 0 {
        bail!(
            "{} {} could not be {verb} (see above)",
            progress::count(stats.failed),
            if stats.failed == 1 { "item" } else { "items" },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn summary_reads_well() {
        let s = Stats {
            sent: 1204,
            bytes: 3_328_599_654,
            skipped: 12,
            failed: 0,
        };
        assert_eq!(
            s.summary("pushed", Duration::from_secs(41)),
            "pushed 1,204 files (3.1 GiB) in 41 s, 12 skipped"
        );
        let one = Stats {
            sent: 1,
            bytes: 5,
            skipped: 0,
            failed: 2,
        };
        assert_eq!(
            one.summary("pulled", Duration::from_millis(300)),
            "pulled 1 file (5 B) in 0.3 s, 0 skipped, 2 failed"
        );
    }
}
