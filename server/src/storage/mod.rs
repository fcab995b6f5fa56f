//! The blob store: content by key, written once, never overwritten (DESIGN.md invariant 2).
//! A filesystem implementation for the embedded default and an S3 one for real deployments.

pub mod fs;
mod fs_staged;
pub mod s3;
mod s3_staged;
mod s3_windows;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;

/// A stream of content pieces. Errors end it.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("no blob {0}")]
    NotFound(String),
    /// The body stream failed (a cut upload, a limit hit): nothing was stored.
    #[error("upload interrupted: {0}")]
    Body(std::io::Error),
    #[error("blob store error: {0}")]
    Backend(String),
    /// The store is down, overloaded or does not answer (after retries): try again later.
    #[error("blob store unavailable: {0}")]
    Unavailable(String),
}

pub type BlobResult<T> = Result<T, BlobError>;

/// One stored blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub key: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// A byte range `[start, start + len)` of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `body` under `key`; the blob is durable when this returns `Ok`, and absent
    /// (or invisible until collected) when it returns `Err`. Returns the size written.
    async fn put(&self, key: &str, body: ByteStream) -> BlobResult<u64>;
    /// Streams a blob, or a range of it.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> BlobResult<ByteStream>;
    /// Size and time of a blob, `None` when absent.
    async fn stat(&self, key: &str) -> BlobResult<Option<BlobInfo>>;
    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &str) -> BlobResult<()>;
    /// Every blob whose key starts with `prefix`.
    async fn list(&self, prefix: &str) -> BlobResult<Vec<BlobInfo>>;
    /// Removes unfinished uploads older than `older_than`; returns how many (or would,
    /// with `dry_run`).
    async fn remove_stale_uploads(
        &self,
        older_than: DateTime<Utc>,
        dry_run: bool,
    ) -> BlobResult<u64>;

    // Staged (resumable) uploads. A state the caller has stored stays valid until it
    // replaces it: what a failed or unkept append wrote is dropped or overwritten later.
    /// Starts a staged upload `id` that will become `key`.
    async fn stage(&self, id: &str, key: &str) -> BlobResult<Staged>;
    /// Appends `body` and returns the new state, durable when this returns (the partial
    /// file fsynced, the parts and tail stored). When the offset reaches `length` the
    /// rest goes up as the last part, ready for `complete_staged`. Holds at most one
    /// part in memory.
    async fn append_staged(
        &self,
        staged: &Staged,
        body: ByteStream,
        length: u64,
    ) -> BlobResult<Staged>;
    /// Streams the bytes from `start` to the staged offset; `start` is at most one hash
    /// block before the offset (to hash the unfinished block again).
    async fn read_staged(&self, staged: &Staged, start: u64) -> BlobResult<ByteStream>;
    /// Makes the staged bytes the blob at `staged.key` (nothing is copied on S3).
    async fn complete_staged(&self, staged: &Staged) -> BlobResult<()>;
    /// Abandons a staged upload: its parts, tail objects or partial file go.
    async fn abort_staged(&self, staged: &Staged) -> BlobResult<()>;
}

/// Where a resumable upload's bytes wait until its last byte arrives. The caller keeps this
/// (in the database) between requests and hands it back: the store remembers nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staged {
    /// The upload's id: names its partial file or its tail objects.
    pub id: String,
    /// The key the blob gets when the upload completes.
    pub key: String,
    /// How many bytes are held.
    pub offset: u64,
    /// S3: the multipart upload's id.
    pub multipart_id: Option<String>,
    /// S3: the ETags of the uploaded parts, in order. Each is [`STAGED_PART_SIZE`]
    /// bytes, except the last of a finished upload.
    pub parts: Vec<String>,
    /// S3: the object holding the bytes after the parts (fewer than a part), which the
    /// next append joins to its first part.
    pub tail_key: Option<String>,
}

/// The size of each part of a staged S3 upload: a multiple of the content hash's 4 MiB
/// block, so that the unfinished block always lies in the tail; at least S3's 5 MiB.
pub const STAGED_PART_SIZE: u64 = s3::PART_SIZE;

/// Where a staged upload's tail objects live: outside `user/`, so they are never taken
/// for blobs (no orphan sweep, no `check` report); completing or aborting the upload
/// removes everything under it.
pub fn staged_prefix(upload_id: &str) -> String {
    format!("uploads/{upload_id}/")
}

/// Removes the tail object `old` has and `kept` does not: after an append was stored, its
/// predecessor's; after one was refused, its own. Tails are ordinary objects, written once.
pub async fn drop_replaced_tail(
    store: &dyn BlobStore,
    old: &Staged,
    kept: &Staged,
) -> BlobResult<()> {
    match &old.tail_key {
        Some(tail) if kept.tail_key.as_ref() != Some(tail) => store.delete(tail).await,
        _ => Ok(()),
    }
}

/// Settings needed to open an S3 store.
#[derive(Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

/// Opens the store named by `file://PATH` or `s3://BUCKET`.
pub async fn open(url: &str, s3: &S3Settings) -> BlobResult<Arc<dyn BlobStore>> {
    if let Some(path) = url.strip_prefix("file://") {
        Ok(Arc::new(fs::FsBlobStore::open(path.into()).await?))
    } else if let Some(bucket) = url.strip_prefix("s3://") {
        Ok(Arc::new(s3::S3BlobStore::open(bucket, s3).await?))
    } else {
        Err(BlobError::Backend(format!(
            "unknown blob store '{url}': use file://PATH or s3://BUCKET"
        )))
    }
}

/// The key of a new blob of this user: fresh for every version, so no key is overwritten.
pub fn new_blob_key(user_id: &str) -> String {
    format!("user/{user_id}/{}", uuid::Uuid::now_v7())
}

/// Refuses a key that could leave the store's root or name no object. Keys are our own
/// (`user/<uuid>/<uuid>`); every store applies the same rules, so all accept the same keys.
pub(crate) fn check_key(key: &str) -> BlobResult<()> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if ok {
        Ok(())
    } else {
        Err(BlobError::Backend(format!("invalid blob key {key:?}")))
    }
}
