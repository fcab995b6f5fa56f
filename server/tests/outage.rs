//! A backend that goes down in the middle of a run: requests that need it get 503
//! `unavailable` with `Retry-After` and change nothing; the rest keep working; when it is
//! back, the server recovers by itself. Each test stops and starts a backend of its own
//! (a Garage, a Postgres cluster), never the shared ones. On its own in scripts/test.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::outage::{OwnGarage, OwnPostgres};
use common::{expect_error, TestServer, User};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

async fn expect_unavailable(r: Response) {
    let status = r.status();
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on a {status}"));
    assert!(retry >= 1);
    expect_error(r, 503, "unavailable").await;
}

/// Repeats `call` until it succeeds (the server recovered by itself), within 60 s.
async fn eventually<F, Fut>(what: &str, mut call: F) -> Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let start = Instant::now();
    loop {
        let r = call().await;
        if r.status().is_success() {
            return r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: still {} after a minute",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn root_names(u: &User) -> Vec<String> {
    let body: Value = u
        .get("/api/v1/folders/root/children")
        .await
        .json()
        .await
        .unwrap();
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_store_down_gives_503_and_recovers() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let Some(garage) = OwnGarage::start() else {
        return;
    };
    let env = garage.env();
    let srv = TestServer::start_with(|a| {
        a.store.database_url = None;
        a.store.blob_store = Some(format!("s3://{}", env["DBX_S3_BUCKET"]));
        a.store.s3_endpoint = Some(env["DBX_S3_ENDPOINT"].clone());
        a.store.s3_region = env["DBX_S3_REGION"].clone();
        a.store.s3_access_key = Some(env["DBX_S3_ACCESS_KEY"].clone());
        a.store.s3_secret_key = Some(env["DBX_S3_SECRET_KEY"].clone());
    })
    .await;
    let u = srv.user().await;
    // Bodies over the inline limit, so their content lives in the blob store.
    let body = |tag: u8| vec![tag; 100 * 1024];
    let file = u.put_file("/a.txt", body(1)).await;
    let id = file["id"].as_str().unwrap().to_string();
    let note = u.put_file("/note.txt", "small").await;
    let note_id = note["id"].as_str().unwrap().to_string();

    garage.down();
    expect_unavailable(u.upload("/b.txt", body(2)).await).await;
    expect_unavailable(u.upload("/a.txt", body(3)).await).await;
    expect_unavailable(u.get(&format!("/api/v1/files/{id}/content")).await).await;
    // What needs only the database still works, small content included.
    assert_eq!(u.download(&note_id).await, b"small");
    assert_eq!(root_names(&u).await, ["a.txt", "note.txt"]);
    let meta: Value = u
        .get(&format!("/api/v1/files/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["version"], 1);
    let r = u.upload("/c.txt", "tiny").await;
    assert_eq!(r.status(), StatusCode::CREATED);

    garage.up();
    let content = format!("/api/v1/files/{id}/content");
    let r = eventually("download", || u.get(&content)).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), body(1));
    let r = eventually("upload", || u.upload("/b.txt", body(2))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        root_names(&u).await,
        ["a.txt", "b.txt", "c.txt", "note.txt"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_gives_503_and_recovers() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let url = pg.url();
    let blobs = format!("file://{}", pg.dir().join("blobs").display());
    let srv = TestServer::start_with(move |a| {
        a.store.database_url = Some(url);
        a.store.blob_store = Some(blobs);
    })
    .await;
    let u = srv.user().await;
    u.put_file("/a.txt", "first").await;

    pg.down();
    expect_unavailable(u.get("/api/v1/folders/root/children").await).await;
    expect_unavailable(u.upload("/b.txt", "second").await).await;
    let r = srv
        .req(Method::POST, "/api/v1/auth/login")
        .json(&serde_json::json!({"email": u.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    expect_unavailable(r).await;

    pg.up();
    eventually("listing", || u.get("/api/v1/folders/root/children")).await;
    assert_eq!(
        root_names(&u).await,
        ["a.txt"],
        "the refused upload left nothing"
    );
    let r = eventually("upload", || u.upload("/b.txt", "second")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
