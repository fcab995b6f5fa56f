//! The local side of a transfer: walking a folder tree into names the server accepts,
//! and turning names that came from the server into paths that cannot leave the target.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context};
use dbx_shared::names::{name_key, normalize_name};

use crate::remote::Rel;

/// A regular file found below the root of a walk.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub rel: Rel,
    pub path: PathBuf,
    pub size: u64,
}

/// Everything below a local folder, parents before children.
#[derive(Debug, Default)]
pub struct LocalTree {
    pub folders: Vec<(Rel, PathBuf)>,
    pub files: Vec<LocalFile>,
    /// Entries that cannot be sent, each with why: one line each.
    pub problems: Vec<String>,
    /// Entries left alone on purpose (symbolic links, sockets, ...).
    pub ignored: Vec<String>,
}

/// Walks the tree below `root`. Symbolic links are not followed (a link to `..` would
/// never end) and are reported as ignored. Blocking: run it on a blocking thread.
pub fn walk(root: &Path) -> anyhow::Result<LocalTree> {
    let mut tree = LocalTree::default();
    let mut stack: Vec<(Rel, PathBuf)> = vec![(Vec::new(), root.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        children.sort_by_key(|e| e.file_name());
        let mut seen = HashSet::new();
        let mut subdirs = Vec::new();
        for child in children {
            let path = child.path();
            let name = match remote_name(&child.file_name()) {
                Ok(n) => n,
                Err(why) => {
                    tree.problems.push(format!("{}: {why}", path.display()));
                    continue;
                }
            };
            if !seen.insert(name_key(&name)) {
                tree.problems.push(format!(
                    "{}: another name in that folder differs from it only by case or Unicode form",
                    path.display()
                ));
                continue;
            }
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut child_rel = rel.clone();
            child_rel.push(name);
            if meta.is_dir() {
                tree.folders.push((child_rel.clone(), path.clone()));
                subdirs.push((child_rel, path));
            } else if meta.is_file() {
                tree.files.push(LocalFile {
                    rel: child_rel,
                    path,
                    size: meta.len(),
                });
            } else if meta.is_symlink() {
                tree.ignored
                    .push(format!("{}: a symbolic link", path.display()));
            } else {
                tree.ignored
                    .push(format!("{}: not a regular file", path.display()));
            }
        }
        // Reversed so the stack visits folders in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    // Parents before children, which a depth-first walk with a stack already gives for
    // each branch; sorting by depth makes it hold across branches too.
    tree.folders.sort_by_key(|(rel, _)| rel.len());
    tree.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(tree)
}

/// The name a local file gets on the server: UTF-8, NFC, and valid by API.md's rules.
pub fn remote_name(name: &OsStr) -> Result<String, String> {
    let s = name
        .to_str()
        .ok_or_else(|| "the name is not valid UTF-8".to_string())?;
    normalize_name(s).map_err(|e| e.to_string())
}

/// Checks a name that came from the server before it touches the disk: a valid name by
/// API.md's rules, and exactly one ordinary path component (never `..`, `/`, or a root).
pub fn checked_local_name(name: &str) -> anyhow::Result<&str> {
    if let Err(e) = normalize_name(name) {
        bail!("the server sent a name that is not safe to write: {name:?}: {e}");
    }
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(n)), None) if n == OsStr::new(name) => Ok(name),
        _ => bail!("the server sent a name that is not safe to write: {name:?}"),
    }
}

/// `root` joined with the checked names of `rel`.
pub fn local_path(root: &Path, rel: &[String]) -> anyhow::Result<PathBuf> {
    let mut p = root.to_path_buf();
    for name in rel {
        p.push(checked_local_name(name)?);
    }
    Ok(p)
}

/// Makes `dir` (below the target) if it is missing. An existing symbolic link there is
/// refused: writing through it could put files outside the target.
pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(m) if m.is_symlink() => {
            bail!(
                "{} is a symbolic link; not writing through it",
                dir.display()
            )
        }
        Ok(_) => bail!("{} exists and is not a folder", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_leave_the_target() {
        for bad in ["..", ".", "a/b", "/etc", "", "a\0b", "x\ny"] {
            assert!(checked_local_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(checked_local_name("a b é.txt").ok(), Some("a b é.txt"));
        assert!(local_path(Path::new("/t"), &["a".into(), "..".into()]).is_err());
        assert_eq!(
            local_path(Path::new("/t"), &["a".into(), "b".into()]).ok(),
            Some(PathBuf::from("/t/a/b"))
        );
    }

    #[test]
    fn walks_a_tree_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/empty")).unwrap();
        std::fs::write(root.join("a/x.txt"), b"hello").unwrap();
        std::fs::write(root.join("top"), b"").unwrap();
        std::os::unix::fs::symlink("..", root.join("a/up")).unwrap();
        let t = walk(root).unwrap();
        let folders: Vec<_> = t.folders.iter().map(|(r, _)| r.join("/")).collect();
        assert_eq!(folders, ["a", "a/empty"]);
        let files: Vec<_> = t.files.iter().map(|f| (f.rel.join("/"), f.size)).collect();
        assert_eq!(files, [("a/x.txt".to_string(), 5), ("top".to_string(), 0)]);
        assert_eq!(t.ignored.len(), 1);
        assert!(t.problems.is_empty());
    }
}
