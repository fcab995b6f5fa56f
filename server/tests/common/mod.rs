//! Test harness: a real dbx-server in this process on 127.0.0.1:0, with its own data dir,
//! and a small reqwest-based client. The backends come from the environment, so the same
//! suite runs on each: `DBX_TEST_BLOBS=s3` uses the S3 server of `scripts/s3-server.sh env`,
//! `DBX_TEST_DATABASE=postgres` the Postgres at `DBX_TEST_DATABASE_URL`.
#![allow(dead_code)]

pub mod invariants;
pub mod outage;
pub mod pg;
pub mod process;
pub mod tus;

use dbx_server::app::{open_blobs, open_content, open_repository, start, RunningServer};
use dbx_server::config::ServeArgs;
use dbx_server::gc::{CheckReport, GcPolicy, GcReport};
use dbx_server::metadata::Db;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct TestServer {
    pub base: String,
    pub dir: TempDir,
    pub client: Client,
    /// The settings it runs with (a restart reuses them: same database, same blobs).
    pub args: ServeArgs,
    server: Option<RunningServer>,
}

/// Server settings for a fresh data dir and the backends chosen by the environment.
pub fn test_args(dir: &std::path::Path) -> ServeArgs {
    let mut args = ServeArgs::for_data_dir(dir.to_path_buf());
    if std::env::var("DBX_TEST_BLOBS").as_deref() == Ok("s3") {
        let var = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} must be set for S3 tests (scripts/s3-server.sh env)")
            })
        };
        args.store.blob_store = Some(format!("s3://{}", var("DBX_S3_BUCKET")));
        args.store.s3_endpoint = Some(var("DBX_S3_ENDPOINT"));
        args.store.s3_region = var("DBX_S3_REGION");
        args.store.s3_access_key = Some(var("DBX_S3_ACCESS_KEY"));
        args.store.s3_secret_key = Some(var("DBX_S3_SECRET_KEY"));
    }
    if std::env::var("DBX_TEST_DATABASE").as_deref() == Ok("postgres") {
        args.store.database_url = Some(pg::TestDatabase::create_leaked());
    }
    args
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with settings adjusted by `tweak` (token lifetimes, limits, ...).
    pub async fn start_with(tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = test_args(dir.path());
        tweak(&mut args);
        Self::start_in(dir, args).await
    }

    /// Starts on an existing data dir with these settings.
    pub async fn start_in(dir: TempDir, args: ServeArgs) -> Self {
        let server = start(args.clone()).await.expect("server starts");
        TestServer {
            base: format!("http://{}", server.addr),
            dir,
            client: Client::new(),
            args,
            server: Some(server),
        }
    }

    /// Runs `dbx-server gc`'s collection on this server's stores, as of `now` (an
    /// injected clock: retention is tested by moving it, never by sleeping).
    pub async fn gc(&self, now: chrono::DateTime<chrono::Utc>, dry_run: bool) -> GcReport {
        let (db, blobs) = self.stores().await;
        let policy = GcPolicy::new(
            std::time::Duration::from_secs(self.args.gc_grace),
            &self.args.retention,
        );
        dbx_server::gc::collect(&db, blobs.as_ref(), &policy, now, dry_run)
            .await
            .expect("gc")
    }

    /// `dbx-server check` on this server's stores.
    pub async fn check(&self) -> CheckReport {
        let (db, blobs) = self.stores().await;
        dbx_server::gc::check(&db, blobs.as_ref())
            .await
            .expect("check")
    }

    /// This server's database and content (the blob store with the small content kept in
    /// the database), opened a second time.
    pub async fn stores(&self) -> (Db, std::sync::Arc<dyn dbx_server::storage::BlobStore>) {
        let url = self.args.store.database_url();
        let repo = tokio::task::spawn_blocking(move || open_repository(&url))
            .await
            .expect("open task")
            .expect("open the database");
        let db = Db::new(repo);
        let blobs = open_content(&db, &self.args.store)
            .await
            .expect("open the blobs");
        (db, blobs)
    }

    /// This server's blob store alone, without the small content kept in the database.
    pub async fn blob_store(&self) -> std::sync::Arc<dyn dbx_server::storage::BlobStore> {
        open_blobs(&self.args.store)
            .await
            .expect("open the blob store")
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    /// Stops the server and hands back its data dir and settings, to start it again.
    pub async fn stop_keeping_data(mut self) -> (TempDir, ServeArgs) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = std::mem::replace(&mut self.dir, dir);
        (dir, self.args.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Registers and logs in a new user with a unique e-mail.
    pub async fn user(&self) -> User {
        let email = format!("u{}@example.com", uuid::Uuid::new_v4().simple());
        self.user_with(&email, "correct horse battery").await
    }

    pub async fn user_with(&self, email: &str, password: &str) -> User {
        let r = self
            .req(Method::POST, "/api/v1/auth/register")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), StatusCode::CREATED, "register {email}");
        self.login(email, password).await
    }

    /// Logs an existing user in.
    pub async fn login(&self, email: &str, password: &str) -> User {
        let r = self
            .req(Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.expect("login json");
        User {
            token: body["access_token"].as_str().expect("token").to_string(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_string(),
            id: body["user"]["id"].as_str().expect("id").to_string(),
            email: email.to_string(),
            base: self.base.clone(),
            client: self.client.clone(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown_token().cancel();
        }
    }
}

/// A logged-in user and a client speaking for them.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh: String,
    pub base: String,
    pub client: Client,
}

impl User {
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path).send().await.expect("GET")
    }

    /// GET of a JSON reply, whatever its status.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.expect("a JSON reply")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path).send().await.expect("DELETE")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.req(Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    /// Uploads `data` to `path`, expecting success; returns the file entry.
    pub async fn put_file(&self, path: &str, data: impl Into<reqwest::Body>) -> Value {
        let r = self.upload(path, data).await;
        assert!(r.status().is_success(), "upload {path}: {}", r.status());
        r.json().await.expect("file json")
    }

    pub async fn upload(&self, path: &str, data: impl Into<reqwest::Body>) -> Response {
        self.req(Method::PUT, "/api/v1/files/content")
            .query(&[("path", path)])
            .body(data)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn mkdir(&self, parent: Option<&str>, name: &str) -> Value {
        let r = self
            .post(
                "/api/v1/folders",
                json!({"parent_id": parent, "name": name}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "mkdir {name}");
        r.json().await.expect("folder json")
    }

    pub async fn download(&self, file_id: &str) -> Vec<u8> {
        let r = self.get(&format!("/api/v1/files/{file_id}/content")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.bytes().await.expect("bytes").to_vec()
    }
}

impl User {
    /// Makes an app password named `name`; returns its secret.
    pub async fn app_password(&self, name: &str) -> String {
        let r = self
            .post("/api/v1/app-passwords", json!({ "name": name }))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "app password {name}");
        let body: Value = r.json().await.expect("app password json");
        body["password"].as_str().expect("password").to_string()
    }

    /// A WebDAV client for this user, with a new app password.
    pub async fn dav(&self) -> Dav {
        let password = self
            .app_password(&format!("dav {}", uuid::Uuid::new_v4().simple()))
            .await;
        Dav {
            base: self.base.clone(),
            email: self.email.clone(),
            password,
            client: self.client.clone(),
        }
    }
}

/// Speaks WebDAV at `/dav` with HTTP Basic (e-mail and app password).
#[derive(Clone)]
pub struct Dav {
    pub base: String,
    pub email: String,
    pub password: String,
    pub client: Client,
}

impl Dav {
    /// A request for `path` below `/dav` (e.g. `/a.txt`), with any method name.
    pub fn req(&self, method: &str, path: &str) -> RequestBuilder {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.client
            .request(method, self.url(path))
            .basic_auth(&self.email, Some(&self.password))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/dav{}", self.base, path)
    }

    pub async fn send(&self, method: &str, path: &str) -> Response {
        self.req(method, path).send().await.expect(method)
    }

    pub async fn put(&self, path: &str, data: impl Into<reqwest::Body>) -> Response {
        self.req("PUT", path).body(data).send().await.expect("PUT")
    }

    /// COPY or MOVE `from` to `to` (both below `/dav`).
    pub async fn transfer(&self, method: &str, from: &str, to: &str) -> Response {
        self.req(method, from)
            .header("Destination", self.url(to))
            .send()
            .await
            .expect(method)
    }

    /// PROPFIND with a Depth; returns the status and the multistatus XML.
    pub async fn propfind(&self, path: &str, depth: &str) -> (u16, String) {
        let r = self
            .req("PROPFIND", path)
            .header("Depth", depth)
            .send()
            .await
            .expect("PROPFIND");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }
}

/// Asserts the status and API.md's error shape, and returns the code.
pub async fn expect_error(r: Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let body: Value = r.json().await.expect("error json");
    check_error_body(&body, code);
}

/// API.md's error body with this code: a non-empty message, and nothing but `error`.
pub fn check_error_body(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "nothing but error: {body}"
    );
}

pub fn content_hash(data: &[u8]) -> String {
    dbx_shared::content_hash::content_hash(data)
}
