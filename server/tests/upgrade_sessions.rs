//! The refresh-token families migration on a database made by the migrations before it,
//! filled with data: it upgrades in place, nothing is lost, and a refresh token issued
//! before the upgrade still works (and starts a session of its own). SQLite and Postgres.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, Utc};
use common::pg::TestDatabase;
use dbx_server::metadata::postgres::PgRepo;
use dbx_server::metadata::sqlite::SqliteRepo;
use dbx_server::metadata::{RefreshPolicy, Repository, Rotation};

const MINE: &str = "_refresh_token_families.sql";

/// The SQL of every migration of `dialect` before this one, in order, with its number.
fn earlier_migrations(dialect: &str) -> Vec<(i64, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dialect);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mine = files
        .iter()
        .position(|f| f.to_string_lossy().ends_with(MINE))
        .expect("the migration is there");
    files[..mine]
        .iter()
        .map(|f| (number(f), std::fs::read_to_string(f).unwrap()))
        .collect()
}

fn number(f: &Path) -> i64 {
    let name = f.file_name().unwrap().to_string_lossy();
    name[..4].parse().unwrap()
}

/// Rows as the old schema stored them: a user, a live refresh token, a folder, a file, a
/// share link and their change-log rows. Times in milliseconds.
const FILL: &str = "
INSERT INTO users (id, email, password_hash, created_at, change_seq)
    VALUES ('u1', 'old@example.com', 'phc', 1700000000000, 2);
INSERT INTO refresh_tokens (token_hash, user_id, expires_at)
    VALUES ('legacy-token', 'u1', EXPIRES);
INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, created_at, updated_at)
    VALUES ('f1', 'u1', NULL, 0, 'Docs', 'docs', '/Docs', '/docs', 1700000000000, 1700000000000);
INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, size, mime_type,
    content_hash, version, blob_key, created_at, updated_at)
    VALUES ('e1', 'u1', 'f1', 1, 'a.txt', 'a.txt', '/Docs/a.txt', '/docs/a.txt', 5, 'text/plain',
    'abc', 3, 'user/u1/blob', 1700000000000, 1700000000000);
INSERT INTO shares (id, user_id, file_id, token_hash, created_at)
    VALUES ('s1', 'u1', 'e1', 'share-hash', 1700000000000);
INSERT INTO changes (user_id, seq, op, entry_id, entry_json, created_at)
    VALUES ('u1', 1, 'create', 'f1', '{}', 1700000000000);
INSERT INTO changes (user_id, seq, op, entry_id, entry_json, created_at)
    VALUES ('u1', 2, 'create', 'e1', '{}', 1700000000000);
";

fn fill() -> String {
    let expires = (Utc::now() + Duration::days(10)).timestamp_millis();
    FILL.replace("EXPIRES", &expires.to_string())
}

/// What must have survived, read through the repository, and the old token's behaviour.
fn check_upgraded(repo: &dyn Repository) {
    let user = repo
        .user_by_email("old@example.com")
        .unwrap()
        .expect("user");
    assert_eq!(user.id, "u1");
    let file = repo
        .entry_by_path("u1", &["Docs".into(), "a.txt".into()])
        .unwrap()
        .expect("file");
    let content = file.content.expect("content");
    assert_eq!(
        (content.version, content.blob_key.as_str()),
        (3, "user/u1/blob")
    );
    assert_eq!(repo.list_shares("u1").unwrap().len(), 1);
    assert_eq!(repo.latest_change("u1").unwrap(), 2);
    assert_eq!(
        repo.referenced_blobs().unwrap(),
        vec!["user/u1/blob".to_string()]
    );

    let policy = RefreshPolicy {
        ttl: Duration::days(30),
        session_lifetime: Duration::days(90),
        reuse_grace: Duration::seconds(0),
    };
    let now = Utc::now();
    let rotated = repo
        .rotate_refresh_token("legacy-token", "next", &policy, now)
        .unwrap();
    assert_eq!(
        rotated,
        Rotation::Rotated {
            user_id: "u1".into()
        }
    );
    // It is a family of its own now: presenting it again ends that session.
    let again = repo
        .rotate_refresh_token("legacy-token", "x", &policy, now + Duration::seconds(1))
        .unwrap();
    assert_eq!(
        again,
        Rotation::ReuseDetected {
            user_id: "u1".into()
        }
    );
    let after = repo
        .rotate_refresh_token("next", "y", &policy, now + Duration::seconds(2))
        .unwrap();
    assert_eq!(after, Rotation::Refused);
}

#[test]
fn sqlite_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbx.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let earlier = earlier_migrations("sqlite");
        for (_, sql) in &earlier {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {}", earlier.len()))
            .unwrap();
        conn.execute_batch(&fill()).unwrap();
    }
    let repo: Arc<dyn Repository> = Arc::new(SqliteRepo::open(&path).unwrap());
    repo.migrate().unwrap();
    check_upgraded(repo.as_ref());
}

#[test]
fn postgres_upgrades_in_place() {
    let Some(db) = TestDatabase::or_skip("postgres_upgrades_in_place") else {
        return;
    };
    {
        let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .unwrap();
        for (n, sql) in earlier_migrations("postgres") {
            client.batch_execute(&sql).unwrap();
            client
                .execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
                    &[&n],
                )
                .unwrap();
        }
        client.batch_execute(&fill()).unwrap();
    }
    let repo: Arc<dyn Repository> = Arc::new(PgRepo::open(&db.url).unwrap());
    repo.migrate().unwrap();
    check_upgraded(repo.as_ref());
    drop(repo);
    drop(db);
}
