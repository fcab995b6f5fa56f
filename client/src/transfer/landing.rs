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

/// What became of a file in its batch.
pub enum Landed {
    /// In place at this path, durable.
    Done(PathBuf),
    /// Not in place: its temporary file is removed and `dest` is untouched.
    Failed {
        label: String,
        size: u64,
        error: anyhow::Error,
    },
}

#[derive(Default)]
pub struct Landing {
    waiting: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    files: Vec<Arrived>,
    bytes: u64,
}

impl Landing {
    /// Adds a download; when that fills a batch, lands the batch here and returns how
    /// each of its files went (else nothing).
    pub async fn arrive(&self, file: Arrived) -> Vec<Landed> {
        let full = {
            let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            w.bytes += file.size;
            w.files.push(file);
            (w.files.len() >= BATCH_FILES || w.bytes >= BATCH_BYTES)
                .then(|| std::mem::take(&mut *w))
        };
        match full {
            Some(batch) => land(batch.files).await,
            None => Vec::new(),
        }
    }

    /// Lands what is still waiting.
    pub async fn finish(&self) -> Vec<Landed> {
        let rest = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        land(rest.files).await
    }
}

async fn land(files: Vec<Arrived>) -> Vec<Landed> {
    if files.is_empty() {
        return Vec::new();
    }
    match tokio::task::spawn_blocking(move || land_blocking(files)).await {
        Ok(landed) => landed,
        // The thread panicked: its files were dropped with it, so their temporary files
        // are gone and no destination was touched by the ones it had not renamed.
        Err(e) => vec![Landed::Failed {
            label: "a batch of downloads".into(),
            size: 0,
            error: anyhow::anyhow!("the thread that stored them died: {e}"),
        }],
    }
}

fn land_blocking(files: Vec<Arrived>) -> Vec<Landed> {
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
                Landed::Done(f.dest)
            }
            Err(error) => Landed::Failed {
                label: f.label,
                size: f.size,
                error,
            },
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
