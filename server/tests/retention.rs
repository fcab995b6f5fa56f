//! Retention (`--version-retention`, `--trash-retention`) and `gc`, with an injected
//! clock: versions and trash items past their retention are purged, their blobs removed
//! once nothing references them, the rest kept; `check` stays clean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{TestServer, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn version_numbers(u: &User, file: &str) -> Vec<i64> {
    let body: Value = u.get_json(&format!("/api/v1/files/{file}/versions")).await;
    body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

async fn trash_names(u: &User) -> Vec<String> {
    let body: Value = u.get_json("/api/v1/trash").await;
    body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn gc_purges_what_is_past_retention_and_keeps_the_rest() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let doc = u.put_file("/doc.txt", "draft 1").await;
    u.put_file("/doc.txt", "draft 2").await;
    u.put_file("/doc.txt", "final").await;
    let gone = u.put_file("/gone.txt", "gone").await;
    u.put_file("/dir/inner.txt", "inner").await;
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&gone)))
            .await
            .status(),
        204
    );
    let dir: Value = u.get_json("/api/v1/entries?path=/dir").await;
    assert_eq!(
        u.delete(&format!("/api/v1/folders/{}", id(&dir)))
            .await
            .status(),
        204
    );
    assert!(
        srv.check().await.is_clean(),
        "kept versions and trash are referenced"
    );

    // Within the retention period (and the blobs' grace period), nothing goes.
    let now = Utc::now();
    let r = srv.gc(now + Duration::days(29), false).await;
    assert_eq!(
        (r.expired_versions, r.expired_trash_items, r.orphan_blobs),
        (0, 0, 0)
    );
    assert_eq!(version_numbers(&u, &id(&doc)).await, vec![3, 2, 1]);
    assert_eq!(trash_names(&u).await, vec!["dir", "gone.txt"]);

    // A dry run counts and changes nothing.
    let later = now + Duration::days(31);
    let r = srv.gc(later, true).await;
    assert_eq!((r.expired_versions, r.expired_trash_items), (2, 2));
    assert_eq!(version_numbers(&u, &id(&doc)).await, vec![3, 2, 1]);

    let r = srv.gc(later, false).await;
    assert_eq!((r.expired_versions, r.expired_trash_items), (2, 2));
    assert_eq!(r.orphan_blobs, 4, "two old drafts, two deleted files");
    assert_eq!(
        r.orphan_bytes,
        ("draft 1".len() + "draft 2".len() + "gone".len() + "inner".len()) as u64
    );
    assert_eq!(version_numbers(&u, &id(&doc)).await, vec![3]);
    assert!(trash_names(&u).await.is_empty());
    assert_eq!(u.download(&id(&doc)).await, b"final");
    let report = srv.check().await;
    assert!(report.is_clean(), "{report:?}");
    // Purged for good: the old ids are not restorable.
    let r = u
        .post(&format!("/api/v1/trash/{}/restore", id(&gone)), json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Nothing more to do.
    let r = srv.gc(later, false).await;
    assert_eq!(
        (r.expired_versions, r.expired_trash_items, r.orphan_blobs),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn retention_follows_the_flags() {
    let srv = TestServer::start_with(|a| {
        a.retention.version_retention = 1;
        a.retention.trash_retention = 3;
    })
    .await;
    let u = srv.user().await;
    let f = u.put_file("/f.txt", "v1").await;
    u.put_file("/f.txt", "v2").await;
    let g = u.put_file("/g.txt", "g").await;
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&g)))
            .await
            .status(),
        204
    );
    let now = Utc::now();
    let r = srv.gc(now + Duration::hours(23), false).await;
    assert_eq!((r.expired_versions, r.expired_trash_items), (0, 0));
    let r = srv.gc(now + Duration::hours(25), false).await;
    assert_eq!((r.expired_versions, r.expired_trash_items), (1, 0));
    assert_eq!(version_numbers(&u, &id(&f)).await, vec![2]);
    assert_eq!(trash_names(&u).await, vec!["g.txt"]);
    let r = srv.gc(now + Duration::hours(73), false).await;
    assert_eq!((r.expired_versions, r.expired_trash_items), (0, 1));
    assert!(trash_names(&u).await.is_empty());
    assert!(srv.check().await.is_clean());
}

/// A restored version shares its blob with the expired one: the blob stays.
#[tokio::test]
async fn a_blob_is_kept_while_anything_references_it() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/f.txt", "precious").await;
    u.put_file("/f.txt", "oops").await;
    let r = u
        .post(
            &format!("/api/v1/files/{}/restore", id(&f)),
            json!({"version": 1}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // An item purged by hand loses its content at the next gc.
    let t = u.put_file("/t.txt", "trash me").await;
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&t)))
            .await
            .status(),
        204
    );
    assert_eq!(
        u.delete(&format!("/api/v1/trash/{}", id(&t)))
            .await
            .status(),
        204
    );

    let r = srv.gc(Utc::now() + Duration::days(31), false).await;
    // Versions 1 and 2 expired; version 3 (version 1's content) keeps that blob.
    assert_eq!(r.expired_versions, 2);
    assert_eq!(r.orphan_blobs, 2, "'oops' and the purged item");
    assert_eq!(u.download(&id(&f)).await, b"precious");
    assert_eq!(version_numbers(&u, &id(&f)).await, vec![3]);
    assert!(srv.check().await.is_clean());
}
