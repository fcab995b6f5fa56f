//! SQLite implementation of the repository: rusqlite behind an r2d2 pool, WAL journal and
//! `synchronous=FULL`, so a committed write survives a power cut before any 2xx goes out.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dbx_shared::api::ChangeOp;
use dbx_shared::names::name_key;
use parking_lot::{Mutex, MutexGuard};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension, Params, Row, TransactionBehavior};

use super::logic::{self, Store};
use super::model::*;
use super::sessions::{self, RefreshPolicy, Rotation, StoredToken, TokenStore};
use super::{RepoError, RepoResult, Repository};
use crate::failpoints::fail_db;

#[path = "sqlite_checkpoint.rs"]
mod checkpoint;
#[path = "sqlite_inline.rs"]
mod inline;
#[path = "sqlite_uploads.rs"]
mod uploads;

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_init.sql"),
    include_str!("../../../migrations/sqlite/0002_moves.sql"),
    include_str!("../../../migrations/sqlite/0003_refresh_token_families.sql"),
    include_str!("../../../migrations/sqlite/0004_database_identity.sql"),
    include_str!("../../../migrations/sqlite/0005_undo.sql"),
    include_str!("../../../migrations/sqlite/0006_webdav.sql"),
    include_str!("../../../migrations/sqlite/0007_uploads.sql"),
    include_str!("../../../migrations/sqlite/0008_inline_content.sql"),
];

/// Rewrites the paths below a moved folder: ?1 user, ?2..?3 the range of old case-folded
/// paths below it, ?4 and ?6 the new path and key, ?5 and ?7 where the rest of the old
/// path and key begins (in characters, as `substr` counts). The range is served by the
/// index `entries_live_path (user_id, path_key) WHERE deleted_at IS NULL`.
pub const MOVE_SUBTREE_SQL: &str = "UPDATE entries SET path = ?4 || substr(path, ?5), \
     path_key = ?6 || substr(path_key, ?7), updated_at = ?8 \
     WHERE user_id = ?1 AND deleted_at IS NULL AND path_key >= ?2 AND path_key < ?3";

const ENTRY_COLS: &str = "id, user_id, parent_id, kind, name, path, size, mime_type, \
     content_hash, version, blob_key, created_at, updated_at";

const VERSION_COLS: &str = "version, size, mime_type, content_hash, blob_key, created_at";

const SHARE_COLS: &str =
    "id, user_id, file_id, expires_at, max_downloads, download_count, disabled, created_at";

pub struct SqliteRepo {
    pool: Pool<SqliteConnectionManager>,
    /// Serializes this process's write transactions (see `write`).
    writer: Arc<Mutex<()>>,
    checkpoints: checkpoint::Checkpointer,
}

fn backend(e: impl std::fmt::Display) -> RepoError {
    RepoError::Backend(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// A unique violation on a write of `name` is that name taken; anything else a backend
/// error.
fn name_taken(name: &str) -> impl FnOnce(rusqlite::Error) -> RepoError + '_ {
    move |err| {
        if is_unique_violation(&err) {
            RepoError::Conflict(format!("'{name}' is already taken in that folder"))
        } else {
            backend(err)
        }
    }
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    let kind = EntryKind::from_i64(r.get(3)?);
    let content = match kind {
        EntryKind::Folder => None,
        EntryKind::File => Some(FileContent {
            size: r.get::<_, i64>(6)? as u64,
            mime_type: r.get(7)?,
            content_hash: r.get(8)?,
            version: r.get(9)?,
            blob_key: r.get(10)?,
        }),
    };
    Ok(EntryRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        parent_id: r.get(2)?,
        kind,
        name: r.get(4)?,
        path: r.get(5)?,
        content,
        created_at: from_millis(r.get(11)?),
        updated_at: from_millis(r.get(12)?),
    })
}

fn version_from_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        content: FileContent {
            version: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            mime_type: r.get(2)?,
            content_hash: r.get(3)?,
            blob_key: r.get(4)?,
        },
        created_at: from_millis(r.get(5)?),
    })
}

fn trash_from_row(r: &Row<'_>) -> rusqlite::Result<TrashRow> {
    Ok(TrashRow {
        entry: entry_from_row(r)?,
        deleted_at: from_millis(r.get(13)?),
        size: r.get::<_, i64>(14)? as u64,
    })
}

fn share_from_row(r: &Row<'_>) -> rusqlite::Result<ShareRow> {
    Ok(ShareRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        file_id: r.get(2)?,
        expires_at: r.get::<_, Option<i64>>(3)?.map(from_millis),
        max_downloads: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        download_count: r.get::<_, i64>(5)? as u64,
        disabled: r.get(6)?,
        created_at: from_millis(r.get(7)?),
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: from_millis(r.get(3)?),
    })
}

/// Statements through the connection's cache: preparing them anew was an eighth of the
/// server's CPU time for a new folder.
trait CachedStatements {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;

    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl CachedStatements for Connection {
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// The shared write rules' statements in SQLite's dialect, on a connection or (for
/// writes) an IMMEDIATE transaction.
struct Sqlite<'a>(&'a Connection);

impl Store for Sqlite<'_> {
    fn live_entry(&mut self, user_id: &str, id: &str) -> RepoResult<Option<EntryRow>> {
        self.0
            .query_row_cached(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE user_id = ?1 AND id = ?2 AND deleted_at IS NULL"),
                params![user_id, id],
                entry_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn live_entry_at(&mut self, user_id: &str, path: &str) -> RepoResult<Option<EntryRow>> {
        self.0
            .query_row_cached(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE user_id = ?1 AND path_key = ?2 AND deleted_at IS NULL"),
                params![user_id, name_key(path)],
                entry_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn insert_entry(&mut self, e: &EntryRow) -> RepoResult<()> {
        let c = e.content.as_ref();
        self.0
            .execute_cached(
                "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, size, \
                 mime_type, content_hash, version, blob_key, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    e.id,
                    e.user_id,
                    e.parent_id,
                    e.kind as i64,
                    e.name,
                    name_key(&e.name),
                    e.path,
                    name_key(&e.path),
                    c.map(|c| c.size as i64),
                    c.map(|c| c.mime_type.as_str()),
                    c.map(|c| c.content_hash.as_str()),
                    c.map(|c| c.version),
                    c.map(|c| c.blob_key.as_str()),
                    to_millis(e.created_at),
                    to_millis(e.updated_at),
                ],
            )
            .map_err(name_taken(&e.name))?;
        Ok(())
    }

    fn update_content(&mut self, id: &str, c: &FileContent, now: DateTime<Utc>) -> RepoResult<()> {
        self.0
            .execute_cached(
                "UPDATE entries SET size = ?1, mime_type = ?2, content_hash = ?3, version = ?4, \
                 blob_key = ?5, updated_at = ?6 WHERE id = ?7",
                params![
                    c.size as i64,
                    c.mime_type,
                    c.content_hash,
                    c.version,
                    c.blob_key,
                    to_millis(now),
                    id
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn has_live_children(&mut self, user_id: &str, folder_id: &str) -> RepoResult<bool> {
        self.0
            .query_row_cached(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE user_id = ?1 AND parent_id = ?2 \
                 AND deleted_at IS NULL)",
                params![user_id, folder_id],
                |r| r.get(0),
            )
            .map_err(backend)
    }

    fn mark_deleted(
        &mut self,
        user_id: &str,
        id: &str,
        subtree_prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.0
            .execute_cached(
                "UPDATE entries SET deleted_at = ?3, deleted_by = ?2 WHERE user_id = ?1 AND id = ?2",
                params![user_id, id, to_millis(now)],
            )
            .map_err(backend)?;
        if let Some(prefix) = subtree_prefix {
            self.0
                .execute_cached(
                    "UPDATE entries SET deleted_at = ?3, deleted_by = ?4 WHERE user_id = ?1 \
                     AND deleted_at IS NULL AND substr(path_key, 1, length(?2)) = ?2",
                    params![user_id, prefix, to_millis(now), id],
                )
                .map_err(backend)?;
        }
        Ok(())
    }

    /// The UPDATE takes the database's write lock (held since the IMMEDIATE transaction
    /// began), so positions are handed out in commit order without gaps.
    fn append_change(
        &mut self,
        entry: &EntryRow,
        op: ChangeOp,
        from_path: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        let seq: i64 = self
            .0
            .query_row_cached(
                "UPDATE users SET change_seq = change_seq + 1 WHERE id = ?1 RETURNING change_seq",
                params![entry.user_id],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let logged = LoggedEntry::of(&entry.to_api()).map_err(backend)?;
        self.0
            .execute_cached(
                "INSERT INTO changes (user_id, seq, op, entry_id, entry_json, from_path, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![entry.user_id, seq, op_name(op), entry.id, logged.as_str(), from_path, to_millis(now)],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn subtree_extent(&mut self, user_id: &str, path: &str) -> RepoResult<Option<(usize, usize)>> {
        let key = name_key(path);
        let (bytes, names): (Option<i64>, Option<i64>) = self
            .0
            .query_row_cached(
                "SELECT MAX(length(CAST(path AS BLOB))), \
                 MAX(length(path) - length(replace(path, '/', ''))) FROM entries \
                 WHERE user_id = ?1 AND deleted_at IS NULL AND path_key >= ?2 AND path_key < ?3",
                params![user_id, format!("{key}/"), format!("{key}0")],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(backend)?;
        Ok(bytes.zip(names).map(|(b, n)| (b as usize, n as usize)))
    }

    fn relocate(&mut self, e: &EntryRow, old_path: &str, now: DateTime<Utc>) -> RepoResult<()> {
        self.0
            .execute_cached(
                "UPDATE entries SET parent_id = ?2, name = ?3, name_key = ?4, path = ?5, \
                 path_key = ?6, updated_at = ?7 WHERE id = ?1",
                params![
                    e.id,
                    e.parent_id,
                    e.name,
                    name_key(&e.name),
                    e.path,
                    name_key(&e.path),
                    to_millis(now)
                ],
            )
            .map_err(name_taken(&e.name))?;
        if e.kind == EntryKind::Folder {
            let (old_key, new_key) = (name_key(old_path), name_key(&e.path));
            self.0
                .execute_cached(
                    MOVE_SUBTREE_SQL,
                    params![
                        e.user_id,
                        format!("{old_key}/"),
                        format!("{old_key}0"),
                        e.path,
                        old_path.chars().count() as i64 + 1,
                        new_key,
                        old_key.chars().count() as i64 + 1,
                        to_millis(now)
                    ],
                )
                .map_err(backend)?;
        }
        Ok(())
    }

    fn insert_inline_blob(&mut self, key: &str, data: &[u8], now: DateTime<Utc>) -> RepoResult<()> {
        inline::insert(self.0, key, data, now)
    }

    fn insert_share(&mut self, row: &ShareRow, token_hash: &str) -> RepoResult<()> {
        self.0
            .execute_cached(
                "INSERT INTO shares (id, user_id, file_id, token_hash, expires_at, max_downloads, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    row.id,
                    row.user_id,
                    row.file_id,
                    token_hash,
                    row.expires_at.map(to_millis),
                    row.max_downloads.map(|v| v as i64),
                    to_millis(row.created_at)
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn usage(&mut self, user_id: &str) -> RepoResult<u64> {
        let total: i64 = self
            .0
            .query_row_cached(
                "SELECT COALESCE(SUM(size), 0) FROM entries WHERE user_id = ?1 AND kind = 1 AND deleted_at IS NULL",
                params![user_id],
                |r| r.get(0),
            )
            .map_err(backend)?;
        Ok(total as u64)
    }

    fn insert_version(&mut self, file: &EntryRow, now: DateTime<Utc>) -> RepoResult<()> {
        let c = file
            .content
            .as_ref()
            .ok_or_else(|| RepoError::Backend("a version of a folder".into()))?;
        self.0
            .prepare_cached(
                "INSERT INTO file_versions (file_id, version, user_id, size, mime_type, \
                 content_hash, blob_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    file.id,
                    c.version,
                    file.user_id,
                    c.size as i64,
                    c.mime_type,
                    c.content_hash,
                    c.blob_key,
                    to_millis(now)
                ])
            })
            .map_err(backend)?;
        Ok(())
    }

    fn retire_version(
        &mut self,
        file_id: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.0
            .prepare_cached(
                "UPDATE file_versions SET replaced_at = ?3 WHERE file_id = ?1 AND version = ?2",
            )
            .and_then(|mut st| st.execute(params![file_id, version, to_millis(now)]))
            .map_err(backend)?;
        Ok(())
    }

    fn versions(&mut self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {VERSION_COLS} FROM file_versions WHERE user_id = ?1 AND file_id = ?2 \
                 ORDER BY version DESC"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, file_id], version_from_row)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn version(
        &mut self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<Option<VersionRow>> {
        self.0
            .query_row_cached(
                &format!(
                    "SELECT {VERSION_COLS} FROM file_versions \
                     WHERE user_id = ?1 AND file_id = ?2 AND version = ?3"
                ),
                params![user_id, file_id, version],
                version_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn trashed(&mut self, user_id: &str, item_id: &str) -> RepoResult<Vec<EntryRow>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLS} FROM entries WHERE user_id = ?1 AND deleted_by = ?2 \
                 AND deleted_at IS NOT NULL"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, item_id], entry_from_row)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn undelete(&mut self, e: &EntryRow, now: DateTime<Utc>) -> RepoResult<()> {
        self.0
            .execute_cached(
                "UPDATE entries SET parent_id = ?3, name = ?4, name_key = ?5, path = ?6, \
                 path_key = ?7, updated_at = ?8, deleted_at = NULL, deleted_by = NULL \
                 WHERE user_id = ?1 AND id = ?2 AND deleted_at IS NOT NULL",
                params![
                    e.user_id,
                    e.id,
                    e.parent_id,
                    e.name,
                    name_key(&e.name),
                    e.path,
                    name_key(&e.path),
                    to_millis(now)
                ],
            )
            .map_err(|err| {
                if is_unique_violation(&err) {
                    RepoError::Conflict(format!("'{}' is already taken", e.path))
                } else {
                    backend(err)
                }
            })?;
        Ok(())
    }

    fn held_blob(&mut self, user_id: &str, hash: &str, size: u64) -> RepoResult<Option<String>> {
        self.0
            .query_row_cached(
                "SELECT blob_key FROM file_versions \
                 WHERE user_id = ?1 AND content_hash = ?2 AND size = ?3 LIMIT 1",
                params![user_id, hash, size as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)
    }

    fn trash_item_ids(&mut self, user_id: &str) -> RepoResult<Vec<String>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT id FROM entries WHERE user_id = ?1 AND deleted_by = id")
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id], |r| r.get(0))
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn purge_item(
        &mut self,
        user_id: &str,
        item_id: &str,
        deleted_before: Option<DateTime<Utc>>,
    ) -> RepoResult<bool> {
        let before = deleted_before.map_or(i64::MAX, to_millis);
        let found: Option<i64> = self
            .0
            .query_row_cached(
                "SELECT 1 FROM entries WHERE user_id = ?1 AND id = ?2 AND deleted_by = ?2 \
                 AND deleted_at < ?3",
                params![user_id, item_id, before],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        if found.is_none() {
            return Ok(false);
        }
        for sql in PURGE_ITEM {
            self.0
                .execute_cached(sql, params![user_id, item_id])
                .map_err(backend)?;
        }
        Ok(true)
    }
}

/// Runs inside `write`'s IMMEDIATE transaction, which already excludes every other
/// writer: reading a token is as good as locking it.
impl TokenStore for Sqlite<'_> {
    fn token_for_update(&mut self, token_hash: &str) -> RepoResult<Option<StoredToken>> {
        self.0
            .query_row_cached(
                "SELECT user_id, family_id, session_started_at, expires_at, retired_at, rotated_at \
                 FROM refresh_tokens WHERE token_hash = ?1",
                params![token_hash],
                |r| {
                    Ok(StoredToken {
                        user_id: r.get(0)?,
                        family_id: r.get(1)?,
                        session_started_at: from_millis(r.get(2)?),
                        expires_at: from_millis(r.get(3)?),
                        retired_at: r.get::<_, Option<i64>>(4)?.map(from_millis),
                        rotated_at: r.get::<_, Option<i64>>(5)?.map(from_millis),
                    })
                },
            )
            .optional()
            .map_err(backend)
    }

    fn family_live(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<bool> {
        self.0
            .query_row_cached(
                "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?1 \
                 AND retired_at IS NULL AND expires_at > ?2)",
                params![family_id, to_millis(now)],
                |r| r.get(0),
            )
            .map_err(backend)
    }

    fn insert_token(&mut self, token_hash: &str, t: &StoredToken) -> RepoResult<()> {
        self.0
            .execute_cached(
                "INSERT INTO refresh_tokens (token_hash, user_id, family_id, session_started_at, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    token_hash,
                    t.user_id,
                    t.family_id,
                    to_millis(t.session_started_at),
                    to_millis(t.expires_at)
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn retire_token(
        &mut self,
        token_hash: &str,
        now: DateTime<Utc>,
        rotated: bool,
    ) -> RepoResult<()> {
        let now = to_millis(now);
        self.0
            .execute_cached(
                "UPDATE refresh_tokens SET retired_at = ?2, rotated_at = ?3 \
                 WHERE token_hash = ?1 AND retired_at IS NULL",
                params![token_hash, now, rotated.then_some(now)],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn retire_family(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<u64> {
        let n = self
            .0
            .execute_cached(
                "UPDATE refresh_tokens SET retired_at = ?2 WHERE family_id = ?1 AND retired_at IS NULL",
                params![family_id, to_millis(now)],
            )
            .map_err(backend)?;
        Ok(n as u64)
    }
}
/// Removing trash item ?2 of user ?1, in this order: rows of older trash items that were
/// below it are detached from it (they are restored by path, and a dangling parent would
/// break the foreign key); then its links, versions and rows go.
const PURGE_ITEM: [&str; 4] = [
    "UPDATE entries SET parent_id = NULL WHERE user_id = ?1 AND deleted_at IS NOT NULL \
     AND deleted_by <> ?2 \
     AND parent_id IN (SELECT id FROM entries WHERE user_id = ?1 AND deleted_by = ?2)",
    "DELETE FROM shares WHERE user_id = ?1 \
     AND file_id IN (SELECT id FROM entries WHERE user_id = ?1 AND deleted_by = ?2)",
    "DELETE FROM file_versions WHERE user_id = ?1 \
     AND file_id IN (SELECT id FROM entries WHERE user_id = ?1 AND deleted_by = ?2)",
    "DELETE FROM entries WHERE user_id = ?1 AND deleted_by = ?2",
];

/// Statements each connection keeps prepared: more than the repository has.
const STATEMENT_CACHE: usize = 128;

impl SqliteRepo {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> RepoResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_fs::create_dir(dir).map_err(backend)?;
        }
        // Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
        // database file's mode.
        crate::private_fs::create_file(path).map_err(backend)?;
        // Checkpoints are the checkpoint thread's job; a writer checkpoints only as a
        // backstop, when the log reaches 4,000 pages (see `checkpoint`).
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            c.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA wal_autocheckpoint = 4000;",
            )
        });
        let pool = Pool::builder()
            .max_size(8)
            .build(manager)
            .map_err(backend)?;
        // The pool's first connections have switched the file to WAL by now.
        let writer = Arc::new(Mutex::new(()));
        let checkpoints =
            checkpoint::Checkpointer::start(path, Arc::clone(&writer)).map_err(backend)?;
        Ok(SqliteRepo {
            pool,
            writer,
            checkpoints,
        })
    }

    /// Parses `sqlite://PATH` and opens it.
    pub fn open_url(url: &str) -> RepoResult<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .ok_or_else(|| RepoError::Invalid(format!("not a sqlite:// URL: {url}")))?;
        Self::open(Path::new(path))
    }

    fn conn(&self) -> RepoResult<r2d2::PooledConnection<SqliteConnectionManager>> {
        self.pool.get().map_err(backend)
    }

    /// Runs `f` in an IMMEDIATE transaction (the write lock is taken up front, so two
    /// writers never deadlock upgrading a read lock) and commits when it succeeds.
    ///
    /// Writers of this process queue on a mutex first: SQLite admits one writer at a
    /// time anyway, and its busy handler retries with sleeps of up to 100 ms, which under
    /// contention turned into tail latencies of hundreds of milliseconds. Readers are not
    /// held up (WAL). The turn is handed on in the order it was asked for: a thread that
    /// has just let it go cannot take it again ahead of those waiting, which under load
    /// kept the checkpoint thread waiting for it 390 ms while the log grew past its mark.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> RepoResult<T>) -> RepoResult<T> {
        let turn = self.writer.lock();
        let out = (|| {
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let out = f(&tx)?;
            fail_db!("db.commit");
            tx.commit().map_err(backend)?;
            self.checkpoints.committed();
            fail_db!("db.after_commit");
            Ok(out)
        })();
        MutexGuard::unlock_fair(turn);
        out
    }
}

impl Repository for SqliteRepo {
    fn migrate(&self) -> RepoResult<()> {
        self.write(|c| {
            let current: i64 = c
                .query_row_cached("PRAGMA user_version", [], |r| r.get(0))
                .map_err(backend)?;
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                c.execute_batch(sql).map_err(backend)?;
                c.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                    .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<UserRow> {
        let user = UserRow {
            id: new_id(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            created_at: now,
        };
        self.write(|c| {
            c.execute_cached(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![user.id, user.email, user.password_hash, to_millis(now)],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    RepoError::Conflict("that e-mail is already registered".into())
                } else {
                    backend(e)
                }
            })
        })?;
        Ok(user)
    }

    fn user_by_email(&self, email: &str) -> RepoResult<Option<UserRow>> {
        self.conn()?
            .query_row_cached(
                "SELECT id, email, password_hash, created_at FROM users WHERE email = ?1",
                params![email],
                user_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn user_by_id(&self, user_id: &str) -> RepoResult<Option<UserRow>> {
        self.conn()?
            .query_row_cached(
                "SELECT id, email, password_hash, created_at FROM users WHERE id = ?1",
                params![user_id],
                user_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn user_ids(&self) -> RepoResult<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id FROM users").map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn usage_bytes(&self, user_id: &str) -> RepoResult<u64> {
        Sqlite(&*self.conn()?).usage(user_id)
    }

    fn add_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.write(|c| sessions::start(&mut Sqlite(c), user_id, token_hash, policy, now))
    }

    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<Rotation> {
        self.write(|c| sessions::rotate(&mut Sqlite(c), old_hash, new_hash, policy, now))
    }

    fn revoke_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<bool> {
        self.write(|c| sessions::end(&mut Sqlite(c), user_id, token_hash, now))
    }

    fn add_app_password(&self, row: &AppPasswordRow, secret_hash: &str) -> RepoResult<()> {
        self.write(|c| {
            c.execute_cached(
                "INSERT INTO app_passwords (id, user_id, name, name_key, secret_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    row.id,
                    row.user_id,
                    row.name,
                    name_key(&row.name),
                    secret_hash,
                    to_millis(row.created_at)
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    logic::app_password_name_taken(&row.name)
                } else {
                    backend(e)
                }
            })
        })?;
        Ok(())
    }

    fn list_app_passwords(&self, user_id: &str) -> RepoResult<Vec<AppPasswordRow>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, user_id, name, created_at FROM app_passwords WHERE user_id = ?1 \
                 ORDER BY created_at, id",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id], |r| {
                Ok(AppPasswordRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    name: r.get(2)?,
                    created_at: from_millis(r.get(3)?),
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn revoke_app_password(&self, user_id: &str, id: &str) -> RepoResult<()> {
        let n = self.write(|c| {
            c.execute_cached(
                "DELETE FROM app_passwords WHERE user_id = ?1 AND id = ?2",
                params![user_id, id],
            )
            .map_err(backend)
        })?;
        if n == 0 {
            return Err(RepoError::NotFound("app password"));
        }
        Ok(())
    }

    fn user_by_app_password(&self, email: &str, secret_hash: &str) -> RepoResult<Option<UserRow>> {
        self.conn()?
            .query_row_cached(
                "SELECT u.id, u.email, u.password_hash, u.created_at FROM app_passwords a \
                 JOIN users u ON u.id = a.user_id WHERE a.secret_hash = ?1 AND u.email = ?2",
                params![secret_hash, email],
                user_from_row,
            )
            .optional()
            .map_err(backend)
    }

    fn entry(&self, user_id: &str, entry_id: &str) -> RepoResult<Option<EntryRow>> {
        Sqlite(&*self.conn()?).live_entry(user_id, entry_id)
    }

    fn entry_by_path(&self, user_id: &str, names: &[String]) -> RepoResult<Option<EntryRow>> {
        logic::entry_by_path(&mut Sqlite(&*self.conn()?), user_id, names)
    }

    fn list_children(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> RepoResult<Vec<EntryRow>> {
        let conn = self.conn()?;
        logic::parent_folder(&mut Sqlite(&conn), user_id, parent_id)?;
        let (after_kind, after_key) = match after {
            Some(p) => (p.kind as i64, p.name_key.clone()),
            None => (-1, String::new()),
        };
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLS} FROM entries WHERE user_id = ?1 AND parent_id IS ?2 \
                 AND deleted_at IS NULL AND (kind, name_key) > (?3, ?4) \
                 ORDER BY kind, name_key LIMIT ?5"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![user_id, parent_id, after_kind, after_key, limit as i64],
                entry_from_row,
            )
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn create_folder(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        name: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write(|c| logic::create_folder(&mut Sqlite(c), user_id, parent_id, name, now))
    }

    fn put_file(
        &self,
        user_id: &str,
        write: &FileWrite,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome> {
        self.write(|c| logic::put_file(&mut Sqlite(c), user_id, write, now))
    }

    fn delete_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        kind: EntryKind,
        check: &DeleteCheck,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.write(|c| logic::delete_entry(&mut Sqlite(c), user_id, entry_id, kind, check, now))
    }

    fn move_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        to: &MoveTo,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write(|c| logic::move_entry(&mut Sqlite(c), user_id, entry_id, to, now))
    }

    fn copy_file(
        &self,
        user_id: &str,
        source_id: &str,
        target: &FileTarget,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome> {
        self.write(|c| {
            logic::copy_file(&mut Sqlite(c), user_id, source_id, target, quota_bytes, now)
        })
    }

    fn refresh_statistics(&self) -> RepoResult<Vec<String>> {
        // SQLite's planner picks these queries' indexes without statistics.
        Ok(Vec::new())
    }

    fn referenced_blobs(&self) -> RepoResult<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT blob_key FROM entries WHERE blob_key IS NOT NULL \
                 UNION SELECT blob_key FROM file_versions",
            )
            .map_err(backend)?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn file_versions(&self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>> {
        logic::file_versions(&mut Sqlite(&*self.conn()?), user_id, file_id)
    }

    fn file_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<(EntryRow, VersionRow)> {
        logic::file_version(&mut Sqlite(&*self.conn()?), user_id, file_id, version)
    }

    fn restore_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write(|c| {
            logic::restore_version(&mut Sqlite(c), user_id, file_id, version, quota_bytes, now)
        })
    }

    fn list_trash(
        &self,
        user_id: &str,
        after: Option<&TrashPosition>,
        limit: usize,
    ) -> RepoResult<Vec<TrashRow>> {
        let conn = self.conn()?;
        let (after_at, after_id) = match after {
            Some(p) => (to_millis(p.deleted_at), p.id.as_str()),
            None => (i64::MAX, ""),
        };
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLS}, deleted_at, \
                 (SELECT COALESCE(SUM(s.size), 0) FROM entries s WHERE s.user_id = e.user_id \
                  AND s.deleted_by = e.id AND s.kind = 1) \
                 FROM entries e WHERE e.user_id = ?1 AND e.deleted_by = e.id \
                 AND (e.deleted_at < ?2 OR (e.deleted_at = ?2 AND e.id < ?3)) \
                 ORDER BY e.deleted_at DESC, e.id DESC LIMIT ?4"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(
                params![user_id, after_at, after_id, limit as i64],
                trash_from_row,
            )
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn restore_trash(
        &self,
        user_id: &str,
        item_id: &str,
        to: &RestoreTo,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write(|c| logic::restore_trash(&mut Sqlite(c), user_id, item_id, to, quota_bytes, now))
    }

    fn purge_trash(&self, user_id: &str, item_id: Option<&str>) -> RepoResult<u64> {
        self.write(|c| logic::purge_trash(&mut Sqlite(c), user_id, item_id))
    }

    fn expire(
        &self,
        versions_before: DateTime<Utc>,
        trash_before: DateTime<Utc>,
        dry_run: bool,
    ) -> RepoResult<Expired> {
        let versions = if dry_run {
            self.conn()?
                .query_row_cached(
                    "SELECT COUNT(*) FROM file_versions WHERE replaced_at < ?1",
                    params![to_millis(versions_before)],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(backend)? as u64
        } else {
            self.write(|c| {
                fail_db!("expire.versions");
                c.execute_cached(
                    "DELETE FROM file_versions WHERE replaced_at < ?1",
                    params![to_millis(versions_before)],
                )
                .map_err(backend)
            })? as u64
        };
        let items: Vec<(String, String)> = {
            let conn = self.conn()?;
            let mut stmt = conn
                .prepare(
                    "SELECT user_id, id FROM entries WHERE deleted_by = id AND deleted_at < ?1",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![to_millis(trash_before)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)?
        };
        let mut trash_items = 0;
        for (user, item) in items {
            // Checked again in the purge: the item may have been restored since.
            let purged = dry_run
                || self.write(|c| {
                    fail_db!("expire.trash_item");
                    Sqlite(c).purge_item(&user, &item, Some(trash_before))
                })?;
            trash_items += u64::from(purged);
        }
        Ok(Expired {
            versions,
            trash_items,
        })
    }

    fn create_share(
        &self,
        user_id: &str,
        share: &NewShare,
        now: DateTime<Utc>,
    ) -> RepoResult<ShareRow> {
        self.write(|c| logic::create_share(&mut Sqlite(c), user_id, share, now))
    }

    fn list_shares(&self, user_id: &str) -> RepoResult<Vec<ShareRow>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {SHARE_COLS} FROM shares WHERE user_id = ?1 ORDER BY created_at, id"
            ))
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id], share_from_row)
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn revoke_share(&self, user_id: &str, share_id: &str) -> RepoResult<()> {
        let n = self.write(|c| {
            c.execute_cached(
                "UPDATE shares SET disabled = 1 WHERE user_id = ?1 AND id = ?2",
                params![user_id, share_id],
            )
            .map_err(backend)
        })?;
        if n == 0 {
            return Err(RepoError::NotFound("share link"));
        }
        Ok(())
    }

    fn share_by_token_hash(
        &self,
        token_hash: &str,
    ) -> RepoResult<Option<(ShareRow, Option<EntryRow>)>> {
        let conn = self.conn()?;
        let share = conn
            .query_row_cached(
                &format!("SELECT {SHARE_COLS} FROM shares WHERE token_hash = ?1"),
                params![token_hash],
                share_from_row,
            )
            .optional()
            .map_err(backend)?;
        let Some(share) = share else {
            return Ok(None);
        };
        let file = Sqlite(&conn).live_entry(&share.user_id, &share.file_id)?;
        Ok(Some((share, file)))
    }

    fn count_share_download(&self, share_id: &str) -> RepoResult<bool> {
        let n = self.write(|c| {
            c.execute_cached(
                "UPDATE shares SET download_count = download_count + 1 WHERE id = ?1 \
                 AND (max_downloads IS NULL OR download_count < max_downloads)",
                params![share_id],
            )
            .map_err(backend)
        })?;
        Ok(n == 1)
    }

    fn database_id(&self) -> RepoResult<String> {
        self.conn()?
            .query_row_cached("SELECT id FROM database_identity", [], |r| r.get(0))
            .map_err(backend)
    }

    fn dav_props(&self, user_id: &str, entry_id: &str) -> RepoResult<Vec<DavPropRow>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT namespace, name, prefix, xml FROM dav_properties \
                 WHERE user_id = ?1 AND entry_id = ?2 ORDER BY namespace, name",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, entry_id], |r| {
                Ok(DavPropRow {
                    namespace: r.get(0)?,
                    name: r.get(1)?,
                    prefix: r.get(2)?,
                    xml: r.get(3)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<_, _>>().map_err(backend)
    }

    fn patch_dav_props(
        &self,
        user_id: &str,
        entry_id: &str,
        set: &[DavPropRow],
        remove: &[(String, String)],
    ) -> RepoResult<()> {
        self.write(|c| {
            for p in set {
                c.execute_cached(
                    "INSERT OR REPLACE INTO dav_properties \
                     (user_id, entry_id, namespace, name, prefix, xml) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![user_id, entry_id, p.namespace, p.name, p.prefix, p.xml],
                )
                .map_err(backend)?;
            }
            for (namespace, name) in remove {
                c.execute_cached(
                    "DELETE FROM dav_properties WHERE user_id = ?1 AND entry_id = ?2 \
                     AND namespace = ?3 AND name = ?4",
                    params![user_id, entry_id, namespace, name],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn latest_change(&self, user_id: &str) -> RepoResult<i64> {
        let seq: Option<i64> = self
            .conn()?
            .query_row_cached(
                "SELECT change_seq FROM users WHERE id = ?1",
                params![user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(backend)?;
        seq.ok_or(RepoError::NotFound("user"))
    }

    fn changes_since(&self, user_id: &str, after: i64, limit: usize) -> RepoResult<Vec<ChangeRow>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, op, entry_json, from_path FROM changes WHERE user_id = ?1 \
                 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, after, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(backend)?;
        rows.map(|row| {
            let (seq, op, json, from_path) = row.map_err(backend)?;
            Ok(ChangeRow {
                seq,
                op: op_from_name(&op),
                from_path,
                entry: LoggedEntry::from_log(json),
            })
        })
        .collect()
    }
}
