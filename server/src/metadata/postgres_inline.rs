//! The `inline_blobs` table in Postgres's dialect (see `InlineBlobRepository`).

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};

use super::{backend, Pg, PgRepo};
use crate::metadata::model::{from_millis, to_millis};
use crate::metadata::{InlineBlobRepository, RepoResult};
use crate::storage::BlobInfo;

fn info_from_row(r: &Row) -> Result<BlobInfo, postgres::Error> {
    Ok(BlobInfo {
        key: r.try_get(0)?,
        size: r.try_get::<_, i32>(1)? as u64,
        modified: from_millis(r.try_get(2)?),
    })
}

/// Keeps `data` under `key` inside the caller's transaction.
pub(super) fn insert<C: GenericClient>(
    pg: &mut Pg<'_, C>,
    key: &str,
    data: &[u8],
    now: DateTime<Utc>,
) -> RepoResult<()> {
    pg.execute(
        "INSERT INTO inline_blobs (key, data, created_at) VALUES ($1, $2, $3)",
        &[&key, &data, &to_millis(now)],
    )
    .map_err(backend)?;
    Ok(())
}

impl InlineBlobRepository for PgRepo {
    fn inline_blob(&self, key: &str) -> RepoResult<Option<Vec<u8>>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt("SELECT data FROM inline_blobs WHERE key = $1", &[&key])
            .map_err(backend)?;
        row.map(|r| r.try_get(0).map_err(backend)).transpose()
    }

    fn inline_blob_info(&self, key: &str) -> RepoResult<Option<BlobInfo>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt(
                "SELECT key, octet_length(data), created_at FROM inline_blobs WHERE key = $1",
                &[&key],
            )
            .map_err(backend)?;
        row.map(|r| info_from_row(&r).map_err(backend)).transpose()
    }

    fn inline_blobs(&self, prefix: &str) -> RepoResult<Vec<BlobInfo>> {
        let rows = Pg::on(&mut *self.conn()?)
            .query(
                "SELECT key, octet_length(data), created_at FROM inline_blobs \
                 WHERE starts_with(key, $1) ORDER BY key",
                &[&prefix],
            )
            .map_err(backend)?;
        rows.iter()
            .map(|r| info_from_row(r).map_err(backend))
            .collect()
    }

    fn delete_inline_blob(&self, key: &str) -> RepoResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM inline_blobs WHERE key = $1", &[&key])
                .map_err(backend)
        })?;
        Ok(())
    }
}
