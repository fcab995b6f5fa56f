//! The few API calls sync needs beyond `crate::api`: delta pages and long-poll, uploads
//! with `If-Match`, deletes by id, and downloads into a temporary file whose hash the
//! caller checks. All go through `Api::send`, so they share its refresh-on-401.

use std::path::Path;

use anyhow::Context;
use dbx_shared::api::{DeltaReply, FileEntry, WaitReply};
use reqwest::StatusCode;

use crate::api::{json, Api, ApiResult, ClientError};
use crate::transfer;

/// The HTTP client of these calls (`Api::send` adds the session's token).
fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(15))
            .user_agent(concat!("dbx/", env!("CARGO_PKG_VERSION"), " sync"))
            .build()
            .unwrap_or_default()
    })
}

/// One page of the change log after `cursor` (none: from the beginning).
pub async fn delta(api: &Api, cursor: Option<&str>) -> ApiResult<DeltaReply> {
    let url = api.url("/delta");
    let mut q = vec![("limit", "1000")];
    if let Some(c) = cursor {
        q.push(("cursor", c));
    }
    json(api.send(|| Ok(client().get(&url).query(&q))).await?).await
}

/// Waits up to `timeout_s` seconds for a change after `cursor`.
pub async fn wait(api: &Api, cursor: Option<&str>, timeout_s: u64) -> ApiResult<bool> {
    let url = api.url("/delta/wait");
    let t = timeout_s.to_string();
    let mut q = vec![("timeout", t.as_str())];
    if let Some(c) = cursor {
        q.push(("cursor", c));
    }
    let r: WaitReply = json(
        api.send(|| {
            Ok(client()
                .get(&url)
                .query(&q)
                .timeout(std::time::Duration::from_secs(timeout_s + 30)))
        })
        .await?,
    )
    .await?;
    Ok(r.changes)
}

/// The file with `id`, or `None` if it is gone.
pub async fn file(api: &Api, id: &str) -> ApiResult<Option<FileEntry>> {
    match api.file(id).await {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes a file (`folder` false) or a folder by id; already gone is fine.
pub async fn delete(api: &Api, id: &str, folder: bool) -> ApiResult<()> {
    let kind = if folder { "folders" } else { "files" };
    let url = api.url(&format!("/{kind}/{id}"));
    match api.send(|| Ok(client().delete(&url))).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether an upload was refused because the server's version moved on (412).
pub fn is_precondition_failed(e: &ClientError) -> bool {
    e.status() == Some(StatusCode::PRECONDITION_FAILED)
}

/// Whether the bytes sent did not match the declared hash (422): the file changed
/// while it was read.
pub fn is_checksum_mismatch(e: &ClientError) -> bool {
    e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY)
}

/// Uploads `local` to `path`; with `if_match`, only over that version. Streams the file
/// with its size and hash declared, so the server refuses bytes that changed meanwhile.
/// Returns the entry and whether the server made a new file (201).
pub async fn upload(
    api: &Api,
    path: &str,
    local: &Path,
    size: u64,
    hash: &str,
    if_match: Option<i64>,
) -> ApiResult<(FileEntry, bool)> {
    api.upload(path, size, hash, if_match, || {
        transfer::file_body(local, size, None)
    })
    .await
}

/// Downloads the file `id` into a new temporary file in `tmp_dir`. Returns it with the
/// hash of the bytes received (the caller compares it with the one it expects).
pub async fn download_temp(
    api: &Api,
    id: &str,
    tmp_dir: &Path,
) -> anyhow::Result<(tempfile::NamedTempFile, String)> {
    let tmp = tempfile::Builder::new()
        .prefix("download-")
        .tempfile_in(tmp_dir)
        .with_context(|| format!("creating a temporary file in {}", tmp_dir.display()))?;
    let resp = api.download(id).await?;
    let hash = transfer::receive(resp, tmp.as_file().try_clone()?, None).await?;
    Ok((tmp, hash))
}
