//! Resumable uploads (tus 1.0.0 at `/api/v1/uploads`): the big file in `PATCH`es of a
//! chunk each, and an upload cut at half that a restarted server lets finish.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::Response;
use serde::Serialize;
use tokio::time::Instant;

use crate::api::{describe, Api, REQUEST_TIMEOUT};
use crate::transfer::{Rates, BIG_TIMEOUT};
use crate::util::generated_body;

const TUS: &str = "1.0.0";

/// A tus upload being made.
pub struct TusUpload {
    /// Its path on the server (`/api/v1/uploads/{id}`): a restarted server listens on
    /// another port, so the URL is made from the API the upload goes on with.
    pub path: String,
    pub size: u64,
    pub offset: u64,
}

/// `POST /uploads` for `size` bytes at `path`.
pub async fn create(api: &Api, path: &str, size: u64) -> Result<TusUpload> {
    use base64::Engine as _;
    let meta = format!(
        "path {}",
        base64::engine::general_purpose::STANDARD.encode(path)
    );
    let resp = api
        .post("/uploads")
        .header("Tus-Resumable", TUS)
        .header("Upload-Length", size)
        .header("Upload-Metadata", meta)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .context("tus create")?;
    let resp = ok(resp, "tus create").await?;
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("tus create: no Location")?;
    // A server gives an absolute or a relative Location; only its path matters here.
    let path = match location.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
        None => location.to_string(),
    };
    Ok(TusUpload {
        path,
        size,
        offset: 0,
    })
}

impl TusUpload {
    /// Sends generated content from the current offset until `until` (at most the size),
    /// `chunk` bytes per `PATCH`. Returns the file id once the upload is complete.
    pub async fn send_until(
        &mut self,
        api: &Api,
        until: u64,
        chunk: u64,
        seed: u64,
    ) -> Result<Option<String>> {
        let until = until.min(self.size);
        let mut file_id = None;
        while self.offset < until {
            let len = chunk.min(until - self.offset);
            let resp = api
                .http
                .patch(format!("{}{}", api.base, self.path))
                .bearer_auth(api.token())
                .header("Tus-Resumable", TUS)
                .header("Upload-Offset", self.offset)
                .header(CONTENT_TYPE, "application/offset+octet-stream")
                .header(CONTENT_LENGTH, len)
                .body(reqwest::Body::wrap_stream(generated_body(
                    len,
                    seed ^ self.offset,
                )))
                .timeout(BIG_TIMEOUT)
                .send()
                .await
                .context("tus patch")?;
            let resp = ok(resp, "tus patch").await?;
            self.offset = header_u64(&resp, "Upload-Offset")?;
            file_id = resp
                .headers()
                .get("Dbx-File-Id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        Ok(file_id)
    }

    /// `HEAD`: the server's offset, which this upload goes on from.
    pub async fn resync(&mut self, api: &Api) -> Result<()> {
        let resp = api
            .http
            .head(format!("{}{}", api.base, self.path))
            .bearer_auth(api.token())
            .header("Tus-Resumable", TUS)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .context("tus head")?;
        let resp = ok(resp, "tus head").await?;
        self.offset = header_u64(&resp, "Upload-Offset")?;
        Ok(())
    }
}

/// A whole upload; returns the file id and the time it took.
pub async fn upload(
    api: &Api,
    path: &str,
    size: u64,
    chunk: u64,
    seed: u64,
) -> Result<(String, Duration)> {
    let started = Instant::now();
    let mut up = create(api, path, size).await?;
    let id = up
        .send_until(api, size, chunk, seed)
        .await?
        .context("the upload completed without a file id")?;
    Ok((id, started.elapsed()))
}

/// The big file as a tus upload through dbx-server, against the same size put to S3
/// directly (one multipart upload), and an upload cut at half and resumed on a
/// restarted server.
#[derive(Debug, Clone, Serialize)]
pub struct TusReport {
    pub size_bytes: u64,
    pub chunk_bytes: u64,
    pub runs: usize,
    pub upload: Rates,
    pub ratio: Option<f64>,
    pub server_peak_mib: Option<f64>,
    /// Of the cut upload: the offset the restarted server reported, and the bytes sent
    /// after it, as fractions of the size.
    pub resumed_at: f64,
    pub sent_after_resume: f64,
    /// Time of the part after the restart over the median time of a whole upload.
    pub resume_time_ratio: Option<f64>,
}

async fn ok(resp: Response, what: &str) -> Result<Response> {
    if !resp.status().is_success() {
        bail!("{what}: {}", describe(resp).await);
    }
    Ok(resp)
}

fn header_u64(resp: &Response, name: &str) -> Result<u64> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {name} in the reply"))
}
