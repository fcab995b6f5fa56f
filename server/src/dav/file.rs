//! Open files: reading streams a file's blob from the current position (so a `Range`
//! GET reads only what it sends), and writing streams the request body into
//! `Files::upload` through a small channel, so neither ever holds a file in memory.
//!
//! A write commits only when `flush` says the body is complete: a cut request, or a body
//! shorter than its `Content-Length`, ends the upload stream with an error, and the
//! upload then changes nothing (the old version stays).

use std::fmt;
use std::io::SeekFrom;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use dav_server::fs::{DavFile, DavMetaData, FsError, FsFuture};
use futures_util::{FutureExt, Stream, StreamExt};
use sync_wrapper::SyncWrapper;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fs::fs_error;
use super::meta::Meta;
use crate::error::{AppError, AppResult};
use crate::files::{Files, ToRead, Upload};
use crate::metadata::EntryRow;
use crate::storage::{ByteRange, ByteStream};

/// Pieces of a body in flight between the request and the blob store.
const CHANNEL_PIECES: usize = 8;

/// A file opened for reading.
pub struct ReadFile {
    files: Arc<Files>,
    file: ToRead,
    pos: u64,
    stream: Option<SyncWrapper<ByteStream>>,
    pending: Bytes,
}

impl fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReadFile({}, at {})", self.file.entry.path, self.pos)
    }
}

impl ReadFile {
    pub fn new(files: Arc<Files>, file: ToRead) -> Self {
        ReadFile {
            files,
            file,
            pos: 0,
            stream: None,
            pending: Bytes::new(),
        }
    }

    fn size(&self) -> u64 {
        self.file.entry.content.as_ref().map_or(0, |c| c.size)
    }

    async fn read(&mut self, count: usize) -> AppResult<Bytes> {
        let size = self.size();
        if self.pos >= size || count == 0 {
            return Ok(Bytes::new());
        }
        if self.pending.is_empty() {
            if self.stream.is_none() {
                let range = ByteRange {
                    start: self.pos,
                    len: size - self.pos,
                };
                let s = self.files.read(&self.file, Some(range)).await?;
                self.stream = Some(SyncWrapper::new(s));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(Bytes::new());
            };
            match stream.get_mut().next().await {
                Some(Ok(piece)) => self.pending = piece,
                Some(Err(e)) => return Err(AppError::internal(format!("reading a blob: {e}"))),
                None => return Ok(Bytes::new()),
            }
        }
        let n = count.min(self.pending.len());
        self.pos += n as u64;
        Ok(self.pending.split_to(n))
    }
}

impl DavFile for ReadFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(Meta::of_row(&self.file.entry));
        async move { Ok(meta) }.boxed()
    }

    fn write_buf(&mut self, _buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        async move { self.read(count).await.map_err(fs_error) }.boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        let size = self.size() as i128;
        let target = match pos {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => size + d as i128,
        };
        let result = if (0..=size).contains(&target) {
            let target = target as u64;
            if target != self.pos {
                // Reopen the blob at the new place on the next read.
                self.pos = target;
                self.stream = None;
                self.pending = Bytes::new();
            }
            Ok(target)
        } else {
            Err(FsError::GeneralFailure)
        };
        async move { result }.boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async { Ok(()) }.boxed()
    }
}

type UploadTask = JoinHandle<AppResult<(EntryRow, bool)>>;

/// A file opened for writing: the upload runs as its own task, fed by `write_bytes`.
pub struct WriteFile {
    tx: Option<mpsc::Sender<Bytes>>,
    complete: Arc<AtomicBool>,
    task: Option<UploadTask>,
    written: u64,
    declared: Option<u64>,
    /// The committed entry, once `flush` succeeded.
    done: Option<EntryRow>,
}

impl fmt::Debug for WriteFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteFile({} bytes written)", self.written)
    }
}

/// The receiving end as an upload body: it ends cleanly only when `complete` was set
/// before the sender went away; otherwise its last item is an error.
fn body_stream(
    rx: mpsc::Receiver<Bytes>,
    complete: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(rx), move |rx| {
        let complete = complete.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(piece) => Some((Ok(piece), Some(rx))),
                None if complete.load(Ordering::SeqCst) => None,
                None => Some((
                    Err(std::io::Error::other("the request body was cut short")),
                    None,
                )),
            }
        }
    })
}

impl WriteFile {
    /// Starts the upload of `up` for `user`.
    pub fn start(files: Arc<Files>, user: String, up: Upload) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_PIECES);
        let complete = Arc::new(AtomicBool::new(false));
        let declared = up.content_length;
        let body = body_stream(rx, complete.clone());
        let task = tokio::spawn(async move { files.upload(&user, up, body).await });
        WriteFile {
            tx: Some(tx),
            complete,
            task: Some(task),
            written: 0,
            declared,
            done: None,
        }
    }

    /// The upload's outcome, once its body has ended.
    async fn finish(&mut self) -> AppResult<EntryRow> {
        self.tx = None;
        let task = self
            .task
            .take()
            .ok_or_else(|| AppError::internal("the upload already finished"))?;
        let (entry, _created) = task.await??;
        Ok(entry)
    }

    async fn write(&mut self, piece: Bytes) -> AppResult<()> {
        if piece.is_empty() {
            return Ok(());
        }
        self.written += piece.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(piece).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The upload stopped reading: it failed (too large, quota, store down).
        match self.finish().await {
            Err(e) => Err(e),
            Ok(_) => Err(AppError::internal("the upload ended before its body")),
        }
    }

    async fn commit(&mut self) -> AppResult<()> {
        if self.done.is_some() {
            return Ok(());
        }
        if self.declared.is_none_or(|n| n == self.written) {
            self.complete.store(true, Ordering::SeqCst);
        }
        let entry = self.finish().await?;
        self.done = Some(entry);
        Ok(())
    }
}

impl DavFile for WriteFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta = self.done.as_ref().map(Meta::of_row);
        async move {
            meta.map(|m| Box::new(m) as Box<dyn DavMetaData>)
                .ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn write_buf(&mut self, mut buf: Box<dyn Buf + Send>) -> FsFuture<'_, ()> {
        let piece = buf.copy_to_bytes(buf.remaining());
        self.write_bytes(piece)
    }

    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        async move { self.write(buf).await.map_err(fs_error) }.boxed()
    }

    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        async { Err(FsError::Forbidden) }.boxed()
    }

    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        // Uploads are whole files: only "stay where you are" is possible.
        let here = self.written;
        let ok =
            matches!(pos, SeekFrom::Start(n) if n == here) || matches!(pos, SeekFrom::Current(0));
        async move {
            if ok {
                Ok(here)
            } else {
                Err(FsError::NotImplemented)
            }
        }
        .boxed()
    }

    fn flush(&mut self) -> FsFuture<'_, ()> {
        async move { self.commit().await.map_err(fs_error) }.boxed()
    }
}
