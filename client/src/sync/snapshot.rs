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
    /// The local inode, change time and device, `"<inode>:<ctime ns>:<device>"` (local
    /// and base only; older bases lack the device): an edit that keeps size and mtime
    /// (`cp -p`, `rsync -a`, `tar -x`) still changes it, and the inode and device follow
    /// the file through a rename.
    pub ckey: Option<String>,
}

impl FileMeta {
    /// The file's identity on this machine, `"<inode>:<device>"`, when known.
    pub fn ino(&self) -> Option<String> {
        let mut parts = self.ckey.as_deref()?.split(':');
        let (ino, _ctime, dev) = (parts.next()?, parts.next()?, parts.next()?);
        Some(format!("{ino}:{dev}"))
    }
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A folder; `id` is the server's folder id where known, `ino` the local folder's
    /// `"<inode>:<device>"` (local and base only).
    Folder {
        id: Option<String>,
        ino: Option<String>,
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

    /// A folder known only by its server id (or not at all).
    pub fn folder(id: Option<String>) -> Node {
        Node::Folder { id, ino: None }
    }

    /// The server id of a file or folder, where known.
    pub fn id(&self) -> Option<&str> {
        match self {
            Node::File(f) => f.id.as_deref(),
            Node::Folder { id, .. } => id.as_deref(),
        }
    }

    /// The local identity (`"<inode>:<device>"`) of a file or folder, where known.
    pub fn ino(&self) -> Option<String> {
        match self {
            Node::File(f) => f.ino(),
            Node::Folder { ino, .. } => ino.clone(),
        }
    }
}

/// Whether `path` is `top` or below it.
pub fn at_or_below(path: &str, top: &str) -> bool {
    path.strip_prefix(top)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
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

    /// Moves `from` and everything below it to `to`, replacing nothing: entries already
    /// at `to` (or below) are kept where they are unless overwritten by the move.
    pub fn move_tree(&mut self, from: &str, to: &str) {
        let mut moved: Vec<(RelPath, Node)> = self
            .descendants(from)
            .map(|(p, n)| (format!("{to}{}", &p[from.len()..]), n.clone()))
            .collect();
        if let Some(n) = self.entries.get(from) {
            moved.push((to.to_string(), n.clone()));
        }
        self.remove_tree(from);
        self.entries.extend(moved);
    }

    pub fn file_count(&self) -> usize {
        self.entries.values().filter(|n| n.file().is_some()).count()
    }
}
