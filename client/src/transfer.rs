//! Moving one file each way, streaming: memory does not grow with the file's size.
//! Uploads send an explicit `Content-Length` and `X-Content-Hash`; downloads are written
//! to a temporary name in the target folder, checked against the content hash, and only
//! then renamed into place. `push`, `pull` and `sync` share these.

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use dbx_shared::api::FileEntry;
use dbx_shared::ContentHasher;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::api::{Api, ApiResult, Precondition};

pub mod landing;
mod resumable;

/// Size of the pieces read from disk.
const PIECE: usize = 256 * 1024;

/// Files from this size on are first offered to `POST /files/by-hash`: one small
/// request that saves sending content the account already holds.
pub const BY_HASH_FROM: u64 = 1 << 20;

/// Files from this size on go through a resumable upload.
pub const RESUMABLE_FROM: u64 = 64 << 20;

/// Told about bytes as they move, so progress can be shown.
pub trait Meter: Send + Sync {
    fn add(&self, bytes: u64);
    /// The transfer starts over (a retry after a token refresh): forget what was added.
    fn restart(&self);
}

/// For transfers nobody watches.
pub struct Unmetered;

impl Meter for Unmetered {
    fn add(&self, _: u64) {}
    fn restart(&self) {}
}

/// Size and content hash of a local file. Hashing is CPU work, so it runs on a
/// blocking thread.
pub async fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || hash_blocking(&p))
        .await
        .context("the hashing thread failed")?
        .with_context(|| format!("reading {}", path.display()))
}

fn hash_blocking(path: &Path) -> io::Result<(u64, String)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; PIECE];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((size, hasher.finalize()));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

/// Uploads `local` to the remote `path` with no precondition (`push`). `size` and `hash`
/// are the ones `hash_file` found; the server refuses the upload (and keeps the old
/// version) if the file changed since.
pub async fn upload_file(
    api: &Api,
    local: &Path,
    path: &str,
    size: u64,
    hash: &str,
    meter: Arc<dyn Meter>,
) -> anyhow::Result<FileEntry> {
    let (entry, _) = send_file(api, local, path, size, hash, &Precondition::None, meter)
        .await
        .with_context(|| format!("uploading {} to {path}", local.display()))?;
    Ok(entry)
}

/// Puts the first `size` bytes of `local` (content hash `hash`) at `path` under `pre`,
/// the cheapest way the server allows: from content the account already holds when the
/// file is large enough to be worth asking, by a resumable upload when it is large
/// enough to be worth resuming, else in one streaming `PUT`. Returns the entry and
/// whether the server made a new file.
pub async fn send_file(
    api: &Api,
    local: &Path,
    path: &str,
    size: u64,
    hash: &str,
    pre: &Precondition,
    meter: Arc<dyn Meter>,
) -> ApiResult<(FileEntry, bool)> {
    if size >= BY_HASH_FROM {
        if let Some(done) = api.upload_by_hash(path, size, hash, pre).await? {
            meter.add(size);
            return Ok(done);
        }
    }
    if size >= RESUMABLE_FROM {
        return resumable::send(api, local, path, size, hash, pre, meter).await;
    }
    let body = || {
        meter.restart();
        file_body(local, size, Some(meter.clone()))
    };
    api.upload(path, size, hash, pre, body).await
}

/// The first `size` bytes of `local` as a streaming request body, counted by `meter`.
pub fn file_body(
    local: &Path,
    size: u64,
    meter: Option<Arc<dyn Meter>>,
) -> io::Result<reqwest::Body> {
    file_range_body(local, 0, size, meter)
}

/// `len` bytes of `local` from `offset` on as a streaming request body.
pub fn file_range_body(
    local: &Path,
    offset: u64,
    len: u64,
    meter: Option<Arc<dyn Meter>>,
) -> io::Result<reqwest::Body> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(local)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", local.display())))?;
    file.seek(SeekFrom::Start(offset))?;
    let stream = ReaderStream::with_capacity(tokio::fs::File::from_std(file).take(len), PIECE)
        .inspect(move |piece| {
            if let (Some(m), Ok(bytes)) = (&meter, piece) {
                m.add(bytes.len() as u64);
            }
        });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// Streams a download's body into `file` (its own handle on a temporary file) and
/// returns the content hash of the bytes received. The caller flushes it to disk.
pub async fn receive(
    resp: reqwest::Response,
    file: std::fs::File,
    meter: Option<&dyn Meter>,
) -> anyhow::Result<String> {
    let mut out = tokio::io::BufWriter::with_capacity(PIECE, tokio::fs::File::from_std(file));
    let mut hasher = ContentHasher::new();
    let mut stream = resp.bytes_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece
            .map_err(|e| anyhow::anyhow!("the connection broke: {}", crate::api::root_cause(&e)))?;
        hasher.update(&piece);
        out.write_all(&piece).await?;
        if let Some(m) = meter {
            m.add(piece.len() as u64);
        }
    }
    out.flush().await?;
    Ok(hasher.finalize())
}

/// Downloads `file` for `dest` into a temporary file beside it (removed if anything
/// fails: the guard's drop), checks it against the content hash and gives it the mode of
/// the file it will replace (or 0644: tempfile makes it 0600). `landing` flushes it and
/// renames it into place.
pub async fn fetch(
    api: &Api,
    file: &FileEntry,
    dest: &Path,
    meter: Arc<dyn Meter>,
) -> anyhow::Result<landing::Arrived> {
    use std::os::unix::fs::PermissionsExt;
    let dir = landing::folder_of(dest);
    if dest.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        bail!("{} is a folder", dest.display());
    }
    let tmp = tempfile::Builder::new()
        .prefix(".dbx-")
        .suffix(".part")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let resp = api
        .download(&file.id)
        .await
        .with_context(|| format!("downloading {}", file.path))?;
    // The ETag is the hash of the version being served, which may be newer than the
    // listing we worked from.
    let expected = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim_start_matches("W/")
                .trim_matches('"')
                .to_ascii_lowercase()
        })
        .filter(|h| dbx_shared::content_hash::is_valid(h))
        .unwrap_or_else(|| file.content_hash.to_ascii_lowercase());

    let std_file = tmp
        .as_file()
        .try_clone()
        .context("opening the temporary file")?;
    let got = receive(resp, std_file, Some(meter.as_ref()))
        .await
        .with_context(|| format!("downloading {} to {}", file.path, dest.display()))?;
    if got != expected {
        bail!(
            "downloading {}: the bytes received do not match the content hash",
            file.path
        );
    }
    let mode = std::fs::metadata(dest)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(landing::Arrived {
        tmp,
        dest: dest.to_path_buf(),
        label: file.path.clone(),
        size: file.size,
    })
}

/// True when the local file at `path` already has this size and content hash.
pub async fn local_matches(path: &Path, size: u64, hash: &str) -> anyhow::Result<bool> {
    match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_file() && m.len() == size => {
            let (_, local) = hash_file(path).await?;
            Ok(local.eq_ignore_ascii_case(hash))
        }
        _ => Ok(false),
    }
}
