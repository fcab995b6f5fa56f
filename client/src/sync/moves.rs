//! Moves in a plan. An entry of the base that one side now has at another path moved
//! there: on the server it kept its id (a `move` in the change log), here it kept its
//! inode and device (a rename), a file also its size, modification time and content.
//! Each move becomes one op that makes the other side follow (one server move, or one
//! local rename), and the plan then goes on as if both sides and the base had moved
//! already: an edit made meanwhile at the old path, on either side, is planned at the new
//! path like any edit (an upload with `If-Match`, a download, a conflicted copy).
//!
//! The rules, per base entry, parents before children (a folder's move carries its
//! subtree):
//! - moved on one side: the other side follows, if it still has the entry at the old path
//!   (of the same kind) and nothing at the new one; otherwise no move is made and the
//!   paths are planned one by one (so a move meeting a delete keeps the entry, at its new
//!   path);
//! - moved on both sides to the same path: only the base follows;
//! - moved on both sides to different paths: the server's order wins, and this device's
//!   move is the later one there: the server's entry moves on to where this device put it
//!   (or, if that path is taken, this device's follows the server's).

use std::collections::HashMap;

use super::planner::{Node, Op, RelPath, Snapshot};
use super::snapshot::at_or_below;

/// A plan's moves and the three snapshots as they are once the moves are made.
pub struct Moved {
    /// In the order they must run, before every other op.
    pub ops: Vec<Op>,
    pub local: Snapshot,
    pub remote: Snapshot,
    pub base: Snapshot,
    /// Where the moves landed: a folder above one of these changed below on the side that
    /// moved, so a delete of that folder elsewhere does not remove it.
    pub landed: Vec<RelPath>,
}

/// One side's snapshot with an index from a key (the server id, or the local inode) to
/// the one path that has it; a key found at two paths (hard links) is left out.
struct Side {
    snap: Snapshot,
    index: HashMap<String, Option<RelPath>>,
    key: fn(&Node) -> Option<String>,
}

impl Side {
    fn new(snap: &Snapshot, key: fn(&Node) -> Option<String>) -> Side {
        let mut index: HashMap<String, Option<RelPath>> = HashMap::new();
        for (p, n) in &snap.entries {
            if let Some(k) = key(n) {
                index
                    .entry(k)
                    .and_modify(|e| *e = None)
                    .or_insert_with(|| Some(p.clone()));
            }
        }
        Side {
            snap: snap.clone(),
            index,
            key,
        }
    }

    /// The path that has `key` now, if exactly one does.
    fn find(&self, key: Option<String>) -> Option<&RelPath> {
        self.index.get(&key?)?.as_ref()
    }

    /// Moves a subtree, keeping the index in step. A file moved by its own rename gets a
    /// new change time: its change key is left out (the applier then checks size and
    /// modification time only, and the next scan reads it again).
    fn move_tree(&mut self, from: &str, to: &str) {
        self.snap.move_tree(from, to);
        let moved: Vec<(RelPath, Node)> = std::iter::once(to.to_string())
            .filter_map(|p| self.snap.get(&p).map(|n| (p, n.clone())))
            .chain(
                self.snap
                    .descendants(to)
                    .map(|(p, n)| (p.clone(), n.clone())),
            )
            .collect();
        for (p, n) in moved {
            if let Some(k) = (self.key)(&n) {
                if let Some(Some(at)) = self.index.get_mut(&k) {
                    *at = p;
                }
            }
        }
        if let Some(Node::File(f)) = self.snap.entries.get_mut(to) {
            f.ckey = None;
        }
    }
}

/// The folders above `path`, nearest first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(path.rsplit_once('/').map(|(d, _)| d), |d| {
        d.rsplit_once('/').map(|(p, _)| p)
    })
}

/// Whether one of two different paths is below the other.
fn nested(a: &str, b: &str) -> bool {
    a != b && (at_or_below(a, b) || at_or_below(b, a))
}

fn same_kind(a: &Node, b: &Node) -> bool {
    a.is_folder() == b.is_folder()
}

/// Finds the moves between `base` and each side, and plans them.
pub fn detect(local: &Snapshot, remote: &Snapshot, base: &Snapshot) -> Moved {
    let mut l = Side::new(local, Node::ino);
    let mut r = Side::new(remote, |n| n.id().map(str::to_string));
    let mut b = base.clone();
    let mut ops = Vec::new();
    let mut landed = Vec::new();
    // The base's moves so far: an original path's current one goes through them.
    let mut applied: Vec<(RelPath, RelPath)> = Vec::new();
    let current = |applied: &[(RelPath, RelPath)], p: &str| {
        let mut p = p.to_string();
        for (from, to) in applied {
            if p == *from {
                p = to.clone();
            } else if at_or_below(&p, from) {
                p = format!("{to}{}", &p[from.len()..]);
            }
        }
        p
    };
    for original in base.entries.keys() {
        let p = current(&applied, original);
        let Some(bn) = b.get(&p).cloned() else {
            continue;
        };
        // Nothing at `at` on the side that follows nor in the base, and no file where its
        // folders go.
        let free = |side: &Snapshot, b: &Snapshot, at: &str| {
            side.get(at).is_none()
                && b.get(at).is_none()
                && ancestors(at).all(|a| side.get(a).is_none_or(Node::is_folder))
        };
        let lq = l
            .find(bn.ino())
            .filter(|q| **q != p)
            .filter(|q| l.snap.get(q).is_some_and(|n| unchanged_here(n, &bn)))
            .cloned();
        let rq = r
            .find(bn.id().map(str::to_string))
            .filter(|q| **q != p)
            .filter(|q| r.snap.get(q).is_some_and(|n| same_kind(n, &bn)))
            .cloned();
        // A move into its own old place (a file moved into a new folder of its name)
        // cannot be one rename: path by path instead.
        let (lq, rq) = (
            lq.filter(|q| !nested(q, &p) && rq.as_ref().is_none_or(|r| !nested(q, r))),
            rq.filter(|q| !nested(q, &p)),
        );
        // A folder that an earlier move of this plan put something into does not move
        // as a whole (that entry would go along on one side only): path by path.
        let entangled = |src: &str| {
            landed
                .iter()
                .any(|t: &RelPath| t != src && at_or_below(t, src))
        };
        let (lq, rq) = if entangled(&p)
            || lq.as_deref().is_some_and(entangled)
            || rq.as_deref().is_some_and(entangled)
        {
            (None, None)
        } else {
            (lq, rq)
        };
        let mut moved_to = None;
        match (lq, rq) {
            (None, None) => {}
            // Moved on the server: rename here what is still at the old path.
            (None, Some(rq)) => {
                let here = l.snap.get(&p).filter(|n| same_entry(n, &bn)).cloned();
                if let Some(here) = here.filter(|_| free(&l.snap, &b, &rq)) {
                    ops.push(Op::MoveLocal {
                        path: rq.clone(),
                        from: p.clone(),
                        base: p.clone(),
                        local: here,
                    });
                    l.move_tree(&p, &rq);
                    moved_to = Some(rq);
                }
            }
            // Renamed here: one server move of what the server still has at the old path.
            (Some(lq), None) => {
                let there = r.snap.get(&p);
                if let Some(op) = there
                    .filter(|n| same_kind(n, &bn) && n.id().is_some() && n.id() == bn.id())
                    .filter(|_| free(&r.snap, &b, &lq))
                    .and_then(|n| move_remote(&lq, &p, &p, n))
                {
                    ops.push(op);
                    r.move_tree(&p, &lq);
                    moved_to = Some(lq);
                }
            }
            (Some(lq), Some(rq)) if lq == rq && b.get(&lq).is_none() => {
                ops.push(Op::MoveBase {
                    path: lq.clone(),
                    from: p.clone(),
                });
                b.move_tree(&p, &lq);
                applied.push((p, lq));
                continue;
            }
            // Both at one path that the base has for something else: path by path.
            (Some(lq), Some(rq)) if lq == rq => {}
            // Moved to two places: ours is the later move on the server.
            (Some(lq), Some(rq)) => {
                let there = r.snap.get(&rq).cloned();
                if let Some(op) = there
                    .as_ref()
                    .filter(|_| free(&r.snap, &b, &lq))
                    .and_then(|n| move_remote(&lq, &rq, &p, n))
                {
                    ops.push(op);
                    r.move_tree(&rq, &lq);
                    moved_to = Some(lq);
                } else if let Some(here) =
                    l.snap.get(&lq).cloned().filter(|_| free(&l.snap, &b, &rq))
                {
                    ops.push(Op::MoveLocal {
                        path: rq.clone(),
                        from: lq.clone(),
                        base: p.clone(),
                        local: here,
                    });
                    l.move_tree(&lq, &rq);
                    moved_to = Some(rq);
                }
            }
        }
        if let Some(to) = moved_to {
            b.move_tree(&p, &to);
            applied.push((p, to.clone()));
            landed.push(to);
        }
    }
    Moved {
        ops,
        local: l.snap,
        remote: r.snap,
        base: b,
        landed,
    }
}

/// Whether the local entry `n` at the base entry `b`'s path is still that entry: the
/// same kind, and for a folder the same inode where both are known (a file is followed
/// even when edited: the edit moves with it).
fn same_entry(n: &Node, b: &Node) -> bool {
    match (n.ino(), b.ino()) {
        (Some(x), Some(y)) if n.is_folder() => same_kind(n, b) && x == y,
        _ => same_kind(n, b),
    }
}

/// Whether the local entry `n` found by the inode of base entry `b` is that entry,
/// unchanged: a folder, or a file with the base's size, modification time and content.
fn unchanged_here(n: &Node, b: &Node) -> bool {
    match (n, b) {
        (Node::Folder { .. }, Node::Folder { .. }) => true,
        (Node::File(n), Node::File(b)) => {
            n.size == b.size && n.mtime.is_some() && n.mtime == b.mtime && n.hash == b.hash
        }
        _ => false,
    }
}

/// The server move of the entry `n` (at `from` on the server, at `base` in the base) to
/// `to`.
fn move_remote(to: &str, from: &str, base: &str, n: &Node) -> Option<Op> {
    Some(Op::MoveRemote {
        path: to.to_string(),
        from: from.to_string(),
        base: base.to_string(),
        id: n.id()?.to_string(),
        version: n.file().and_then(|f| f.version),
    })
}
