//! Snapshots of one tree as the planner sees it: the local folder, the server's mirror,
//! or the merge base, each a map from relative path to file or folder.

use std::collections::BTreeMap;

/// A path relative to the synced root, names joined by `/`, no leading `/`.
pub type RelPath = String;

/// A file as one side (or the base) sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// The API's content hash.
    pub hash: String,
    pub size: u64,
    /// The server's file id (remote and base only).
    pub id: Option<String>,
    /// The server's version (remote and base only).
    pub version: Option<i64>,
    /// The local modification time in nanoseconds (local and base only).
    pub mtime: Option<i64>,
    /// The local inode and change time, `"<inode>:<ctime ns>"` (local and base only): an
    /// edit that keeps size and mtime (`cp -p`, `rsync -a`, `tar -x`) still changes it.
    pub ckey: Option<String>,
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A folder; `id` is the server's folder id where known.
    Folder {
        id: Option<String>,
    },
    File(FileMeta),
}

impl Node {
    pub fn file(&self) -> Option<&FileMeta> {
        match self {
            Node::File(f) => Some(f),
            Node::Folder { .. } => None,
        }
    }

    pub fn is_folder(&self) -> bool {
        matches!(self, Node::Folder { .. })
    }
}

/// A whole tree: every file and folder below the root by relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub entries: BTreeMap<RelPath, Node>,
}

impl Snapshot {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.entries.get(path)
    }

    pub fn insert(&mut self, path: impl Into<RelPath>, node: Node) {
        self.entries.insert(path.into(), node);
    }

    pub fn remove(&mut self, path: &str) -> Option<Node> {
        self.entries.remove(path)
    }

    /// Entries strictly below `path`, in path order.
    pub fn descendants<'a>(&'a self, path: &str) -> impl Iterator<Item = (&'a RelPath, &'a Node)> {
        // '0' is the character right after '/', so this range is exactly "path/…".
        let (lo, hi) = (format!("{path}/"), format!("{path}0"));
        self.entries.range(lo..hi)
    }

    /// Removes `path` and everything below it.
    pub fn remove_tree(&mut self, path: &str) {
        let below: Vec<RelPath> = self.descendants(path).map(|(p, _)| p.clone()).collect();
        for p in below {
            self.entries.remove(&p);
        }
        self.entries.remove(path);
    }

    pub fn file_count(&self) -> usize {
        self.entries.values().filter(|n| n.file().is_some()).count()
    }
}
