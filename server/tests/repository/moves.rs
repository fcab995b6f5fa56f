//! The `Repository` contract for moves and renames (`move_entry`), on both backends, and
//! the query plans that keep a move's cost to its own subtree.

use dbx_server::metadata::{
    ChangeRow, DeleteCheck, EntryKind, EntryRow, MoveTo, RepoError, VersionTag,
};
use dbx_shared::api::ChangeOp;

use super::{all_changes, logged, mkdir, names, now, put, user, version, Repo};

fn to(parent_id: Option<Option<&str>>, name: Option<&str>) -> MoveTo {
    MoveTo {
        parent_id: parent_id.map(|p| p.map(str::to_string)),
        name: name.map(str::to_string),
        if_match: None,
    }
}

fn at(repo: &Repo, user: &str, path: &str) -> Option<EntryRow> {
    repo.entry_by_path(user, &names(path)).expect("by path")
}

fn live(repo: &Repo, user: &str, id: &str) -> EntryRow {
    repo.entry(user, id).expect("entry").expect("live")
}

/// The log after position `before`.
fn log_after(repo: &Repo, user: &str, before: i64) -> Vec<ChangeRow> {
    repo.changes_since(user, before, 1000).expect("changes")
}

pub fn move_and_rename_a_file(repo: &Repo) {
    let u = user(repo);
    put(repo, &u.id, "/a/x.txt", "b-x");
    let f = put(repo, &u.id, "/a/x.txt", "b-x2");
    let b = mkdir(repo, &u.id, None, "b");
    let before = repo.latest_change(&u.id).expect("latest");
    let later = now() + chrono::Duration::seconds(5);

    let moved = repo
        .move_entry(&u.id, &f.id, &to(Some(Some(b.id.as_str())), None), later)
        .expect("move");
    assert_eq!(
        (moved.id.as_str(), moved.path.as_str(), moved.name.as_str()),
        (f.id.as_str(), "/b/x.txt", "x.txt")
    );
    assert_eq!(moved.parent_id.as_deref(), Some(b.id.as_str()));
    // Id, version, content and creation time are kept; the time of the change is new.
    assert_eq!(moved.content, f.content);
    assert_eq!(moved.created_at, f.created_at);
    assert_eq!(moved.updated_at, later);
    assert_eq!(live(repo, &u.id, &f.id), moved);
    assert_eq!(at(repo, &u.id, "/b/x.txt"), Some(moved.clone()));
    assert_eq!(at(repo, &u.id, "/a/x.txt"), None);

    // A rename in place, then into the root under a new name.
    let renamed = repo
        .move_entry(&u.id, &f.id, &to(None, Some("y.txt")), now())
        .expect("rename");
    assert_eq!(renamed.path, "/b/y.txt");
    let top = repo
        .move_entry(&u.id, &f.id, &to(Some(None), Some("z.txt")), now())
        .expect("to the root");
    assert_eq!(
        (top.path.as_str(), top.parent_id.as_deref()),
        ("/z.txt", None)
    );
    assert_eq!(version(&top), 2);

    // One change per move, with the path it came from.
    let log = log_after(repo, &u.id, before);
    let entries: Vec<_> = log.iter().map(logged).collect();
    let seen: Vec<_> = log
        .iter()
        .zip(&entries)
        .map(|(c, e)| (c.seq - before, c.op, c.from_path.as_deref(), e.path()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, ChangeOp::Move, Some("/a/x.txt"), "/b/x.txt"),
            (2, ChangeOp::Move, Some("/b/x.txt"), "/b/y.txt"),
            (3, ChangeOp::Move, Some("/b/y.txt"), "/z.txt"),
        ]
    );
    assert_eq!(logged(&log[0]), moved.to_api());
    // Older rows have no from_path.
    assert!(all_changes(repo, &u.id)[..before as usize]
        .iter()
        .all(|c| c.from_path.is_none()));
    // The old path is free again, and the usage did not change.
    let again = put(repo, &u.id, "/a/x.txt", "b-new");
    assert_ne!(again.id, f.id);
    assert_eq!(
        repo.usage_bytes(&u.id).expect("usage"),
        ("b-x2".len() + "b-new".len()) as u64
    );
}

pub fn move_a_folder_with_its_subtree(repo: &Repo) {
    let u = user(repo);
    let f = put(repo, &u.id, "/d/e/f.txt", "b-f");
    let g = put(repo, &u.id, "/d/g.txt", "b-g");
    let gone = put(repo, &u.id, "/d/gone.txt", "b-gone");
    repo.delete_entry(
        &u.id,
        &gone.id,
        EntryKind::File,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");
    let sibling = put(repo, &u.id, "/dx/h.txt", "b-h");
    let beside = put(repo, &u.id, "/d.txt", "b-beside");
    let d = at(repo, &u.id, "/d").expect("d");
    let e = at(repo, &u.id, "/d/e").expect("e");
    let n = mkdir(repo, &u.id, None, "n");
    let before = repo.latest_change(&u.id).expect("latest");
    let later = now() + chrono::Duration::seconds(5);

    let moved = repo
        .move_entry(
            &u.id,
            &d.id,
            &to(Some(Some(n.id.as_str())), Some("m")),
            later,
        )
        .expect("move");
    assert_eq!(
        (moved.id.as_str(), moved.path.as_str()),
        (d.id.as_str(), "/n/m")
    );
    // Everything below keeps its id, parent and content; its path follows.
    for (old, path) in [(&e, "/n/m/e"), (&f, "/n/m/e/f.txt"), (&g, "/n/m/g.txt")] {
        let now_at = live(repo, &u.id, &old.id);
        assert_eq!(now_at.path, path);
        assert_eq!(now_at.parent_id, old.parent_id, "{path}");
        assert_eq!(now_at.content, old.content, "{path}");
        assert_eq!(now_at.updated_at, later, "{path}");
        assert_eq!(at(repo, &u.id, path), Some(now_at));
        assert_eq!(at(repo, &u.id, &old.path), None, "{}", old.path);
    }
    let listed = repo
        .list_children(&u.id, Some(&d.id), None, 10)
        .expect("list");
    let paths: Vec<&str> = listed.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/n/m/e", "/n/m/g.txt"]);
    // Names that merely start the same are untouched, and the deleted file stays gone.
    assert_eq!(live(repo, &u.id, &sibling.id), sibling);
    assert_eq!(live(repo, &u.id, &beside.id), beside);
    assert_eq!(repo.entry(&u.id, &gone.id).expect("gone"), None);
    assert_eq!(at(repo, &u.id, "/n/m/gone.txt"), None);

    // One change for the whole subtree.
    let log = log_after(repo, &u.id, before);
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].op, log[0].from_path.as_deref()),
        (ChangeOp::Move, Some("/d"))
    );
    assert_eq!(logged(&log[0]), moved.to_api());

    // The old paths are free; and the tree moves back up.
    put(repo, &u.id, "/d/e/f.txt", "b-f2");
    let back = repo
        .move_entry(&u.id, &e.id, &to(Some(None), Some("e2")), now())
        .expect("up");
    assert_eq!(back.path, "/e2");
    assert_eq!(live(repo, &u.id, &f.id).path, "/e2/f.txt");
}

pub fn move_a_deep_tree(repo: &Repo) {
    let u = user(repo);
    let depth = 40;
    let deep: Vec<String> = (0..depth).map(|i| format!("L{i}")).collect();
    let leaf = put(
        repo,
        &u.id,
        &format!("/top/{}/leaf.txt", deep.join("/")),
        "b",
    );
    // Wide too: a few hundred files at several levels.
    let mut files = vec![leaf];
    for level in [1, 10, 39] {
        for i in 0..100 {
            let dir = deep[..level].join("/");
            files.push(put(repo, &u.id, &format!("/top/{dir}/f{i}.txt"), "b"));
        }
    }
    let top = at(repo, &u.id, "/top").expect("top");
    let into = mkdir(repo, &u.id, None, "Ünder");
    let before = repo.latest_change(&u.id).expect("latest");
    repo.move_entry(
        &u.id,
        &top.id,
        &to(Some(Some(into.id.as_str())), Some("Tóp")),
        now(),
    )
    .expect("move");
    for f in &files {
        let moved = live(repo, &u.id, &f.id);
        let rest = f.path.strip_prefix("/top/").expect("below top");
        assert_eq!(moved.path, format!("/Ünder/Tóp/{rest}"));
        // Found by its new path in any case, as every path is.
        assert_eq!(
            at(repo, &u.id, &moved.path.to_uppercase()).map(|e| e.id),
            Some(f.id.clone())
        );
    }
    assert_eq!(log_after(repo, &u.id, before).len(), 1);
}

pub fn move_refusals_change_nothing(repo: &Repo) {
    let u = user(repo);
    let other = user(repo);
    let f = put(repo, &u.id, "/a/f.txt", "b-f");
    let taken = put(repo, &u.id, "/b/Taken.txt", "b-t");
    let a = at(repo, &u.id, "/a").expect("a");
    let b = at(repo, &u.id, "/b").expect("b");
    let below = mkdir(repo, &u.id, Some(&a.id), "below");
    let theirs = mkdir(repo, &other.id, None, "theirs");
    let before = repo.latest_change(&u.id).expect("latest");
    let refused = |id: &str, t: MoveTo| repo.move_entry(&u.id, id, &t, now());

    assert!(matches!(
        refused(&f.id, to(None, None)),
        Err(RepoError::Invalid(_))
    ));
    // Taken, case-insensitively, by a file or by a folder.
    for (parent, name) in [(&b.id, "taken.TXT"), (&a.id, "BELOW")] {
        assert!(
            matches!(
                refused(&f.id, to(Some(Some(parent.as_str())), Some(name))),
                Err(RepoError::Conflict(_))
            ),
            "{name}"
        );
    }
    assert!(matches!(
        refused(&b.id, to(Some(None), Some("A"))),
        Err(RepoError::Conflict(_))
    ));
    // A folder into itself or below itself.
    for target in [&a.id, &below.id] {
        assert!(matches!(
            refused(&a.id, to(Some(Some(target.as_str())), None)),
            Err(RepoError::Invalid(_))
        ));
    }
    // Unknown ids, another user's ids, a file as the target folder.
    let missing = [
        (
            f.id.as_str(),
            Some("no-such-id"),
            RepoError::NotFound("folder"),
        ),
        (
            f.id.as_str(),
            Some(theirs.id.as_str()),
            RepoError::NotFound("folder"),
        ),
        (
            f.id.as_str(),
            Some(taken.id.as_str()),
            RepoError::NotFound("folder"),
        ),
        ("no-such-id", None, RepoError::NotFound("entry")),
        (theirs.id.as_str(), None, RepoError::NotFound("entry")),
    ];
    for (id, parent, err) in missing {
        assert_eq!(
            refused(id, to(Some(parent), Some("x"))),
            Err(err),
            "{id} {parent:?}"
        );
    }
    assert_eq!(
        repo.move_entry(&other.id, &f.id, &to(Some(None), None), now()),
        Err(RepoError::NotFound("entry"))
    );
    // If-Match: the version, and the file id with it; a folder never matches one.
    let tag = |file_id: Option<&str>, version| MoveTo {
        if_match: Some(VersionTag {
            file_id: file_id.map(str::to_string),
            version,
        }),
        ..to(Some(None), None)
    };
    for t in [
        tag(None, 2),
        tag(Some(taken.id.as_str()), 1),
        tag(Some("x"), 1),
    ] {
        assert_eq!(refused(&f.id, t), Err(RepoError::PreconditionFailed));
    }
    assert_eq!(
        refused(&a.id, tag(None, 1)),
        Err(RepoError::PreconditionFailed)
    );

    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);
    assert_eq!(live(repo, &u.id, &f.id), f);
    assert_eq!(live(repo, &u.id, &a.id), a);
    assert_eq!(all_changes(repo, &other.id).len(), 1);

    // The matching tags pass.
    let moved = refused(&f.id, tag(Some(f.id.as_str()), 1)).expect("id and version");
    assert_eq!(moved.path, "/f.txt");
    let moved = refused(
        &f.id,
        MoveTo {
            name: Some("g.txt".into()),
            ..tag(None, 1)
        },
    )
    .expect("version");
    assert_eq!(moved.path, "/g.txt");
}

pub fn same_place_and_case_only_renames(repo: &Repo) {
    let u = user(repo);
    let f = put(repo, &u.id, "/Docs/Ärger/f.txt", "b-f");
    let docs = at(repo, &u.id, "/Docs").expect("docs");
    let folder = at(repo, &u.id, "/docs/ärger").expect("folder");
    let before = repo.latest_change(&u.id).expect("latest");

    // The same place, however it is named: nothing changes, nothing is logged.
    for t in [
        to(None, Some("Ärger")),
        to(Some(Some(docs.id.as_str())), None),
        to(Some(Some(docs.id.as_str())), Some("Ärger")),
    ] {
        let same = repo
            .move_entry(&u.id, &folder.id, &t, now())
            .expect("no-op");
        assert_eq!(same, folder);
    }
    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);

    // Only the case of the name changes: a rename, down the subtree.
    let renamed = repo
        .move_entry(&u.id, &folder.id, &to(None, Some("ärger")), now())
        .expect("case-only");
    assert_eq!(
        (renamed.name.as_str(), renamed.path.as_str()),
        ("ärger", "/Docs/ärger")
    );
    assert_eq!(live(repo, &u.id, &f.id).path, "/Docs/ärger/f.txt");
    let log = log_after(repo, &u.id, before);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].from_path.as_deref(), Some("/Docs/Ärger"));
    let renamed = repo
        .move_entry(&u.id, &f.id, &to(None, Some("F.TXT")), now())
        .expect("a file's case");
    assert_eq!(renamed.path, "/Docs/ärger/F.TXT");
    let listed = repo
        .list_children(&u.id, Some(&folder.id), None, 10)
        .expect("list");
    assert_eq!(listed, vec![renamed]);
}

/// A move never makes a path deeper or longer than an upload could (256 names, 4096
/// bytes), counting the deepest and the longest entry below a moved folder.
pub fn moves_keep_paths_within_bounds(repo: &Repo) {
    let u = user(repo);
    let chain = |top: &str, n: usize| {
        let names: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        format!("/{top}/{}", names.join("/"))
    };
    // 201 names down to the file; a folder 60 names deep; 60 + 201 > 256.
    let deep_file = put(repo, &u.id, &format!("{}/f.txt", chain("a", 199)), "b");
    let a = at(repo, &u.id, "/a").expect("a");
    let low = put(repo, &u.id, &format!("{}/x.txt", chain("b", 59)), "b");
    let low_dir = repo
        .entry(&u.id, low.parent_id.as_deref().expect("parent"))
        .expect("dir");
    let low_dir = low_dir.expect("live");
    // Long names: 8 × 255 bytes below /c; a folder whose path is 2,259 bytes.
    let long: Vec<String> = (0..8).map(|i| format!("{i}{}", "x".repeat(254))).collect();
    let long_file = put(repo, &u.id, &format!("/c/{}/f.txt", long.join("/")), "b");
    let c = at(repo, &u.id, "/c").expect("c");
    let wide = mkdir(repo, &u.id, None, &"w".repeat(250));
    let mut wide_dir = wide.clone();
    for i in 0..8 {
        wide_dir = mkdir(
            repo,
            &u.id,
            Some(&wide_dir.id),
            &format!("{i}{}", "w".repeat(249)),
        );
    }
    let before = repo.latest_change(&u.id).expect("latest");

    let refused = [
        (&a.id, &low_dir.id, "folders deep"),
        (&c.id, &wide_dir.id, "bytes long"),
    ];
    for (moved, into, why) in refused {
        let r = repo.move_entry(&u.id, moved, &to(Some(Some(into.as_str())), None), now());
        assert!(
            matches!(&r, Err(RepoError::Invalid(m)) if m.contains(why)),
            "{why}: {r:?}"
        );
    }
    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);
    assert_eq!(live(repo, &u.id, &deep_file.id), deep_file);
    assert_eq!(live(repo, &u.id, &long_file.id), long_file);
    // Within the bounds they move.
    let into_b = at(repo, &u.id, "/b").expect("b");
    let moved = repo
        .move_entry(
            &u.id,
            &a.id,
            &to(Some(Some(into_b.id.as_str())), None),
            now(),
        )
        .expect("one level down");
    assert_eq!(moved.path, "/b/a");
    repo.move_entry(&u.id, &c.id, &to(Some(Some(wide.id.as_str())), None), now())
        .expect("one long name down");
}

/// Two folders moved into each other at once: the writers take turns, so one move wins
/// and the other is refused as a move below itself; never a cycle, never a lost entry.
pub fn crossing_moves_never_make_a_cycle(repo: &Repo) {
    let u = user(repo);
    for round in 0..10 {
        let a = mkdir(repo, &u.id, None, &format!("a{round}"));
        let b = mkdir(repo, &u.id, None, &format!("b{round}"));
        let fa = put(repo, &u.id, &format!("/a{round}/f.txt"), "b");
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let outcomes: Vec<_> = [(a.id.clone(), b.id.clone()), (b.id.clone(), a.id.clone())]
            .into_iter()
            .map(|(moved, into)| {
                let (repo, user, start) = (repo.clone(), u.id.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    repo.move_entry(&user, &moved, &to(Some(Some(into.as_str())), None), now())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        let won: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .any(|o| matches!(o, Err(RepoError::Invalid(_)))),
            "{outcomes:?}"
        );
        // The loser is at the root, the winner inside it, the file inside the folder a.
        let (a, b) = (live(repo, &u.id, &a.id), live(repo, &u.id, &b.id));
        let (inner, outer) = if a.parent_id.is_some() {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(inner.parent_id.as_deref(), Some(outer.id.as_str()));
        assert_eq!(outer.parent_id, None);
        assert_eq!(inner.path, format!("{}/{}", outer.path, inner.name));
        let f = live(repo, &u.id, &fa.id);
        let a_now = at(repo, &u.id, &f.path.replace("/f.txt", "")).expect("a");
        assert_eq!(a_now.name, format!("a{round}"));
    }
}

// ---------------------------------------------------------------------------------------
// Query plans: a move's cost follows its subtree, not the rest of the user's tree.

/// On SQLite the subtree statement searches the `(user_id, path_key)` index by range.
#[test]
fn sqlite_move_searches_the_path_index() {
    use dbx_server::metadata::sqlite::{SqliteRepo, MOVE_SUBTREE_SQL};
    use dbx_server::metadata::Repository;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dbx.sqlite");
    SqliteRepo::open(&file)
        .expect("open")
        .migrate()
        .expect("migrate");
    let conn = rusqlite::Connection::open(&file).expect("connect");
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {MOVE_SUBTREE_SQL}"))
        .expect("explain");
    let plan: Vec<String> = stmt
        .query_map(
            rusqlite::params!["u", "/d/", "/d0", "/e", 3, "/e", 3, 0],
            |r| r.get(3),
        )
        .expect("plan")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        plan.iter()
            .any(|d| d.contains("USING INDEX entries_live_path")
                && d.contains("path_key>")
                && d.contains("path_key<")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|d| d.starts_with("SCAN")), "{plan:?}");
}

/// On Postgres too, with 50,000 entries of the same user elsewhere.
#[test]
fn postgres_move_searches_the_path_index() {
    use dbx_server::metadata::postgres::{PgRepo, MOVE_SUBTREE_SQL};
    let Some(db) = super::TestDatabase::or_skip("postgres_move_searches_the_path_index") else {
        return;
    };
    let repo: Repo = std::sync::Arc::new(PgRepo::open(&db.url).expect("open"));
    repo.migrate().expect("migrate");
    let u = user(&repo);
    put(&repo, &u.id, "/d/e/f.txt", "b");
    let mut c = ::postgres::Client::connect(&db.url, ::postgres::NoTls).expect("connect");
    c.execute(
        "INSERT INTO entries (id, user_id, kind, name, name_key, path, path_key, \
         created_at, updated_at) \
         SELECT 'x' || i, $1, 0, 'n' || i, 'n' || i, '/n' || i, '/n' || i, 0, 0 \
         FROM generate_series(1, 50000) AS i",
        &[&u.id],
    )
    .expect("fill");
    c.batch_execute("ANALYZE entries").expect("analyze");
    let plan: Vec<String> = c
        .query(
            &format!("EXPLAIN {MOVE_SUBTREE_SQL}"),
            &[&u.id, &"/d/", &"/d0", &"/e", &3i32, &"/e", &3i32, &0i64],
        )
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let shown = plan.join("\n");
    assert!(shown.contains("entries_live_path"), "{shown}");
    assert!(!shown.contains("Seq Scan"), "{shown}");
    drop(c);
    drop(repo);
    drop(db);
}
