//! API.md 1.1 "Versions": every new content keeps the previous one; list, download and
//! restore them over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{content_hash, expect_error, TestServer, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Uploads the contents in turn to `path`; returns the file's id.
async fn file_with_versions(u: &User, path: &str, contents: &[&str]) -> String {
    let mut id = String::new();
    for c in contents {
        id = u.put_file(path, c.to_string()).await["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    id
}

async fn versions(u: &User, id: &str) -> Vec<Value> {
    let r = u.get(&format!("/api/v1/files/{id}/versions")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["versions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_content_is_kept_and_listed_newest_first() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let id = file_with_versions(&u, "/notes.txt", &["one", "two two", "three 3 3"]).await;
    let list = versions(&u, &id).await;
    let shown: Vec<(i64, u64, String)> = list
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["size"].as_u64().unwrap(),
                v["content_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (3, 9, content_hash(b"three 3 3")),
            (2, 7, content_hash(b"two two")),
            (1, 3, content_hash(b"one")),
        ]
    );
    let mut keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["content_hash", "created_at", "size", "version"]);
    let times: Vec<&str> = list
        .iter()
        .map(|v| v["created_at"].as_str().unwrap())
        .collect();
    assert!(times.iter().all(|t| t.ends_with('Z')), "{times:?}");
    assert!(times[0] >= times[1] && times[1] >= times[2], "{times:?}");
}

#[tokio::test]
async fn an_old_version_downloads_like_the_current_content() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let id = file_with_versions(&u, "/docs/page.html", &["<p>first</p>", "<p>second</p>"]).await;
    let r = u
        .get(&format!("/api/v1/files/{id}/versions/1/content"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(
        h["etag"].to_str().unwrap(),
        format!("\"{}\"", content_hash(b"<p>first</p>"))
    );
    assert_eq!(h["content-type"], "text/html");
    assert_eq!(h["content-length"], "12");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"page.html\""));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"<p>first</p>");

    let r = u
        .req(
            Method::GET,
            &format!("/api/v1/files/{id}/versions/1/content"),
        )
        .header("range", "bytes=3-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 3-7/12");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"first");
    let r = u
        .req(
            Method::GET,
            &format!("/api/v1/files/{id}/versions/1/content"),
        )
        .header("range", "bytes=12-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let r = u
        .req(
            Method::HEAD,
            &format!("/api/v1/files/{id}/versions/2/content"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "13");
    assert!(r.bytes().await.unwrap().is_empty());
    // The current version is a version too.
    let r = u
        .get(&format!("/api/v1/files/{id}/versions/2/content"))
        .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"<p>second</p>");
}

#[tokio::test]
async fn restore_makes_a_new_version_that_every_device_sees() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let id = file_with_versions(&u, "/a.txt", &["good", "broken!"]).await;
    let cursor: Value = u.get_json("/api/v1/delta/latest").await;
    let r = u
        .post(
            &format!("/api/v1/files/{id}/restore"),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let f: Value = r.json().await.unwrap();
    assert_eq!(
        (f["type"].as_str(), f["id"].as_str()),
        (Some("file"), Some(id.as_str()))
    );
    assert_eq!(f["version"], 3);
    assert_eq!(f["size"], 4);
    assert_eq!(f["content_hash"], content_hash(b"good"));
    assert_eq!(u.download(&id).await, b"good");
    let meta: Value = u.get_json(&format!("/api/v1/files/{id}")).await;
    assert_eq!(meta, f);

    let delta: Value = u
        .get_json(&format!(
            "/api/v1/delta?cursor={}",
            cursor["cursor"].as_str().unwrap()
        ))
        .await;
    let changes = delta["entries"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["op"], "update");
    assert_eq!(changes[0]["entry"], f);

    let numbers: Vec<i64> = versions(&u, &id)
        .await
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1]);
    // The replaced content is kept too.
    let r = u
        .get(&format!("/api/v1/files/{id}/versions/2/content"))
        .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"broken!");
}

#[tokio::test]
async fn bad_and_unknown_versions() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let id = file_with_versions(&u, "/a.txt", &["a", "b"]).await;
    let folder = u.mkdir(None, "dir").await;
    let fid = folder["id"].as_str().unwrap();

    expect_error(
        u.get(&format!("/api/v1/files/{id}/versions/9/content"))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.get(&format!("/api/v1/files/{id}/versions/0/content"))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.get(&format!("/api/v1/files/{id}/versions/x/content"))
            .await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        u.get(&format!("/api/v1/files/{fid}/versions")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.get("/api/v1/files/no-such-id/versions").await,
        404,
        "not_found",
    )
    .await;
    let restore = format!("/api/v1/files/{id}/restore");
    expect_error(
        u.post(&restore, json!({"version": 7})).await,
        404,
        "not_found",
    )
    .await;
    expect_error(u.post(&restore, json!({})).await, 400, "invalid_request").await;
    expect_error(
        u.post(&restore, json!({"version": "1"})).await,
        400,
        "invalid_request",
    )
    .await;
    let r = u
        .req(Method::POST, &restore)
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
    // Nothing changed.
    assert_eq!(versions(&u, &id).await.len(), 2);
    assert_eq!(u.download(&id).await, b"b");
    // Without a token: 401.
    let r = srv
        .req(Method::GET, &format!("/api/v1/files/{id}/versions"))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "unauthorized").await;

    // A deleted file's versions are not reachable until it is restored from the trash.
    assert_eq!(u.delete(&format!("/api/v1/files/{id}")).await.status(), 204);
    expect_error(
        u.get(&format!("/api/v1/files/{id}/versions")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.get(&format!("/api/v1/files/{id}/versions/1/content"))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.post(&restore, json!({"version": 1})).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn another_users_versions_are_not_found() {
    let srv = TestServer::start().await;
    let alice = srv.user().await;
    let bob = srv.user().await;
    let id = file_with_versions(&alice, "/private.txt", &["secret 1", "secret 2"]).await;
    expect_error(
        bob.get(&format!("/api/v1/files/{id}/versions")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.get(&format!("/api/v1/files/{id}/versions/1/content"))
            .await,
        404,
        "not_found",
    )
    .await;
    let r = bob
        .post(
            &format!("/api/v1/files/{id}/restore"),
            json!({"version": 1}),
        )
        .await;
    expect_error(r, 404, "not_found").await;
    assert_eq!(alice.download(&id).await, b"secret 2");
    assert_eq!(versions(&alice, &id).await.len(), 2);
}
