//! The share page: a browser opening `/s/{token}` gets an HTML page about the file (no
//! download used), its button and every other client get the bytes, and a dead link gets
//! an HTML page with the API's status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, User};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                       image/webp,*/*;q=0.8";

async fn share(u: &User, path: &str, data: &'static [u8], extra: Value) -> (Value, String) {
    let file = u.put_file(path, data).await;
    let mut body = json!({"file_id": file["id"]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = u.post("/api/v1/shares", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    let path = format!("/s/{}", s["token"].as_str().unwrap());
    (s, path)
}

async fn get(srv: &TestServer, path: &str, accept: Option<&str>) -> Response {
    let mut r = srv.req(Method::GET, path);
    if let Some(a) = accept {
        r = r.header("accept", a);
    }
    r.send().await.unwrap()
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn download_count(u: &User, id: &str) -> u64 {
    let list: Value = u.get("/api/v1/shares").await.json().await.unwrap();
    list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .and_then(|s| s["download_count"].as_u64())
        .unwrap()
}

#[tokio::test]
async fn a_browser_gets_a_page_that_uses_no_download() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let (s, path) = share(
        &u,
        "/docs/<b>report<i> & co.pdf",
        b"%PDF-1.4 twelve",
        json!({"max_downloads": 2, "expires_at": "2099-01-02T03:04:05Z"}),
    )
    .await;

    for _ in 0..3 {
        let r = get(&srv, &path, Some(BROWSER)).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        let csp = header(&r, "content-security-policy").to_string();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(header(&r, "cache-control"), "no-store");
        let html = r.text().await.unwrap();
        // The name is escaped, never markup; size, type, expiry and the button are there.
        assert!(
            html.contains("&lt;b&gt;report&lt;i&gt; &amp; co.pdf"),
            "{html}"
        );
        assert!(!html.contains("<b>report"), "{html}");
        assert!(html.contains("15 bytes"), "{html}");
        assert!(html.contains("application/pdf"), "{html}");
        assert!(html.contains("2099-01-02 03:04 UTC"), "{html}");
        assert!(html.contains("2 of 2"), "{html}");
        let token = s["token"].as_str().unwrap();
        assert!(html.contains(&format!("href=\"{token}?dl=1\"")), "{html}");
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "{html}"
        );
    }
    assert_eq!(download_count(&u, s["id"].as_str().unwrap()).await, 0);

    // The button's link serves the bytes to the browser and counts one download.
    let r = get(&srv, &format!("{path}?dl=1"), Some(BROWSER)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "content-disposition").starts_with("attachment"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.4 twelve");
    assert_eq!(download_count(&u, s["id"].as_str().unwrap()).await, 1);
}

#[tokio::test]
async fn tools_and_range_requests_get_the_bytes_as_before() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let (_, path) = share(&u, "/a.txt", b"0123456789", json!({})).await;
    for accept in [None, Some("*/*"), Some("application/octet-stream")] {
        let r = get(&srv, &path, accept).await;
        assert_eq!(r.status(), StatusCode::OK, "{accept:?}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), b"0123456789");
    }
    let r = srv
        .req(Method::GET, &path)
        .header("accept", BROWSER)
        .header("range", "bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"234");
}

#[tokio::test]
async fn a_dead_link_gets_a_page_with_the_apis_status() {
    let srv = TestServer::start().await;
    let u = srv.user().await;

    let r = get(
        &srv,
        "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        Some(BROWSER),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(r.text().await.unwrap().contains("This link does not work"));

    let (s, path) = share(&u, "/once.txt", b"x", json!({"max_downloads": 1})).await;
    assert_eq!(
        get(&srv, &format!("{path}?dl=1"), Some(BROWSER))
            .await
            .status(),
        StatusCode::OK
    );
    let r = get(&srv, &path, Some(BROWSER)).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("This link has expired"));

    let r = u
        .delete(&format!("/api/v1/shares/{}", s["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = get(&srv, &path, Some(BROWSER)).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A tool still gets the API's JSON error.
    let r = get(&srv, &path, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(header(&r, "content-type").starts_with("application/json"));
}
