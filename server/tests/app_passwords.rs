//! App passwords over HTTP: create (shown once), list (no secrets), revoke (at once), and
//! HTTP Basic on `/dav` with them: wrong credentials, throttling, other users.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expect_error, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn create_list_use_and_revoke() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let r = u
        .post("/api/v1/app-passwords", json!({"name": "  Laptop "}))
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Laptop");
    assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let secret = created["password"].as_str().unwrap().to_string();
    // At least 128 random bits: 22 or more base64 characters.
    assert!(secret.len() >= 22, "{secret}");
    let id = created["id"].as_str().unwrap().to_string();

    let list: Value = u.get("/api/v1/app-passwords").await.json().await.unwrap();
    let items = list["app_passwords"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["name"], "Laptop");
    assert!(
        items[0].get("password").is_none(),
        "never shown again: {list}"
    );
    assert!(!list.to_string().contains(&secret));

    let propfind = |password: String| {
        let client = srv.client.clone();
        let url = srv.url("/dav/");
        let email = u.email.clone();
        async move {
            client
                .request(Method::from_bytes(b"PROPFIND").unwrap(), url)
                .header("Depth", "0")
                .basic_auth(email, Some(password))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(propfind(secret.clone()).await.status(), 207);

    let r = u.delete(&format!("/api/v1/app-passwords/{id}")).await;
    assert_eq!(r.status(), 204);
    // Refused at once: every request is checked against the database.
    let r = propfind(secret.clone()).await;
    expect_error(r, 401, "unauthorized").await;
    let r = u.delete(&format!("/api/v1/app-passwords/{id}")).await;
    expect_error(r, 404, "not_found").await;
    let list: Value = u.get("/api/v1/app-passwords").await.json().await.unwrap();
    assert_eq!(list["app_passwords"], json!([]));
}

#[tokio::test]
async fn bad_input_and_other_users() {
    let srv = TestServer::start().await;
    let (a, b) = (srv.user().await, srv.user().await);
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "a\u{7}b"}),
        json!({}),
        json!({"name": 5}),
    ] {
        let r = a.post("/api/v1/app-passwords", bad.clone()).await;
        expect_error(r, 400, "invalid_request").await;
    }
    a.app_password("phone").await;
    let r = a
        .post("/api/v1/app-passwords", json!({"name": "PHONE"}))
        .await;
    expect_error(r, 409, "conflict").await;
    // Another user may use the same name, and sees only their own.
    b.app_password("phone").await;
    let list: Value = a.get("/api/v1/app-passwords").await.json().await.unwrap();
    let id = list["app_passwords"][0]["id"].as_str().unwrap().to_string();
    let theirs: Value = b.get("/api/v1/app-passwords").await.json().await.unwrap();
    assert_eq!(theirs["app_passwords"].as_array().unwrap().len(), 1);
    assert_ne!(theirs["app_passwords"][0]["id"], id.as_str());
    // Another user's id is a 404, and revokes nothing.
    let r = b.delete(&format!("/api/v1/app-passwords/{id}")).await;
    expect_error(r, 404, "not_found").await;
    let list: Value = a.get("/api/v1/app-passwords").await.json().await.unwrap();
    assert_eq!(list["app_passwords"].as_array().unwrap().len(), 1);
    // The management calls need the account's bearer token.
    let r = srv
        .req(Method::GET, "/api/v1/app-passwords")
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn basic_auth_on_dav() {
    let srv = TestServer::start().await;
    let (a, b) = (srv.user().await, srv.user().await);
    let dav = a.dav().await;
    let b_dav = b.dav().await;
    let get = |email: Option<&str>, password: &str| {
        let mut rb = srv.client.get(srv.url("/dav/"));
        if let Some(e) = email {
            rb = rb.basic_auth(e, Some(password));
        }
        rb.send()
    };
    let r = get(None, "").await.unwrap();
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"dbx\", charset=\"UTF-8\""
    );
    expect_error(r, 401, "unauthorized").await;
    // The account password is not an app password.
    let r = get(Some(&a.email), "correct horse battery").await.unwrap();
    expect_error(r, 401, "unauthorized").await;
    // Another account's app password, with this e-mail.
    let r = get(Some(&a.email), &b_dav.password).await.unwrap();
    expect_error(r, 401, "unauthorized").await;
    // The e-mail is matched as login matches it: trimmed, any case.
    let r = get(
        Some(&format!(" {} ", a.email.to_uppercase())),
        &dav.password,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // A bearer token is not Basic.
    let r = srv
        .client
        .get(srv.url("/dav/"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "unauthorized").await;
}

#[tokio::test]
async fn failures_are_throttled_like_logins_and_successes_are_not() {
    let srv = TestServer::start().await;
    let u = srv.user().await;
    let dav = u.dav().await;
    // Many good requests in a row: a client sends its password with each one.
    for _ in 0..40 {
        let (status, _) = dav.propfind("/", "0").await;
        assert_eq!(status, 207);
    }
    let wrong = |n: usize| {
        srv.client
            .get(srv.url("/dav/"))
            .basic_auth(&u.email, Some(format!("wrong {n}")))
            .send()
    };
    let mut limited = None;
    for n in 0..12 {
        let r = wrong(n).await.unwrap();
        if r.status() == 429 {
            limited = Some(n);
            assert!(r.headers().contains_key("retry-after"));
            expect_error(r, 429, "rate_limited").await;
            break;
        }
        expect_error(r, 401, "unauthorized").await;
    }
    // The login limit, ten at once per account: signing in took one, nine wrong
    // passwords the rest, and the tenth wrong one used up the last.
    assert_eq!(limited, Some(10));
    // While refused, even the right password is refused: guessing gains nothing.
    let (status, _) = dav.propfind("/", "0").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn another_users_paths_are_invisible() {
    let srv = TestServer::start().await;
    let (a, b) = (srv.user().await, srv.user().await);
    a.put_file("/secret/plan.txt", "a's plan").await;
    let b_dav = b.dav().await;
    let (status, xml) = b_dav.propfind("/", "1").await;
    assert_eq!(status, 207);
    assert!(!xml.contains("secret"), "{xml}");
    for path in ["/secret/plan.txt", "/secret/"] {
        assert_eq!(b_dav.send("GET", path).await.status(), 404, "{path}");
        assert_eq!(b_dav.propfind(path, "0").await.0, 404, "{path}");
        assert_eq!(b_dav.send("DELETE", path).await.status(), 404, "{path}");
    }
    // B's writes to the same path land in B's own account.
    assert_eq!(b_dav.put("/secret.txt", "b's").await.status(), 201);
    let a_dav = a.dav().await;
    let r = a_dav.send("GET", "/secret/plan.txt").await;
    assert_eq!(r.text().await.unwrap(), "a's plan");
    assert_eq!(a_dav.send("GET", "/secret.txt").await.status(), 404);
}
