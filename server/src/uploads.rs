//! Resumable uploads (the model of tus 1.0.0, without HTTP): an upload is created with its
//! length and target path, takes its bytes in appends at the offset the server holds, and
//! is committed as a file (exactly as a `PUT` is, by `Files::commit_blob`) when the last
//! byte arrives. Its state lives in the database and its bytes in the blob store (staged:
//! an S3 multipart upload, or a partial file), so it survives a restart and any server
//! process can continue it.
//!
//! An append holds the upload's lease, taken by compare-and-set in the database and
//! renewed while it runs, so two requests (in one process or several) never write one
//! upload at once: the second gets a conflict.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dbx_shared::content_hash::BLOCK_SIZE;
use dbx_shared::names::parse_path;
use dbx_shared::ContentHasher;
use futures_util::{Stream, StreamExt};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::files::{Files, Upload};
use crate::metadata::{
    new_id, Db, EntryRow, FileTarget, IfMatch, RepoError, UploadLease, UploadRow,
};
use crate::storage::{drop_replaced_tail, new_blob_key, BlobError, BlobStore, ByteStream};

/// How long an upload lives without progress (tus `expiration`), by default.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a lease holds without renewal: a process that dies mid-append blocks its
/// upload for at most this long.
const LEASE: Duration = Duration::from_secs(30);
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// How many expired uploads one gc run aborts at most.
const GC_BATCH: usize = 10_000;

/// What a new upload asks for (tus `Upload-Length` and `Upload-Metadata`).
pub struct NewUpload {
    pub length: u64,
    pub path: String,
    pub if_match: Option<String>,
    /// `if_none_match *`: commit only as a new file.
    pub only_new: bool,
    pub content_hash: Option<String>,
}

/// The row's `if_match` for `If-None-Match: *`: no `If-Match` value looks like it.
const ONLY_NEW: &str = "!*";

/// A piece's declared checksum (tus `Upload-Checksum`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

/// Where an append left the upload.
pub enum Appended {
    /// More bytes are expected; the upload is at this offset.
    Partial(u64),
    /// The last byte arrived and the file was committed.
    Done(Box<EntryRow>),
}

pub struct Uploads {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    files: Arc<Files>,
    max_upload_bytes: u64,
    expiry: Duration,
}

/// The bytes of one append as they stream past: counted, hashed into the file's content
/// hash, and into the piece's checksum when one was declared.
struct Piece {
    hasher: ContentHasher,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    size: u64,
    too_long: bool,
}

impl Piece {
    fn matches(&mut self, declared: &Checksum) -> bool {
        match declared {
            Checksum::Sha1(d) => self.sha1.take().is_some_and(|h| h.finalize()[..] == d[..]),
            Checksum::Sha256(d) => self
                .sha256
                .take()
                .is_some_and(|h| h.finalize()[..] == d[..]),
        }
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn new_lease(now: DateTime<Utc>) -> UploadLease {
    UploadLease {
        id: new_id(),
        now,
        until: now + chrono(LEASE),
    }
}

impl Uploads {
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        files: Arc<Files>,
        max_upload_bytes: u64,
        expiry: Duration,
    ) -> Self {
        Uploads {
            db,
            blobs,
            files,
            max_upload_bytes,
            expiry,
        }
    }

    /// The largest upload accepted (tus `Tus-Max-Size`).
    pub fn max_size(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Creates an upload after the checks a `PUT` makes before its body (path,
    /// preconditions, quota from the length, declared hash).
    pub async fn create(&self, user: &str, new: NewUpload) -> AppResult<UploadRow> {
        if new.length > self.max_upload_bytes {
            return Err(AppError::PayloadTooLarge(self.max_upload_bytes));
        }
        let content_hash = new.content_hash.map(|h| h.to_ascii_lowercase());
        if content_hash
            .as_deref()
            .is_some_and(|h| !dbx_shared::content_hash::is_valid(h))
        {
            return Err(AppError::bad_request(
                "the content_hash metadata must be 64 hex digits",
            ));
        }
        let now = Utc::now();
        let mut row = UploadRow {
            user_id: user.to_string(),
            length: new.length,
            path: new.path,
            if_match: match (new.if_match, new.only_new) {
                (Some(_), true) => {
                    return Err(AppError::bad_request(
                        "give the if_match or the if_none_match metadata, not both",
                    ))
                }
                (_, true) => Some(ONLY_NEW.to_string()),
                (m, false) => m,
            },
            content_hash,
            staged: Default::default(),
            block_digests: Vec::new(),
            created_at: now,
            expires_at: now + chrono(self.expiry),
        };
        let up = upload_of(&row)?;
        self.files.precheck(user, &up).await?;
        row.staged = self.blobs.stage(&new_id(), &new_blob_key(user)).await?;
        let insert = row.clone();
        if let Err(e) = self.db.run(move |r| r.create_upload(&insert)).await {
            self.abort_quietly(&row);
            return Err(e.into());
        }
        Ok(row)
    }

    /// One of this user's uploads that has not expired (tus `HEAD`).
    pub async fn status(&self, user: &str, id: &str) -> AppResult<UploadRow> {
        let (u, i) = (user.to_string(), id.to_string());
        let row = self
            .db
            .run(move |r| r.upload(&u, &i))
            .await?
            .ok_or_else(|| AppError::not_found("upload"))?;
        if row.expires_at <= Utc::now() {
            return Err(AppError::Gone("the upload expired".into()));
        }
        Ok(row)
    }

    /// Appends `body` at `offset` (tus `PATCH`). A body cut short keeps what arrived,
    /// unless it declared a checksum. The work runs on a task of its own, so that a
    /// client that goes away mid-body still has what arrived stored and the lease freed.
    pub async fn append<S, B, E>(
        self: &Arc<Self>,
        user: &str,
        id: &str,
        offset: u64,
        body: S,
        checksum: Option<Checksum>,
    ) -> AppResult<Appended>
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: bytes::Buf + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let this = self.clone();
        let (user, id) = (user.to_string(), id.to_string());
        let keep_cut = checksum.is_none();
        let body = body_stream(body, keep_cut);
        let task = tokio::spawn(async move {
            let lease = new_lease(Utc::now());
            let row = this.claim(&user, &id, Some(offset), &lease).await?;
            if row.staged.offset == row.length {
                // Every byte is here (an earlier final request failed before the end).
                return this
                    .finish(row, lease)
                    .await
                    .map(|e| Appended::Done(Box::new(e)));
            }
            let remaining = row.length - row.staged.offset;
            let written = this
                .write_piece(&row, &lease, body, remaining, checksum)
                .await;
            let next = match written {
                Ok(next) => next,
                Err(e) => {
                    this.release(&id, &lease).await;
                    return Err(e);
                }
            };
            if next.staged.offset < next.length {
                return Ok(Appended::Partial(next.staged.offset));
            }
            let lease = new_lease(Utc::now());
            let row = this.claim(&user, &id, Some(next.length), &lease).await?;
            this.finish(row, lease)
                .await
                .map(|e| Appended::Done(Box::new(e)))
        });
        task.await?
    }

    /// Abandons an upload (tus `DELETE`): its staged bytes and its row go.
    pub async fn terminate(&self, user: &str, id: &str) -> AppResult<()> {
        let lease = new_lease(Utc::now());
        let (u, i, l) = (user.to_string(), id.to_string(), lease.clone());
        let row = self
            .db
            .run(move |r| r.claim_upload(&u, &i, None, &l))
            .await?;
        abort(&self.db, self.blobs.as_ref(), &row).await
    }

    /// Takes the lease of a live upload at `offset`.
    async fn claim(
        &self,
        user: &str,
        id: &str,
        offset: Option<u64>,
        lease: &UploadLease,
    ) -> AppResult<UploadRow> {
        let (u, i, l) = (user.to_string(), id.to_string(), lease.clone());
        let row = self
            .db
            .run(move |r| r.claim_upload(&u, &i, offset, &l))
            .await?;
        if row.expires_at <= lease.now {
            self.release(id, lease).await;
            return Err(AppError::Gone("the upload expired".into()));
        }
        Ok(row)
    }

    /// Best effort: a lease not released expires on its own.
    async fn release(&self, id: &str, lease: &UploadLease) {
        let (i, l) = (id.to_string(), lease.id.clone());
        if let Err(e) = self.db.run(move |r| r.release_upload(&i, &l)).await {
            tracing::warn!(upload = id, error = %e, "could not release an upload's lease");
        }
    }

    /// Streams one piece into the staged upload and stores the new state.
    async fn write_piece(
        &self,
        row: &UploadRow,
        lease: &UploadLease,
        body: ByteStream,
        remaining: u64,
        checksum: Option<Checksum>,
    ) -> AppResult<UploadRow> {
        let piece = Arc::new(Mutex::new(Piece {
            hasher: self.resume_hasher(row).await?,
            sha1: matches!(checksum, Some(Checksum::Sha1(_))).then(Sha1::new),
            sha256: matches!(checksum, Some(Checksum::Sha256(_))).then(Sha256::new),
            size: 0,
            too_long: false,
        }));
        let stream = piece_stream(body, piece.clone(), remaining);
        let append = self.blobs.append_staged(&row.staged, stream, row.length);
        let appended = self.with_lease(&row.staged.id, lease, append).await;
        let mut piece = take_piece(&piece);
        let staged = match appended {
            Ok(staged) => staged,
            Err(_) if piece.too_long => {
                return Err(AppError::bad_request(
                    "the body goes past the upload's Upload-Length",
                ))
            }
            Err(e) => return Err(e),
        };
        let mut next = row.clone();
        next.staged = staged;
        if let Some(declared) = &checksum {
            if !piece.matches(declared) {
                self.drop_tail(&next, row).await;
                return Err(AppError::PieceChecksumMismatch);
            }
        }
        next.block_digests = if next.staged.offset == next.length {
            // Finished: the last block's digest too, so the hash needs no bytes again.
            piece.hasher.into_block_digests()
        } else {
            piece.hasher.block_digests().to_vec()
        };
        next.expires_at = Utc::now() + chrono(self.expiry);
        let (save, lease_id) = (next.clone(), lease.id.clone());
        match self.db.run(move |r| r.save_upload(&save, &lease_id)).await {
            Ok(true) => {}
            Ok(false) => {
                self.drop_tail(&next, row).await;
                return Err(AppError::Conflict(
                    "another request took over this upload".into(),
                ));
            }
            // It may have been stored: the new tail stays (abort removes every tail).
            Err(e) => return Err(e.into()),
        }
        self.drop_tail(row, &next).await;
        Ok(next)
    }

    /// Runs `work` while renewing the lease; gives up (409) if the lease is lost.
    async fn with_lease<T>(
        &self,
        id: &str,
        lease: &UploadLease,
        work: impl std::future::Future<Output = Result<T, BlobError>>,
    ) -> AppResult<T> {
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done.map_err(|e| match e {
                    BlobError::Body(e) => {
                        AppError::bad_request(format!("the upload was interrupted: {e}"))
                    }
                    other => other.into(),
                }),
                () = tokio::time::sleep(RENEW_EVERY) => {
                    let now = Utc::now();
                    let renewed = UploadLease { until: now + chrono(LEASE), now, ..lease.clone() };
                    let i = id.to_string();
                    if !self.db.run(move |r| r.renew_upload_lease(&i, &renewed)).await? {
                        return Err(AppError::Conflict(
                            "another request took over this upload".into(),
                        ));
                    }
                }
            }
        }
    }

    /// The content hasher as of the upload's offset: the stored digests of its whole
    /// blocks, then the bytes of the unfinished block read back from the store.
    async fn resume_hasher(&self, row: &UploadRow) -> AppResult<ContentHasher> {
        let block = BLOCK_SIZE as u64;
        let whole = row.staged.offset / block;
        if row.block_digests.len() as u64 != whole * 32 {
            return Err(AppError::internal(format!(
                "upload {} has {} bytes of block digests for offset {}",
                row.staged.id,
                row.block_digests.len(),
                row.staged.offset
            )));
        }
        let mut hasher = ContentHasher::resume(row.block_digests.clone());
        let start = whole * block;
        if start < row.staged.offset {
            let mut bytes = self.blobs.read_staged(&row.staged, start).await?;
            while let Some(piece) = bytes.next().await {
                let piece = piece.map_err(|e| AppError::internal(format!("reading back: {e}")))?;
                hasher.update(&piece);
            }
        }
        Ok(hasher)
    }

    /// Completes the staged bytes and commits them as the file, under the lease. Once
    /// the commit has answered (a file, or a refusal that removed the blob), the upload
    /// is gone; when the database or store failed, it stays to be finished again.
    async fn finish(&self, row: UploadRow, lease: UploadLease) -> AppResult<EntryRow> {
        let id = row.staged.id.clone();
        let hash = ContentHasher::resume(row.block_digests.clone()).finalize();
        let up = upload_of(&row)?;
        let committed = match self.blobs.complete_staged(&row.staged).await {
            Ok(()) => {
                self.files
                    .commit_blob(
                        &row.user_id,
                        up,
                        row.staged.key.clone(),
                        None,
                        row.length,
                        hash,
                    )
                    .await
            }
            Err(e) => Err(e.into()),
        };
        match &committed {
            Err(AppError::Internal(_) | AppError::Unavailable(_)) => {
                self.release(&id, &lease).await
            }
            _ => {
                let i = id.clone();
                if let Err(e) = self.db.run(move |r| r.delete_upload(&i)).await {
                    tracing::warn!(upload = id, error = %e, "could not forget a finished upload");
                }
            }
        }
        committed.map(|(entry, _)| entry)
    }

    /// Best effort: removes the tail `old` has and `kept` does not; a tail left behind
    /// goes when the upload completes or is aborted.
    async fn drop_tail(&self, old: &UploadRow, kept: &UploadRow) {
        if let Err(e) = drop_replaced_tail(self.blobs.as_ref(), &old.staged, &kept.staged).await {
            tracing::warn!(upload = old.staged.id, error = %e, "could not remove a tail object");
        }
    }

    fn abort_quietly(&self, row: &UploadRow) {
        let (blobs, staged) = (self.blobs.clone(), row.staged.clone());
        tokio::spawn(async move {
            if let Err(e) = blobs.abort_staged(&staged).await {
                tracing::warn!(upload = staged.id, error = %e, "could not abort a staged upload");
            }
        });
    }
}

/// The `Upload` a finished upload commits as: its path, precondition and declared hash.
fn upload_of(row: &UploadRow) -> AppResult<Upload> {
    let names = parse_path(&row.path)?;
    if names.is_empty() {
        return Err(AppError::bad_request("the path must name a file"));
    }
    let if_match = row
        .if_match
        .as_deref()
        .map(|v| {
            if v == ONLY_NEW {
                return Ok(IfMatch::Absent);
            }
            IfMatch::parse(v).ok_or_else(|| {
                AppError::bad_request(
                    "the if_match metadata must be \"<version>\", \"<file id>:<version>\" or *",
                )
            })
        })
        .transpose()?;
    Ok(Upload {
        target: FileTarget::Path(names),
        mime_type: None,
        if_match,
        expected_hash: row.content_hash.clone(),
        content_length: Some(row.length),
    })
}

/// Aborts an upload whose lease the caller holds: its staged bytes, then its row (so a
/// failure in between leaves the row, and the abort is tried again).
async fn abort(db: &Db, blobs: &dyn BlobStore, row: &UploadRow) -> AppResult<()> {
    blobs.abort_staged(&row.staged).await?;
    let id = row.staged.id.clone();
    db.run(move |r| r.delete_upload(&id)).await?;
    Ok(())
}

/// For gc: aborts the uploads that expired before `now` (24 hours without progress by
/// default) and that no request holds, from their rows: no listing of the store needed.
/// Returns how many (or, with `dry_run`, would be).
pub async fn abort_expired(
    db: &Db,
    blobs: &dyn BlobStore,
    now: DateTime<Utc>,
    dry_run: bool,
) -> AppResult<u64> {
    let expired = db.run(move |r| r.expired_uploads(now, GC_BATCH)).await?;
    if dry_run {
        return Ok(expired.len() as u64);
    }
    let mut aborted = 0;
    for row in expired {
        let lease = new_lease(now);
        let (u, i) = (row.user_id.clone(), row.staged.id.clone());
        // Taken again, in case a request has just picked it up.
        let row = match db.run(move |r| r.claim_upload(&u, &i, None, &lease)).await {
            Ok(row) => row,
            Err(RepoError::Conflict(_) | RepoError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        abort(db, blobs, &row).await?;
        aborted += 1;
    }
    Ok(aborted)
}

fn take_piece(piece: &Arc<Mutex<Piece>>) -> Piece {
    let mut guard = piece.lock().unwrap_or_else(|p| p.into_inner());
    std::mem::replace(
        &mut *guard,
        Piece {
            hasher: ContentHasher::new(),
            sha1: None,
            sha256: None,
            size: 0,
            too_long: false,
        },
    )
}

/// The request body as pieces of bytes. When the client goes away mid-body and
/// `keep_cut`, the stream just ends there (what arrived is kept, as tus wants); otherwise
/// it fails.
fn body_stream<S, B, E>(body: S, keep_cut: bool) -> ByteStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: bytes::Buf + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Box::pin(body.scan((), move |_, item| {
        std::future::ready(match item {
            Ok(mut buf) => Some(Ok(buf.copy_to_bytes(buf.remaining()))),
            Err(_) if keep_cut => None,
            Err(e) => Some(Err(std::io::Error::other(e))),
        })
    }))
}

/// The body of one append: at most `remaining` bytes, hashed as they pass.
fn piece_stream(body: ByteStream, piece: Arc<Mutex<Piece>>, remaining: u64) -> ByteStream {
    Box::pin(body.map(move |item| {
        let bytes: Bytes = item?;
        let mut p = piece.lock().unwrap_or_else(|p| p.into_inner());
        p.size += bytes.len() as u64;
        if p.size > remaining {
            p.too_long = true;
            return Err(std::io::Error::other(
                "the body goes past the upload's length",
            ));
        }
        p.hasher.update(&bytes);
        if let Some(h) = p.sha1.as_mut() {
            h.update(&bytes);
        }
        if let Some(h) = p.sha256.as_mut() {
            h.update(&bytes);
        }
        Ok(bytes)
    }))
}
