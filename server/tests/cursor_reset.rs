//! API.md 1.1's 410 `cursor_reset`: a delta cursor from another history is refused with
//! 410, so that a client starts over and merges instead of taking what it no longer sees
//! for deleted. The histories: a database restored from a backup (with its log shorter
//! than the cursor, or grown past it again with other changes), and another database.
//! Cursors that still match keep working, and API 1.0's 400 cases stay 400.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer, User};
use dbx_server::config::ServeArgs;
use serde_json::Value;
use tempfile::TempDir;

const PASSWORD: &str = "correct horse battery";

async fn latest(u: &User) -> String {
    let v: Value = u
        .get("/api/v1/delta/latest")
        .await
        .json()
        .await
        .expect("json");
    v["cursor"].as_str().expect("cursor").to_string()
}

async fn delta(u: &User, cursor: &str) -> reqwest::Response {
    u.req(reqwest::Method::GET, "/api/v1/delta")
        .query(&[("cursor", cursor)])
        .send()
        .await
        .expect("GET delta")
}

async fn wait(u: &User, cursor: &str) -> reqwest::Response {
    u.req(reqwest::Method::GET, "/api/v1/delta/wait")
        .query(&[("cursor", cursor), ("timeout", "1")])
        .send()
        .await
        .expect("GET wait")
}

async fn paths(r: reqwest::Response) -> Vec<String> {
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|c| c["entry"]["path"].as_str().expect("path").to_string())
        .collect()
}

/// A copy of the server's database, taken while it is stopped, and put back later.
enum Backup {
    Sqlite(TempDir),
    Postgres(String),
}

fn sqlite_files(data: &std::path::Path) -> Vec<std::path::PathBuf> {
    ["dbx.sqlite", "dbx.sqlite-wal", "dbx.sqlite-shm"]
        .iter()
        .map(|n| data.join(n))
        .collect()
}

fn back_up(dir: &TempDir, args: &ServeArgs) -> Backup {
    match &args.store.database_url {
        None => {
            let copy = tempfile::tempdir().expect("temp dir");
            for f in sqlite_files(dir.path()) {
                if f.exists() {
                    std::fs::copy(&f, copy.path().join(f.file_name().expect("name")))
                        .expect("copy");
                }
            }
            Backup::Sqlite(copy)
        }
        Some(url) => {
            let (admin, source) = (common::pg::admin_url(), url.rsplit('/').next().expect("db"));
            let name = format!("{source}_bak");
            let sql = format!("CREATE DATABASE {name} TEMPLATE {source}");
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
                c.batch_execute(&sql).expect("copy database");
            })
            .join()
            .expect("thread");
            Backup::Postgres(format!("{}/{name}", url.rsplit_once('/').expect("url").0))
        }
    }
}

fn restore(backup: &Backup, dir: &TempDir, args: &mut ServeArgs) {
    match backup {
        Backup::Sqlite(copy) => {
            for f in sqlite_files(dir.path()) {
                let _ = std::fs::remove_file(&f);
                let saved = copy.path().join(f.file_name().expect("name"));
                if saved.exists() {
                    std::fs::copy(&saved, &f).expect("restore");
                }
            }
        }
        Backup::Postgres(url) => args.store.database_url = Some(url.clone()),
    }
}

#[tokio::test]
async fn a_restored_database_refuses_cursors_from_the_lost_history() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.put_file("/a.txt", "a").await;
    let before_backup = latest(&u).await;
    let other = srv.user().await;
    let (dir, args) = srv.stop_keeping_data().await;
    let backup = back_up(&dir, &args);

    // Life goes on after the backup: the client follows the log to position 3.
    let srv = TestServer::start_in(dir, args).await;
    let u = srv.login(&u.email, PASSWORD).await;
    u.put_file("/b.txt", "b").await;
    u.put_file("/c.txt", "c").await;
    let lost = latest(&u).await;
    assert_eq!(paths(delta(&u, &lost).await).await, Vec::<String>::new());
    assert_eq!(
        paths(delta(&u, &before_backup).await).await,
        ["/b.txt", "/c.txt"]
    );

    // The backup comes back: b and c never happened here.
    let (dir, mut args) = srv.stop_keeping_data().await;
    restore(&backup, &dir, &mut args);
    let srv = TestServer::start_in(dir, args).await;
    let u = srv.login(&u.email, PASSWORD).await;
    expect_error(delta(&u, &lost).await, 410, "cursor_reset").await;
    expect_error(wait(&u, &lost).await, 410, "cursor_reset").await;

    // The log grows past the old position again, with other changes: still refused.
    for name in ["/x.txt", "/y.txt", "/z.txt"] {
        u.put_file(name, "new").await;
    }
    expect_error(delta(&u, &lost).await, 410, "cursor_reset").await;
    expect_error(wait(&u, &lost).await, 410, "cursor_reset").await;

    // A cursor from before the backup is still part of this history.
    assert_eq!(
        paths(delta(&u, &before_backup).await).await,
        ["/x.txt", "/y.txt", "/z.txt"]
    );
    // Starting over works, and its cursors work.
    let all = paths(u.get("/api/v1/delta").await).await;
    assert_eq!(all, ["/a.txt", "/x.txt", "/y.txt", "/z.txt"]);
    assert_eq!(
        paths(delta(&u, &latest(&u).await).await).await,
        Vec::<String>::new()
    );

    // Another user's cursor of this database stays API 1.0's 400.
    let other = srv.login(&other.email, PASSWORD).await;
    expect_error(delta(&other, &before_backup).await, 400, "invalid_request").await;
    srv.stop().await;
}

#[tokio::test]
async fn a_cursor_from_another_database_is_reset() {
    let (one, two) = (TestServer::start().await, TestServer::start().await);
    let u1 = one.user().await;
    u1.put_file("/a.txt", "a").await;
    let cursor = latest(&u1).await;
    let empty = latest(&one.user().await).await;
    // Same e-mail on the other server (an account made again), more changes than before.
    let u2 = two.user_with(&u1.email, PASSWORD).await;
    for name in ["/a.txt", "/b.txt"] {
        u2.put_file(name, "x").await;
    }
    for c in [&cursor, &empty] {
        expect_error(delta(&u2, c).await, 410, "cursor_reset").await;
        expect_error(wait(&u2, c).await, 410, "cursor_reset").await;
    }
    // Malformed is still 400.
    expect_error(delta(&u2, "garbage").await, 400, "invalid_request").await;
    one.stop().await;
    two.stop().await;
}
