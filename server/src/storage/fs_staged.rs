//! Staged uploads on the filesystem store: one partial file per upload under `.uploads/`,
//! appended to and fsynced before its offset is acknowledged, renamed into place at the
//! end (the same durable rename as a put).

use std::io::SeekFrom;
use std::path::PathBuf;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::fs::{fsync_dir, io_err, private_dirs, FsBlobStore, READ_CHUNK};
use super::{BlobError, BlobResult, ByteStream, Staged};
use crate::private_fs::FILE_MODE;

impl FsBlobStore {
    fn partial(&self, staged: &Staged) -> BlobResult<PathBuf> {
        super::check_key(&staged.id)?;
        if staged.id.contains('/') {
            return Err(BlobError::Backend(format!(
                "invalid upload id {:?}",
                staged.id
            )));
        }
        Ok(self.uploads.join(&staged.id))
    }

    pub(super) async fn fs_stage(&self, id: &str, key: &str) -> BlobResult<Staged> {
        let staged = Staged {
            id: id.to_string(),
            key: key.to_string(),
            ..Staged::default()
        };
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(self.partial(&staged)?)
            .await
            .map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        fsync_dir(&self.uploads).await.map_err(io_err)?;
        Ok(staged)
    }

    pub(super) async fn fs_append(
        &self,
        staged: &Staged,
        mut body: ByteStream,
    ) -> BlobResult<Staged> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(self.partial(staged)?)
            .await
            .map_err(io_err)?;
        // Bytes past the stored offset are from an append that was not kept.
        file.set_len(staged.offset).await.map_err(io_err)?;
        file.seek(SeekFrom::Start(staged.offset))
            .await
            .map_err(io_err)?;
        let mut next = staged.clone();
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(BlobError::Body)?;
            file.write_all(&piece).await.map_err(io_err)?;
            next.offset += piece.len() as u64;
        }
        file.sync_all().await.map_err(io_err)?;
        Ok(next)
    }

    pub(super) async fn fs_read_staged(
        &self,
        staged: &Staged,
        start: u64,
    ) -> BlobResult<ByteStream> {
        let mut file = tokio::fs::File::open(self.partial(staged)?)
            .await
            .map_err(io_err)?;
        file.seek(SeekFrom::Start(start)).await.map_err(io_err)?;
        let len = staged.offset.saturating_sub(start);
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(len),
            READ_CHUNK,
        )))
    }

    pub(super) async fn fs_complete(&self, staged: &Staged) -> BlobResult<()> {
        let partial = self.partial(staged)?;
        let file = match tokio::fs::OpenOptions::new()
            .write(true)
            .open(&partial)
            .await
        {
            Ok(file) => file,
            // Completed by an earlier try that failed after the rename.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match tokio::fs::metadata(self.path(&staged.key)?).await {
                    Ok(m) if m.len() == staged.offset => Ok(()),
                    _ => Err(io_err(e)),
                };
            }
            Err(e) => return Err(io_err(e)),
        };
        file.set_len(staged.offset).await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        let dest = self.path(&staged.key)?;
        let dir = dest
            .parent()
            .ok_or_else(|| BlobError::Backend("blob key has no folder".into()))?;
        private_dirs(dir).await.map_err(io_err)?;
        tokio::fs::rename(&partial, &dest).await.map_err(io_err)?;
        fsync_dir(dir).await.map_err(io_err)?;
        fsync_dir(&self.uploads).await.map_err(io_err)
    }

    pub(super) async fn fs_abort(&self, staged: &Staged) -> BlobResult<()> {
        match tokio::fs::remove_file(self.partial(staged)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
            _ => Ok(()),
        }
    }
}
