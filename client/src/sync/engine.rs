//! One two-way pass: pull the server's changes into the mirror, scan the local folder,
//! plan, and apply the ops one by one, recording the base after each. Also what `dbx
//! status` shows: the same plan, without talking to the server.
//!
//! A folder's state belongs to one server URL and one account: another account at the
//! same URL is taken as a server whose history changed (everything known about the
//! server is forgotten, and the pass merges as a first sync). One sync per folder, by an
//! OS lock on `.dbx/lock` that the kernel drops when the process ends, however it ends.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::apply::{now_s, Applier, Outcome};
use super::delta;
use super::guard::MassDeleteGuard;
use super::planner::{plan, Node, Op, Snapshot};
use super::scan::{scan, Ignore, Scan, SETTLE};
use super::snapshot::at_or_below;
use super::state::{State, Table};
use super::trash;
use crate::api::{Api, ClientError};
use crate::remote::{ensure_folder, RemotePath};

/// State keys.
pub const REMOTE_ROOT: &str = "remote_root";
pub const SERVER: &str = "server";
pub const ACCOUNT: &str = "account";
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
    /// How long the scan waits to see whether a just-changed file is still being written.
    pub settle: Duration,
}

impl Options {
    pub fn new(root: PathBuf) -> Options {
        Options {
            root,
            remote: None,
            device: None,
            allow_mass_delete: false,
            quiet: false,
            settle: SETTLE,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub applied: usize,
    pub skipped: usize,
    pub failed: usize,
    pub busy: usize,
    /// Paths left alone because they cannot be synced as they are.
    pub unsyncable: usize,
}

/// A synced folder with its state and a server connection.
pub struct Engine {
    api: Arc<Api>,
    state: State,
    root: PathBuf,
    remote_root: RemotePath,
    device: String,
    /// Approves the deletions pending now, once (`--allow-mass-delete`).
    allow_mass_delete: bool,
    quiet: bool,
    settle: Duration,
    /// Lines already shown: each problem is reported once, not every pass.
    reported: HashSet<String>,
    /// Tests: the pass stops after this many ops, as if the process died there.
    #[cfg(test)]
    pub(crate) op_budget: Option<usize>,
    _lock: FolderLock,
}

impl Engine {
    /// Opens the folder's state (making the folder if needed), checks that it syncs with
    /// this server and remote folder, and makes the remote folder if it is missing.
    pub async fn open(api: Arc<Api>, opts: Options) -> anyhow::Result<Engine> {
        std::fs::create_dir_all(&opts.root)
            .with_context(|| format!("creating {}", opts.root.display()))?;
        let root = opts.root.canonicalize()?;
        let lock = FolderLock::take(&root.join(super::state::STATE_DIR))?;
        let state = State::open(&root)?;
        // Left by a run that was killed mid-download.
        let _ = std::fs::remove_dir_all(state.dir().join("tmp"));
        trash::purge(state.dir());
        match state.get(SERVER)? {
            Some(s) if s != api.base() => bail!(
                "{} is synced with {s}, not {}; use another folder",
                root.display(),
                api.base()
            ),
            _ => state.set(SERVER, api.base())?,
        }
        if let Some(account) = api.user_id().await {
            match state.get(ACCOUNT)? {
                Some(a) if a == account => {}
                previous => {
                    if previous.is_some() {
                        eprintln!(
                            "warning: {} was synced with another account; merging both sides \
                             as on a first sync (nothing is deleted)",
                            root.display()
                        );
                    }
                    // Unknown before (a state made by an older client) counts as another
                    // account too: the base cannot be trusted to be this account's.
                    if previous.is_some() || state.get(delta::CURSOR)?.is_some() {
                        state.forget_server()?;
                    }
                    state.set(ACCOUNT, &account)?;
                }
            }
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
            (None, None) => default_device(),
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
            settle: opts.settle,
            reported: HashSet::new(),
            #[cfg(test)]
            op_budget: None,
        })
    }

    /// Shows `line` on stderr unless it was shown before by this process.
    fn report_once(&mut self, line: String) {
        if self.reported.insert(line.clone()) {
            eprintln!("{line}");
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Approves the deletions the next pass plans, once (as `--allow-mass-delete`).
    #[cfg(test)]
    pub fn approve_mass_delete(&mut self) {
        self.allow_mass_delete = true;
    }

    #[cfg(test)]
    pub fn settle(&self) -> Duration {
        self.settle
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
        let pulled = delta::pull(&self.api, &mut self.state, &self.remote_root.to_string()).await?;
        if pulled.reset {
            // The guard's window counted files of a history that is gone.
            MassDeleteGuard::new(&self.state).restart()?;
        }
        let (ops, scan) = prepare(&self.state, &self.root, self.settle).await?;
        for p in &scan.problems {
            self.report_once(format!("warning: {p}"));
        }
        let guard = MassDeleteGuard::new(&self.state);
        if let Some(m) = guard.check(&ops, now_s())? {
            if !self.allow_mass_delete {
                bail!(
                    "this pass would bring the deletions of the last hour to {} of {} files; \
                     nothing was deleted. If that is what you want, run again with \
                     --allow-mass-delete",
                    m.deletes,
                    m.files
                );
            }
            // Approved once: these deletions, not every later one.
            self.allow_mass_delete = false;
            guard.restart()?;
        }
        let mut report = Report {
            busy: scan.busy.len(),
            unsyncable: scan.skipped.len(),
            ..Report::default()
        };
        let applier = Applier {
            api: &self.api,
            state: &self.state,
            root: &self.root,
            remote_root: &self.remote_root,
            device: &self.device,
        };
        let mut lines = Vec::new();
        let ops: &[Op] = &ops;
        #[cfg(test)]
        let ops = &ops[..self.op_budget.map_or(ops.len(), |b| b.min(ops.len()))];
        // The old and new paths of moves that did not happen: the ops planned below them
        // assumed they would, and wait for the next pass.
        let mut held: Vec<String> = Vec::new();
        for op in ops {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let below = |p: &str| held.iter().find(|h| at_or_below(p, h)).cloned();
            if let Some(h) = below(op.path()).or_else(|| op.moved_from().and_then(below)) {
                report.skipped += 1;
                lines.push(format!("skipped {}: waits for the move at {h}", op.path()));
                continue;
            }
            let outcome = applier.apply(op).await;
            if let (Some(from), false) =
                (op.moved_from(), matches!(outcome, Ok(Outcome::Applied(_))))
            {
                held.extend([from.to_string(), op.path().to_string()]);
            }
            match outcome {
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
                        lines.push(format!("skipped {}: {why}", op.path()));
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
        for line in lines {
            self.report_once(line);
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

/// Scans the folder and plans against the stored mirror and base. Ignored, busy and
/// unsyncable paths are left out of all three snapshots, so they are neither sent,
/// fetched nor taken for deleted.
pub async fn prepare(
    state: &State,
    root: &Path,
    settle: Duration,
) -> anyhow::Result<(Vec<Op>, Scan)> {
    let ignore = Ignore::load(root)?;
    let mut base = state.load(Table::Base)?;
    let mut remote = state.load(Table::Remote)?;
    ignore.filter(&mut base);
    ignore.filter(&mut remote);
    let (root_buf, base_copy) = (root.to_path_buf(), base.clone());
    let (scan, _ignore) = tokio::task::spawn_blocking(move || {
        let s = scan(&root_buf, &base_copy, &ignore, settle);
        (s, ignore)
    })
    .await
    .context("the scanning thread failed")?;
    let mut scan = scan?;
    case_collisions(&mut scan, &remote, &base);
    for p in scan.busy.iter().chain(&scan.skipped) {
        for snap in [&mut scan.snapshot, &mut remote, &mut base] {
            drop_tree(snap, p);
        }
    }
    let ops = plan(&scan.snapshot, &remote, &base);
    Ok((ops, scan))
}

/// A local path that the server spells differently (it matches names
/// case-insensitively): syncing either would touch the other, so both are left alone
/// until the user renames one. Only paths new or changed here, and the folders above
/// them, are checked: an unchanged path the plan deletes or follows. Not a collision: a
/// folder above a change whose server entry (the same id) was renamed there, which the
/// plan follows; nor a path renamed here from the server's spelling (the same inode),
/// which the plan moves on the server. A folder above a change whose server entry was
/// deleted, while another was made under the other spelling, is one: syncing the change
/// would put it into that other folder.
fn case_collisions(scan: &mut Scan, remote: &Snapshot, base: &Snapshot) {
    use std::collections::{HashMap, HashSet};
    let by_key: HashMap<String, &String> = remote
        .entries
        .keys()
        .map(|p| (dbx_shared::names::name_key(p), p))
        .collect();
    let mut checked: HashSet<&str> = HashSet::new();
    let mut found = Vec::new();
    for (p, node) in &scan.snapshot.entries {
        let unchanged = match (node, base.get(p)) {
            (Node::File(l), Some(Node::File(b))) => l.hash == b.hash,
            (Node::Folder { .. }, Some(Node::Folder { .. })) => true,
            _ => false,
        };
        if unchanged {
            continue;
        }
        let ancestors = std::iter::successors(p.rfind('/').map(|i| &p[..i]), |a| {
            a.rfind('/').map(|i| &a[..i])
        });
        for a in std::iter::once(p.as_str()).chain(ancestors) {
            // Its own ancestors were checked with it.
            if !checked.insert(a) {
                break;
            }
            // The server has it as spelled here, and so every folder above it.
            if remote.get(a).is_some() {
                break;
            }
            let Some(theirs) = by_key.get(&dbx_shared::names::name_key(a)) else {
                continue;
            };
            let mine = scan.snapshot.get(a);
            let renamed_there = a != p
                && base
                    .get(a)
                    .and_then(Node::id)
                    .is_some_and(|id| remote.get(theirs.as_str()).and_then(Node::id) == Some(id));
            let gone_here = scan.snapshot.get(theirs.as_str()).is_none()
                && !scan.skipped.contains(theirs.as_str())
                && !scan.busy.contains(theirs.as_str());
            let renamed_here = gone_here
                && mine.and_then(Node::ino).is_some()
                && base.get(theirs.as_str()).and_then(Node::ino) == mine.and_then(Node::ino);
            if !renamed_there && !renamed_here {
                found.push((a.to_string(), (*theirs).clone()));
            }
        }
    }
    // Folders before what is in them, so that a folder's collision covers its tree.
    found.sort();
    for (mine, theirs) in found {
        if scan
            .skipped
            .iter()
            .any(|s| mine.starts_with(&format!("{s}/")))
        {
            continue;
        }
        scan.problems.push(format!(
            "{mine}: the server has it as {theirs} (names that differ only in case or Unicode \
             form are the same name there); neither is synced until one is renamed"
        ));
        scan.skipped.insert(mine);
        scan.skipped.insert(theirs);
    }
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

/// The device name when none is given: the host name and four random hex digits, so that
/// two hosts with the same name (cloned machines, containers) still make different
/// conflicted copies. Kept in the folder's state once chosen.
pub fn default_device() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    format!("{} {:04x}", host_name(), n & 0xffff)
}

/// One sync at a time per folder: an exclusive OS lock (`flock`) on `.dbx/lock`. The
/// kernel releases it when the process ends, however it ends, so there is nothing stale
/// to clean up and no window between checking and taking it.
struct FolderLock {
    _file: std::fs::File,
}

impl FolderLock {
    fn take(state_dir: &Path) -> anyhow::Result<FolderLock> {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let path = state_dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(FolderLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another dbx sync is syncing {} already",
                state_dir.parent().unwrap_or(state_dir).display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}
