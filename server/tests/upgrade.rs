//! Upgrading in place: a database made by the previous release (the migrations before
//! undo), filled with files, folders, deleted entries, a share link and a change log, is
//! migrated when the new server starts, and keeps every file; what was deleted before
//! shows up in the trash, a deleted folder as one item.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{test_args, TestServer};
use dbx_server::app::open_blobs;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The schema of the release before undo: every migration before 0005_undo.
const OLD_SQLITE: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_moves.sql"),
    include_str!("../../migrations/sqlite/0003_refresh_token_families.sql"),
    include_str!("../../migrations/sqlite/0004_database_identity.sql"),
];
const OLD_POSTGRES: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_moves.sql"),
    include_str!("../../migrations/postgres/0003_refresh_token_families.sql"),
    include_str!("../../migrations/postgres/0004_database_identity.sql"),
];

const EMAIL: &str = "old@example.com";
const PASSWORD: &str = "correct horse battery";

/// Millisecond times: `T0` < `T1` < `T2`.
const T0: i64 = 1_764_000_000_000;
const T1: i64 = T0 + 60_000;
const T2: i64 = T0 + 120_000;

struct Old {
    user: String,
    /// `(path, content, deleted_at)` of every file row.
    files: Vec<(&'static str, &'static str, Option<i64>)>,
}

/// The rows of the old release, as literal SQL both dialects take.
fn fill_sql(old: &Old, keys: &[String], password_hash: &str) -> String {
    let u = &old.user;
    let mut sql = format!(
        "INSERT INTO users (id, email, password_hash, created_at, change_seq) \
         VALUES ('{u}', '{EMAIL}', '{password_hash}', {T0}, 3);\n"
    );
    let folder = |id: &str, parent: &str, name: &str, path: &str, deleted: Option<i64>| {
        let deleted = deleted.map_or("NULL".to_string(), |t| t.to_string());
        format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             created_at, updated_at, deleted_at) VALUES ('{id}', '{u}', {parent}, 0, '{name}', \
             '{}', '{path}', '{}', {T0}, {T0}, {deleted});\n",
            name.to_lowercase(),
            path.to_lowercase()
        )
    };
    sql += &folder("f-docs", "NULL", "Docs", "/Docs", None);
    sql += &folder("f-old", "NULL", "old", "/old", Some(T1));
    sql += &folder("f-sub", "'f-old'", "sub", "/old/sub", Some(T1));
    let parents = ["'f-docs'", "NULL", "'f-old'", "'f-sub'", "NULL", "'f-old'"];
    for (i, ((path, content, deleted), key)) in old.files.iter().zip(keys).enumerate() {
        let name = path.rsplit('/').next().unwrap();
        let deleted = deleted.map_or("NULL".to_string(), |t| t.to_string());
        sql += &format!(
            "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, \
             size, mime_type, content_hash, version, blob_key, created_at, updated_at, deleted_at) \
             VALUES ('file-{i}', '{u}', {}, 1, '{name}', '{}', '{path}', '{}', {}, 'text/plain', \
             '{}', 2, '{key}', {T0}, {T0}, {deleted});\n",
            parents[i],
            name.to_lowercase(),
            path.to_lowercase(),
            content.len(),
            common::content_hash(content.as_bytes()),
        );
    }
    sql += &format!(
        "INSERT INTO shares (id, user_id, file_id, token_hash, created_at) \
         VALUES ('share-1', '{u}', 'file-0', 'not-a-real-hash', {T0});\n"
    );
    for seq in 1..=3 {
        let entry = json!({"type": "folder", "id": "f-docs", "name": "Docs", "parent_id": null,
            "path": "/Docs", "created_at": "2025-11-24T16:00:00Z", "updated_at": "2025-11-24T16:00:00Z"});
        sql += &format!(
            "INSERT INTO changes (user_id, seq, op, entry_id, entry_json, created_at) \
             VALUES ('{u}', {seq}, 'create', 'f-docs', '{entry}', {T0});\n"
        );
    }
    sql
}

#[tokio::test]
async fn a_database_of_the_previous_release_is_upgraded_and_keeps_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let args = test_args(dir.path());
    let old = Old {
        user: uuid::Uuid::now_v7().to_string(),
        files: vec![
            ("/Docs/a.txt", "alpha", None),
            ("/b.txt", "bravo!", None),
            ("/old/x.txt", "x-ray", Some(T1)),
            ("/old/sub/y.txt", "yankee", Some(T1)),
            ("/c.txt", "charlie", Some(T2)),
            // Deleted on its own before its folder was.
            ("/old/z.txt", "zulu", Some(T0)),
        ],
    };
    // The blobs, as the old server wrote them.
    let blobs = open_blobs(&args.store).await.unwrap();
    let mut keys = Vec::new();
    for (_, content, _) in &old.files {
        let key = format!("user/{}/{}", old.user, uuid::Uuid::now_v7());
        let body = futures_util::stream::iter([Ok(Bytes::from_static(content.as_bytes()))]);
        blobs.put(&key, Box::pin(body)).await.unwrap();
        keys.push(key);
    }
    let hash = dbx_server::auth::password::hash(PASSWORD).unwrap();
    let fill = fill_sql(&old, &keys, &hash);
    match &args.store.database_url {
        Some(url) => {
            let mut sql = OLD_POSTGRES.join("\n");
            sql += "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);\n";
            for v in 1..=OLD_POSTGRES.len() {
                sql += &format!("INSERT INTO schema_migrations VALUES ({v}, {T0});\n");
            }
            common::pg::batch_execute(url, &(sql + &fill)).unwrap();
        }
        None => {
            let conn = rusqlite::Connection::open(dir.path().join("dbx.sqlite")).unwrap();
            conn.execute_batch(&OLD_SQLITE.join("\n")).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {};", OLD_SQLITE.len()))
                .unwrap();
            conn.execute_batch(&fill).unwrap();
        }
    }

    let srv = TestServer::start_in(dir, args).await;
    let u = srv.login(EMAIL, PASSWORD).await;
    assert_eq!(u.id, old.user);

    // Every live file, with its content, version and history.
    for (i, (path, content, deleted)) in old.files.iter().enumerate() {
        let r = u.get(&format!("/api/v1/entries?path={path}")).await;
        if deleted.is_some() {
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            continue;
        }
        let f: Value = r.json().await.unwrap();
        assert_eq!(
            (f["id"].as_str(), f["version"].as_i64()),
            (Some(format!("file-{i}").as_str()), Some(2))
        );
        assert_eq!(u.download(&format!("file-{i}")).await, content.as_bytes());
        let v: Value = u
            .get_json(&format!("/api/v1/files/file-{i}/versions"))
            .await;
        assert_eq!(v["versions"].as_array().unwrap().len(), 1);
        assert_eq!(v["versions"][0]["version"], 2);
        assert_eq!(v["versions"][0]["size"], content.len());
    }
    let me: Value = u.get_json("/api/v1/me").await;
    assert_eq!(me["usage_bytes"], 11);
    let shares: Value = u.get_json("/api/v1/shares").await;
    assert_eq!(shares["shares"][0]["file_id"], "file-0");

    // What was deleted is in the trash: the folder as one item, the file deleted before
    // it on its own.
    let trash: Value = u.get_json("/api/v1/trash").await;
    let items: Vec<(String, u64)> = trash["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("/c.txt".to_string(), 7),
            ("/old".to_string(), 11),
            ("/old/z.txt".to_string(), 4)
        ]
    );
    // The change log goes on from where it was.
    let r = u.post("/api/v1/trash/f-old/restore", json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let delta: Value = u.get_json("/api/v1/delta").await;
    let seqs: Vec<(String, String)> = delta["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap().to_string(),
                c["entry"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seqs.len(), 3 + 4, "{seqs:?}");
    assert_eq!(
        &seqs[3..],
        &[
            ("create".to_string(), "/old".to_string()),
            ("create".to_string(), "/old/sub".to_string()),
            ("create".to_string(), "/old/x.txt".to_string()),
            ("create".to_string(), "/old/sub/y.txt".to_string()),
        ]
    );
    assert_eq!(u.download("file-3").await, b"yankee");
    let report = srv.check().await;
    assert!(report.is_clean(), "{report:?}");
}
