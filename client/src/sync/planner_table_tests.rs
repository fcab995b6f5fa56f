//! The planner, exhaustively: every combination of base × local × remote for one path in
//! {absent, file h1, file h2, folder}, each with its outcome written out; folders whose
//! children changed; and a property over random trees: no plan removes content that
//! exists on one side only (a removal always takes a version the base knows, that is,
//! one the deleting side had seen). Then every way a move meets another change.

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
            ino: None,
            id: (side != 'l').then(|| "dir-id".to_string()),
        }),
    }
}

pub(super) fn verb(op: &Op) -> &'static str {
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
        Op::MoveLocal { .. } => "mv-local",
        Op::MoveRemote { .. } => "mv-remote",
        Op::MoveBase { .. } => "mv-base",
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
/// knowingly), once the plan's moves are made; a move removes nothing.
fn keeps_one_sided_content(
    local: &Snapshot,
    remote: &Snapshot,
    base: &Snapshot,
    ops: &[Op],
) -> bool {
    let moved = super::moves::detect(local, remote, base);
    let (local, remote, base) = (&moved.local, &moved.remote, &moved.base);
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

// ---- moves ----------------------------------------------------------------------------

/// A file as a side sees it: content `hash`, server id `id` at `version` (remote and
/// base), local inode `ino` (local and base).
fn mfile(side: char, hash: &str, id: &str, version: i64, ino: u64) -> Node {
    Node::File(FileMeta {
        hash: hash.into(),
        size: hash.len() as u64,
        id: (side != 'l').then(|| id.to_string()),
        version: (side != 'l').then_some(version),
        mtime: (side != 'r').then_some(ino as i64 * 10),
        ckey: (side != 'r').then(|| format!("{ino}:5:1")),
    })
}

fn mdir(side: char, id: &str, ino: u64) -> Node {
    Node::Folder {
        id: (side != 'l').then(|| id.to_string()),
        ino: (side != 'r').then(|| format!("{ino}:1")),
    }
}

/// The three snapshots of a case, each a list of `(path, what)`: `f:<hash>:<id>:<version>:<ino>`
/// for a file, `d:<id>:<ino>` for a folder.
fn side(side: char, entries: &[(&str, &str)]) -> Snapshot {
    let mut snap = Snapshot::default();
    for (path, what) in entries {
        let parts: Vec<&str> = what.split(':').collect();
        let node = match parts[..] {
            ["f", hash, id, version, ino] => mfile(
                side,
                hash,
                id,
                version.parse().unwrap(),
                ino.parse().unwrap(),
            ),
            ["d", id, ino] => mdir(side, id, ino.parse().unwrap()),
            _ => panic!("bad entry {what}"),
        };
        snap.insert(*path, node);
    }
    snap
}

/// The changes a plan makes, as `verb path` (a move: `verb from>to`).
fn changes(ops: &[Op]) -> String {
    ops.iter()
        .filter(|op| op.is_change() || matches!(op, Op::MoveBase { .. }))
        .map(|op| match op.moved_from() {
            Some(from) => format!("{} {from}>{}", verb(op), op.path()),
            None => format!("{} {}", verb(op), op.path()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

type Entries<'a> = &'a [(&'a str, &'a str)];

/// Base, local, remote, and the changes planned; each case says what it proves.
const MOVES: &[(&str, Entries, Entries, Entries, &str)] = &[
    (
        "a file moved on the server is renamed here, nothing downloaded",
        &[("a", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        "mv-local a>b",
    ),
    (
        "a file renamed here is one server move, nothing uploaded",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        "mv-remote a>b",
    ),
    (
        "a folder moved on the server is one rename here, whatever it holds",
        &[
            ("d", "d:D:1"),
            ("d/x", "f:h1:X:1:7"),
            ("d/e", "d:E:2"),
            ("d/e/y", "f:h2:Y:3:8"),
        ],
        &[
            ("d", "d:D:1"),
            ("d/x", "f:h1:X:1:7"),
            ("d/e", "d:E:2"),
            ("d/e/y", "f:h2:Y:3:8"),
        ],
        &[
            ("n", "d:D:1"),
            ("n/x", "f:h1:X:1:7"),
            ("n/e", "d:E:2"),
            ("n/e/y", "f:h2:Y:3:8"),
        ],
        "mv-local d>n",
    ),
    (
        "a folder renamed here is one server move, whatever it holds",
        &[
            ("d", "d:D:1"),
            ("d/x", "f:h1:X:1:7"),
            ("d/e", "d:E:2"),
            ("d/e/y", "f:h2:Y:3:8"),
        ],
        &[
            ("n", "d:D:1"),
            ("n/x", "f:h1:X:1:7"),
            ("n/e", "d:E:2"),
            ("n/e/y", "f:h2:Y:3:8"),
        ],
        &[
            ("d", "d:D:1"),
            ("d/x", "f:h1:X:1:7"),
            ("d/e", "d:E:2"),
            ("d/e/y", "f:h2:Y:3:8"),
        ],
        "mv-remote d>n",
    ),
    (
        "moved on the server, edited here: renamed, then the edit is uploaded over the moved file",
        &[("a", "f:h1:X:1:7")],
        &[("a", "f:h2:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        "mv-local a>b, up b",
    ),
    (
        "renamed here, edited on the server: moved there, the edit comes down at the new path",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("a", "f:h2:X:2:7")],
        "mv-remote a>b, down b",
    ),
    (
        "moved on the server and edited there, edited here too: a conflict at the new path",
        &[("a", "f:h1:X:1:7")],
        &[("a", "f:h2:X:1:7")],
        &[("b", "f:h3:X:2:7")],
        "mv-local a>b, conflict b",
    ),
    (
        "moved on the server, deleted here: it stays, at the new path",
        &[("a", "f:h1:X:1:7")],
        &[],
        &[("b", "f:h1:X:1:7")],
        "down b",
    ),
    (
        "renamed here, deleted on the server: it stays, at the new path",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[],
        "up-new b",
    ),
    (
        "a folder moved on the server and deleted here stays, at the new path",
        &[("d", "d:D:1"), ("d/x", "f:h1:X:1:7")],
        &[],
        &[("n", "d:D:1"), ("n/x", "f:h1:X:1:7")],
        "mkdir-local n, down n/x",
    ),
    (
        "moved to the same place on both sides: only the base follows",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        "mv-base a>b",
    ),
    (
        "moved to two places: this device's move is the later one on the server, no duplicate",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("c", "f:h1:X:1:7")],
        "mv-remote c>b",
    ),
    (
        "moved to two places, this device's place taken on the server: this device follows",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("c", "f:h1:X:1:7"), ("b", "f:h9:Z:1:0")],
        "mv-local b>c, down b",
    ),
    (
        "renamed here into a folder deleted on the server: the folder comes back",
        &[("f", "d:F:1"), ("a", "f:h1:X:1:7")],
        &[("f", "d:F:1"), ("f/a", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        "mv-remote a>f/a, mkdir-remote f",
    ),
    (
        "moved on the server into a folder deleted here: the folder comes back",
        &[("f", "d:F:1"), ("a", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        &[("f", "d:F:1"), ("f/a", "f:h1:X:1:7")],
        "mv-local a>f/a, mkdir-local f",
    ),
    (
        "a folder renamed here while the server added, edited and deleted inside it",
        &[("d", "d:D:1"), ("d/x", "f:h1:X:1:7"), ("d/y", "f:h2:Y:1:8")],
        &[("n", "d:D:1"), ("n/x", "f:h1:X:1:7"), ("n/y", "f:h2:Y:1:8")],
        &[("d", "d:D:1"), ("d/x", "f:h3:X:2:7"), ("d/z", "f:h4:Z:1:0")],
        "mv-remote d>n, rm-local n/y, down n/x, down n/z",
    ),
    (
        "a folder moved on the server while this device added, edited and deleted inside it",
        &[("d", "d:D:1"), ("d/x", "f:h1:X:1:7"), ("d/y", "f:h2:Y:1:8")],
        &[("d", "d:D:1"), ("d/x", "f:h3:X:1:7"), ("d/z", "f:h4:Z:1:9")],
        &[("n", "d:D:1"), ("n/x", "f:h1:X:1:7"), ("n/y", "f:h2:Y:1:8")],
        "mv-local d>n, rm-remote n/y, up n/x, up-new n/z",
    ),
    (
        "a folder moved on the server and a file in it renamed here: both follow",
        &[("d", "d:D:1"), ("d/x", "f:h1:X:1:7")],
        &[("d", "d:D:1"), ("y", "f:h1:X:1:7")],
        &[("n", "d:D:1"), ("n/x", "f:h1:X:1:7")],
        "mv-local d>n, mv-remote n/x>y",
    ),
    (
        "the same inode with another size or time is not a rename: delete plus upload",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h22:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        "rm-remote a, up-new b",
    ),
    (
        "moved on the server where this device made a new file: no move, both kept",
        &[("a", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7"), ("b", "f:h5:Q:1:9")],
        &[("b", "f:h1:X:1:7")],
        "rm-local a, conflict b",
    ),
    (
        "renamed here where the server has a new file: no move, both kept",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7"), ("b", "f:h5:Q:1:9")],
        "rm-remote a, conflict b",
    ),
    (
        "two hard links of one inode are not a rename",
        &[("a", "f:h1:X:1:7")],
        &[("b", "f:h1:X:1:7"), ("c", "f:h1:X:1:7")],
        &[("a", "f:h1:X:1:7")],
        "rm-remote a, up-new b, up-new c",
    ),
];

#[test]
fn every_way_a_move_meets_another_change() {
    let mut wrong = Vec::new();
    for (what, b, l, r, want) in MOVES {
        let (l, r, b) = (side('l', l), side('r', r), side('b', b));
        let ops = plan(&l, &r, &b);
        let got = changes(&ops);
        if got != *want {
            wrong.push(format!("{what}:\n  got  {got}\n  want {want}"));
        }
        assert!(keeps_one_sided_content(&l, &r, &b, &ops), "{what}: {ops:?}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_move_carries_the_version_it_saw_and_the_local_file_it_renames() {
    let b = side('b', &[("a", "f:h1:X:1:7")]);
    let ops = plan(
        &side('l', &[("b", "f:h1:X:1:7")]),
        &side('r', &[("a", "f:h2:X:4:7")]),
        &b,
    );
    assert_eq!(
        ops[0],
        Op::MoveRemote {
            path: "b".into(),
            from: "a".into(),
            base: "a".into(),
            id: "X".into(),
            version: Some(4),
        }
    );
    let local = side('l', &[("a", "f:h2:X:1:7")]);
    let ops = plan(&local, &side('r', &[("b", "f:h1:X:1:7")]), &b);
    assert_eq!(
        ops[0],
        Op::MoveLocal {
            path: "b".into(),
            from: "a".into(),
            base: "a".into(),
            local: local.get("a").unwrap().clone(),
        }
    );
    // The upload after it checks the renamed file by size and time only (a rename
    // changes its change time), and replaces the server's file at the version it saw.
    let Op::Upload {
        path,
        local: sent,
        replaces: Some(r),
    } = &ops[1]
    else {
        panic!("{ops:?}");
    };
    assert_eq!((path.as_str(), sent.ckey.as_deref()), ("b", None));
    assert_eq!((r.id.as_deref(), r.version), (Some("X"), Some(1)));
}
