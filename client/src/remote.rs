//! Remote paths: parsing them from the command line, resolving them to entries (the root
//! `/` has no entry of its own), making folders with their parents, and walking a tree.

use std::fmt;

use anyhow::{anyhow, bail, Context};
use dbx_shared::api::{Entry, FileEntry, FolderEntry};
use dbx_shared::names::{name_key, parse_path};
use futures_util::{stream, StreamExt};

use crate::api::{Api, ApiResult, ClientError};

/// How many folder listings a tree walk runs at once.
const LIST_CONCURRENCY: usize = 8;

/// A checked, NFC-normalized remote path: `/` or `/a/b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath {
    names: Vec<String>,
}

impl RemotePath {
    pub fn root() -> Self {
        RemotePath { names: Vec::new() }
    }

    /// Parses a path from the command line; remote paths start with `/`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.starts_with('/') {
            return Err(format!("remote paths start with '/': '{s}'"));
        }
        parse_path(s)
            .map(|names| RemotePath { names })
            .map_err(|e| format!("'{s}': {e}"))
    }

    pub fn is_root(&self) -> bool {
        self.names.is_empty()
    }

    /// The last name; `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.names.last().map(String::as_str)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The folder this path is in; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, parent) = self.names.split_last()?;
        Some(RemotePath {
            names: parent.to_vec(),
        })
    }

    pub fn join(&self, name: &str) -> Self {
        let mut names = self.names.clone();
        names.push(name.to_string());
        RemotePath { names }
    }

    /// This path followed by the names of `rel`.
    pub fn join_all(&self, rel: &[String]) -> Self {
        let mut names = self.names.clone();
        names.extend(rel.iter().cloned());
        RemotePath { names }
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.names.is_empty() {
            return f.write_str("/");
        }
        for n in &self.names {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}

/// What a remote path names.
#[derive(Debug, Clone)]
pub enum Remote {
    Root,
    Folder(FolderEntry),
    File(FileEntry),
    Missing,
}

impl Remote {
    /// The folder's id for listing (`Some(None)` for the root), if this is a folder.
    pub fn folder_id(&self) -> Option<Option<&str>> {
        match self {
            Remote::Root => Some(None),
            Remote::Folder(f) => Some(Some(&f.id)),
            _ => None,
        }
    }
}

pub async fn resolve(api: &Api, path: &RemotePath) -> ApiResult<Remote> {
    if path.is_root() {
        return Ok(Remote::Root);
    }
    Ok(match api.entry_at(&path.to_string()).await? {
        Some(Entry::Folder(f)) => Remote::Folder(f),
        Some(Entry::File(f)) => Remote::File(f),
        None => Remote::Missing,
    })
}

/// The file at `path`; anything else is an error that names the path.
pub async fn file_at(api: &Api, path: &RemotePath) -> anyhow::Result<FileEntry> {
    match resolve(api, path).await.map_err(at(path))? {
        Remote::File(f) => Ok(f),
        Remote::Missing => bail!("{path}: no such file or folder"),
        Remote::Root | Remote::Folder(_) => bail!("{path} is a folder, not a file"),
    }
}

/// Makes the folder at `path` and any missing parents, like `mkdir -p`; an existing
/// folder is fine. Returns its id (`None` for the root).
pub async fn ensure_folder(api: &Api, path: &RemotePath) -> anyhow::Result<Option<String>> {
    match resolve(api, path).await? {
        Remote::Root => return Ok(None),
        Remote::Folder(f) => return Ok(Some(f.id)),
        Remote::File(_) => bail!("{path} is a file, not a folder"),
        Remote::Missing => {}
    }
    let mut parent: Option<String> = None;
    let mut at = RemotePath::root();
    for name in path.names() {
        at = at.join(name);
        parent = Some(child_folder(api, parent.as_deref(), &at, name).await?);
    }
    Ok(parent)
}

/// The folder `name` in `parent` (whose path is `at`), made if it is missing.
async fn child_folder(
    api: &Api,
    parent: Option<&str>,
    at: &RemotePath,
    name: &str,
) -> anyhow::Result<String> {
    match resolve(api, at).await? {
        Remote::Folder(f) => return Ok(f.id),
        Remote::File(_) => bail!("{at} is a file, not a folder"),
        _ => {}
    }
    match api.create_folder(parent, name).await {
        Ok(f) => Ok(f.id),
        // Made by someone else in the meantime: use theirs if it is a folder.
        Err(e) if e.status() == Some(reqwest::StatusCode::CONFLICT) => {
            match resolve(api, at).await? {
                Remote::Folder(f) => Ok(f.id),
                _ => Err(anyhow!(e)).with_context(|| format!("making {at}")),
            }
        }
        Err(e) => Err(anyhow!(e)).with_context(|| format!("making {at}")),
    }
}

/// A path below the root of a walk, as names.
pub type Rel = Vec<String>;

/// Everything below a remote folder, parents before children.
#[derive(Debug, Default)]
pub struct RemoteTree {
    pub folders: Vec<(Rel, FolderEntry)>,
    pub files: Vec<(Rel, FileEntry)>,
}

impl RemoteTree {
    /// Looks entries up the way the server compares names: case-insensitively.
    pub fn index(&self) -> RemoteIndex<'_> {
        let mut idx = RemoteIndex::default();
        for (rel, f) in &self.folders {
            idx.folders.insert(key(rel), f);
        }
        for (rel, f) in &self.files {
            idx.files.insert(key(rel), f);
        }
        idx
    }
}

#[derive(Default)]
pub struct RemoteIndex<'a> {
    pub folders: std::collections::HashMap<Vec<String>, &'a FolderEntry>,
    pub files: std::collections::HashMap<Vec<String>, &'a FileEntry>,
}

/// The key under which the server compares a relative path.
pub fn key(rel: &[String]) -> Vec<String> {
    rel.iter().map(|n| name_key(n)).collect()
}

/// Lists the whole tree below `root` (`None`: the account's root), level by level,
/// several folders at a time.
pub async fn walk(api: &Api, root: Option<&str>) -> ApiResult<RemoteTree> {
    let mut tree = RemoteTree::default();
    let mut level: Vec<(Rel, Option<String>)> = vec![(Vec::new(), root.map(str::to_string))];
    while !level.is_empty() {
        let listed: Vec<(Rel, ApiResult<Vec<Entry>>)> = stream::iter(level)
            .map(|(rel, id)| async move {
                let entries = api.list(id.as_deref()).await;
                (rel, entries)
            })
            .buffered(LIST_CONCURRENCY)
            .collect()
            .await;
        let mut next = Vec::new();
        for (rel, entries) in listed {
            for entry in entries? {
                let mut child = rel.clone();
                child.push(entry.name().to_string());
                match entry {
                    Entry::Folder(f) => {
                        next.push((child.clone(), Some(f.id.clone())));
                        tree.folders.push((child, f));
                    }
                    Entry::File(f) => tree.files.push((child, f)),
                }
            }
        }
        level = next;
    }
    Ok(tree)
}

/// Adds the path to an API error ("/a/b: no such entry").
pub fn at(path: &RemotePath) -> impl FnOnce(ClientError) -> anyhow::Error + '_ {
    move |e| match e {
        ClientError::Api { .. } => anyhow!(e).context(path.to_string()),
        other => anyhow!(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_paths() {
        assert_eq!(
            RemotePath::parse("/").map(|p| p.to_string()),
            Ok("/".into())
        );
        assert_eq!(
            RemotePath::parse("/a/b/").map(|p| p.to_string()),
            Ok("/a/b".into())
        );
        assert_eq!(
            RemotePath::parse("/e\u{301}").map(|p| p.to_string()),
            Ok("/\u{e9}".into())
        );
        assert!(RemotePath::parse("a/b").is_err());
        assert!(RemotePath::parse("/a/../b").is_err());
        assert!(RemotePath::parse("/a//b").is_err());
        assert!(RemotePath::parse("").is_err());
    }

    #[test]
    fn joins() {
        let p = RemotePath::parse("/a").unwrap_or_else(|_| RemotePath::root());
        assert_eq!(p.join("b c").to_string(), "/a/b c");
        assert_eq!(
            RemotePath::root()
                .join_all(&["x".into(), "y".into()])
                .to_string(),
            "/x/y"
        );
        assert_eq!(p.name(), Some("a"));
        assert_eq!(RemotePath::root().name(), None);
    }
}
