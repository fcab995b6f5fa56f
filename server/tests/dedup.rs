//! Content stored once per account: an upload (PUT or tus) of content the account holds
//! keeps one blob; `POST /files/by-hash` makes a file from it without the bytes; never
//! across accounts; a shared blob outlives every copy but the last through gc.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tus::{self, data, header};
use common::{content_hash, expect_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MIB: usize = 1024 * 1024;

/// The blobs the store holds for this user.
async fn blobs_of(s: &TestServer, user_id: &str) -> usize {
    let (_, blobs) = s.stores().await;
    blobs
        .list(&format!("user/{user_id}/"))
        .await
        .expect("list")
        .len()
}

async fn by_hash(user: &common::User, body: Value) -> reqwest::Response {
    user.post("/api/v1/files/by-hash", body).await
}

#[tokio::test]
async fn the_same_content_at_two_paths_is_one_blob() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(50 * MIB, 11);
    let a = u.put_file("/a.bin", content.clone()).await;
    // The second copy through tus: dropped once committed, the entry shares the blob.
    let loc = tus::create(&u, content.len() as u64, "/b.bin").await;
    let r = tus::patch(&u, &loc, 0, content.clone()).await;
    let b_id = header(&r, "dbx-file-id");
    // And a third through PUT.
    let c = u.put_file("/c/c.bin", content.clone()).await;
    assert_eq!(blobs_of(&s, &u.id).await, 1, "one blob for three files");
    for id in [
        a["id"].as_str().expect("id"),
        &b_id,
        c["id"].as_str().expect("id"),
    ] {
        assert!(u.download(id).await == content, "{id} reads");
    }
    assert!(s.check().await.is_clean());
    // Usage still counts each file (as Dropbox does).
    let me = u.get_json("/api/v1/me").await;
    assert_eq!(me["usage_bytes"], 3 * content.len() as u64);
}

#[tokio::test]
async fn by_hash_makes_a_file_from_held_content() {
    let s = TestServer::start().await;
    let (ann, bob) = (s.user().await, s.user().await);
    let content = data(3 * MIB + 3, 12);
    let hash = content_hash(&content);
    let size = content.len() as u64;

    let r = by_hash(
        &ann,
        json!({"path": "/x.bin", "content_hash": hash, "size": size}),
    )
    .await;
    expect_error(r, 404, "not_found").await;

    ann.put_file("/orig.bin", content.clone()).await;
    let r = by_hash(
        &ann,
        json!({"path": "/d/copy.bin", "content_hash": hash.to_uppercase(), "size": size}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let copy: Value = r.json().await.expect("json");
    assert_eq!(copy["path"], "/d/copy.bin");
    assert_eq!(copy["content_hash"], hash);
    assert_eq!(copy["size"], size);
    assert_eq!(copy["version"], 1);
    assert!(ann.download(copy["id"].as_str().expect("id")).await == content);
    // A new version of an existing file, with If-Match; 200.
    let r = ann
        .req(reqwest::Method::POST, "/api/v1/files/by-hash")
        .header("If-Match", "\"1\"")
        .json(&json!({"path": "/d/copy.bin", "content_hash": hash, "size": size}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    let r = ann
        .req(reqwest::Method::POST, "/api/v1/files/by-hash")
        .header("If-Match", "\"1\"")
        .json(&json!({"path": "/d/copy.bin", "content_hash": hash, "size": size}))
        .send()
        .await
        .expect("POST");
    expect_error(r, 412, "precondition_failed").await;
    // By folder id and name.
    let folder = ann.get_json("/api/v1/entries?path=/d").await;
    let r = by_hash(
        &ann,
        json!({"parent_id": folder["id"], "name": "n.bin", "content_hash": hash, "size": size}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The right hash with the wrong size is not held content.
    let r = by_hash(
        &ann,
        json!({"path": "/y.bin", "content_hash": hash, "size": size + 1}),
    )
    .await;
    expect_error(r, 404, "not_found").await;
    let r = by_hash(
        &ann,
        json!({"path": "/y.bin", "content_hash": "xyz", "size": 1}),
    )
    .await;
    expect_error(r, 400, "invalid_request").await;
    assert_eq!(blobs_of(&s, &ann.id).await, 1);

    // Bob cannot use Ann's content, and his own copy is his own blob.
    let r = by_hash(
        &bob,
        json!({"path": "/steal.bin", "content_hash": hash, "size": size}),
    )
    .await;
    expect_error(r, 404, "not_found").await;
    bob.put_file("/mine.bin", content.clone()).await;
    assert_eq!(blobs_of(&s, &bob.id).await, 1);
    assert_eq!(blobs_of(&s, &ann.id).await, 1);
}

#[tokio::test]
async fn a_shared_blob_outlives_deleted_copies_through_gc() {
    let s = TestServer::start_with(|a| a.gc_grace = 0).await;
    let u = s.user().await;
    let content = data(2 * MIB, 13);
    let a = u.put_file("/a.bin", content.clone()).await;
    let b = u.put_file("/b.bin", content.clone()).await;
    assert_eq!(blobs_of(&s, &u.id).await, 1);
    // Delete one copy and purge it from the trash: the other still reads after gc.
    let a_id = a["id"].as_str().expect("id");
    assert_eq!(
        u.delete(&format!("/api/v1/files/{a_id}")).await.status(),
        204
    );
    assert_eq!(u.delete("/api/v1/trash").await.status(), 204);
    let later = chrono::Utc::now() + chrono::Duration::seconds(5);
    let report = s.gc(later, false).await;
    assert_eq!(report.orphan_blobs, 0, "the blob is still referenced");
    let b_id = b["id"].as_str().expect("id");
    assert!(u.download(b_id).await == content);
    assert!(s.check().await.is_clean());
    // A kept version shares it too: overwrite b, expire nothing, the old content reads.
    u.put_file("/b.bin", "other").await;
    assert_eq!(s.gc(later, false).await.orphan_blobs, 0);
    let v1 = u
        .get(&format!("/api/v1/files/{b_id}/versions/1/content"))
        .await;
    assert_eq!(v1.status(), StatusCode::OK);
    assert!(v1.bytes().await.expect("bytes") == content);
    // Once nothing refers to it (the version expired), gc removes it.
    let far = chrono::Utc::now() + chrono::Duration::days(400);
    let report = s.gc(far, false).await;
    assert_eq!(report.orphan_blobs, 1);
    assert_eq!(
        blobs_of(&s, &u.id).await,
        1,
        "only the current content is left"
    );
    assert!(s.check().await.is_clean());
}
