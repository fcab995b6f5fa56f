//! Calls that send content without one long `PUT`: a file made from content the account
//! already holds (`POST /files/by-hash`), and resumable uploads (tus 1.0.0 at `/uploads`).

use base64::Engine as _;
use dbx_shared::api::FileEntry;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::StatusCode;
use serde::Serialize;

use super::{json, Api, ApiResult, ClientError, Precondition};

const TUS_VERSION: &str = "1.0.0";

#[derive(Serialize)]
struct ByHashRequest<'a> {
    path: &'a str,
    content_hash: &'a str,
    size: u64,
}

/// Where a resumable upload stands after a `PATCH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patched {
    pub offset: u64,
    /// Set once the last byte is in and the file is committed.
    pub file_id: Option<String>,
}

impl Api {
    /// Makes the file at `path` from content the account already holds. `None`: the
    /// server holds no content with that hash and size, so the bytes must be sent.
    pub async fn upload_by_hash(
        &self,
        path: &str,
        size: u64,
        hash: &str,
        pre: &Precondition,
    ) -> ApiResult<Option<(FileEntry, bool)>> {
        let url = self.url("/files/by-hash");
        let body = ByHashRequest {
            path,
            content_hash: hash,
            size,
        };
        match self
            .send(|| Ok(pre.apply(self.http.post(&url).json(&body))))
            .await
        {
            Ok(resp) => {
                let created = resp.status() == StatusCode::CREATED;
                Ok(Some((json(resp).await?, created)))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /uploads`: a new resumable upload of `size` bytes for `path`, committed under
    /// `pre` once complete. Returns its absolute URL.
    pub async fn tus_create(
        &self,
        path: &str,
        size: u64,
        hash: &str,
        pre: &Precondition,
    ) -> ApiResult<String> {
        let url = self.url("/uploads");
        let mut meta = vec![
            ("path", path.to_string()),
            ("content_hash", hash.to_string()),
        ];
        match pre {
            Precondition::None => {}
            Precondition::CreateOnly => meta.push(("if_none_match", "*".to_string())),
            Precondition::Is { id, version } => {
                meta.push(("if_match", format!("\"{id}:{version}\"")))
            }
        }
        let metadata = meta
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k} {}",
                    base64::engine::general_purpose::STANDARD.encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let resp = self
            .send(|| {
                Ok(self
                    .http
                    .post(&url)
                    .header("Tus-Resumable", TUS_VERSION)
                    .header("Upload-Length", size)
                    .header("Upload-Metadata", &metadata))
            })
            .await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::BadReply("an upload was made without a Location".into()))?;
        Ok(self.absolute(location))
    }

    /// `HEAD` of an upload: the server's offset, or `None` if the upload is gone
    /// (expired, finished, abandoned or unknown), so a new one must be made.
    pub async fn tus_offset(&self, upload: &str) -> ApiResult<Option<u64>> {
        let resp = self
            .send(|| Ok(self.http.head(upload).header("Tus-Resumable", TUS_VERSION)))
            .await;
        match resp {
            Ok(r) => Ok(Some(offset_of(r.headers())?)),
            Err(e) if upload_gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH`: appends `len` bytes of `body` at `offset`.
    pub async fn tus_patch(
        &self,
        upload: &str,
        offset: u64,
        len: u64,
        body: impl Fn() -> std::io::Result<reqwest::Body>,
    ) -> ApiResult<Patched> {
        let resp = self
            .send(|| {
                Ok(self
                    .http
                    .patch(upload)
                    .header("Tus-Resumable", TUS_VERSION)
                    .header("Upload-Offset", offset)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/offset+octet-stream",
                    )
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(body()?))
            })
            .await?;
        let file_id = resp
            .headers()
            .get("Dbx-File-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Patched {
            offset: offset_of(resp.headers())?,
            file_id,
        })
    }

    /// `DELETE`: abandons an upload; its parts are removed.
    pub async fn tus_terminate(&self, upload: &str) -> ApiResult<()> {
        self.send(|| {
            Ok(self
                .http
                .delete(upload)
                .header("Tus-Resumable", TUS_VERSION))
        })
        .await?;
        Ok(())
    }

    /// A `Location` made absolute against the server's base URL.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }
}

/// Whether an upload no longer exists on the server.
pub fn upload_gone(e: &ClientError) -> bool {
    matches!(
        e.status(),
        Some(StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::FORBIDDEN)
    )
}

fn offset_of(headers: &HeaderMap) -> ApiResult<u64> {
    headers
        .get("Upload-Offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::BadReply("a tus reply without Upload-Offset".into()))
}
