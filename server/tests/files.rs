//! API.md "Folders and files" and "Names and paths" over a real socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{content_hash, expect_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn upload_creates_then_versions_and_downloads() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let r = u.upload("/docs/a.txt", "hello world!").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["type"], "file");
    assert_eq!(f["name"], "a.txt");
    assert_eq!(f["path"], "/docs/a.txt");
    assert_eq!(f["size"], 12);
    assert_eq!(f["version"], 1);
    assert_eq!(f["mime_type"], "text/plain");
    assert_eq!(f["content_hash"], content_hash(b"hello world!"));
    // The missing parent was created.
    let docs: Value = u
        .get("/api/v1/entries?path=/docs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(docs["type"], "folder");
    assert_eq!(f["parent_id"], docs["id"]);
    assert_eq!(docs["parent_id"], Value::Null);

    let r = u.upload("/docs/a.txt", "second").await;
    assert_eq!(r.status(), StatusCode::OK);
    let f2: Value = r.json().await.unwrap();
    assert_eq!(f2["id"], f["id"]);
    assert_eq!(f2["version"], 2);
    assert_eq!(u.download(f["id"].as_str().unwrap()).await, b"second");

    let meta: Value = u
        .get(&format!("/api/v1/files/{}", f["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta, f2);
    let me: Value = u.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["usage_bytes"], 6);
}

#[tokio::test]
async fn upload_by_parent_id_and_name() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let folder = u.mkdir(None, "pics").await;
    let fid = folder["id"].as_str().unwrap();
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("parent_id", fid), ("name", "cat.png")])
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["path"], "/pics/cat.png");
    assert_eq!(f["mime_type"], "image/png");
    // Into the root, and with a declared content type.
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("parent_id", "root"), ("name", "data.bin")])
        .header("content-type", "application/x-custom")
        .body("x")
        .send()
        .await
        .unwrap();
    let f: Value = r.json().await.unwrap();
    assert_eq!(f["path"], "/data.bin");
    assert_eq!(f["parent_id"], Value::Null);
    assert_eq!(f["mime_type"], "application/x-custom");
    // A parent that does not exist.
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[
            ("parent_id", uuid::Uuid::now_v7().to_string().as_str()),
            ("name", "x"),
        ])
        .body("x")
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn zero_byte_and_chunked_and_large_bodies() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let empty = u.put_file("/empty", Vec::<u8>::new()).await;
    assert_eq!(empty["size"], 0);
    assert_eq!(empty["content_hash"], content_hash(b""));
    assert!(u.download(empty["id"].as_str().unwrap()).await.is_empty());

    // A chunked body (no Content-Length) of 20 MiB in uneven pieces: spans several
    // 4 MiB hash blocks.
    let data: Vec<u8> = (0..20 * 1024 * 1024 + 123)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let pieces: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(999_983)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
    let f = u.put_file("/big.bin", body).await;
    assert_eq!(f["size"], data.len() as u64);
    assert_eq!(f["content_hash"], content_hash(&data));
    assert_eq!(u.download(f["id"].as_str().unwrap()).await, data);
}

#[tokio::test]
async fn if_match_and_content_hash_guard_uploads() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/a.txt", "one").await;
    let put = |body: &'static str, headers: &[(&'static str, String)]| {
        let mut b = u
            .req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", "/a.txt")])
            .body(body);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        b.send()
    };
    expect_error(
        put("two", &[("if-match", "\"5\"".into())]).await.unwrap(),
        412,
        "precondition_failed",
    )
    .await;
    let r = put("two", &[("if-match", "\"1\"".into())]).await.unwrap();
    assert_eq!(r.status(), 200);
    let wrong = content_hash(b"not it");
    expect_error(
        put("three", &[("x-content-hash", wrong)]).await.unwrap(),
        422,
        "checksum_mismatch",
    )
    .await;
    expect_error(
        put("three", &[("x-content-hash", "zz".into())])
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    let right = content_hash(b"three");
    let r = put("three", &[("x-content-hash", right)]).await.unwrap();
    assert_eq!(r.status(), 200);
    // Nothing changed on the failed attempts: version 3 is "three".
    let meta: Value = u
        .get(&format!("/api/v1/files/{}", f["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["version"], 3);
    assert_eq!(u.download(f["id"].as_str().unwrap()).await, b"three");
    // If-Match on a file that does not exist.
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("path", "/new.txt")])
        .header("if-match", "\"1\"")
        .body("x")
        .send()
        .await
        .unwrap();
    expect_error(r, 412, "precondition_failed").await;
}

#[tokio::test]
async fn if_none_match_star_only_creates() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let create = |body: &'static str| {
        u.req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", "/once.txt")])
            .header("if-none-match", "*")
            .body(body)
            .send()
    };
    assert_eq!(create("first").await.unwrap().status(), 201);
    expect_error(create("second").await.unwrap(), 412, "precondition_failed").await;
    let f: Value = u
        .get("/api/v1/entries?path=/once.txt")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(f["version"], 1);
    assert_eq!(u.download(f["id"].as_str().unwrap()).await, b"first");
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("path", "/x.txt")])
        .header("if-none-match", "\"1\"")
        .body("x")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn upload_limit_is_enforced_with_and_without_length() {
    let srv = TestServer::start_with(|a| a.max_upload_bytes = 1000).await;
    let u = srv.user().await;
    expect_error(
        u.upload("/big", vec![0u8; 1001]).await,
        413,
        "payload_too_large",
    )
    .await;
    let pieces: Vec<Result<Bytes, std::io::Error>> =
        (0..5).map(|_| Ok(Bytes::from(vec![1u8; 300]))).collect();
    let r = u
        .upload(
            "/big",
            reqwest::Body::wrap_stream(futures_util::stream::iter(pieces)),
        )
        .await;
    expect_error(r, 413, "payload_too_large").await;
    expect_error(u.get("/api/v1/entries?path=/big").await, 404, "not_found").await;
    assert_eq!(u.upload("/ok", vec![0u8; 1000]).await.status(), 201);
}

#[tokio::test]
async fn range_requests_and_download_headers() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f = u.put_file("/naïve file.txt", "0123456789").await;
    let url = format!("/api/v1/files/{}/content", f["id"].as_str().unwrap());
    let r = u.get(&url).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(
        h["etag"],
        format!("\"{}\"", content_hash(b"0123456789")).as_str()
    );
    assert_eq!(h["content-type"], "text/plain");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-length"], "10");
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert!(
        cd.contains("filename*=UTF-8''na%C3%AFve%20file.txt"),
        "{cd}"
    );

    let range = |spec: &'static str| u.req(Method::GET, &url).header("range", spec).send();
    let r = range("bytes=2-4").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"234");
    let r = range("bytes=7-").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"789");
    let r = range("bytes=-2").await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"89");
    let r = range("bytes=10-").await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */10");

    let r = u.req(Method::HEAD, &url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "10");
}

#[tokio::test]
async fn folders_list_in_order_with_pagination() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    for name in ["b.txt", "A.txt", "c.txt"] {
        u.put_file(&format!("/{name}"), "x").await;
    }
    for name in ["zeta", "Alpha"] {
        u.mkdir(None, name).await;
    }
    let page: Value = u
        .get("/api/v1/folders/root/children")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "zeta", "A.txt", "b.txt", "c.txt"]);
    assert_eq!(page["next"], Value::Null);

    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut url = "/api/v1/folders/root/children?limit=2".to_string();
        if let Some(t) = &next {
            url.push_str(&format!("&after={t}"));
        }
        let page: Value = u.get(&url).await.json().await.unwrap();
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        seen.extend(
            entries
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, names);
    for bad in ["limit=0", "limit=10001", "limit=x", "after=%21%21"] {
        expect_error(
            u.get(&format!("/api/v1/folders/root/children?{bad}")).await,
            400,
            "invalid_request",
        )
        .await;
    }
    let alpha: Value = u
        .get("/api/v1/entries?path=/alpha")
        .await
        .json()
        .await
        .unwrap();
    let inner: Value = u
        .get(&format!(
            "/api/v1/folders/{}/children",
            alpha["id"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inner["entries"], json!([]));
}

#[tokio::test]
async fn names_are_checked_and_unique_case_insensitively() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    u.mkdir(None, "Docs").await;
    expect_error(
        u.post(
            "/api/v1/folders",
            json!({"parent_id": null, "name": "docs"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    // A file cannot take a folder's name, nor a folder a file's.
    expect_error(u.upload("/DOCS", "x").await, 409, "conflict").await;
    u.put_file("/f.txt", "x").await;
    expect_error(
        u.post(
            "/api/v1/folders",
            json!({"parent_id": null, "name": "F.TXT"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    expect_error(u.upload("/f.txt/inner", "x").await, 409, "conflict").await;
    let long = "x".repeat(256);
    for bad in ["", ".", "..", "a/b", "a\u{0}b", "tab\there", long.as_str()] {
        expect_error(
            u.post("/api/v1/folders", json!({"parent_id": null, "name": bad}))
                .await,
            400,
            "invalid_request",
        )
        .await;
    }
    for bad in ["relative.txt", "/a/../b", "/a//b", "/"] {
        expect_error(u.upload(bad, "x").await, 400, "invalid_request").await;
    }
    // NFC: a decomposed name finds the composed one.
    u.put_file("/caf\u{e9}.txt", "x").await;
    let r = u.get("/api/v1/entries?path=/cafe\u{301}.txt").await;
    assert_eq!(r.status(), 200);
    let missing = u
        .post(
            "/api/v1/folders",
            json!({"parent_id": uuid::Uuid::now_v7().to_string(), "name": "x"}),
        )
        .await;
    expect_error(missing, 404, "not_found").await;
    expect_error(
        u.post("/api/v1/folders", json!({"name": 5})).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn soft_delete_of_files_and_folder_subtrees() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let a = u.put_file("/d/sub/a.txt", "a").await;
    let b = u.put_file("/d/b.txt", "bb").await;
    let keep = u.put_file("/keep.txt", "k").await;
    let d: Value = u.get("/api/v1/entries?path=/d").await.json().await.unwrap();

    let r = u
        .delete(&format!("/api/v1/files/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 204);
    expect_error(
        u.get(&format!("/api/v1/files/{}", b["id"].as_str().unwrap()))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        u.delete(&format!("/api/v1/files/{}", b["id"].as_str().unwrap()))
            .await,
        404,
        "not_found",
    )
    .await;

    let r = u
        .delete(&format!("/api/v1/folders/{}", d["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), 204);
    for path in ["/d", "/d/sub", "/d/sub/a.txt"] {
        expect_error(
            u.get(&format!("/api/v1/entries?path={path}")).await,
            404,
            "not_found",
        )
        .await;
    }
    expect_error(
        u.get(&format!(
            "/api/v1/files/{}/content",
            a["id"].as_str().unwrap()
        ))
        .await,
        404,
        "not_found",
    )
    .await;
    let root: Value = u
        .get("/api/v1/folders/root/children")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(root["entries"].as_array().unwrap().len(), 1);
    assert_eq!(root["entries"][0]["id"], keep["id"]);
    // The name is free again.
    let again = u.put_file("/d/sub/a.txt", "new").await;
    assert_ne!(again["id"], a["id"]);
    assert_eq!(again["version"], 1);
    let me: Value = u.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["usage_bytes"], 4);
    // A file id is not a folder id, and the other way round.
    expect_error(
        u.delete(&format!("/api/v1/folders/{}", keep["id"].as_str().unwrap()))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn another_users_ids_are_404() {
    let srv = TestServer::start().await;
    let alice = srv.user().await;
    let bob = srv.user().await;
    let f = alice.put_file("/secret/a.txt", "top secret").await;
    let folder: Value = alice
        .get("/api/v1/entries?path=/secret")
        .await
        .json()
        .await
        .unwrap();
    let (fid, did) = (f["id"].as_str().unwrap(), folder["id"].as_str().unwrap());
    expect_error(
        bob.get(&format!("/api/v1/files/{fid}")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.get(&format!("/api/v1/files/{fid}/content")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.delete(&format!("/api/v1/files/{fid}")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.get(&format!("/api/v1/folders/{did}/children")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.delete(&format!("/api/v1/folders/{did}")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        bob.get("/api/v1/entries?path=/secret/a.txt").await,
        404,
        "not_found",
    )
    .await;
    let r = bob
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("parent_id", did), ("name", "x")])
        .body("x")
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not_found").await;
    // Bob's own tree is separate: the same path is his to take.
    assert_eq!(bob.upload("/secret/a.txt", "mine").await.status(), 201);
    assert_eq!(alice.download(fid).await, b"top secret");
}
