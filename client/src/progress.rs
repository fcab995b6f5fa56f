//! What the user sees while files move: an indicatif `MultiProgress` on stderr with one
//! bar per running transfer and an overall bar (bytes, rate, ETA), shown only on a
//! terminal and never with `-q`; and the summary line at the end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::transfer::Meter;

/// How chatty to be: from `-q` and `-v`.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
}

impl Ui {
    /// Progress bars: on a terminal, unless `-q`.
    pub fn bars(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// The bars of one batch of transfers, and its counts.
pub struct Progress {
    ui: Ui,
    multi: MultiProgress,
    overall: ProgressBar,
    files_total: u64,
    files_seen: AtomicU64,
    started: Instant,
}

impl Progress {
    /// Bars for `files` files of `bytes` bytes in all; `started` is when the command
    /// started, for the summary's time.
    pub fn new(ui: Ui, files: u64, bytes: u64, started: Instant) -> Arc<Self> {
        let target = if ui.bars() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(bytes));
        overall.set_style(style(
            "{prefix:>9} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        ));
        overall.set_prefix(format!("0/{files}"));
        if !multi.is_hidden() {
            // Redraws rate and ETA while a slow transfer reports nothing new.
            overall.enable_steady_tick(Duration::from_millis(200));
        }
        Arc::new(Progress {
            ui,
            multi,
            overall,
            files_total: files,
            files_seen: AtomicU64::new(0),
            started,
        })
    }

    /// A bar for one file while it moves; it goes away when dropped.
    pub fn file(&self, label: &str, size: u64) -> Arc<FileMeter> {
        let bar = self
            .multi
            .insert_before(&self.overall, ProgressBar::new(size));
        bar.set_style(style(
            "  {wide_msg} {binary_bytes:>10}/{binary_total_bytes:<10} {bar:20}",
        ));
        bar.set_message(label.to_string());
        Arc::new(FileMeter {
            bar,
            overall: self.overall.clone(),
            multi: self.multi.clone(),
        })
    }

    /// A file that needed no transfer: its bytes leave the total, so rate and ETA are
    /// about real transfers.
    pub fn skip(&self, size: u64) {
        self.overall.dec_length(size);
    }

    /// A file is done, one way or another.
    pub fn file_done(&self) {
        let n = self.files_seen.fetch_add(1, Ordering::Relaxed) + 1;
        self.overall.set_prefix(format!("{n}/{}", self.files_total));
    }

    /// A line above the bars (or plainly on stderr when there are none), unless `-q`.
    pub fn note(&self, line: &str) {
        if self.ui.quiet {
            return;
        }
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// A line shown only with `-v`.
    pub fn detail(&self, line: &str) {
        if self.ui.verbose > 0 {
            self.note(line);
        }
    }

    /// A line shown even with `-q`: failures.
    pub fn warn(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Takes the bars off the screen.
    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The bar of one running transfer; moves the overall bar too.
pub struct FileMeter {
    bar: ProgressBar,
    overall: ProgressBar,
    multi: MultiProgress,
}

impl Meter for FileMeter {
    fn add(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.overall.inc(bytes);
    }

    fn restart(&self) {
        self.overall.dec(self.bar.position());
        self.bar.set_position(0);
    }
}

impl Drop for FileMeter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
    }
}

/// `1,204`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    // The first group holds 1 to 3 digits, every later one exactly 3.
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        r => r,
    };
    let (first, rest) = digits.split_at(head);
    let mut out = first.to_string();
    for group in rest.as_bytes().chunks(3) {
        out.push(',');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

/// `12 B`, `3.1 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `0.4 s`, `41 s`, `2 min 5 s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{} s", s.round() as u64)
    } else {
        let s = s.round() as u64;
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// `file` or `files`.
pub fn files(n: u64) -> &'static str {
    if n == 1 {
        "file"
    } else {
        "files"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1204), "1,204");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3_328_599_654), "3.1 GiB");
        assert_eq!(duration(Duration::from_millis(420)), "0.4 s");
        assert_eq!(duration(Duration::from_secs(41)), "41 s");
        assert_eq!(duration(Duration::from_secs(125)), "2 min 5 s");
    }
}
