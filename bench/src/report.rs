//! What one run measured, as JSON and as markdown tables.

use std::fmt::Write as _;

use serde::Serialize;

use crate::client::{BigReport, FilesReport, RenameReport, SyncReport};
use crate::latency::{LatencyPlan, LatencyRow};
use crate::transfer::{MediumReport, Rates};
use crate::tus::TusReport;
use crate::util::{fmt_ms, fmt_rate, fmt_s, fmt_size, thousands};
use crate::webdav::WebdavReport;

/// A measurement, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Measured(T),
    /// The part it needs does not exist here (yet): not a failure of what is measured.
    NotAvailable(String),
    /// It ran and failed.
    Failed(String),
    /// Left out of this run by `--phases`: no row is printed.
    Skipped,
}

impl<T> Outcome<T> {
    pub fn measured(&self) -> Option<&T> {
        match self {
            Outcome::Measured(t) => Some(t),
            _ => None,
        }
    }

    fn reason(&self) -> String {
        match self {
            Outcome::Measured(_) => String::new(),
            Outcome::NotAvailable(r) => format!("not available: {r}"),
            Outcome::Failed(r) => format!("failed: {r}"),
            Outcome::Skipped => String::new(),
        }
    }
}

impl<T> From<anyhow::Result<T>> for Outcome<T> {
    fn from(r: anyhow::Result<T>) -> Self {
        match r {
            Ok(t) => Outcome::Measured(t),
            Err(e) => Outcome::Failed(one_line(&format!("{e:#}"))),
        }
    }
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_total_mib: u64,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
    pub load_average_at_start: Option<String>,
    pub load_average_at_end: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub latency: LatencyPlan,
    pub clients: Vec<usize>,
    pub medium_size: u64,
    pub medium_runs: usize,
    pub big_size: u64,
    pub big_runs: usize,
    pub part_size: u64,
    pub files: usize,
    pub file_size: usize,
    pub sync_changes: usize,
    /// Small files of the WebDAV phase.
    pub webdav_files: usize,
    /// Files in the folder that the rename phase renames.
    pub rename_files: usize,
    pub server_log_level: String,
}

/// The 1 GiB phase through the API, with the direct S3 baseline and the server's memory.
#[derive(Debug, Clone, Serialize)]
pub struct BigApiReport {
    pub size_bytes: u64,
    pub runs: usize,
    /// Every run's rate.
    pub upload: Rates,
    pub download: Rates,
    /// Medians over the runs, and through-dbx-server over direct.
    pub upload_via_server_mib_s: Option<f64>,
    pub upload_direct_s3_mib_s: Option<f64>,
    pub upload_ratio: Option<f64>,
    pub download_via_server_mib_s: Option<f64>,
    pub download_direct_s3_mib_s: Option<f64>,
    pub download_ratio: Option<f64>,
    /// RSS of the fresh server after start-up and a login, before any transfer.
    pub server_rss_before_mib: Option<f64>,
    /// VmHWM after the uploads (the largest over the runs).
    pub server_peak_upload_mib: Option<f64>,
    pub server_peak_download_mib: Option<f64>,
    /// Whether VmHWM could be reset between steps (clear_refs); if not, each peak also
    /// covers everything before it.
    pub peak_reset: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigReport {
    pub name: String,
    pub label: String,
    pub not_available: Option<String>,
    pub latency: Outcome<Vec<LatencyRow>>,
    pub medium: Outcome<MediumReport>,
    /// Peak RSS of the server that served the latency and 10 MB phases.
    pub server_peak_metadata_phase_mib: Option<f64>,
    pub big: Outcome<BigApiReport>,
    pub dbx_big: Outcome<BigReport>,
    pub dbx_files: Outcome<FilesReport>,
    pub sync: Outcome<SyncReport>,
    pub webdav: Outcome<WebdavReport>,
    pub rename: Outcome<RenameReport>,
    pub tus: Outcome<TusReport>,
    pub elapsed_s: f64,
}

impl ConfigReport {
    pub fn unavailable(name: &str, label: &str, reason: &str) -> ConfigReport {
        let na = || reason.to_string();
        ConfigReport {
            name: name.to_string(),
            label: label.to_string(),
            not_available: Some(na()),
            latency: Outcome::NotAvailable(na()),
            medium: Outcome::NotAvailable(na()),
            server_peak_metadata_phase_mib: None,
            big: Outcome::NotAvailable(na()),
            dbx_big: Outcome::NotAvailable(na()),
            dbx_files: Outcome::NotAvailable(na()),
            sync: Outcome::NotAvailable(na()),
            webdav: Outcome::NotAvailable(na()),
            rename: Outcome::NotAvailable(na()),
            tus: Outcome::NotAvailable(na()),
            elapsed_s: 0.0,
        }
    }

    fn is_sqlite(&self) -> bool {
        self.name.starts_with("sqlite")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub started_at: String,
    pub finished_at: String,
    pub elapsed_s: f64,
    pub machine: Machine,
    pub commit: Option<String>,
    pub plan: Plan,
    pub latency_method: &'static str,
    pub configs: Vec<ConfigReport>,
}

pub const LATENCY_METHOD: &str = "open loop (wrk2-style): for each call and client count, the \
    clients first send back to back for a few seconds, twice, and the slower run is the \
    capacity; then each client sends on a fixed schedule so that together they offer a fixed \
    share of that capacity, and every latency is measured from the intended send time, so a \
    stall counts against every request it delayed (coordinated omission accounted for)";

/// A 100 ms window in which the hypervisor took at least this share of the CPUs is noted
/// beside the row: enough to hold every request of that window back.
const STEAL_NOTED: f64 = 0.2;

const DASH: &str = "–";

struct Table {
    out: String,
}

impl Table {
    fn new() -> Table {
        let mut out = String::new();
        out.push_str("| measurement | load | p50 | p95 | p99 | max | notes |\n");
        out.push_str("| --- | --- | --: | --: | --: | --: | --- |\n");
        Table { out }
    }

    fn row(&mut self, cells: [&str; 7]) {
        let _ = writeln!(self.out, "| {} |", cells.join(" | "));
    }

    /// A row for a measurement that did not happen; none when `--phases` left it out.
    fn missing(&mut self, what: &str, reason: &str) {
        if reason.is_empty() {
            return;
        }
        self.row([what, DASH, DASH, DASH, DASH, DASH, reason]);
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn mib(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_string(), |m| format!("{m:.1} MiB"))
}

fn opt_s(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_string(), fmt_s)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_string(), |r| format!("{:.0} %", r * 100.0))
}

fn mibs(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_string(), |r| format!("{r:.0} MiB/s"))
}

/// The table of one configuration.
pub fn config_table(c: &ConfigReport, plan: &Plan) -> String {
    let mut t = Table::new();
    if let Some(reason) = &c.not_available {
        t.missing("every measurement", &format!("not available: {reason}"));
        return t.out;
    }
    match &c.latency {
        Outcome::Measured(rows) => {
            for r in rows {
                let clients = if r.clients == 1 {
                    "1 client".to_string()
                } else {
                    format!("{} clients", r.clients)
                };
                let load = format!("{clients}, {}/s", fmt_rate(r.target_rps));
                let mut notes = format!(
                    "capacity {}/s; {} samples",
                    fmt_rate(r.capacity_rps),
                    thousands(r.samples)
                );
                if let Some(ms) = r.server_p99_ms {
                    let _ = write!(notes, "; in dbx-server p99 < {} ms", ms + 1);
                }
                if let Some(other) = r.other_cpu.filter(|o| *o >= 0.05) {
                    let _ = write!(notes, "; other processes {:.0} % CPU", other * 100.0);
                }
                if let Some(steal) = r.steal_peak.filter(|s| *s >= STEAL_NOTED) {
                    let _ = write!(
                        notes,
                        "; the host took {:.0} % of the CPUs for 100 ms",
                        steal * 100.0
                    );
                }
                if r.achieved_rps < 0.9 * r.target_rps {
                    let _ = write!(notes, "; fell behind: {}/s done", fmt_rate(r.achieved_rps));
                }
                if r.errors > 0 {
                    let _ = write!(notes, "; {} errors", r.errors);
                }
                t.row([
                    r.label,
                    &load,
                    &fmt_ms(r.p50_ms),
                    &fmt_ms(r.p95_ms),
                    &fmt_ms(r.p99_ms),
                    &fmt_ms(r.max_ms),
                    &notes,
                ]);
            }
        }
        other => t.missing("metadata calls and 4 KiB upload", &other.reason()),
    }
    let medium_label = |dir: &str| format!("{dir} {}", fmt_size(plan.medium_size));
    match &c.medium {
        Outcome::Measured(m) => {
            let runs = format!("1 client, {}", plural(m.runs, "run"));
            t.row([
                &medium_label("upload"),
                &runs,
                &fmt_s(m.upload_p50_s),
                &fmt_s(m.upload_p95_s),
                DASH,
                DASH,
                &format!("{:.0} MiB/s at p50", m.upload_p50_mib_s),
            ]);
            t.row([
                &medium_label("download"),
                &runs,
                &fmt_s(m.download_p50_s),
                &fmt_s(m.download_p95_s),
                DASH,
                DASH,
                &format!("{:.0} MiB/s at p50", m.download_p50_mib_s),
            ]);
        }
        other => t.missing(&medium_label("upload/download"), &other.reason()),
    }
    let big = fmt_size(plan.big_size);
    match &c.big {
        Outcome::Measured(b) => {
            let runs = format!("1 stream, {}", plural(b.runs, "run"));
            for (dir, rates, peak) in [
                ("upload", &b.upload, b.server_peak_upload_mib),
                ("download", &b.download, b.server_peak_download_mib),
            ] {
                let direct = match (rates.direct(), rates.ratio()) {
                    (Some(d), Some(r)) => format!(
                        "direct S3 {d:.0} MiB/s: dbx-server at {:.0} % of it",
                        r * 100.0
                    ),
                    _ => "no S3 baseline (filesystem store)".to_string(),
                };
                t.row([
                    &format!("{dir} {big} via dbx-server (median)"),
                    &runs,
                    &mibs(rates.via_server()),
                    DASH,
                    DASH,
                    DASH,
                    &direct,
                ]);
                t.row([
                    &format!("dbx-server peak RSS, {big} {dir}"),
                    "fresh server",
                    DASH,
                    DASH,
                    DASH,
                    &mib(peak),
                    &format!(
                        "RSS {} before any transfer{}",
                        mib(b.server_rss_before_mib),
                        if b.peak_reset {
                            ""
                        } else {
                            "; peak not resettable: cumulative"
                        }
                    ),
                ]);
            }
        }
        other => t.missing(&format!("{big} via dbx-server"), &other.reason()),
    }
    match &c.dbx_big {
        Outcome::Measured(d) => {
            for (cmd, rate, client, server) in [
                (
                    "push",
                    d.push_mib_s,
                    d.push_client_peak_mib,
                    d.push_server_peak_mib,
                ),
                (
                    "pull",
                    d.pull_mib_s,
                    d.pull_client_peak_mib,
                    d.pull_server_peak_mib,
                ),
            ] {
                t.row([
                    &format!("`dbx {cmd}` {big}: client peak RSS"),
                    "1 file",
                    DASH,
                    DASH,
                    DASH,
                    &mib(client),
                    &format!("{rate:.0} MiB/s; dbx-server peak {}", mib(server)),
                ]);
            }
        }
        other => t.missing(&format!("`dbx push`/`pull` {big}"), &other.reason()),
    }
    let files_label = |cmd: &str| {
        format!(
            "`dbx {cmd}` {} × {}",
            thousands(plan.files as u64),
            fmt_size(plan.file_size as u64)
        )
    };
    match &c.dbx_files {
        Outcome::Measured(f) => {
            for (cmd, rate, secs) in [
                ("push", f.push_files_per_s, f.push_s),
                ("pull", f.pull_files_per_s, f.pull_s),
            ] {
                t.row([
                    &files_label(cmd),
                    "1 tree",
                    &format!("{} files/s", fmt_rate(rate)),
                    DASH,
                    DASH,
                    DASH,
                    &format!("{} in all", fmt_s(secs)),
                ]);
            }
            for (cmd, secs) in [("push", f.repush_s), ("pull", f.repull_s)] {
                t.row([
                    &format!("{}, again: nothing to send", files_label(cmd)),
                    "1 tree",
                    &fmt_s(secs),
                    DASH,
                    DASH,
                    DASH,
                    "goal < 1 s",
                ]);
            }
        }
        other => t.missing(&files_label("push/pull"), &other.reason()),
    }
    match &c.sync {
        Outcome::Measured(s) => {
            let mut notes = format!("{} of {} arrived", s.propagated, s.changes);
            if let Some(g) = &s.gave_up {
                let _ = write!(notes, "; {g}");
            }
            t.row([
                "sync propagation (`dbx sync --watch` → other folder)",
                &format!("{} changes", s.changes),
                &opt_s(s.median_s),
                &opt_s(s.p95_s),
                DASH,
                &opt_s(s.max_s),
                &notes,
            ]);
        }
        other => t.missing("sync propagation", &other.reason()),
    }
    match &c.rename {
        Outcome::Measured(r) => {
            let mut notes = if r.same_files {
                "renamed in place: every file kept its inode".to_string()
            } else {
                "files did not keep their inodes (downloaded again?)".to_string()
            };
            if let Some(g) = &r.gave_up {
                let _ = write!(notes, "; {g}");
            }
            t.row([
                &format!(
                    "sync of a folder rename, {} files (`dbx sync --watch` → other folder)",
                    thousands(r.files as u64)
                ),
                "1 rename",
                &opt_s(r.took_s),
                DASH,
                DASH,
                DASH,
                &notes,
            ]);
        }
        other => t.missing("sync of a folder rename", &other.reason()),
    }
    match &c.tus {
        Outcome::Measured(r) => tus_rows(&mut t, r),
        other => t.missing("tus upload", &other.reason()),
    }
    match &c.webdav {
        Outcome::Measured(w) => webdav_rows(&mut t, w),
        other => t.missing("WebDAV against the API", &other.reason()),
    }
    if let Some(p) = c.server_peak_metadata_phase_mib {
        t.row([
            "dbx-server peak RSS, latency and 10 MB phases",
            DASH,
            DASH,
            DASH,
            DASH,
            &mib(Some(p)),
            DASH,
        ]);
    }
    t.out
}

fn tus_rows(t: &mut Table, r: &TusReport) {
    let big = fmt_size(r.size_bytes);
    let direct = r.upload.direct().map_or_else(String::new, |d| {
        format!("direct S3 multipart {d:.0} MiB/s, ")
    });
    t.row([
        &format!("tus upload {big} (median)"),
        &format!("{} PATCHes, {} runs", fmt_size(r.chunk_bytes), r.runs),
        &r.upload
            .via_server()
            .map_or(DASH.to_string(), |v| format!("{v:.0} MiB/s")),
        DASH,
        DASH,
        &mib(r.server_peak_mib),
        &format!("{direct}ratio {}", pct(r.ratio)),
    ]);
    t.row([
        &format!("tus upload {big} cut at half, server restarted, resumed"),
        "1 upload",
        &format!(
            "sent {:.0} % after the restart",
            r.sent_after_resume * 100.0
        ),
        DASH,
        DASH,
        DASH,
        &format!(
            "resumed at {:.0} %; the rest took {} of a whole upload's time",
            r.resumed_at * 100.0,
            pct(r.resume_time_ratio)
        ),
    ]);
}

fn webdav_rows(t: &mut Table, w: &WebdavReport) {
    let big = fmt_size(w.big_size_bytes);
    let small = format!(
        "{} × {}",
        thousands(w.small_files as u64),
        fmt_size(w.small_size_bytes)
    );
    let [big_up, big_down, small_up, small_down] = w.ratios().map(|(_, r)| r);
    for (what, load, dav, api, ratio) in [
        (
            format!("WebDAV PUT {big} (median)"),
            format!("1 stream, {} runs", w.big_runs),
            format!("{:.0} MiB/s", w.big_up_dav_mib_s),
            format!("API upload {:.0} MiB/s", w.big_up_api_mib_s),
            big_up,
        ),
        (
            format!("WebDAV GET {big} (median)"),
            format!("1 stream, {} runs", w.big_runs),
            format!("{:.0} MiB/s", w.big_down_dav_mib_s),
            format!("API download {:.0} MiB/s", w.big_down_api_mib_s),
            big_down,
        ),
        (
            format!("WebDAV PUT {small}"),
            format!("{} in flight, 2 rounds", w.in_flight),
            format!("{} files/s", fmt_rate(w.small_up_dav_files_s)),
            format!("API upload {} files/s", fmt_rate(w.small_up_api_files_s)),
            small_up,
        ),
        (
            format!("WebDAV GET {small}"),
            format!("{} in flight, 2 rounds", w.in_flight),
            format!("{} files/s", fmt_rate(w.small_down_dav_files_s)),
            format!(
                "API download {} files/s",
                fmt_rate(w.small_down_api_files_s)
            ),
            small_down,
        ),
    ] {
        t.row([
            &what,
            &load,
            &dav,
            DASH,
            DASH,
            DASH,
            &format!("{api}: WebDAV at {}", pct(Some(ratio))),
        ]);
    }
}

/// The design targets of the issue, each with what this run measured.
pub fn targets(run: &RunReport) -> String {
    let mut out = String::new();
    out.push_str("| design target | measured | met |\n| --- | --- | --- |\n");

    // Metadata calls, p95 with 16 clients, on SQLite.
    let mut worst: Option<(f64, String)> = None;
    for c in run.configs.iter().filter(|c| c.is_sqlite()) {
        if let Some(rows) = c.latency.measured() {
            for r in rows
                .iter()
                .filter(|r| r.op.is_metadata() && r.clients >= 16)
            {
                if worst.as_ref().is_none_or(|(w, _)| r.p95_ms > *w) {
                    worst = Some((r.p95_ms, format!("{} ({})", r.label, c.name)));
                }
            }
        }
    }
    let (measured, ok) = match &worst {
        Some((p95, what)) => (
            format!("worst p95 {} — {what}", fmt_ms(*p95)),
            Some(*p95 < 10.0),
        ),
        None => (DASH.to_string(), None),
    };
    let _ = writeln!(
        out,
        "| metadata calls p95 < 10 ms with 16 concurrent clients on SQLite | {measured} | {} |",
        verdict(ok)
    );

    // Through dbx-server at least 80 % of direct S3.
    let mut parts = Vec::new();
    let mut all_ok: Option<bool> = None;
    for c in &run.configs {
        if let Some(b) = c.big.measured() {
            for (dir, rates) in [("up", &b.upload), ("down", &b.download)] {
                if let Some(r) = rates.ratio() {
                    parts.push(format!("{} {dir} {}", c.name, pct(Some(r))));
                    all_ok = Some(all_ok.unwrap_or(true) && r >= 0.8);
                }
            }
        }
    }
    target_line(
        &mut out,
        "upload and download through dbx-server ≥ 80 % of the direct S3 rate",
        &parts,
        all_ok,
    );

    // Server peak memory under 100 MiB while moving a big file.
    let mut peak: Option<(f64, String)> = None;
    let mut consider = |v: Option<f64>, what: String| {
        if let Some(v) = v {
            if peak.as_ref().is_none_or(|(p, _)| v > *p) {
                peak = Some((v, what));
            }
        }
    };
    for c in &run.configs {
        if let Some(b) = c.big.measured() {
            consider(b.server_peak_upload_mib, format!("{} upload", c.name));
            consider(b.server_peak_download_mib, format!("{} download", c.name));
        }
        if let Some(d) = c.dbx_big.measured() {
            consider(d.push_server_peak_mib, format!("{} dbx push", c.name));
            consider(d.pull_server_peak_mib, format!("{} dbx pull", c.name));
        }
    }
    let _ = writeln!(
        out,
        "| dbx-server peak memory < 100 MiB while moving a {} file | {} | {} |",
        fmt_size(run.plan.big_size),
        peak.as_ref().map_or_else(
            || DASH.to_string(),
            |(p, w)| format!("max {p:.1} MiB ({w})")
        ),
        verdict(peak.as_ref().map(|(p, _)| *p < 100.0))
    );

    // Sync propagation median under 2 s.
    let mut parts = Vec::new();
    let mut all_ok: Option<bool> = None;
    for c in &run.configs {
        if let Some(s) = c.sync.measured() {
            if let Some(m) = s.median_s {
                parts.push(format!("{} {}", c.name, fmt_s(m)));
                all_ok = Some(all_ok.unwrap_or(true) && m < 2.0 && s.lost == 0);
            }
        }
    }
    target_line(&mut out, "sync propagation median < 2 s", &parts, all_ok);

    // A folder rename reaches the other device in under 2 s.
    let mut parts = Vec::new();
    let mut all_ok: Option<bool> = None;
    for c in &run.configs {
        if let Some(r) = c.rename.measured() {
            parts.push(format!("{} {}", c.name, opt_s(r.took_s)));
            let ok = r.took_s.is_some_and(|t| t < 2.0) && r.same_files;
            all_ok = Some(all_ok.unwrap_or(true) && ok);
        }
    }
    target_line(
        &mut out,
        "a renamed folder of 1,000 files shows on the other device in < 2 s, files kept",
        &parts,
        all_ok,
    );

    // A tus upload at least 0.9× direct S3 multipart; a resume sends about half.
    let mut parts = Vec::new();
    let mut all_ok: Option<bool> = None;
    for c in &run.configs {
        if let Some(r) = c.tus.measured() {
            if let Some(ratio) = r.ratio {
                parts.push(format!("{} {}", c.name, pct(Some(ratio))));
                all_ok = Some(all_ok.unwrap_or(true) && ratio >= 0.9);
            }
            parts.push(format!(
                "{} resume sent {:.0} %",
                c.name,
                r.sent_after_resume * 100.0
            ));
            let half = (0.4..=0.6).contains(&r.sent_after_resume);
            all_ok = Some(all_ok.unwrap_or(true) && half);
        }
    }
    target_line(
        &mut out,
        "tus upload ≥ 0.9× direct S3 multipart; a resume after a cut at half sends about half",
        &parts,
        all_ok,
    );

    // WebDAV at least 0.8× the API, for every transfer.
    let mut worst: Option<(f64, String)> = None;
    for c in &run.configs {
        if let Some(w) = c.webdav.measured() {
            for (what, r) in w.ratios() {
                if worst.as_ref().is_none_or(|(x, _)| r < *x) {
                    worst = Some((r, format!("{what} ({})", c.name)));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "| WebDAV ≥ 0.8× the API (big file and small files, up and down) | {} | {} |",
        worst.as_ref().map_or_else(
            || DASH.to_string(),
            |(r, what)| format!("worst {} — {what}", pct(Some(*r)))
        ),
        verdict(worst.map(|(r, _)| r >= 0.8))
    );
    out
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not measured",
    }
}

/// One row of the design targets: the goal, what each configuration measured, whether
/// all of them met it.
fn target_line(out: &mut String, goal: &str, parts: &[String], all_ok: Option<bool>) {
    let measured = if parts.is_empty() {
        DASH.to_string()
    } else {
        parts.join(", ")
    };
    let _ = writeln!(out, "| {goal} | {measured} | {} |", verdict(all_ok));
}

/// The whole run as markdown: header, one table per configuration, the targets.
pub fn markdown(run: &RunReport) -> String {
    let mut out = String::new();
    let m = &run.machine;
    let _ = writeln!(
        out,
        "## dbx benchmarks, {} ({})\n",
        run.started_at,
        if run.plan.quick { "quick" } else { "full" }
    );
    let _ = writeln!(
        out,
        "Machine: {} cores{}, {:.1} GiB memory{}; load average at start {}. {}Bench took {}.\n",
        m.cores,
        m.cpu_model
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        m.memory_total_mib as f64 / 1024.0,
        m.kernel
            .as_deref()
            .map(|k| format!(", Linux {k}"))
            .unwrap_or_default(),
        m.load_average_at_start.as_deref().unwrap_or("?"),
        run.commit
            .as_deref()
            .map(|c| format!("Commit {c}. "))
            .unwrap_or_default(),
        fmt_duration(run.elapsed_s)
    );
    let _ = writeln!(
        out,
        "Latency: {}; offered load {:.0} % of capacity, up to {} requests or {} s per row. \
         The bench, dbx-server and its backends share the machine's cores; \"other processes \
         N % CPU\" is the share of the whole machine that anything else used during a row (a \
         neighbour's build on a shared machine shows there); \"the host took N % of the CPUs \
         for 100 ms\" is the worst 100 ms of the row's steal time, when the hypervisor ran \
         other machines on this one's cores; \"in dbx-server p99 < N ms\" is the 99th \
         percentile of the server's own time per request, from its request log.\n",
        LATENCY_METHOD,
        run.plan.latency.load * 100.0,
        thousands(run.plan.latency.samples),
        run.plan.latency.max_measure.as_secs()
    );
    for c in &run.configs {
        let _ = writeln!(out, "### {}\n", c.label);
        out.push_str(&config_table(c, &run.plan));
        out.push('\n');
    }
    out.push_str("### Design targets\n\n");
    out.push_str(&targets(run));
    out
}

pub fn fmt_duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 60 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}
