//! The planner, exhaustively: every combination of base × local × remote for one path in
//! {absent, file h1, file h2, folder}, each with its outcome written out; folders whose
//! children changed; and a property over random trees: no plan removes content that
//! exists on one side only (a removal always takes a version the base knows, that is,
//! one the deleting side had seen).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

#[derive(Clone, Copy, Debug)]
enum S {
    Absent,
    H1,
    H2,
    Dir,
}

fn node(s: S, side: char) -> Option<Node> {
    let file = |hash: &str, version: i64| {
        Node::File(FileMeta {
            hash: hash.into(),
            size: 2,
            id: (side != 'l').then(|| format!("id-{hash}")),
            version: (side != 'l').then_some(version),
            mtime: (side != 'r').then_some(1),
            ckey: None,
        })
    };
    match s {
        S::Absent => None,
        S::H1 => Some(file("h1", 1)),
        S::H2 => Some(file("h2", 2)),
        S::Dir => Some(Node::Folder {
            id: (side != 'l').then(|| "dir-id".to_string()),
        }),
    }
}

fn verb(op: &Op) -> &'static str {
    match op {
        Op::Upload { replaces: None, .. } => "up-new",
        Op::Upload { .. } => "up",
        Op::Download { .. } => "down",
        Op::DeleteLocal { .. } => "rm-local",
        Op::DeleteRemote { .. } => "rm-remote",
        Op::DeleteLocalFolder { .. } => "rmdir-local",
        Op::DeleteRemoteFolder { .. } => "rmdir-remote",
        Op::MkdirLocal { .. } => "mkdir-local",
        Op::MkdirRemote { .. } => "mkdir-remote",
        Op::Conflict { .. } => "conflict",
        Op::LocalFileAside { .. } => "aside-local",
        Op::RemoteFileAside { .. } => "aside-remote",
        Op::RecordBase { .. } => "base",
        Op::ForgetBase { .. } => "forget",
    }
}

fn one(s: S, side: char) -> Snapshot {
    let mut snap = Snapshot::default();
    if let Some(n) = node(s, side) {
        snap.insert("x", n);
    }
    snap
}

/// Base, local, remote, and the ops (by verb, in order) for path `x`.
const TABLE: &[(S, S, S, &str)] = {
    use S::*;
    &[
        (Absent, Absent, Absent, ""),
        (Absent, Absent, H1, "down"),
        (Absent, Absent, H2, "down"),
        (Absent, Absent, Dir, "mkdir-local"),
        (Absent, H1, Absent, "up-new"),
        (Absent, H1, H1, "base"),
        (Absent, H1, H2, "conflict"),
        (Absent, H1, Dir, "aside-local mkdir-local"),
        (Absent, H2, Absent, "up-new"),
        (Absent, H2, H1, "conflict"),
        (Absent, H2, H2, "base"),
        (Absent, H2, Dir, "aside-local mkdir-local"),
        (Absent, Dir, Absent, "mkdir-remote"),
        (Absent, Dir, H1, "aside-remote mkdir-remote"),
        (Absent, Dir, H2, "aside-remote mkdir-remote"),
        (Absent, Dir, Dir, "base"),
        (H1, Absent, Absent, "forget"),
        (H1, Absent, H1, "rm-remote"),
        (H1, Absent, H2, "down"),
        (H1, Absent, Dir, "mkdir-local"),
        (H1, H1, Absent, "rm-local"),
        (H1, H1, H1, ""),
        (H1, H1, H2, "down"),
        (H1, H1, Dir, "rm-local mkdir-local"),
        (H1, H2, Absent, "up-new"),
        (H1, H2, H1, "up"),
        (H1, H2, H2, "base"),
        (H1, H2, Dir, "aside-local mkdir-local"),
        (H1, Dir, Absent, "mkdir-remote"),
        (H1, Dir, H1, "rm-remote mkdir-remote"),
        (H1, Dir, H2, "aside-remote mkdir-remote"),
        (H1, Dir, Dir, "base"),
        (H2, Absent, Absent, "forget"),
        (H2, Absent, H1, "down"),
        (H2, Absent, H2, "rm-remote"),
        (H2, Absent, Dir, "mkdir-local"),
        (H2, H1, Absent, "up-new"),
        (H2, H1, H1, "base"),
        (H2, H1, H2, "up"),
        (H2, H1, Dir, "aside-local mkdir-local"),
        (H2, H2, Absent, "rm-local"),
        (H2, H2, H1, "down"),
        (H2, H2, H2, ""),
        (H2, H2, Dir, "rm-local mkdir-local"),
        (H2, Dir, Absent, "mkdir-remote"),
        (H2, Dir, H1, "aside-remote mkdir-remote"),
        (H2, Dir, H2, "rm-remote mkdir-remote"),
        (H2, Dir, Dir, "base"),
        (Dir, Absent, Absent, "forget"),
        (Dir, Absent, H1, "down"),
        (Dir, Absent, H2, "down"),
        (Dir, Absent, Dir, "rmdir-remote"),
        (Dir, H1, Absent, "up-new"),
        (Dir, H1, H1, "base"),
        (Dir, H1, H2, "conflict"),
        (Dir, H1, Dir, "rmdir-remote up-new"),
        (Dir, H2, Absent, "up-new"),
        (Dir, H2, H1, "conflict"),
        (Dir, H2, H2, "base"),
        (Dir, H2, Dir, "rmdir-remote up-new"),
        (Dir, Dir, Absent, "rmdir-local"),
        (Dir, Dir, H1, "rmdir-local down"),
        (Dir, Dir, H2, "rmdir-local down"),
        (Dir, Dir, Dir, ""),
    ]
};

#[test]
fn every_combination_of_base_local_and_remote() {
    assert_eq!(TABLE.len(), 64);
    let mut wrong = Vec::new();
    for &(b, l, r, want) in TABLE {
        let ops = plan(&one(l, 'l'), &one(r, 'r'), &one(b, 'b'));
        assert!(ops.iter().all(|op| op.path() == "x"), "{ops:?}");
        let got: Vec<&str> = ops.iter().map(verb).collect();
        if got.join(" ") != want {
            wrong.push(format!(
                "base {b:?} local {l:?} remote {r:?}: {got:?}, want {want:?}"
            ));
        }
        assert!(keeps_one_sided_content(
            &one(l, 'l'),
            &one(r, 'r'),
            &one(b, 'b'),
            &ops
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn file_at(path: &str, s: S, side: char) -> (String, Node) {
    (path.to_string(), node(s, side).expect("a file"))
}

fn tree(entries: Vec<(String, Node)>) -> Snapshot {
    Snapshot {
        entries: entries.into_iter().collect(),
    }
}

#[test]
fn folders_whose_children_changed() {
    let dir = |side| ("x".to_string(), node(S::Dir, side).unwrap());
    let base = tree(vec![dir('b'), file_at("x/c", S::H1, 'b')]);
    let cases = [
        // Deleted here, a child edited on the server: the folder and the edit stay.
        (
            tree(vec![]),
            tree(vec![dir('r'), file_at("x/c", S::H2, 'r')]),
            "mkdir-local x, down x/c",
        ),
        // Deleted on the server, a child edited here: both stay.
        (
            tree(vec![dir('l'), file_at("x/c", S::H2, 'l')]),
            tree(vec![]),
            "mkdir-remote x, up-new x/c",
        ),
        // Deleted here, a child added on the server: the new child and its folder stay.
        (
            tree(vec![]),
            tree(vec![
                dir('r'),
                file_at("x/c", S::H1, 'r'),
                file_at("x/n", S::H2, 'r'),
            ]),
            "rm-remote x/c, mkdir-local x, down x/n",
        ),
        // Deleted on the server, a child added here.
        (
            tree(vec![
                dir('l'),
                file_at("x/c", S::H1, 'l'),
                file_at("x/n", S::H2, 'l'),
            ]),
            tree(vec![]),
            "rm-local x/c, mkdir-remote x, up-new x/n",
        ),
        // Deleted here with nothing changed below on the server: children first, then
        // the folder.
        (
            tree(vec![]),
            tree(vec![dir('r'), file_at("x/c", S::H1, 'r')]),
            "rm-remote x/c, rmdir-remote x",
        ),
        (
            tree(vec![dir('l'), file_at("x/c", S::H1, 'l')]),
            tree(vec![]),
            "rm-local x/c, rmdir-local x",
        ),
    ];
    for (local, remote, want) in cases {
        let ops = plan(&local, &remote, &base);
        let got: Vec<String> = ops
            .iter()
            .filter(|op| op.is_change())
            .map(|op| format!("{} {}", verb(op), op.path()))
            .collect();
        assert_eq!(got.join(", "), want, "{ops:?}");
        assert!(keeps_one_sided_content(&local, &remote, &base, &ops));
    }
}

/// Whether every op that removes or replaces content on a side takes only what the base
/// holds there (what both sides had agreed on, so the other side has it or deleted it
/// knowingly).
fn keeps_one_sided_content(
    local: &Snapshot,
    remote: &Snapshot,
    base: &Snapshot,
    ops: &[Op],
) -> bool {
    let same_as_base = |side: &Snapshot, p: &str| match (side.get(p), base.get(p)) {
        (Some(Node::File(a)), Some(Node::File(b))) => a.hash == b.hash,
        (Some(Node::Folder { .. }), Some(Node::Folder { .. })) => true,
        (None, _) => true,
        _ => false,
    };
    let subtree_as_base = |side: &Snapshot, p: &str| {
        same_as_base(side, p) && side.descendants(p).all(|(c, _)| same_as_base(side, c))
    };
    ops.iter().all(|op| match op {
        Op::DeleteLocal { path, .. } => same_as_base(local, path),
        Op::DeleteRemote { path, .. } => same_as_base(remote, path),
        Op::DeleteLocalFolder { path } => subtree_as_base(local, path),
        Op::DeleteRemoteFolder { path, .. } => subtree_as_base(remote, path),
        Op::Download {
            path,
            expect_local: Some(_),
            ..
        } => same_as_base(local, path),
        Op::Upload {
            path,
            replaces: Some(_),
            ..
        } => same_as_base(remote, path),
        _ => true,
    })
}

/// A random tree over a few paths, files and folders, valid (no child under a file).
fn random_tree(rng: &mut StdRng, side: char) -> Snapshot {
    const PATHS: &[&str] = &["a", "a/b", "a/b/c", "a/d", "e"];
    let mut snap = Snapshot::default();
    for p in PATHS {
        let parent_ok = match p.rsplit_once('/') {
            None => true,
            Some((parent, _)) => matches!(snap.get(parent), Some(Node::Folder { .. })),
        };
        if !parent_ok {
            continue;
        }
        let s = [S::Absent, S::H1, S::H2, S::Dir][rng.random_range(0..4)];
        if let Some(n) = node(s, side) {
            snap.insert(*p, n);
        }
    }
    snap
}

#[test]
fn no_plan_removes_content_that_exists_on_one_side_only() {
    let mut rng = StdRng::seed_from_u64(10);
    for i in 0..20_000 {
        let (l, r, b) = (
            random_tree(&mut rng, 'l'),
            random_tree(&mut rng, 'r'),
            random_tree(&mut rng, 'b'),
        );
        let ops = plan(&l, &r, &b);
        assert!(
            keeps_one_sided_content(&l, &r, &b, &ops),
            "case {i}:\nlocal {l:?}\nremote {r:?}\nbase {b:?}\nops {ops:?}"
        );
    }
}
