//! Abuse a public server must withstand, over HTTP: registration floods, paths without
//! bounds, invisible characters in names, share-link download limits dodged with `Range`,
//! and served content that a browser could run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer, User};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

/// A client whose connections come from `ip` (any 127.x address reaches the server).
fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(Some(ip.parse().unwrap()))
        .build()
        .unwrap()
}

async fn register(client: &Client, srv: &TestServer, email: &str) -> Response {
    client
        .post(srv.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
}

async fn root_entries(u: &User) -> Vec<Value> {
    let body: Value = u
        .get("/api/v1/folders/root/children")
        .await
        .json()
        .await
        .unwrap();
    body["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let srv = TestServer::start().await;
    let flood = client_from("127.0.0.3");
    let mut limited = None;
    for i in 0..40 {
        let r = register(&flood, &srv, &format!("bot{i}@example.com")).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((i, r));
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED, "registration {i}");
    }
    let (n, r) = limited.expect("refused within 40 registrations");
    assert!(n >= 5, "a household can still sign up a few people ({n})");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    expect_error(r, 429, "rate_limited").await;
    // The refused account was not made; someone at another address is not affected.
    let other = client_from("127.0.0.4");
    let r = register(&other, &srv, &format!("bot{n}@example.com")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// `/a/a/…/a` with `n` names.
fn deep(n: usize) -> String {
    "/a".repeat(n)
}

#[tokio::test]
async fn paths_past_256_levels_or_4096_bytes_are_refused_and_create_nothing() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    for path in [
        format!("{}/f.txt", deep(6000)),
        format!("{}/f.txt", deep(256)),
        format!("/{}", vec!["x".repeat(200); 21].join("/")),
    ] {
        let r = u.upload(&path, "x").await;
        expect_error(r, 400, "invalid_request").await;
        let r = u
            .get(&format!("/api/v1/entries?path={}", urlencode(&path)))
            .await;
        expect_error(r, 400, "invalid_request").await;
    }
    assert!(root_entries(&u).await.is_empty(), "nothing was created");

    // 256 levels is fine: 255 folders and a file.
    u.put_file(&format!("{}/f.txt", deep(255)), "deep").await;
    // Going deeper one folder at a time by id stops at the same bound.
    let r = u.get(&format!("/api/v1/entries?path={}", deep(255))).await;
    let last: Value = r.json().await.unwrap();
    let at_256 = u.mkdir(last["id"].as_str(), "b").await;
    let id = at_256["id"].as_str().unwrap();
    let r = u
        .post("/api/v1/folders", json!({"parent_id": id, "name": "c"}))
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("parent_id", id), ("name", "g.txt")])
        .body("too deep")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
    let children: Value = u
        .get(&format!("/api/v1/folders/{id}/children"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(children["entries"], json!([]));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn invisible_format_characters_in_names_are_refused() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    // Right-to-left override (shows "invoice_fdp.exe" as "invoice_exe.pdf"), zero-width
    // space, zero-width joiner, byte order mark.
    for name in [
        "invoice_\u{202E}fdp.exe",
        "report\u{200B}.txt",
        "a\u{200D}b",
        "\u{FEFF}notes",
    ] {
        let r = u
            .post("/api/v1/folders", json!({"parent_id": null, "name": name}))
            .await;
        expect_error(r, 400, "invalid_request").await;
        let r = u.upload(&format!("/{name}"), "x").await;
        expect_error(r, 400, "invalid_request").await;
        let r = u.upload(&format!("/ok/{name}/f.txt"), "x").await;
        expect_error(r, 400, "invalid_request").await;
    }
    assert!(root_entries(&u).await.is_empty(), "nothing was created");
    // Visible non-ASCII names are fine.
    u.put_file("/日本語 ünïcødé 😀.txt", "ok").await;
}

async fn share(u: &User, file_id: &Value, max: Option<u64>) -> (String, String) {
    let r = u
        .post(
            "/api/v1/shares",
            json!({"file_id": file_id, "max_downloads": max}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    (
        s["id"].as_str().unwrap().to_string(),
        format!("/s/{}", s["token"].as_str().unwrap()),
    )
}

async fn count(u: &User, id: &str) -> u64 {
    let body: Value = u.get("/api/v1/shares").await.json().await.unwrap();
    body["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()["download_count"]
        .as_u64()
        .unwrap()
}

async fn ranged(srv: &TestServer, path: &str, range: &str) -> Response {
    srv.req(Method::GET, path)
        .header("range", range)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ranges_do_not_get_around_a_download_limit() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let data = b"0123456789";
    let file = u.put_file("/limited.txt", &data[..]).await;
    let (id, path) = share(&u, &file["id"], Some(3)).await;

    // Every GET of a limited link counts, whatever part it serves.
    let r = ranged(&srv, &path, "bytes=1-").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"123456789");
    assert_eq!(count(&u, &id).await, 1);
    let r = ranged(&srv, &path, "bytes=-10").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), data);
    assert_eq!(count(&u, &id).await, 2);
    let r = ranged(&srv, &path, "bytes=5-6").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(count(&u, &id).await, 3);
    for range in ["bytes=1-", "bytes=-10", "bytes=0-"] {
        let r = ranged(&srv, &path, range).await;
        expect_error(r, 410, "gone").await;
    }
    let r = srv.req(Method::GET, &path).send().await.unwrap();
    expect_error(r, 410, "gone").await;
    // A HEAD serves no bytes and takes nothing; an unsatisfiable range is refused first.
    assert_eq!(count(&u, &id).await, 3);

    // Without a limit, a GET counts when it serves byte 0, judged against the real size.
    let (id, path) = share(&u, &file["id"], None).await;
    assert_eq!(ranged(&srv, &path, "bytes=-100").await.status(), 206);
    assert_eq!(count(&u, &id).await, 1, "a suffix range covering the file");
    assert_eq!(ranged(&srv, &path, "bytes=1-").await.status(), 206);
    assert_eq!(count(&u, &id).await, 1, "a resumed fetch");
    assert_eq!(
        srv.req(Method::HEAD, &path).send().await.unwrap().status(),
        200
    );
    assert_eq!(count(&u, &id).await, 1);
}

#[tokio::test]
async fn limited_link_with_unsatisfiable_range_takes_no_download() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/small.txt", "abc").await;
    let (id, path) = share(&u, &file["id"], Some(1)).await;
    let r = ranged(&srv, &path, "bytes=10-").await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(count(&u, &id).await, 0);
    let r = srv.req(Method::GET, &path).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"abc");
}

fn assert_isolated(r: &Response, what: &str) {
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        h("content-security-policy"),
        "default-src 'none'; sandbox",
        "{what}"
    );
    assert_eq!(h("cross-origin-resource-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn served_content_cannot_run_or_be_embedded() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let html = "<script>alert(document.cookie)</script>";
    let r = u
        .req(Method::PUT, "/api/v1/files/content")
        .query(&[("path", "/x.html")])
        .header("content-type", "text/html")
        .body(html)
        .send()
        .await
        .unwrap();
    let file: Value = r.json().await.unwrap();
    let id = file["id"].as_str().unwrap();
    let content = format!("/api/v1/files/{id}/content");
    let r = u.get(&content).await;
    assert_eq!(r.status(), 200);
    assert_isolated(&r, "owner GET");
    let r = u
        .req(Method::GET, &content)
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_isolated(&r, "owner ranged GET");
    let r = u.req(Method::HEAD, &content).send().await.unwrap();
    assert_isolated(&r, "owner HEAD");

    let (_, path) = share(&u, &file["id"], None).await;
    for method in [Method::GET, Method::HEAD] {
        let r = srv.req(method.clone(), &path).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_isolated(&r, &format!("public {method}"));
    }
    let r = srv
        .req(Method::GET, "/s/unknown-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_isolated(&r, "public error");
}
