//! The `Repository` contract, run against SQLite (a temp file) and against PostgreSQL (a
//! fresh database per test on the server at `DBX_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`):
//!
//!     cargo test -p dbx-server --test repository
//!
//! Without a reachable Postgres the Postgres half is skipped with a note, except under
//! CI=true, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "repository/moves.rs"]
mod moves;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::pg::TestDatabase;
use dbx_server::changes::pg_waker::{PgWaker, LISTENER_NAME};
use dbx_server::changes::ChangeWaker;
use dbx_server::metadata::postgres::PgRepo;
use dbx_server::metadata::sqlite::SqliteRepo;
use dbx_server::metadata::{
    AppPasswordRow, ChangeRow, DavPropRow, DeleteCheck, EntryKind, EntryRow, Expired, FileTarget,
    FileWrite, IfMatch, NewShare, RefreshPolicy, RepoError, Repository, RestoreTo, Rotation,
    UserRow, VersionTag, ROOT_PROPS_ID,
};
use dbx_shared::api::{ChangeOp, Entry};
use dbx_shared::names::parse_path;
use moves::*;

type Repo = Arc<dyn Repository>;

// ---------------------------------------------------------------------------------------
// Backends

fn with_sqlite(scenario: fn(&Repo)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo: Repo = Arc::new(SqliteRepo::open(&dir.path().join("dbx.sqlite")).expect("open"));
    repo.migrate().expect("migrate");
    repo.migrate().expect("migrate twice");
    scenario(&repo);
}

fn with_postgres(name: &str, scenario: fn(&Repo)) {
    let Some(db) = TestDatabase::or_skip(name) else {
        return;
    };
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    repo.migrate().expect("migrate");
    repo.migrate().expect("migrate twice");
    scenario(&repo);
    drop(repo);
    drop(db);
}

/// One test per scenario and backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::with_sqlite(super::$name) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::with_postgres(stringify!($name), super::$name) } )*
        }
    };
}

contract!(
    users,
    refresh_tokens,
    folders,
    put_file,
    listing_order_and_pages,
    delete_folder_subtree,
    other_users_ids,
    shares,
    change_log,
    referenced_blobs,
    concurrent_writers_leave_a_gap_free_log,
    concurrent_uploads_to_one_path,
    concurrent_share_downloads_and_rotations,
    move_and_rename_a_file,
    move_a_folder_with_its_subtree,
    move_a_deep_tree,
    move_refusals_change_nothing,
    same_place_and_case_only_renames,
    crossing_moves_never_make_a_cycle,
    moves_keep_paths_within_bounds,
    versions_and_restore,
    trash_items_and_restore,
    trash_restore_makes_parents_again,
    trash_purge,
    expire_by_retention,
    quota_at_commit,
    app_passwords,
    copy_file_shares_the_blob,
    dav_properties,
);

// ---------------------------------------------------------------------------------------
// Helpers

/// Now, in whole seconds: what the change log's JSON snapshots keep.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("time")
}

/// `If-Match: "<version>"`.
fn tag(version: i64) -> VersionTag {
    VersionTag {
        file_id: None,
        version,
    }
}

fn user(repo: &Repo) -> UserRow {
    let email = format!("u{}@example.com", uuid::Uuid::new_v4().simple());
    repo.create_user(&email, "hash", now()).expect("user")
}

fn names(path: &str) -> Vec<String> {
    parse_path(path).expect("path")
}

fn write_to(target: FileTarget, blob: &str) -> FileWrite {
    FileWrite {
        target,
        blob_key: blob.to_string(),
        size: blob.len() as u64,
        mime_type: "text/plain".into(),
        content_hash: format!("hash-{blob}"),
        if_match: None,
        quota_bytes: None,
        dedup: false,
        inline: None,
    }
}

fn put(repo: &Repo, user: &str, path: &str, blob: &str) -> EntryRow {
    repo.put_file(user, &write_to(FileTarget::Path(names(path)), blob), now())
        .unwrap_or_else(|e| panic!("put {path}: {e:?}"))
        .entry
}

fn mkdir(repo: &Repo, user: &str, parent: Option<&str>, name: &str) -> EntryRow {
    repo.create_folder(user, parent, name, now())
        .unwrap_or_else(|e| panic!("mkdir {name}: {e:?}"))
}

fn names_of(rows: &[EntryRow]) -> Vec<&str> {
    rows.iter().map(|e| e.name.as_str()).collect()
}

fn all_changes(repo: &Repo, user: &str) -> Vec<ChangeRow> {
    repo.changes_since(user, 0, 100_000).expect("changes")
}

/// The entry a change row logged, as the API shows it.
fn logged(c: &ChangeRow) -> Entry {
    c.entry.parse().expect("a logged entry")
}

fn version(e: &EntryRow) -> i64 {
    e.content.as_ref().expect("a file").version
}

// ---------------------------------------------------------------------------------------
// Scenarios

fn users(repo: &Repo) {
    let t = now();
    let u = repo
        .create_user("ann@example.com", "h1", t)
        .expect("create");
    assert_eq!(u.email, "ann@example.com");
    assert_eq!(
        repo.user_by_email("ann@example.com").expect("get"),
        Some(u.clone())
    );
    assert_eq!(repo.user_by_id(&u.id).expect("get"), Some(u.clone()));
    assert!(matches!(
        repo.create_user("ann@example.com", "h2", t),
        Err(RepoError::Conflict(_))
    ));
    // The repository compares e-mails exactly; the auth layer trims and lower-cases them
    // before they get here. Both backends must agree on that.
    assert_eq!(repo.user_by_email("Ann@Example.com").expect("get"), None);
    assert_eq!(repo.user_by_email("nobody@example.com").expect("get"), None);
    assert_eq!(repo.user_by_id("no-such-id").expect("get"), None);
    assert_eq!(repo.latest_change(&u.id).expect("latest"), 0);
    assert_eq!(
        repo.latest_change("no-such-id"),
        Err(RepoError::NotFound("user"))
    );
    assert_eq!(repo.usage_bytes(&u.id).expect("usage"), 0);
    put(repo, &u.id, "/a.txt", "12345");
    put(repo, &u.id, "/d/b.txt", "123");
    assert_eq!(repo.usage_bytes(&u.id).expect("usage"), 8);
}

fn policy(grace_secs: i64) -> RefreshPolicy {
    RefreshPolicy {
        ttl: chrono::Duration::days(30),
        session_lifetime: chrono::Duration::days(90),
        reuse_grace: chrono::Duration::seconds(grace_secs),
    }
}

fn rotated(u: &UserRow) -> Rotation {
    Rotation::Rotated {
        user_id: u.id.clone(),
    }
}

fn refresh_tokens(repo: &Repo) {
    let u = user(repo);
    let t = now();
    let p = policy(10);
    let secs = chrono::Duration::seconds;
    repo.add_refresh_token(&u.id, "t1", &p, t).expect("add");
    let rotate =
        |old: &str, new: &str, at| repo.rotate_refresh_token(old, new, &p, at).expect("rotate");
    assert_eq!(rotate("t1", "t2", t), rotated(&u));
    // The client's own race: the old token again, moments later, is refused, and the
    // session lives on.
    assert_eq!(
        rotate("t1", "t3", t + secs(5)),
        Rotation::Stale {
            user_id: u.id.clone()
        }
    );
    assert_eq!(
        rotate("t3", "x", t + secs(6)),
        Rotation::Refused,
        "never issued"
    );
    assert_eq!(rotate("t2", "t4", t + secs(20)), rotated(&u));
    // A rotated token past the grace: stolen. The whole session ends, for every holder.
    assert_eq!(
        rotate("t1", "t6", t + secs(30)),
        Rotation::ReuseDetected {
            user_id: u.id.clone()
        }
    );
    for gone in ["t4", "t6"] {
        assert_eq!(rotate(gone, "x", t + secs(31)), Rotation::Refused, "{gone}");
    }
    assert_eq!(rotate("t1", "t7", t + secs(32)), Rotation::Refused);

    // Expired.
    let expiring = RefreshPolicy { ttl: secs(60), ..p };
    repo.add_refresh_token(&u.id, "e1", &expiring, t)
        .expect("add");
    assert_eq!(
        repo.rotate_refresh_token("e1", "e2", &expiring, t + secs(60))
            .expect("rotate"),
        Rotation::Refused
    );

    // The absolute lifetime: refreshing keeps a session alive only until then.
    let short = RefreshPolicy {
        ttl: secs(60),
        session_lifetime: secs(100),
        reuse_grace: secs(1),
    };
    repo.add_refresh_token(&u.id, "s1", &short, t).expect("add");
    assert_eq!(
        repo.rotate_refresh_token("s1", "s2", &short, t + secs(50))
            .expect("rotate"),
        rotated(&u)
    );
    assert_eq!(
        repo.rotate_refresh_token("s2", "s3", &short, t + secs(99))
            .expect("rotate"),
        rotated(&u)
    );
    assert_eq!(
        repo.rotate_refresh_token("s3", "s4", &short, t + secs(100))
            .expect("rotate"),
        Rotation::Refused
    );

    // Logout ends the session (every token of it), and only the owner's.
    repo.add_refresh_token(&u.id, "l1", &p, t).expect("add");
    assert_eq!(rotate("l1", "l2", t), rotated(&u));
    let other = repo
        .create_user("other@example.com", "phc", t)
        .expect("other user");
    assert!(!repo
        .revoke_refresh_token(&other.id, "l2", t)
        .expect("revoke"));
    assert!(repo.revoke_refresh_token(&u.id, "l2", t).expect("revoke"));
    assert!(!repo.revoke_refresh_token(&u.id, "l2", t).expect("revoke"));
    for gone in ["l1", "l2"] {
        assert_eq!(rotate(gone, "x", t + secs(2)), Rotation::Refused, "{gone}");
    }
    assert_eq!(rotate("unknown", "t8", t), Rotation::Refused);
    assert!(!repo
        .revoke_refresh_token(&u.id, "unknown", t)
        .expect("revoke"));
}

fn folders(repo: &Repo) {
    let u = user(repo);
    let docs = mkdir(repo, &u.id, None, "Docs");
    assert_eq!(
        (docs.path.as_str(), docs.parent_id.as_deref()),
        ("/Docs", None)
    );
    assert_eq!(docs.kind, EntryKind::Folder);
    assert_eq!(
        repo.entry(&u.id, &docs.id).expect("entry"),
        Some(docs.clone())
    );
    // Taken, case-insensitively.
    match repo.create_folder(&u.id, None, "docs", now()) {
        Err(RepoError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let sub = mkdir(repo, &u.id, Some(&docs.id), "Sub");
    assert_eq!(sub.path, "/Docs/Sub");
    assert_eq!(sub.parent_id.as_deref(), Some(docs.id.as_str()));
    assert_eq!(
        repo.entry_by_path(&u.id, &names("/docs/SUB"))
            .expect("by path"),
        Some(sub.clone())
    );
    assert_eq!(repo.entry_by_path(&u.id, &[]).expect("root"), None);
    // A missing parent, and a file as the parent.
    assert_eq!(
        repo.create_folder(&u.id, Some("no-such-id"), "x", now()),
        Err(RepoError::NotFound("folder"))
    );
    let file = put(repo, &u.id, "/f.txt", "b1");
    assert_eq!(
        repo.create_folder(&u.id, Some(&file.id), "x", now()),
        Err(RepoError::NotFound("folder"))
    );
    // A file and a folder cannot share a name either.
    assert!(matches!(
        repo.create_folder(&u.id, None, "F.TXT", now()),
        Err(RepoError::Conflict(_))
    ));
    // The same name in another folder is fine.
    mkdir(repo, &u.id, Some(&sub.id), "Docs");
}

fn put_file(repo: &Repo) {
    let u = user(repo);
    let out = repo
        .put_file(
            &u.id,
            &write_to(FileTarget::Path(names("/a/b/f.txt")), "blob1"),
            now(),
        )
        .expect("create");
    assert!(out.created);
    assert_eq!(out.replaced_blob, None);
    let f = out.entry;
    assert_eq!(
        (f.path.as_str(), f.name.as_str(), version(&f)),
        ("/a/b/f.txt", "f.txt", 1)
    );
    let content = f.content.clone().expect("content");
    assert_eq!((content.size, content.blob_key.as_str()), (5, "blob1"));
    // The missing parents were created, and logged before the file.
    let b = repo
        .entry_by_path(&u.id, &names("/a/b"))
        .expect("b")
        .expect("b exists");
    assert_eq!(f.parent_id.as_deref(), Some(b.id.as_str()));
    let log: Vec<(ChangeOp, String)> = all_changes(repo, &u.id)
        .into_iter()
        .map(|c| (c.op, logged(&c).path().to_string()))
        .collect();
    assert_eq!(
        log,
        vec![
            (ChangeOp::Create, "/a".to_string()),
            (ChangeOp::Create, "/a/b".to_string()),
            (ChangeOp::Create, "/a/b/f.txt".to_string()),
        ]
    );

    // A new version, through a path that differs in case: same file, same name.
    let out = repo
        .put_file(
            &u.id,
            &write_to(FileTarget::Path(names("/A/B/F.TXT")), "blob2"),
            now(),
        )
        .expect("update");
    assert!(!out.created);
    assert_eq!(out.replaced_blob.as_deref(), Some("blob1"));
    assert_eq!(
        (out.entry.id.as_str(), out.entry.name.as_str()),
        (f.id.as_str(), "f.txt")
    );
    assert_eq!(version(&out.entry), 2);
    assert_eq!(
        repo.entry(&u.id, &f.id).expect("entry"),
        Some(out.entry.clone())
    );

    // If-Match.
    let mut w = write_to(FileTarget::Path(names("/a/b/f.txt")), "blob3");
    w.if_match = Some(IfMatch::Version(tag(1)));
    assert_eq!(
        repo.put_file(&u.id, &w, now()),
        Err(RepoError::PreconditionFailed)
    );
    w.if_match = Some(IfMatch::Version(tag(2)));
    assert_eq!(
        version(&repo.put_file(&u.id, &w, now()).expect("if-match").entry),
        3
    );
    w.if_match = Some(IfMatch::Any);
    assert_eq!(
        version(&repo.put_file(&u.id, &w, now()).expect("if-match *").entry),
        4
    );
    let mut missing = write_to(FileTarget::Path(names("/nope.txt")), "blob4");
    missing.if_match = Some(IfMatch::Any);
    assert_eq!(
        repo.put_file(&u.id, &missing, now()),
        Err(RepoError::PreconditionFailed)
    );
    missing.if_match = Some(IfMatch::Version(tag(1)));
    assert_eq!(
        repo.put_file(&u.id, &missing, now()),
        Err(RepoError::PreconditionFailed)
    );
    assert_eq!(
        repo.entry_by_path(&u.id, &names("/nope.txt")).expect("get"),
        None
    );

    // A name in a folder given by id.
    let target = FileTarget::InFolder {
        parent_id: Some(b.id.clone()),
        name: "g.txt".into(),
    };
    let g = repo
        .put_file(&u.id, &write_to(target, "blob5"), now())
        .expect("in folder");
    assert!(g.created);
    assert_eq!(g.entry.path, "/a/b/g.txt");
    let target = FileTarget::InFolder {
        parent_id: Some("no-such-id".into()),
        name: "g.txt".into(),
    };
    assert_eq!(
        repo.put_file(&u.id, &write_to(target, "blob6"), now()),
        Err(RepoError::NotFound("folder"))
    );
    let target = FileTarget::InFolder {
        parent_id: None,
        name: "root.txt".into(),
    };
    let r = repo
        .put_file(&u.id, &write_to(target, "blob7"), now())
        .expect("in root");
    assert_eq!(
        (r.entry.path.as_str(), r.entry.parent_id),
        ("/root.txt", None)
    );

    // Something in the way: a file where a folder should be, a folder where the file goes.
    let before = repo.latest_change(&u.id).expect("latest");
    for path in ["/a/b/f.txt/x.txt", "/a/b/f.txt/deeper/x.txt", "/a/b", "/A"] {
        match repo.put_file(
            &u.id,
            &write_to(FileTarget::Path(names(path)), "blob8"),
            now(),
        ) {
            Err(RepoError::Conflict(_)) => {}
            other => panic!("{path}: expected a conflict, got {other:?}"),
        }
    }
    // Failed writes change nothing, the log included.
    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);
    assert_eq!(
        repo.entry_by_path(&u.id, &names("/a/b/f.txt/deeper"))
            .expect("get"),
        None
    );
    assert_eq!(
        repo.put_file(&u.id, &write_to(FileTarget::Path(vec![]), "blob9"), now())
            .map(|_| ()),
        Err(RepoError::Invalid("the path must name a file".into()))
    );
}

fn listing_order_and_pages(repo: &Repo) {
    let u = user(repo);
    let dir = mkdir(repo, &u.id, None, "dir");
    for name in ["b", "A", "c", "_f", "Ä"] {
        mkdir(repo, &u.id, Some(&dir.id), name);
    }
    for name in [
        "a.txt", "B.txt", "_x", "Z", "10", "9", "é.txt", "a b", "a-b", "aB",
    ] {
        put(repo, &u.id, &format!("/dir/{name}"), "blob");
    }
    // Folders first, then files; each by case-folded name, bytewise (UTF-8), as SQLite's
    // BINARY collation and Postgres's "C" sort: "_" before letters, "10" before "9",
    // non-ASCII last.
    let want = vec![
        "_f", "A", "b", "c", "Ä", // folders
        "10", "9", "_x", "a b", "a-b", "a.txt", "aB", "B.txt", "Z", "é.txt", // files
    ];
    let all = repo
        .list_children(&u.id, Some(&dir.id), None, 1000)
        .expect("list");
    assert_eq!(names_of(&all), want);
    assert!(all
        .iter()
        .all(|e| e.parent_id.as_deref() == Some(dir.id.as_str())));

    // Pages of every size put together give the same list, across the folder/file edge.
    for limit in [1, 2, 3, 4, 7] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = repo
                .list_children(&u.id, Some(&dir.id), after.as_ref(), limit)
                .expect("page");
            assert!(page.len() <= limit);
            if page.is_empty() {
                break;
            }
            after = page.last().map(EntryRow::position);
            got.extend(page);
        }
        assert_eq!(got, all, "limit {limit}");
    }

    // The root lists only its own children; a missing folder or a file is not a folder.
    let root = repo.list_children(&u.id, None, None, 1000).expect("root");
    assert_eq!(names_of(&root), vec!["dir"]);
    assert_eq!(
        repo.list_children(&u.id, Some("no-such-id"), None, 10),
        Err(RepoError::NotFound("folder"))
    );
    let file = &all[all.len() - 1];
    assert_eq!(
        repo.list_children(&u.id, Some(&file.id), None, 10),
        Err(RepoError::NotFound("folder"))
    );
}

fn delete_folder_subtree(repo: &Repo) {
    let u = user(repo);
    let f = put(repo, &u.id, "/d/e/f.txt", "b-f");
    let g = put(repo, &u.id, "/d/g.txt", "b-g");
    let h = put(repo, &u.id, "/dx/h.txt", "b-h");
    let keep = put(repo, &u.id, "/d.txt", "b-keep");
    let d = repo
        .entry_by_path(&u.id, &names("/d"))
        .expect("d")
        .expect("d exists");
    let e = repo
        .entry_by_path(&u.id, &names("/d/e"))
        .expect("e")
        .expect("e exists");
    let before = repo.latest_change(&u.id).expect("latest");

    // The wrong kind is not found.
    assert_eq!(
        repo.delete_entry(
            &u.id,
            &d.id,
            EntryKind::File,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("file"))
    );
    assert_eq!(
        repo.delete_entry(
            &u.id,
            &g.id,
            EntryKind::Folder,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("folder"))
    );
    repo.delete_entry(
        &u.id,
        &d.id,
        EntryKind::Folder,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");
    for id in [&d.id, &e.id, &f.id, &g.id] {
        assert_eq!(repo.entry(&u.id, id).expect("entry"), None);
    }
    assert_eq!(
        repo.entry_by_path(&u.id, &names("/d/e/f.txt"))
            .expect("get"),
        None
    );
    // Siblings whose names merely start the same are untouched.
    assert_eq!(repo.entry(&u.id, &h.id).expect("h"), Some(h.clone()));
    assert_eq!(
        repo.entry(&u.id, &keep.id).expect("keep"),
        Some(keep.clone())
    );
    let root = repo.list_children(&u.id, None, None, 100).expect("root");
    assert_eq!(names_of(&root), vec!["dx", "d.txt"]);
    assert_eq!(
        repo.list_children(&u.id, Some(&d.id), None, 100),
        Err(RepoError::NotFound("folder"))
    );
    assert_eq!(
        repo.delete_entry(
            &u.id,
            &d.id,
            EntryKind::Folder,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("folder"))
    );
    assert_eq!(
        repo.delete_entry(
            &u.id,
            &f.id,
            EntryKind::File,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("file"))
    );

    // Exactly one change for the whole subtree: the folder's delete, with its last state.
    let log = repo.changes_since(&u.id, before, 100).expect("changes");
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].seq, log[0].op), (before + 1, ChangeOp::Delete));
    assert_eq!(logged(&log[0]), d.to_api());

    // The paths are free again.
    let again = repo
        .put_file(
            &u.id,
            &write_to(FileTarget::Path(names("/d/e/f.txt")), "b-f2"),
            now(),
        )
        .expect("reuse");
    assert!(again.created);
    assert_ne!(again.entry.id, f.id);
    assert_eq!(version(&again.entry), 1);
    mkdir(repo, &u.id, None, "D2");
    // Deleting a file.
    repo.delete_entry(
        &u.id,
        &h.id,
        EntryKind::File,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete file");
    assert_eq!(repo.entry(&u.id, &h.id).expect("h"), None);
    assert_eq!(
        repo.usage_bytes(&u.id).expect("usage"),
        ("b-f2".len() + "b-keep".len()) as u64
    );
}

fn other_users_ids(repo: &Repo) {
    let a = user(repo);
    let b = user(repo);
    let file = put(repo, &a.id, "/dir/a.txt", "blob-a");
    let dir = repo
        .entry_by_path(&a.id, &names("/dir"))
        .expect("dir")
        .expect("exists");
    let share = repo
        .create_share(&a.id, &new_share(&file.id, "tok-a", None), now())
        .expect("share");

    assert_eq!(repo.entry(&b.id, &file.id).expect("entry"), None);
    assert_eq!(
        repo.entry_by_path(&b.id, &names("/dir/a.txt"))
            .expect("path"),
        None
    );
    assert_eq!(
        repo.list_children(&b.id, Some(&dir.id), None, 10),
        Err(RepoError::NotFound("folder"))
    );
    assert_eq!(
        repo.create_folder(&b.id, Some(&dir.id), "x", now()),
        Err(RepoError::NotFound("folder"))
    );
    let into_a = FileTarget::InFolder {
        parent_id: Some(dir.id.clone()),
        name: "b.txt".into(),
    };
    assert_eq!(
        repo.put_file(&b.id, &write_to(into_a, "blob-b"), now()),
        Err(RepoError::NotFound("folder"))
    );
    assert_eq!(
        repo.delete_entry(
            &b.id,
            &file.id,
            EntryKind::File,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("file"))
    );
    assert_eq!(
        repo.delete_entry(
            &b.id,
            &dir.id,
            EntryKind::Folder,
            &DeleteCheck::default(),
            now()
        ),
        Err(RepoError::NotFound("folder"))
    );
    assert_eq!(
        repo.create_share(&b.id, &new_share(&file.id, "tok-b", None), now()),
        Err(RepoError::NotFound("file"))
    );
    assert_eq!(
        repo.revoke_share(&b.id, &share.id),
        Err(RepoError::NotFound("share link"))
    );
    assert_eq!(repo.list_shares(&b.id).expect("shares"), vec![]);
    assert_eq!(all_changes(repo, &b.id), vec![]);
    assert_eq!(repo.latest_change(&b.id).expect("latest"), 0);
    assert_eq!(repo.usage_bytes(&b.id).expect("usage"), 0);
    // The same path for b is b's own.
    let mine = put(repo, &b.id, "/dir/a.txt", "blob-b");
    assert_ne!(mine.id, file.id);
    assert_eq!(repo.entry(&a.id, &file.id).expect("a's"), Some(file));
    assert!(!repo.list_shares(&a.id).expect("shares")[0].disabled);
}

fn new_share(file_id: &str, token: &str, max: Option<u64>) -> NewShare {
    NewShare {
        file_id: file_id.to_string(),
        token_hash: token.to_string(),
        expires_at: None,
        max_downloads: max,
    }
}

fn shares(repo: &Repo) {
    let u = user(repo);
    let file = put(repo, &u.id, "/s.txt", "blob-s");
    let dir = mkdir(repo, &u.id, None, "folder");
    let t = now();
    let expires = t + chrono::Duration::hours(1);
    let mut spec = new_share(&file.id, "tok-1", Some(2));
    spec.expires_at = Some(expires);
    let limited = repo.create_share(&u.id, &spec, t).expect("share");
    assert_eq!(
        (
            limited.download_count,
            limited.disabled,
            limited.max_downloads,
            limited.expires_at
        ),
        (0, false, Some(2), Some(expires))
    );
    let open = repo
        .create_share(&u.id, &new_share(&file.id, "tok-2", None), t)
        .expect("share");
    assert_eq!(
        repo.create_share(&u.id, &new_share(&dir.id, "tok-3", None), t),
        Err(RepoError::NotFound("file"))
    );
    assert_eq!(
        repo.create_share(&u.id, &new_share("no-such-id", "tok-4", None), t),
        Err(RepoError::NotFound("file"))
    );
    let listed = repo.list_shares(&u.id).expect("list");
    assert_eq!(listed, vec![limited.clone(), open.clone()]);

    let (found, target) = repo
        .share_by_token_hash("tok-1")
        .expect("by token")
        .expect("exists");
    assert_eq!(found, limited);
    assert_eq!(target, Some(file.clone()));
    assert_eq!(
        repo.share_by_token_hash("tok-unknown").expect("by token"),
        None
    );

    // Exactly max_downloads are counted.
    assert!(repo.count_share_download(&limited.id).expect("count"));
    assert!(repo.count_share_download(&limited.id).expect("count"));
    assert!(!repo.count_share_download(&limited.id).expect("count"));
    for _ in 0..5 {
        assert!(repo.count_share_download(&open.id).expect("count"));
    }
    assert!(!repo.count_share_download("no-such-id").expect("count"));
    let listed = repo.list_shares(&u.id).expect("list");
    assert_eq!((listed[0].download_count, listed[1].download_count), (2, 5));

    // Revoked at once.
    repo.revoke_share(&u.id, &open.id).expect("revoke");
    let (found, _) = repo
        .share_by_token_hash("tok-2")
        .expect("by token")
        .expect("exists");
    assert!(found.disabled);
    assert_eq!(
        repo.revoke_share(&u.id, "no-such-id"),
        Err(RepoError::NotFound("share link"))
    );

    // A deleted file leaves the link pointing at nothing.
    repo.delete_entry(
        &u.id,
        &file.id,
        EntryKind::File,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");
    let (found, target) = repo
        .share_by_token_hash("tok-1")
        .expect("by token")
        .expect("exists");
    assert_eq!((found.id, target), (limited.id, None));
}

fn change_log(repo: &Repo) {
    let u = user(repo);
    let x = mkdir(repo, &u.id, None, "x");
    let a1 = put(repo, &u.id, "/x/a", "a1");
    let a2 = put(repo, &u.id, "/x/a", "a2");
    let b = put(repo, &u.id, "/y/b", "b1");
    let y = repo
        .entry_by_path(&u.id, &names("/y"))
        .expect("y")
        .expect("exists");
    // Failed writes take no position.
    assert!(repo.create_folder(&u.id, None, "X", now()).is_err());
    repo.delete_entry(
        &u.id,
        &x.id,
        EntryKind::Folder,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");

    let log = all_changes(repo, &u.id);
    let seqs: Vec<i64> = log.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let ops: Vec<ChangeOp> = log.iter().map(|c| c.op).collect();
    use ChangeOp::*;
    assert_eq!(ops, vec![Create, Create, Update, Create, Create, Delete]);
    // Each row holds the entry as it was right after its change.
    let snapshots: Vec<Entry> = log.iter().map(logged).collect();
    assert_eq!(
        snapshots,
        vec![
            x.to_api(),
            a1.to_api(),
            a2.to_api(),
            y.to_api(),
            b.to_api(),
            x.to_api()
        ]
    );
    assert_eq!(repo.latest_change(&u.id).expect("latest"), 6);

    // Windows of the log.
    let page: Vec<i64> = repo
        .changes_since(&u.id, 2, 2)
        .expect("page")
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(page, vec![3, 4]);
    assert_eq!(repo.changes_since(&u.id, 6, 10).expect("end"), vec![]);
    assert_eq!(repo.changes_since(&u.id, 5, 10).expect("last").len(), 1);
}

fn referenced_blobs(repo: &Repo) {
    let u = user(repo);
    put(repo, &u.id, "/a", "blob-a1");
    put(repo, &u.id, "/a", "blob-a2");
    let b = put(repo, &u.id, "/b", "blob-b");
    put(repo, &u.id, "/c", "blob-b");
    mkdir(repo, &u.id, None, "folder");
    repo.delete_entry(
        &u.id,
        &b.id,
        EntryKind::File,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");
    let mut keys = repo.referenced_blobs().expect("blobs");
    keys.sort();
    // The replaced content is kept as a version; a deleted file's content is in the trash.
    assert_eq!(keys, vec!["blob-a1", "blob-a2", "blob-b"]);
}

fn app_password(user: &UserRow, name: &str) -> AppPasswordRow {
    AppPasswordRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        name: name.to_string(),
        created_at: now(),
    }
}

fn app_passwords(repo: &Repo) {
    let (a, b) = (user(repo), user(repo));
    let laptop = app_password(&a, "Laptop");
    repo.add_app_password(&laptop, "hash-1").expect("add");
    repo.add_app_password(&app_password(&a, "phone"), "hash-2")
        .expect("add");
    // Names are unique per user, case-insensitively; another user may reuse one.
    assert!(matches!(
        repo.add_app_password(&app_password(&a, "LAPTOP"), "hash-3"),
        Err(RepoError::Conflict(_))
    ));
    repo.add_app_password(&app_password(&b, "laptop"), "hash-4")
        .expect("another user's");
    let listed = repo.list_app_passwords(&a.id).expect("list");
    assert_eq!(
        listed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Laptop", "phone"]
    );
    assert_eq!(listed[0], laptop);

    let found = repo.user_by_app_password(&a.email, "hash-1").expect("find");
    assert_eq!(found.map(|u| u.id), Some(a.id.clone()));
    // The hash must belong to that e-mail's account.
    assert_eq!(
        repo.user_by_app_password(&b.email, "hash-1").expect("find"),
        None
    );
    assert_eq!(
        repo.user_by_app_password(&a.email, "nope").expect("find"),
        None
    );

    // Another user's id is not found, and nothing is revoked.
    assert!(matches!(
        repo.revoke_app_password(&b.id, &laptop.id),
        Err(RepoError::NotFound(_))
    ));
    repo.revoke_app_password(&a.id, &laptop.id).expect("revoke");
    assert_eq!(
        repo.user_by_app_password(&a.email, "hash-1").expect("find"),
        None
    );
    assert!(matches!(
        repo.revoke_app_password(&a.id, &laptop.id),
        Err(RepoError::NotFound(_))
    ));
    assert_eq!(repo.list_app_passwords(&a.id).expect("list").len(), 1);
}

fn copy_file_shares_the_blob(repo: &Repo) {
    let (u, other) = (user(repo), user(repo));
    let src = put(repo, &u.id, "/docs/a.txt", "blob-a");
    let dir = mkdir(repo, &u.id, None, "copies");
    let target = FileTarget::InFolder {
        parent_id: Some(dir.id.clone()),
        name: "b.txt".into(),
    };
    let out = repo
        .copy_file(&u.id, &src.id, &target, None, now())
        .expect("copy");
    assert!(out.created);
    assert_ne!(out.entry.id, src.id);
    assert_eq!(out.entry.path, "/copies/b.txt");
    let (c, s) = (
        out.entry.content.clone().unwrap(),
        src.content.clone().unwrap(),
    );
    assert_eq!(
        (c.blob_key, c.content_hash, c.size),
        (s.blob_key, s.content_hash, s.size)
    );
    assert_eq!(c.version, 1);
    // Over an existing file: a new version of it.
    let again = repo
        .copy_file(&u.id, &src.id, &target, None, now())
        .expect("copy again");
    assert!(!again.created);
    assert_eq!(version(&again.entry), 2);
    // The copy is in the change log like any upload.
    let last = all_changes(repo, &u.id).pop().expect("a change");
    assert_eq!(
        (last.op, logged(&last).id()),
        (ChangeOp::Update, out.entry.id.as_str())
    );
    // Deleting the source leaves the copy's blob referenced.
    repo.delete_entry(
        &u.id,
        &src.id,
        EntryKind::File,
        &DeleteCheck::default(),
        now(),
    )
    .expect("delete");
    assert!(repo
        .referenced_blobs()
        .expect("blobs")
        .contains(&"blob-a".to_string()));
    // A deleted source, or another user's file, is not found.
    assert!(matches!(
        repo.copy_file(&u.id, &src.id, &target, None, now()),
        Err(RepoError::NotFound(_))
    ));
    let theirs = put(repo, &other.id, "/x", "blob-x");
    assert!(matches!(
        repo.copy_file(&u.id, &theirs.id, &target, None, now()),
        Err(RepoError::NotFound(_))
    ));
}

fn dav_properties(repo: &Repo) {
    let (u, other) = (user(repo), user(repo));
    let prop = |ns: &str, name: &str, value: &str| DavPropRow {
        namespace: ns.to_string(),
        name: name.to_string(),
        prefix: Some("z".into()),
        xml: format!("<z:{name} xmlns:z=\"{ns}\">{value}</z:{name}>").into_bytes(),
    };
    let f = put(repo, &u.id, "/f", "blob-f");
    repo.patch_dav_props(
        &u.id,
        &f.id,
        &[prop("urn:x", "a", "1"), prop("urn:x", "b", "2")],
        &[],
    )
    .expect("set");
    repo.patch_dav_props(
        &u.id,
        &f.id,
        &[prop("urn:x", "a", "one")],
        &[("urn:x".into(), "b".into())],
    )
    .expect("replace and remove");
    assert_eq!(
        repo.dav_props(&u.id, &f.id).expect("get"),
        vec![prop("urn:x", "a", "one")]
    );
    // Per user: the same entry key under another user holds nothing.
    assert!(repo.dav_props(&other.id, &f.id).expect("get").is_empty());
    repo.patch_dav_props(&u.id, ROOT_PROPS_ID, &[prop("", "r", "root")], &[])
        .expect("root");
    assert_eq!(repo.dav_props(&u.id, ROOT_PROPS_ID).expect("get").len(), 1);
    // A new version keeps the entry, and so its properties.
    put(repo, &u.id, "/f", "blob-f2");
    assert_eq!(repo.dav_props(&u.id, &f.id).expect("get").len(), 1);
}

/// DESIGN.md invariant 3 under load: 16 writers of one user, racing to create the same
/// parent folder too, while a reader follows the log from its last seen position. Every
/// position must be seen exactly once, in order: a position visible before an earlier
/// one committed would show up here as a skipped number.
fn concurrent_writers_leave_a_gap_free_log(repo: &Repo) {
    const WRITERS: usize = 16;
    const FILES: usize = 20;
    let u = user(repo);
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WRITERS + 1));

    let reader = {
        let (repo, user, done, start) = (repo.clone(), u.id.clone(), done.clone(), start.clone());
        thread::spawn(move || {
            start.wait();
            let mut seen: Vec<ChangeRow> = Vec::new();
            let mut last = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = repo.changes_since(&user, last, 50).expect("changes");
                for c in page {
                    assert_eq!(c.seq, last + 1, "the reader skipped a position");
                    last = c.seq;
                    seen.push(c);
                }
                if finished && last == repo.latest_change(&user).expect("latest") {
                    return seen;
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (repo, user, start) = (repo.clone(), u.id.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for j in 0..FILES {
                    let w = write_to(FileTarget::Path(names(&format!("/shared/t{i}/f{j}"))), "b");
                    if let Err(e) = repo.put_file(&user, &w, now()) {
                        panic!("writer {i} file {j}: {e:?}");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().expect("reader");

    // /shared once, /shared/t{i} once each, every file once.
    let total = 1 + WRITERS + WRITERS * FILES;
    assert_eq!(repo.latest_change(&u.id).expect("latest"), total as i64);
    assert_eq!(seen.len(), total);
    assert_eq!(seen, all_changes(repo, &u.id));
    let paths: HashSet<String> = seen.iter().map(|c| logged(c).path().to_string()).collect();
    assert_eq!(paths.len(), total);
    assert!(seen.iter().all(|c| c.op == ChangeOp::Create));
    assert_eq!(logged(&seen[0]).path(), "/shared");
}

/// Uploads racing to one new path end as one create and updates, never an error.
fn concurrent_uploads_to_one_path(repo: &Repo) {
    const THREADS: usize = 8;
    const EACH: usize = 5;
    let u = user(repo);
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (repo, user, start) = (repo.clone(), u.id.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|j| {
                        let w = write_to(
                            FileTarget::Path(names("/race/same.txt")),
                            &format!("b{i}-{j}"),
                        );
                        repo.put_file(&user, &w, now())
                            .unwrap_or_else(|e| panic!("upload {i}/{j}: {e:?}"))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("uploader"))
        .collect();
    assert_eq!(outcomes.iter().filter(|o| o.created).count(), 1);
    let mut versions: Vec<i64> = outcomes.iter().map(|o| version(&o.entry)).collect();
    versions.sort();
    assert_eq!(versions, (1..=(THREADS * EACH) as i64).collect::<Vec<_>>());
    let ids: HashSet<&str> = outcomes.iter().map(|o| o.entry.id.as_str()).collect();
    assert_eq!(ids.len(), 1);
    // Each replaced blob was the one current just before: no version lost track of.
    let mut replaced: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.replaced_blob.clone())
        .collect();
    replaced.sort();
    replaced.dedup();
    assert_eq!(replaced.len(), THREADS * EACH - 1);
    let log = all_changes(repo, &u.id);
    assert_eq!(log.len(), 1 + THREADS * EACH);
    let ops: Vec<ChangeOp> = log.iter().map(|c| c.op).collect();
    assert_eq!(&ops[..2], &[ChangeOp::Create, ChangeOp::Create]);
    assert!(ops[2..].iter().all(|op| *op == ChangeOp::Update));
}

/// Exactly `max_downloads` concurrent downloads are counted; one refresh token rotates once.
fn concurrent_share_downloads_and_rotations(repo: &Repo) {
    const THREADS: usize = 12;
    let u = user(repo);
    let file = put(repo, &u.id, "/f", "blob");
    let share = repo
        .create_share(&u.id, &new_share(&file.id, "tok", Some(5)), now())
        .expect("share");
    // No grace: every presentation after the first is a replay.
    let p = policy(0);
    repo.add_refresh_token(&u.id, "old", &p, now())
        .expect("token");
    let start = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (repo, share_id, start) = (repo.clone(), share.id.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let counted = repo.count_share_download(&share_id).expect("count");
                let rotation = repo
                    .rotate_refresh_token("old", &format!("new{i}"), &p, now())
                    .expect("rotate");
                (counted, matches!(rotation, Rotation::Rotated { .. }))
            })
        })
        .collect();
    let results: Vec<(bool, bool)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.0).count(), 5);
    assert_eq!(results.iter().filter(|r| r.1).count(), 1);
    assert_eq!(repo.list_shares(&u.id).expect("list")[0].download_count, 5);
}

// ---------------------------------------------------------------------------------------
// SQLite only

/// A migrated SQLite repository in a file of its own, with the folder that holds it and
/// its write-ahead log.
fn sqlite_on_disk() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo: Repo = Arc::new(SqliteRepo::open(&dir.path().join("dbx.sqlite")).expect("open"));
    repo.migrate().expect("migrate");
    (dir, repo)
}

/// The size of the write-ahead log of the repository made by [`sqlite_on_disk`].
fn log_bytes(dir: &tempfile::TempDir) -> u64 {
    std::fs::metadata(dir.path().join("dbx.sqlite-wal"))
        .expect("the log")
        .len()
}

/// The write-ahead log is checkpointed and reused, not grown with every commit, under
/// writes that never pause: 2,000 folders write about 80 MB of log pages, and the log
/// stays within its backstop mark of 4,000 pages (16 MB) and one transaction.
#[test]
fn sqlite_log_is_checkpointed_off_the_write_path() {
    let (dir, repo) = sqlite_on_disk();
    let u = user(&repo);
    let commits = 2_000;
    for i in 0..commits {
        mkdir(&repo, &u.id, None, &format!("d{i}"));
    }
    let wal = log_bytes(&dir);
    assert!(
        wal < 20 << 20,
        "the log grew to {wal} bytes over {commits} commits: nothing checkpointed it"
    );
    assert_eq!(
        repo.list_children(&u.id, None, None, 10_000)
            .expect("list")
            .len(),
        2_000
    );
}

/// Under writes that never pause, with readers beside them, the log is still reused from
/// its start: it stays well below the 4,000-page mark where every commit would checkpoint
/// again (that mark was where it sat, and writes ran slower than they arrived).
#[test]
fn sqlite_log_is_restarted_under_steady_writes_and_reads() {
    let (dir, repo) = sqlite_on_disk();
    let u = user(&repo);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (repo, user, done) = (repo.clone(), u.id.clone(), done.clone());
            thread::spawn(move || {
                let mut lists = 0u64;
                while !done.load(Ordering::Relaxed) {
                    repo.list_children(&user, None, None, 50).expect("list");
                    lists += 1;
                }
                lists
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (repo, user) = (repo.clone(), u.id.clone());
            thread::spawn(move || {
                for i in 0..1_500 {
                    mkdir(&repo, &user, None, &format!("w{w}-{i}"));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0, "a reader never ran");
    }
    let wal_pages = log_bytes(&dir) / 4096;
    assert!(
        wal_pages < 3_000,
        "the log grew to {wal_pages} pages under steady writes: it was never restarted"
    );
    assert_eq!(
        repo.list_children(&u.id, None, None, 10_000)
            .expect("list")
            .len(),
        3_000
    );
}

// ---------------------------------------------------------------------------------------
// Postgres only

/// Several processes starting at once on an empty database all come up.
#[test]
fn postgres_concurrent_migrations() {
    let Some(db) = TestDatabase::or_skip("postgres_concurrent_migrations") else {
        return;
    };
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, start) = (db.url.clone(), start.clone());
            thread::spawn(move || {
                let repo = PgRepo::open(&url).expect("open");
                start.wait();
                repo.migrate()
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("migrate");
    }
}

/// Tables that grew get fresh planner statistics (autovacuum is off on some servers, this
/// machine's included): a lookup by path then uses the path index, not a scan of the
/// user's entries; a second refresh finds nothing to do.
#[test]
fn postgres_statistics_follow_growth() {
    let Some(db) = TestDatabase::or_skip("postgres_statistics_follow_growth") else {
        return;
    };
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    repo.migrate().expect("migrate");
    let u = user(&repo);
    for i in 0..300 {
        repo.create_folder(&u.id, None, &format!("f{i:03}"), Utc::now())
            .expect("folder");
    }
    // Postgres publishes a transaction's counts shortly after it ends.
    let mut analysed = Vec::new();
    for _ in 0..50 {
        analysed = repo.refresh_statistics().expect("refresh");
        if analysed.contains(&"entries".to_string()) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(analysed.contains(&"entries".to_string()), "{analysed:?}");
    assert!(analysed.contains(&"changes".to_string()), "{analysed:?}");
    let mut c = ::postgres::Client::connect(&db.url, ::postgres::NoTls).expect("connect");
    let plan: String = c
        .query(
            &format!(
                "EXPLAIN SELECT id FROM entries WHERE user_id = '{}' AND path_key = '/f150' \
                 AND deleted_at IS NULL",
                u.id
            ),
            &[],
        )
        .expect("explain")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(plan.contains("entries_live_path"), "{plan}");
    let again = repo.refresh_statistics().expect("refresh");
    assert!(!again.contains(&"entries".to_string()), "{again:?}");
}

/// Through `open_repository`, as `dbx-server` does; an unreachable database fails fast
/// with a one-line reason.
#[test]
fn postgres_open_repository() {
    let t = Instant::now();
    let err = dbx_server::app::open_repository("postgres://postgres@127.0.0.1:1/nothing")
        .err()
        .expect("unreachable");
    let shown = format!("{err:#}");
    assert!(
        shown.contains("cannot connect to Postgres at 127.0.0.1:1/nothing"),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown}");
    assert!(t.elapsed() < Duration::from_secs(10));

    let Some(db) = TestDatabase::or_skip("postgres_open_repository") else {
        return;
    };
    let repo = dbx_server::app::open_repository(&db.url).expect("open");
    let u = user(&repo);
    assert_eq!(repo.latest_change(&u.id).expect("latest"), 0);
}

/// A change committed through one connection pool wakes a waker listening on its own.
#[test]
fn postgres_waker_hears_other_processes() {
    let Some(db) = TestDatabase::or_skip("postgres_waker_hears_other_processes") else {
        return;
    };
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    repo.migrate().expect("migrate");
    let waker = PgWaker::start(&db.url).expect("waker");
    let u = user(&repo);
    let other = user(&repo);
    let mut mine = waker.subscribe(&u.id);
    let theirs = waker.subscribe(&other.id);
    put(&repo, &u.id, "/a.txt", "blob");
    wait_for_wake(&mut mine, Duration::from_secs(5));
    // Only that user's polls wake; a rolled-back write announces nothing.
    assert!(repo
        .create_folder(&other.id, Some("no-such-id"), "x", now())
        .is_err());
    thread::sleep(Duration::from_millis(300));
    assert!(!theirs.has_changed().expect("sender alive"));

    // The listening connection dies: the waker reconnects, wakes every poll it holds (a
    // change may have slipped by meanwhile), and hears later changes on the new one.
    let mut mine = waker.subscribe(&u.id);
    let mut admin = ::postgres::Client::connect(&db.url, ::postgres::NoTls).expect("connect");
    let killed = admin
        .query(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
            &[&LISTENER_NAME],
        )
        .expect("terminate");
    assert_eq!(killed.len(), 1);
    let old_pid: i32 = killed[0].get(0);
    put(&repo, &u.id, "/b.txt", "blob");
    wait_for_wake(&mut mine, Duration::from_secs(15));
    let mut mine = waker.subscribe(&u.id);
    thread::sleep(Duration::from_millis(300));
    assert!(!mine.has_changed().expect("sender alive"));
    put(&repo, &u.id, "/c.txt", "blob");
    wait_for_wake(&mut mine, Duration::from_secs(5));
    let listeners = admin
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
            &[&LISTENER_NAME],
        )
        .expect("listeners");
    assert_eq!(listeners.len(), 1);
    assert_ne!(
        listeners[0].get::<_, i32>(0),
        old_pid,
        "a new connection listens"
    );

    drop(waker);
    drop(repo);
    drop(admin);
    drop(db);
}

fn wait_for_wake(rx: &mut tokio::sync::watch::Receiver<u64>, within: Duration) {
    let deadline = Instant::now() + within;
    while !rx.has_changed().expect("sender alive") {
        assert!(Instant::now() < deadline, "no wake-up within {within:?}");
        thread::sleep(Duration::from_millis(10));
    }
    rx.mark_unchanged();
}

// ---------------------------------------------------------------------------------------
// Undo: versions, trash, retention, quota

/// A plain delete (no precondition): the entry goes to the trash.
fn delete(
    repo: &Repo,
    user: &str,
    id: &str,
    kind: EntryKind,
    at: DateTime<Utc>,
) -> Result<(), RepoError> {
    repo.delete_entry(user, id, kind, &DeleteCheck::default(), at)
}

fn blob_of(e: &EntryRow) -> &str {
    &e.content.as_ref().expect("a file").blob_key
}

fn trash_paths(repo: &Repo, user: &str) -> Vec<(String, u64)> {
    repo.list_trash(user, None, 100)
        .expect("trash")
        .into_iter()
        .map(|t| (t.entry.path, t.size))
        .collect()
}

fn log_since(repo: &Repo, user: &str, after: i64) -> Vec<(ChangeOp, String)> {
    repo.changes_since(user, after, 1000)
        .expect("changes")
        .into_iter()
        .map(|c| (c.op, logged(&c).path().to_string()))
        .collect()
}

fn versions_and_restore(repo: &Repo) {
    let u = user(repo);
    let other = user(repo);
    put(repo, &u.id, "/f.txt", "blob-1");
    put(repo, &u.id, "/f.txt", "blob-22");
    let f = put(repo, &u.id, "/f.txt", "blob-333");
    let listed: Vec<(i64, u64, String)> = repo
        .file_versions(&u.id, &f.id)
        .expect("versions")
        .into_iter()
        .map(|v| (v.content.version, v.content.size, v.content.blob_key))
        .collect();
    assert_eq!(
        listed,
        vec![
            (3, 8, "blob-333".to_string()),
            (2, 7, "blob-22".to_string()),
            (1, 6, "blob-1".to_string()),
        ]
    );
    let (file, v1) = repo.file_version(&u.id, &f.id, 1).expect("v1");
    assert_eq!(
        (file.id.as_str(), v1.content.blob_key.as_str()),
        (f.id.as_str(), "blob-1")
    );
    assert_eq!(
        repo.file_version(&u.id, &f.id, 9),
        Err(RepoError::NotFound("version"))
    );
    assert_eq!(
        repo.file_version(&other.id, &f.id, 1),
        Err(RepoError::NotFound("file"))
    );
    assert_eq!(
        repo.restore_version(&other.id, &f.id, 1, None, now()),
        Err(RepoError::NotFound("file"))
    );

    let before = repo.latest_change(&u.id).expect("latest");
    let restored = repo
        .restore_version(&u.id, &f.id, 1, None, now())
        .expect("restore");
    assert_eq!((version(&restored), blob_of(&restored)), (4, "blob-1"));
    assert_eq!(repo.entry(&u.id, &f.id).expect("f"), Some(restored.clone()));
    assert_eq!(
        log_since(repo, &u.id, before),
        vec![(ChangeOp::Update, "/f.txt".into())]
    );
    let numbers: Vec<i64> = repo
        .file_versions(&u.id, &f.id)
        .expect("versions")
        .iter()
        .map(|v| v.content.version)
        .collect();
    assert_eq!(numbers, vec![4, 3, 2, 1]);
    assert_eq!(repo.usage_bytes(&u.id).expect("usage"), 6);

    // A deleted file has no history to show until it is restored.
    delete(repo, &u.id, &f.id, EntryKind::File, now()).expect("delete");
    assert_eq!(
        repo.file_versions(&u.id, &f.id),
        Err(RepoError::NotFound("file"))
    );
}

fn trash_items_and_restore(repo: &Repo) {
    let u = user(repo);
    let other = user(repo);
    let x = put(repo, &u.id, "/a/x.txt", "b-x");
    let y = put(repo, &u.id, "/a/b/y.txt", "b-yy");
    let a = repo
        .entry_by_path(&u.id, &names("/a"))
        .expect("a")
        .expect("a");
    let b = repo
        .entry_by_path(&u.id, &names("/a/b"))
        .expect("b")
        .expect("b");
    let t1 = now();
    delete(repo, &u.id, &x.id, EntryKind::File, t1).expect("delete x");
    let t2 = t1 + chrono::Duration::seconds(1);
    delete(repo, &u.id, &a.id, EntryKind::Folder, t2).expect("delete a");
    // Newest first; the folder is one item and counts the files deleted with it.
    let trash = repo.list_trash(&u.id, None, 100).expect("trash");
    let shown: Vec<(&str, EntryKind, u64)> = trash
        .iter()
        .map(|t| (t.entry.path.as_str(), t.entry.kind, t.size))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("/a", EntryKind::Folder, 4),
            ("/a/x.txt", EntryKind::File, 3)
        ]
    );
    assert_eq!((trash[0].deleted_at, trash[1].deleted_at), (t2, t1));
    // Pages.
    let first = repo.list_trash(&u.id, None, 1).expect("page 1");
    assert_eq!(first.len(), 1);
    let second = repo
        .list_trash(&u.id, Some(&first[0].position()), 1)
        .expect("page 2");
    assert_eq!(second[0].entry.id, x.id);
    assert!(repo
        .list_trash(&u.id, Some(&second[0].position()), 1)
        .expect("page 3")
        .is_empty());
    assert!(repo
        .list_trash(&other.id, None, 100)
        .expect("other")
        .is_empty());
    assert_eq!(
        repo.restore_trash(&other.id, &a.id, &RestoreTo::default(), None, now()),
        Err(RepoError::NotFound("trash item"))
    );
    // Only an item's own id restores it; what went with a folder comes back with it.
    assert_eq!(
        repo.restore_trash(&u.id, &b.id, &RestoreTo::default(), None, now()),
        Err(RepoError::NotFound("trash item"))
    );

    let before = repo.latest_change(&u.id).expect("latest");
    let back = repo
        .restore_trash(&u.id, &a.id, &RestoreTo::default(), None, now())
        .expect("restore a");
    assert_eq!(
        (back.id.as_str(), back.path.as_str()),
        (a.id.as_str(), "/a")
    );
    assert_eq!(
        log_since(repo, &u.id, before),
        vec![
            (ChangeOp::Create, "/a".to_string()),
            (ChangeOp::Create, "/a/b".to_string()),
            (ChangeOp::Create, "/a/b/y.txt".to_string()),
        ]
    );
    let y_back = repo.entry(&u.id, &y.id).expect("y").expect("y is back");
    assert_eq!(
        (y_back.path.as_str(), y_back.parent_id.as_deref()),
        ("/a/b/y.txt", Some(b.id.as_str()))
    );
    // x was deleted on its own before: still in the trash.
    assert_eq!(repo.entry(&u.id, &x.id).expect("x"), None);
    assert_eq!(trash_paths(repo, &u.id), vec![("/a/x.txt".to_string(), 3)]);

    // A taken name is a conflict and changes nothing; a new name or place is not.
    let clash = put(repo, &u.id, "/a/X.TXT", "b-clash");
    let before = repo.latest_change(&u.id).expect("latest");
    assert!(matches!(
        repo.restore_trash(&u.id, &x.id, &RestoreTo::default(), None, now()),
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);
    let renamed = repo
        .restore_trash(
            &u.id,
            &x.id,
            &RestoreTo {
                parent: Some(Some(b.id.clone())),
                name: Some("x2.txt".into()),
            },
            None,
            now(),
        )
        .expect("restore elsewhere");
    assert_eq!(
        (
            renamed.path.as_str(),
            renamed.name.as_str(),
            renamed.parent_id.as_deref()
        ),
        ("/a/b/x2.txt", "x2.txt", Some(b.id.as_str()))
    );
    assert_eq!(version(&renamed), 1);
    assert!(trash_paths(repo, &u.id).is_empty());
    assert_eq!(
        repo.restore_trash(&u.id, &x.id, &RestoreTo::default(), None, now()),
        Err(RepoError::NotFound("trash item"))
    );

    // A folder restored under a new name takes its subtree's paths with it.
    delete(repo, &u.id, &a.id, EntryKind::Folder, now()).expect("delete a again");
    mkdir(repo, &u.id, None, "a");
    assert!(matches!(
        repo.restore_trash(&u.id, &a.id, &RestoreTo::default(), None, now()),
        Err(RepoError::Conflict(_))
    ));
    let to_root = RestoreTo {
        parent: Some(None),
        name: Some("old-a".into()),
    };
    repo.restore_trash(&u.id, &a.id, &to_root, None, now())
        .expect("restore as old-a");
    for (id, path) in [
        (&y.id, "/old-a/b/y.txt"),
        (&renamed.id, "/old-a/b/x2.txt"),
        (&clash.id, "/old-a/X.TXT"),
    ] {
        let e = repo.entry(&u.id, id).expect("entry").expect("live");
        assert_eq!(e.path, path);
        assert_eq!(
            repo.entry_by_path(&u.id, &names(path)).expect("by path"),
            Some(e)
        );
    }
}

fn trash_restore_makes_parents_again(repo: &Repo) {
    let u = user(repo);
    let f = put(repo, &u.id, "/p/q/f.txt", "b-f");
    let p = repo
        .entry_by_path(&u.id, &names("/p"))
        .expect("p")
        .expect("p");
    delete(repo, &u.id, &f.id, EntryKind::File, now()).expect("delete f");
    delete(repo, &u.id, &p.id, EntryKind::Folder, now()).expect("delete p");
    let before = repo.latest_change(&u.id).expect("latest");
    let back = repo
        .restore_trash(&u.id, &f.id, &RestoreTo::default(), None, now())
        .expect("restore f");
    assert_eq!(back.path, "/p/q/f.txt");
    assert_eq!(
        log_since(repo, &u.id, before),
        vec![
            (ChangeOp::Create, "/p".to_string()),
            (ChangeOp::Create, "/p/q".to_string()),
            (ChangeOp::Create, "/p/q/f.txt".to_string()),
        ]
    );
    let q = repo
        .entry_by_path(&u.id, &names("/p/q"))
        .expect("q")
        .expect("q");
    assert_eq!(back.parent_id.as_deref(), Some(q.id.as_str()));
    assert_ne!(q.parent_id.as_deref(), Some(p.id.as_str()), "a new folder");
    // The old folder is still in the trash, and its name is taken now.
    assert!(matches!(
        repo.restore_trash(&u.id, &p.id, &RestoreTo::default(), None, now()),
        Err(RepoError::Conflict(_))
    ));
    // A file in the way of a parent is a conflict too, and nothing changes.
    let h = put(repo, &u.id, "/s/t/h.txt", "b-h");
    let sf = repo
        .entry_by_path(&u.id, &names("/s"))
        .expect("s")
        .expect("s");
    delete(repo, &u.id, &h.id, EntryKind::File, now()).expect("delete h");
    delete(repo, &u.id, &sf.id, EntryKind::Folder, now()).expect("delete s");
    put(repo, &u.id, "/s", "b-file-s");
    let before = repo.latest_change(&u.id).expect("latest");
    assert!(matches!(
        repo.restore_trash(&u.id, &h.id, &RestoreTo::default(), None, now()),
        Err(RepoError::Conflict(_))
    ));
    assert_eq!(repo.latest_change(&u.id).expect("latest"), before);
    assert_eq!(repo.entry_by_path(&u.id, &names("/s/t")).expect("t"), None);
}

fn trash_purge(repo: &Repo) {
    let u = user(repo);
    let other = user(repo);
    let x = put(repo, &u.id, "/a/x.txt", "b-x1");
    put(repo, &u.id, "/a/x.txt", "b-x2");
    let keep = put(repo, &u.id, "/keep.txt", "b-keep");
    let a = repo
        .entry_by_path(&u.id, &names("/a"))
        .expect("a")
        .expect("a");
    repo.create_share(&u.id, &new_share(&x.id, "tok-x", None), now())
        .expect("share");
    delete(repo, &u.id, &x.id, EntryKind::File, now()).expect("delete x");
    delete(repo, &u.id, &a.id, EntryKind::Folder, now()).expect("delete a");
    assert_eq!(
        repo.purge_trash(&other.id, Some(&a.id)),
        Err(RepoError::NotFound("trash item"))
    );
    assert_eq!(
        repo.purge_trash(&u.id, Some(&keep.id)),
        Err(RepoError::NotFound("trash item"))
    );
    // Purging the folder leaves the file deleted before it restorable.
    assert_eq!(repo.purge_trash(&u.id, Some(&a.id)), Ok(1));
    assert_eq!(trash_paths(repo, &u.id), vec![("/a/x.txt".to_string(), 4)]);
    assert_eq!(
        repo.restore_trash(&u.id, &a.id, &RestoreTo::default(), None, now()),
        Err(RepoError::NotFound("trash item"))
    );
    let mut keys = repo.referenced_blobs().expect("blobs");
    keys.sort();
    assert_eq!(keys, vec!["b-keep", "b-x1", "b-x2"]);
    // Purging the file takes its versions and links with it.
    assert_eq!(repo.purge_trash(&u.id, Some(&x.id)), Ok(1));
    assert_eq!(repo.referenced_blobs().expect("blobs"), vec!["b-keep"]);
    assert!(repo.list_shares(&u.id).expect("shares").is_empty());
    assert_eq!(repo.share_by_token_hash("tok-x").expect("share"), None);
    assert_eq!(
        repo.purge_trash(&u.id, Some(&x.id)),
        Err(RepoError::NotFound("trash item"))
    );

    // Purge everything: only this user's trash, never a live file.
    let y = put(repo, &u.id, "/y", "b-y");
    let z = put(repo, &u.id, "/z/z", "b-z");
    let o = put(repo, &other.id, "/o", "b-o");
    for (who, id, kind) in [
        (&u.id, &y.id, EntryKind::File),
        (
            &u.id,
            &z.parent_id.clone().expect("z's folder"),
            EntryKind::Folder,
        ),
        (&other.id, &o.id, EntryKind::File),
    ] {
        delete(repo, who, id, kind, now()).expect("delete");
    }
    assert_eq!(repo.purge_trash(&u.id, None), Ok(2));
    assert!(trash_paths(repo, &u.id).is_empty());
    assert_eq!(trash_paths(repo, &other.id), vec![("/o".to_string(), 3)]);
    assert_eq!(repo.entry(&u.id, &keep.id).expect("keep"), Some(keep));
    assert_eq!(repo.purge_trash(&u.id, None), Ok(0));
}

fn expire_by_retention(repo: &Repo) {
    let u = user(repo);
    let t0 = now();
    let day = chrono::Duration::days(1);
    let w = |blob: &str| write_to(FileTarget::Path(names("/v.txt")), blob);
    repo.put_file(&u.id, &w("b-v1"), t0).expect("v1");
    repo.put_file(&u.id, &w("b-v2"), t0 + day).expect("v2");
    let v3 = repo
        .put_file(&u.id, &w("b-v3"), t0 + day * 2)
        .expect("v3")
        .entry;
    let gone = put(repo, &u.id, "/gone.txt", "b-gone");
    let later = put(repo, &u.id, "/later.txt", "b-later");
    delete(repo, &u.id, &gone.id, EntryKind::File, t0).expect("delete");
    delete(repo, &u.id, &later.id, EntryKind::File, t0 + day * 2).expect("delete");

    // Versions replaced (and items deleted) before the cut-off go; the rest stay.
    let cut = t0 + day + chrono::Duration::seconds(1);
    let dry = repo.expire(cut, cut, true).expect("dry run");
    assert_eq!(
        dry,
        Expired {
            versions: 1,
            trash_items: 1
        }
    );
    assert_eq!(
        repo.file_versions(&u.id, &v3.id).expect("versions").len(),
        3
    );
    assert_eq!(repo.expire(cut, cut, false), Ok(dry));
    let left: Vec<i64> = repo
        .file_versions(&u.id, &v3.id)
        .expect("versions")
        .iter()
        .map(|v| v.content.version)
        .collect();
    assert_eq!(left, vec![3, 2]);
    assert_eq!(
        trash_paths(repo, &u.id),
        vec![("/later.txt".to_string(), 7)]
    );
    let mut keys = repo.referenced_blobs().expect("blobs");
    keys.sort();
    assert_eq!(keys, vec!["b-later", "b-v2", "b-v3"]);
    assert_eq!(repo.expire(cut, cut, false), Ok(Expired::default()));
    // The current version never expires, however old.
    let far = t0 + day * 365;
    assert_eq!(
        repo.expire(far, far, false),
        Ok(Expired {
            versions: 1,
            trash_items: 1
        })
    );
    assert_eq!(
        repo.file_versions(&u.id, &v3.id).expect("versions").len(),
        1
    );
    assert_eq!(repo.referenced_blobs().expect("blobs"), vec!["b-v3"]);
}

fn quota_at_commit(repo: &Repo) {
    let u = user(repo);
    let q = |target: &str, blob: &str, quota: u64| {
        let mut w = write_to(FileTarget::Path(names(target)), blob);
        w.quota_bytes = Some(quota);
        repo.put_file(&u.id, &w, now()).map(|o| o.entry)
    };
    let a = q("/a", "0123456789", 15).expect("10 of 15");
    assert_eq!(q("/b", "012345", 15), Err(RepoError::QuotaExceeded));
    q("/b", "01234", 15).expect("exactly 15");
    // Replacing counts only the difference; shrinking always passes.
    q("/a", "0123456789", 15).expect("same size");
    assert_eq!(q("/a", "0123456789x", 15), Err(RepoError::QuotaExceeded));
    q("/a", "01", 5).expect("shrinks while over");
    assert_eq!(repo.usage_bytes(&u.id).expect("usage"), 7);
    // A restore that would pass the quota is refused too, and changes nothing.
    assert_eq!(
        repo.restore_version(&u.id, &a.id, 1, Some(8), now()),
        Err(RepoError::QuotaExceeded)
    );
    delete(repo, &u.id, &a.id, EntryKind::File, now()).expect("delete");
    assert_eq!(
        repo.restore_trash(&u.id, &a.id, &RestoreTo::default(), Some(6), now()),
        Err(RepoError::QuotaExceeded)
    );
    assert_eq!(trash_paths(repo, &u.id).len(), 1);
    repo.restore_trash(&u.id, &a.id, &RestoreTo::default(), Some(7), now())
        .expect("fits exactly");
}
