//! One two-way pass: pull the server's changes into the mirror, scan the local folder,
//! plan, and apply the ops one by one, recording the base after each. Also what `dbx
//! status` shows: the same plan, without talking to the server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};

use super::apply::{Applier, Outcome};
use super::delta;
use super::planner::{mass_delete, plan, Op, Snapshot};
use super::scan::{scan, Ignore, Scan};
use super::state::{State, Table};
use crate::api::{Api, ClientError};
use crate::remote::{ensure_folder, RemotePath};

/// State keys.
pub const REMOTE_ROOT: &str = "remote_root";
pub const SERVER: &str = "server";
pub const DEVICE: &str = "device";
pub const LAST_SYNC: &str = "last_sync";

/// Settings of a sync.
pub struct Options {
    pub root: PathBuf,
    /// `--remote`; `None`: the one used before, else `/`.
    pub remote: Option<RemotePath>,
    /// `--device`; `None`: the one used before, else the host name.
    pub device: Option<String>,
    pub allow_mass_delete: bool,
    pub quiet: bool,
}

/// What one pass did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub applied: usize,
    pub skipped: usize,
    pub failed: usize,
    pub busy: usize,
}

/// A synced folder with its state and a server connection.
pub struct Engine {
    api: Arc<Api>,
    state: State,
    root: PathBuf,
    remote_root: RemotePath,
    device: String,
    allow_mass_delete: bool,
    quiet: bool,
    _lock: FolderLock,
}

impl Engine {
    /// Opens the folder's state (making the folder if needed), checks that it syncs with
    /// this server and remote folder, and makes the remote folder if it is missing.
    pub async fn open(api: Arc<Api>, opts: Options) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(&opts.root)
            .with_context(|| format!("creating {}", opts.root.display()))?;
        let root = opts.root.canonicalize()?;
        let state = State::open(&root)?;
        let lock = FolderLock::take(state.dir())?;
        // Left by a run that was killed mid-download.
        let _ = std::fs::remove_dir_all(state.dir().join("tmp"));
        match state.get(SERVER)? {
            Some(s) if s != api.base() => bail!(
                "{} is synced with {s}, not {}; use another folder",
                root.display(),
                api.base()
            ),
            _ => state.set(SERVER, api.base())?,
        }
        let stored = state.get(REMOTE_ROOT)?;
        let remote_root = match (&opts.remote, &stored) {
            (Some(r), Some(s)) if !r.to_string().eq_ignore_ascii_case(s) => bail!(
                "{} is synced with the remote folder {s}, not {r}; use another local folder",
                root.display()
            ),
            (Some(r), _) => r.clone(),
            (None, Some(s)) => RemotePath::parse(s).map_err(anyhow::Error::msg)?,
            (None, None) => RemotePath::root(),
        };
        if !remote_root.is_root() {
            ensure_folder(&api, &remote_root).await?;
            // Use the server's spelling of the names (they match case-insensitively).
            if let Some(e) = api.entry_at(&remote_root.to_string()).await? {
                let spelled = RemotePath::parse(e.path()).map_err(anyhow::Error::msg)?;
                if stored.is_some() && stored.as_deref() != Some(e.path()) {
                    state.reset_remote()?;
                }
                state.set(REMOTE_ROOT, e.path())?;
                return Self::finish_open(api, state, lock, root, spelled, opts).await;
            }
        }
        state.set(REMOTE_ROOT, &remote_root.to_string())?;
        Self::finish_open(api, state, lock, root, remote_root, opts).await
    }

    async fn finish_open(
        api: Arc<Api>,
        state: State,
        lock: FolderLock,
        root: PathBuf,
        remote_root: RemotePath,
        opts: Options,
    ) -> anyhow::Result<Engine> {
        let device = match (opts.device, state.get(DEVICE)?) {
            (Some(d), _) => d,
            (None, Some(d)) => d,
            (None, None) => host_name(),
        };
        // It becomes part of file names.
        let device = device.replace(['/', '\0'], "-");
        state.set(DEVICE, &device)?;
        Ok(Engine {
            api,
            state,
            _lock: lock,
            root,
            remote_root,
            device,
            allow_mass_delete: opts.allow_mass_delete,
            quiet: opts.quiet,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    pub fn cursor(&self) -> anyhow::Result<Option<String>> {
        self.state.get(delta::CURSOR)
    }

    /// One pass. Stops between two ops once `stop` is set.
    pub async fn pass(&mut self, stop: &AtomicBool) -> anyhow::Result<Report> {
        delta::pull(&self.api, &mut self.state, &self.remote_root.to_string()).await?;
        let (ops, scan) = prepare(&self.state, &self.root).await?;
        for p in &scan.problems {
            eprintln!("warning: {p}");
        }
        let base = self.state.load(Table::Base)?;
        if let Some(m) = mass_delete(&ops, &base) {
            if !self.allow_mass_delete {
                bail!(
                    "this pass would delete {} of {} files; nothing was changed. If that is \
                     what you want, run again with --allow-mass-delete",
                    m.deletes,
                    m.files
                );
            }
        }
        let mut report = Report {
            busy: scan.busy.len(),
            ..Report::default()
        };
        let applier = Applier {
            api: &self.api,
            state: &self.state,
            root: &self.root,
            remote_root: &self.remote_root,
            device: &self.device,
        };
        for op in &ops {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            match applier.apply(op).await {
                Ok(Outcome::Applied(line)) => {
                    if let Some(line) = line {
                        report.applied += 1;
                        if !self.quiet {
                            eprintln!("{line}");
                        }
                    }
                }
                Ok(Outcome::Skipped(why)) => {
                    report.skipped += 1;
                    if !self.quiet {
                        eprintln!("skipped {}: {why}; retried next pass", op.path());
                    }
                }
                // The server is gone or the session is: no point going on.
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => {
                    report.failed += 1;
                    eprintln!("error: {}: {e:#}", op.path());
                }
            }
        }
        if report.failed == 0 && !stop.load(Ordering::SeqCst) {
            self.state
                .set(LAST_SYNC, &chrono::Utc::now().to_rfc3339())?;
        }
        Ok(report)
    }
}

/// Whether an error ends the pass rather than just its op.
pub fn is_fatal(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<ClientError>(),
            Some(ClientError::NotLoggedIn | ClientError::Unreachable { .. })
        )
    })
}

/// Scans the folder and plans against the stored mirror and base. Ignored and busy
/// paths are left out of all three snapshots, so they are neither sent, fetched nor
/// taken for deleted.
pub async fn prepare(state: &State, root: &Path) -> anyhow::Result<(Vec<Op>, Scan)> {
    let ignore = Ignore::load(root)?;
    let mut base = state.load(Table::Base)?;
    let mut remote = state.load(Table::Remote)?;
    ignore.filter(&mut base);
    ignore.filter(&mut remote);
    let (root_buf, base_copy) = (root.to_path_buf(), base.clone());
    let (scan, _ignore) = tokio::task::spawn_blocking(move || {
        let s = scan(&root_buf, &base_copy, &ignore);
        (s, ignore)
    })
    .await
    .context("the scanning thread failed")?;
    let mut scan = scan?;
    for p in &scan.busy {
        for snap in [&mut scan.snapshot, &mut remote, &mut base] {
            drop_tree(snap, p);
        }
    }
    let ops = plan(&scan.snapshot, &remote, &base);
    Ok((ops, scan))
}

fn drop_tree(snap: &mut Snapshot, path: &str) {
    if path.is_empty() {
        snap.entries.clear();
    } else {
        snap.remove_tree(path);
    }
}

/// This machine's name, for conflicted copies.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this device".to_string())
}

/// One sync at a time per folder: `.dbx/lock` holds the pid of the process syncing it,
/// and is removed when that process is done. A lock whose process is gone is taken over.
struct FolderLock {
    path: PathBuf,
}

impl FolderLock {
    fn take(state_dir: &Path) -> anyhow::Result<FolderLock> {
        use std::io::Write;
        let path = state_dir.join("lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id())?;
                    return Ok(FolderLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let pid = pid.trim();
                    if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
                        bail!(
                            "another dbx sync (pid {pid}) is syncing this folder; if there is \
                             none, remove {}",
                            path.display()
                        );
                    }
                    // Its process is gone: the lock is stale.
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        bail!("cannot take the lock {}", path.display())
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
