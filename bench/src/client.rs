//! Phases that run the real `dbx` client: a big file and many small files pushed and
//! pulled, and propagation between two `dbx sync --watch` daemons (changed files, and a
//! renamed folder).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

use crate::api::Api;
use crate::procs::{self, CmdSpec};
use crate::util::{failure_lines, max, percentile, tail, Prng, MIB};

/// Time limit of one push or pull.
const TRANSFER_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How long a synced change may take to appear before it counts as lost.
const CHANGE_LIMIT: Duration = Duration::from_secs(30);
/// How long the daemons may take to come up and pass the first file.
const FIRST_SYNC_LIMIT: Duration = Duration::from_secs(120);
/// Consecutive lost changes after which the sync phase gives up.
const MAX_LOST_IN_A_ROW: usize = 3;
/// Pause between two synced changes, so that each one is measured on its own.
const SETTLE: Duration = Duration::from_millis(250);

/// What of the client can be run.
#[derive(Debug, Clone)]
pub struct Availability {
    /// `Ok` when `dbx login`, `push` and `pull` exist.
    pub transfer: Result<(), String>,
    /// `Ok` when `dbx sync --watch` exists too.
    pub sync: Result<(), String>,
}

async fn help_text(bin: &Path, args: &[&str]) -> Result<String, String> {
    let out = timeout(
        Duration::from_secs(20),
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| format!("`{} {}` hung", bin.display(), args.join(" ")))?
    .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`dbx {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Whether `text` (a clap help page) lists `word` as a subcommand: the first word of a line.
fn lists(text: &str, word: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().next().map(|w| w.trim_end_matches(',')) == Some(word))
}

/// Looks at `dbx --help` and `dbx sync --help` to see which phases can run.
pub async fn probe(bin: &Path, preset: Option<&str>) -> Availability {
    if let Some(reason) = preset {
        return Availability {
            transfer: Err(reason.to_string()),
            sync: Err(reason.to_string()),
        };
    }
    if !bin.is_file() {
        let reason = format!("no dbx binary at {}", bin.display());
        return Availability {
            transfer: Err(reason.clone()),
            sync: Err(reason),
        };
    }
    let help = match help_text(bin, &["--help"]).await {
        Ok(h) => h,
        Err(e) => {
            return Availability {
                transfer: Err(e.clone()),
                sync: Err(e),
            }
        }
    };
    let missing: Vec<&str> = ["login", "push", "pull"]
        .into_iter()
        .filter(|c| !lists(&help, c))
        .collect();
    let transfer = if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "`dbx --help` lists no {} command yet",
            missing.join(", ")
        ))
    };
    let sync = match (&transfer, lists(&help, "sync")) {
        (Err(e), _) => Err(e.clone()),
        (Ok(()), false) => Err("`dbx --help` lists no sync command yet".to_string()),
        (Ok(()), true) => match help_text(bin, &["sync", "--help"]).await {
            Ok(h) if h.contains("--watch") => Ok(()),
            Ok(_) => Err("`dbx sync --help` has no --watch yet".to_string()),
            Err(e) => Err(e),
        },
    };
    Availability { transfer, sync }
}

/// The `dbx` binary pointed at one server, with a folder for its config dirs and logs.
pub struct Dbx {
    pub bin: PathBuf,
    pub server: String,
    pub work: PathBuf,
    pub email: String,
    pub password: String,
}

impl Dbx {
    fn env(&self, config_dir: &Path) -> Vec<(String, String)> {
        vec![
            (
                "DBX_CONFIG_DIR".to_string(),
                config_dir.display().to_string(),
            ),
            ("DBX_SERVER".to_string(), self.server.clone()),
        ]
    }

    fn log(&self, name: &str) -> PathBuf {
        self.work.join(format!("dbx-{name}.log"))
    }

    /// `dbx login --password-stdin` into a fresh config dir.
    pub async fn login(&self, config_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(config_dir)?;
        let log = self.log("login");
        let ran = procs::run(CmdSpec {
            program: &self.bin,
            args: vec![
                "login".into(),
                "--server".into(),
                self.server.clone().into(),
                "--email".into(),
                self.email.clone().into(),
                "--password-stdin".into(),
            ],
            env: self.env(config_dir),
            stdin: Some(format!("{}\n", self.password)),
            log: &log,
            limit: Duration::from_secs(60),
            measure_rss: false,
        })
        .await?;
        if !ran.success {
            bail!("dbx login failed: {}", tail(&log, 2));
        }
        Ok(())
    }

    /// Runs `dbx ARGS` to its end; fails with the log's last lines when it fails.
    pub async fn run(
        &self,
        config_dir: &Path,
        what: &str,
        args: Vec<OsString>,
        measure_rss: bool,
    ) -> Result<procs::Ran> {
        let log = self.log(what);
        let ran = procs::run(CmdSpec {
            program: &self.bin,
            args,
            env: self.env(config_dir),
            stdin: None,
            log: &log,
            limit: TRANSFER_LIMIT,
            measure_rss,
        })
        .await?;
        if !ran.success {
            bail!("dbx {what} failed: {}", failure_lines(&log, 2));
        }
        Ok(ran)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BigReport {
    pub size_bytes: u64,
    pub push_mib_s: f64,
    pub pull_mib_s: f64,
    pub push_client_peak_mib: Option<f64>,
    pub pull_client_peak_mib: Option<f64>,
    pub push_server_peak_mib: Option<f64>,
    pub pull_server_peak_mib: Option<f64>,
    pub client_rss_method: &'static str,
}

/// Writes `size` bytes of generated content to `path`, a piece at a time.
pub fn write_generated(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut rng = Prng::new(seed);
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill(&mut buf[..n]);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.flush()?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct FilesReport {
    pub files: usize,
    pub file_size: usize,
    pub push_s: f64,
    pub push_files_per_s: f64,
    pub pull_s: f64,
    pub pull_files_per_s: f64,
    /// The same push and pull once more, with nothing to send: the time to find that out.
    pub repush_s: f64,
    pub repull_s: f64,
}

fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

/// `dbx push` of a tree of `files` files of `file_size` bytes (a thousand per folder),
/// then `dbx pull` of it into an empty folder.
pub async fn many_files(
    dbx: &Dbx,
    files: usize,
    file_size: usize,
    seed: u64,
) -> Result<FilesReport> {
    let config = dbx.work.join("config-files");
    dbx.login(&config).await?;
    let src = dbx.work.join("files-src");
    let dst = dbx.work.join("files-pulled");
    {
        let src = src.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut rng = Prng::new(seed);
            let mut buf = vec![0u8; file_size];
            for i in 0..files {
                let dir = src.join(format!("d{:02}", i / 1000));
                if i % 1000 == 0 {
                    std::fs::create_dir_all(&dir)?;
                }
                rng.fill(&mut buf);
                std::fs::write(dir.join(format!("f{i:05}.bin")), &buf)?;
            }
            Ok(())
        })
        .await??;
    }
    let push_args =
        || -> Vec<OsString> { vec!["push".into(), src.clone().into(), "/bench-files".into()] };
    let pull_args =
        || -> Vec<OsString> { vec!["pull".into(), "/bench-files".into(), dst.clone().into()] };
    let push = dbx.run(&config, "push-files", push_args(), false).await?;
    let pull = dbx.run(&config, "pull-files", pull_args(), false).await?;
    let pulled = count_files(&dst);
    let repush = dbx.run(&config, "repush-files", push_args(), false).await?;
    let repull = dbx.run(&config, "repull-files", pull_args(), false).await?;
    let _ = std::fs::remove_dir_all(&src);
    let _ = std::fs::remove_dir_all(&dst);
    ensure!(
        pulled == files,
        "dbx pull brought {pulled} files of {files}"
    );
    Ok(FilesReport {
        files,
        file_size,
        push_s: push.took.as_secs_f64(),
        push_files_per_s: files as f64 / push.took.as_secs_f64().max(1e-9),
        pull_s: pull.took.as_secs_f64(),
        pull_files_per_s: files as f64 / pull.took.as_secs_f64().max(1e-9),
        repush_s: repush.took.as_secs_f64(),
        repull_s: repull.took.as_secs_f64(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub changes: usize,
    pub propagated: usize,
    pub lost: usize,
    pub median_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub max_s: Option<f64>,
    /// Set when the phase stopped early.
    pub gave_up: Option<String>,
}

/// A `dbx sync --watch` daemon, stopped when dropped.
struct Daemon {
    child: Child,
}

impl Daemon {
    async fn start(
        dbx: &Dbx,
        name: &str,
        dir: &Path,
        config: &Path,
        remote: &str,
    ) -> Result<Daemon> {
        let log = dbx.log(&format!("sync-{name}"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&dbx.bin);
        cmd.arg("sync")
            .arg(dir)
            .arg("--remote")
            .arg(remote)
            .arg("--watch");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DBX_") {
                cmd.env_remove(key);
            }
        }
        for (k, v) in dbx.env(config) {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .context("cannot start dbx sync --watch")?;
        Ok(Daemon { child })
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        if timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// Writes `content` to `dir/name` in one step (a rename from a folder outside the synced
/// one), as editors save.
fn write_atomically(staging: &Path, dir: &Path, name: &str, content: &[u8]) -> Result<()> {
    let tmp = staging.join(name);
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// Waits until `path` holds `content`; the time it took, or `None` after `limit`.
async fn wait_for(
    path: &Path,
    content: &[u8],
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    wait_until(since, limit, || {
        std::fs::read(path).is_ok_and(|c| c == content)
    })
    .await
}

/// Two daemons on two folders and two config dirs of the same user; `changes` files written
/// in one (every other one a new version of the file before) must appear in the other.
pub async fn propagation(dbx: &Dbx, api: &Api, changes: usize, seed: u64) -> Result<SyncReport> {
    let (dir_a, dir_b) = (dbx.work.join("sync-a"), dbx.work.join("sync-b"));
    let (cfg_a, cfg_b) = (
        dbx.work.join("config-sync-a"),
        dbx.work.join("config-sync-b"),
    );
    let staging = dbx.work.join("sync-staging");
    for d in [&dir_a, &dir_b, &staging] {
        std::fs::create_dir_all(d)?;
    }
    dbx.login(&cfg_a).await?;
    dbx.login(&cfg_b).await?;
    // The synced remote folder; a 409 (already there) is fine.
    let _ = api.create_folder(None, "bench-sync").await;

    let mut a = Daemon::start(dbx, "a", &dir_a, &cfg_a, "/bench-sync").await?;
    let mut b = Daemon::start(dbx, "b", &dir_b, &cfg_b, "/bench-sync").await?;
    let result =
        measure_propagation(dbx, &mut a, &mut b, &dir_a, &dir_b, &staging, changes, seed).await;
    a.stop().await;
    b.stop().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure_propagation(
    dbx: &Dbx,
    a: &mut Daemon,
    b: &mut Daemon,
    dir_a: &Path,
    dir_b: &Path,
    staging: &Path,
    changes: usize,
    seed: u64,
) -> Result<SyncReport> {
    let mut rng = Prng::new(seed);
    let probe = format!("probe {}\n", rng.next_u64());
    write_atomically(staging, dir_a, "probe.txt", probe.as_bytes())?;
    let first = wait_for(
        &dir_b.join("probe.txt"),
        probe.as_bytes(),
        Instant::now(),
        FIRST_SYNC_LIMIT,
    )
    .await;
    if a.exited() || b.exited() {
        bail!(
            "a dbx sync --watch daemon exited: {}",
            tail(&dbx.log("sync-a"), 2)
        );
    }
    if first.is_none() {
        bail!(
            "a first file did not reach the second folder within {} s (log: {})",
            FIRST_SYNC_LIMIT.as_secs(),
            tail(&dbx.log("sync-b"), 2)
        );
    }

    let mut took = Vec::with_capacity(changes);
    let mut lost = 0;
    let mut lost_in_a_row = 0;
    let mut gave_up = None;
    for i in 0..changes {
        tokio::time::sleep(SETTLE).await;
        // Even changes create a file, odd ones write a new version of it.
        let name = format!("change-{:03}.txt", i - i % 2);
        let mut content = format!("change {i} {:016x}\n", rng.next_u64()).into_bytes();
        content.resize(content.len() + 1000, b'.');
        write_atomically(staging, dir_a, &name, &content)?;
        let started = Instant::now();
        match wait_for(&dir_b.join(&name), &content, started, CHANGE_LIMIT).await {
            Some(d) => {
                took.push(d.as_secs_f64());
                lost_in_a_row = 0;
            }
            None => {
                lost += 1;
                lost_in_a_row += 1;
                if lost_in_a_row >= MAX_LOST_IN_A_ROW {
                    gave_up = Some(format!(
                        "stopped after {MAX_LOST_IN_A_ROW} changes in a row did not arrive within {} s",
                        CHANGE_LIMIT.as_secs()
                    ));
                    break;
                }
            }
        }
    }
    Ok(SyncReport {
        changes,
        propagated: took.len(),
        lost,
        median_s: percentile(&took, 0.5),
        p95_s: percentile(&took, 0.95),
        max_s: max(&took),
        gave_up,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RenameReport {
    pub files: usize,
    /// From the rename in one folder until the other shows every file at the new path
    /// and nothing at the old one.
    pub took_s: Option<f64>,
    /// Whether the other folder's files kept their inodes (renamed, not downloaded).
    pub same_files: bool,
    /// Set when the phase stopped early.
    pub gave_up: Option<String>,
}

/// How long a folder rename may take to appear before the phase gives up.
const RENAME_LIMIT: Duration = Duration::from_secs(60);
/// How long the daemons may take to pass the folder before it is renamed.
const RENAME_SETUP_LIMIT: Duration = Duration::from_secs(600);

/// Inodes of the files directly in `dir`, by name.
fn inodes(dir: &Path) -> Vec<(OsString, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<(OsString, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name(), e.metadata().ok()?.ino())))
        .collect();
    out.sort();
    out
}

/// Polls until `done` holds; the time it took, or `None` after `limit`.
async fn wait_until(
    since: Instant,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> Option<Duration> {
    loop {
        if done() {
            return Some(since.elapsed());
        }
        if since.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Two daemons on two folders of the same user; a folder of `files` small files made in
/// one reaches the other, then is renamed there: the time until the other folder shows
/// the rename.
pub async fn folder_rename(dbx: &Dbx, api: &Api, files: usize, seed: u64) -> Result<RenameReport> {
    let (dir_a, dir_b) = (dbx.work.join("rename-a"), dbx.work.join("rename-b"));
    let (cfg_a, cfg_b) = (
        dbx.work.join("config-rename-a"),
        dbx.work.join("config-rename-b"),
    );
    let mut rng = Prng::new(seed);
    let album = dir_a.join("album");
    std::fs::create_dir_all(&album)?;
    std::fs::create_dir_all(&dir_b)?;
    for i in 0..files {
        let content = format!("photo {i} {:016x}\n", rng.next_u64());
        std::fs::write(album.join(format!("p{i:05}.txt")), content)?;
    }
    dbx.login(&cfg_a).await?;
    dbx.login(&cfg_b).await?;
    let _ = api.create_folder(None, "bench-rename").await;

    let mut a = Daemon::start(dbx, "rename-a", &dir_a, &cfg_a, "/bench-rename").await?;
    let mut b = Daemon::start(dbx, "rename-b", &dir_b, &cfg_b, "/bench-rename").await?;
    let result = measure_rename(dbx, &mut a, &mut b, &dir_a, &dir_b, files).await;
    a.stop().await;
    b.stop().await;
    result
}

async fn measure_rename(
    dbx: &Dbx,
    a: &mut Daemon,
    b: &mut Daemon,
    dir_a: &Path,
    dir_b: &Path,
    files: usize,
) -> Result<RenameReport> {
    let (old, new) = (dir_b.join("album"), dir_b.join("album-renamed"));
    let arrived = wait_until(Instant::now(), RENAME_SETUP_LIMIT, || {
        count_files(&old) == files
    })
    .await;
    if a.exited() || b.exited() {
        bail!(
            "a dbx sync --watch daemon exited: {}",
            tail(&dbx.log("sync-rename-a"), 2)
        );
    }
    if arrived.is_none() {
        bail!(
            "the folder of {files} files did not reach the second folder within {} s (log: {})",
            RENAME_SETUP_LIMIT.as_secs(),
            tail(&dbx.log("sync-rename-b"), 2)
        );
    }
    // Both daemons idle before the rename.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = inodes(&old);
    std::fs::rename(dir_a.join("album"), dir_a.join("album-renamed"))?;
    let took = wait_until(Instant::now(), RENAME_LIMIT, || {
        !old.exists() && count_files(&new) == files
    })
    .await;
    Ok(RenameReport {
        files,
        took_s: took.map(|d| d.as_secs_f64()),
        same_files: took.is_some() && inodes(&new) == before,
        gave_up: took.is_none().then(|| {
            format!(
                "the rename did not reach the other folder within {} s",
                RENAME_LIMIT.as_secs()
            )
        }),
    })
}
