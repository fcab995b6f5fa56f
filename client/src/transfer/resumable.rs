//! A large file through a tus upload: `PATCH`es of `--chunk-size` bytes, the upload's URL
//! remembered in `uploads.json` until it is committed, so that the next attempt (in this
//! process after a broken connection, or in a new one after a kill or a server restart)
//! sends only what the server does not have yet.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dbx_shared::api::FileEntry;
use reqwest::StatusCode;

use super::{file_range_body, Meter};
use crate::api::{Api, ApiResult, ClientError, Precondition};
use crate::resume::UploadKey;

/// Tries after a broken connection or a busy server before the upload is left for the
/// next run; each waits twice as long as the one before.
const RETRIES: u32 = 4;
const FIRST_WAIT: Duration = Duration::from_millis(500);

pub async fn send(
    api: &Api,
    local: &Path,
    path: &str,
    size: u64,
    hash: &str,
    pre: &Precondition,
    meter: Arc<dyn Meter>,
) -> ApiResult<(FileEntry, bool)> {
    let key = api.upload_key(path, size, hash, pre).await;
    let (url, mut offset) = open(api, &key, path, size, hash, pre).await?;
    meter.restart();
    meter.add(offset);

    let mut failures = 0;
    loop {
        let len = api.upload_chunk().min(size - offset);
        let sent = api
            .tus_patch(&url, offset, len, || {
                file_range_body(local, offset, len, None)
            })
            .await;
        match sent {
            Ok(p) => {
                failures = 0;
                meter.add(p.offset.saturating_sub(offset));
                offset = p.offset;
                if let Some(id) = p.file_id {
                    api.resumes().forget(&key);
                    let entry = api.file(&id).await?;
                    let created = entry.version == 1;
                    return Ok((entry, created));
                }
                if offset >= size {
                    return Err(ClientError::BadReply(
                        "the upload is complete but the server named no file".into(),
                    ));
                }
            }
            Err(e) if may_pass(&e) && failures < RETRIES => {
                tokio::time::sleep(FIRST_WAIT * 2u32.pow(failures)).await;
                failures += 1;
                match api.tus_offset(&url).await {
                    // The server has a different offset than we thought (a piece that
                    // arrived though its reply did not, or another sender): go on from it.
                    Ok(Some(server)) if server != offset => {
                        meter.restart();
                        meter.add(server);
                        offset = server;
                    }
                    // Same offset: the same piece again, unless the server refused it
                    // for a reason other than the offset.
                    Ok(Some(_)) if e.status() != Some(StatusCode::CONFLICT) => {}
                    Ok(_) => return Err(abandon(api, &key, &url, e).await),
                    // Still unreachable: try again after the next wait.
                    Err(_) => {}
                }
            }
            Err(e) if may_pass(&e) => return Err(e),
            Err(e) => return Err(abandon(api, &key, &url, e).await),
        }
    }
}

/// The upload to continue (with the server's offset) or a new one.
async fn open(
    api: &Api,
    key: &UploadKey,
    path: &str,
    size: u64,
    hash: &str,
    pre: &Precondition,
) -> ApiResult<(String, u64)> {
    if let Some(url) = api.resumes().find(key) {
        match api.tus_offset(&url).await {
            Ok(Some(offset)) if offset < size => return Ok((url, offset)),
            // Gone, or complete but not committed: start again.
            Ok(_) => api.resumes().forget(key),
            Err(e) => return Err(e),
        }
    }
    let url = api.tus_create(path, size, hash, pre).await?;
    api.resumes().remember(key, &url);
    Ok((url, 0))
}

/// Whether a failed `PATCH` may pass on a later try: the connection broke, the server
/// was busy or down, or the offset was not the server's.
fn may_pass(e: &ClientError) -> bool {
    match e {
        ClientError::Transport { .. } | ClientError::Unreachable { .. } => true,
        ClientError::Api { status, .. } => {
            *status == StatusCode::CONFLICT
                || *status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
        }
        _ => false,
    }
}

/// The upload cannot succeed (its commit was refused, its bytes did not match, it is
/// gone): it is forgotten and, if it still exists, abandoned so its parts are freed.
/// Returns `e`, the reason.
async fn abandon(api: &Api, key: &UploadKey, url: &str, e: ClientError) -> ClientError {
    api.resumes().forget(key);
    if !crate::api::upload_gone(&e) {
        let _ = api.tus_terminate(url).await;
    }
    e
}
