//! The local side of a pass: walks the synced folder into a snapshot. A file whose size
//! and modification time still match the base keeps the base's hash; only changed files
//! are read and hashed. Files still being written (they changed between two looks about a
//! second apart) are reported busy and left out of this pass. Ignored: `.dbx/`, editor and
//! OS litter (`*.tmp`, `~$*`, `.~*`, `*.swp`, `.DS_Store`), and the gitignore-style
//! patterns of the root's `.dbxignore`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use dbx_shared::ContentHasher;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::planner::{FileMeta, Node, RelPath, Snapshot};
use super::state::STATE_DIR;

/// Patterns that are never synced, whatever `.dbxignore` says.
const BUILTIN: &[&str] = &["*.tmp", "~$*", ".~*", "*.swp", ".DS_Store", ".dbx-*.part"];

/// The file of extra patterns, at the root of the synced folder.
pub const IGNORE_FILE: &str = ".dbxignore";

/// How long a file must keep its size and time before it is uploaded.
const SETTLE: Duration = Duration::from_millis(1000);

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
    /// Files changing right now: left alone this pass.
    pub busy: BTreeSet<RelPath>,
    /// Entries that cannot be synced, one line each (bad names, links, unreadable).
    pub problems: Vec<String>,
}

/// Walks `root`. Blocking: run it on a blocking thread.
pub fn scan(root: &Path, base: &Snapshot, ignore: &Ignore) -> anyhow::Result<Scan> {
    let first_look = SystemTime::now();
    let mut out = Scan::default();
    // Files hashed this time whose last change is recent: looked at again below.
    let mut fresh: Vec<(RelPath, PathBuf, u64, i64)> = Vec::new();
    let mut stack: Vec<(RelPath, PathBuf)> = vec![(String::new(), root.to_path_buf())];
    while let Some((rel_dir, dir)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if rel_dir.is_empty() => {
                return Err(e).with_context(|| format!("reading {}", dir.display()))
            }
            Err(e) => {
                out.problems.push(format!("{}: {e}", dir.display()));
                // Unreadable: leave whatever is below it out of this pass.
                out.busy.insert(rel_dir);
                continue;
            }
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let Some(name) = checked_name(&entry.file_name(), &path, &mut out.problems) else {
                continue;
            };
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue; // gone since the listing
            };
            if meta.is_dir() {
                if !ignore.is_ignored(&rel, true) {
                    out.snapshot.insert(rel.clone(), Node::Folder { id: None });
                    stack.push((rel, path));
                }
                continue;
            }
            if !meta.is_file() {
                if !ignore.is_ignored(&rel, false) {
                    out.problems.push(format!(
                        "{}: not a regular file, not synced",
                        path.display()
                    ));
                }
                continue;
            }
            if ignore.is_ignored(&rel, false) {
                continue;
            }
            let (size, mtime) = (meta.len(), mtime_of(&meta));
            if let Some(Node::File(b)) = base.get(&rel) {
                if b.size == size && b.mtime == Some(mtime) {
                    out.snapshot
                        .insert(rel, Node::File(local_meta(&b.hash, size, mtime)));
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
                    if recent(mtime, first_look) {
                        fresh.push((rel.clone(), path, size, mtime));
                    }
                    out.snapshot
                        .insert(rel, Node::File(local_meta(&hash, size, mtime)));
                }
                Err(e) => {
                    out.problems.push(format!("{}: {e}", path.display()));
                    out.busy.insert(rel);
                }
            }
        }
    }
    settle(&mut out, fresh, first_look);
    Ok(out)
}

/// The second look at recently changed files, about a second after the first.
fn settle(out: &mut Scan, fresh: Vec<(RelPath, PathBuf, u64, i64)>, first_look: SystemTime) {
    if fresh.is_empty() {
        return;
    }
    let waited = first_look.elapsed().unwrap_or(SETTLE);
    if waited < SETTLE {
        std::thread::sleep(SETTLE - waited);
    }
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
    let look = first_look
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    look - mtime < 2 * SETTLE.as_nanos() as i64
}

fn local_meta(hash: &str, size: u64, mtime: i64) -> FileMeta {
    FileMeta {
        hash: hash.to_string(),
        size,
        id: None,
        version: None,
        mtime: Some(mtime),
    }
}

/// A name the server accepts as it is, or `None` with a problem noted.
fn checked_name(name: &std::ffi::OsStr, path: &Path, problems: &mut Vec<String>) -> Option<String> {
    let Some(s) = name.to_str() else {
        problems.push(format!(
            "{}: the name is not UTF-8, not synced",
            path.display()
        ));
        return None;
    };
    match dbx_shared::names::normalize_name(s) {
        Ok(n) if n == s => Some(n),
        Ok(_) => {
            problems.push(format!(
                "{}: the name is not in Unicode NFC form, not synced",
                path.display()
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{}: {e}, not synced", path.display()));
            None
        }
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
        let s = scan(root, &Snapshot::default(), &ign).unwrap();
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
            Node::File(local_meta("from-base", 3, mtime_of(&meta))),
        );
        let ign = Ignore::load(root).unwrap();
        let s = scan(root, &base, &ign).unwrap();
        assert_eq!(
            s.snapshot.get("a.txt").and_then(Node::file).unwrap().hash,
            "from-base"
        );
        // A different size is a change: hashed again.
        write(root, "a.txt", "abcd");
        let s = scan(root, &base, &ign).unwrap();
        assert_ne!(
            s.snapshot.get("a.txt").and_then(Node::file).unwrap().hash,
            "from-base"
        );
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
        let s = scan(&root, &Snapshot::default(), &ign).unwrap();
        writer.join().unwrap();
        assert!(s.busy.contains("big.bin"), "{s:?}");
        assert!(s.snapshot.get("big.bin").is_none());
        // Once it stops changing it is there.
        std::thread::sleep(Duration::from_millis(50));
        let s = scan(&root, &Snapshot::default(), &ign).unwrap();
        assert!(s.snapshot.get("big.bin").is_some());
    }
}
