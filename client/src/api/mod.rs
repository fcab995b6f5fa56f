//! The typed HTTP client of API.md: bearer auth with a transparent refresh when the
//! access token runs out (the rotated tokens are saved at once), and the server's error
//! body turned into one readable error.

use std::time::Duration;

use dbx_shared::api::{
    AppPassword, AppPasswordList, CreateAppPasswordRequest, CreateFolderRequest,
    CreateShareRequest, Entry, FileEntry, FolderEntry, ListReply, MoveRequest, Share, ShareList,
    API_BASE,
};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;

mod error;
mod session;
mod undo;
mod uploads;

use error::error_from;
pub use error::{root_cause, ApiResult, ClientError};
pub use uploads::upload_gone;

use crate::config::{ConfigDir, Credentials};
use crate::resume::{Resumes, UploadKey};

/// Page size of folder listings.
const LIST_PAGE: &str = "1000";

/// Bytes per `PATCH` of a resumable upload unless `--chunk-size` says otherwise.
pub const DEFAULT_UPLOAD_CHUNK: u64 = 16 << 20;

/// A connection to one server, logged in or not. Shared by concurrent transfers.
pub struct Api {
    http: reqwest::Client,
    base: String,
    config: ConfigDir,
    session: Mutex<Option<Credentials>>,
    resumes: Resumes,
    upload_chunk: u64,
}

impl Api {
    /// A client for `base` (already normalized) using `session` if it is for that server.
    pub fn new(base: String, config: ConfigDir, session: Option<Credentials>) -> ApiResult<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("dbx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Local(format!("cannot set up HTTP: {e}")))?;
        let session = session.filter(|c| c.server == base);
        Ok(Api {
            http,
            base,
            resumes: Resumes::new(config.clone()),
            config,
            session: Mutex::new(session),
            upload_chunk: DEFAULT_UPLOAD_CHUNK,
        })
    }

    /// Sends resumable uploads in `PATCH`es of `bytes` (at least 1).
    pub fn with_upload_chunk(mut self, bytes: u64) -> Self {
        self.upload_chunk = bytes.max(1);
        self
    }

    pub fn upload_chunk(&self) -> u64 {
        self.upload_chunk
    }

    /// The unfinished resumable uploads of this machine.
    pub fn resumes(&self) -> &Resumes {
        &self.resumes
    }

    /// What identifies an upload of `size` bytes with `hash` to `path` under `pre` on
    /// this server and account.
    pub async fn upload_key(
        &self,
        path: &str,
        size: u64,
        hash: &str,
        pre: &Precondition,
    ) -> UploadKey {
        UploadKey {
            server: self.base.clone(),
            user_id: self.user_id().await.unwrap_or_default(),
            path: path.to_string(),
            size,
            content_hash: hash.to_ascii_lowercase(),
            precondition: pre.to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The id of the account this client is logged in as.
    pub async fn user_id(&self) -> Option<String> {
        self.session
            .lock()
            .await
            .as_ref()
            .map(|c| c.user_id.clone())
    }

    /// The full URL of an API route such as `/files/content`.
    pub fn url(&self, route: &str) -> String {
        format!("{}{API_BASE}{route}", self.base)
    }

    // ---- entries --------------------------------------------------------------------

    /// The entry at `path`, or `None` if there is none. `/` has no entry: callers treat
    /// it as the root folder themselves.
    pub async fn entry_at(&self, path: &str) -> ApiResult<Option<Entry>> {
        match self.get_json("/entries", &[("path", path)]).await {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every child of a folder (`None`: the root), following pagination.
    pub async fn list(&self, folder: Option<&str>) -> ApiResult<Vec<Entry>> {
        let route = format!("/folders/{}/children", folder.unwrap_or("root"));
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit", LIST_PAGE)];
            if let Some(a) = &after {
                q.push(("after", a.as_str()));
            }
            let page: ListReply = self.get_json(&route, &q).await?;
            out.extend(page.entries);
            match page.next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    pub async fn create_folder(&self, parent: Option<&str>, name: &str) -> ApiResult<FolderEntry> {
        let body = CreateFolderRequest {
            parent_id: parent.map(str::to_string),
            name: name.to_string(),
        };
        self.post_json("/folders", &body).await
    }

    pub async fn file(&self, id: &str) -> ApiResult<FileEntry> {
        self.get_json(&format!("/files/{id}"), &[]).await
    }

    pub async fn delete_entry(&self, entry: &Entry) -> ApiResult<()> {
        let route = match entry {
            Entry::Folder(f) => format!("/folders/{}", f.id),
            Entry::File(f) => format!("/files/{}", f.id),
        };
        self.send(|| Ok(self.http.delete(self.url(&route)))).await?;
        Ok(())
    }

    /// Moves the entry `id` into `parent` (`None`: the root) as `name`; returns it there.
    pub async fn move_entry(&self, id: &str, parent: Option<&str>, name: &str) -> ApiResult<Entry> {
        let body = MoveRequest {
            parent_id: Some(parent.map(str::to_string)),
            name: Some(name.to_string()),
        };
        self.post_json(&format!("/entries/{id}/move"), &body).await
    }

    /// `PUT /files/content?path=…` under precondition `pre`. `body` is called once per
    /// attempt (a retry after a refresh needs a fresh stream). Returns the entry and
    /// whether the server made a new file (201).
    pub async fn upload(
        &self,
        path: &str,
        size: u64,
        hash: &str,
        pre: &Precondition,
        body: impl Fn() -> std::io::Result<reqwest::Body>,
    ) -> ApiResult<(FileEntry, bool)> {
        let url = self.url("/files/content");
        let resp = self
            .send(|| {
                let mut rb = self
                    .http
                    .put(&url)
                    .query(&[("path", path)])
                    .header(reqwest::header::CONTENT_LENGTH, size)
                    .header("X-Content-Hash", hash);
                rb = pre.apply(rb);
                Ok(rb.body(body()?))
            })
            .await?;
        let created = resp.status() == reqwest::StatusCode::CREATED;
        Ok((json(resp).await?, created))
    }

    /// `GET /files/{id}/content`: the response, to be streamed by the caller.
    pub async fn download(&self, id: &str) -> ApiResult<Response> {
        let url = self.url(&format!("/files/{id}/content"));
        self.send(|| Ok(self.http.get(&url))).await
    }

    // ---- shares ---------------------------------------------------------------------

    pub async fn create_share(&self, req: &CreateShareRequest) -> ApiResult<Share> {
        self.post_json("/shares", req).await
    }

    pub async fn list_shares(&self) -> ApiResult<ShareList> {
        self.get_json("/shares", &[]).await
    }

    pub async fn revoke_share(&self, id: &str) -> ApiResult<()> {
        let url = self.url(&format!("/shares/{id}"));
        self.send(|| Ok(self.http.delete(&url))).await?;
        Ok(())
    }

    // ---- app passwords --------------------------------------------------------------

    pub async fn create_app_password(
        &self,
        req: &CreateAppPasswordRequest,
    ) -> ApiResult<AppPassword> {
        self.post_json("/app-passwords", req).await
    }

    pub async fn list_app_passwords(&self) -> ApiResult<AppPasswordList> {
        self.get_json("/app-passwords", &[]).await
    }

    pub async fn revoke_app_password(&self, id: &str) -> ApiResult<()> {
        let url = self.url(&format!("/app-passwords/{id}"));
        self.send(|| Ok(self.http.delete(&url))).await?;
        Ok(())
    }

    // ---- plumbing -------------------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(&self, route: &str, q: &[(&str, &str)]) -> ApiResult<T> {
        let url = self.url(route);
        json(self.send(|| Ok(self.http.get(&url).query(q))).await?).await
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        route: &str,
        body: &B,
    ) -> ApiResult<T> {
        let url = self.url(route);
        json(self.send(|| Ok(self.http.post(&url).json(body))).await?).await
    }

    /// Sends an authenticated request built by `make`; after a 401, refreshes the tokens
    /// once and sends a fresh copy. Non-2xx replies become `ClientError::Api`.
    pub async fn send(
        &self,
        make: impl Fn() -> std::io::Result<RequestBuilder>,
    ) -> ApiResult<Response> {
        let build = || make().map_err(|e| ClientError::Local(e.to_string()));
        let token = self.access_token().await?;
        let rb = build()?;
        let rb = match &token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        match self.exec(rb).await {
            Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
                let Some(used) = token else {
                    return Err(ClientError::NotLoggedIn);
                };
                let fresh = self.refresh_after_401(&used).await?;
                self.exec(build()?.bearer_auth(fresh)).await
            }
            other => other,
        }
    }

    /// Sends one request; a non-2xx reply is turned into `ClientError::Api`.
    async fn exec(&self, rb: RequestBuilder) -> ApiResult<Response> {
        let resp = rb.send().await.map_err(|e| self.transport_error(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from(resp).await)
    }

    fn transport_error(&self, e: &reqwest::Error) -> ClientError {
        let reason = root_cause(e);
        let url = self.base.clone();
        if e.is_connect() {
            ClientError::Unreachable { url, reason }
        } else {
            ClientError::Transport { url, reason }
        }
    }
}

/// What must hold on the server for a write to go ahead (API.md 1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Whatever is there.
    None,
    /// Only if nothing is at the path yet (`If-None-Match: *`).
    CreateOnly,
    /// Only over this file at this version (`If-Match: "<id>:<version>"`).
    Is { id: String, version: i64 },
}

impl std::fmt::Display for Precondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Precondition::None => Ok(()),
            Precondition::CreateOnly => f.write_str("If-None-Match: *"),
            Precondition::Is { id, version } => write!(f, "If-Match: \"{id}:{version}\""),
        }
    }
}

impl Precondition {
    pub fn apply(&self, rb: RequestBuilder) -> RequestBuilder {
        match self {
            Precondition::None => rb,
            Precondition::CreateOnly => rb.header(reqwest::header::IF_NONE_MATCH, "*"),
            Precondition::Is { id, version } => {
                rb.header(reqwest::header::IF_MATCH, format!("\"{id}:{version}\""))
            }
        }
    }
}

/// Reads a JSON reply body.
pub async fn json<T: DeserializeOwned>(resp: Response) -> ApiResult<T> {
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::BadReply(root_cause(&e)))?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::BadReply(e.to_string()))
}
