//! API.md 1.1's preconditions that name the file: `If-Match: "<file id>:<version>"` on
//! uploads and on file deletes (412 and nothing changed on a mismatch, also when the path
//! now holds another file at the same version), the old `"<version>"` form still working,
//! and `DELETE /api/v1/folders/{id}?recursive=false` (409 unless the folder is empty).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer, User};
use reqwest::Method;
use serde_json::Value;

async fn upload_if(u: &User, path: &str, data: &str, if_match: &str) -> reqwest::Response {
    u.req(Method::PUT, "/api/v1/files/content")
        .query(&[("path", path)])
        .header("If-Match", if_match)
        .body(data.to_string())
        .send()
        .await
        .expect("PUT")
}

async fn delete_if(u: &User, id: &str, if_match: &str) -> reqwest::Response {
    u.req(Method::DELETE, &format!("/api/v1/files/{id}"))
        .header("If-Match", if_match)
        .send()
        .await
        .expect("DELETE")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn content_at(u: &User, path: &str) -> Option<Vec<u8>> {
    let r = u
        .req(Method::GET, "/api/v1/entries")
        .query(&[("path", path)])
        .send()
        .await
        .expect("GET entries");
    if r.status() == 404 {
        return None;
    }
    let e: Value = r.json().await.expect("json");
    Some(u.download(&id(&e)).await)
}

#[tokio::test]
async fn uploads_take_the_file_id_and_version() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let first = u.put_file("/a.txt", "one").await;
    let fid = id(&first);

    // The named form: this file at this version.
    let r = upload_if(&u, "/a.txt", "two", &format!("\"{fid}:1\"")).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.expect("json");
    assert_eq!(second["version"], 2);
    // A stale version, another id, or a malformed value change nothing.
    expect_error(
        upload_if(&u, "/a.txt", "x", &format!("\"{fid}:1\"")).await,
        412,
        "precondition_failed",
    )
    .await;
    expect_error(
        upload_if(
            &u,
            "/a.txt",
            "x",
            "\"0190a0a0-0000-7000-8000-000000000000:2\"",
        )
        .await,
        412,
        "precondition_failed",
    )
    .await;
    for bad in ["\"abc\"", "\":2\"", &format!("\"{fid}:x\"")] {
        expect_error(
            upload_if(&u, "/a.txt", "x", bad).await,
            400,
            "invalid_request",
        )
        .await;
    }
    // The old form still works.
    let r = upload_if(&u, "/a.txt", "three", "\"2\"").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        content_at(&u, "/a.txt").await.as_deref(),
        Some(&b"three"[..])
    );

    // Deleted and made again: version 1 again, but another file. The old form cannot tell
    // them apart; the named form can.
    assert_eq!(
        u.delete(&format!("/api/v1/files/{fid}")).await.status(),
        204
    );
    let again = u.put_file("/a.txt", "new file").await;
    assert_eq!(again["version"], 1);
    expect_error(
        upload_if(&u, "/a.txt", "x", &format!("\"{fid}:1\"")).await,
        412,
        "precondition_failed",
    )
    .await;
    assert_eq!(
        content_at(&u, "/a.txt").await.as_deref(),
        Some(&b"new file"[..])
    );
    // Naming a file where there is none is a 412 too.
    expect_error(
        upload_if(&u, "/none.txt", "x", &format!("\"{}:1\"", id(&again))).await,
        412,
        "precondition_failed",
    )
    .await;
    assert_eq!(content_at(&u, "/none.txt").await, None);
    srv.stop().await;
}

#[tokio::test]
async fn file_deletes_take_if_match() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/a.txt", "one").await;
    let fid = id(&f);
    u.put_file("/a.txt", "two").await;

    // Stale in either form: 412, and the file is still there.
    for stale in [
        format!("\"{fid}:1\""),
        "\"1\"".to_string(),
        "\"other:2\"".to_string(),
    ] {
        expect_error(
            delete_if(&u, &fid, &stale).await,
            412,
            "precondition_failed",
        )
        .await;
        assert_eq!(content_at(&u, "/a.txt").await.as_deref(), Some(&b"two"[..]));
    }
    expect_error(delete_if(&u, &fid, "\"x\"").await, 400, "invalid_request").await;
    assert_eq!(content_at(&u, "/a.txt").await.as_deref(), Some(&b"two"[..]));
    // Current: deleted.
    assert_eq!(
        delete_if(&u, &fid, &format!("\"{fid}:2\"")).await.status(),
        204
    );
    assert_eq!(content_at(&u, "/a.txt").await, None);

    // The old form, and no header at all, still delete.
    let g = u.put_file("/b.txt", "b").await;
    assert_eq!(delete_if(&u, &id(&g), "\"1\"").await.status(), 204);
    let h = u.put_file("/c.txt", "c").await;
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&h)))
            .await
            .status(),
        204
    );
    assert_eq!(content_at(&u, "/c.txt").await, None);
    srv.stop().await;
}

#[tokio::test]
async fn folder_deletes_can_refuse_a_non_empty_folder() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let d = u.mkdir(None, "d").await;
    let did = id(&d);
    let inner = u.mkdir(Some(&did), "inner").await;
    let f = u.put_file("/d/inner/f.txt", "f").await;
    let path = |id: &str, q: &str| format!("/api/v1/folders/{id}{q}");

    // Not empty: 409, nothing deleted.
    for q in ["?recursive=false"] {
        expect_error(u.delete(&path(&did, q)).await, 409, "conflict").await;
        expect_error(u.delete(&path(&id(&inner), q)).await, 409, "conflict").await;
    }
    assert_eq!(
        content_at(&u, "/d/inner/f.txt").await.as_deref(),
        Some(&b"f"[..])
    );
    expect_error(
        u.delete(&path(&did, "?recursive=maybe")).await,
        400,
        "invalid_request",
    )
    .await;

    // Emptied from the bottom up, each goes.
    assert_eq!(
        u.delete(&format!("/api/v1/files/{}", id(&f)))
            .await
            .status(),
        204
    );
    assert_eq!(
        u.delete(&path(&id(&inner), "?recursive=false"))
            .await
            .status(),
        204
    );
    assert_eq!(
        u.delete(&path(&did, "?recursive=false")).await.status(),
        204
    );
    assert_eq!(u.get(&path(&did, "")).await.status(), 404);

    // Without the parameter (or with true) a folder delete stays recursive.
    for q in ["", "?recursive=true"] {
        let e = u.mkdir(None, "e").await;
        u.put_file("/e/g.txt", "g").await;
        assert_eq!(u.delete(&path(&id(&e), q)).await.status(), 204);
        assert_eq!(content_at(&u, "/e/g.txt").await, None);
    }
    srv.stop().await;
}
