//! The blob store: content by key, written once, never overwritten (DESIGN.md invariant 2).
//! A filesystem implementation for the embedded default and an S3 one for real deployments.

pub mod fs;
pub mod s3;

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
