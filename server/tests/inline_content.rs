//! Small content kept in the metadata database (`--inline-max-bytes`): it never reaches the
//! blob store, reads back whole and in ranges, counts for versions and dedup like any blob,
//! and `gc` and `check` see it: what nothing references any more is removed, the rest kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{TestServer, User};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The keys the blob store (without the database's tier) holds for this user.
async fn stored_blobs(s: &TestServer, u: &User) -> Vec<String> {
    let store = s.blob_store().await;
    let listed = store.list(&format!("user/{}/", u.id)).await.expect("list");
    listed.into_iter().map(|b| b.key).collect()
}

/// Every key of this user, in both tiers.
async fn all_blobs(s: &TestServer, u: &User) -> Vec<String> {
    let (_, content) = s.stores().await;
    let listed = content
        .list(&format!("user/{}/", u.id))
        .await
        .expect("list");
    listed.into_iter().map(|b| b.key).collect()
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

fn id(entry: &Value) -> String {
    entry["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn small_content_stays_out_of_the_blob_store_and_reads_back() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let small = bytes(4096, 1);
    let file = u.put_file("/notes/a.txt", small.clone()).await;
    assert!(stored_blobs(&s, &u).await.is_empty());
    assert_eq!(all_blobs(&s, &u).await.len(), 1, "one inline row");
    assert_eq!(u.download(&id(&file)).await, small);

    let url = format!("/api/v1/files/{}/content", id(&file));
    let range = |spec: &'static str| u.req(Method::GET, &url).header("range", spec).send();
    let r = range("bytes=100-199").await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/4096");
    assert_eq!(r.bytes().await.unwrap()[..], small[100..200]);
    let r = range("bytes=-10").await.unwrap();
    assert_eq!(r.bytes().await.unwrap()[..], small[4086..]);

    // WebDAV reads the row and its content together: whole, a range, and HEAD.
    let dav = u.dav().await;
    let r = dav.send("GET", "/notes/a.txt").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap()[..], small[..]);
    let r = dav
        .req("GET", "/notes/a.txt")
        .header("range", "bytes=4000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap()[..], small[4000..]);
    let r = dav.send("HEAD", "/notes/a.txt").await;
    assert_eq!(r.headers()["content-length"], "4096");

    // An empty file is content too.
    let empty = u.put_file("/empty", Vec::new()).await;
    assert!(u.download(&id(&empty)).await.is_empty());
    assert!(stored_blobs(&s, &u).await.is_empty());
    assert!(s.check().await.is_clean());
}

#[tokio::test]
async fn the_limit_decides_the_tier_and_both_read_the_same() {
    let s = TestServer::start_with(|a| a.inline_max_bytes = 1000).await;
    let u = s.user().await;
    let at_limit = bytes(1000, 2);
    let over = bytes(1001, 3);
    let a = u.put_file("/at-limit", at_limit.clone()).await;
    assert!(
        stored_blobs(&s, &u).await.is_empty(),
        "1000 bytes stay inline"
    );
    let b = u.put_file("/over", over.clone()).await;
    let stored = stored_blobs(&s, &u).await;
    assert_eq!(stored.len(), 1, "1001 bytes go to the blob store");
    assert_eq!(all_blobs(&s, &u).await.len(), 2);
    assert_eq!(u.download(&id(&a)).await, at_limit);
    assert_eq!(u.download(&id(&b)).await, over);

    // With the tier off, even a byte goes to the blob store; what is inline stays readable.
    let (dir, mut args) = s.stop_keeping_data().await;
    args.inline_max_bytes = 0;
    let s = TestServer::start_in(dir, args).await;
    let u = s.login(&u.email, "correct horse battery").await;
    let c = u.put_file("/one-byte", vec![7u8]).await;
    assert_eq!(stored_blobs(&s, &u).await.len(), 2);
    assert_eq!(u.download(&id(&c)).await, vec![7u8]);
    assert_eq!(u.download(&id(&a)).await, at_limit);
    assert!(s.check().await.is_clean());
}

#[tokio::test]
async fn versions_and_dedup_of_small_content_share_one_row() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let v1 = bytes(3000, 4);
    let v2 = bytes(2000, 5);
    let file = u.put_file("/doc.md", v1.clone()).await;
    u.put_file("/doc.md", v2.clone()).await;
    // The same content again, at another path: kept once.
    let copy = u.put_file("/copy.md", v1.clone()).await;
    assert_eq!(all_blobs(&s, &u).await.len(), 2, "v1 once, v2 once");

    let old = u
        .get(&format!("/api/v1/files/{}/versions/1/content", id(&file)))
        .await;
    assert_eq!(old.status(), StatusCode::OK);
    assert_eq!(old.bytes().await.unwrap()[..], v1[..]);
    assert_eq!(u.download(&id(&file)).await, v2);
    assert_eq!(u.download(&id(&copy)).await, v1);
    assert!(s.check().await.is_clean());
}

#[tokio::test]
async fn gc_removes_small_content_once_nothing_references_it() {
    let s = TestServer::start_with(|a| a.gc_grace = 0).await;
    let u = s.user().await;
    let kept = u.put_file("/kept.txt", bytes(500, 6)).await;
    let gone = u.put_file("/gone.txt", bytes(600, 7)).await;
    assert_eq!(all_blobs(&s, &u).await.len(), 2);

    // Deleted, it sits in the trash: nothing is collected.
    let r = u.delete(&format!("/api/v1/files/{}", id(&gone))).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let report = s.gc(Utc::now() + Duration::seconds(5), false).await;
    assert_eq!(report.orphan_blobs, 0);
    assert_eq!(all_blobs(&s, &u).await.len(), 2);

    // Purged from the trash, its row goes; the other file's stays and reads.
    let r = u.delete("/api/v1/trash").await;
    assert!(r.status().is_success(), "purge: {}", r.status());
    let dry = s.gc(Utc::now() + Duration::seconds(5), true).await;
    assert_eq!((dry.orphan_blobs, dry.orphan_bytes), (1, 600));
    assert_eq!(
        all_blobs(&s, &u).await.len(),
        2,
        "a dry run removes nothing"
    );
    let report = s.gc(Utc::now() + Duration::seconds(5), false).await;
    assert_eq!((report.orphan_blobs, report.orphan_bytes), (1, 600));
    assert_eq!(all_blobs(&s, &u).await.len(), 1);
    assert_eq!(u.download(&id(&kept)).await, bytes(500, 6));
    assert!(s.check().await.is_clean());
}

#[tokio::test]
async fn check_reports_small_content_that_is_missing() {
    let s = TestServer::start().await;
    let u = s.user().await;
    u.put_file("/a.txt", bytes(100, 8)).await;
    let keys = all_blobs(&s, &u).await;
    assert_eq!(keys.len(), 1);
    let (_, content) = s.stores().await;
    content.delete(&keys[0]).await.expect("delete");
    let report = s.check().await;
    assert_eq!(report.missing_blobs, keys);
    assert!(report.unreferenced_blobs.is_empty());
}
