//! The local trash, `LOCAL_DIR/.dbx/trash/<date>/<path>`: before sync deletes or replaces
//! a local file, it moves it here instead, so that a wrong decision (or content that was
//! on this device only) can still be recovered by hand. Kept 30 days, then removed at the
//! start of a sync.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// How long trashed files are kept.
pub const KEEP_DAYS: i64 = 30;

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("trash")
}

/// Moves `root/rel` into the trash of today, at `<day>/<rel>`, or `<day>/<n>/<rel>` when
/// that is taken (by an earlier file of that name, or a file where a folder would be);
/// returns where it went.
pub fn put(state_dir: &Path, root: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let day = dir(state_dir).join(chrono::Local::now().format("%Y-%m-%d").to_string());
    let from = root.join(rel);
    let mut n = 1;
    loop {
        let to = if n == 1 {
            day.join(rel)
        } else {
            day.join(n.to_string()).join(rel)
        };
        let free = to.symlink_metadata().is_err()
            && to
                .parent()
                .is_some_and(|p| std::fs::create_dir_all(p).is_ok());
        if free {
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
            return Ok(to);
        }
        n += 1;
        if n > 1000 {
            anyhow::bail!("no free place in {} for {rel}", day.display());
        }
    }
}

/// Removes the days older than [`KEEP_DAYS`].
pub fn purge(state_dir: &Path) {
    let Ok(days) = std::fs::read_dir(dir(state_dir)) else {
        return;
    };
    let oldest = (chrono::Local::now() - chrono::Duration::days(KEEP_DAYS)).date_naive();
    for day in days.flatten() {
        let name = day.file_name();
        let expired = name
            .to_str()
            .and_then(|n| chrono::NaiveDate::parse_from_str(n, "%Y-%m-%d").ok())
            .is_some_and(|d| d < oldest);
        if expired {
            let _ = std::fs::remove_dir_all(day.path());
        }
    }
}

/// Files in the trash and their total size.
pub fn summary(state_dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut todo = vec![dir(state_dir)];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.path().symlink_metadata() {
                Ok(m) if m.is_dir() => todo.push(e.path()),
                Ok(m) => {
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    (files, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trashed_files_keep_their_path_and_old_days_go() {
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join(".dbx");
        std::fs::create_dir_all(root.path().join("a")).unwrap();
        std::fs::write(root.path().join("a/x.txt"), "one").unwrap();
        let to = put(&state, root.path(), "a/x.txt").unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"one");
        assert!(!root.path().join("a/x.txt").exists());
        // The same path again the same day keeps both.
        std::fs::write(root.path().join("a/x.txt"), "two").unwrap();
        let again = put(&state, root.path(), "a/x.txt").unwrap();
        assert_ne!(to, again);
        assert_eq!(summary(&state), (2, 6));
        // A file where a folder would go: elsewhere in the day.
        std::fs::write(root.path().join("a/x.txt"), "t").unwrap();
        std::fs::rename(root.path().join("a/x.txt"), root.path().join("f")).unwrap();
        put(&state, root.path(), "f").unwrap();
        std::fs::create_dir_all(root.path().join("f")).unwrap();
        std::fs::write(root.path().join("f/g"), "g").unwrap();
        let nested = put(&state, root.path(), "f/g").unwrap();
        assert_eq!(std::fs::read(nested).unwrap(), b"g");
        assert_eq!(summary(&state), (4, 8));
        let old = dir(&state).join("2000-01-01");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("y"), "y").unwrap();
        purge(&state);
        assert!(!old.exists());
        assert_eq!(summary(&state), (4, 8));
    }
}
