//! The `uploads` table in Postgres's dialect (see `Repository`'s resumable uploads). A
//! claim locks the row (`FOR UPDATE`), so two processes never both take a lease.

use chrono::{DateTime, Utc};
use postgres::Row;

use super::{backend, Pg, PgRepo};
use crate::metadata::logic::{check_claim, parts_from_text, parts_text};
use crate::metadata::model::{from_millis, to_millis, UploadLease, UploadRow};
use crate::metadata::{RepoError, RepoResult, UploadRepository};
use crate::storage::Staged;

const UPLOAD_COLS: &str = "id, user_id, length, upload_offset, path, if_match, content_hash, \
     blob_key, multipart_id, parts, tail_key, block_digests, created_at, expires_at, lease_until";

fn upload_from_row(r: &Row) -> Result<(UploadRow, Option<DateTime<Utc>>), postgres::Error> {
    let parts: String = r.try_get(9)?;
    let row = UploadRow {
        user_id: r.try_get(1)?,
        length: r.try_get::<_, i64>(2)? as u64,
        path: r.try_get(4)?,
        if_match: r.try_get(5)?,
        content_hash: r.try_get(6)?,
        staged: Staged {
            id: r.try_get(0)?,
            key: r.try_get(7)?,
            offset: r.try_get::<_, i64>(3)? as u64,
            multipart_id: r.try_get(8)?,
            parts: parts_from_text(&parts),
            tail_key: r.try_get(10)?,
        },
        block_digests: r.try_get(11)?,
        created_at: from_millis(r.try_get(12)?),
        expires_at: from_millis(r.try_get(13)?),
    };
    Ok((row, r.try_get::<_, Option<i64>>(14)?.map(from_millis)))
}

impl UploadRepository for PgRepo {
    fn create_upload(&self, u: &UploadRow) -> RepoResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO uploads (id, user_id, length, upload_offset, path, if_match, \
                 content_hash, blob_key, multipart_id, parts, tail_key, block_digests, \
                 created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                &[
                    &u.staged.id,
                    &u.user_id,
                    &(u.length as i64),
                    &(u.staged.offset as i64),
                    &u.path,
                    &u.if_match,
                    &u.content_hash,
                    &u.staged.key,
                    &u.staged.multipart_id,
                    &parts_text(&u.staged.parts),
                    &u.staged.tail_key,
                    &u.block_digests,
                    &to_millis(u.created_at),
                    &to_millis(u.expires_at),
                ],
            )
            .map_err(backend)
        })?;
        Ok(())
    }

    fn upload(&self, user_id: &str, id: &str) -> RepoResult<Option<UploadRow>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt(
                &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND user_id = $2"),
                &[&id, &user_id],
            )
            .map_err(backend)?;
        row.map(|r| upload_from_row(&r).map(|(u, _)| u).map_err(backend))
            .transpose()
    }

    fn claim_upload(
        &self,
        user_id: &str,
        id: &str,
        offset: Option<u64>,
        lease: &UploadLease,
    ) -> RepoResult<UploadRow> {
        self.write(|tx| {
            let found = tx
                .query_opt(
                    &format!(
                        "SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND user_id = $2 \
                         FOR UPDATE"
                    ),
                    &[&id, &user_id],
                )
                .map_err(backend)?
                .ok_or(RepoError::NotFound("upload"))?;
            let (row, held_until) = upload_from_row(&found).map_err(backend)?;
            check_claim(&row, held_until, offset, lease)?;
            tx.execute(
                "UPDATE uploads SET lease_id = $2, lease_until = $3 WHERE id = $1",
                &[&id, &lease.id, &to_millis(lease.until)],
            )
            .map_err(backend)?;
            Ok(row)
        })
    }

    fn renew_upload_lease(&self, id: &str, lease: &UploadLease) -> RepoResult<bool> {
        let n = Pg::on(&mut *self.conn()?)
            .execute(
                "UPDATE uploads SET lease_until = $3 WHERE id = $1 AND lease_id = $2",
                &[&id, &lease.id, &to_millis(lease.until)],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn save_upload(&self, u: &UploadRow, lease_id: &str) -> RepoResult<bool> {
        let n = Pg::on(&mut *self.conn()?)
            .execute(
                "UPDATE uploads SET upload_offset = $3, multipart_id = $4, parts = $5, \
                 tail_key = $6, block_digests = $7, expires_at = $8, \
                 lease_id = NULL, lease_until = NULL WHERE id = $1 AND lease_id = $2",
                &[
                    &u.staged.id,
                    &lease_id,
                    &(u.staged.offset as i64),
                    &u.staged.multipart_id,
                    &parts_text(&u.staged.parts),
                    &u.staged.tail_key,
                    &u.block_digests,
                    &to_millis(u.expires_at),
                ],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn release_upload(&self, id: &str, lease_id: &str) -> RepoResult<()> {
        Pg::on(&mut *self.conn()?)
            .execute(
                "UPDATE uploads SET lease_id = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_id = $2",
                &[&id, &lease_id],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn delete_upload(&self, id: &str) -> RepoResult<()> {
        Pg::on(&mut *self.conn()?)
            .execute("DELETE FROM uploads WHERE id = $1", &[&id])
            .map_err(backend)?;
        Ok(())
    }

    fn expired_uploads(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<UploadRow>> {
        Pg::on(&mut *self.conn()?)
            .query(
                &format!(
                    "SELECT {UPLOAD_COLS} FROM uploads WHERE expires_at < $1 \
                     AND (lease_until IS NULL OR lease_until < $1) ORDER BY expires_at LIMIT $2"
                ),
                &[&to_millis(now), &(limit as i64)],
            )
            .map_err(backend)?
            .iter()
            .map(|r| upload_from_row(r).map(|(u, _)| u).map_err(backend))
            .collect()
    }
}
