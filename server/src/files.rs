//! Folders and files: the area logic between the HTTP handlers and the two stores.
//! Uploads follow DESIGN.md invariant 2: the blob is written under a fresh key and made
//! durable before the metadata that points to it commits.

mod moves;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use dbx_shared::api::ListReply;
use dbx_shared::names::{join, parse_path};
use dbx_shared::ContentHasher;
use futures_util::{Stream, StreamExt};

use crate::changes::ChangeWaker;
use crate::error::{AppError, AppResult};
use crate::failpoints::{fail_blob, fail_db};
use crate::metadata::{
    Db, DeleteCheck, EntryKind, EntryRow, FileTarget, FileWrite, IfMatch, ListPosition, RepoError,
    RepoResult, Repository,
};
use crate::paging;
use crate::storage::{new_blob_key, BlobError, BlobStore, ByteRange, ByteStream};
use crate::tiered_blobs::{is_inline_key, new_inline_key, stream_of};

pub struct Files {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    waker: Arc<dyn ChangeWaker>,
    max_upload_bytes: u64,
    /// Cap on each user's usage, when the server sets one.
    quota_bytes: Option<u64>,
    /// Content of up to this many bytes is kept in the metadata database (0: none is).
    inline_max_bytes: u64,
}

/// An entry and, when it is a file whose content the database keeps (`tiered_blobs`),
/// that content, read in the same call: a download of a small file then costs one call to
/// the database, where the row and then the content would cost two.
#[derive(Clone)]
pub struct ToRead {
    pub entry: EntryRow,
    small: Option<Bytes>,
}

impl From<EntryRow> for ToRead {
    /// An entry whose content is read when it is served.
    fn from(entry: EntryRow) -> Self {
        ToRead { entry, small: None }
    }
}

impl ToRead {
    /// The live entry at `names` (checked names), read within another call to the database.
    pub fn at(r: &dyn Repository, user: &str, names: &[String]) -> RepoResult<Option<ToRead>> {
        r.entry_by_path(user, names)?
            .map(|e| ToRead::read(r, e))
            .transpose()
    }

    fn read(r: &dyn Repository, entry: EntryRow) -> RepoResult<ToRead> {
        let small = match &entry.content {
            Some(c) if is_inline_key(&c.blob_key) => r.inline_blob(&c.blob_key)?.map(Bytes::from),
            _ => None,
        };
        Ok(ToRead { entry, small })
    }
}

/// What an upload asks for, besides its body.
pub struct Upload {
    pub target: FileTarget,
    pub mime_type: Option<String>,
    pub if_match: Option<IfMatch>,
    pub expected_hash: Option<String>,
    pub content_length: Option<u64>,
}

/// Counts and hashes the body as it streams past, and cuts it at the size limit.
#[derive(Default)]
struct Tally {
    hasher: ContentHasher,
    size: u64,
    too_large: bool,
}

fn encode_list_token(p: &ListPosition) -> String {
    paging::encode(&(p.kind as i64).to_string(), &p.name_key)
}

fn decode_list_token(token: &str) -> AppResult<ListPosition> {
    let (kind, name_key) = paging::decode(token)?;
    let kind = match kind.as_str() {
        "0" => EntryKind::Folder,
        "1" => EntryKind::File,
        _ => return Err(AppError::bad_request("the 'after' token is not valid")),
    };
    Ok(ListPosition { kind, name_key })
}

impl Files {
    pub fn new(
        db: Db,
        blobs: Arc<dyn BlobStore>,
        waker: Arc<dyn ChangeWaker>,
        max_upload_bytes: u64,
        quota_bytes: Option<u64>,
        inline_max_bytes: u64,
    ) -> Self {
        Files {
            db,
            blobs,
            waker,
            max_upload_bytes,
            quota_bytes,
            inline_max_bytes,
        }
    }

    pub fn quota_bytes(&self) -> Option<u64> {
        self.quota_bytes
    }

    pub async fn create_folder(
        &self,
        user: &str,
        parent: Option<String>,
        name: &str,
    ) -> AppResult<EntryRow> {
        let name = dbx_shared::names::normalize_name(name)?;
        let u = user.to_string();
        let row = self
            .db
            .run(move |r| r.create_folder(&u, parent.as_deref(), &name, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok(row)
    }

    pub async fn list(
        &self,
        user: &str,
        folder: Option<String>,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<ListReply> {
        let after = after.map(decode_list_token).transpose()?;
        let u = user.to_string();
        let rows = self
            .db
            .run(move |r| r.list_children(&u, folder.as_deref(), after.as_ref(), limit + 1))
            .await?;
        let (rows, next) = paging::page(rows, limit, |e| encode_list_token(&e.position()));
        Ok(ListReply {
            entries: rows.into_iter().map(EntryRow::into_api).collect(),
            next,
        })
    }

    /// A live entry of this user, of the given kind.
    pub async fn entry(&self, user: &str, id: &str, kind: EntryKind) -> AppResult<EntryRow> {
        let (u, i) = (user.to_string(), id.to_string());
        match self.db.run(move |r| r.entry(&u, &i)).await? {
            Some(e) if e.kind == kind => Ok(e),
            _ => Err(AppError::not_found(kind.noun())),
        }
    }

    /// A live file of this user, with its content when that is small (see [`ToRead`]).
    pub async fn file_to_read(&self, user: &str, id: &str) -> AppResult<ToRead> {
        let (u, i) = (user.to_string(), id.to_string());
        self.db
            .run(move |r| {
                r.entry(&u, &i)?
                    .filter(|e| e.kind == EntryKind::File)
                    .map(|e| ToRead::read(r, e))
                    .transpose()
            })
            .await?
            .ok_or_else(|| AppError::not_found(EntryKind::File.noun()))
    }

    /// The bytes of `file` (or a range of them), from what was read with it when it could,
    /// else streamed from the blob store.
    pub async fn read(&self, file: &ToRead, range: Option<ByteRange>) -> AppResult<ByteStream> {
        if let Some(data) = &file.small {
            return Ok(stream_of(data.clone(), range));
        }
        let c = file
            .entry
            .content
            .as_ref()
            .ok_or_else(|| AppError::internal("a file row without content"))?;
        // The whole content as a range: a store then knows the length up front (S3 reads
        // a long one by windows).
        let range = range.or((c.size > 0).then_some(ByteRange {
            start: 0,
            len: c.size,
        }));
        Ok(self.blobs.get(&c.blob_key, range).await?)
    }

    pub async fn entry_at(&self, user: &str, path: &str) -> AppResult<EntryRow> {
        let names = parse_path(path)?;
        let u = user.to_string();
        self.db
            .run(move |r| r.entry_by_path(&u, &names))
            .await?
            .ok_or_else(|| AppError::not_found("entry"))
    }

    /// Deletes a file or folder if `check` holds.
    pub async fn delete(
        &self,
        user: &str,
        id: &str,
        kind: EntryKind,
        check: DeleteCheck,
    ) -> AppResult<()> {
        let (u, i) = (user.to_string(), id.to_string());
        self.db
            .run(move |r| r.delete_entry(&u, &i, kind, &check, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok(())
    }

    pub async fn usage(&self, user: &str) -> AppResult<u64> {
        let u = user.to_string();
        Ok(self.db.run(move |r| r.usage_bytes(&u)).await?)
    }

    /// Refuses early what would fail at commit anyway, before any byte is read.
    pub(crate) async fn precheck(&self, user: &str, up: &Upload) -> AppResult<()> {
        fail_db!("upload.precheck");
        if up.content_length.is_some_and(|n| n > self.max_upload_bytes) {
            return Err(AppError::PayloadTooLarge(self.max_upload_bytes));
        }
        let current = match &up.target {
            FileTarget::InFolder { parent_id, name } => {
                let folder_path = match parent_id {
                    Some(id) => self.entry(user, id, EntryKind::Folder).await?.path,
                    None => "/".to_string(),
                };
                let names = parse_path(&join(&folder_path, name))?;
                let u = user.to_string();
                self.db.run(move |r| r.entry_by_path(&u, &names)).await?
            }
            FileTarget::Path(names) => {
                let (u, names) = (user.to_string(), names.clone());
                self.db.run(move |r| r.entry_by_path(&u, &names)).await?
            }
        };
        let content = current.as_ref().and_then(|e| e.content.as_ref());
        let version = current
            .as_ref()
            .and_then(|e| Some((e.id.as_str(), e.content.as_ref()?.version)));
        if up.if_match.as_ref().is_some_and(|p| !p.allows(version)) {
            return Err(AppError::PreconditionFailed);
        }
        match (self.quota_bytes, up.content_length) {
            (Some(quota), Some(len)) => {
                let replaced = content.map_or(0, |c| c.size);
                self.check_quota(user, quota, replaced, len).await
            }
            _ => Ok(()),
        }
    }

    /// 507 when replacing `removed` bytes with `added` would take the user past `quota`.
    /// Only a first look: the commit checks again inside its transaction.
    async fn check_quota(&self, user: &str, quota: u64, removed: u64, added: u64) -> AppResult<()> {
        if added <= removed {
            return Ok(());
        }
        let usage = self.usage(user).await?;
        if usage.saturating_sub(removed).saturating_add(added) > quota {
            return Err(AppError::QuotaExceeded);
        }
        Ok(())
    }

    /// Streams `body` into a fresh blob and commits it as the file's new version; content
    /// of up to `inline_max_bytes` goes into the database with the version instead.
    /// Returns the entry and whether the file is new.
    pub async fn upload<S, B, E>(
        &self,
        user: &str,
        up: Upload,
        body: S,
    ) -> AppResult<(EntryRow, bool)>
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: bytes::Buf + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.precheck(user, &up).await?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let counted = counting_stream(body, tally.clone(), self.max_upload_bytes);
        let stored = self.store_body(user, counted).await;
        let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
        let (key, inline) = match stored {
            Ok(stored) => stored,
            Err(BlobError::Body(_)) if tally.too_large => {
                return Err(AppError::PayloadTooLarge(self.max_upload_bytes))
            }
            Err(BlobError::Body(e)) => {
                return Err(AppError::bad_request(format!(
                    "the upload was interrupted: {e}"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let hash = tally.hasher.finalize();
        self.commit_blob(user, up, key, inline, tally.size, hash)
            .await
    }

    /// Commits the durable blob at `key` (`size` bytes with content hash `hash`), or the
    /// `inline` content to be kept under `key` in the same transaction, as the file's new
    /// version, as every upload does: the declared hash is checked, the preconditions and
    /// the quota hold, the change is logged. Content the account already holds is kept
    /// once: the file then points to that blob and this one is removed, as it is when the
    /// commit is refused. Returns the entry and whether the file is new.
    pub async fn commit_blob(
        &self,
        user: &str,
        up: Upload,
        key: String,
        inline: Option<Bytes>,
        size: u64,
        hash: String,
    ) -> AppResult<(EntryRow, bool)> {
        if up
            .expected_hash
            .as_ref()
            .is_some_and(|h| !h.eq_ignore_ascii_case(&hash))
        {
            self.discard(&key).await;
            return Err(AppError::ChecksumMismatch);
        }
        let mime_type = up.mime_type.unwrap_or_else(|| guess_mime(&up.target));
        let write = FileWrite {
            target: up.target,
            blob_key: key.clone(),
            size,
            mime_type,
            content_hash: hash,
            if_match: up.if_match,
            quota_bytes: self.quota_bytes,
            dedup: true,
            inline,
        };
        let u = user.to_string();
        match self
            .db
            .run(move |r| r.put_file(&u, &write, Utc::now()))
            .await
        {
            Ok(out) => {
                self.waker.notify(user);
                if out
                    .entry
                    .content
                    .as_ref()
                    .is_some_and(|c| c.blob_key != key)
                {
                    // The account held this content already: its blob serves both.
                    self.discard(&key).await;
                }
                // The replaced version's blob stays until gc's grace period has passed,
                // so downloads already streaming it finish.
                Ok((out.entry, out.created))
            }
            Err(e) => {
                // A refusal rolled back, so nothing points to the blob. A backend failure
                // may have come after the commit (a lost reply, a timed-out call that went
                // on to commit): the blob then stays, and gc removes it only if no row
                // points to it (DESIGN.md invariant 2).
                if !matches!(e, RepoError::Backend(_) | RepoError::Unavailable(_)) {
                    self.discard(&key).await;
                }
                Err(e.into())
            }
        }
    }

    /// Makes a file at `target` from content this account already holds (`by-hash`),
    /// without its bytes: `NotFound` when it holds no content with that hash and size.
    pub async fn create_from_hash(
        &self,
        user: &str,
        target: FileTarget,
        hash: String,
        size: u64,
        if_match: Option<IfMatch>,
    ) -> AppResult<(EntryRow, bool)> {
        let write = FileWrite {
            mime_type: guess_mime(&target),
            target,
            blob_key: String::new(),
            size,
            content_hash: hash.to_ascii_lowercase(),
            if_match,
            quota_bytes: self.quota_bytes,
            dedup: true,
            inline: None,
        };
        let u = user.to_string();
        let out = self
            .db
            .run(move |r| r.put_file(&u, &write, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok((out.entry, out.created))
    }

    /// Makes a file at `target` with the content of the file `source_id`, sharing its
    /// blob (nothing is copied in the blob store). Returns the entry and whether it is new.
    pub async fn copy_file(
        &self,
        user: &str,
        source_id: &str,
        target: FileTarget,
    ) -> AppResult<(EntryRow, bool)> {
        let (u, src, quota) = (user.to_string(), source_id.to_string(), self.quota_bytes);
        let out = self
            .db
            .run(move |r| r.copy_file(&u, &src, &target, quota, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok((out.entry, out.created))
    }

    /// Stores an upload's body: a durable blob under a fresh key, or, when it is no longer
    /// than `inline_max_bytes`, nothing yet (the commit keeps it). Returns the key and the
    /// content to keep inline.
    async fn store_body(
        &self,
        user: &str,
        mut body: ByteStream,
    ) -> Result<(String, Option<Bytes>), BlobError> {
        match read_head(&mut body, self.inline_max_bytes)
            .await
            .map_err(BlobError::Body)?
        {
            Head::Whole(data) => Ok((new_inline_key(user), Some(data))),
            Head::Start(pieces) => {
                let key = new_blob_key(user);
                let body = futures_util::stream::iter(pieces.into_iter().map(Ok)).chain(body);
                self.put_blob(&key, Box::pin(body)).await?;
                Ok((key, None))
            }
        }
    }

    async fn put_blob(&self, key: &str, body: ByteStream) -> Result<u64, BlobError> {
        fail_blob!("upload.blob_put");
        self.blobs.put(key, body).await
    }

    /// Best effort: a blob nothing points to; gc removes it if this fails. Inline content
    /// is written only by the commit that keeps it, so under an inline key there is none.
    async fn discard(&self, key: &str) {
        if is_inline_key(key) {
            return;
        }
        if let Err(e) = self.delete_blob(key).await {
            tracing::warn!(key, error = %e, "could not remove an unused blob; gc will");
        }
    }

    async fn delete_blob(&self, key: &str) -> Result<(), BlobError> {
        fail_blob!("upload.discard");
        self.blobs.delete(key).await
    }
}

fn guess_mime(target: &FileTarget) -> String {
    let name = match target {
        FileTarget::Path(names) => names.last().map(String::as_str).unwrap_or(""),
        FileTarget::InFolder { name, .. } => name,
    };
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// The start of an upload's body: all of it when it is no longer than the inline limit.
enum Head {
    Whole(Bytes),
    Start(Vec<Bytes>),
}

/// Reads `body` until it ends or passes `limit` bytes; with a limit of 0, reads nothing.
async fn read_head(body: &mut ByteStream, limit: u64) -> std::io::Result<Head> {
    let mut pieces = Vec::new();
    if limit == 0 {
        return Ok(Head::Start(pieces));
    }
    let mut size = 0u64;
    while let Some(piece) = body.next().await {
        let piece = piece?;
        size += piece.len() as u64;
        pieces.push(piece);
        if size > limit {
            return Ok(Head::Start(pieces));
        }
    }
    Ok(Head::Whole(match pieces.len() {
        1 => pieces.remove(0),
        _ => pieces.concat().into(),
    }))
}

fn counting_stream<S, B, E>(body: S, tally: Arc<Mutex<Tally>>, limit: u64) -> ByteStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: bytes::Buf + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Box::pin(body.map(move |piece| {
        let mut piece = piece.map_err(std::io::Error::other)?;
        let bytes: Bytes = piece.copy_to_bytes(piece.remaining());
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        t.size += bytes.len() as u64;
        if t.size > limit {
            t.too_large = true;
            return Err(std::io::Error::other("the body is over the upload limit"));
        }
        t.hasher.update(&bytes);
        Ok(bytes)
    }))
}
