//! Where `pull`'s downloads become files, in batches.
//!
//! A download is durable only once its bytes and its new name are on disk: an fsync of
//! the file before the rename and of its folder after. Done one file at a time, that is
//! two journal commits per file, and for thousands of small files those commits were
//! nearly all of `pull`'s time. Here downloads that arrived (checked, in a temporary file
//! beside their destination) wait in a batch; a batch is fsynced by several threads at
//! once (the filesystem folds concurrent fsyncs into few commits), renamed into place,
//! and then each of its folders is fsynced once. A file counts as pulled only when its
//! batch has landed, and the command's summary comes after the last batch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;

/// A batch lands when it holds this many files...
const BATCH_FILES: usize = 128;
/// ...or this many bytes (a big file lands on its own).
const BATCH_BYTES: u64 = 32 << 20;
/// Threads that fsync one batch.
const SYNC_THREADS: usize = 16;

/// A download whose bytes are checked and in `tmp`, not yet durable nor in place.
pub struct Arrived {
    pub tmp: tempfile::NamedTempFile,
    pub dest: PathBuf,
    /// The remote path, for messages.
    pub label: String,
    pub size: u64,
}

/// A file that arrived (and was counted as pulled) but could not be put in place: its
/// temporary file is removed and its destination untouched.
pub struct NotLanded {
    pub size: u64,
    pub error: anyhow::Error,
}

#[derive(Default)]
pub struct Landing {
    waiting: Mutex<Batch>,
    not_landed: Mutex<Vec<NotLanded>>,
}

#[derive(Default)]
struct Batch {
    files: Vec<Arrived>,
    bytes: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Landing {
    /// Adds a download; when that fills a batch, lands the batch here and returns the
    /// paths it put in place (else nothing).
    pub async fn arrive(&self, file: Arrived) -> Vec<PathBuf> {
        let full = {
            let mut w = lock(&self.waiting);
            w.bytes += file.size;
            w.files.push(file);
            (w.files.len() >= BATCH_FILES || w.bytes >= BATCH_BYTES)
                .then(|| std::mem::take(&mut *w))
        };
        match full {
            Some(batch) => self.land(batch.files).await,
            None => Vec::new(),
        }
    }

    /// Lands what is still waiting; returns the paths it put in place and every file
    /// that any batch could not.
    pub async fn finish(&self) -> (Vec<PathBuf>, Vec<NotLanded>) {
        let rest = std::mem::take(&mut *lock(&self.waiting));
        let done = self.land(rest.files).await;
        (done, std::mem::take(&mut *lock(&self.not_landed)))
    }

    async fn land(&self, files: Vec<Arrived>) -> Vec<PathBuf> {
        if files.is_empty() {
            return Vec::new();
        }
        let count = files.len();
        let landed = match tokio::task::spawn_blocking(move || land_blocking(files)).await {
            Ok(landed) => landed,
            // The thread panicked: its files were dropped with it, so their temporary
            // files are gone and no destination was touched by the ones it had not renamed.
            Err(e) => vec![Err(NotLanded {
                size: 0,
                error: anyhow::anyhow!("the thread that stored {count} downloads died: {e}"),
            })],
        };
        let mut done = Vec::with_capacity(landed.len());
        let mut not_landed = lock(&self.not_landed);
        for l in landed {
            match l {
                Ok(path) => done.push(path),
                Err(failed) => not_landed.push(failed),
            }
        }
        done
    }
}

fn land_blocking(files: Vec<Arrived>) -> Vec<Result<PathBuf, NotLanded>> {
    let synced = in_parallel(&files, |f| {
        f.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("flushing {} to disk", f.dest.display()))
    });
    let mut landed = Vec::with_capacity(files.len());
    let mut folders = BTreeSet::new();
    for (f, flushed) in files.into_iter().zip(synced) {
        let renamed = flushed.and_then(|()| {
            f.tmp
                .persist(&f.dest)
                .map_err(|e| e.error)
                .with_context(|| format!("renaming into {}", f.dest.display()))
        });
        landed.push(match renamed {
            Ok(_) => {
                folders.insert(folder_of(&f.dest).to_path_buf());
                Ok(f.dest)
            }
            Err(error) => Err(NotLanded {
                size: f.size,
                error: error.context(f.label),
            }),
        });
    }
    let folders: Vec<PathBuf> = folders.into_iter().collect();
    in_parallel(&folders, |dir| {
        // Best effort: some filesystems refuse to sync a folder.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    });
    landed
}

pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Runs `work` on every item, on up to [`SYNC_THREADS`] threads, and returns the results
/// in the items' order.
fn in_parallel<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> anyhow::Result<()> + Sync,
) -> Vec<anyhow::Result<()>> {
    let chunk = items.len().div_ceil(SYNC_THREADS).max(1);
    let work = &work;
    std::thread::scope(|s| {
        let running: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                (
                    c.len(),
                    s.spawn(move || c.iter().map(work).collect::<Vec<_>>()),
                )
            })
            .collect();
        running
            .into_iter()
            .flat_map(|(n, h)| {
                h.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| Err(anyhow::anyhow!("the thread that flushed it died")))
                        .collect()
                })
            })
            .collect()
    })
}
