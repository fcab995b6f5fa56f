//! Small helpers: generated content, percentiles, /proc readings, number formatting.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;

pub const MIB: u64 = 1024 * 1024;

/// Size of each piece of a generated body.
const CHUNK: u64 = MIB;

/// xorshift64*: fast, deterministic filler. Every block differs, so that a store which
/// deduplicates blocks (Garage does) cannot skip writing any of them.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let v = self.next_u64().to_le_bytes();
            let n = rest.len();
            rest.copy_from_slice(&v[..n]);
        }
    }

    pub fn bytes(&mut self, len: usize) -> Bytes {
        let mut buf = vec![0u8; len];
        self.fill(&mut buf);
        Bytes::from(buf)
    }
}

/// A seed that differs from run to run.
pub fn fresh_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// `size` bytes of generated content as a stream of 1 MiB pieces: never held whole.
pub fn generated_body(size: u64, seed: u64) -> impl Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold((size, Prng::new(seed)), |(left, mut rng)| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK);
        // n <= CHUNK, so it fits a usize.
        let piece = rng.bytes(n as usize);
        Some((Ok(piece), (left - n, rng)))
    })
}

/// Nearest-rank percentile (`q` in 0..=1) of unsorted values; `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted.get(idx).copied()
}

pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

pub fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    let secs = took.as_secs_f64().max(1e-9);
    bytes as f64 / MIB as f64 / secs
}

/// A `kB` field (`VmHWM`, `VmRSS`, ...) of /proc/<pid>/status, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field_kib(&text, field)
}

pub fn status_field_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resets the peak RSS (VmHWM) of a process to its current RSS (Linux 4.0+,
/// `clear_refs` value 5). False when the kernel or permissions refuse.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

pub fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Milliseconds with a sensible number of digits.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn fmt_s(s: f64) -> String {
    if s < 1.0 {
        fmt_ms(s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

pub fn fmt_rate(per_s: f64) -> String {
    if per_s >= 100.0 {
        format!("{per_s:.0}")
    } else if per_s >= 10.0 {
        format!("{per_s:.1}")
    } else {
        format!("{per_s:.2}")
    }
}

/// A readable thousands separator: 10000 -> "10,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 GiB", "100 MiB", "10 MB", "4 KiB" for sizes used here.
pub fn fmt_size(bytes: u64) -> String {
    if bytes >= 1024 * MIB && bytes % (1024 * MIB) == 0 {
        format!("{} GiB", bytes / (1024 * MIB))
    } else if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1_000_000 && bytes % 1_000_000 == 0 {
        format!("{} MB", bytes / 1_000_000)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// The last `n` lines of a text file, joined with " | ", for one-line error reasons.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join(" | ")
}

/// The lines of a log that say what failed ("error", "failed"), else its last lines; at
/// most `n`, joined with " | ".
pub fn failure_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let telling: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("failed")
        })
        .collect();
    if telling.is_empty() {
        return tail(path, n);
    }
    telling[..telling.len().min(n)].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(10.0));
        assert_eq!(percentile(&v, 0.95), Some(19.0));
        assert_eq!(percentile(&v, 1.0), Some(20.0));
        assert_eq!(percentile(&[3.0], 0.5), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn reads_status_fields() {
        let text = "Name:\tdbx-server\nVmHWM:\t   12345 kB\nVmRSS:\t    999 kB\n";
        assert_eq!(status_field_kib(text, "VmHWM"), Some(12345));
        assert_eq!(status_field_kib(text, "VmRSS"), Some(999));
        assert_eq!(status_field_kib(text, "VmPeak"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(thousands(10000), "10,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(fmt_size(1024 * MIB), "1 GiB");
        assert_eq!(fmt_size(100 * MIB), "100 MiB");
        assert_eq!(fmt_size(10_000_000), "10 MB");
        assert_eq!(fmt_size(4096), "4 KiB");
    }

    #[tokio::test]
    async fn generated_body_has_the_size_and_distinct_blocks() {
        let pieces: Vec<Bytes> = generated_body(3 * MIB + 5, 7)
            .map(|p| p.unwrap())
            .collect()
            .await;
        let total: usize = pieces.iter().map(Bytes::len).sum();
        assert_eq!(total as u64, 3 * MIB + 5);
        assert_ne!(pieces[0], pieces[1]);
        assert_eq!(pieces[3].len(), 5);
    }
}
