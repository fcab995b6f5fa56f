//! dbx-bench: measures what the design targets promise, on each server configuration
//! (SQLite + filesystem, SQLite + S3, PostgreSQL + S3). Driven by `scripts/bench.sh`, which
//! builds the release binaries and starts Garage and a fresh Postgres database; this binary
//! starts `dbx-server` itself, as a child process, on a fresh data dir per configuration.
//!
//! It measures, it does not judge: the exit status says only whether the bench could run.
#![forbid(unsafe_code)]

mod api;
mod client;
mod cpu;
mod latency;
mod procs;
mod report;
mod server_log;
mod transfer;
mod tus;
mod util;
mod webdav;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::{Parser, ValueEnum};
use tokio::time::Instant;

use crate::api::Api;
use crate::client::{Availability, BigReport, Dbx};
use crate::latency::{LatencyPlan, LatencyRow, Op};
use crate::procs::ServerProcess;
use crate::report::{BigApiReport, ConfigReport, Machine, Outcome, Plan, RunReport};
use crate::transfer::{DirectS3, Rates, S3Settings};
use crate::util::{fresh_seed, kib_to_mib, MIB};

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench-password-0123";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ConfigName {
    SqliteFs,
    SqliteS3,
    PgS3,
}

impl ConfigName {
    fn id(self) -> &'static str {
        match self {
            ConfigName::SqliteFs => "sqlite-fs",
            ConfigName::SqliteS3 => "sqlite-s3",
            ConfigName::PgS3 => "pg-s3",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ConfigName::SqliteFs => "SQLite + filesystem store",
            ConfigName::SqliteS3 => "SQLite + S3 (Garage)",
            ConfigName::PgS3 => "PostgreSQL + S3 (Garage)",
        }
    }

    fn uses_s3(self) -> bool {
        !matches!(self, ConfigName::SqliteFs)
    }

    fn uses_postgres(self) -> bool {
        matches!(self, ConfigName::PgS3)
    }
}

/// A part of the run that `--phases` can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    /// Metadata latency, the 4 KiB upload and the 10 MB transfers.
    Latency,
    /// The big file through dbx-server's API, against direct S3.
    Big,
    /// `dbx push` / `dbx pull` of the big file.
    DbxBig,
    /// `dbx push` / `dbx pull` of many small files.
    Files,
    /// `dbx sync --watch` propagation.
    Sync,
    /// The big file and many small files through WebDAV, against the API.
    Webdav,
    /// A folder of 1,000 files renamed in one `dbx sync --watch` folder: until the other
    /// shows it.
    Rename,
    /// The big file as a resumable (tus) upload, against direct S3 multipart; and one
    /// cut at half and resumed on a restarted server.
    Tus,
}

/// Benchmarks of dbx-server and the dbx client (see scripts/bench.sh).
#[derive(Debug, Parser)]
#[command(name = "dbx-bench", version)]
struct Args {
    /// A reduced run: fewer samples, 100 MiB instead of 1 GiB, 1,000 files, 10 sync changes.
    #[arg(long)]
    quick: bool,
    /// The dbx-server binary to start.
    #[arg(long, default_value = "target/release/dbx-server")]
    server_bin: PathBuf,
    /// The dbx client binary to run.
    #[arg(long, default_value = "target/release/dbx")]
    dbx_bin: PathBuf,
    /// Report the client phases as not available for this reason (e.g. it did not build).
    #[arg(long)]
    dbx_unavailable: Option<String>,
    /// Configurations to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite-fs,sqlite-s3,pg-s3"
    )]
    configs: Vec<ConfigName>,
    /// Where the JSON and latest.md go; a work folder is made (and removed) inside.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// Keep the work folder (data dirs, logs) after the run.
    #[arg(long)]
    keep_work: bool,
    /// A fresh PostgreSQL database for the pg-s3 configuration.
    #[arg(long, env = "DBX_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Why there is no Postgres database, when there is none.
    #[arg(long)]
    pg_unavailable: Option<String>,
    #[arg(long, env = "DBX_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long, env = "DBX_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "DBX_S3_ACCESS_KEY")]
    s3_access_key: Option<String>,
    #[arg(long, env = "DBX_S3_SECRET_KEY", hide_env_values = true)]
    s3_secret_key: Option<String>,
    #[arg(long, env = "DBX_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// Why there is no S3 server, when there is none.
    #[arg(long)]
    s3_unavailable: Option<String>,
    /// The S3 server's pid, whose CPU time counts as the benchmark's own.
    #[arg(long, env = "DBX_BENCH_GARAGE_PID")]
    garage_pid: Option<u32>,
    /// Share of the measured capacity offered in the open-loop latency runs.
    #[arg(long, default_value_t = 0.5)]
    load: f64,
    /// Concurrent clients of the latency runs.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<usize>,
    /// Requests per latency row, at most [default: 10000, quick 1000]; a row also stops
    /// after 10 s (quick 2 s).
    #[arg(long)]
    samples: Option<u64>,
    /// Size of the big transfer in MiB [default: 1024, quick 100].
    #[arg(long)]
    big_mib: Option<u64>,
    /// Runs of the big transfer [default: 3, quick 1].
    #[arg(long)]
    big_runs: Option<usize>,
    /// Runs of the 10 MB transfer [default: 20, quick 5].
    #[arg(long)]
    medium_runs: Option<usize>,
    /// Files of the push/pull phase [default: 10000, quick 1000].
    #[arg(long)]
    files: Option<usize>,
    /// Changes of the sync phase [default: 50, quick 10].
    #[arg(long)]
    sync_changes: Option<usize>,
    /// Only these parts of the run, comma-separated [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    phases: Vec<Phase>,
}

impl Args {
    fn wants(&self, phase: Phase) -> bool {
        self.phases.is_empty() || self.phases.contains(&phase)
    }
}

fn plan(args: &Args, part_size: u64) -> Plan {
    let q = args.quick;
    Plan {
        quick: q,
        latency: LatencyPlan {
            load: args.load.clamp(0.01, 1.0),
            calibrate: Duration::from_secs(if q { 1 } else { 3 }),
            samples: args.samples.unwrap_or(if q { 1000 } else { 10_000 }).max(1),
            max_measure: Duration::from_secs(if q { 2 } else { 10 }),
        },
        clients: args.clients.iter().copied().filter(|c| *c > 0).collect(),
        medium_size: 10_000_000,
        medium_runs: args.medium_runs.unwrap_or(if q { 5 } else { 20 }).max(1),
        big_size: args.big_mib.unwrap_or(if q { 100 } else { 1024 }).max(1) * MIB,
        big_runs: args.big_runs.unwrap_or(if q { 1 } else { 3 }).max(1),
        part_size,
        files: args.files.unwrap_or(if q { 1000 } else { 10_000 }).max(1),
        file_size: 4096,
        sync_changes: args.sync_changes.unwrap_or(if q { 10 } else { 50 }).max(1),
        webdav_files: if q { 200 } else { 1000 },
        rename_files: if q { 200 } else { 1000 },
        server_log_level: std::env::var("RUST_LOG").unwrap_or_else(|_| "info (default)".into()),
    }
}

/// Everything a configuration run needs.
struct Ctx {
    args: Args,
    plan: Plan,
    http: reqwest::Client,
    work: PathBuf,
    s3: Result<S3Settings, String>,
    pg_url: Result<String, String>,
    client: Availability,
    cpu: cpu::CpuProbe,
}

macro_rules! progress {
    ($($arg:tt)*) => {
        eprintln!("[{}] {}", Utc::now().format("%H:%M:%S"), format!($($arg)*))
    };
}

/// Writes out what earlier phases left in the page cache before the next phase starts:
/// otherwise gigabytes of another phase's writes drain to disk during this one, and every
/// fsync it makes (a Postgres commit, a landed download) waits behind them.
async fn settle() {
    let started = std::time::Instant::now();
    let synced = tokio::task::spawn_blocking(|| std::process::Command::new("sync").status()).await;
    match synced {
        Ok(Ok(status)) if status.success() => {
            let took = started.elapsed();
            if took > std::time::Duration::from_millis(500) {
                progress!(
                    "wrote out earlier phases' data in {}",
                    util::fmt_s(took.as_secs_f64())
                );
            }
        }
        _ => progress!("sync failed: this phase may pay for earlier phases' writes"),
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Args::parse())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether a URL's host is this machine.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The database of a `postgres://user@host:port/db?options` URL.
fn database_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let db = path.split('?').next()?;
    (!db.is_empty()).then(|| db.to_string())
}

fn s3_settings(args: &Args) -> Result<S3Settings, String> {
    if let Some(reason) = &args.s3_unavailable {
        return Err(reason.clone());
    }
    let (Some(endpoint), Some(access_key), Some(secret_key), Some(bucket)) = (
        args.s3_endpoint.clone(),
        args.s3_access_key.clone(),
        args.s3_secret_key.clone(),
        args.s3_bucket.clone(),
    ) else {
        return Err(
            "no S3 server given (DBX_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _BUCKET; \
                    scripts/bench.sh starts Garage)"
                .to_string(),
        );
    };
    if !is_loopback_url(&endpoint) {
        return Err(format!("the S3 endpoint {endpoint} is not on 127.0.0.1"));
    }
    Ok(S3Settings {
        endpoint,
        region: args.s3_region.clone(),
        access_key,
        secret_key,
        bucket,
    })
}

fn pg_url(args: &Args) -> Result<String, String> {
    if let Some(reason) = &args.pg_unavailable {
        return Err(reason.clone());
    }
    match &args.pg_url {
        None => Err("no Postgres database given (--pg-url; scripts/bench.sh makes one)".into()),
        Some(u) if !is_loopback_url(u) => Err("the Postgres URL is not on 127.0.0.1".into()),
        Some(u) => Ok(u.clone()),
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn machine() -> Machine {
    let cores = command_output("nproc", &[])
        .and_then(|s| s.parse().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_total_mib = util::status_field_kib(&meminfo, "MemTotal").unwrap_or(0) / 1024;
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_string());
    Machine {
        cores,
        memory_total_mib,
        cpu_model,
        kernel,
        load_average_at_start: load_average(),
        load_average_at_end: None,
    }
}

fn commit() -> Option<String> {
    let head = command_output("git", &["rev-parse", "--short", "HEAD"])?;
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    })
}

async fn run(args: Args) -> Result<()> {
    let started_at = Utc::now();
    let clock = Instant::now();
    if !args.server_bin.is_file() {
        bail!(
            "no dbx-server binary at {} (build it: cargo build --release -p dbx-server)",
            args.server_bin.display()
        );
    }
    let part_size = dbx_server::storage::s3::PART_SIZE;
    let plan = plan(&args, part_size);
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let stamp = started_at.format("%Y-%m-%dT%H-%M-%SZ").to_string();
    let work = args.out_dir.join(format!("work-{stamp}"));
    std::fs::create_dir_all(&work)?;
    let machine = machine();
    let commit = commit();
    let client = client::probe(&args.dbx_bin, args.dbx_unavailable.as_deref()).await;
    progress!(
        "dbx-bench ({}): {} cores, {} MiB; dbx client: {}; dbx sync --watch: {}",
        if plan.quick { "quick" } else { "full" },
        machine.cores,
        machine.memory_total_mib,
        client
            .transfer
            .as_ref()
            .map_or_else(|e| e.clone(), |_| "ready".into()),
        client
            .sync
            .as_ref()
            .map_or_else(|e| e.clone(), |_| "ready".into()),
    );
    let pg_url = pg_url(&args);
    let cpu = cpu::CpuProbe {
        extra_pids: args.garage_pid.into_iter().collect(),
        pg_database: pg_url.as_ref().ok().and_then(|u| database_name(u)),
    };
    let ctx = Ctx {
        s3: s3_settings(&args),
        pg_url,
        cpu,
        http: api::http_client()?,
        work: work.clone(),
        plan: plan.clone(),
        client,
        args,
    };

    let mut configs = Vec::new();
    for name in ctx.args.configs.clone() {
        progress!("== {}", name.label());
        let report = run_config(&ctx, name).await;
        progress!(
            "== {} done in {}",
            name.label(),
            report::fmt_duration(report.elapsed_s)
        );
        configs.push(report);
    }

    let mut machine = machine;
    machine.load_average_at_end = load_average();
    let run = RunReport {
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        finished_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        elapsed_s: clock.elapsed().as_secs_f64(),
        machine,
        commit,
        plan,
        latency_method: report::LATENCY_METHOD,
        configs,
    };
    let markdown = report::markdown(&run);
    println!("{markdown}");
    let suffix = if run.plan.quick { "-quick" } else { "" };
    let json_path = ctx.args.out_dir.join(format!("bench-{stamp}{suffix}.json"));
    std::fs::write(&json_path, serde_json::to_string_pretty(&run)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let md_path = ctx.args.out_dir.join("latest.md");
    std::fs::write(&md_path, &markdown)
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    progress!("wrote {} and {}", json_path.display(), md_path.display());
    if !ctx.args.keep_work {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

fn server_env(ctx: &Ctx, name: ConfigName, data: &Path) -> Result<Vec<(String, String)>> {
    let mut env = vec![
        ("DBX_DATA_DIR".to_string(), data.display().to_string()),
        // One login serves a whole phase.
        ("DBX_ACCESS_TOKEN_TTL".to_string(), "86400".to_string()),
    ];
    if name.uses_postgres() {
        let url = ctx.pg_url.clone().map_err(anyhow::Error::msg)?;
        env.push(("DBX_DATABASE_URL".to_string(), url));
    }
    if name.uses_s3() {
        let s3 = ctx.s3.clone().map_err(anyhow::Error::msg)?;
        env.extend([
            ("DBX_BLOB_STORE".to_string(), format!("s3://{}", s3.bucket)),
            ("DBX_S3_ENDPOINT".to_string(), s3.endpoint),
            ("DBX_S3_REGION".to_string(), s3.region),
            ("DBX_S3_ACCESS_KEY".to_string(), s3.access_key),
            ("DBX_S3_SECRET_KEY".to_string(), s3.secret_key),
        ]);
    }
    Ok(env)
}

fn not_run<T>() -> Outcome<T> {
    Outcome::Failed("not run: the server did not start".to_string())
}

/// What a phase reports before it runs: a failure if it was meant to run.
fn pending<T>(ctx: &Ctx, phase: Phase) -> Outcome<T> {
    if ctx.args.wants(phase) {
        not_run()
    } else {
        Outcome::Skipped
    }
}

async fn run_config(ctx: &Ctx, name: ConfigName) -> ConfigReport {
    let clock = Instant::now();
    let unavailable = match (name.uses_s3(), &ctx.s3, name.uses_postgres(), &ctx.pg_url) {
        (true, Err(e), _, _) => Some(format!("S3: {e}")),
        (_, _, true, Err(e)) => Some(format!("Postgres: {e}")),
        _ => None,
    };
    if let Some(reason) = unavailable {
        progress!("not available: {reason}");
        return ConfigReport::unavailable(name.id(), name.label(), &reason);
    }
    let mut rep = ConfigReport {
        name: name.id().to_string(),
        label: name.label().to_string(),
        not_available: None,
        latency: pending(ctx, Phase::Latency),
        medium: pending(ctx, Phase::Latency),
        server_peak_metadata_phase_mib: None,
        big: pending(ctx, Phase::Big),
        dbx_big: pending(ctx, Phase::DbxBig),
        dbx_files: pending(ctx, Phase::Files),
        sync: pending(ctx, Phase::Sync),
        webdav: pending(ctx, Phase::Webdav),
        rename: pending(ctx, Phase::Rename),
        tus: pending(ctx, Phase::Tus),
        elapsed_s: 0.0,
    };
    let dir = ctx.work.join(name.id());
    let data = dir.join("data");
    let client_dir = dir.join("client");
    if let Err(e) = std::fs::create_dir_all(&data).and(std::fs::create_dir_all(&client_dir)) {
        rep.latency = Outcome::Failed(format!("cannot create {}: {e}", data.display()));
        return rep;
    }
    let env = match server_env(ctx, name, &data) {
        Ok(env) => env,
        Err(e) => return ConfigReport::unavailable(name.id(), name.label(), &e.to_string()),
    };

    let servers = Servers {
        ctx,
        env,
        dir: dir.clone(),
        started: Cell::new(0),
    };

    // Registers the bench user, whatever runs next.
    let first = servers.fresh(true).await;
    if !ctx.args.wants(Phase::Latency) {
        if let Ok((server, _)) = first {
            servers.stop(server).await;
        }
    } else {
        settle().await;
        latency_and_medium(ctx, &servers, first, &mut rep).await;
    }

    // Phase 2: the big file, each transfer through a fresh server process whose peak RSS
    // covers that transfer alone.
    if ctx.args.wants(Phase::Big) {
        settle().await;
        rep.big = big_phase(ctx, name, &servers).await.into();
    }
    if ctx.args.wants(Phase::DbxBig) {
        settle().await;
        rep.dbx_big = match &ctx.client.transfer {
            Err(why) => Outcome::NotAvailable(why.clone()),
            Ok(()) => dbx_big_phase(ctx, &servers, &client_dir).await.into(),
        };
    }

    if ctx.args.wants(Phase::Tus) {
        settle().await;
        rep.tus = tus_phase(ctx, name, &servers).await.into();
    }

    if ctx.args.wants(Phase::Webdav) {
        settle().await;
        rep.webdav = webdav_phase(ctx, &servers).await.into();
    }

    // Phase 3: many files, and sync, on one more server.
    let want_files = ctx.args.wants(Phase::Files);
    let want_sync = ctx.args.wants(Phase::Sync);
    let want_rename = ctx.args.wants(Phase::Rename);
    let client_phases = (want_files && ctx.client.transfer.is_ok())
        || ((want_sync || want_rename) && ctx.client.sync.is_ok());
    let started = if client_phases {
        settle().await;
        servers.fresh(false).await.map(Some)
    } else {
        Ok(None)
    };
    match started {
        Err(e) => {
            let why = report::one_line(&format!("{e:#}"));
            if want_files {
                rep.dbx_files = Outcome::Failed(why.clone());
            }
            if want_sync {
                rep.sync = Outcome::Failed(why.clone());
            }
            if want_rename {
                rep.rename = Outcome::Failed(why);
            }
        }
        Ok(running) => {
            let dbx = running
                .as_ref()
                .map(|(server, _)| ctx.dbx(&server.base_url, &client_dir));
            if want_files {
                rep.dbx_files = match (&ctx.client.transfer, &dbx) {
                    (Err(why), _) => Outcome::NotAvailable(why.clone()),
                    (Ok(()), Some(dbx)) => {
                        progress!("dbx push / pull of {} files", ctx.plan.files);
                        client::many_files(dbx, ctx.plan.files, ctx.plan.file_size, fresh_seed())
                            .await
                            .into()
                    }
                    (Ok(()), None) => not_run(),
                };
            }
            if want_sync {
                rep.sync = match (&ctx.client.sync, &dbx, &running) {
                    (Err(why), _, _) => Outcome::NotAvailable(why.clone()),
                    (Ok(()), Some(dbx), Some((_, api))) => {
                        progress!("sync propagation, {} changes", ctx.plan.sync_changes);
                        client::propagation(dbx, api, ctx.plan.sync_changes, fresh_seed())
                            .await
                            .into()
                    }
                    _ => not_run(),
                };
            }
            if want_rename {
                rep.rename = match (&ctx.client.sync, &dbx, &running) {
                    (Err(why), _, _) => Outcome::NotAvailable(why.clone()),
                    (Ok(()), Some(dbx), Some((_, api))) => {
                        progress!(
                            "sync of a renamed folder of {} files",
                            ctx.plan.rename_files
                        );
                        client::folder_rename(dbx, api, ctx.plan.rename_files, fresh_seed())
                            .await
                            .into()
                    }
                    _ => not_run(),
                };
            }
            if let Some((server, _)) = running {
                servers.stop(server).await;
            }
        }
    }
    for (what, wanted, o) in [
        ("latency", Phase::Latency, rep.latency.measured().is_some()),
        ("10 MB", Phase::Latency, rep.medium.measured().is_some()),
        ("big", Phase::Big, rep.big.measured().is_some()),
    ] {
        if ctx.args.wants(wanted) && !o {
            progress!("{what}: no measurement (see the table)");
        }
    }
    if !ctx.args.keep_work {
        let _ = std::fs::remove_dir_all(&data);
    }
    rep.elapsed_s = clock.elapsed().as_secs_f64();
    rep
}

/// Phase 1: latency and 10 MB transfers, on the server that registered the bench user.
async fn latency_and_medium(
    ctx: &Ctx,
    servers: &Servers<'_>,
    first: Result<(ServerProcess, Api)>,
    rep: &mut ConfigReport,
) {
    match first {
        Err(e) => {
            let why = report::one_line(&format!("{e:#}"));
            progress!("{why}");
            rep.latency = Outcome::Failed(why.clone());
            rep.medium = Outcome::Failed(why);
        }
        Ok((server, api)) => {
            rep.latency = latency_phase(ctx, &api, &server).await.into();
            progress!(
                "{} × {} MB up and down",
                ctx.plan.medium_runs,
                ctx.plan.medium_size / 1_000_000
            );
            rep.medium = transfer::medium(
                &api,
                ctx.plan.medium_size,
                ctx.plan.medium_runs,
                fresh_seed(),
            )
            .await
            .into();
            rep.server_peak_metadata_phase_mib = server.peak_kib().map(kib_to_mib);
            servers.stop(server).await;
        }
    }
}

/// WebDAV against the API on one fresh server: the big file, then small files.
async fn webdav_phase(ctx: &Ctx, servers: &Servers<'_>) -> Result<webdav::WebdavReport> {
    let plan = webdav::WebdavPlan {
        big_size: ctx.plan.big_size,
        big_runs: ctx.plan.big_runs,
        small_files: ctx.plan.webdav_files,
        small_size: ctx.plan.file_size as u64,
    };
    progress!(
        "WebDAV against the API: {} MiB × {}, {} files of {} bytes",
        plan.big_size / MIB,
        plan.big_runs,
        plan.small_files,
        plan.small_size
    );
    let (server, api) = servers.fresh(false).await?;
    let measured = webdav::measure(&api, EMAIL, &plan, fresh_seed()).await;
    servers.stop(server).await;
    let report = measured?;
    let ratios = report
        .ratios()
        .map(|(what, r)| format!("{what} {:.0} %", r * 100.0));
    progress!("WebDAV over the API: {}", ratios.join(", "));
    Ok(report)
}

async fn latency_phase(ctx: &Ctx, api: &Api, server: &ServerProcess) -> Result<Vec<LatencyRow>> {
    progress!("preparing a folder of 1,000 entries");
    let fx = Arc::new(latency::prepare(api, fresh_seed()).await?);
    let mut rows = Vec::new();
    for op in Op::ALL {
        for &clients in &ctx.plan.clients {
            let row = latency::measure(api, &fx, op, clients, &ctx.plan.latency, &ctx.cpu, server)
                .await?;
            progress!(
                "{} × {clients}: capacity {:.0}/s, at {:.0}/s p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms max {:.1} ms",
                op.label(),
                row.capacity_rps,
                row.target_rps,
                row.p50_ms,
                row.p95_ms,
                row.p99_ms,
                row.max_ms
            );
            rows.push(row);
        }
    }
    Ok(rows)
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Starts fresh dbx-server processes of one configuration, each logged to its own file.
struct Servers<'a> {
    ctx: &'a Ctx,
    env: Vec<(String, String)>,
    dir: PathBuf,
    started: Cell<usize>,
}

impl Servers<'_> {
    /// A fresh server with the bench user logged in (registered first if `register`); its
    /// peak RSS is reset after the login (argon2 is memory-hard), so that it covers only
    /// what follows.
    async fn fresh(&self, register: bool) -> Result<(ServerProcess, Api)> {
        let n = self.started.get() + 1;
        self.started.set(n);
        let log = self.dir.join(format!("server-{n}.log"));
        let server =
            ServerProcess::start(&self.ctx.args.server_bin, &self.env, &log, &self.ctx.http)
                .await
                .context("dbx-server did not start")?;
        let (http, base) = (&self.ctx.http, server.base_url.as_str());
        let api = if register {
            Api::register_and_login(http, base, EMAIL, PASSWORD).await?
        } else {
            Api::login(http, base, EMAIL, PASSWORD).await?
        };
        server.reset_peak();
        Ok((server, api))
    }

    async fn stop(&self, server: ServerProcess) {
        if let Err(e) = server.stop().await {
            progress!("warning: {e:#}");
        }
    }
}

impl Ctx {
    fn dbx(&self, server: &str, work: &Path) -> Dbx {
        Dbx {
            bin: self.args.dbx_bin.clone(),
            server: server.to_string(),
            work: work.to_path_buf(),
            email: EMAIL.to_string(),
            password: PASSWORD.to_string(),
        }
    }
}

/// Peak and starting RSS of the servers of one kind of step.
#[derive(Default)]
struct Peaks {
    peak: Option<u64>,
    before: Option<u64>,
    reset_ok: bool,
    seen: bool,
}

impl Peaks {
    /// Call right before the step, on a server whose peak was just reset.
    fn before(&mut self, server: &ServerProcess) {
        let reset = server.reset_peak();
        self.reset_ok = if self.seen {
            self.reset_ok && reset
        } else {
            reset
        };
        self.seen = true;
        self.before = max_opt(self.before, server.rss_kib());
    }

    fn after(&mut self, server: &ServerProcess) {
        self.peak = max_opt(self.peak, server.peak_kib());
    }
}

/// The big file through dbx-server's API, and the same size put to and got from the S3
/// server directly, alternating which goes first. Each transfer through dbx-server runs on
/// a fresh server process, so that its VmHWM is that transfer's peak.
async fn big_phase(ctx: &Ctx, name: ConfigName, servers: &Servers<'_>) -> Result<BigApiReport> {
    let size = ctx.plan.big_size;
    let direct = match (&ctx.s3, name.uses_s3()) {
        (Ok(s3), true) => Some(DirectS3::new(s3, ctx.plan.part_size)?),
        _ => None,
    };
    let (mut up, mut down) = (Rates::default(), Rates::default());
    let (mut peak_up, mut peak_down) = (Peaks::default(), Peaks::default());
    let stamp = Utc::now().format("%Y%m%d%H%M%S");
    for run in 0..ctx.plan.big_runs {
        progress!(
            "{} MiB up and down, run {} of {}",
            size / MIB,
            run + 1,
            ctx.plan.big_runs
        );
        let direct_first = run % 2 == 1;
        let key = format!("bench-direct/{stamp}-{}-{run}", name.id());

        if let (true, Some(d)) = (direct_first, &direct) {
            let took = d.put(&key, size, fresh_seed()).await?;
            up.direct_s3_mib_s.push(transfer::rate(size, took));
        }
        let (server, api) = servers.fresh(false).await?;
        peak_up.before(&server);
        let path = format!("/bench-big/{stamp}-{run}.bin");
        let (id, took) = transfer::api_upload(&api, &path, size, fresh_seed()).await?;
        peak_up.after(&server);
        servers.stop(server).await;
        up.via_server_mib_s.push(transfer::rate(size, took));
        if let (false, Some(d)) = (direct_first, &direct) {
            let took = d.put(&key, size, fresh_seed()).await?;
            up.direct_s3_mib_s.push(transfer::rate(size, took));
        }

        if let (true, Some(d)) = (direct_first, &direct) {
            down.direct_s3_mib_s
                .push(transfer::rate(size, d.get(&key, size).await?));
        }
        let (server, api) = servers.fresh(false).await?;
        peak_down.before(&server);
        let took = transfer::api_download(&api, &id, size).await?;
        peak_down.after(&server);
        servers.stop(server).await;
        down.via_server_mib_s.push(transfer::rate(size, took));
        if let (false, Some(d)) = (direct_first, &direct) {
            down.direct_s3_mib_s
                .push(transfer::rate(size, d.get(&key, size).await?));
        }
        if let Some(d) = &direct {
            if let Err(e) = d.delete(&key).await {
                progress!("warning: {e:#}");
            }
        }
    }
    let report = BigApiReport {
        size_bytes: size,
        runs: ctx.plan.big_runs,
        upload_via_server_mib_s: up.via_server(),
        upload_direct_s3_mib_s: up.direct(),
        upload_ratio: up.ratio(),
        download_via_server_mib_s: down.via_server(),
        download_direct_s3_mib_s: down.direct(),
        download_ratio: down.ratio(),
        upload: up,
        download: down,
        server_rss_before_mib: max_opt(peak_up.before, peak_down.before).map(kib_to_mib),
        server_peak_upload_mib: peak_up.peak.map(kib_to_mib),
        server_peak_download_mib: peak_down.peak.map(kib_to_mib),
        peak_reset: peak_up.reset_ok && peak_down.reset_ok,
    };
    progress!(
        "via dbx-server up {:.0} MiB/s down {:.0} MiB/s; direct S3 up {} down {}; server peak up {:.1} MiB down {:.1} MiB",
        report.upload.via_server().unwrap_or(0.0),
        report.download.via_server().unwrap_or(0.0),
        report.upload.direct().map_or("-".into(), |r| format!("{r:.0} MiB/s")),
        report.download.direct().map_or("-".into(), |r| format!("{r:.0} MiB/s")),
        report.server_peak_upload_mib.unwrap_or(0.0),
        report.server_peak_download_mib.unwrap_or(0.0),
    );
    Ok(report)
}

/// Bytes per `PATCH` of the bench's tus uploads: the dbx client's default chunk.
const TUS_CHUNK: u64 = 16 * MIB;

/// The big file as a tus upload through dbx-server (a fresh process per run, for its
/// peak RSS) and put to S3 directly, alternating which goes first; then an upload cut
/// at half, its server stopped and a new one started on the same data, and the rest
/// sent from the offset the new server reports.
async fn tus_phase(ctx: &Ctx, name: ConfigName, servers: &Servers<'_>) -> Result<tus::TusReport> {
    let size = ctx.plan.big_size;
    let direct = match (&ctx.s3, name.uses_s3()) {
        (Ok(s3), true) => Some(DirectS3::new(s3, ctx.plan.part_size)?),
        _ => None,
    };
    let stamp = Utc::now().format("%Y%m%d%H%M%S");
    let mut up = Rates::default();
    let mut peaks = Peaks::default();
    for run in 0..ctx.plan.big_runs {
        progress!(
            "tus upload of {} MiB, run {} of {}",
            size / MIB,
            run + 1,
            ctx.plan.big_runs
        );
        let key = format!("bench-direct/{stamp}-{}-tus-{run}", name.id());
        let direct_first = run % 2 == 1;
        if let (true, Some(d)) = (direct_first, &direct) {
            up.direct_s3_mib_s
                .push(transfer::rate(size, d.put(&key, size, fresh_seed()).await?));
        }
        let (server, api) = servers.fresh(false).await?;
        peaks.before(&server);
        let path = format!("/bench-tus/{stamp}-{run}.bin");
        let (_, took) = tus::upload(&api, &path, size, TUS_CHUNK, fresh_seed()).await?;
        peaks.after(&server);
        servers.stop(server).await;
        up.via_server_mib_s.push(transfer::rate(size, took));
        if let (false, Some(d)) = (direct_first, &direct) {
            up.direct_s3_mib_s
                .push(transfer::rate(size, d.put(&key, size, fresh_seed()).await?));
        }
        if let Some(d) = &direct {
            if let Err(e) = d.delete(&key).await {
                progress!("warning: {e:#}");
            }
        }
    }

    progress!("tus upload cut at half, server restarted, resumed");
    let seed = fresh_seed();
    let (server, api) = servers.fresh(false).await?;
    let mut cut = tus::create(&api, &format!("/bench-tus/{stamp}-cut.bin"), size).await?;
    cut.send_until(&api, size / 2, TUS_CHUNK, seed).await?;
    servers.stop(server).await;
    let (server, api) = servers.fresh(false).await?;
    cut.resync(&api).await?;
    let resumed_at = cut.offset;
    let started = Instant::now();
    let done = cut.send_until(&api, size, TUS_CHUNK, seed).await;
    let took = started.elapsed();
    servers.stop(server).await;
    anyhow::ensure!(
        done?.is_some(),
        "the resumed upload completed without a file id"
    );
    let whole_s = up.via_server().map(|r| size as f64 / MIB as f64 / r);
    let report = tus::TusReport {
        size_bytes: size,
        chunk_bytes: TUS_CHUNK,
        runs: ctx.plan.big_runs,
        ratio: up.ratio(),
        upload: up,
        server_peak_mib: peaks.peak.map(kib_to_mib),
        resumed_at: resumed_at as f64 / size as f64,
        sent_after_resume: (size - resumed_at) as f64 / size as f64,
        resume_time_ratio: whole_s.map(|w| took.as_secs_f64() / w),
    };
    progress!(
        "tus {:.0} MiB/s, direct S3 {}; resumed at {:.0} %",
        report.upload.via_server().unwrap_or(0.0),
        report
            .upload
            .direct()
            .map_or("-".into(), |r| format!("{r:.0} MiB/s")),
        report.resumed_at * 100.0
    );
    Ok(report)
}

/// `dbx push` and then `dbx pull` of the big file, each against a fresh server process,
/// with the client's and the server's peak memory.
async fn dbx_big_phase(ctx: &Ctx, servers: &Servers<'_>, work: &Path) -> Result<BigReport> {
    let size = ctx.plan.big_size;
    progress!("dbx push / pull of {} MiB", size / MIB);
    let src = work.join("big-src.bin");
    let dst = work.join("big-pulled.bin");
    let config = work.join("config-big");
    {
        let (src, seed) = (src.clone(), fresh_seed());
        tokio::task::spawn_blocking(move || client::write_generated(&src, size, seed)).await??;
    }
    let remote = "/bench-dbx-big.bin";
    let mut runs = Vec::new();
    for (what, args) in [
        (
            "push-big",
            ["push".into(), src.clone().into_os_string(), remote.into()],
        ),
        (
            "pull-big",
            ["pull".into(), remote.into(), dst.clone().into_os_string()],
        ),
    ] {
        let (server, _api) = servers.fresh(false).await?;
        let dbx = ctx.dbx(&server.base_url, work);
        dbx.login(&config).await?;
        let mut peaks = Peaks::default();
        peaks.before(&server);
        let ran = dbx.run(&config, what, args.to_vec(), true).await;
        peaks.after(&server);
        servers.stop(server).await;
        runs.push((ran?, peaks.peak));
    }
    let pulled = std::fs::metadata(&dst).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&dst);
    anyhow::ensure!(pulled == size, "dbx pull wrote {pulled} bytes of {size}");
    let [(push, push_server), (pull, pull_server)] = runs.as_slice() else {
        bail!("dbx push and pull did not both run");
    };
    Ok(BigReport {
        size_bytes: size,
        push_mib_s: util::mib_per_s(size, push.took),
        pull_mib_s: util::mib_per_s(size, pull.took),
        push_client_peak_mib: push.peak_kib.map(kib_to_mib),
        pull_client_peak_mib: pull.peak_kib.map(kib_to_mib),
        push_server_peak_mib: push_server.map(kib_to_mib),
        pull_server_peak_mib: pull_server.map(kib_to_mib),
        client_rss_method: procs::rss_method(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        assert!(is_loopback_url("postgres://postgres@127.0.0.1:5432/x"));
        assert!(is_loopback_url("http://127.0.0.1:3900"));
        assert!(is_loopback_url("postgres://u:p@localhost/db"));
        assert!(is_loopback_url("http://[::1]:80/"));
        assert!(!is_loopback_url("postgres://postgres@db.example:5432/x"));
        assert!(!is_loopback_url("http://10.0.0.1:3900"));
    }

    #[test]
    fn database_names() {
        assert_eq!(
            database_name("postgres://postgres@127.0.0.1:5432/dbx_bench_1").as_deref(),
            Some("dbx_bench_1")
        );
        assert_eq!(
            database_name("postgres://u@h/db?sslmode=disable").as_deref(),
            Some("db")
        );
        assert_eq!(database_name("postgres://u@h"), None);
    }
}
