//! API.md "Auth" over a real socket: register, login, refresh rotation, logout, /me,
//! throttling, and the error rows that apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn register_login_me_roundtrip() {
    let srv = TestServer::start().await;
    let r = srv
        .req(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": "  Ann@Example.COM ", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert!(uuid::Uuid::parse_str(body["user"]["id"].as_str().unwrap()).is_ok());
    assert!(body["user"]["created_at"].as_str().unwrap().ends_with('Z'));

    let r = srv
        .req(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "ANN@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let login: Value = r.json().await.unwrap();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 900);
    assert_eq!(login["user"]["email"], "ann@example.com");
    let token = login["access_token"].as_str().unwrap();

    let r = srv
        .req(Method::GET, "/api/v1/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["usage_bytes"], 0);
    assert_eq!(me["id"], body["user"]["id"]);
}

#[tokio::test]
async fn register_rejects_duplicates_and_bad_input() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let reg = |body: Value| {
        srv.req(Method::POST, "/api/v1/auth/register")
            .json(&body)
            .send()
    };
    let dup = reg(json!({"email": u.email.to_uppercase(), "password": "another password"}));
    expect_error(dup.await.unwrap(), 409, "conflict").await;
    let short = reg(json!({"email": "b@example.com", "password": "short"}));
    expect_error(short.await.unwrap(), 400, "invalid_request").await;
    let long = reg(json!({"email": "b@example.com", "password": "x".repeat(1025)}));
    expect_error(long.await.unwrap(), 400, "invalid_request").await;
    let bad_email = reg(json!({"email": "not-an-email", "password": "long enough"}));
    expect_error(bad_email.await.unwrap(), 400, "invalid_request").await;
    let missing = reg(json!({"email": "b@example.com"}));
    expect_error(missing.await.unwrap(), 400, "invalid_request").await;
    let r = srv
        .req(Method::POST, "/api/v1/auth/register")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let login = |email: &str, pw: &str| {
        srv.req(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": email, "password": pw}))
            .send()
    };
    let wrong: Value = {
        let r = login(&u.email, "wrong password").await.unwrap();
        assert_eq!(r.status(), 401);
        r.json().await.unwrap()
    };
    let unknown: Value = {
        let r = login("nobody@example.com", "wrong password").await.unwrap();
        assert_eq!(r.status(), 401);
        r.json().await.unwrap()
    };
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_with_retry_after() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let mut limited = None;
    for _ in 0..30 {
        let r = srv
            .req(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": u.email, "password": "guess guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let r = limited.expect("throttled within 30 attempts");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    expect_error(r, 429, "rate_limited").await;
    // An e-mail nobody registered is throttled the same way: the limit reveals nothing.
    let mut unknown_limited = false;
    for _ in 0..30 {
        let r = srv
            .req(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": "ghost@example.com", "password": "guess guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            unknown_limited = true;
            break;
        }
    }
    assert!(unknown_limited);
}

#[tokio::test]
async fn refresh_rotates_and_logout_revokes() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let refresh = |t: &str| {
        srv.req(Method::POST, "/api/v1/auth/refresh")
            .json(&json!({"refresh_token": t}))
            .send()
    };
    let r = refresh(&u.refresh).await.unwrap();
    assert_eq!(r.status(), 200);
    let next: Value = r.json().await.unwrap();
    let new_refresh = next["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(new_refresh, u.refresh);
    assert_eq!(next["user"]["id"], u.id.as_str());
    let r = srv
        .req(Method::GET, "/api/v1/me")
        .bearer_auth(next["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The old refresh token stopped working.
    expect_error(refresh(&u.refresh).await.unwrap(), 401, "unauthorized").await;

    let logout = |token: Option<&str>, refresh: &str| {
        let mut b = srv
            .req(Method::POST, "/api/v1/auth/logout")
            .json(&json!({"refresh_token": refresh}));
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        b.send()
    };
    // Logout is authenticated like every route but register, login and refresh.
    expect_error(
        logout(None, &new_refresh).await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    // Another user cannot end this session: the token still refreshes afterwards.
    let mallory = srv.user().await;
    let r = logout(Some(&mallory.token), &new_refresh).await.unwrap();
    assert_eq!(r.status(), 204);
    let r = refresh(&new_refresh).await.unwrap();
    assert_eq!(r.status(), 200);
    let last: Value = r.json().await.unwrap();
    let (access, last_refresh) = (
        last["access_token"].as_str().unwrap(),
        last["refresh_token"].as_str().unwrap(),
    );
    let r = logout(Some(access), last_refresh).await.unwrap();
    assert_eq!(r.status(), 204);
    expect_error(refresh(last_refresh).await.unwrap(), 401, "unauthorized").await;
    // Logging out twice is fine.
    assert_eq!(
        logout(Some(access), last_refresh).await.unwrap().status(),
        204
    );
    expect_error(refresh("made-up").await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test]
async fn tokens_are_required_checked_and_expire() {
    let srv = TestServer::start_with(|a| a.access_token_ttl = 1).await;
    let u = srv.user().await;
    let me = |t: Option<&str>| {
        let mut b = srv.req(Method::GET, "/api/v1/me");
        if let Some(t) = t {
            b = b.bearer_auth(t);
        }
        b.send()
    };
    expect_error(me(None).await.unwrap(), 401, "unauthorized").await;
    expect_error(me(Some("garbage")).await.unwrap(), 401, "unauthorized").await;
    // A value that is not ASCII is a malformed token too, not a malformed request.
    let raw = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap();
    let r = srv
        .req(Method::GET, "/api/v1/me")
        .header("authorization", raw);
    expect_error(r.send().await.unwrap(), 401, "unauthorized").await;
    let mut tampered = u.token.clone();
    tampered.pop();
    tampered.push(if u.token.ends_with('A') { 'B' } else { 'A' });
    expect_error(me(Some(&tampered)).await.unwrap(), 401, "unauthorized").await;
    assert_eq!(me(Some(&u.token)).await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    expect_error(me(Some(&u.token)).await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    expect_error(u.get("/api/v1/nope").await, 404, "not_found").await;
    expect_error(u.get("/nope").await, 404, "not_found").await;
    // Without a token too: a wrong path is a 404, not a 401.
    let r = srv.req(Method::GET, "/api/v1/nope").send().await.unwrap();
    expect_error(r, 404, "not_found").await;
    let r = u.req(Method::PATCH, "/api/v1/me").send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = srv.req(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn refresh_with(srv: &TestServer, token: &str) -> reqwest::Response {
    srv.req(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

async fn next_refresh(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_replayed_refresh_token_ends_the_session_after_the_grace() {
    // Past the grace: whoever presents a rotated token again (a thief, or the owner
    // after the thief) ends the session for both.
    let srv = TestServer::start_with(|a| a.refresh_reuse_grace = 0).await;
    let u = srv.user().await;
    let t2 = next_refresh(refresh_with(&srv, &u.refresh).await).await;
    expect_error(refresh_with(&srv, &u.refresh).await, 401, "unauthorized").await;
    expect_error(refresh_with(&srv, &t2).await, 401, "unauthorized").await;
    // A new login is a new session.
    let again = srv
        .req(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": u.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let fresh = next_refresh(again).await;
    next_refresh(refresh_with(&srv, &fresh).await).await;
}

#[tokio::test]
async fn within_the_grace_a_replay_is_refused_but_the_session_lives_on() {
    // The client's own race: two refreshes of one token at once. One wins; the other is
    // refused (the old token stops working) without ending the winner's session.
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let (a, b) = tokio::join!(
        refresh_with(&srv, &u.refresh),
        refresh_with(&srv, &u.refresh)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
    let winner = if a.status() == 200 { a } else { b };
    let t2 = next_refresh(winner).await;
    expect_error(refresh_with(&srv, &u.refresh).await, 401, "unauthorized").await;
    next_refresh(refresh_with(&srv, &t2).await).await;
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let srv = TestServer::start_with(|a| a.session_lifetime = 2).await;
    let u = srv.user().await;
    let t2 = next_refresh(refresh_with(&srv, &u.refresh).await).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    expect_error(refresh_with(&srv, &t2).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn closed_registration_refuses_sign_ups() {
    let srv =
        TestServer::start_with(|a| a.registration = dbx_server::auth::Registration::Closed).await;
    let r = srv
        .req(Method::POST, "/api/v1/auth/register")
        .json(&json!({"email": "new@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "forbidden").await;
    let r = srv
        .req(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "new@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let stranger = reqwest::Client::builder()
        .local_address(Some("127.0.0.9".parse().unwrap()))
        .build()
        .unwrap();
    let mut locked = false;
    for _ in 0..30 {
        let r = stranger
            .post(srv.url("/api/v1/auth/login"))
            .json(&json!({"email": u.email, "password": "guess guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            locked = true;
            break;
        }
    }
    assert!(locked, "the stranger is throttled");
    // The owner, from their own address, still gets in.
    let r = srv
        .req(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": u.email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
