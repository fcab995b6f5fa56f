//! Connection limits of a public server, over raw sockets: a slow request head, a stalled
//! body and an idle kept-alive connection are closed, a busy long-poll is not, and no more
//! than `--max-connections` are served at once. Also whose forwarding headers are
//! believed (`--trusted-proxies`) and IPv6 clients limited per /64.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(srv: &TestServer) -> TcpStream {
    TcpStream::connect(srv.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; returns what came and how long it took.
async fn until_closed(s: &mut TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + within).into(), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open after {within:?}"),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

async fn limited_server() -> TestServer {
    TestServer::start_with(|a| {
        a.header_read_timeout = 1;
        a.idle_timeout = 1;
    })
    .await
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let srv = limited_server().await;
    let mut s = connect(&srv).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, took) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let srv = limited_server().await;
    let mut s = connect(&srv).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (reply, _) = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off_and_changes_nothing() {
    let srv = limited_server().await;
    let u = srv.user().await;
    let mut s = connect(&srv).await;
    let head = format!(
        "PUT /api/v1/files/content?path=/stalled.bin HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100000\r\n\r\n",
        u.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&[7u8; 1000]).await.unwrap();
    let (_, took) = until_closed(&mut s, Duration::from_secs(6)).await;
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let r = u.get("/api/v1/entries?path=/stalled.bin").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_long_poll_outlives_the_idle_timeout() {
    let srv = limited_server().await;
    let u = srv.user().await;
    let start = Instant::now();
    let r = u.get("/api/v1/delta/wait?timeout=3").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, json!({"changes": false}));
    assert!(start.elapsed() >= Duration::from_millis(2900));
}

#[tokio::test]
async fn connections_past_the_cap_wait_their_turn() {
    let srv = TestServer::start_with(|a| a.max_connections = 2).await;
    let mut held = vec![connect(&srv).await, connect(&srv).await];
    // Both are being served (their requests are answered), and stay open.
    for s in held.iter_mut() {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    let mut third = connect(&srv).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read_exact(&mut buf)).await;
    assert!(early.is_err(), "a third connection was served at once");
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

async fn register_as(srv: &TestServer, forwarded_for: &str, n: usize) -> StatusCode {
    srv.client
        .post(srv.url("/api/v1/auth/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": format!("p{n}@example.com"), "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .status()
}

/// Registers from `forwarded_for` until refused; the number that got through.
async fn registrations_until_limited(srv: &TestServer, forwarded_for: &str, from: usize) -> usize {
    for n in 0..40 {
        match register_as(srv, forwarded_for, from + n).await {
            StatusCode::CREATED => {}
            StatusCode::TOO_MANY_REQUESTS => return n,
            other => panic!("registration {n}: {other}"),
        }
    }
    panic!("never limited")
}

#[tokio::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    // Untrusted: the header is ignored, so a new forged address per request gains nothing.
    let srv = TestServer::start().await;
    let mut refused = false;
    for n in 0..40 {
        if register_as(&srv, &format!("198.51.100.{n}"), n).await == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "forged X-Forwarded-For addresses got around the limit"
    );

    // Trusted: each forwarded client has its own budget; IPv6 ones per /64.
    let srv = TestServer::start_with(|a| {
        a.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let n = registrations_until_limited(&srv, "203.0.113.5", 0).await;
    assert_eq!(
        register_as(&srv, "203.0.113.6", 100).await,
        StatusCode::CREATED
    );
    let m = registrations_until_limited(&srv, "2001:db8:1:2::1", 200).await;
    assert_eq!(m, n);
    assert_eq!(
        register_as(&srv, "2001:db8:1:2:ffff::9", 300).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the same /64"
    );
    assert_eq!(
        register_as(&srv, "2001:db8:1:3::1", 301).await,
        StatusCode::CREATED
    );
}
