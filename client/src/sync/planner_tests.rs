//! One test per rule of the planner.

use super::*;

fn lf(hash: &str) -> Node {
    Node::File(FileMeta {
        hash: hash.into(),
        size: hash.len() as u64,
        id: None,
        version: None,
        mtime: Some(1),
        ckey: None,
    })
}

fn rf(hash: &str, version: i64) -> Node {
    Node::File(FileMeta {
        hash: hash.into(),
        size: hash.len() as u64,
        id: Some(format!("id-{hash}")),
        version: Some(version),
        mtime: None,
        ckey: None,
    })
}

fn bf(hash: &str, version: i64) -> Node {
    Node::File(FileMeta {
        hash: hash.into(),
        size: hash.len() as u64,
        id: Some(format!("id-{hash}")),
        version: Some(version),
        mtime: Some(1),
        ckey: None,
    })
}

fn dir() -> Node {
    Node::folder(None)
}

fn rdir(id: &str) -> Node {
    Node::folder(Some(id.into()))
}

fn snap(entries: &[(&str, Node)]) -> Snapshot {
    let mut s = Snapshot::default();
    for (p, n) in entries {
        s.insert(*p, n.clone());
    }
    s
}

/// The ops as short strings, e.g. `up a.txt` or `down a.txt`.
fn short(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| {
            let verb = super::table::verb(op);
            format!("{verb} {}", op.path())
        })
        .collect()
}

fn plan_short(l: &[(&str, Node)], r: &[(&str, Node)], b: &[(&str, Node)]) -> Vec<String> {
    short(&plan(&snap(l), &snap(r), &snap(b)))
}

#[test]
fn nothing_changed_means_nothing_to_do() {
    let b = [("a", bf("h1", 1))];
    assert!(plan_short(&[("a", lf("h1"))], &[("a", rf("h1", 1))], &b).is_empty());
}

#[test]
fn local_edit_is_uploaded_against_the_base_version() {
    let ops = plan(
        &snap(&[("a", lf("h2"))]),
        &snap(&[("a", rf("h1", 3))]),
        &snap(&[("a", bf("h1", 3))]),
    );
    assert!(
        matches!(
            &ops[..],
            [Op::Upload {
                replaces: Some(FileMeta {
                    version: Some(3),
                    ..
                }),
                ..
            }]
        ),
        "{ops:?}"
    );
}

#[test]
fn new_local_file_and_folder_are_created_remotely() {
    let got = plan_short(&[("d", dir()), ("d/a", lf("h"))], &[], &[]);
    assert_eq!(got, ["mkdir-remote d", "up-new d/a"]);
}

#[test]
fn remote_edit_and_new_remote_files_are_downloaded() {
    let got = plan_short(
        &[("a", lf("h1"))],
        &[("a", rf("h2", 2)), ("d", rdir("D")), ("d/b", rf("hb", 1))],
        &[("a", bf("h1", 1))],
    );
    assert_eq!(got, ["mkdir-local d", "down a", "down d/b"]);
}

#[test]
fn deletes_propagate_both_ways() {
    let b = [("a", bf("ha", 1)), ("b", bf("hb", 1))];
    let got = plan_short(&[("b", lf("hb"))], &[("a", rf("ha", 1))], &b);
    assert_eq!(got, ["rm-remote a", "rm-local b"]);
}

#[test]
fn identical_edits_on_both_sides_only_record_the_base() {
    let got = plan_short(
        &[("a", lf("h2"))],
        &[("a", rf("h2", 2))],
        &[("a", bf("h1", 1))],
    );
    assert_eq!(got, ["base a"]);
    let got = plan_short(&[("n", lf("x"))], &[("n", rf("x", 1))], &[]);
    assert_eq!(got, ["base n"]);
}

#[test]
fn deleted_on_both_sides_is_forgotten() {
    assert_eq!(plan_short(&[], &[], &[("a", bf("h", 1))]), ["forget a"]);
}

#[test]
fn different_edits_on_both_sides_conflict() {
    let got = plan_short(
        &[("a", lf("l"))],
        &[("a", rf("r", 2))],
        &[("a", bf("h", 1))],
    );
    assert_eq!(got, ["conflict a"]);
}

#[test]
fn an_edit_beats_a_delete_on_either_side() {
    // Edited here, deleted on the server: upload again as a new file.
    let got = plan_short(&[("a", lf("l"))], &[], &[("a", bf("h", 1))]);
    assert_eq!(got, ["up-new a"]);
    // Deleted here, edited on the server: download.
    let got = plan_short(&[], &[("a", rf("r", 2))], &[("a", bf("h", 1))]);
    assert_eq!(got, ["down a"]);
}

#[test]
fn first_sync_merges_and_never_deletes() {
    let got = plan_short(
        &[("l", lf("l")), ("same", lf("s")), ("both", lf("mine"))],
        &[
            ("r", rf("r", 1)),
            ("same", rf("s", 1)),
            ("both", rf("theirs", 1)),
        ],
        &[],
    );
    assert_eq!(got, ["conflict both", "up-new l", "down r", "base same"]);
}

#[test]
fn folder_deleted_locally_keeps_files_added_remotely_below_it() {
    let base = [("d", rdir("D")), ("d/old", bf("o", 1))];
    let got = plan_short(
        &[],
        &[
            ("d", rdir("D")),
            ("d/old", rf("o", 1)),
            ("d/new", rf("n", 1)),
        ],
        &base,
    );
    assert_eq!(got, ["rm-remote d/old", "mkdir-local d", "down d/new"]);
}

#[test]
fn folder_deleted_remotely_keeps_files_edited_locally_below_it() {
    let base = [
        ("d", rdir("D")),
        ("d/e", rdir("E")),
        ("d/e/a", bf("a", 1)),
        ("d/b", bf("b", 1)),
    ];
    let got = plan_short(
        &[
            ("d", dir()),
            ("d/e", dir()),
            ("d/e/a", lf("a2")),
            ("d/b", lf("b")),
        ],
        &[],
        &base,
    );
    assert_eq!(
        got,
        [
            "rm-local d/b",
            "mkdir-remote d",
            "mkdir-remote d/e",
            "up-new d/e/a"
        ]
    );
}

#[test]
fn folder_deleted_with_nothing_new_below_is_deleted_deepest_first() {
    let base = [("d", rdir("D")), ("d/e", rdir("E")), ("d/e/a", bf("a", 1))];
    let got = plan_short(
        &[],
        &[("d", rdir("D")), ("d/e", rdir("E")), ("d/e/a", rf("a", 1))],
        &base,
    );
    assert_eq!(
        got,
        ["rm-remote d/e/a", "rmdir-remote d/e", "rmdir-remote d"]
    );
    let got = plan_short(
        &[("d", dir()), ("d/e", dir()), ("d/e/a", lf("a"))],
        &[],
        &base,
    );
    assert_eq!(got, ["rm-local d/e/a", "rmdir-local d/e", "rmdir-local d"]);
}

#[test]
fn new_server_version_with_same_content_updates_the_base_only() {
    let got = plan_short(
        &[("a", lf("h"))],
        &[("a", rf("h", 5))],
        &[("a", bf("h", 4))],
    );
    assert_eq!(got, ["base a"]);
}

#[test]
fn kind_changes_make_way_without_losing_the_file() {
    // Local file where the server now has a folder with new content: the local file
    // moves aside.
    let got = plan_short(
        &[("x", lf("mine"))],
        &[("x", rdir("X")), ("x/f", rf("f", 1))],
        &[("x", bf("old", 1))],
    );
    assert_eq!(got, ["aside-local x", "mkdir-local x", "down x/f"]);
    // Local folder with content where the server now has a file: the server's file is
    // fetched aside.
    let got = plan_short(
        &[("x", dir()), ("x/f", lf("f"))],
        &[("x", rf("theirs", 2))],
        &[],
    );
    assert_eq!(got, ["aside-remote x", "mkdir-remote x", "up-new x/f"]);
}

#[test]
fn mass_delete_guard_counts_file_deletes() {
    let base: Vec<(String, Node)> = (0..10)
        .map(|i| (format!("f{i}"), bf(&format!("h{i}"), 1)))
        .collect();
    let base = Snapshot {
        entries: base.into_iter().collect(),
    };
    let remote = Snapshot {
        entries: base
            .entries
            .iter()
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect(),
    };
    // Six of ten deleted locally: refused.
    let mut local = Snapshot::default();
    for i in 6..10 {
        local.insert(format!("f{i}"), lf(&format!("h{i}")));
    }
    let ops = plan(&local, &remote, &base);
    assert_eq!(
        mass_delete(&ops, &base, 0),
        Some(MassDelete {
            deletes: 6,
            files: 10
        })
    );
    // Five deleted: allowed (not more than 5).
    local.insert("f5", lf("h5"));
    let ops = plan(&local, &remote, &base);
    assert_eq!(mass_delete(&ops, &base, 0), None);
    // All of a small tree: allowed (not more than 5).
    let small = snap(&[("a", bf("a", 1)), ("b", bf("b", 1))]);
    let ops = plan(&Snapshot::default(), &small, &small);
    assert_eq!(mass_delete(&ops, &small, 0), None);

    // Over several passes: 4 deleted in an earlier pass of the window (base now 6), 2
    // more now: 6 of the 10 there were.
    let six = Snapshot {
        entries: base.entries.clone().into_iter().skip(4).collect(),
    };
    let mut local = six.clone();
    local.remove("f4");
    local.remove("f5");
    let ops = plan(&local, &six, &six);
    assert_eq!(mass_delete(&ops, &six, 0), None);
    assert_eq!(
        mass_delete(&ops, &six, 4),
        Some(MassDelete {
            deletes: 6,
            files: 10
        })
    );
    // Nothing to delete now: nothing to refuse.
    assert_eq!(mass_delete(&plan(&six, &six, &six), &six, 40), None);
}

#[test]
fn conflict_names_keep_the_extension() {
    let stamp = "2026-11-25 130500";
    assert_eq!(
        conflict_name("d/report.txt", "laptop", stamp),
        "d/report (conflicted copy laptop 2026-11-25 130500).txt"
    );
    assert_eq!(
        conflict_name("Makefile", "pc", stamp),
        "Makefile (conflicted copy pc 2026-11-25 130500)"
    );
    assert_eq!(
        conflict_name(".bashrc", "pc", stamp),
        ".bashrc (conflicted copy pc 2026-11-25 130500)"
    );
    assert_eq!(
        conflict_name("a.tar.gz", "pc", stamp),
        "a.tar (conflicted copy pc 2026-11-25 130500).gz"
    );
    assert!(is_conflict_copy(&conflict_name("d/x.txt", "pc", stamp)));
    assert!(!is_conflict_copy("d/x.txt"));
}
