//! Upgrades in place: a database made by an earlier schema, filled with data the way that
//! version wrote it, is migrated by the current server with nothing lost, and the new
//! features work on it. Runs on SQLite and on PostgreSQL (skipped without one, except
//! under CI=true), on its own in scripts/test.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::pg::TestDatabase;
use dbx_server::metadata::postgres::PgRepo;
use dbx_server::metadata::sqlite::SqliteRepo;
use dbx_server::metadata::{
    AppPasswordRow, DeleteCheck, EntryKind, FileTarget, FileWrite, MoveTo, NewShare, Repository,
    UploadLease, UploadRow,
};
use dbx_server::storage::Staged;
use dbx_shared::api::ChangeOp;
use dbx_shared::names::parse_path;

/// Every migration before the current release's, in order.
const SQLITE: [&str; 7] = [
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_moves.sql"),
    include_str!("../../migrations/sqlite/0003_refresh_token_families.sql"),
    include_str!("../../migrations/sqlite/0004_database_identity.sql"),
    include_str!("../../migrations/sqlite/0005_undo.sql"),
    include_str!("../../migrations/sqlite/0006_webdav.sql"),
    include_str!("../../migrations/sqlite/0007_uploads.sql"),
];
const POSTGRES: [&str; 7] = [
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_moves.sql"),
    include_str!("../../migrations/postgres/0003_refresh_token_families.sql"),
    include_str!("../../migrations/postgres/0004_database_identity.sql"),
    include_str!("../../migrations/postgres/0005_undo.sql"),
    include_str!("../../migrations/postgres/0006_webdav.sql"),
    include_str!("../../migrations/postgres/0007_uploads.sql"),
];

type Repo = Arc<dyn Repository>;

/// Times of the rows below, in milliseconds.
const T0: i64 = 1_764_000_000_000;

fn folder_json(id: &str, name: &str, path: &str) -> String {
    format!(
        r#"{{"type":"folder","id":"{id}","name":"{name}","parent_id":null,"path":"{path}","created_at":"2025-11-24T16:00:00Z","updated_at":"2025-11-24T16:00:00Z"}}"#
    )
}

fn file_json(id: &str, parent: &str, path: &str, version: i64) -> String {
    let name = path.rsplit('/').next().unwrap_or_default();
    format!(
        r#"{{"type":"file","id":"{id}","name":"{name}","parent_id":{parent},"path":"{path}","size":5,"mime_type":"text/plain","content_hash":"{}","version":{version},"created_at":"2025-11-24T16:00:00Z","updated_at":"2025-11-24T16:00:00Z"}}"#,
        "ab".repeat(32)
    )
}

/// What schema 0001 held after a user made /Docs, wrote /Docs/a.txt twice, shared it,
/// and deleted /old.txt: the same statements on both dialects.
fn rows_of_schema_1() -> Vec<String> {
    let hash = "ab".repeat(32);
    vec![
        format!(
            "INSERT INTO users (id, email, password_hash, created_at, change_seq) \
             VALUES ('u-1', 'old@example.com', 'phc-hash', {T0}, 5)"
        ),
        format!(
            "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) \
             VALUES ('rt-hash', 'u-1', {})",
            T0 * 10
        ),
        format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             created_at, updated_at) \
             VALUES ('e-docs', 'u-1', NULL, 0, 'Docs', 'docs', '/Docs', '/docs', {T0}, {T0})"
        ),
        format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             size, mime_type, content_hash, version, blob_key, created_at, updated_at) \
             VALUES ('e-file', 'u-1', 'e-docs', 1, 'a.txt', 'a.txt', '/Docs/a.txt', \
             '/docs/a.txt', 5, 'text/plain', '{hash}', 2, 'blob-2', {T0}, {T0})"
        ),
        format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             size, mime_type, content_hash, version, blob_key, created_at, updated_at, \
             deleted_at) \
             VALUES ('e-old', 'u-1', NULL, 1, 'old.txt', 'old.txt', '/old.txt', '/old.txt', \
             3, 'text/plain', '{hash}', 1, 'blob-old', {T0}, {T0}, {T0})"
        ),
        format!(
            "INSERT INTO shares (id, user_id, file_id, token_hash, max_downloads, \
             download_count, created_at) \
             VALUES ('s-1', 'u-1', 'e-file', 'share-hash', 10, 3, {T0})"
        ),
        change(
            1,
            "create",
            "e-docs",
            &folder_json("e-docs", "Docs", "/Docs"),
        ),
        change(
            2,
            "create",
            "e-file",
            &file_json("e-file", "\"e-docs\"", "/Docs/a.txt", 1),
        ),
        change(
            3,
            "update",
            "e-file",
            &file_json("e-file", "\"e-docs\"", "/Docs/a.txt", 2),
        ),
        change(
            4,
            "create",
            "e-old",
            &file_json("e-old", "null", "/old.txt", 1),
        ),
        change(
            5,
            "delete",
            "e-old",
            &file_json("e-old", "null", "/old.txt", 1),
        ),
    ]
}

fn change(seq: i64, op: &str, entry: &str, json: &str) -> String {
    format!(
        "INSERT INTO changes (user_id, seq, op, entry_id, entry_json, created_at) \
         VALUES ('u-1', {seq}, '{op}', '{entry}', '{json}', {T0})"
    )
}

/// Everything schema 1 held reads back the same, and a move works and is logged.
fn check_upgraded(repo: &dyn Repository) {
    let user = repo
        .user_by_email("old@example.com")
        .expect("user")
        .expect("kept");
    assert_eq!(
        (user.id.as_str(), user.password_hash.as_str()),
        ("u-1", "phc-hash")
    );
    let file = repo
        .entry_by_path("u-1", &parse_path("/docs/A.TXT").expect("path"))
        .expect("by path")
        .expect("kept");
    let content = file.content.clone().expect("a file");
    assert_eq!(
        (
            file.id.as_str(),
            content.version,
            content.blob_key.as_str(),
            content.size
        ),
        ("e-file", 2, "blob-2", 5)
    );
    assert_eq!(file.created_at.timestamp_millis(), T0);
    let listed = repo
        .list_children("u-1", Some("e-docs"), None, 10)
        .expect("list");
    assert_eq!(listed, vec![file.clone()]);
    assert_eq!(repo.entry("u-1", "e-old").expect("deleted"), None);
    let mut blobs = repo.referenced_blobs().expect("blobs");
    blobs.sort();
    assert_eq!(blobs, ["blob-2", "blob-old"]);
    assert_eq!(repo.usage_bytes("u-1").expect("usage"), 5);
    let (share, target) = repo
        .share_by_token_hash("share-hash")
        .expect("share")
        .expect("kept");
    assert_eq!((share.download_count, share.max_downloads), (3, Some(10)));
    assert_eq!(target, Some(file.clone()));
    let t = chrono::Utc::now();
    let policy = policy();
    let rotation = repo
        .rotate_refresh_token("rt-hash", "rt-next", &policy, t)
        .expect("rotate");
    assert_eq!(rotation.issued_to(), Some("u-1"));

    let log = repo.changes_since("u-1", 0, 100).expect("log");
    let ops: Vec<(i64, ChangeOp)> = log.iter().map(|c| (c.seq, c.op)).collect();
    use ChangeOp::*;
    assert_eq!(
        ops,
        [
            (1, Create),
            (2, Create),
            (3, Update),
            (4, Create),
            (5, Delete)
        ]
    );
    assert!(log.iter().all(|c| c.from_path.is_none()));
    let entry = log[2].entry.parse().expect("a logged entry");
    assert_eq!(entry.path(), "/Docs/a.txt");

    // New in 0002: moves, with their old path in the log.
    let to = MoveTo {
        name: Some("Papers".into()),
        ..MoveTo::default()
    };
    let moved = repo.move_entry("u-1", "e-docs", &to, t).expect("move");
    assert_eq!(moved.path, "/Papers");
    let file = repo.entry("u-1", "e-file").expect("file").expect("live");
    assert_eq!(file.path, "/Papers/a.txt");
    let log = repo.changes_since("u-1", 5, 100).expect("log");
    assert_eq!(
        (log[0].seq, log[0].op, log[0].from_path.as_deref()),
        (6, Move, Some("/Docs"))
    );
    repo.delete_entry(
        "u-1",
        "e-docs",
        EntryKind::Folder,
        &DeleteCheck::default(),
        t,
    )
    .expect("delete");

    // New in 0004: the database's identity, which delta cursors carry; migrating again
    // keeps it.
    let id = repo.database_id().expect("identity");
    assert_eq!(id.len(), 32, "{id}");
    repo.migrate().expect("nothing left to do");
    assert_eq!(repo.database_id().expect("identity"), id);
}

#[test]
fn databases_made_apart_have_different_identities() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids: Vec<String> = ["one.sqlite", "two.sqlite"]
        .iter()
        .map(|name| {
            let repo = SqliteRepo::open(&dir.path().join(name)).expect("open");
            repo.migrate().expect("migrate");
            repo.database_id().expect("identity")
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn sqlite_upgrades_from_schema_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dbx.sqlite");
    {
        let c = rusqlite::Connection::open(&file).expect("open");
        c.execute_batch(SQLITE[0]).expect("schema 1");
        c.pragma_update(None, "user_version", 1).expect("version");
        for sql in rows_of_schema_1() {
            c.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let repo = SqliteRepo::open(&file).expect("open");
    repo.migrate().expect("upgrade");
    repo.migrate().expect("nothing left to do");
    check_upgraded(&repo);
}

#[test]
fn postgres_upgrades_from_schema_1() {
    let Some(db) = TestDatabase::or_skip("postgres_upgrades_from_schema_1") else {
        return;
    };
    {
        let mut c = postgres::Client::connect(&db.url, postgres::NoTls).expect("connect");
        c.batch_execute(POSTGRES[0]).expect("schema 1");
        c.batch_execute(&format!(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL); \
             INSERT INTO schema_migrations VALUES (1, {T0})"
        ))
        .expect("version");
        for sql in rows_of_schema_1() {
            c.batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    repo.migrate().expect("upgrade");
    repo.migrate().expect("nothing left to do");
    check_upgraded(repo.as_ref());
    drop(repo);
    drop(db);
}

// ---------------------------------------------------------------------------------------
// From schema 5 (undo) to 6 (WebDAV)

/// Makes the database at `path` as the release whose migrations are `migrations` left it.
fn sqlite_at(path: &std::path::Path, migrations: &[&str]) {
    let c = rusqlite::Connection::open(path).expect("create");
    for (i, sql) in migrations.iter().enumerate() {
        c.execute_batch(sql)
            .unwrap_or_else(|e| panic!("migration {}: {e}", i + 1));
    }
    c.pragma_update(None, "user_version", migrations.len() as i64)
        .expect("version");
}

/// Makes the database at `url` as the release whose migrations are `migrations` left it.
fn postgres_at(url: &str, migrations: &[&str]) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    for (i, sql) in migrations.iter().enumerate() {
        c.batch_execute(sql)
            .unwrap_or_else(|e| panic!("migration {}: {e}", i + 1));
    }
    c.batch_execute(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .expect("versions table");
    for v in 1..=migrations.len() as i64 {
        c.execute("INSERT INTO schema_migrations VALUES ($1, 0)", &[&v])
            .expect("version");
    }
}

fn policy() -> dbx_server::metadata::RefreshPolicy {
    dbx_server::metadata::RefreshPolicy {
        ttl: chrono::Duration::days(1),
        session_lifetime: chrono::Duration::days(90),
        reuse_grace: chrono::Duration::seconds(10),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("time")
}

/// What schema 5 stored, written by the repository itself (opening does not migrate):
/// returns the user id.
fn fill_schema_5(repo: &Repo) -> String {
    let t = now();
    let u = repo.create_user("ann@example.com", "phc", t).expect("user");
    repo.add_refresh_token(&u.id, "refresh-hash", &policy(), t)
        .expect("token");
    let docs = repo.create_folder(&u.id, None, "Docs", t).expect("folder");
    let write = |path: &str, blob: &str| FileWrite {
        target: FileTarget::Path(parse_path(path).expect("path")),
        blob_key: blob.to_string(),
        size: 5,
        mime_type: "text/plain".into(),
        content_hash: format!("hash-{blob}"),
        if_match: None,
        quota_bytes: None,
        dedup: false,
        inline: None,
    };
    let a = repo
        .put_file(&u.id, &write("/Docs/a.txt", "b1"), t)
        .expect("put");
    repo.put_file(&u.id, &write("/Docs/a.txt", "b2"), t)
        .expect("put v2");
    let gone = repo
        .put_file(&u.id, &write("/gone.txt", "b3"), t)
        .expect("put");
    repo.delete_entry(
        &u.id,
        &gone.entry.id,
        EntryKind::File,
        &DeleteCheck::default(),
        t,
    )
    .expect("delete");
    let share = NewShare {
        file_id: a.entry.id.clone(),
        token_hash: "share-hash".into(),
        expires_at: None,
        max_downloads: Some(3),
    };
    repo.create_share(&u.id, &share, t).expect("share");
    let to = MoveTo {
        name: Some("Papers".into()),
        ..MoveTo::default()
    };
    repo.move_entry(&u.id, &docs.id, &to, t).expect("move");
    u.id
}

/// Everything `fill_schema_5` stored is still there, and the tables of 0006 work.
fn check_schema_6(repo: &Repo, user_id: &str) {
    let u = repo
        .user_by_email("ann@example.com")
        .expect("user")
        .expect("kept");
    assert_eq!((u.id.as_str(), u.password_hash.as_str()), (user_id, "phc"));
    let a = repo
        .entry_by_path(user_id, &parse_path("/papers/A.TXT").expect("path"))
        .expect("lookup")
        .expect("the file is kept");
    let c = a.content.clone().expect("content");
    assert_eq!((c.version, c.blob_key.as_str()), (2, "b2"));
    assert_eq!(
        repo.entry_by_path(user_id, &parse_path("/gone.txt").expect("path"))
            .expect("lookup"),
        None,
        "a deleted file stays deleted"
    );
    let mut blobs = repo.referenced_blobs().expect("blobs");
    blobs.sort();
    // The first version of a.txt is kept as a version, the deleted file's in the trash.
    assert_eq!(blobs, ["b1", "b2", "b3"]);
    let shares = repo.list_shares(user_id).expect("shares");
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].max_downloads, Some(3));
    let changes = repo.changes_since(user_id, 0, 100).expect("changes");
    let ops: Vec<ChangeOp> = changes.iter().map(|c| c.op).collect();
    use ChangeOp::*;
    assert_eq!(ops, [Create, Create, Update, Create, Delete, Move]);
    assert_eq!(changes[5].from_path.as_deref(), Some("/Docs"));
    assert_eq!(repo.latest_change(user_id).expect("seq"), 6);
    let rotation = repo
        .rotate_refresh_token("refresh-hash", "new-hash", &policy(), now())
        .expect("rotate");
    assert_eq!(
        rotation.issued_to(),
        Some(user_id),
        "a session of the old schema still refreshes"
    );
    // New in 0006: app passwords and WebDAV properties.
    let pw = AppPasswordRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        name: "laptop".into(),
        created_at: now(),
    };
    repo.add_app_password(&pw, "secret-hash")
        .expect("app password");
    let found = repo
        .user_by_app_password("ann@example.com", "secret-hash")
        .expect("lookup");
    assert_eq!(found.map(|u| u.id).as_deref(), Some(user_id));
    assert!(repo.dav_props(user_id, &a.id).expect("props").is_empty());
}

#[test]
fn sqlite_upgrades_from_schema_5() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dbx.sqlite");
    sqlite_at(&path, &SQLITE[..5]);
    // Opening does not migrate: this is the old release's database, filled by it.
    let repo: Repo = Arc::new(SqliteRepo::open(&path).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_6(&repo, &user_id);
    drop(repo);
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert!(version >= 6, "version {version}");
}

#[test]
fn postgres_upgrades_from_schema_5() {
    let Some(db) = TestDatabase::or_skip("postgres_upgrades_from_schema_5") else {
        return;
    };
    postgres_at(&db.url, &POSTGRES[..5]);
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_6(&repo, &user_id);
    drop(repo);
}

/// Everything schema 6 held is kept, and 0007's uploads table and dedup lookup work.
fn check_schema_7(repo: &Repo, user_id: &str) {
    check_schema_6(repo, user_id);
    let t = now();
    let row = UploadRow {
        user_id: user_id.to_string(),
        length: 10,
        path: "/up.bin".into(),
        if_match: None,
        content_hash: None,
        staged: Staged {
            id: uuid::Uuid::now_v7().to_string(),
            key: "user/x/y".into(),
            offset: 0,
            multipart_id: Some("mp".into()),
            parts: vec![],
            tail_key: None,
        },
        block_digests: vec![],
        created_at: t,
        expires_at: t + chrono::Duration::days(1),
    };
    repo.create_upload(&row).expect("an upload");
    let lease = UploadLease {
        id: "lease".into(),
        now: t,
        until: t + chrono::Duration::seconds(30),
    };
    let claimed = repo
        .claim_upload(user_id, &row.staged.id, Some(0), &lease)
        .expect("claim");
    assert_eq!(claimed, row);
    let mut next = row.clone();
    next.staged.offset = 4;
    next.staged.parts = vec!["etag-1".into()];
    assert!(repo.save_upload(&next, "lease").expect("save"));
    assert_eq!(
        repo.upload(user_id, &row.staged.id).expect("read"),
        Some(next)
    );
    // Content written under schema 6 is found by hash: a dedup write points to its blob.
    let write = FileWrite {
        target: FileTarget::Path(parse_path("/again.txt").expect("path")),
        blob_key: "b-new".into(),
        size: 5,
        mime_type: "text/plain".into(),
        content_hash: "hash-b1".into(),
        if_match: None,
        quota_bytes: None,
        dedup: true,
        inline: None,
    };
    let out = repo.put_file(user_id, &write, t).expect("put");
    assert_eq!(out.entry.content.expect("content").blob_key, "b1");
}

#[test]
fn sqlite_upgrades_from_schema_6() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dbx.sqlite");
    sqlite_at(&path, &SQLITE[..6]);
    let repo: Repo = Arc::new(SqliteRepo::open(&path).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_7(&repo, &user_id);
    drop(repo);
    let version: i64 = rusqlite::Connection::open(&path)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 8);
}

#[test]
fn postgres_upgrades_from_schema_6() {
    let Some(db) = TestDatabase::or_skip("postgres_upgrades_from_schema_6") else {
        return;
    };
    postgres_at(&db.url, &POSTGRES[..6]);
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_7(&repo, &user_id);
    drop(repo);
}

/// Schema 8 keeps small content in the database: a version written with it reads back,
/// and what schema 7 held is still there.
fn check_schema_8(repo: &Repo, user_id: &str) {
    check_schema_7(repo, user_id);
    let write = FileWrite {
        target: FileTarget::Path(parse_path("/small.txt").expect("path")),
        blob_key: format!("user/{user_id}/inline-1"),
        size: 5,
        mime_type: "text/plain".into(),
        content_hash: "hash-small".into(),
        if_match: None,
        quota_bytes: None,
        dedup: true,
        inline: Some(bytes::Bytes::from_static(b"small")),
    };
    repo.put_file(user_id, &write, now()).expect("put");
    assert_eq!(
        repo.inline_blob(&write.blob_key).expect("read"),
        Some(b"small".to_vec())
    );
    let listed = repo
        .inline_blobs(&format!("user/{user_id}/"))
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 5);
    // Dedup of held content writes no second row.
    let again = FileWrite {
        target: FileTarget::Path(parse_path("/small-again.txt").expect("path")),
        blob_key: format!("user/{user_id}/inline-2"),
        ..write
    };
    let out = repo.put_file(user_id, &again, now()).expect("put again");
    assert_eq!(
        out.entry.content.expect("content").blob_key,
        format!("user/{user_id}/inline-1")
    );
    assert_eq!(repo.inline_blob(&again.blob_key).expect("read"), None);
}

#[test]
fn sqlite_upgrades_from_schema_7() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dbx.sqlite");
    sqlite_at(&path, &SQLITE[..7]);
    let repo: Repo = Arc::new(SqliteRepo::open(&path).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_8(&repo, &user_id);
}

#[test]
fn postgres_upgrades_from_schema_7() {
    let Some(db) = TestDatabase::or_skip("postgres_upgrades_from_schema_7") else {
        return;
    };
    postgres_at(&db.url, &POSTGRES[..7]);
    let repo: Repo = Arc::new(PgRepo::open(&db.url).expect("open"));
    let user_id = fill_schema_5(&repo);
    repo.migrate().expect("upgrade");
    check_schema_8(&repo, &user_id);
}
