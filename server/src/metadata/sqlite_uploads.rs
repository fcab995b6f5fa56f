//! The `uploads` table in SQLite's dialect (see `Repository`'s resumable uploads).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{backend, SqliteRepo};
use crate::metadata::logic::{check_claim, parts_from_text, parts_text};
use crate::metadata::model::{from_millis, to_millis, UploadLease, UploadRow};
use crate::metadata::{RepoError, RepoResult, UploadRepository};
use crate::storage::Staged;

const UPLOAD_COLS: &str = "id, user_id, length, upload_offset, path, if_match, content_hash, \
     blob_key, multipart_id, parts, tail_key, block_digests, created_at, expires_at, lease_until";

fn upload_from_row(r: &Row<'_>) -> rusqlite::Result<(UploadRow, Option<DateTime<Utc>>)> {
    let parts: String = r.get(9)?;
    let row = UploadRow {
        user_id: r.get(1)?,
        length: r.get::<_, i64>(2)? as u64,
        path: r.get(4)?,
        if_match: r.get(5)?,
        content_hash: r.get(6)?,
        staged: Staged {
            id: r.get(0)?,
            key: r.get(7)?,
            offset: r.get::<_, i64>(3)? as u64,
            multipart_id: r.get(8)?,
            parts: parts_from_text(&parts),
            tail_key: r.get(10)?,
        },
        block_digests: r.get(11)?,
        created_at: from_millis(r.get(12)?),
        expires_at: from_millis(r.get(13)?),
    };
    Ok((row, r.get::<_, Option<i64>>(14)?.map(from_millis)))
}

impl UploadRepository for SqliteRepo {
    fn create_upload(&self, u: &UploadRow) -> RepoResult<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO uploads (id, user_id, length, upload_offset, path, if_match, \
                 content_hash, blob_key, multipart_id, parts, tail_key, block_digests, \
                 created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    u.staged.id,
                    u.user_id,
                    u.length as i64,
                    u.staged.offset as i64,
                    u.path,
                    u.if_match,
                    u.content_hash,
                    u.staged.key,
                    u.staged.multipart_id,
                    parts_text(&u.staged.parts),
                    u.staged.tail_key,
                    u.block_digests,
                    to_millis(u.created_at),
                    to_millis(u.expires_at)
                ],
            )
            .map_err(backend)
        })?;
        Ok(())
    }

    fn upload(&self, user_id: &str, id: &str) -> RepoResult<Option<UploadRow>> {
        self.conn()?
            .query_row(
                &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = ?1 AND user_id = ?2"),
                params![id, user_id],
                upload_from_row,
            )
            .optional()
            .map(|found| found.map(|(row, _)| row))
            .map_err(backend)
    }

    fn claim_upload(
        &self,
        user_id: &str,
        id: &str,
        offset: Option<u64>,
        lease: &UploadLease,
    ) -> RepoResult<UploadRow> {
        self.write(|c| {
            let (row, held_until) = c
                .query_row(
                    &format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = ?1 AND user_id = ?2"),
                    params![id, user_id],
                    upload_from_row,
                )
                .optional()
                .map_err(backend)?
                .ok_or(RepoError::NotFound("upload"))?;
            check_claim(&row, held_until, offset, lease)?;
            c.execute(
                "UPDATE uploads SET lease_id = ?2, lease_until = ?3 WHERE id = ?1",
                params![id, lease.id, to_millis(lease.until)],
            )
            .map_err(backend)?;
            Ok(row)
        })
    }

    fn renew_upload_lease(&self, id: &str, lease: &UploadLease) -> RepoResult<bool> {
        let n = self.write(|c| {
            c.execute(
                "UPDATE uploads SET lease_until = ?3 WHERE id = ?1 AND lease_id = ?2",
                params![id, lease.id, to_millis(lease.until)],
            )
            .map_err(backend)
        })?;
        Ok(n == 1)
    }

    fn save_upload(&self, u: &UploadRow, lease_id: &str) -> RepoResult<bool> {
        let n = self.write(|c| {
            c.execute(
                "UPDATE uploads SET upload_offset = ?3, multipart_id = ?4, parts = ?5, \
                 tail_key = ?6, block_digests = ?7, expires_at = ?8, \
                 lease_id = NULL, lease_until = NULL WHERE id = ?1 AND lease_id = ?2",
                params![
                    u.staged.id,
                    lease_id,
                    u.staged.offset as i64,
                    u.staged.multipart_id,
                    parts_text(&u.staged.parts),
                    u.staged.tail_key,
                    u.block_digests,
                    to_millis(u.expires_at)
                ],
            )
            .map_err(backend)
        })?;
        Ok(n == 1)
    }

    fn release_upload(&self, id: &str, lease_id: &str) -> RepoResult<()> {
        self.write(|c| {
            c.execute(
                "UPDATE uploads SET lease_id = NULL, lease_until = NULL \
                 WHERE id = ?1 AND lease_id = ?2",
                params![id, lease_id],
            )
            .map_err(backend)
        })?;
        Ok(())
    }

    fn delete_upload(&self, id: &str) -> RepoResult<()> {
        self.write(|c| {
            c.execute("DELETE FROM uploads WHERE id = ?1", params![id])
                .map_err(backend)
        })?;
        Ok(())
    }

    fn expired_uploads(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<UploadRow>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {UPLOAD_COLS} FROM uploads WHERE expires_at < ?1 \
                 AND (lease_until IS NULL OR lease_until < ?1) ORDER BY expires_at LIMIT ?2"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![to_millis(now), limit as i64], |r| {
                upload_from_row(r).map(|(row, _)| row)
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }
}
