//! Garbage collection and consistency checks between metadata and the blob store.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;

use crate::metadata::Db;
use crate::storage::BlobStore;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub orphan_blobs: u64,
    pub orphan_bytes: u64,
    pub stale_uploads: u64,
}

/// Removes blobs no row points to and unfinished uploads, both older than `grace`
/// (younger ones may belong to an upload about to commit).
pub async fn collect(
    db: &Db,
    blobs: &dyn BlobStore,
    grace: Duration,
    dry_run: bool,
) -> anyhow::Result<GcReport> {
    let cutoff = Utc::now() - grace;
    let referenced: HashSet<String> = db
        .run(|r| r.referenced_blobs())
        .await?
        .into_iter()
        .collect();
    let mut report = GcReport::default();
    for blob in blobs.list("user/").await? {
        if referenced.contains(&blob.key) || blob.modified >= cutoff {
            continue;
        }
        if !dry_run {
            blobs.delete(&blob.key).await?;
        }
        report.orphan_blobs += 1;
        report.orphan_bytes += blob.size;
    }
    report.stale_uploads = blobs.remove_stale_uploads(cutoff, dry_run).await?;
    Ok(report)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Keys rows point to that the store does not have.
    pub missing_blobs: Vec<String>,
    /// Keys the store has that no row points to.
    pub unreferenced_blobs: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.missing_blobs.is_empty() && self.unreferenced_blobs.is_empty()
    }
}

pub async fn check(db: &Db, blobs: &dyn BlobStore) -> anyhow::Result<CheckReport> {
    let referenced: HashSet<String> = db
        .run(|r| r.referenced_blobs())
        .await?
        .into_iter()
        .collect();
    let stored: HashSet<String> = blobs
        .list("user/")
        .await?
        .into_iter()
        .map(|b| b.key)
        .collect();
    let mut report = CheckReport {
        missing_blobs: referenced.difference(&stored).cloned().collect(),
        unreferenced_blobs: stored.difference(&referenced).cloned().collect(),
    };
    report.missing_blobs.sort();
    report.unreferenced_blobs.sort();
    Ok(report)
}
