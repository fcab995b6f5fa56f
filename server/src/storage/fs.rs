//! Blobs as files under one folder. A put writes a temp file, fsyncs it, renames it into
//! place and fsyncs the folder, so after a crash a key holds either nothing or all of it.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::private_fs::{DIR_MODE, FILE_MODE};

use super::{check_key, BlobError, BlobInfo, BlobResult, BlobStore, ByteRange, ByteStream, Staged};

pub(super) const READ_CHUNK: usize = 256 * 1024;

/// The folder of staged uploads' partial files, beside `.tmp`; neither holds blobs.
const UPLOADS_DIR: &str = ".uploads";

pub struct FsBlobStore {
    root: PathBuf,
    tmp: PathBuf,
    /// Partial files of staged uploads (see `fs_staged`).
    pub(super) uploads: PathBuf,
}

pub(super) fn io_err(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

/// Removes the temp file unless the upload finished and renamed it.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn modified(meta: &std::fs::Metadata) -> DateTime<Utc> {
    meta.modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_default()
}

/// Creates `dir` and missing parents, 0700: blobs are readable by the server's user only.
pub(super) async fn private_dirs(dir: &Path) -> std::io::Result<()> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .await
}

pub(super) async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    // The rename is durable only once the folder that holds it is synced.
    tokio::fs::File::open(dir).await?.sync_all().await
}

impl FsBlobStore {
    pub async fn open(root: PathBuf) -> BlobResult<Self> {
        let tmp = root.join(".tmp");
        private_dirs(&tmp).await.map_err(io_err)?;
        let uploads = root.join(UPLOADS_DIR);
        private_dirs(&uploads).await.map_err(io_err)?;
        Ok(FsBlobStore { root, tmp, uploads })
    }

    pub(super) fn path(&self, key: &str) -> BlobResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, mut body: ByteStream) -> BlobResult<u64> {
        let dest = self.path(key)?;
        let tmp_path = self.tmp.join(uuid::Uuid::now_v7().to_string());
        let mut guard = TempGuard(Some(tmp_path.clone()));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp_path)
            .await
            .map_err(io_err)?;
        let mut size = 0u64;
        while let Some(piece) = body.next().await {
            let piece = piece.map_err(BlobError::Body)?;
            size += piece.len() as u64;
            file.write_all(&piece).await.map_err(io_err)?;
        }
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        let dir = dest
            .parent()
            .ok_or_else(|| BlobError::Backend("blob key has no folder".into()))?;
        private_dirs(dir).await.map_err(io_err)?;
        tokio::fs::rename(&tmp_path, &dest).await.map_err(io_err)?;
        guard.0 = None;
        fsync_dir(dir).await.map_err(io_err)?;
        Ok(size)
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> BlobResult<ByteStream> {
        let path = self.path(key)?;
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(key.to_string()))
            }
            Err(e) => return Err(io_err(e)),
        };
        match range {
            None => Ok(Box::pin(ReaderStream::with_capacity(file, READ_CHUNK))),
            Some(r) => {
                file.seek(std::io::SeekFrom::Start(r.start))
                    .await
                    .map_err(io_err)?;
                Ok(Box::pin(ReaderStream::with_capacity(
                    file.take(r.len),
                    READ_CHUNK,
                )))
            }
        }
    }

    async fn stat(&self, key: &str) -> BlobResult<Option<BlobInfo>> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(BlobInfo {
                key: key.to_string(),
                size: m.len(),
                modified: modified(&m),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
            _ => Ok(()),
        }
    }

    async fn list(&self, prefix: &str) -> BlobResult<Vec<BlobInfo>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || list_files(&root, &prefix))
            .await
            .map_err(|e| BlobError::Backend(e.to_string()))?
    }

    async fn remove_stale_uploads(
        &self,
        older_than: DateTime<Utc>,
        dry_run: bool,
    ) -> BlobResult<u64> {
        let mut removed = 0;
        let mut dir = tokio::fs::read_dir(&self.tmp).await.map_err(io_err)?;
        while let Some(item) = dir.next_entry().await.map_err(io_err)? {
            let meta = item.metadata().await.map_err(io_err)?;
            if meta.is_file() && modified(&meta) < older_than {
                if !dry_run {
                    tokio::fs::remove_file(item.path()).await.map_err(io_err)?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn stage(&self, id: &str, key: &str) -> BlobResult<Staged> {
        self.fs_stage(id, key).await
    }

    async fn append_staged(
        &self,
        staged: &Staged,
        body: ByteStream,
        _length: u64,
    ) -> BlobResult<Staged> {
        self.fs_append(staged, body).await
    }

    async fn read_staged(&self, staged: &Staged, start: u64) -> BlobResult<ByteStream> {
        self.fs_read_staged(staged, start).await
    }

    async fn complete_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.fs_complete(staged).await
    }

    async fn abort_staged(&self, staged: &Staged) -> BlobResult<()> {
        self.fs_abort(staged).await
    }
}

/// Walks the store (skipping the temp folder) for keys starting with `prefix`.
fn list_files(root: &Path, prefix: &str) -> BlobResult<Vec<BlobInfo>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(e)),
        };
        for item in entries {
            let item = item.map_err(io_err)?;
            let path = item.path();
            let meta = item.metadata().map_err(io_err)?;
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let key = rel.to_string_lossy().replace('\\', "/");
            if meta.is_dir() {
                if key != ".tmp" && key != UPLOADS_DIR {
                    stack.push(path);
                }
            } else if key.starts_with(prefix) {
                out.push(BlobInfo {
                    key,
                    size: meta.len(),
                    modified: modified(&meta),
                });
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}
