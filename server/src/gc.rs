//! Garbage collection and consistency checks between metadata and the blob store.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::RetentionArgs;
use crate::failpoints::{fail_blob, fail_db};
use crate::metadata::Db;
use crate::storage::{BlobInfo, BlobStore};

/// How long things are kept before `collect` removes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcPolicy {
    /// Unreferenced blobs and unfinished uploads younger than this are left alone.
    pub grace: Duration,
    /// How long a replaced version is kept.
    pub version_retention: Duration,
    /// How long a trash item is kept.
    pub trash_retention: Duration,
}

impl GcPolicy {
    pub fn new(grace: Duration, retention: &RetentionArgs) -> Self {
        GcPolicy {
            grace,
            version_retention: retention.versions(),
            trash_retention: retention.trash(),
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub expired_versions: u64,
    pub expired_trash_items: u64,
    pub orphan_blobs: u64,
    pub orphan_bytes: u64,
    pub stale_uploads: u64,
    /// Resumable uploads aborted after their expiry.
    pub expired_uploads: u64,
}

/// As of `now`: purges versions and trash items past their retention, then removes blobs
/// nothing references (no live file, kept version or trash item) and unfinished uploads,
/// both older than the grace period (younger ones may belong to an upload about to
/// commit), and aborts resumable uploads past their expiry (their parts and tails live
/// outside the blob keys, so neither the sweep nor `check` sees them). A dry run counts the blobs unreferenced now, not those the purge would free.
pub async fn collect(
    db: &Db,
    blobs: &dyn BlobStore,
    policy: &GcPolicy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> anyhow::Result<GcReport> {
    let versions_before = now - policy.version_retention;
    let trash_before = now - policy.trash_retention;
    let expired = db
        .run(move |r| r.expire(versions_before, trash_before, dry_run))
        .await?;
    let cutoff = now - policy.grace;
    fail_db!("gc.referenced");
    // Read after the purge committed: what it released is unreferenced here.
    let referenced: HashSet<String> = db
        .run(|r| r.referenced_blobs())
        .await?
        .into_iter()
        .collect();
    let mut report = GcReport {
        expired_versions: expired.versions,
        expired_trash_items: expired.trash_items,
        ..GcReport::default()
    };
    for blob in users_blobs(db, blobs).await? {
        if referenced.contains(&blob.key) || blob.modified >= cutoff {
            continue;
        }
        if !dry_run {
            fail_blob!("gc.delete");
            blobs.delete(&blob.key).await?;
        }
        report.orphan_blobs += 1;
        report.orphan_bytes += blob.size;
    }
    fail_blob!("gc.stale_uploads");
    report.stale_uploads = blobs.remove_stale_uploads(cutoff, dry_run).await?;
    report.expired_uploads = crate::uploads::abort_expired(db, blobs, now, dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("aborting expired uploads: {e:?}"))?;
    Ok(report)
}

/// The stored blobs of this database's users (keys `user/<user id>/…`). Keys of anyone
/// else, in a bucket or folder shared with something else, are never swept or reported.
async fn users_blobs(db: &Db, blobs: &dyn BlobStore) -> anyhow::Result<Vec<BlobInfo>> {
    let users: HashSet<String> = db.run(|r| r.user_ids()).await?.into_iter().collect();
    fail_blob!("gc.list");
    let owner = |key: &str| {
        key.strip_prefix("user/")
            .and_then(|k| k.split_once('/'))
            .map(|(user, _)| users.contains(user))
            .unwrap_or(false)
    };
    Ok(blobs
        .list("user/")
        .await?
        .into_iter()
        .filter(|b| owner(&b.key))
        .collect())
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
    let stored: HashSet<String> = users_blobs(db, blobs)
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
