//! The `inline_blobs` table in SQLite's dialect (see `InlineBlobRepository`).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{backend, SqliteRepo};
use crate::metadata::model::{from_millis, to_millis};
use crate::metadata::{InlineBlobRepository, RepoResult};
use crate::storage::BlobInfo;

fn info_from_row(r: &Row<'_>) -> rusqlite::Result<BlobInfo> {
    Ok(BlobInfo {
        key: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        modified: from_millis(r.get(2)?),
    })
}

/// Keeps `data` under `key` inside the caller's transaction.
pub(super) fn insert(
    c: &rusqlite::Connection,
    key: &str,
    data: &[u8],
    now: DateTime<Utc>,
) -> RepoResult<()> {
    c.prepare_cached("INSERT INTO inline_blobs (key, data, created_at) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![key, data, to_millis(now)]))
        .map_err(backend)?;
    Ok(())
}

impl InlineBlobRepository for SqliteRepo {
    fn inline_blob(&self, key: &str) -> RepoResult<Option<Vec<u8>>> {
        self.conn()?
            .prepare_cached("SELECT data FROM inline_blobs WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)).optional())
            .map_err(backend)
    }

    fn inline_blob_info(&self, key: &str) -> RepoResult<Option<BlobInfo>> {
        self.conn()?
            .prepare_cached("SELECT key, length(data), created_at FROM inline_blobs WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![key], info_from_row).optional())
            .map_err(backend)
    }

    fn inline_blobs(&self, prefix: &str) -> RepoResult<Vec<BlobInfo>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT key, length(data), created_at FROM inline_blobs \
                 WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![prefix], info_from_row)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn delete_inline_blob(&self, key: &str) -> RepoResult<()> {
        self.write(|c| {
            c.execute("DELETE FROM inline_blobs WHERE key = ?1", params![key])
                .map_err(backend)
        })?;
        Ok(())
    }
}
