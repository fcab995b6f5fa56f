//! A thin client of the dbx HTTP API (API.md), for setting up and timing requests.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use dbx_shared::api::{
    CreateFolderRequest, Credentials, CursorReply, DeltaReply, Entry, TokenReply,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;

/// Time limit of one metadata request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client every request of the bench goes through: no proxy (all traffic is to
/// 127.0.0.1), a bounded connect time.
pub fn http_client() -> Result<Client> {
    Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")
}

#[derive(Clone)]
pub struct Api {
    pub http: Client,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    token: String,
}

impl Api {
    /// Registers `email` (a 409 means it already exists, which is fine) and logs in.
    pub async fn register_and_login(
        http: &Client,
        base: &str,
        email: &str,
        password: &str,
    ) -> Result<Api> {
        let creds = Credentials {
            email: email.to_string(),
            password: password.to_string(),
        };
        let resp = http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&creds)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("register")?;
        if !resp.status().is_success() && resp.status().as_u16() != 409 {
            bail!("register: {}", describe(resp).await);
        }
        Self::login(http, base, email, password).await
    }

    pub async fn login(http: &Client, base: &str, email: &str, password: &str) -> Result<Api> {
        let creds = Credentials {
            email: email.to_string(),
            password: password.to_string(),
        };
        let resp = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&creds)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("login")?;
        let reply: TokenReply = ok_json(resp, "login").await?;
        Ok(Api {
            http: http.clone(),
            base: base.to_string(),
            token: reply.access_token,
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.token)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(&self.token)
    }

    pub async fn create_folder(&self, parent_id: Option<&str>, name: &str) -> Result<String> {
        let body = CreateFolderRequest {
            parent_id: parent_id.map(str::to_string),
            name: name.to_string(),
        };
        let resp = self
            .post("/folders")
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("create folder")?;
        let entry: Entry = ok_json(resp, "create folder").await?;
        Ok(entry.id().to_string())
    }

    /// Uploads a small file into a folder (`None`: the root); returns its id.
    pub async fn upload_small(
        &self,
        parent_id: Option<&str>,
        name: &str,
        body: Bytes,
    ) -> Result<String> {
        let parent = parent_id.unwrap_or("root");
        let resp = self
            .put("/files/content")
            .query(&[("parent_id", parent), ("name", name)])
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("upload")?;
        let entry: Entry = ok_json(resp, "upload").await?;
        Ok(entry.id().to_string())
    }

    pub async fn latest_cursor(&self) -> Result<String> {
        let resp = self
            .get("/delta/latest")
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("delta/latest")?;
        let reply: CursorReply = ok_json(resp, "delta/latest").await?;
        Ok(reply.cursor)
    }

    pub async fn delta(&self, cursor: &str, limit: usize) -> Result<DeltaReply> {
        let resp = self
            .get("/delta")
            .query(&[("cursor", cursor), ("limit", &limit.to_string())])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("delta")?;
        ok_json(resp, "delta").await
    }
}

/// The reply's JSON when it succeeded, else an error with its status and body.
pub async fn ok_json<T: DeserializeOwned>(resp: Response, what: &str) -> Result<T> {
    if !resp.status().is_success() {
        bail!("{what}: {}", describe(resp).await);
    }
    resp.json::<T>()
        .await
        .with_context(|| format!("{what}: unexpected reply"))
}

/// "404 Not Found: {body}" in one short line.
pub async fn describe(resp: Response) -> String {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    format!("{status}: {}", body.trim())
}
