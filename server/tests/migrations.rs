//! Upgrades in place: a database made by an earlier schema, filled with data the way that
//! version wrote it, is migrated by the current server with nothing lost, and the new
//! features work on it. Runs on SQLite and on PostgreSQL (skipped without one, except
//! under CI=true), on its own in scripts/test.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::pg::TestDatabase;
use dbx_server::metadata::postgres::PgRepo;
use dbx_server::metadata::sqlite::SqliteRepo;
use dbx_server::metadata::{DeleteCheck, EntryKind, MoveTo, Repository};
use dbx_shared::api::ChangeOp;
use dbx_shared::names::parse_path;

const SQLITE_0001: &str = include_str!("../../migrations/sqlite/0001_init.sql");
const POSTGRES_0001: &str = include_str!("../../migrations/postgres/0001_init.sql");

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
    let policy = dbx_server::metadata::RefreshPolicy {
        ttl: chrono::Duration::days(1),
        session_lifetime: chrono::Duration::days(90),
        reuse_grace: chrono::Duration::seconds(10),
    };
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
    assert_eq!(log[2].entry.path(), "/Docs/a.txt");

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
        c.execute_batch(SQLITE_0001).expect("schema 1");
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
        c.batch_execute(POSTGRES_0001).expect("schema 1");
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
