//! tus 1.0.0 at /api/v1/uploads, call by call, on the backends the environment picks
//! (SQLite or Postgres; the filesystem store or Garage): offsets, 409 on a wrong offset,
//! 460 on a bad checksum, termination, expiry and gc's abort, another user's upload,
//! creation-with-upload, small pieces joined on S3, two PATCHes at once, a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::tus::{self, assert_tus, data, header, number};
use common::{content_hash, expect_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

fn sha256_header(piece: &[u8]) -> String {
    format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(piece))
    )
}

#[tokio::test]
async fn options_and_tus_resumable_on_every_reply() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let r = s
        .req(Method::OPTIONS, "/api/v1/uploads")
        .send()
        .await
        .expect("OPTIONS");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_tus(&r);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    let ext = header(&r, "tus-extension");
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
    }
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha1,sha256");
    assert!(number(&r, "tus-max-size") > 0);

    // Errors too: no token, an unknown upload, a wrong method, a wrong version.
    let r = s
        .req(Method::POST, "/api/v1/uploads")
        .header("Upload-Length", "5")
        .send()
        .await
        .expect("POST");
    assert_tus(&r);
    expect_error(r, 401, "unauthorized").await;
    let r = tus::head(&u, "/api/v1/uploads/0190d6a0-0000-7000-8000-000000000000").await;
    assert_tus(&r);
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = tus::req(&u, Method::GET, "/api/v1/uploads/x")
        .send()
        .await
        .expect("GET");
    assert_tus(&r);
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = u
        .req(Method::POST, "/api/v1/uploads")
        .header("Tus-Resumable", "0.2.2")
        .header("Upload-Length", "5")
        .send()
        .await
        .expect("POST");
    assert_tus(&r);
    expect_error(r, 412, "precondition_failed").await;
    let r = tus::create_with(&u, 5, &[]).await;
    assert_tus(&r);
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn upload_call_by_call() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(40 * MIB + 123, 1);
    let r = tus::create_with(&u, content.len() as u64, &[("path", "/big/a.bin")]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().contains_key("upload-expires"));
    let loc = header(&r, "location");
    assert!(loc.starts_with("/api/v1/uploads/"), "{loc}");
    assert_eq!(tus::offset(&u, &loc).await, 0);
    let r = tus::head(&u, &loc).await;
    assert_eq!(number(&r, "upload-length"), content.len() as u64);
    assert_eq!(header(&r, "cache-control"), "no-store");

    // 7 MiB, then 20 MiB (crossing a part), each acknowledged at its offset.
    let r = tus::patch(&u, &loc, 0, content[..7 * MIB].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_tus(&r);
    assert_eq!(number(&r, "upload-offset"), 7 * MIB as u64);
    let r = tus::patch(
        &u,
        &loc,
        7 * MIB as u64,
        content[7 * MIB..27 * MIB].to_vec(),
    )
    .await;
    assert_eq!(number(&r, "upload-offset"), 27 * MIB as u64);
    assert_eq!(tus::offset(&u, &loc).await, 27 * MIB as u64);

    // A wrong offset is 409 and changes nothing.
    let r = tus::patch(&u, &loc, 7 * MIB as u64, content[7 * MIB..8 * MIB].to_vec()).await;
    assert_tus(&r);
    expect_error(r, 409, "conflict").await;
    assert_eq!(tus::offset(&u, &loc).await, 27 * MIB as u64);
    // A PATCH without the tus content type is refused.
    let r = tus::req(&u, Method::PATCH, &loc)
        .header("Upload-Offset", (27 * MIB).to_string())
        .body(vec![1u8; 10])
        .send()
        .await
        .expect("PATCH");
    expect_error(r, 400, "invalid_request").await;

    let staged = tus::staged(&s, &u, &loc).await;
    // The last piece, with its checksum: the file is committed.
    let last = content[27 * MIB..].to_vec();
    let r = tus::req(&u, Method::PATCH, &loc)
        .header("Content-Type", tus::OFFSET_STREAM)
        .header("Upload-Offset", (27 * MIB).to_string())
        .header("Upload-Checksum", sha256_header(&last))
        .body(last)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(number(&r, "upload-offset"), content.len() as u64);
    let file_id = header(&r, "dbx-file-id");
    let meta = u.get_json(&format!("/api/v1/files/{file_id}")).await;
    assert_eq!(meta["path"], "/big/a.bin");
    assert_eq!(meta["size"], content.len() as u64);
    assert_eq!(meta["content_hash"], content_hash(&content));
    assert_eq!(meta["version"], 1);
    assert!(u.download(&file_id).await == content, "the bytes read back");

    // The upload is gone, nothing of it is left in the store, check sees no orphan.
    let r = tus::head(&u, &loc).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(tus::leftovers(&s, &staged).await, 0);
    assert!(s.check().await.is_clean(), "{:?}", s.check().await);
    // The change log has the file, as for a PUT.
    let delta = u.get_json("/api/v1/delta").await;
    let ops: Vec<&Value> = delta["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .collect();
    assert!(
        ops.iter().any(|c| c["entry"]["id"] == file_id.as_str()),
        "{delta}"
    );
}

#[tokio::test]
async fn bad_checksum_is_460_and_the_piece_is_dropped() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(3 * MIB, 2);
    let loc = tus::create(&u, content.len() as u64, "/c.bin").await;
    let r = tus::patch(&u, &loc, 0, content[..MIB].to_vec()).await;
    assert_eq!(number(&r, "upload-offset"), MIB as u64);
    let piece = content[MIB..2 * MIB].to_vec();
    let r = tus::req(&u, Method::PATCH, &loc)
        .header("Content-Type", tus::OFFSET_STREAM)
        .header("Upload-Offset", MIB.to_string())
        .header("Upload-Checksum", sha256_header(b"something else"))
        .body(piece.clone())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status().as_u16(), 460);
    assert_tus(&r);
    let body: Value = r.json().await.expect("json");
    common::check_error_body(&body, "checksum_mismatch");
    assert_eq!(
        tus::offset(&u, &loc).await,
        MIB as u64,
        "the piece was dropped"
    );
    // sha1 works as well, and the rest goes on from the old offset.
    let sha1 = sha1::Sha1::digest(&piece);
    let r = tus::req(&u, Method::PATCH, &loc)
        .header("Content-Type", tus::OFFSET_STREAM)
        .header("Upload-Offset", MIB.to_string())
        .header(
            "Upload-Checksum",
            format!(
                "sha1 {}",
                base64::engine::general_purpose::STANDARD.encode(sha1)
            ),
        )
        .body(piece)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(number(&r, "upload-offset"), 2 * MIB as u64);
    let r = tus::patch(&u, &loc, 2 * MIB as u64, content[2 * MIB..].to_vec()).await;
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await == content);
    // An unknown algorithm is a bad request.
    let loc = tus::create(&u, 4, "/d.bin").await;
    let r = tus::req(&u, Method::PATCH, &loc)
        .header("Content-Type", tus::OFFSET_STREAM)
        .header("Upload-Offset", "0")
        .header("Upload-Checksum", "md5 AAAA")
        .body(vec![0u8; 4])
        .send()
        .await
        .expect("PATCH");
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn small_pieces_are_joined() {
    // On S3 each piece below a part is held as a tail and joined to the next one.
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(37 * MIB + 5, 3);
    let loc = tus::create(&u, content.len() as u64, "/joined.bin").await;
    let staged = tus::staged(&s, &u, &loc).await;
    let mut offset = 0;
    let mut file_id = None;
    for piece in content.chunks(3 * MIB + 7) {
        let r = tus::patch(&u, &loc, offset as u64, piece.to_vec()).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "at {offset}");
        offset += piece.len();
        assert_eq!(number(&r, "upload-offset"), offset as u64);
        file_id = r
            .headers()
            .get("dbx-file-id")
            .map(|v| v.to_str().expect("id").to_string());
    }
    let file_id = file_id.expect("committed with the last piece");
    assert!(u.download(&file_id).await == content);
    let meta = u.get_json(&format!("/api/v1/files/{file_id}")).await;
    assert_eq!(meta["content_hash"], content_hash(&content));
    assert_eq!(tus::leftovers(&s, &staged).await, 0, "no tail or part left");
    assert!(s.check().await.is_clean());
}

#[tokio::test]
async fn creation_with_upload() {
    let s = TestServer::start().await;
    let u = s.user().await;
    // The whole file in the POST.
    let content = data(2 * MIB + 1, 4);
    let r = tus::req(&u, Method::POST, "/api/v1/uploads")
        .header("Upload-Length", content.len().to_string())
        .header("Upload-Metadata", tus::metadata(&[("path", "/w/one.bin")]))
        .header("Content-Type", tus::OFFSET_STREAM)
        .body(content.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(number(&r, "upload-offset"), content.len() as u64);
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await == content);
    // Part of it in the POST, the rest in a PATCH.
    let r = tus::req(&u, Method::POST, "/api/v1/uploads")
        .header("Upload-Length", content.len().to_string())
        .header("Upload-Metadata", tus::metadata(&[("path", "/w/two.bin")]))
        .header("Content-Type", tus::OFFSET_STREAM)
        .body(content[..MIB].to_vec())
        .send()
        .await
        .expect("POST");
    assert_eq!(number(&r, "upload-offset"), MIB as u64);
    assert!(r.headers().get("dbx-file-id").is_none());
    let loc = header(&r, "location");
    let r = tus::patch(&u, &loc, MIB as u64, content[MIB..].to_vec()).await;
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await == content);
    // An empty file is complete at creation.
    let r = tus::create_with(&u, 0, &[("path", "/w/empty")]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await.is_empty());
}

#[tokio::test]
async fn termination_removes_the_upload() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(20 * MIB, 5);
    let loc = tus::create(&u, content.len() as u64, "/t.bin").await;
    let r = tus::patch(&u, &loc, 0, content[..18 * MIB].to_vec()).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let staged = tus::staged(&s, &u, &loc).await;
    let r = tus::req(&u, Method::DELETE, &loc)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_tus(&r);
    assert_eq!(tus::head(&u, &loc).await.status(), StatusCode::NOT_FOUND);
    let r = tus::patch(&u, &loc, 18 * MIB as u64, content[18 * MIB..].to_vec()).await;
    expect_error(r, 404, "not_found").await;
    assert_eq!(
        tus::leftovers(&s, &staged).await,
        0,
        "parts and tails removed"
    );
    let r = u.get("/api/v1/entries?path=/t.bin").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was committed");
}

#[tokio::test]
async fn another_users_upload_is_404() {
    let s = TestServer::start().await;
    let (ann, bob) = (s.user().await, s.user().await);
    let loc = tus::create(&ann, 10, "/mine.bin").await;
    assert_eq!(tus::head(&bob, &loc).await.status(), StatusCode::NOT_FOUND);
    let r = tus::patch(&bob, &loc, 0, vec![1u8; 10]).await;
    assert_tus(&r);
    expect_error(r, 404, "not_found").await;
    let r = tus::req(&bob, Method::DELETE, &loc)
        .send()
        .await
        .expect("DELETE");
    expect_error(r, 404, "not_found").await;
    // Ann's upload is untouched and finishes.
    let r = tus::patch(&ann, &loc, 0, vec![1u8; 10]).await;
    assert!(r.headers().contains_key("dbx-file-id"));
}

#[tokio::test]
async fn expired_uploads_are_gone_and_gc_aborts_them() {
    let s = TestServer::start_with(|a| a.upload_expiry = 1).await;
    let u = s.user().await;
    let content = data(18 * MIB, 6);
    let loc = tus::create(&u, content.len() as u64 + 1, "/old.bin").await;
    let r = tus::patch(&u, &loc, 0, content).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let staged = tus::staged(&s, &u, &loc).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let r = tus::head(&u, &loc).await;
    assert_tus(&r);
    assert_eq!(r.status(), StatusCode::GONE);
    let r = tus::patch(&u, &loc, 18 * MIB as u64, vec![0u8]).await;
    expect_error(r, 410, "gone").await;
    assert!(s.check().await.is_clean(), "parts are not orphans");
    let dry = s.gc(chrono::Utc::now(), true).await;
    assert_eq!(dry.expired_uploads, 1);
    let report = s.gc(chrono::Utc::now(), false).await;
    assert_eq!(report.expired_uploads, 1);
    assert_eq!(tus::head(&u, &loc).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(tus::leftovers(&s, &staged).await, 0);
    assert_eq!(s.gc(chrono::Utc::now(), false).await.expired_uploads, 0);
}

#[tokio::test]
async fn gc_keeps_uploads_with_recent_progress() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let loc = tus::create(&u, 10, "/fresh.bin").await;
    tus::patch(&u, &loc, 0, vec![7u8; 4]).await;
    let now = chrono::Utc::now();
    assert_eq!(s.gc(now, false).await.expired_uploads, 0);
    assert_eq!(tus::offset(&u, &loc).await, 4);
    // A day later without progress, it goes.
    let later = now + chrono::Duration::hours(25);
    assert_eq!(s.gc(later, false).await.expired_uploads, 1);
    assert_eq!(tus::head(&u, &loc).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_commit_is_the_usual_error() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let first = u.put_file("/p.txt", "v1").await;
    let stale = format!("\"{}:{}\"", first["id"].as_str().expect("id"), 7);
    let r = tus::create_with(&u, 3, &[("path", "/p.txt"), ("if_match", &stale)]).await;
    // Checked at creation already.
    assert_tus(&r);
    expect_error(r, 412, "precondition_failed").await;
    let ok = format!("\"{}:1\"", first["id"].as_str().expect("id"));
    let r = tus::create_with(&u, 3, &[("path", "/p.txt"), ("if_match", &ok)]).await;
    let loc = header(&r, "location");
    // The file changes meanwhile: the final PATCH fails with 412, nothing changes.
    u.put_file("/p.txt", "v2").await;
    let r = tus::patch(&u, &loc, 0, b"v3!".to_vec()).await;
    assert_tus(&r);
    expect_error(r, 412, "precondition_failed").await;
    let now = u.get_json("/api/v1/entries?path=/p.txt").await;
    assert_eq!(now["version"], 2);
    // A declared hash that the bytes do not match is 422.
    let bad = "00".repeat(32);
    let r = tus::create_with(&u, 3, &[("path", "/q.txt"), ("content_hash", &bad)]).await;
    let loc = header(&r, "location");
    let r = tus::patch(&u, &loc, 0, b"abc".to_vec()).await;
    expect_error(r, 422, "checksum_mismatch").await;
    assert!(s.check().await.is_clean(), "refused blobs are removed");
}

#[tokio::test]
async fn if_none_match_commits_only_a_new_file() {
    let s = TestServer::start().await;
    let u = s.user().await;
    u.put_file("/taken.txt", "v1").await;
    let only_new = [("path", "/taken.txt"), ("if_none_match", "*")];
    // Checked at creation already.
    let r = tus::create_with(&u, 3, &only_new).await;
    assert_tus(&r);
    expect_error(r, 412, "precondition_failed").await;
    let r = tus::create_with(&u, 4, &[("path", "/new.txt"), ("if_none_match", "*")]).await;
    let loc = header(&r, "location");
    // Another device makes the file meanwhile: the final PATCH fails with 412 and the
    // other device's file stays.
    u.put_file("/new.txt", "theirs").await;
    let r = tus::patch(&u, &loc, 0, b"ours".to_vec()).await;
    expect_error(r, 412, "precondition_failed").await;
    let now = u.get_json("/api/v1/entries?path=/new.txt").await;
    assert_eq!(now["version"], 1);
    assert_eq!(now["size"], 6);
    // Only `*`, and not together with if_match.
    let r = tus::create_with(&u, 3, &[("path", "/x.txt"), ("if_none_match", "abc")]).await;
    expect_error(r, 400, "invalid_request").await;
    let both = [
        ("path", "/x.txt"),
        ("if_none_match", "*"),
        ("if_match", "*"),
    ];
    let r = tus::create_with(&u, 3, &both).await;
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn quota_is_checked_at_creation() {
    let s = TestServer::start_with(|a| a.quota_bytes = Some(1000)).await;
    let u = s.user().await;
    let r = tus::create_with(&u, 2000, &[("path", "/big")]).await;
    assert_tus(&r);
    expect_error(r, 507, "quota_exceeded").await;
    let r = tus::create_with(&u, 10, &[("path", "/small")]).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn two_patches_at_once_one_wins_the_other_is_409() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(6 * MIB, 7);
    let loc = tus::create(&u, content.len() as u64, "/race.bin").await;
    // The first PATCH sends half, then waits with its lease held.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream(rx));
    let first = {
        let (u, loc) = (u.clone(), loc.clone());
        tokio::spawn(async move { tus::patch_body(&u, &loc, 0, body).await })
    };
    tx.send(Ok(content[..3 * MIB].to_vec()))
        .await
        .expect("send");
    // The server claims the lease before it reads the body; give it a moment, then a
    // second client PATCHes the same offset.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let r = tus::patch(&u, &loc, 0, content.clone()).await;
    assert_tus(&r);
    expect_error(r, 409, "conflict").await;
    tx.send(Ok(content[3 * MIB..].to_vec()))
        .await
        .expect("send");
    drop(tx);
    let r = first.await.expect("first");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await == content, "the file is intact");
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn an_upload_survives_a_restart() {
    let s = TestServer::start().await;
    let u = s.user().await;
    let content = data(21 * MIB, 8);
    let loc = tus::create(&u, content.len() as u64, "/r.bin").await;
    let r = tus::patch(&u, &loc, 0, content[..17 * MIB + 3].to_vec()).await;
    assert_eq!(number(&r, "upload-offset"), 17 * MIB as u64 + 3);
    let (dir, args) = s.stop_keeping_data().await;
    let s = TestServer::start_in(dir, args).await;
    let u = common::User {
        base: s.base.clone(),
        ..u
    };
    assert_eq!(tus::offset(&u, &loc).await, 17 * MIB as u64 + 3);
    let r = tus::patch(
        &u,
        &loc,
        17 * MIB as u64 + 3,
        content[17 * MIB + 3..].to_vec(),
    )
    .await;
    let file_id = header(&r, "dbx-file-id");
    assert!(u.download(&file_id).await == content);
    let meta = u.get_json(&format!("/api/v1/files/{file_id}")).await;
    assert_eq!(meta["content_hash"], content_hash(&content));
}
