//! Blobs as objects in an S3-compatible bucket (AWS S3, MinIO, Garage), on the `minio` crate.
//!
//! Uploads stream in parts of [`PART_SIZE`]: at most one part is held in memory, whatever
//! the size of the blob. A blob smaller than one part goes up as a single PUT, a bigger one
//! as a multipart upload, which S3 makes visible only when it completes, so a failed or cut
//! upload never leaves a partial object at its key.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use minio::s3::builders::{ObjectContent, Size};
use minio::s3::creds::StaticProvider;
use minio::s3::error::{Error as MinioError, NetworkError, S3ServerError, ValidationErr};
use minio::s3::http::BaseUrl;
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::types::{BucketName, ObjectKey, Region, S3Api, ToStream};
use minio::s3::{MinioClient, MinioClientBuilder};
use tokio::sync::oneshot;

use super::s3_windows;
use super::{
    check_key, BlobError, BlobInfo, BlobResult, BlobStore, ByteRange, ByteStream, S3Settings,
    Staged,
};

/// Size of each part of an upload, and so the memory one upload holds. S3 allows 5 MiB to
/// 5 GiB and at most 10 000 parts, so this caps a blob at 160 GiB.
pub const PART_SIZE: u64 = 16 * 1024 * 1024;

/// The region used when none is given (dbx-server's `--s3-region` default).
const DEFAULT_REGION: &str = "us-east-1";

/// How long `open` waits for the bucket check.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one request without a body (stat, get until its reply starts, delete, a page
/// of a listing) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an upload may go without S3 taking any of it: minio neither reading a piece of
/// the body that is ready nor getting an answer (a part, the final PUT or the completion).
/// Then it is given up as unavailable, so that a store that stops answering mid-upload
/// does not hold the request, its part buffer and its task for ever. A client that stops
/// sending is not counted here: the listener's idle timeout ends its connection.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Tries of a request that fails transiently (a 5xx, SlowDown, a refused or reset
/// connection, no answer), waiting 100 ms, then 200 ms, ..., each plus up to as much
/// again at random so that many servers retrying do not hit S3 in step.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// `retry`, with a request that got no answer already the store's error: what is left is
/// the server's answer or its error, for the caller to tell apart (absent, a bad range).
async fn retry_answer<T, Fut>(
    what: &str,
    attempt: impl FnMut() -> Fut,
) -> BlobResult<Result<T, MinioError>>
where
    Fut: Future<Output = Result<T, MinioError>>,
{
    match retry(what, attempt).await {
        Ok(v) => Ok(Ok(v)),
        Err(Failure::S3(e)) => Ok(Err(e)),
        Err(f) => Err(f.into_blob_error(what)),
    }
}

/// How an S3 request failed.
pub(super) enum Failure {
    S3(MinioError),
    TimedOut,
}

impl Failure {
    pub(super) fn into_blob_error(self, what: &str) -> BlobError {
        match self {
            Failure::S3(e) => backend(what, &e),
            Failure::TimedOut => BlobError::Unavailable(format!(
                "{what}: no answer within {} s",
                CALL_TIMEOUT.as_secs()
            )),
        }
    }
}

/// Runs a request that sends no body (so it can be sent again as it was), each try
/// bounded by `CALL_TIMEOUT`, retrying transient failures with backoff and jitter.
pub(super) async fn retry<T, Fut>(
    what: &str,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, Failure>
where
    Fut: Future<Output = Result<T, MinioError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 1;
    loop {
        let failure = match tokio::time::timeout(CALL_TIMEOUT, attempt()).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) if is_transient(&e) => Failure::S3(e),
            Ok(Err(e)) => return Err(Failure::S3(e)),
            Err(_) => Failure::TimedOut,
        };
        if tries >= ATTEMPTS {
            return Err(failure);
        }
        tracing::debug!(what, tries, "S3 request failed transiently; retrying");
        let jitter = rand::random_range(0..=backoff.as_millis() as u64);
        tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
        backoff *= 2;
        tries += 1;
    }
}

#[derive(Clone)]
pub struct S3BlobStore {
    pub(super) client: MinioClient,
    pub(super) bucket: BucketName,
    stall_timeout: Duration,
}

impl S3BlobStore {
    /// Connects to `bucket` at `settings.endpoint` and checks that the bucket is there and
    /// readable with the given keys; every failure is a one-line reason.
    pub async fn open(bucket: &str, settings: &S3Settings) -> BlobResult<Self> {
        let endpoint = settings
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                BlobError::Backend(format!(
                    "s3://{bucket} needs an endpoint: set --s3-endpoint or DBX_S3_ENDPOINT \
                     (e.g. http://127.0.0.1:3900)"
                ))
            })?;
        let bucket_name = BucketName::new(bucket).map_err(|e| {
            BlobError::Backend(format!(
                "invalid S3 bucket name {bucket:?}: {}",
                one_line(&e)
            ))
        })?;
        let (access_key, secret_key) = match (&settings.access_key, &settings.secret_key) {
            (Some(a), Some(s)) if !a.is_empty() && !s.is_empty() => (a, s),
            _ => {
                return Err(BlobError::Backend(format!(
                    "s3://{bucket} needs an access key and a secret key: set --s3-access-key \
                     and --s3-secret-key (or DBX_S3_ACCESS_KEY and DBX_S3_SECRET_KEY)"
                )))
            }
        };

        // For a host that is not AWS (Garage, MinIO, ...) minio addresses buckets path-style
        // (http://host/bucket/key), which is what those servers expect; for AWS hosts it
        // uses virtual-host style, which AWS prefers.
        let mut base_url: BaseUrl = endpoint.parse().map_err(|e: ValidationErr| {
            BlobError::Backend(format!(
                "invalid S3 endpoint {endpoint:?}: {}",
                one_line(&e)
            ))
        })?;
        // The region signs every request: Garage rejects signatures for another region than
        // its `s3_region`. Setting it here also saves minio a GetBucketLocation round trip.
        let region = match settings.region.trim() {
            "" => DEFAULT_REGION,
            r => r,
        };
        base_url.region = Region::new(region).map_err(|e| {
            BlobError::Backend(format!("invalid S3 region {region:?}: {}", one_line(&e)))
        })?;

        let client = MinioClientBuilder::new(base_url)
            .provider(Some(StaticProvider::new(access_key, secret_key, None)))
            .app_info(Some((
                "dbx-server".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )))
            .build()
            .map_err(|e| {
                BlobError::Backend(format!("cannot set up the S3 client: {}", describe(&e)))
            })?;

        // The check is bounded: an endpoint that drops packets would otherwise hold start-up
        // for the system's TCP connect timeout (minutes).
        let check = client
            .bucket_exists(&bucket_name)
            .map_err(|e| BlobError::Backend(one_line(&e)))?
            .build()
            .send();
        let exists = match tokio::time::timeout(OPEN_TIMEOUT, check).await {
            Ok(Ok(resp)) => resp.exists(),
            Ok(Err(e)) => {
                // A HEAD answer has no body, so the server's reason is lost: guess the usual one.
                let hint = match s3_code(&e) {
                    Some(MinioErrorCode::AccessDenied) => {
                        " (check the access key and secret key, and the key's rights on the bucket)"
                            .to_string()
                    }
                    Some(MinioErrorCode::BadRequest) => {
                        format!(" (check --s3-region: {region} may not be the server's region)")
                    }
                    _ => String::new(),
                };
                return Err(BlobError::Backend(format!(
                    "cannot open S3 bucket {bucket} at {endpoint}: {}{hint}",
                    describe(&e)
                )));
            }
            Err(_) => {
                return Err(BlobError::Backend(format!(
                    "cannot open S3 bucket {bucket} at {endpoint}: no answer within {} s",
                    OPEN_TIMEOUT.as_secs()
                )))
            }
        };
        if !exists {
            return Err(BlobError::Backend(format!(
                "S3 bucket {bucket} does not exist at {endpoint}"
            )));
        }
        Ok(S3BlobStore {
            client,
            bucket: bucket_name,
            stall_timeout: STALL_TIMEOUT,
        })
    }

    /// The same store, giving up an upload that S3 stops taking after `limit` instead of
    /// [`STALL_TIMEOUT`] (for tests).
    pub fn with_stall_timeout(mut self, limit: Duration) -> Self {
        self.stall_timeout = limit;
        self
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, body: ByteStream) -> BlobResult<u64> {
        let object = object_key(key)?;
        let body_error = Arc::new(Mutex::new(None));
        // Dropped with this future: if the caller gives up, the body then fails, and minio
        // aborts its multipart upload instead of leaving it unfinished.
        let (_caller_alive, caller_gone) = oneshot::channel::<()>();
        let progress = Arc::new(Progress::new());
        let content = ObjectContent::new_from_stream(
            BodyGuard {
                inner: body,
                error: Arc::clone(&body_error),
                caller_gone: Some(caller_gone),
                progress: Arc::clone(&progress),
            },
            Size::Unknown,
        );
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let stall_timeout = self.stall_timeout;
        // On its own task, so that a dropped caller cannot cut it off between two requests:
        // it runs on until minio has aborted (or, if the body had already ended, completed:
        // then it is an orphan blob under a fresh key, which gc removes), or until S3 has
        // taken nothing for the stall timeout (an unfinished multipart upload may then
        // stay behind; see `remove_stale_uploads`).
        let upload = tokio::spawn(async move {
            let send = async {
                client
                    .put_object_content(&bucket, object, content)?
                    .part_size(Size::Known(PART_SIZE))
                    .build()
                    .send()
                    .await
            };
            tokio::select! {
                done = send => Some(done),
                () = progress.stalled(stall_timeout) => None,
            }
        });
        let result = upload
            .await
            .map_err(|e| BlobError::Backend(format!("S3 upload of {key} failed: {e}")))?
            .ok_or_else(|| {
                BlobError::Unavailable(format!(
                    "S3 upload of {key}: the store took nothing for {} s",
                    stall_timeout.as_secs()
                ))
            })?;

        // The body's own error wins over however minio reported it.
        let failed_body = body_error.lock().ok().and_then(|mut slot| slot.take());
        if let Some(e) = failed_body {
            if result.is_ok() {
                // Cannot happen (minio stops at the first read error), but never keep a
                // blob whose body failed.
                let _ = self.delete(key).await;
            }
            return Err(BlobError::Body(e));
        }
        match result {
            Ok(resp) => Ok(resp.object_size()),
            Err(e) => Err(backend(&format!("S3 upload of {key}"), &e)),
        }
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> BlobResult<ByteStream> {
        match range {
            Some(r) if r.len >= s3_windows::WINDOWED_MIN => {
                s3_windows::windowed(self.clone(), key.to_string(), r).await
            }
            _ => self.get_stream(key, range).await,
        }
    }

    async fn stat(&self, key: &str) -> BlobResult<Option<BlobInfo>> {
        let object = object_key(key)?;
        let what = format!("S3 stat of {key}");
        let response = retry_answer(&what, || {
            let request = self.client.stat_object(&self.bucket, object.clone());
            async move { request?.build().send().await }
        })
        .await?;
        match response {
            Ok(resp) => {
                let size = resp
                    .size()
                    .map_err(|e| BlobError::Backend(format!("S3 stat of {key}: {e}")))?;
                // Treat an unknown time as "just now", so that gc's grace period never takes
                // a fresh blob for an old one.
                let modified = resp.last_modified().ok().flatten().unwrap_or_else(Utc::now);
                Ok(Some(BlobInfo {
                    key: key.to_string(),
                    size,
                    modified,
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(backend(&format!("S3 stat of {key}"), &e)),
        }
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        check_key(key)?;
        let what = format!("S3 delete of {key}");
        let response = retry(&what, || {
            let request = self.client.delete_object(&self.bucket, key);
            async move { request?.build().send().await }
        })
        .await;
        match response {
            Ok(_) => Ok(()),
            Err(Failure::S3(e)) if is_not_found(&e) => Ok(()),
            Err(f) => Err(f.into_blob_error(&what)),
        }
    }

    /// The whole listing is bounded and retried as one request (it sends no body).
    async fn list(&self, prefix: &str) -> BlobResult<Vec<BlobInfo>> {
        let what = format!("S3 listing of {prefix:?}");
        retry(&what, || self.list_once(prefix))
            .await
            .map_err(|f| f.into_blob_error(&what))
    }
    /// minio 0.4 has no ListMultipartUploads (it can abort an upload by id, but not find
    /// the ids), so unfinished uploads cannot be listed from here: this always returns 0.
    /// They rarely arise: minio aborts the upload itself when the body or a part fails,
    /// and `put` turns a dropped caller into a failed body on an upload task that runs on
    /// (see `BodyGuard`); only a process killed mid-upload leaves one. For those, give the
    /// bucket a lifecycle rule (`AbortIncompleteMultipartUpload`, which Garage, MinIO and
    /// AWS honour), or run `garage bucket cleanup-incomplete-uploads`. Resumable uploads
    /// are tracked in the database instead, and gc aborts the expired ones by their ids
    /// (see `uploads::abort_expired`).
    async fn remove_stale_uploads(
        &self,
        _older_than: DateTime<Utc>,
        _dry_run: bool,
    ) -> BlobResult<u64> {
        Ok(0)
    }

    async fn stage(&self, id: &str, key: &str) -> BlobResult<Staged> {
        self.s3_stage(id, key).await
    }

    async fn append_staged(
        &self,
        staged: &Staged,
        body: ByteStream,
        length: u64,
    ) -> BlobResult<Staged> {
        self.s3_append(staged, body, length).await
    }

    async fn read_staged(&self, staged: &Staged, start: u64) -> BlobResult<ByteStream> {
        self.s3_read_staged(staged, start).await
    }

    async fn complete_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.s3_complete(staged).await
    }

    async fn abort_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.s3_abort(staged).await
    }
}

impl S3BlobStore {
    /// `range` of the object at `key` (all of it if `None`) as one GET, streamed as it
    /// arrives.
    pub(super) async fn get_stream(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> BlobResult<ByteStream> {
        let object = object_key(key)?;
        // minio would send `bytes=start-(start-1)` for an empty range.
        if range.is_some_and(|r| r.len == 0) {
            return match self.stat(key).await? {
                Some(_) => Ok(Box::pin(futures_util::stream::empty())),
                None => Err(BlobError::NotFound(key.to_string())),
            };
        }
        let what = format!("S3 get of {key}");
        // Retried until the reply starts: no byte of the body has reached the caller yet.
        let response = retry_answer(&what, || {
            let request = self.client.get_object(&self.bucket, object.clone());
            async move {
                let request = request?;
                match range {
                    // minio would overflow computing the last byte: ask for all from `start`.
                    Some(r) if r.start.checked_add(r.len).is_none() => {
                        request.offset(r.start).build().send().await
                    }
                    Some(r) => request.offset(r.start).length(r.len).build().send().await,
                    None => request.build().send().await,
                }
            }
        })
        .await?;
        match response {
            Ok(resp) => {
                // Streams as it arrives; `into_bytes` would load the whole blob.
                let (stream, _len) = resp
                    .into_boxed_stream()
                    .map_err(|e| backend(&format!("S3 get of {key}"), &e))?;
                Ok(stream)
            }
            Err(e) if is_not_found(&e) => Err(BlobError::NotFound(key.to_string())),
            // A range that starts at or past the end: nothing to send, as with the
            // filesystem store.
            Err(e) if is_invalid_range(&e) => Ok(Box::pin(futures_util::stream::empty())),
            Err(e) => Err(backend(&format!("S3 get of {key}"), &e)),
        }
    }

    /// One listing, all pages.
    async fn list_once(&self, prefix: &str) -> Result<Vec<BlobInfo>, MinioError> {
        let request = self.client.list_objects(&self.bucket)?.recursive(true);
        let request = if prefix.is_empty() {
            request.build()
        } else {
            request.prefix(prefix.to_string()).build()
        };
        // One item per page (ListObjectsV2, 1000 keys each); the stream follows the
        // continuation tokens until the listing is complete.
        let mut pages = request.to_stream().await;
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page?;
            for entry in page.contents {
                if entry.is_prefix || entry.is_delete_marker {
                    continue;
                }
                out.push(BlobInfo {
                    key: entry.name,
                    size: entry.size.unwrap_or(0),
                    modified: entry.last_modified.unwrap_or_else(Utc::now),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }
}

/// Passes the body through to minio, with three additions: minio's reader takes an empty
/// chunk for the end of the stream (it would store a truncated blob), so empty chunks are
/// dropped; the body's first error is kept so that `put` can return it as is (minio wraps
/// it in its own error type); and when `put`'s caller is gone, the body fails, so that
/// minio aborts the upload.
struct BodyGuard {
    inner: ByteStream,
    error: Arc<Mutex<Option<io::Error>>>,
    /// Resolves (with an error) when `put`'s future is dropped; `None` once it has.
    caller_gone: Option<oneshot::Receiver<()>>,
    progress: Arc<Progress>,
}

/// When minio last took from the body, and whether it is waiting for the client's next
/// piece (time that does not count against S3).
struct Progress {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
    waiting_on_body: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            start: Instant::now(),
            last: AtomicU64::new(0),
            waiting_on_body: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn polled(&self, waiting_on_body: bool) {
        self.last.store(self.now(), Ordering::Relaxed);
        self.waiting_on_body
            .store(waiting_on_body, Ordering::Relaxed);
    }

    /// Returns once S3 has taken nothing for `limit` (never while the body itself waits).
    async fn stalled(&self, limit: Duration) {
        let limit_ms = limit.as_millis() as u64;
        loop {
            tokio::time::sleep((limit / 4).max(Duration::from_millis(50))).await;
            let idle = self.now().saturating_sub(self.last.load(Ordering::Relaxed));
            if !self.waiting_on_body.load(Ordering::Relaxed) && idle >= limit_ms {
                return;
            }
        }
    }
}

impl Stream for BodyGuard {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(gone) = self.caller_gone.as_mut() {
            if Pin::new(gone).poll(cx).is_ready() {
                self.caller_gone = None;
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "upload abandoned by its caller",
                ))));
            }
        }
        loop {
            let next = self.inner.as_mut().poll_next(cx);
            self.progress.polled(next.is_pending());
            match next {
                Poll::Ready(Some(Ok(piece))) if piece.is_empty() => continue,
                Poll::Ready(Some(Err(e))) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    if let Ok(mut slot) = self.error.lock() {
                        slot.get_or_insert(e);
                    }
                    return Poll::Ready(Some(Err(copy)));
                }
                other => return other,
            }
        }
    }
}

pub(super) fn object_key(key: &str) -> BlobResult<ObjectKey> {
    check_key(key)?;
    ObjectKey::new(key).map_err(|e| BlobError::Backend(one_line(&e)))
}

/// The S3 error code of a server error, if it is one.
fn s3_code(e: &MinioError) -> Option<MinioErrorCode> {
    match e {
        MinioError::S3Server(S3ServerError::S3Error(resp)) => Some(resp.code()),
        _ => None,
    }
}

fn is_not_found(e: &MinioError) -> bool {
    matches!(
        s3_code(e),
        Some(MinioErrorCode::NoSuchKey | MinioErrorCode::ResourceNotFound)
    )
}

fn is_invalid_range(e: &MinioError) -> bool {
    match e {
        // minio lower-cases codes it does not know.
        MinioError::S3Server(S3ServerError::S3Error(resp)) => matches!(
            resp.code(),
            MinioErrorCode::OtherError(c) if c.eq_ignore_ascii_case("InvalidRange")
        ),
        MinioError::S3Server(S3ServerError::HttpError(416, _))
        | MinioError::Network(NetworkError::ServerError(416)) => true,
        _ => false,
    }
}

/// A failure that may pass: the server is down, overloaded or restarting (a refused or
/// reset connection, a 5xx, SlowDown), as opposed to a refusal that will repeat.
fn is_transient(e: &MinioError) -> bool {
    const CODES: [&str; 5] = [
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
    ];
    let transient_status = |s: u16| s >= 500 || s == 429 || s == 408;
    match e {
        MinioError::Network(NetworkError::ReqwestError(_)) => true,
        // minio reports a request that could not be sent (refused, reset) as a
        // validation error wrapping reqwest's.
        MinioError::Validation(ValidationErr::HttpError(_) | ValidationErr::IOError(_)) => true,
        MinioError::Network(NetworkError::ServerError(s)) => transient_status(*s),
        MinioError::S3Server(S3ServerError::HttpError(s, _)) => transient_status(*s),
        MinioError::S3Server(S3ServerError::InvalidServerResponse {
            http_status_code, ..
        }) => transient_status(*http_status_code),
        MinioError::S3Server(S3ServerError::S3Error(resp)) => match resp.code() {
            MinioErrorCode::OtherError(c) => CODES.iter().any(|k| c.eq_ignore_ascii_case(k)),
            other => CODES
                .iter()
                .any(|k| other.to_string().eq_ignore_ascii_case(k)),
        },
        _ => false,
    }
}

pub(super) fn backend(what: &str, e: &MinioError) -> BlobError {
    let detail = format!("{what} failed: {}", describe(e));
    if is_transient(e) {
        BlobError::Unavailable(detail)
    } else {
        BlobError::Backend(detail)
    }
}

/// One line for a minio error. Its `Display` is either too terse ("Network error
/// occurred") or several lines (server errors), so this takes the S3 code and message, or
/// the chain of sources below minio's generic top level.
fn describe(e: &MinioError) -> String {
    let inner: &dyn std::error::Error = match e {
        MinioError::S3Server(S3ServerError::S3Error(resp)) => {
            let code = resp.code();
            return match resp.message() {
                Some(m) if !m.is_empty() => one_line(&format!("{code}: {m}")),
                _ => code.to_string(),
            };
        }
        MinioError::S3Server(x) => x,
        MinioError::DriveIo(x) => x,
        MinioError::Network(x) => x,
        MinioError::Validation(x) => x,
    };
    let mut text = inner.to_string();
    let mut source = inner.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    one_line(&text)
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
