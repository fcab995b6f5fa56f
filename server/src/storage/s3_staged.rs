//! Staged uploads on S3, after tusd's S3 store: one multipart upload per staged upload,
//! started when it is staged. Bytes go up in parts of exactly [`STAGED_PART_SIZE`]; what
//! an append leaves over (less than a part) is stored as a tail object under
//! [`staged_prefix`], read back and joined to the next append's first part. The last
//! append sends the rest as the last part, and completion only assembles the parts.

use bytes::Bytes;
use futures_util::StreamExt;
use minio::s3::error::{Error as MinioError, S3ServerError};
use minio::s3::minio_error_response::MinioErrorCode;
use minio::s3::response_traits::HasEtagFromHeaders;
use minio::s3::segmented_bytes::SegmentedBytes;
use minio::s3::types::{ETag, PartInfo, S3Api};

use super::s3::{backend, object_key, retry, S3BlobStore};
use super::{
    staged_prefix, BlobError, BlobResult, BlobStore, ByteRange, ByteStream, Staged,
    STAGED_PART_SIZE,
};

/// S3's limit on the parts of one upload.
const MAX_PARTS: usize = 10_000;

fn multipart_id(staged: &Staged) -> BlobResult<&str> {
    staged
        .multipart_id
        .as_deref()
        .ok_or_else(|| BlobError::Backend(format!("upload {} has no multipart id", staged.id)))
}

fn is_no_such_upload(e: &MinioError) -> bool {
    match e {
        MinioError::S3Server(S3ServerError::S3Error(resp)) => matches!(
            resp.code(),
            MinioErrorCode::OtherError(c) if c.eq_ignore_ascii_case("NoSuchUpload")
        ),
        _ => false,
    }
}

impl S3BlobStore {
    pub(super) async fn s3_stage(&self, id: &str, key: &str) -> BlobResult<Staged> {
        let object = object_key(key)?;
        let what = format!("S3 multipart start of {key}");
        let resp = retry(&what, || {
            let request = self
                .client
                .create_multipart_upload(&self.bucket, object.clone());
            async move { request?.build().send().await }
        })
        .await
        .map_err(|f| f.into_blob_error(&what))?;
        let upload_id = resp
            .upload_id()
            .await
            .map_err(|e| BlobError::Backend(format!("{what}: {e}")))?;
        Ok(Staged {
            id: id.to_string(),
            key: key.to_string(),
            multipart_id: Some(upload_id.to_string()),
            ..Staged::default()
        })
    }

    pub(super) async fn s3_append(
        &self,
        staged: &Staged,
        mut body: ByteStream,
        length: u64,
    ) -> BlobResult<Staged> {
        let part_size = STAGED_PART_SIZE as usize;
        let mut next = staged.clone();
        // The tail joins this append's first part: at most one part is held.
        let mut part = SegmentedBytes::new();
        if let Some(tail) = &staged.tail_key {
            let mut bytes = self.get(tail, None).await?;
            while let Some(piece) = bytes.next().await {
                part.append(piece.map_err(|e| BlobError::Backend(format!("tail {tail}: {e}")))?);
            }
        }
        let held = staged.offset - staged.parts.len() as u64 * STAGED_PART_SIZE;
        if part.len() as u64 != held {
            return Err(BlobError::Backend(format!(
                "the tail of upload {} has {} bytes, not {held}",
                staged.id,
                part.len()
            )));
        }
        while let Some(piece) = body.next().await {
            let mut piece: Bytes = piece.map_err(BlobError::Body)?;
            next.offset += piece.len() as u64;
            while !piece.is_empty() {
                let take = (part_size - part.len()).min(piece.len());
                part.append(piece.split_to(take));
                if part.len() == part_size {
                    let full = std::mem::take(&mut part);
                    let etag = self.upload_part(staged, next.parts.len() + 1, full).await?;
                    next.parts.push(etag);
                }
            }
        }
        next.tail_key = None;
        if part.is_empty() {
            return Ok(next);
        }
        if next.offset >= length {
            let etag = self.upload_part(staged, next.parts.len() + 1, part).await?;
            next.parts.push(etag);
        } else {
            let tail = format!("{}{}", staged_prefix(&staged.id), uuid::Uuid::now_v7());
            let pieces: Vec<std::io::Result<Bytes>> = part.into_iter().map(Ok).collect();
            self.put(&tail, Box::pin(futures_util::stream::iter(pieces)))
                .await?;
            next.tail_key = Some(tail);
        }
        Ok(next)
    }

    /// Sends one part (retried: the bytes are held) and returns its ETag.
    async fn upload_part(
        &self,
        staged: &Staged,
        number: usize,
        data: SegmentedBytes,
    ) -> BlobResult<String> {
        let upload_id = multipart_id(staged)?;
        if number > MAX_PARTS {
            return Err(BlobError::Backend(format!(
                "upload {} needs more than {MAX_PARTS} parts",
                staged.id
            )));
        }
        let number = number as u16;
        let object = object_key(&staged.key)?;
        let what = format!("S3 part {number} of {}", staged.key);
        let resp = retry(&what, || {
            let request = self.client.upload_part(
                &self.bucket,
                object.clone(),
                upload_id,
                number,
                data.clone(),
            );
            async move { request?.build().send().await }
        })
        .await
        .map_err(|f| f.into_blob_error(&what))?;
        resp.etag()
            .map(ETag::into_inner)
            .map_err(|e| BlobError::Backend(format!("{what}: {e}")))
    }

    pub(super) async fn s3_read_staged(
        &self,
        staged: &Staged,
        start: u64,
    ) -> BlobResult<ByteStream> {
        let parts_end = staged.parts.len() as u64 * STAGED_PART_SIZE;
        match &staged.tail_key {
            Some(tail) if start >= parts_end && start < staged.offset => {
                let range = ByteRange {
                    start: start - parts_end,
                    len: staged.offset - start,
                };
                self.get(tail, Some(range)).await
            }
            _ if start >= staged.offset => Ok(Box::pin(futures_util::stream::empty())),
            _ => Err(BlobError::Backend(format!(
                "upload {}: bytes from {start} are not in its tail",
                staged.id
            ))),
        }
    }

    pub(super) async fn s3_complete(&self, staged: &Staged) -> BlobResult<()> {
        if staged.parts.is_empty() {
            // An empty upload: S3 wants at least one part, so it is an empty object.
            self.s3_abort(staged).await?;
            self.put(&staged.key, Box::pin(futures_util::stream::empty()))
                .await?;
            return Ok(());
        }
        let upload_id = multipart_id(staged)?;
        let last = staged.parts.len().saturating_sub(1);
        let parts = staged
            .parts
            .iter()
            .enumerate()
            .map(|(i, etag)| {
                let size = if i == last {
                    staged.offset - last as u64 * STAGED_PART_SIZE
                } else {
                    STAGED_PART_SIZE
                };
                let etag =
                    ETag::new(etag.clone()).map_err(|e| BlobError::Backend(e.to_string()))?;
                Ok(PartInfo::new(i as u16 + 1, etag, size, None))
            })
            .collect::<BlobResult<Vec<_>>>()?;
        let object = object_key(&staged.key)?;
        let what = format!("S3 multipart completion of {}", staged.key);
        let done = retry(&what, || {
            let request = self.client.complete_multipart_upload(
                &self.bucket,
                object.clone(),
                upload_id,
                parts.clone(),
            );
            async move { request?.build().send().await }
        })
        .await;
        match done {
            Ok(_) => {}
            // Completed by an earlier try whose answer was lost: the object is there.
            Err(super::s3::Failure::S3(e)) if is_no_such_upload(&e) => {
                match self.stat(&staged.key).await? {
                    Some(info) if info.size == staged.offset => {}
                    _ => return Err(backend(&what, &e)),
                }
            }
            Err(f) => return Err(f.into_blob_error(&what)),
        }
        self.remove_tails(staged).await
    }

    pub(super) async fn s3_abort(&self, staged: &Staged) -> BlobResult<()> {
        if let Some(upload_id) = &staged.multipart_id {
            let object = object_key(&staged.key)?;
            let what = format!("S3 multipart abort of {}", staged.key);
            let done = retry(&what, || {
                let request = self.client.abort_multipart_upload(
                    &self.bucket,
                    object.clone(),
                    upload_id.as_str(),
                );
                async move { request?.build().send().await }
            })
            .await;
            match done {
                Ok(_) => {}
                Err(super::s3::Failure::S3(e)) if is_no_such_upload(&e) => {}
                Err(f) => return Err(f.into_blob_error(&what)),
            }
        }
        self.remove_tails(staged).await
    }

    /// Every object under the upload's prefix: its tail, and any left by an append
    /// whose state was never stored.
    async fn remove_tails(&self, staged: &Staged) -> BlobResult<()> {
        for tail in self.list(&staged_prefix(&staged.id)).await? {
            self.delete(&tail.key).await?;
        }
        Ok(())
    }
}
