//! Small content in the metadata database, the rest in the blob store, behind one
//! `BlobStore`: an object store pays a whole request for each tiny object, where a row in
//! the version's own transaction costs little more. A key says which tier holds it (its
//! last part starts with `inline-`), so a read never asks both. Uploads write small content
//! with the version (`FileWrite::inline`), never through `put`; everything else that reads,
//! lists or removes blobs (downloads, `gc`, `check`) goes through this store and sees both
//! tiers as one.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::metadata::{Db, RepoError};
use crate::storage::{BlobError, BlobInfo, BlobResult, BlobStore, ByteRange, ByteStream, Staged};

/// What the last part of an inline key starts with.
const INLINE_MARK: &str = "inline-";

/// The key of new small content of this user, kept in the database.
pub fn new_inline_key(user_id: &str) -> String {
    format!("user/{user_id}/{INLINE_MARK}{}", uuid::Uuid::now_v7())
}

pub fn is_inline_key(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|last| last.starts_with(INLINE_MARK))
}

pub struct TieredBlobs {
    db: Db,
    large: Arc<dyn BlobStore>,
}

impl TieredBlobs {
    pub fn new(db: Db, large: Arc<dyn BlobStore>) -> Self {
        TieredBlobs { db, large }
    }
}

fn repo_err(e: RepoError) -> BlobError {
    match e {
        RepoError::Unavailable(m) => BlobError::Unavailable(m),
        e => BlobError::Backend(e.to_string()),
    }
}

/// Content read from the database as a blob store's stream: the part a range asks for.
pub fn stream_of(data: Bytes, range: Option<ByteRange>) -> ByteStream {
    let piece = slice(data, range);
    Box::pin(futures_util::stream::once(async move { Ok(piece) }))
}

/// The part of `data` a range asks for, cut at its end.
fn slice(data: Bytes, range: Option<ByteRange>) -> Bytes {
    match range {
        None => data,
        Some(r) => {
            let len = data.len() as u64;
            let start = r.start.min(len);
            let end = r.start.saturating_add(r.len).min(len);
            data.slice(start as usize..end as usize)
        }
    }
}

#[async_trait]
impl BlobStore for TieredBlobs {
    async fn put(&self, key: &str, body: ByteStream) -> BlobResult<u64> {
        if is_inline_key(key) {
            // Such content is written in its version's transaction, never on its own.
            return Err(BlobError::Backend(format!(
                "{key} is kept in the database: it is written with its version"
            )));
        }
        self.large.put(key, body).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> BlobResult<ByteStream> {
        if !is_inline_key(key) {
            return self.large.get(key, range).await;
        }
        let k = key.to_string();
        let data = self
            .db
            .run(move |r| r.inline_blob(&k))
            .await
            .map_err(repo_err)?
            .ok_or_else(|| BlobError::NotFound(key.to_string()))?;
        Ok(stream_of(Bytes::from(data), range))
    }

    async fn stat(&self, key: &str) -> BlobResult<Option<BlobInfo>> {
        if !is_inline_key(key) {
            return self.large.stat(key).await;
        }
        let k = key.to_string();
        self.db
            .run(move |r| r.inline_blob_info(&k))
            .await
            .map_err(repo_err)
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        if !is_inline_key(key) {
            return self.large.delete(key).await;
        }
        let k = key.to_string();
        self.db
            .run(move |r| r.delete_inline_blob(&k))
            .await
            .map_err(repo_err)
    }

    async fn list(&self, prefix: &str) -> BlobResult<Vec<BlobInfo>> {
        let mut all = self.large.list(prefix).await?;
        let p = prefix.to_string();
        let small = self.db.run(move |r| r.inline_blobs(&p)).await;
        all.extend(small.map_err(repo_err)?);
        Ok(all)
    }

    async fn remove_stale_uploads(
        &self,
        older_than: DateTime<Utc>,
        dry_run: bool,
    ) -> BlobResult<u64> {
        self.large.remove_stale_uploads(older_than, dry_run).await
    }

    // Resumable uploads are for large content: they always stage in the blob store.
    async fn stage(&self, id: &str, key: &str) -> BlobResult<Staged> {
        self.large.stage(id, key).await
    }

    async fn append_staged(
        &self,
        staged: &Staged,
        body: ByteStream,
        length: u64,
    ) -> BlobResult<Staged> {
        self.large.append_staged(staged, body, length).await
    }

    async fn read_staged(&self, staged: &Staged, start: u64) -> BlobResult<ByteStream> {
        self.large.read_staged(staged, start).await
    }

    async fn complete_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.large.complete_staged(staged).await
    }

    async fn abort_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.large.abort_staged(staged).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_keys_are_told_apart_by_their_last_part() {
        let key = new_inline_key("u1");
        assert!(key.starts_with("user/u1/inline-"));
        assert!(is_inline_key(&key));
        assert!(!is_inline_key(&crate::storage::new_blob_key("u1")));
        assert!(!is_inline_key("user/inline-user/0190"));
    }

    #[test]
    fn a_range_is_cut_at_the_content_end() {
        let data = Bytes::from_static(b"0123456789");
        let r = |start, len| Some(ByteRange { start, len });
        assert_eq!(slice(data.clone(), None), data);
        assert_eq!(&slice(data.clone(), r(2, 3))[..], b"234");
        assert_eq!(&slice(data.clone(), r(8, 10))[..], b"89");
        assert!(slice(data, r(12, 1)).is_empty());
    }
}
