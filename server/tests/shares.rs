//! API.md's "Share links" over HTTP: creating, listing and revoking links, and the public
//! `GET`/`HEAD /s/{token}` download with its expiry, download limit (also under concurrent
//! requests), rate limit on guessing, and silence about the owner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{content_hash, expect_error, TestServer, User};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Helpers

/// Creates a link, expecting 201; returns the reply.
async fn create_share(u: &User, body: Value) -> Value {
    let r = u.post("/api/v1/shares", body.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED, "create share {body}");
    r.json().await.expect("share json")
}

/// The public path of a link created just now.
fn public_path(share: &Value) -> String {
    format!("/s/{}", share["token"].as_str().expect("token"))
}

async fn list_shares(u: &User) -> Vec<Value> {
    let r = u.get("/api/v1/shares").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("list json");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "only shares: {body}"
    );
    body["shares"].as_array().expect("shares array").clone()
}

/// The listed link with this id.
async fn listed(u: &User, id: &str) -> Value {
    list_shares(u)
        .await
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("share {id} is listed"))
}

async fn public(srv: &TestServer, method: Method, path: &str) -> Response {
    srv.req(method, path).send().await.expect("public request")
}

async fn public_range(srv: &TestServer, path: &str, range: &str) -> Response {
    srv.req(Method::GET, path)
        .header("range", range)
        .send()
        .await
        .expect("range request")
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("header {name} is set"))
        .to_string()
}

/// Every header name and value, as one text to search.
fn all_headers(r: &Response) -> String {
    r.headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

/// The headers a public response always carries, error or not.
fn assert_public_headers(r: &Response) {
    assert_eq!(
        header(r, "referrer-policy"),
        "no-referrer",
        "{}",
        all_headers(r)
    );
    assert_eq!(header(r, "cache-control"), "no-store", "{}", all_headers(r));
}

/// A public error: the status, API.md's error shape, the public headers, and none of
/// `secrets` (owner's e-mail and id, file id and name) anywhere in the headers or body.
async fn expect_public_error(r: Response, status: u16, code: &str, secrets: &[&str]) {
    assert_eq!(r.status().as_u16(), status, "status");
    assert_public_headers(&r);
    let headers = all_headers(&r);
    let ct = header(&r, "content-type");
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let text = r.text().await.expect("error body");
    for s in secrets {
        assert!(!headers.contains(s), "{s:?} leaks in headers:\n{headers}");
        assert!(!text.contains(s), "{s:?} leaks in body: {text}");
    }
    let body: Value = serde_json::from_str(&text).expect("error json");
    common::check_error_body(&body, code);
    assert_eq!(
        body["error"].as_object().map(|o| o.len()),
        Some(2),
        "{body}"
    );
}

/// A whole public download: 200, the bytes, and the download headers.
async fn expect_download(r: Response, data: &[u8], name: &str) {
    assert_eq!(r.status(), StatusCode::OK, "download");
    assert_public_headers(&r);
    let disposition = header(&r, "content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(name), "{disposition} names {name}");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "etag").trim_matches('"'), content_hash(data));
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    let body = r.bytes().await.expect("bytes");
    assert_eq!(&body[..], data);
}

fn secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const LISTED_FIELDS: &[&str] = &[
    "id",
    "file_id",
    "expires_at",
    "max_downloads",
    "download_count",
    "disabled",
    "created_at",
];

/// Every file in `dir`, recursively, as bytes.
fn all_files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Create, list, revoke

#[tokio::test]
async fn create_replies_with_every_field_and_a_strong_url_safe_token() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/docs/report.txt", "quarterly numbers").await;
    let file_id = file["id"].as_str().expect("file id");

    let before = Utc::now() - chrono::Duration::seconds(2);
    let s = create_share(&u, json!({"file_id": file_id})).await;
    let after = Utc::now() + chrono::Duration::seconds(2);
    let mut fields = LISTED_FIELDS.to_vec();
    fields.extend(["token", "url"]);
    assert_eq!(keys(&s), set(&fields), "{s}");
    uuid::Uuid::parse_str(s["id"].as_str().expect("id")).expect("id is a UUID");
    assert_eq!(s["file_id"], file_id);
    assert_eq!(s["expires_at"], Value::Null);
    assert_eq!(s["max_downloads"], Value::Null);
    assert_eq!(s["download_count"], 0);
    assert_eq!(s["disabled"], false);
    let created = s["created_at"].as_str().expect("created_at");
    assert!(created.ends_with('Z'), "UTC: {created}");
    let created: DateTime<Utc> = created.parse().expect("RFC 3339");
    assert!(before <= created && created <= after, "{created}");

    let token = s["token"].as_str().expect("token");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {token}"
    );
    let bits_per_char = if token.bytes().all(|b| b.is_ascii_hexdigit()) {
        4
    } else {
        6
    };
    assert!(
        token.len() * bits_per_char >= 128,
        "at least 128 bits: {token}"
    );
    assert_eq!(s["url"], format!("{}/s/{token}", srv.base));

    // Each link has its own token, and the token is stored only as a hash.
    let s2 = create_share(&u, json!({"file_id": file_id})).await;
    assert_ne!(s2["token"], s["token"]);
    assert_ne!(s2["id"], s["id"]);
    let mut files = Vec::new();
    all_files(srv.dir.path(), &mut files);
    for (path, bytes) in &files {
        for t in [token, s2["token"].as_str().expect("token")] {
            assert!(
                !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                "the token is stored in plain text in {}",
                path.display()
            );
        }
    }

    // Expiry and limit come back as given.
    let at = secs(Utc::now() + chrono::Duration::days(7));
    let s3 = create_share(
        &u,
        json!({"file_id": file_id, "expires_at": at, "max_downloads": 5}),
    )
    .await;
    assert_eq!(s3["expires_at"], at.as_str());
    assert_eq!(s3["max_downloads"], 5);
    assert_eq!(s3["download_count"], 0);

    // The link works at once.
    expect_download(
        public(&srv, Method::GET, &public_path(&s)).await,
        b"quarterly numbers",
        "report.txt",
    )
    .await;
}

#[tokio::test]
async fn url_is_built_from_public_url() {
    let srv =
        TestServer::start_with(|a| a.public_url = Some("https://files.example.com/".into())).await;
    let u = srv.user().await;
    let file = u.put_file("/a.txt", "x").await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let token = s["token"].as_str().expect("token");
    assert_eq!(s["url"], format!("https://files.example.com/s/{token}"));

    let srv =
        TestServer::start_with(|a| a.public_url = Some("https://example.org/dbx".into())).await;
    let u = srv.user().await;
    let file = u.put_file("/a.txt", "x").await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let token = s["token"].as_str().expect("token");
    assert_eq!(s["url"], format!("https://example.org/dbx/s/{token}"));
}

#[tokio::test]
async fn list_shows_own_links_without_token_or_url() {
    let srv = TestServer::start().await;
    let (alice, bob) = (srv.user().await, srv.user().await);
    assert!(list_shares(&alice).await.is_empty());

    let f1 = alice.put_file("/one.txt", "1").await;
    let f2 = alice.put_file("/two.txt", "2").await;
    let at = secs(Utc::now() + chrono::Duration::hours(1));
    let s1 = create_share(&alice, json!({"file_id": f1["id"]})).await;
    let s2 = create_share(
        &alice,
        json!({"file_id": f2["id"], "expires_at": at, "max_downloads": 2}),
    )
    .await;
    let bf = bob.put_file("/bob.txt", "b").await;
    let bs = create_share(&bob, json!({"file_id": bf["id"]})).await;

    let list = list_shares(&alice).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for created in [&s1, &s2] {
        let l = list
            .iter()
            .find(|l| l["id"] == created["id"])
            .unwrap_or_else(|| panic!("{created} is listed"));
        assert_eq!(keys(l), set(LISTED_FIELDS), "{l}");
        for f in LISTED_FIELDS {
            assert_eq!(l[*f], created[*f], "field {f}");
        }
    }
    let bob_list = list_shares(&bob).await;
    assert_eq!(bob_list.len(), 1);
    assert_eq!(bob_list[0]["id"], bs["id"]);
    assert!(!list.iter().any(|l| l["id"] == bs["id"]));

    let r = srv
        .req(Method::GET, "/api/v1/shares")
        .send()
        .await
        .expect("GET");
    expect_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn revoke_disables_the_link_at_once() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/r.txt", "revoke me").await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let id = s["id"].as_str().expect("id");
    let path = public_path(&s);
    assert_eq!(
        public(&srv, Method::GET, &path).await.status(),
        StatusCode::OK
    );

    let r = u.delete(&format!("/api/v1/shares/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.expect("body").is_empty());
    let secrets = [
        u.email.as_str(),
        u.id.as_str(),
        file["id"].as_str().expect("id"),
        "r.txt",
    ];
    expect_public_error(
        public(&srv, Method::GET, &path).await,
        404,
        "not_found",
        &secrets,
    )
    .await;
    let r = public(&srv, Method::HEAD, &path).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let l = listed(&u, id).await;
    assert_eq!(l["disabled"], true);
    assert_eq!(l["download_count"], 1);

    // The file itself is untouched.
    assert_eq!(
        u.download(file["id"].as_str().expect("id")).await,
        b"revoke me"
    );

    // Unknown ids are 404.
    let r = u
        .delete(&format!("/api/v1/shares/{}", uuid::Uuid::now_v7()))
        .await;
    expect_error(r, 404, "not_found").await;
    let r = u.delete("/api/v1/shares/not-an-id").await;
    expect_error(r, 404, "not_found").await;
}

#[tokio::test]
async fn another_user_cannot_see_or_revoke_my_link() {
    let srv = TestServer::start().await;
    let (alice, mallory) = (srv.user().await, srv.user().await);
    let file = alice.put_file("/mine.txt", "mine").await;
    let s = create_share(&alice, json!({"file_id": file["id"]})).await;
    let id = s["id"].as_str().expect("id");

    assert!(list_shares(&mallory).await.is_empty());
    let r = mallory.delete(&format!("/api/v1/shares/{id}")).await;
    expect_error(r, 404, "not_found").await;

    // Still alive and not disabled.
    assert_eq!(listed(&alice, id).await["disabled"], false);
    expect_download(
        public(&srv, Method::GET, &public_path(&s)).await,
        b"mine",
        "mine.txt",
    )
    .await;

    // Nor can the other user share my file.
    let r = mallory
        .post("/api/v1/shares", json!({"file_id": file["id"]}))
        .await;
    expect_error(r, 404, "not_found").await;
    assert!(list_shares(&mallory).await.is_empty());
}

#[tokio::test]
async fn bad_create_requests_are_refused_and_change_nothing() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/f.txt", "data").await;
    let folder = u.mkdir(None, "dir").await;
    let fid = file["id"].as_str().expect("id");

    let unknown = uuid::Uuid::now_v7().to_string();
    let r = u.post("/api/v1/shares", json!({"file_id": unknown})).await;
    expect_error(r, 404, "not_found").await;
    let r = u
        .post("/api/v1/shares", json!({"file_id": "nonsense"}))
        .await;
    expect_error(r, 404, "not_found").await;
    let r = u
        .post("/api/v1/shares", json!({"file_id": folder["id"]}))
        .await;
    expect_error(r, 404, "not_found").await;

    let r = u
        .post(
            "/api/v1/shares",
            json!({"file_id": fid, "max_downloads": 0}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = u
        .post(
            "/api/v1/shares",
            json!({"file_id": fid, "max_downloads": -1}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let past = secs(Utc::now() - chrono::Duration::seconds(30));
    let r = u
        .post(
            "/api/v1/shares",
            json!({"file_id": fid, "expires_at": past}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = u
        .post(
            "/api/v1/shares",
            json!({"file_id": fid, "expires_at": "tomorrow"}),
        )
        .await;
    expect_error(r, 400, "invalid_request").await;
    let r = u.post("/api/v1/shares", json!({})).await;
    expect_error(r, 400, "invalid_request").await;

    let r = u
        .req(Method::POST, "/api/v1/shares")
        .header("content-type", "application/json")
        .body(format!("{{\"file_id\": \"{fid}\""))
        .send()
        .await
        .expect("POST");
    expect_error(r, 400, "invalid_request").await;

    // A deleted file cannot be shared.
    let gone = u.put_file("/gone.txt", "bye").await;
    let r = u
        .delete(&format!(
            "/api/v1/files/{}",
            gone["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = u
        .post("/api/v1/shares", json!({"file_id": gone["id"]}))
        .await;
    expect_error(r, 404, "not_found").await;

    assert!(list_shares(&u).await.is_empty(), "nothing was created");

    let r = srv
        .req(Method::POST, "/api/v1/shares")
        .json(&json!({"file_id": fid}))
        .send()
        .await
        .expect("POST");
    expect_error(r, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------
// The public download

#[tokio::test]
async fn public_get_and_head_serve_the_file_as_a_download() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let data = b"0123456789abcdefghij";
    let file = u.put_file("/pics/holiday notes.txt", &data[..]).await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let path = public_path(&s);

    let r = public(&srv, Method::GET, &path).await;
    let headers = all_headers(&r);
    for secret in [u.email.as_str(), u.id.as_str()] {
        assert!(!headers.contains(secret), "{secret} leaks:\n{headers}");
    }
    expect_download(r, data, "holiday").await;

    let r = public(&srv, Method::HEAD, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_public_headers(&r);
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert_eq!(header(&r, "etag").trim_matches('"'), content_hash(data));
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    assert!(
        r.bytes().await.expect("body").is_empty(),
        "HEAD has no body"
    );

    let r = public_range(&srv, &path, "bytes=2-5").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_public_headers(&r);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 2-5/{}", data.len())
    );
    assert_eq!(header(&r, "etag").trim_matches('"'), content_hash(data));
    assert_eq!(&r.bytes().await.expect("bytes")[..], b"2345");

    let r = public_range(&srv, &path, "bytes=-3").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 17-19/{}", data.len())
    );
    assert_eq!(&r.bytes().await.expect("bytes")[..], b"hij");

    let r = public_range(&srv, &path, "bytes=100-").await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_public_headers(&r);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes */{}", data.len())
    );
}

#[tokio::test]
async fn unknown_tokens_are_404_and_say_nothing() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/secret-plans.txt", "x").await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let token = s["token"].as_str().expect("token");
    let secrets = [
        u.email.as_str(),
        u.id.as_str(),
        file["id"].as_str().expect("id"),
        "secret-plans",
    ];

    // A token one character off, a short one and a long one.
    let last = token.chars().last().expect("non-empty");
    let off_by_one = format!(
        "{}{}",
        &token[..token.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    for t in [off_by_one.as_str(), "abc", &"Z".repeat(200)] {
        let r = public(&srv, Method::GET, &format!("/s/{t}")).await;
        expect_public_error(r, 404, "not_found", &secrets).await;
        let r = public(&srv, Method::HEAD, &format!("/s/{t}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // The share's id is not its token.
    let r = public(
        &srv,
        Method::GET,
        &format!("/s/{}", s["id"].as_str().expect("id")),
    )
    .await;
    expect_public_error(r, 404, "not_found", &secrets).await;
}

#[tokio::test]
async fn expired_link_is_410() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/soon.txt", "fleeting").await;
    let expires = Utc::now() + chrono::Duration::seconds(3);
    let s = create_share(
        &u,
        json!({"file_id": file["id"], "expires_at": secs(expires)}),
    )
    .await;
    let path = public_path(&s);
    let expires: DateTime<Utc> = s["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("time");

    expect_download(
        public(&srv, Method::GET, &path).await,
        b"fleeting",
        "soon.txt",
    )
    .await;

    let wait = (expires - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(500);
    tokio::time::sleep(wait).await;
    let secrets = [
        u.email.as_str(),
        u.id.as_str(),
        file["id"].as_str().expect("id"),
        "soon.txt",
    ];
    expect_public_error(
        public(&srv, Method::GET, &path).await,
        410,
        "gone",
        &secrets,
    )
    .await;
    assert_eq!(
        public(&srv, Method::HEAD, &path).await.status(),
        StatusCode::GONE
    );
    let r = public_range(&srv, &path, "bytes=3-").await;
    assert_eq!(r.status(), StatusCode::GONE);
}

#[tokio::test]
async fn exhausted_link_is_410_and_head_does_not_count() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let data = b"limited edition";
    let file = u.put_file("/l.txt", &data[..]).await;
    let s = create_share(&u, json!({"file_id": file["id"], "max_downloads": 3})).await;
    let id = s["id"].as_str().expect("id");
    let path = public_path(&s);

    // A HEAD serves nothing and takes nothing.
    assert_eq!(
        public(&srv, Method::HEAD, &path).await.status(),
        StatusCode::OK
    );
    assert_eq!(listed(&u, id).await["download_count"], 0);
    // On a limited link even a resumed (mid-file) range takes a download: otherwise
    // `bytes=1-` would fetch the file again and again for free.
    let r = public_range(&srv, &path, "bytes=8-").await;
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(listed(&u, id).await["download_count"], 1);

    expect_download(public(&srv, Method::GET, &path).await, data, "l.txt").await;
    assert_eq!(listed(&u, id).await["download_count"], 2);
    expect_download(public(&srv, Method::GET, &path).await, data, "l.txt").await;
    assert_eq!(listed(&u, id).await["download_count"], 3);

    let secrets = [
        u.email.as_str(),
        u.id.as_str(),
        file["id"].as_str().expect("id"),
        "l.txt",
    ];
    expect_public_error(
        public(&srv, Method::GET, &path).await,
        410,
        "gone",
        &secrets,
    )
    .await;
    assert_eq!(
        public(&srv, Method::HEAD, &path).await.status(),
        StatusCode::GONE
    );
    let l = listed(&u, id).await;
    assert_eq!(l["download_count"], 3, "refusals do not count");
    assert_eq!(l["disabled"], false);
}

#[tokio::test]
async fn download_count_counts_whole_downloads() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/c.txt", "count me").await;
    let s = create_share(&u, json!({"file_id": file["id"]})).await;
    let id = s["id"].as_str().expect("id");
    let path = public_path(&s);
    for n in 1..=4 {
        expect_download(public(&srv, Method::GET, &path).await, b"count me", "c.txt").await;
        assert_eq!(listed(&u, id).await["download_count"], n);
    }
    assert_eq!(
        public(&srv, Method::HEAD, &path).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        public_range(&srv, &path, "bytes=2-3").await.status(),
        StatusCode::PARTIAL_CONTENT
    );
    assert_eq!(listed(&u, id).await["download_count"], 4);
    // The owner's own downloads are not share downloads.
    u.download(file["id"].as_str().expect("id")).await;
    assert_eq!(listed(&u, id).await["download_count"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_downloads_holds_under_concurrent_requests() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let file = u.put_file("/popular.bin", data.clone()).await;
    let s = create_share(&u, json!({"file_id": file["id"], "max_downloads": 3})).await;
    let url = srv.url(&public_path(&s));

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            // A client each, so that every request has its own connection.
            let (client, url) = (reqwest::Client::new(), url.clone());
            tokio::spawn(async move {
                let r = client.get(&url).send().await.expect("GET");
                let status = r.status();
                let body = r.bytes().await.expect("body");
                (status, body)
            })
        })
        .collect();
    let (mut ok, mut gone) = (0, 0);
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            StatusCode::OK => {
                assert_eq!(body.len(), data.len());
                assert!(body[..] == data[..], "the whole file");
                ok += 1;
            }
            StatusCode::GONE => {
                let v: Value = serde_json::from_slice(&body).expect("error json");
                assert_eq!(v["error"]["code"], "gone");
                gone += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, gone), (3, 17));
    assert_eq!(
        listed(&u, s["id"].as_str().expect("id")).await["download_count"],
        3
    );
    assert_eq!(
        public(&srv, Method::GET, &public_path(&s)).await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn link_to_a_deleted_file_is_404() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/doomed.txt", "x").await;
    let fid = file["id"].as_str().expect("id");
    let s = create_share(&u, json!({"file_id": fid})).await;
    let nested = u.put_file("/box/inner.txt", "y").await;
    let s2 = create_share(&u, json!({"file_id": nested["id"]})).await;
    assert_eq!(
        public(&srv, Method::GET, &public_path(&s)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        public(&srv, Method::GET, &public_path(&s2)).await.status(),
        StatusCode::OK
    );

    let r = u.delete(&format!("/api/v1/files/{fid}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let secrets = [u.email.as_str(), u.id.as_str(), fid, "doomed"];
    expect_public_error(
        public(&srv, Method::GET, &public_path(&s)).await,
        404,
        "not_found",
        &secrets,
    )
    .await;
    assert_eq!(
        public(&srv, Method::HEAD, &public_path(&s)).await.status(),
        StatusCode::NOT_FOUND
    );

    // A file inside a deleted folder is deleted too.
    let folder = nested["parent_id"].as_str().expect("parent");
    let r = u.delete(&format!("/api/v1/folders/{folder}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let secrets = [u.email.as_str(), u.id.as_str(), "inner.txt"];
    expect_public_error(
        public(&srv, Method::GET, &public_path(&s2)).await,
        404,
        "not_found",
        &secrets,
    )
    .await;

    // A new file at the same path is not the shared file.
    u.put_file("/doomed.txt", "reborn").await;
    assert_eq!(
        public(&srv, Method::GET, &public_path(&s)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn link_serves_the_current_version() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let v1 = u.put_file("/notes.md", "first draft").await;
    let s = create_share(&u, json!({"file_id": v1["id"]})).await;
    let path = public_path(&s);
    expect_download(
        public(&srv, Method::GET, &path).await,
        b"first draft",
        "notes.md",
    )
    .await;

    let v2 = u.put_file("/notes.md", "second, better draft").await;
    assert_eq!(v2["id"], v1["id"]);
    assert_eq!(v2["version"], 2);
    expect_download(
        public(&srv, Method::GET, &path).await,
        b"second, better draft",
        "notes.md",
    )
    .await;
    let r = public(&srv, Method::HEAD, &path).await;
    assert_eq!(
        header(&r, "etag").trim_matches('"'),
        content_hash(b"second, better draft")
    );
}

#[tokio::test]
async fn guessing_tokens_is_rate_limited() {
    let srv = TestServer::start().await;
    let mut refused = None;
    for i in 0..1000 {
        let r = public(&srv, Method::GET, &format!("/s/guess{i:04}")).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, r));
            break;
        }
        expect_public_error(r, 404, "not_found", &[]).await;
    }
    let (attempts, r) = refused.expect("429 within 1000 rapid guesses");
    assert!(
        attempts >= 100,
        "a burst of 100 is allowed, refused after {attempts}"
    );
    let retry: u64 = header(&r, "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    expect_public_error(r, 429, "rate_limited", &[]).await;

    // Waiting as told lets the address in again.
    tokio::time::sleep(Duration::from_secs(retry.min(5))).await;
    let r = public(&srv, Method::GET, "/s/after-the-wait").await;
    expect_public_error(r, 404, "not_found", &[]).await;
}

#[tokio::test]
async fn a_huge_max_downloads_is_refused_or_honoured() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/big-limit.txt", "plenty").await;
    for max in [i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        let r = u
            .post(
                "/api/v1/shares",
                json!({"file_id": file["id"], "max_downloads": max}),
            )
            .await;
        if r.status() == StatusCode::CREATED {
            let s: Value = r.json().await.expect("share json");
            assert_eq!(s["max_downloads"], max);
            let r = public(&srv, Method::GET, &public_path(&s)).await;
            expect_download(r, b"plenty", "big-limit.txt").await;
            assert_eq!(
                listed(&u, s["id"].as_str().expect("id")).await["download_count"],
                1
            );
        } else {
            expect_error(r, 400, "invalid_request").await;
        }
    }
}

#[tokio::test]
async fn an_empty_file_is_shared_too() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let file = u.put_file("/empty.txt", "").await;
    let s = create_share(&u, json!({"file_id": file["id"], "max_downloads": 1})).await;
    expect_download(
        public(&srv, Method::GET, &public_path(&s)).await,
        b"",
        "empty.txt",
    )
    .await;
    assert_eq!(
        listed(&u, s["id"].as_str().expect("id")).await["download_count"],
        1
    );
    assert_eq!(
        public(&srv, Method::GET, &public_path(&s)).await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn unknown_revoked_and_deleted_look_the_same() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let f1 = u.put_file("/one.txt", "1").await;
    let f2 = u.put_file("/two.txt", "2").await;
    let revoked = create_share(&u, json!({"file_id": f1["id"]})).await;
    let deleted = create_share(&u, json!({"file_id": f2["id"]})).await;
    let r = u
        .delete(&format!(
            "/api/v1/shares/{}",
            revoked["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = u
        .delete(&format!("/api/v1/files/{}", f2["id"].as_str().expect("id")))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let mut bodies = Vec::new();
    for path in [
        public_path(&revoked),
        public_path(&deleted),
        "/s/no-such-token".to_string(),
    ] {
        let r = public(&srv, Method::GET, &path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        bodies.push(r.text().await.expect("body"));
    }
    assert_eq!(bodies[0], bodies[2], "a revoked link looks unknown");
    assert_eq!(bodies[1], bodies[2], "a deleted file's link looks unknown");
}
