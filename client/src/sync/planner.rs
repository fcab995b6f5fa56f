//! The sync planner: a pure function from three snapshots of one tree (the local folder,
//! the server, and the merge base both sides last agreed on) to the operations that make
//! the two sides agree again without losing anyone's edit (DESIGN.md, invariant 7).
//! No I/O here: the engine applies the ops, and checks at apply time that the side it
//! touches still looks the way the plan saw it.
//!
//! The rules, per path, each side compared with the base:
//! - only one side changed: the change goes to the other side;
//! - both changed to the same content: only the base is recorded;
//! - both changed differently: the server's version takes the path, and the local file
//!   is kept beside it as `name (conflicted copy <device> <date>).ext`, uploaded too;
//! - an edit beats a delete, on either side;
//! - a path missing from the base is never taken for deleted (a first sync merges);
//! - a folder deleted on one side stays if the other side added or edited anything
//!   below it: those entries are kept, the unchanged rest is deleted;
//! - files are deleted one by one, folders only once empty, deepest first;
//! - a file where the other side now has a folder with new content moves aside to a
//!   conflicted copy;
//! - an entry moved on one side (the server's id at a new path, or the local inode at a
//!   new path) is moved on the other side, one op for a whole folder, before anything
//!   else; the rules above then apply at the new path (see `moves`).

use std::collections::BTreeSet;

use super::moves;
pub use super::snapshot::{FileMeta, Node, RelPath, Snapshot};

/// One step of a plan. Each names what the plan saw, so that the engine can refuse it
/// when that side has changed since (the next pass then plans again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Send the local file; `replaces` is the server file (id and version) it replaces,
    /// none for a new file.
    Upload {
        path: RelPath,
        local: FileMeta,
        replaces: Option<FileMeta>,
    },
    /// Fetch the server's file, replacing `expect_local` (none: nothing is there).
    Download {
        path: RelPath,
        remote: FileMeta,
        expect_local: Option<FileMeta>,
    },
    /// Remove the local file if it still is `local`.
    DeleteLocal {
        path: RelPath,
        local: FileMeta,
    },
    /// Remove the server's file if it still is at `remote.version`.
    DeleteRemote {
        path: RelPath,
        remote: FileMeta,
    },
    /// Remove the local folder if it is empty by then.
    DeleteLocalFolder {
        path: RelPath,
    },
    /// Remove the server's folder if it is empty by then.
    DeleteRemoteFolder {
        path: RelPath,
        id: Option<String>,
    },
    /// Make the local folder of the server's folder `id`.
    MkdirLocal {
        path: RelPath,
        id: Option<String>,
    },
    MkdirRemote {
        path: RelPath,
    },
    /// Both sides changed the file differently: the local file moves to a conflicted
    /// copy beside it (and is uploaded), the server's version takes the path.
    Conflict {
        path: RelPath,
        local: FileMeta,
        remote: FileMeta,
    },
    /// The local file must make way for a folder: it moves to a conflicted copy (uploaded).
    LocalFileAside {
        path: RelPath,
        local: FileMeta,
    },
    /// The server's file must make way for a folder: it is downloaded to a conflicted
    /// copy (uploaded by the next pass) and then removed from the server.
    RemoteFileAside {
        path: RelPath,
        remote: FileMeta,
    },
    /// Both sides already agree: remember it as the base.
    RecordBase {
        path: RelPath,
        node: Node,
    },
    /// Neither side has it any more: forget it.
    ForgetBase {
        path: RelPath,
    },
    /// The server moved the entry to `path`: rename the local entry at `from` (still
    /// `local`, a file as scanned or a folder), with everything below it; the base
    /// follows from `base` (where it had the entry; `from` unless both sides moved it).
    MoveLocal {
        path: RelPath,
        from: RelPath,
        base: RelPath,
        local: Node,
    },
    /// This device moved the entry to `path`: one server move of the entry `id` (at
    /// `from` on the server; a file's at `version`, sent as `If-Match`), with everything
    /// below it; the base follows from `base`.
    MoveRemote {
        path: RelPath,
        from: RelPath,
        base: RelPath,
        id: String,
        version: Option<i64>,
    },
    /// Both sides moved `from` to `path`: the base follows.
    MoveBase {
        path: RelPath,
        from: RelPath,
    },
}

impl Op {
    pub fn path(&self) -> &str {
        match self {
            Op::Upload { path, .. }
            | Op::Download { path, .. }
            | Op::DeleteLocal { path, .. }
            | Op::DeleteRemote { path, .. }
            | Op::DeleteLocalFolder { path }
            | Op::DeleteRemoteFolder { path, .. }
            | Op::MkdirLocal { path, .. }
            | Op::MkdirRemote { path }
            | Op::Conflict { path, .. }
            | Op::LocalFileAside { path, .. }
            | Op::RemoteFileAside { path, .. }
            | Op::RecordBase { path, .. }
            | Op::ForgetBase { path }
            | Op::MoveLocal { path, .. }
            | Op::MoveRemote { path, .. }
            | Op::MoveBase { path, .. } => path,
        }
    }

    /// For a move, where it moves from.
    pub fn moved_from(&self) -> Option<&str> {
        match self {
            Op::MoveLocal { from, .. }
            | Op::MoveRemote { from, .. }
            | Op::MoveBase { from, .. } => Some(from),
            _ => None,
        }
    }

    /// Whether the op changes either side (bookkeeping ops do not).
    pub fn is_change(&self) -> bool {
        !matches!(
            self,
            Op::RecordBase { .. } | Op::ForgetBase { .. } | Op::MoveBase { .. }
        )
    }

    /// The order ops run in: files make way first, then deletes (files, then folders
    /// deepest first), then new folders (shallowest first), then transfers.
    fn phase(&self) -> u8 {
        match self {
            Op::LocalFileAside { .. } | Op::RemoteFileAside { .. } => 0,
            Op::DeleteLocal { .. } | Op::DeleteRemote { .. } => 1,
            Op::DeleteLocalFolder { .. } | Op::DeleteRemoteFolder { .. } => 2,
            Op::MkdirLocal { .. } | Op::MkdirRemote { .. } => 3,
            _ => 4,
        }
    }
}

/// Plans one pass. Ops come in the order they must run: moves first, in the order found.
pub fn plan(local: &Snapshot, remote: &Snapshot, base: &Snapshot) -> Vec<Op> {
    let moved = moves::detect(local, remote, base);
    let (local, remote, base) = (&moved.local, &moved.remote, &moved.base);
    let paths: BTreeSet<&RelPath> = local
        .entries
        .keys()
        .chain(remote.entries.keys())
        .chain(base.entries.keys())
        .collect();
    let mut ops = Vec::new();
    for path in paths {
        let sides = Sides {
            path,
            local,
            remote,
            base,
            landed: &moved.landed,
        };
        sides.plan_path(&mut ops);
    }
    let depth = |op: &Op| op.path().split('/').count();
    ops.sort_by(|a, b| {
        let key = |op: &Op| match op.phase() {
            2 => (op.phase(), usize::MAX - depth(op)),
            3 => (op.phase(), depth(op)),
            p => (p, 0),
        };
        key(a).cmp(&key(b)).then_with(|| a.path().cmp(b.path()))
    });
    let mut all = moved.ops;
    all.extend(ops);
    all
}

/// One path seen from the three snapshots.
struct Sides<'a> {
    path: &'a RelPath,
    local: &'a Snapshot,
    remote: &'a Snapshot,
    base: &'a Snapshot,
    /// Where this plan's moves land.
    landed: &'a [RelPath],
}

/// Same content: both absent, both folders, or files with the same hash.
fn same(a: Option<&Node>, b: Option<&Node>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Node::Folder { .. }), Some(Node::Folder { .. })) => true,
        (Some(Node::File(x)), Some(Node::File(y))) => x.hash == y.hash,
        _ => false,
    }
}

/// The base to record when both sides hold `l` and `r` with the same content: the
/// server's id and version with the local modification time and inode.
fn merged(l: &Node, r: &Node) -> Node {
    match (l, r) {
        (Node::File(l), Node::File(r)) => Node::File(FileMeta {
            mtime: l.mtime,
            ckey: l.ckey.clone(),
            ..r.clone()
        }),
        (Node::Folder { ino, .. }, Node::Folder { id, .. }) => Node::Folder {
            id: id.clone(),
            ino: ino.clone(),
        },
        _ => r.clone(),
    }
}

impl Sides<'_> {
    /// The local folder for the server's folder at `path`.
    fn mkdir_local(&self, path: RelPath) -> Op {
        let id = self
            .remote
            .get(&path)
            .and_then(Node::id)
            .map(str::to_string);
        Op::MkdirLocal { path, id }
    }

    fn plan_path(&self, ops: &mut Vec<Op>) {
        let path = self.path.clone();
        let (l, r, b) = (
            self.local.get(self.path),
            self.remote.get(self.path),
            self.base.get(self.path),
        );
        let (lc, rc) = (!same(l, b), !same(r, b));
        match (lc, rc) {
            (false, false) => {
                if let (Some(l), Some(r), Some(b)) = (l, r, b) {
                    let m = merged(l, r);
                    if &m != b {
                        ops.push(Op::RecordBase { path, node: m });
                    }
                }
            }
            (true, false) => self.local_changed(l, r, ops),
            (false, true) => self.remote_changed(l, r, ops),
            (true, true) => self.both_changed(l, r, ops),
        }
    }

    /// Whether anything below the path changed on that side since the base (a move
    /// landing there counts): such entries outlive a delete of the folder on the other
    /// side.
    fn changed_below(&self, side: &Snapshot) -> bool {
        let prefix = format!("{}/", self.path);
        self.landed.iter().any(|to| to.starts_with(&prefix))
            || side
                .descendants(self.path)
                .any(|(p, n)| !same(Some(n), self.base.get(p)))
    }

    /// Only the local side changed: make the server match it.
    fn local_changed(&self, l: Option<&Node>, r: Option<&Node>, ops: &mut Vec<Op>) {
        let path = self.path.clone();
        match (l, r) {
            (None, None) => {}
            (None, Some(Node::File(rf))) => ops.push(Op::DeleteRemote {
                path,
                remote: rf.clone(),
            }),
            (None, Some(Node::Folder { id, .. })) => {
                if self.changed_below(self.remote) {
                    ops.push(self.mkdir_local(path));
                } else {
                    ops.push(Op::DeleteRemoteFolder {
                        path,
                        id: id.clone(),
                    });
                }
            }
            (Some(Node::Folder { .. }), None) => ops.push(Op::MkdirRemote { path }),
            (Some(Node::Folder { .. }), Some(Node::File(rf))) => {
                ops.push(Op::DeleteRemote {
                    path: path.clone(),
                    remote: rf.clone(),
                });
                ops.push(Op::MkdirRemote { path });
            }
            (Some(Node::File(lf)), None) => ops.push(Op::Upload {
                path,
                local: lf.clone(),
                replaces: None,
            }),
            (Some(Node::File(lf)), Some(Node::File(rf))) => ops.push(Op::Upload {
                path,
                local: lf.clone(),
                replaces: Some(rf.clone()),
            }),
            (Some(Node::File(lf)), Some(Node::Folder { id, .. })) => {
                if self.changed_below(self.remote) {
                    ops.push(Op::LocalFileAside {
                        path: path.clone(),
                        local: lf.clone(),
                    });
                    ops.push(self.mkdir_local(path));
                } else {
                    ops.push(Op::DeleteRemoteFolder {
                        path: path.clone(),
                        id: id.clone(),
                    });
                    ops.push(Op::Upload {
                        path,
                        local: lf.clone(),
                        replaces: None,
                    });
                }
            }
            // Unchanged remote folder, local folder where the base had none: cannot
            // happen with `same`, but harmless to record.
            (Some(l @ Node::Folder { .. }), Some(r @ Node::Folder { .. })) => {
                ops.push(Op::RecordBase {
                    path,
                    node: merged(l, r),
                })
            }
        }
    }

    /// Only the server changed: make the local folder match it.
    fn remote_changed(&self, l: Option<&Node>, r: Option<&Node>, ops: &mut Vec<Op>) {
        let path = self.path.clone();
        match (l, r) {
            (None, None) => {}
            (Some(Node::File(lf)), None) => ops.push(Op::DeleteLocal {
                path,
                local: lf.clone(),
            }),
            (Some(Node::Folder { .. }), None) => {
                if self.changed_below(self.local) {
                    ops.push(Op::MkdirRemote { path });
                } else {
                    ops.push(Op::DeleteLocalFolder { path });
                }
            }
            (None, Some(Node::Folder { .. })) => ops.push(self.mkdir_local(path)),
            (Some(Node::File(lf)), Some(Node::Folder { .. })) => {
                ops.push(Op::DeleteLocal {
                    path: path.clone(),
                    local: lf.clone(),
                });
                ops.push(self.mkdir_local(path));
            }
            (None, Some(Node::File(rf))) => ops.push(Op::Download {
                path,
                remote: rf.clone(),
                expect_local: None,
            }),
            (Some(Node::File(lf)), Some(Node::File(rf))) => ops.push(Op::Download {
                path,
                remote: rf.clone(),
                expect_local: Some(lf.clone()),
            }),
            (Some(Node::Folder { .. }), Some(Node::File(rf))) => {
                if self.changed_below(self.local) {
                    ops.push(Op::RemoteFileAside {
                        path: path.clone(),
                        remote: rf.clone(),
                    });
                    ops.push(Op::MkdirRemote { path });
                } else {
                    ops.push(Op::DeleteLocalFolder { path: path.clone() });
                    ops.push(Op::Download {
                        path,
                        remote: rf.clone(),
                        expect_local: None,
                    });
                }
            }
            (Some(l @ Node::Folder { .. }), Some(r @ Node::Folder { .. })) => {
                ops.push(Op::RecordBase {
                    path,
                    node: merged(l, r),
                })
            }
        }
    }

    /// Both sides changed since the base.
    fn both_changed(&self, l: Option<&Node>, r: Option<&Node>, ops: &mut Vec<Op>) {
        let path = self.path.clone();
        match (l, r) {
            (None, None) => ops.push(Op::ForgetBase { path }),
            (Some(l), Some(r)) if same(Some(l), Some(r)) => ops.push(Op::RecordBase {
                path,
                node: merged(l, r),
            }),
            // An edit beats a delete, on either side.
            (None, Some(Node::File(rf))) => ops.push(Op::Download {
                path,
                remote: rf.clone(),
                expect_local: None,
            }),
            (Some(Node::File(lf)), None) => ops.push(Op::Upload {
                path,
                local: lf.clone(),
                replaces: None,
            }),
            (None, Some(Node::Folder { .. })) => ops.push(self.mkdir_local(path)),
            (Some(Node::Folder { .. }), None) => ops.push(Op::MkdirRemote { path }),
            (Some(Node::File(lf)), Some(Node::File(rf))) => ops.push(Op::Conflict {
                path,
                local: lf.clone(),
                remote: rf.clone(),
            }),
            (Some(Node::File(lf)), Some(Node::Folder { .. })) => {
                ops.push(Op::LocalFileAside {
                    path: path.clone(),
                    local: lf.clone(),
                });
                ops.push(self.mkdir_local(path));
            }
            (Some(Node::Folder { .. }), Some(Node::File(rf))) => {
                ops.push(Op::RemoteFileAside {
                    path: path.clone(),
                    remote: rf.clone(),
                });
                ops.push(Op::MkdirRemote { path });
            }
            // Both folders: `same` holds, handled above.
            (Some(Node::Folder { .. }), Some(Node::Folder { .. })) => {}
        }
    }
}

/// Why a pass refuses to run: it would delete too much at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassDelete {
    pub deletes: usize,
    pub files: usize,
}

/// Files a plan deletes (on either side) plus the `earlier` deletions of the guard's
/// window, against the files there were at the window's start (the base's now plus those
/// deleted since): more than half, and more than 5, needs `--allow-mass-delete`. Counting
/// over a window catches an `rm -rf` of a big tree that passes see a piece at a time.
pub fn mass_delete(ops: &[Op], base: &Snapshot, earlier: usize) -> Option<MassDelete> {
    let planned = ops
        .iter()
        .filter(|op| matches!(op, Op::DeleteLocal { .. } | Op::DeleteRemote { .. }))
        .count();
    let (deletes, files) = (planned + earlier, base.file_count() + earlier);
    (planned > 0 && deletes > 5 && deletes * 2 > files).then_some(MassDelete { deletes, files })
}

/// The longest name most file systems take, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The name a losing local edit is kept under:
/// `name (conflicted copy <device> <stamp>).ext` beside the original. The stem is
/// shortened (never the extension, unless it is unusually long) so that the name stays
/// within [`MAX_NAME_BYTES`].
pub fn conflict_name(path: &str, device: &str, stamp: &str) -> RelPath {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, path),
    };
    // The extension is what follows the last dot, unless the dot starts the name
    // (`.bashrc` has none).
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 32 => name.split_at(i),
        _ => (name, ""),
    };
    let device = truncate(device, 64);
    let suffix = format!(" (conflicted copy {device} {stamp})");
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len());
    let new = format!("{}{suffix}{ext}", truncate(stem, room).trim_end());
    match dir {
        Some(d) => format!("{d}/{new}"),
        None => new,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// True for names made by [`conflict_name`].
pub fn is_conflict_copy(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|n| n.contains(" (conflicted copy "))
}

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "planner_table_tests.rs"]
mod table;

#[cfg(test)]
#[path = "sim_tests.rs"]
mod sim;
