//! The few API calls sync needs beyond `crate::api`: delta pages and long-poll, uploads,
//! deletes and moves with preconditions, and downloads into a temporary file whose hash the caller
//! checks. All go through `Api::send`, so they share its refresh-on-401.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use dbx_shared::api::{DeltaReply, FileEntry, MoveRequest, WaitReply};
use dbx_shared::ErrorCode;
use reqwest::StatusCode;

pub use crate::api::Precondition;
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

/// What a conditional delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now.
    Yes,
    /// It was gone already.
    Gone,
    /// Refused: the file changed (412) or the folder is not empty (409). Nothing deleted.
    Refused,
}

async fn delete_checked(
    api: &Api,
    url: &str,
    pre: &Precondition,
    q: &[(&str, &str)],
) -> ApiResult<Deleted> {
    match api
        .send(|| Ok(pre.apply(client().delete(url).query(q))))
        .await
    {
        Ok(_) => Ok(Deleted::Yes),
        Err(e) if e.is_not_found() => Ok(Deleted::Gone),
        Err(e) if is_precondition_failed(&e) || e.status() == Some(StatusCode::CONFLICT) => {
            Ok(Deleted::Refused)
        }
        Err(e) => Err(e),
    }
}

/// Deletes the file `id` only if it still is at `version` (`If-Match: "<id>:<version>"`).
pub async fn delete_file(api: &Api, id: &str, version: i64) -> ApiResult<Deleted> {
    let pre = Precondition::Is {
        id: id.to_string(),
        version,
    };
    delete_checked(api, &api.url(&format!("/files/{id}")), &pre, &[]).await
}

/// Deletes the folder `id` only if it is empty (`?recursive=false`), so that a file
/// another device put in it meanwhile survives.
pub async fn delete_empty_folder(api: &Api, id: &str) -> ApiResult<Deleted> {
    let url = api.url(&format!("/folders/{id}"));
    delete_checked(api, &url, &Precondition::None, &[("recursive", "false")]).await
}

/// What a conditional move found.
#[derive(Debug, Clone)]
pub enum Moved {
    /// Moved now.
    Yes,
    /// Refused, nothing moved: the entry is gone (404), changed (412), or the new path is
    /// taken or not allowed (409, 400); the reason.
    Refused(String),
}

/// Moves the entry `id` into the folder `parent` (`None`: keep its folder;
/// `Some(None)`: the root) under `name`, for a file only if it still is at `version`
/// (`If-Match: "<id>:<version>"`).
pub async fn move_entry(
    api: &Api,
    id: &str,
    parent: Option<Option<String>>,
    name: &str,
    version: Option<i64>,
) -> ApiResult<Moved> {
    let url = api.url(&format!("/entries/{id}/move"));
    let body = MoveRequest {
        parent_id: parent,
        name: Some(name.to_string()),
    };
    let pre = match version {
        Some(version) => Precondition::Is {
            id: id.to_string(),
            version,
        },
        None => Precondition::None,
    };
    match api
        .send(|| Ok(pre.apply(client().post(&url).json(&body))))
        .await
    {
        Ok(_) => Ok(Moved::Yes),
        Err(e) if e.is_not_found() => Ok(Moved::Refused("gone on the server".into())),
        Err(e) if is_precondition_failed(&e) => {
            Ok(Moved::Refused("changed on the server meanwhile".into()))
        }
        Err(e)
            if matches!(
                e.status(),
                Some(StatusCode::CONFLICT | StatusCode::BAD_REQUEST)
            ) =>
        {
            Ok(Moved::Refused(format!("the server refused the move: {e}")))
        }
        Err(e) => Err(e),
    }
}

/// Whether the server refused a delta cursor because its history changed (410
/// `cursor_reset`: a restored or replaced database, a re-created account).
pub fn is_cursor_reset(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Api {
            code: ErrorCode::CursorReset,
            ..
        }
    ) || e.status() == Some(StatusCode::GONE)
}

/// Whether a write was refused because the server's side moved on (412).
pub fn is_precondition_failed(e: &ClientError) -> bool {
    e.status() == Some(StatusCode::PRECONDITION_FAILED)
}

/// Whether the bytes sent did not match the declared hash (422): the file changed
/// while it was read.
pub fn is_checksum_mismatch(e: &ClientError) -> bool {
    e.status() == Some(StatusCode::UNPROCESSABLE_ENTITY)
}

/// Uploads `local` to `path` under `pre` (by hash, resumable or in one `PUT`, as
/// `transfer::send_file` picks), with its size and hash declared, so the server refuses
/// bytes that changed meanwhile. Returns the entry and whether the server made a new file.
pub async fn upload(
    api: &Api,
    path: &str,
    local: &Path,
    size: u64,
    hash: &str,
    pre: &Precondition,
) -> ApiResult<(FileEntry, bool)> {
    transfer::send_file(
        api,
        local,
        path,
        size,
        hash,
        pre,
        Arc::new(transfer::Unmetered),
    )
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
