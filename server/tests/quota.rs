//! API.md 1.1 "Quotas": `--quota-bytes` caps each user's usage; an upload (or a restore)
//! that would pass it is 507 and changes nothing, also when uploads race for the last
//! bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{expect_error, TestServer, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn usage(u: &User) -> u64 {
    let me: Value = u.get_json("/api/v1/me").await;
    me["usage_bytes"].as_u64().unwrap()
}

/// An upload whose body has no Content-Length: only the commit can refuse it.
async fn upload_chunked(u: &User, path: &str, data: Vec<u8>) -> reqwest::Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(100)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    u.req(Method::PUT, "/api/v1/files/content")
        .query(&[("path", path)])
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            pieces,
        )))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn me_shows_the_quota() {
    let srv = TestServer::start().await;
    let me: Value = srv.user().await.get_json("/api/v1/me").await;
    assert_eq!(me["quota_bytes"], Value::Null);
    assert!(me.as_object().unwrap().contains_key("quota_bytes"));
    let srv = TestServer::start_with(|a| a.quota_bytes = Some(5000)).await;
    let me: Value = srv.user().await.get_json("/api/v1/me").await;
    assert_eq!(me["quota_bytes"], 5000);
    assert_eq!(me["usage_bytes"], 0);
}

#[tokio::test]
async fn an_upload_over_the_quota_is_507_and_changes_nothing() {
    let srv = TestServer::start_with(|a| a.quota_bytes = Some(1000)).await;
    let u = srv.user().await;
    let f = u.put_file("/a.bin", vec![1u8; 600]).await;
    let since: Value = u.get_json("/api/v1/delta/latest").await;
    // Refused from Content-Length, before the body is read.
    expect_error(
        u.upload("/b.bin", vec![2u8; 401]).await,
        507,
        "quota_exceeded",
    )
    .await;
    // Without Content-Length, refused at commit.
    expect_error(
        upload_chunked(&u, "/b.bin", vec![2u8; 401]).await,
        507,
        "quota_exceeded",
    )
    .await;
    expect_error(
        u.upload("/a.bin", vec![3u8; 1001]).await,
        507,
        "quota_exceeded",
    )
    .await;
    assert_eq!(usage(&u).await, 600);
    let r = u.get("/api/v1/entries?path=/b.bin").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(u.download(f["id"].as_str().unwrap()).await, vec![1u8; 600]);
    let d: Value = u
        .get_json(&format!(
            "/api/v1/delta?cursor={}",
            since["cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d["entries"], json!([]));

    // Exactly up to the cap is fine; replacing a file counts only the difference.
    assert_eq!(
        u.upload("/b.bin", vec![2u8; 400]).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        upload_chunked(&u, "/a.bin", vec![4u8; 600]).await.status(),
        StatusCode::OK
    );
    assert_eq!(usage(&u).await, 1000);
    // Old versions and the trash do not count.
    let b = u
        .get("/api/v1/entries?path=/b.bin")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", b["id"].as_str().unwrap()))
            .await
            .status(),
        204
    );
    assert_eq!(usage(&u).await, 600);
    assert_eq!(
        u.upload("/c.bin", vec![5u8; 400]).await.status(),
        StatusCode::CREATED
    );
    // Another user has a quota of their own.
    let other = srv.user().await;
    assert_eq!(
        other.upload("/x.bin", vec![0u8; 1000]).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn restores_count_against_the_quota() {
    let srv = TestServer::start_with(|a| a.quota_bytes = Some(1000)).await;
    let u = srv.user().await;
    let f = u.put_file("/a.bin", vec![1u8; 900]).await;
    let fid = f["id"].as_str().unwrap();
    u.put_file("/a.bin", vec![1u8; 100]).await;
    u.put_file("/b.bin", vec![2u8; 200]).await;
    // Version 1 (900 bytes) in place of version 2 (100) would make 1100.
    let r = u
        .post(
            &format!("/api/v1/files/{fid}/restore"),
            json!({"version": 1}),
        )
        .await;
    expect_error(r, 507, "quota_exceeded").await;
    assert_eq!(u.download(fid).await, vec![1u8; 100]);
    // A trash item that would not fit stays in the trash.
    assert_eq!(
        u.delete(&format!("/api/v1/files/{fid}")).await.status(),
        204
    );
    u.put_file("/c.bin", vec![3u8; 750]).await;
    let r = u
        .post(&format!("/api/v1/trash/{fid}/restore"), json!({}))
        .await;
    expect_error(r, 507, "quota_exceeded").await;
    let trash: Value = u.get_json("/api/v1/trash").await;
    assert_eq!(trash["entries"].as_array().unwrap().len(), 1);
    assert_eq!(usage(&u).await, 950);
}

/// 16 uploads race for the last 4000 bytes: exactly four fit, whether the quota is
/// decided from Content-Length up front or only at commit, and the cap is never passed.
#[tokio::test]
async fn sixteen_racing_uploads_never_pass_the_quota() {
    const RACERS: usize = 16;
    let srv = TestServer::start_with(|a| a.quota_bytes = Some(10_000)).await;
    for chunked in [false, true] {
        let u = srv.user().await;
        u.put_file("/base.bin", vec![0u8; 6000]).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|i| {
                let (u, start) = (u.clone(), start.clone());
                tokio::spawn(async move {
                    let path = format!("/race/{i}.bin");
                    start.wait().await;
                    let r = if chunked {
                        upload_chunked(&u, &path, vec![i as u8; 1000]).await
                    } else {
                        u.upload(&path, vec![i as u8; 1000]).await
                    };
                    r.status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for r in racers {
            statuses.push(r.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == 201).count();
        let refused = statuses.iter().filter(|s| **s == 507).count();
        assert_eq!((ok, refused), (4, 12), "chunked {chunked}: {statuses:?}");
        assert_eq!(usage(&u).await, 10_000, "chunked {chunked}");
        let listed: Value = u.get_json("/api/v1/entries?path=/race").await;
        let race_id = listed["id"].as_str().unwrap();
        let children: Value = u
            .get_json(&format!("/api/v1/folders/{race_id}/children"))
            .await;
        assert_eq!(children["entries"].as_array().unwrap().len(), 4);
    }
}
