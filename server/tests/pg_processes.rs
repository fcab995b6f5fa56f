//! Two dbx-server processes (here: two servers in one test process, each with its own data
//! dir, pool and listener) on one Postgres database and one blob store, as behind a load
//! balancer: what one writes, the other lists, serves and reports in its delta, and a
//! long-poll held on one wakes promptly for a write through the other (LISTEN/NOTIFY).
//!
//! Needs Postgres at `DBX_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); skipped without one, except under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::pg::TestDatabase;
use common::{TestServer, User};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The same database, blob store and JWT key for both servers.
async fn server(db_url: &str, blobs: &std::path::Path) -> TestServer {
    let db_url = db_url.to_string();
    let blobs = format!("file://{}", blobs.display());
    TestServer::start_with(move |args| {
        args.store.database_url = Some(db_url);
        args.store.blob_store = Some(blobs);
        args.jwt_secret = Some("one key shared by every server process".into());
    })
    .await
}

/// The same user, speaking to another server.
fn via(u: &User, server: &TestServer) -> User {
    User {
        base: server.base.clone(),
        ..u.clone()
    }
}

async fn json(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK, "{}", r.url());
    r.json().await.expect("json")
}

async fn latest_cursor(u: &User) -> String {
    let v = json(u.get("/api/v1/delta/latest").await).await;
    v["cursor"].as_str().expect("cursor").to_string()
}

/// Starts a long-poll and returns a task giving `changes` and how long it took.
fn hold_wait(u: &User, cursor: String) -> tokio::task::JoinHandle<(bool, Duration)> {
    let u = u.clone();
    tokio::spawn(async move {
        let t = Instant::now();
        let r = u
            .req(Method::GET, "/api/v1/delta/wait")
            .query(&[("cursor", cursor.as_str()), ("timeout", "30")])
            .send()
            .await
            .expect("GET wait");
        let v = json(r).await;
        (v["changes"].as_bool().expect("changes"), t.elapsed())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_database() {
    let Some(db) = TestDatabase::or_skip("two_servers_share_one_database") else {
        return;
    };
    let blobs = tempfile::tempdir().expect("blob dir");
    let a = server(&db.url, blobs.path()).await;
    let b = server(&db.url, blobs.path()).await;
    let on_a = a.user().await;
    let on_b = via(&on_a, &b);

    // A long-poll held on B wakes promptly for an upload through A.
    let cursor = latest_cursor(&on_b).await;
    let waiting = hold_wait(&on_b, cursor.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the poll returned before any change"
    );
    let data = b"written through server A".to_vec();
    let file = on_a.put_file("/docs/a.txt", data.clone()).await;
    let (changes, took) = waiting.await.expect("wait task");
    assert!(changes, "the poll on B saw no change");
    assert!(took < Duration::from_secs(10), "woken only after {took:?}");

    // B lists it, serves it, and reports it in its delta.
    let id = file["id"].as_str().expect("id");
    let root = json(on_b.get("/api/v1/folders/root/children").await).await;
    assert_eq!(root["entries"][0]["name"], "docs", "{root}");
    let at = json(on_b.get("/api/v1/entries?path=/docs/a.txt").await).await;
    assert_eq!(at, file);
    assert_eq!(on_b.download(id).await, data);
    let delta = json(
        on_b.req(Method::GET, "/api/v1/delta")
            .query(&[("cursor", cursor.as_str())])
            .send()
            .await
            .expect("GET delta"),
    )
    .await;
    let ops: Vec<(&str, &str)> = delta["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|c| {
            (
                c["op"].as_str().unwrap_or(""),
                c["entry"]["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(ops, vec![("create", "/docs"), ("create", "/docs/a.txt")]);
    assert_eq!(delta["entries"][1]["entry"], file);

    // And the other way round: a poll on A, a delete through B.
    let cursor = latest_cursor(&on_a).await;
    let waiting = hold_wait(&on_a, cursor);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = on_b.delete(&format!("/api/v1/files/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (changes, took) = waiting.await.expect("wait task");
    assert!(
        changes && took < Duration::from_secs(10),
        "{changes} after {took:?}"
    );
    assert_eq!(
        on_a.get(&format!("/api/v1/files/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );

    a.stop().await;
    b.stop().await;
    drop(db);
}

/// A server whose database cannot be reached does not start, and says why in one line.
#[tokio::test]
async fn unreachable_database_fails_start_up() {
    let dir = tempfile::tempdir().expect("dir");
    let mut args = common::test_args(dir.path());
    args.store.database_url = Some("postgres://postgres@127.0.0.1:1/nothing".into());
    let t = Instant::now();
    let err = dbx_server::app::start(args)
        .await
        .err()
        .expect("start fails");
    let shown = format!("{err:#}");
    assert!(
        shown.contains("cannot connect to Postgres at 127.0.0.1:1/nothing"),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown}");
    assert!(t.elapsed() < Duration::from_secs(10));
}
