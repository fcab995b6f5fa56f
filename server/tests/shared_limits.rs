//! Rate limits across processes: two servers with the same `--redis-url` draw on one
//! budget, so a guesser spreading attempts over the processes behind a load balancer gets
//! no more tries than against one. Needs Redis at `DBX_TEST_REDIS_URL` (default
//! redis://127.0.0.1:6379); skipped without one, except under CI=true.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

fn redis_url() -> Option<String> {
    let url = std::env::var("DBX_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let reachable = std::net::TcpStream::connect(
        url.trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or_default(),
    )
    .is_ok();
    if reachable {
        Some(url)
    } else {
        assert!(!common::pg::in_ci(), "Redis at {url} is required under CI");
        eprintln!("skipped: no Redis at {url}");
        None
    }
}

async fn server(url: &str, prefix: &str) -> TestServer {
    let (url, prefix) = (url.to_string(), prefix.to_string());
    TestServer::start_with(move |a| {
        a.redis_url = Some(url);
        a.redis_key_prefix = prefix;
    })
    .await
}

#[tokio::test]
async fn two_processes_share_one_login_budget() {
    let Some(url) = redis_url() else {
        return;
    };
    // A prefix of this run's own, so that other runs' counters do not count.
    let prefix = format!("dbx-test-{}", uuid::Uuid::now_v7().simple());
    let (a, b) = (server(&url, &prefix).await, server(&url, &prefix).await);
    let mut refused_at = None;
    // The per-account limit is 10 at once: alternating servers, each sees only half.
    for i in 0..14 {
        let srv = if i % 2 == 0 { &a } else { &b };
        let r = srv
            .req(reqwest::Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": "victim@example.com", "password": "guess guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            refused_at = Some(i);
            break;
        }
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(refused_at, Some(10), "the 11th attempt overall is refused");
    // Another account is not affected.
    let r = b
        .req(reqwest::Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "other@example.com", "password": "guess guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
