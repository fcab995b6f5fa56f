//! The local side of a pass: walks the synced folder into a snapshot. A file whose size,
//! modification time, inode and change time still match the base, and that did not change
//! in the last seconds, keeps the base's hash; other files are read and hashed. Files
//! still being written (they changed between two looks about a second apart) are busy and
//! left out of this pass. What cannot be synced as it is (unreadable, a symbolic link or
//! other special file, a name that is not UTF-8 or not NFC, two names that differ only in
//! case or Unicode form) is skipped: reported, and left out of the pass on both sides, so
//! its server side is never taken for deleted locally. Ignored: `.dbx/`, editor and OS
//! litter (`*.tmp`, `~$*`, `.~*`, `*.swp`, `.DS_Store`), and the gitignore-style patterns
//! of the root's `.dbxignore`.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use dbx_shared::names::{name_key, normalize_name};
use dbx_shared::ContentHasher;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::planner::{FileMeta, Node, RelPath, Snapshot};
use super::state::STATE_DIR;

/// Patterns that are never synced, whatever `.dbxignore` says.
const BUILTIN: &[&str] = &["*.tmp", "~$*", ".~*", "*.swp", ".DS_Store", ".dbx-*.part"];

/// The file of extra patterns, at the root of the synced folder.
pub const IGNORE_FILE: &str = ".dbxignore";

/// How long a file must keep its size and time before it is uploaded. Long enough to see a
/// write that lands in the same timestamp tick as the walk (the kernel's file times move
/// in coarse ticks of a few milliseconds), short enough not to hold up propagation. A
/// writer that pauses for longer gets its partial file uploaded and then the whole one,
/// as the next pass sees a new size or time: never a torn file recorded as synced.
pub const SETTLE: Duration = Duration::from_millis(250);

/// More than one tick of the kernel's coarse file clock.
const TICK: Duration = Duration::from_millis(20);

/// Which relative paths are not synced.
pub struct Ignore {
    matcher: Gitignore,
}

impl Ignore {
    /// The built-in patterns plus those of `root/.dbxignore`, if there is one.
    pub fn load(root: &Path) -> anyhow::Result<Ignore> {
        let mut b = GitignoreBuilder::new(root);
        for p in BUILTIN {
            b.add_line(None, p)?;
        }
        let file = root.join(IGNORE_FILE);
        if file.is_file() {
            if let Some(e) = b.add(&file) {
                return Err(e).with_context(|| format!("reading {}", file.display()));
            }
        }
        let matcher = b.build()?;
        Ok(Ignore { matcher })
    }

    /// Whether `rel` (or a folder above it) is ignored.
    pub fn is_ignored(&self, rel: &str, is_dir: bool) -> bool {
        rel == STATE_DIR
            || rel.starts_with(".dbx/")
            || self
                .matcher
                .matched_path_or_any_parents(rel, is_dir)
                .is_ignore()
    }

    /// Drops ignored paths from a snapshot (the server's, or the base).
    pub fn filter(&self, snap: &mut Snapshot) {
        snap.entries
            .retain(|p, n| !self.is_ignored(p, n.is_folder()));
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Scan {
    pub snapshot: Snapshot,
    /// Files changing right now: left alone this pass, looked at again soon.
    pub busy: BTreeSet<RelPath>,
    /// Paths (with everything below) that cannot be synced as they are: left alone on
    /// both sides until they change.
    pub skipped: BTreeSet<RelPath>,
    /// Entries that cannot be synced, one line each (bad names, links, unreadable).
    pub problems: Vec<String>,
}

impl Scan {
    fn skip(&mut self, rel: RelPath, why: String) {
        self.problems.push(why);
        self.skipped.insert(rel);
    }
}

/// Walks `root`, waiting up to `settle` for a second look at files that changed very
/// recently. Blocking: run it on a blocking thread.
pub fn scan(
    root: &Path,
    base: &Snapshot,
    ignore: &Ignore,
    settle: Duration,
) -> anyhow::Result<Scan> {
    let first_look = SystemTime::now();
    let mut out = Scan::default();
    // Files hashed this time whose last change is recent: looked at again below.
    let mut fresh: Vec<(RelPath, PathBuf, u64, i64)> = Vec::new();
    let mut stack: Vec<(RelPath, PathBuf)> = vec![(String::new(), root.to_path_buf())];
    while let Some((rel_dir, dir)) = stack.pop() {
        let listed = std::fs::read_dir(&dir).and_then(|d| d.collect::<Result<Vec<_>, _>>());
        let mut entries = match listed {
            Ok(e) => e,
            Err(e) if rel_dir.is_empty() => {
                return Err(e).with_context(|| format!("reading {}", dir.display()))
            }
            Err(e) => {
                // Unreadable: leave whatever is below it out of this pass.
                out.snapshot.remove(&rel_dir);
                out.skip(rel_dir, format!("{}: {e}; not synced", dir.display()));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        // Names the server takes as the same (case, Unicode form): only the first syncs.
        let mut keys = HashSet::new();
        for entry in entries {
            let path = entry.path();
            let rel_of = |name: &str| {
                if rel_dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel_dir}/{name}")
                }
            };
            let name = match checked_name(&entry.file_name()) {
                Ok(n) => n,
                Err((why, normalized)) => {
                    let why = format!("{}: {why}, not synced", path.display());
                    match normalized {
                        // Its server side (under the NFC name) is left alone too.
                        Some(n) => out.skip(rel_of(&n), why),
                        None => out.problems.push(why),
                    }
                    continue;
                }
            };
            let rel = rel_of(&name);
            let meta = match path.symlink_metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // gone since
                Err(e) => {
                    out.skip(rel, format!("{}: {e}; not synced", path.display()));
                    continue;
                }
            };
            if ignore.is_ignored(&rel, meta.is_dir()) {
                continue;
            }
            if !keys.insert(name_key(&name)) {
                out.skip(
                    rel,
                    format!(
                        "{}: another name in this folder differs from it only by case or \
                         Unicode form; not synced",
                        path.display()
                    ),
                );
                continue;
            }
            if meta.is_dir() {
                out.snapshot.insert(
                    rel.clone(),
                    Node::Folder {
                        id: None,
                        ino: Some(identity(&meta)),
                    },
                );
                stack.push((rel, path));
                continue;
            }
            if !meta.is_file() {
                let what = if meta.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a regular file"
                };
                out.skip(rel, format!("{}: {what}, not synced", path.display()));
                continue;
            }
            let (size, mtime, ckey) = (meta.len(), mtime_of(&meta), change_key(&meta));
            // Changed in the last seconds: a second write in the same clock tick would
            // keep every stamp, so only the content tells.
            let racy = recent(mtime.max(ctime_of(&meta)), first_look);
            if let Some(Node::File(b)) = base.get(&rel) {
                if !racy
                    && b.size == size
                    && b.mtime == Some(mtime)
                    && b.ckey.as_deref().is_some_and(|k| same_change_key(k, &ckey))
                {
                    out.snapshot
                        .insert(rel, Node::File(local_meta(&b.hash, size, mtime, ckey)));
                    continue;
                }
            }
            match hash_file(&path) {
                Ok(hash) => {
                    let again = path.symlink_metadata().ok();
                    if again.as_ref().map(|m| (m.len(), mtime_of(m))) != Some((size, mtime)) {
                        out.busy.insert(rel);
                        continue;
                    }
                    if racy {
                        fresh.push((rel.clone(), path, size, mtime));
                    }
                    out.snapshot
                        .insert(rel, Node::File(local_meta(&hash, size, mtime, ckey)));
                }
                Err(e) => out.skip(rel, format!("{}: {e}; not synced", path.display())),
            }
        }
    }
    settle_files(&mut out, fresh, settle);
    Ok(out)
}

/// The second look at recently changed files, once the newest of them has kept its time
/// for `settle` (and at least a clock tick after it was read).
fn settle_files(out: &mut Scan, fresh: Vec<(RelPath, PathBuf, u64, i64)>, settle: Duration) {
    let Some(newest) = fresh.iter().map(|f| f.3).max() else {
        return;
    };
    let now = SystemTime::now();
    let age = Duration::from_nanos(u64::try_from(nanos_since_epoch(now) - newest).unwrap_or(0));
    std::thread::sleep(settle.saturating_sub(age).max(TICK.min(settle)));
    for (rel, path, size, mtime) in fresh {
        let now = path
            .symlink_metadata()
            .ok()
            .map(|m| (m.len(), mtime_of(&m)));
        if now != Some((size, mtime)) {
            out.snapshot.remove(&rel);
            out.busy.insert(rel);
        }
    }
}

/// Whether a file changed so shortly before the walk that it may still be written.
fn recent(mtime: i64, first_look: SystemTime) -> bool {
    nanos_since_epoch(first_look) - mtime < 2 * SETTLE.as_nanos() as i64
}

fn nanos_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn local_meta(hash: &str, size: u64, mtime: i64, ckey: String) -> FileMeta {
    FileMeta {
        hash: hash.to_string(),
        size,
        id: None,
        version: None,
        mtime: Some(mtime),
        ckey: Some(ckey),
    }
}

/// The inode, change time and device: what `cp -p`, `rsync -a` and `tar -x` cannot set
/// back, and what follows a file through a rename (see `FileMeta::ino`).
pub fn change_key(meta: &std::fs::Metadata) -> String {
    format!("{}:{}:{}", meta.ino(), ctime_of(meta), meta.dev())
}

/// Whether a stored change key matches one read now. A key stored by an older client has
/// no device: its inode and change time must match.
fn same_change_key(stored: &str, now: &str) -> bool {
    stored == now
        || (stored.matches(':').count() == 1
            && now.rsplit_once(':').is_some_and(|(head, _)| head == stored))
}

/// A file's or folder's `"<inode>:<device>"`, which a rename keeps.
pub fn identity(meta: &std::fs::Metadata) -> String {
    format!("{}:{}", meta.ino(), meta.dev())
}

fn ctime_of(meta: &std::fs::Metadata) -> i64 {
    meta.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.ctime_nsec())
}

/// A name the server accepts as it is; otherwise why not, with its NFC form when it is
/// valid UTF-8 that only is not in NFC (macOS hands back NFD names).
fn checked_name(name: &std::ffi::OsStr) -> Result<String, (String, Option<String>)> {
    let Some(s) = name.to_str() else {
        return Err(("the name is not UTF-8".into(), None));
    };
    match normalize_name(s) {
        Ok(n) if n == s => Ok(n),
        Ok(n) => Err(("the name is not in Unicode NFC form".into(), Some(n))),
        Err(e) => Err((e.to_string(), None)),
    }
}

/// Modification time in nanoseconds since the epoch.
pub fn mtime_of(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The content hash of a file, read in pieces.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, data: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    fn keys(s: &Scan) -> Vec<&str> {
        s.snapshot.entries.keys().map(String::as_str).collect()
    }

    #[test]
    fn walks_files_and_folders_and_skips_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "a");
        write(root, "d/b.txt", "b");
        write(root, "d/x.tmp", "t");
        write(root, "d/~$doc.docx", "t");
        write(root, ".~lock.odt#", "t");
        write(root, "e.swp", "t");
        write(root, ".DS_Store", "t");
        write(root, ".dbx/state.sqlite", "t");
        write(root, "build/out.o", "t");
        write(root, "logs/keep.log", "t");
        write(root, ".dbxignore", "build/\n*.log\n");
        let ign = Ignore::load(root).unwrap();
        let s = scan(root, &Snapshot::default(), &ign, SETTLE).unwrap();
        assert_eq!(keys(&s), [".dbxignore", "a.txt", "d", "d/b.txt", "logs"]);
        let Some(Node::File(f)) = s.snapshot.get("a.txt") else {
            panic!("a.txt is a file");
        };
        assert_eq!(f.hash, dbx_shared::content_hash::content_hash(b"a"));
        assert!(ign.is_ignored("build/deeper/x", false));
        assert!(!ign.is_ignored("d/b.txt", false));
    }

    #[test]
    fn unchanged_files_keep_the_base_hash_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "abc");
        let meta = fs::metadata(root.join("a.txt")).unwrap();
        let mut base = Snapshot::default();
        base.insert(
            "a.txt",
            Node::File(local_meta(
                "from-base",
                3,
                mtime_of(&meta),
                change_key(&meta),
            )),
        );
        let ign = Ignore::load(root).unwrap();
        let hash = |s: &Scan| {
            s.snapshot
                .get("a.txt")
                .and_then(Node::file)
                .unwrap()
                .hash
                .clone()
        };
        // Just written: a second write in the same clock tick would keep every stamp, so
        // it is read anyway.
        assert_ne!(hash(&scan(root, &base, &ign, SETTLE).unwrap()), "from-base");
        std::thread::sleep(2 * SETTLE + Duration::from_millis(100));
        assert_eq!(hash(&scan(root, &base, &ign, SETTLE).unwrap()), "from-base");

        // Same size and modification time, as `cp -p` or `rsync -a` leave it: the change
        // time tells, and it is hashed again.
        let p = root.join("a.txt");
        fs::write(&p, "xyz").unwrap();
        fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(meta.modified().unwrap())
            .unwrap();
        let now = fs::metadata(&p).unwrap();
        assert_eq!((now.len(), mtime_of(&now)), (3, mtime_of(&meta)));
        std::thread::sleep(2 * SETTLE + Duration::from_millis(100));
        assert_eq!(
            hash(&scan(root, &base, &ign, SETTLE).unwrap()),
            dbx_shared::content_hash::content_hash(b"xyz")
        );

        // A different size is a change: hashed again.
        write(root, "a.txt", "abcd");
        let s = scan(root, &base, &ign, SETTLE).unwrap();
        assert_ne!(
            s.snapshot.get("a.txt").and_then(Node::file).unwrap().hash,
            "from-base"
        );
    }

    #[test]
    fn identities_follow_a_rename_and_old_change_keys_still_match() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "d/a.txt", "abc");
        let ign = Ignore::load(root).unwrap();
        let before = scan(root, &Snapshot::default(), &ign, Duration::ZERO).unwrap();
        fs::rename(root.join("d"), root.join("e")).unwrap();
        let after = scan(root, &Snapshot::default(), &ign, Duration::ZERO).unwrap();
        let ino = |s: &Scan, p: &str| s.snapshot.get(p).and_then(Node::ino);
        assert!(ino(&before, "d").is_some() && ino(&before, "d/a.txt").is_some());
        assert_eq!(ino(&before, "d"), ino(&after, "e"));
        assert_eq!(ino(&before, "d/a.txt"), ino(&after, "e/a.txt"));
        assert_ne!(ino(&after, "e"), ino(&after, "e/a.txt"));
        // A key stored by an older client (no device) matches on inode and change time.
        assert!(same_change_key("12:345", "12:345:66"));
        assert!(same_change_key("12:345:66", "12:345:66"));
        assert!(!same_change_key("12:346", "12:345:66"));
        assert!(!same_change_key("12:345:65", "12:345:66"));
    }

    #[test]
    fn a_file_being_written_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "big.bin", "start");
        let path = root.join("big.bin");
        let writer = std::thread::spawn(move || {
            for i in 0..30 {
                std::thread::sleep(Duration::from_millis(50));
                let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, format!("{i}").as_bytes()).unwrap();
            }
        });
        let ign = Ignore::load(&root).unwrap();
        let s = scan(&root, &Snapshot::default(), &ign, SETTLE).unwrap();
        writer.join().unwrap();
        assert!(s.busy.contains("big.bin"), "{s:?}");
        assert!(s.snapshot.get("big.bin").is_none());
        // Once it stops changing it is there.
        std::thread::sleep(Duration::from_millis(50));
        let s = scan(&root, &Snapshot::default(), &ign, SETTLE).unwrap();
        assert!(s.snapshot.get("big.bin").is_some());
    }
}
