//! PostgreSQL implementation of the repository: the blocking `postgres` client behind an
//! r2d2 pool, READ COMMITTED transactions.
//!
//! Concurrency: every transaction that writes a user's entries first takes that user's row
//! lock (`SELECT ... FOR NO KEY UPDATE`), so one user's writers run one after another: a
//! lookup-then-insert never races another writer of the same user, and the change-log
//! position bumped under that lock is gap-free in commit order (DESIGN.md invariant 3).
//! Different users never wait for each other. Each change also sends
//! `NOTIFY dbx_changes, '<user id>'` in its transaction, so other server processes wake
//! their long-polls when it commits (see `changes::pg_waker`).
//!
//! The client is blocking and must never run on a tokio worker thread: `Db::run` calls it
//! on the blocking pool, and dropping the pool is moved off the runtime (see `Drop`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use dbx_shared::api::ChangeOp;
use dbx_shared::names::name_key;
use postgres::error::SqlState;
use postgres::{Config, GenericClient, IsolationLevel, NoTls, Row, Transaction};
use r2d2::{Pool, PooledConnection};

use super::logic::{self, Store};
use super::model::*;
use super::sessions::{self, RefreshPolicy, Rotation, StoredToken, TokenStore};
use super::{RepoError, RepoResult, Repository};
use crate::failpoints::fail_db;

#[path = "postgres_conn.rs"]
mod conn;
#[path = "postgres_inline.rs"]
mod inline;
#[path = "postgres_uploads.rs"]
mod uploads;

use conn::{Manager, Pg};

const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_moves.sql"),
    include_str!("../../../migrations/postgres/0003_refresh_token_families.sql"),
    include_str!("../../../migrations/postgres/0004_database_identity.sql"),
    include_str!("../../../migrations/postgres/0005_undo.sql"),
    include_str!("../../../migrations/postgres/0006_webdav.sql"),
    include_str!("../../../migrations/postgres/0007_uploads.sql"),
    include_str!("../../../migrations/postgres/0008_inline_content.sql"),
];

/// Rewrites the paths below a moved folder: $1 user, $2..$3 the range of old case-folded
/// paths below it, $4 and $6 the new path and key, $5 and $7 where the rest of the old
/// path and key begins (in characters, as `substr` counts). `path_key` has the "C"
/// collation, so the range is bytewise and served by the index
/// `entries_live_path (user_id, path_key) WHERE deleted_at IS NULL`.
pub const MOVE_SUBTREE_SQL: &str = "UPDATE entries SET path = $4 || substr(path, $5), \
     path_key = $6 || substr(path_key, $7), updated_at = $8 \
     WHERE user_id = $1 AND deleted_at IS NULL AND path_key >= $2 AND path_key < $3";

/// Key of the advisory lock that makes concurrent `migrate` calls take turns.
const MIGRATION_LOCK: i64 = 0x6462_785f_6d69_6772;

/// The channel each committed change is announced on; the payload is the user id.
pub const CHANGES_CHANNEL: &str = "dbx_changes";

const ENTRY_COLS: &str = "id, user_id, parent_id, kind, name, path, size, mime_type, \
     content_hash, version, blob_key, created_at, updated_at";

const VERSION_COLS: &str = "version, size, mime_type, content_hash, blob_key, created_at";

const SHARE_COLS: &str =
    "id, user_id, file_id, expires_at, max_downloads, download_count, disabled, created_at";

/// True for the URL schemes this backend opens.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Parses a `postgres://` URL, with a connect timeout and an application name (as
/// `pg_stat_activity` shows it) unless the URL sets them.
pub fn parse_url(url: &str) -> RepoResult<Config> {
    let mut config: Config = url
        .parse()
        .map_err(|e| RepoError::Invalid(format!("not a valid Postgres URL: {}", one_line(&e))))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_application_name().is_none() {
        config.application_name("dbx-server");
    }
    Ok(config)
}

/// `host:port/db` of a config, for messages (never the password).
pub fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!("{host}:{port}/{db}")
}

/// An error and its causes as one line. The `postgres` crate's own text is only the kind
/// ("db error", "error connecting to server"): the server's message and the OS error are
/// in the causes. DETAIL and HINT lines are joined in.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.replace('\n', "; ")
}

fn backend(e: postgres::Error) -> RepoError {
    if is_unreachable(&e) {
        RepoError::Unavailable(one_line(&e))
    } else {
        RepoError::Backend(one_line(&e))
    }
}

/// An error that is not the database's (JSON of a change-log row).
fn other(e: impl std::error::Error) -> RepoError {
    RepoError::Backend(one_line(&e))
}

/// The server is gone or going (a broken or refused connection, a shutdown, a server that
/// does not accept connections yet), as opposed to an error in a statement.
fn is_unreachable(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            // Class 08: connection exception; 57P01-57P03: admin or crash shutdown, cannot
            // connect now; 53300: too many connections.
            c.starts_with("08") || c.starts_with("57P") || c == "53300"
        }
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A unique violation on a write of `name` is that name taken; anything else a backend
/// error.
fn name_taken(name: &str) -> impl FnOnce(postgres::Error) -> RepoError + '_ {
    move |err| {
        if is_unique_violation(&err) {
            RepoError::Conflict(format!("'{name}' is already taken in that folder"))
        } else {
            backend(err)
        }
    }
}

fn entry_from_row(r: &Row) -> Result<EntryRow, postgres::Error> {
    let kind = EntryKind::from_i64(i64::from(r.try_get::<_, i32>(3)?));
    let content = match kind {
        EntryKind::Folder => None,
        EntryKind::File => Some(FileContent {
            size: r.try_get::<_, i64>(6)? as u64,
            mime_type: r.try_get(7)?,
            content_hash: r.try_get(8)?,
            version: r.try_get(9)?,
            blob_key: r.try_get(10)?,
        }),
    };
    Ok(EntryRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        parent_id: r.try_get(2)?,
        kind,
        name: r.try_get(4)?,
        path: r.try_get(5)?,
        content,
        created_at: from_millis(r.try_get(11)?),
        updated_at: from_millis(r.try_get(12)?),
    })
}

fn version_from_row(r: &Row) -> Result<VersionRow, postgres::Error> {
    Ok(VersionRow {
        content: FileContent {
            version: r.try_get(0)?,
            size: r.try_get::<_, i64>(1)? as u64,
            mime_type: r.try_get(2)?,
            content_hash: r.try_get(3)?,
            blob_key: r.try_get(4)?,
        },
        created_at: from_millis(r.try_get(5)?),
    })
}

fn trash_from_row(r: &Row) -> Result<TrashRow, postgres::Error> {
    Ok(TrashRow {
        entry: entry_from_row(r)?,
        deleted_at: from_millis(r.try_get(13)?),
        size: r.try_get::<_, i64>(14)? as u64,
    })
}

fn share_from_row(r: &Row) -> Result<ShareRow, postgres::Error> {
    Ok(ShareRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        file_id: r.try_get(2)?,
        expires_at: r.try_get::<_, Option<i64>>(3)?.map(from_millis),
        max_downloads: r.try_get::<_, Option<i64>>(4)?.map(|v| v as u64),
        download_count: r.try_get::<_, i64>(5)? as u64,
        disabled: r.try_get(6)?,
        created_at: from_millis(r.try_get(7)?),
    })
}

fn user_from_row(r: &Row) -> Result<UserRow, postgres::Error> {
    Ok(UserRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        created_at: from_millis(r.try_get(3)?),
    })
}

/// Maps each row, turning a decoding failure into a backend error.
fn rows<T>(rows: Vec<Row>, f: fn(&Row) -> Result<T, postgres::Error>) -> RepoResult<Vec<T>> {
    rows.iter().map(|r| f(r).map_err(backend)).collect()
}

fn one<T>(row: Option<Row>, f: fn(&Row) -> Result<T, postgres::Error>) -> RepoResult<Option<T>> {
    row.as_ref().map(f).transpose().map_err(backend)
}

/// Takes the user's row lock for the rest of the transaction, so that this user's writers
/// run one at a time. `FOR NO KEY UPDATE` leaves inserts that merely reference the user
/// (refresh tokens at login) unblocked.
fn lock_user(tx: &mut Pg<'_, Transaction<'_>>, user_id: &str) -> RepoResult<()> {
    tx.query_opt(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&user_id],
    )
    .map_err(backend)?
    .map(|_| ())
    .ok_or(RepoError::NotFound("user"))
}

/// The shared write rules' statements, on a pooled client or (for writes) a transaction
/// that holds the user's row lock (`lock_user`).
impl<C: GenericClient> Store for Pg<'_, C> {
    fn live_entry(&mut self, user_id: &str, id: &str) -> RepoResult<Option<EntryRow>> {
        let row = self
            .query_opt(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE user_id = $1 AND id = $2 AND deleted_at IS NULL"),
                &[&user_id, &id],
            )
            .map_err(backend)?;
        one(row, entry_from_row)
    }

    fn live_entry_at(&mut self, user_id: &str, path: &str) -> RepoResult<Option<EntryRow>> {
        let row = self
            .query_opt(
                &format!("SELECT {ENTRY_COLS} FROM entries WHERE user_id = $1 AND path_key = $2 AND deleted_at IS NULL"),
                &[&user_id, &name_key(path)],
            )
            .map_err(backend)?;
        one(row, entry_from_row)
    }

    fn insert_entry(&mut self, e: &EntryRow) -> RepoResult<()> {
        let c = e.content.as_ref();
        self
            .execute(
                "INSERT INTO entries (id, user_id, parent_id, kind, name, name_key, path, path_key, size, \
                 mime_type, content_hash, version, blob_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                &[
                    &e.id,
                    &e.user_id,
                    &e.parent_id,
                    &(e.kind as i32),
                    &e.name,
                    &name_key(&e.name),
                    &e.path,
                    &name_key(&e.path),
                    &c.map(|c| c.size as i64),
                    &c.map(|c| c.mime_type.as_str()),
                    &c.map(|c| c.content_hash.as_str()),
                    &c.map(|c| c.version),
                    &c.map(|c| c.blob_key.as_str()),
                    &to_millis(e.created_at),
                    &to_millis(e.updated_at),
                ],
            )
            .map_err(name_taken(&e.name))?;
        Ok(())
    }

    fn update_content(&mut self, id: &str, c: &FileContent, now: DateTime<Utc>) -> RepoResult<()> {
        self.execute(
            "UPDATE entries SET size = $1, mime_type = $2, content_hash = $3, version = $4, \
                 blob_key = $5, updated_at = $6 WHERE id = $7",
            &[
                &(c.size as i64),
                &c.mime_type,
                &c.content_hash,
                &c.version,
                &c.blob_key,
                &to_millis(now),
                &id,
            ],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn has_live_children(&mut self, user_id: &str, folder_id: &str) -> RepoResult<bool> {
        self.query_one(
            "SELECT EXISTS (SELECT 1 FROM entries WHERE user_id = $1 AND parent_id = $2 \
                 AND deleted_at IS NULL)",
            &[&user_id, &folder_id],
        )
        .and_then(|r| r.try_get(0))
        .map_err(backend)
    }

    fn mark_deleted(
        &mut self,
        user_id: &str,
        id: &str,
        subtree_prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.execute(
            "UPDATE entries SET deleted_at = $3, deleted_by = $2 WHERE user_id = $1 AND id = $2",
            &[&user_id, &id, &to_millis(now)],
        )
        .map_err(backend)?;
        if let Some(prefix) = subtree_prefix {
            self.execute(
                "UPDATE entries SET deleted_at = $3, deleted_by = $4 WHERE user_id = $1 \
                     AND deleted_at IS NULL AND starts_with(path_key, $2)",
                &[&user_id, &prefix, &to_millis(now), &id],
            )
            .map_err(backend)?;
        }
        Ok(())
    }

    /// Also announces the change to other processes on commit. The caller holds the
    /// user's row lock (`lock_user`), which keeps positions gap-free in commit order.
    fn append_change(
        &mut self,
        entry: &EntryRow,
        op: ChangeOp,
        from_path: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        let logged = LoggedEntry::of(&entry.to_api()).map_err(other)?;
        // One round trip: the position, the row, and the announcement, which is delivered
        // when (and only if) the transaction commits (duplicates within one transaction
        // are folded into one by the server).
        self.query_one(
            "WITH bumped AS (UPDATE users SET change_seq = change_seq + 1 WHERE id = $1 \
             RETURNING change_seq), \
             logged AS (INSERT INTO changes \
             (user_id, seq, op, entry_id, entry_json, from_path, created_at) \
             SELECT $1, change_seq, $2, $3, $4, $5, $6 FROM bumped RETURNING seq) \
             SELECT pg_notify($7, $1) FROM logged",
            &[
                &entry.user_id,
                &op_name(op),
                &entry.id,
                &logged.as_str(),
                &from_path,
                &to_millis(now),
                &CHANGES_CHANNEL,
            ],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn subtree_extent(&mut self, user_id: &str, path: &str) -> RepoResult<Option<(usize, usize)>> {
        let key = name_key(path);
        let row = self
            .query_one(
                "SELECT MAX(octet_length(path))::BIGINT, \
                 MAX(length(path) - length(replace(path, '/', '')))::BIGINT FROM entries \
                 WHERE user_id = $1 AND deleted_at IS NULL AND path_key >= $2 AND path_key < $3",
                &[&user_id, &format!("{key}/"), &format!("{key}0")],
            )
            .map_err(backend)?;
        let bytes: Option<i64> = row.try_get(0).map_err(backend)?;
        let names: Option<i64> = row.try_get(1).map_err(backend)?;
        Ok(bytes.zip(names).map(|(b, n)| (b as usize, n as usize)))
    }

    fn relocate(&mut self, e: &EntryRow, old_path: &str, now: DateTime<Utc>) -> RepoResult<()> {
        self.execute(
            "UPDATE entries SET parent_id = $2, name = $3, name_key = $4, path = $5, \
                 path_key = $6, updated_at = $7 WHERE id = $1",
            &[
                &e.id,
                &e.parent_id,
                &e.name,
                &name_key(&e.name),
                &e.path,
                &name_key(&e.path),
                &to_millis(now),
            ],
        )
        .map_err(name_taken(&e.name))?;
        if e.kind == EntryKind::Folder {
            let (old_key, new_key) = (name_key(old_path), name_key(&e.path));
            let rest = |s: &str| i32::try_from(s.chars().count() + 1).unwrap_or(i32::MAX);
            self.execute(
                MOVE_SUBTREE_SQL,
                &[
                    &e.user_id,
                    &format!("{old_key}/"),
                    &format!("{old_key}0"),
                    &e.path,
                    &rest(old_path),
                    &new_key,
                    &rest(&old_key),
                    &to_millis(now),
                ],
            )
            .map_err(backend)?;
        }
        Ok(())
    }

    fn insert_inline_blob(&mut self, key: &str, data: &[u8], now: DateTime<Utc>) -> RepoResult<()> {
        inline::insert(self, key, data, now)
    }

    fn insert_share(&mut self, row: &ShareRow, token_hash: &str) -> RepoResult<()> {
        self
            .execute(
                "INSERT INTO shares (id, user_id, file_id, token_hash, expires_at, max_downloads, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &row.id,
                    &row.user_id,
                    &row.file_id,
                    &token_hash,
                    &row.expires_at.map(to_millis),
                    &row.max_downloads.map(|v| v as i64),
                    &to_millis(row.created_at),
                ],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn usage(&mut self, user_id: &str) -> RepoResult<u64> {
        // SUM(bigint) is numeric in Postgres: cast back to bigint.
        let total: i64 = self
            .query_one(
                "SELECT COALESCE(SUM(size), 0)::BIGINT FROM entries \
                 WHERE user_id = $1 AND kind = 1 AND deleted_at IS NULL",
                &[&user_id],
            )
            .and_then(|r| r.try_get(0))
            .map_err(backend)?;
        Ok(total as u64)
    }

    fn insert_version(&mut self, file: &EntryRow, now: DateTime<Utc>) -> RepoResult<()> {
        let c = file
            .content
            .as_ref()
            .ok_or_else(|| RepoError::Backend("a version of a folder".into()))?;
        self.execute(
            "INSERT INTO file_versions (file_id, version, user_id, size, mime_type, \
                 content_hash, blob_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &file.id,
                &c.version,
                &file.user_id,
                &(c.size as i64),
                &c.mime_type,
                &c.content_hash,
                &c.blob_key,
                &to_millis(now),
            ],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn retire_version(
        &mut self,
        file_id: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.execute(
            "UPDATE file_versions SET replaced_at = $3 WHERE file_id = $1 AND version = $2",
            &[&file_id, &version, &to_millis(now)],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn versions(&mut self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>> {
        let found = self
            .query(
                &format!(
                    "SELECT {VERSION_COLS} FROM file_versions WHERE user_id = $1 AND file_id = $2 \
                     ORDER BY version DESC"
                ),
                &[&user_id, &file_id],
            )
            .map_err(backend)?;
        rows(found, version_from_row)
    }

    fn version(
        &mut self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<Option<VersionRow>> {
        let row = self
            .query_opt(
                &format!(
                    "SELECT {VERSION_COLS} FROM file_versions \
                     WHERE user_id = $1 AND file_id = $2 AND version = $3 FOR SHARE"
                ),
                &[&user_id, &file_id, &version],
            )
            .map_err(backend)?;
        one(row, version_from_row)
    }

    fn trashed(&mut self, user_id: &str, item_id: &str) -> RepoResult<Vec<EntryRow>> {
        let found = self
            .query(
                &format!(
                    "SELECT {ENTRY_COLS} FROM entries WHERE user_id = $1 AND deleted_by = $2 \
                     AND deleted_at IS NOT NULL"
                ),
                &[&user_id, &item_id],
            )
            .map_err(backend)?;
        rows(found, entry_from_row)
    }

    fn undelete(&mut self, e: &EntryRow, now: DateTime<Utc>) -> RepoResult<()> {
        self.execute(
            "UPDATE entries SET parent_id = $3, name = $4, name_key = $5, path = $6, \
                 path_key = $7, updated_at = $8, deleted_at = NULL, deleted_by = NULL \
                 WHERE user_id = $1 AND id = $2 AND deleted_at IS NOT NULL",
            &[
                &e.user_id,
                &e.id,
                &e.parent_id,
                &e.name,
                &name_key(&e.name),
                &e.path,
                &name_key(&e.path),
                &to_millis(now),
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
        let row = self
            .query_opt(
                "SELECT blob_key FROM file_versions \
                 WHERE user_id = $1 AND content_hash = $2 AND size = $3 LIMIT 1 FOR SHARE",
                &[&user_id, &hash, &(size as i64)],
            )
            .map_err(backend)?;
        row.map(|r| r.try_get(0).map_err(backend)).transpose()
    }

    fn trash_item_ids(&mut self, user_id: &str) -> RepoResult<Vec<String>> {
        self.query(
            "SELECT id FROM entries WHERE user_id = $1 AND deleted_by = id",
            &[&user_id],
        )
        .map_err(backend)?
        .iter()
        .map(|r| r.try_get(0).map_err(backend))
        .collect()
    }

    fn purge_item(
        &mut self,
        user_id: &str,
        item_id: &str,
        deleted_before: Option<DateTime<Utc>>,
    ) -> RepoResult<bool> {
        let before = deleted_before.map_or(i64::MAX, to_millis);
        let found = self
            .query_opt(
                "SELECT 1 FROM entries WHERE user_id = $1 AND id = $2 AND deleted_by = $2 \
                 AND deleted_at < $3 FOR UPDATE",
                &[&user_id, &item_id, &before],
            )
            .map_err(backend)?;
        if found.is_none() {
            return Ok(false);
        }
        for sql in PURGE_ITEM {
            self.execute(sql, &[&user_id, &item_id]).map_err(backend)?;
        }
        Ok(true)
    }
}

impl<C: GenericClient> TokenStore for Pg<'_, C> {
    /// `FOR UPDATE`: a concurrent presentation of the same token waits for this
    /// transaction and then sees what it did.
    fn token_for_update(&mut self, token_hash: &str) -> RepoResult<Option<StoredToken>> {
        let row = self
            .query_opt(
                "SELECT user_id, family_id, session_started_at, expires_at, retired_at, rotated_at \
                 FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                &[&token_hash],
            )
            .map_err(backend)?;
        one(row, |r| {
            Ok(StoredToken {
                user_id: r.try_get(0)?,
                family_id: r.try_get(1)?,
                session_started_at: from_millis(r.try_get(2)?),
                expires_at: from_millis(r.try_get(3)?),
                retired_at: r.try_get::<_, Option<i64>>(4)?.map(from_millis),
                rotated_at: r.try_get::<_, Option<i64>>(5)?.map(from_millis),
            })
        })
    }

    fn family_live(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<bool> {
        self.query_one(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 \
                 AND retired_at IS NULL AND expires_at > $2)",
            &[&family_id, &to_millis(now)],
        )
        .and_then(|r| r.try_get(0))
        .map_err(backend)
    }

    fn insert_token(&mut self, token_hash: &str, t: &StoredToken) -> RepoResult<()> {
        self.execute(
            "INSERT INTO refresh_tokens (token_hash, user_id, family_id, session_started_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[
                &token_hash,
                &t.user_id,
                &t.family_id,
                &to_millis(t.session_started_at),
                &to_millis(t.expires_at),
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
        self.execute(
            "UPDATE refresh_tokens SET retired_at = $2, rotated_at = $3 \
                 WHERE token_hash = $1 AND retired_at IS NULL",
            &[&token_hash, &now, &rotated.then_some(now)],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn retire_family(&mut self, family_id: &str, now: DateTime<Utc>) -> RepoResult<u64> {
        self.execute(
            "UPDATE refresh_tokens SET retired_at = $2 WHERE family_id = $1 AND retired_at IS NULL",
            &[&family_id, &to_millis(now)],
        )
        .map_err(backend)
    }
}
/// Removing trash item $2 of user $1, in this order: rows of older trash items that were
/// below it are detached from it (they are restored by path, and a dangling parent would
/// break the foreign key); then its links, versions and rows go.
const PURGE_ITEM: [&str; 4] = [
    "UPDATE entries SET parent_id = NULL WHERE user_id = $1 AND deleted_at IS NOT NULL \
     AND deleted_by <> $2 \
     AND parent_id IN (SELECT id FROM entries WHERE user_id = $1 AND deleted_by = $2)",
    "DELETE FROM shares WHERE user_id = $1 \
     AND file_id IN (SELECT id FROM entries WHERE user_id = $1 AND deleted_by = $2)",
    "DELETE FROM file_versions WHERE user_id = $1 \
     AND file_id IN (SELECT id FROM entries WHERE user_id = $1 AND deleted_by = $2)",
    "DELETE FROM entries WHERE user_id = $1 AND deleted_by = $2",
];

pub struct PgRepo {
    /// Always `Some` until `drop`, which takes it to close the connections off the runtime.
    pool: Option<Pool<Manager>>,
}

impl PgRepo {
    /// Connects to the database of a `postgres://user[:password]@host:port/db` URL. Fails
    /// at once, with the reason on one line, when the server cannot be reached. Blocks:
    /// call it off the async workers.
    pub fn open(url: &str) -> RepoResult<Self> {
        let config = parse_url(url)?;
        let target = describe(&config);
        // One connection up front, so that a wrong host or database fails start-up with
        // the server's reason instead of a pool time-out.
        config.connect(NoTls).map_err(|e| {
            RepoError::Backend(format!(
                "cannot connect to Postgres at {target}: {}",
                one_line(&e)
            ))
        })?;
        // No test query on checkout: it cost a round trip on every call, and a
        // connection found broken is dropped by the pool when returned anyway.
        let pool = Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            .test_on_check_out(false)
            // A database that is down answers 503 within seconds, not half a minute.
            .connection_timeout(Duration::from_secs(5))
            .idle_timeout(Some(Duration::from_secs(300)))
            .build(Manager::new(config))
            .map_err(|e| {
                RepoError::Backend(format!(
                    "cannot connect to Postgres at {target}: {}",
                    one_line(&e)
                ))
            })?;
        Ok(PgRepo { pool: Some(pool) })
    }

    fn conn(&self) -> RepoResult<PooledConnection<Manager>> {
        self.pool
            .as_ref()
            .ok_or_else(|| RepoError::Backend("the pool is closed".into()))?
            .get()
            .map_err(|e| RepoError::Unavailable(format!("no database connection: {e}")))
    }

    /// Runs `f` in a READ COMMITTED transaction and commits when it succeeds (rolls back
    /// when it fails).
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Pg<'_, Transaction<'_>>) -> RepoResult<T>,
    ) -> RepoResult<T> {
        let mut conn = self.conn()?;
        let (client, prepared) = conn.split();
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(backend)?;
        let out = f(&mut Pg::new(&mut tx, prepared))?;
        fail_db!("db.commit");
        tx.commit().map_err(backend)?;
        fail_db!("db.after_commit");
        Ok(out)
    }

    /// A write of this user's entries or links: holds the user's row lock throughout.
    fn write_as<T>(
        &self,
        user_id: &str,
        f: impl FnOnce(&mut Pg<'_, Transaction<'_>>) -> RepoResult<T>,
    ) -> RepoResult<T> {
        self.write(|pg| {
            lock_user(pg, user_id)?;
            f(pg)
        })
    }
}

impl Drop for PgRepo {
    fn drop(&mut self) {
        // Closing a blocking client on a tokio worker panics (CRATES.md), and the last
        // handle to the repository is often dropped there, at shutdown. Close the pooled
        // connections on a thread of their own.
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(move || drop(pool)).join();
            }
        }
    }
}

impl Repository for PgRepo {
    fn migrate(&self) -> RepoResult<()> {
        self.write(|tx| {
            // Two processes starting at once take turns; the second finds nothing to do.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map_err(backend)?;
            tx.client.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .map_err(backend)?;
            let current: i64 = tx
                .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
                .and_then(|r| r.try_get(0))
                .map_err(backend)?;
            if current > MIGRATIONS.len() as i64 {
                return Err(RepoError::Invalid(format!(
                    "the database schema (version {current}) is newer than this dbx-server knows ({})",
                    MIGRATIONS.len()
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                tx.client.batch_execute(sql).map_err(backend)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                    &[&(i as i64 + 1), &to_millis(Utc::now())],
                )
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
        Pg::on(&mut *self.conn()?)
            .execute(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                &[&user.id, &user.email, &user.password_hash, &to_millis(now)],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    RepoError::Conflict("that e-mail is already registered".into())
                } else {
                    backend(e)
                }
            })?;
        Ok(user)
    }

    fn user_by_email(&self, email: &str) -> RepoResult<Option<UserRow>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt(
                "SELECT id, email, password_hash, created_at FROM users WHERE email = $1",
                &[&email],
            )
            .map_err(backend)?;
        one(row, user_from_row)
    }

    fn user_by_id(&self, user_id: &str) -> RepoResult<Option<UserRow>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt(
                "SELECT id, email, password_hash, created_at FROM users WHERE id = $1",
                &[&user_id],
            )
            .map_err(backend)?;
        one(row, user_from_row)
    }

    fn user_ids(&self) -> RepoResult<Vec<String>> {
        Pg::on(&mut *self.conn()?)
            .query("SELECT id FROM users", &[])
            .map_err(backend)?
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect()
    }

    fn usage_bytes(&self, user_id: &str) -> RepoResult<u64> {
        Pg::on(&mut *self.conn()?).usage(user_id)
    }

    fn add_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.write(|tx| sessions::start(tx, user_id, token_hash, policy, now))
    }

    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<Rotation> {
        self.write(|tx| sessions::rotate(tx, old_hash, new_hash, policy, now))
    }

    fn revoke_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<bool> {
        self.write(|tx| sessions::end(tx, user_id, token_hash, now))
    }

    fn add_app_password(&self, row: &AppPasswordRow, secret_hash: &str) -> RepoResult<()> {
        Pg::on(&mut *self.conn()?)
            .execute(
                "INSERT INTO app_passwords (id, user_id, name, name_key, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &row.id,
                    &row.user_id,
                    &row.name,
                    &name_key(&row.name),
                    &secret_hash,
                    &to_millis(row.created_at),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    logic::app_password_name_taken(&row.name)
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }

    fn list_app_passwords(&self, user_id: &str) -> RepoResult<Vec<AppPasswordRow>> {
        let found = Pg::on(&mut *self.conn()?)
            .query(
                "SELECT id, user_id, name, created_at FROM app_passwords WHERE user_id = $1 \
                 ORDER BY created_at, id COLLATE \"C\"",
                &[&user_id],
            )
            .map_err(backend)?;
        rows(found, |r| {
            Ok(AppPasswordRow {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                name: r.try_get(2)?,
                created_at: from_millis(r.try_get(3)?),
            })
        })
    }

    fn revoke_app_password(&self, user_id: &str, id: &str) -> RepoResult<()> {
        let n = Pg::on(&mut *self.conn()?)
            .execute(
                "DELETE FROM app_passwords WHERE user_id = $1 AND id = $2",
                &[&user_id, &id],
            )
            .map_err(backend)?;
        if n == 0 {
            return Err(RepoError::NotFound("app password"));
        }
        Ok(())
    }

    fn user_by_app_password(&self, email: &str, secret_hash: &str) -> RepoResult<Option<UserRow>> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt(
                "SELECT u.id, u.email, u.password_hash, u.created_at FROM app_passwords a \
                 JOIN users u ON u.id = a.user_id WHERE a.secret_hash = $1 AND u.email = $2",
                &[&secret_hash, &email],
            )
            .map_err(backend)?;
        one(row, user_from_row)
    }

    fn entry(&self, user_id: &str, entry_id: &str) -> RepoResult<Option<EntryRow>> {
        Pg::on(&mut *self.conn()?).live_entry(user_id, entry_id)
    }

    fn entry_by_path(&self, user_id: &str, names: &[String]) -> RepoResult<Option<EntryRow>> {
        logic::entry_by_path(&mut Pg::on(&mut *self.conn()?), user_id, names)
    }

    fn list_children(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> RepoResult<Vec<EntryRow>> {
        let mut conn = self.conn()?;
        logic::parent_folder(&mut Pg::on(&mut conn), user_id, parent_id)?;
        let (after_kind, after_key) = match after {
            Some(p) => (p.kind as i32, p.name_key.clone()),
            None => (-1, String::new()),
        };
        // Two spellings rather than `IS NOT DISTINCT FROM`, which no index serves.
        let parent_is = match parent_id {
            Some(_) => "parent_id = $2",
            None => "parent_id IS NULL AND $2::TEXT IS NULL",
        };
        // "C" collation: bytewise order of the case-folded names, as SQLite sorts them.
        let found = conn
            .query(
                &format!(
                    "SELECT {ENTRY_COLS} FROM entries WHERE user_id = $1 AND {parent_is} \
                     AND deleted_at IS NULL AND (kind, name_key COLLATE \"C\") > ($3, $4) \
                     ORDER BY kind, name_key COLLATE \"C\" LIMIT $5"
                ),
                &[
                    &user_id,
                    &parent_id,
                    &after_kind,
                    &after_key,
                    &(limit as i64),
                ],
            )
            .map_err(backend)?;
        rows(found, entry_from_row)
    }

    fn create_folder(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        name: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write_as(user_id, |tx| {
            logic::create_folder(tx, user_id, parent_id, name, now)
        })
    }

    fn put_file(
        &self,
        user_id: &str,
        write: &FileWrite,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome> {
        self.write_as(user_id, |tx| logic::put_file(tx, user_id, write, now))
    }

    fn delete_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        kind: EntryKind,
        check: &DeleteCheck,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.write_as(user_id, |tx| {
            logic::delete_entry(tx, user_id, entry_id, kind, check, now)
        })
    }

    fn move_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        to: &MoveTo,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write_as(user_id, |tx| {
            logic::move_entry(tx, user_id, entry_id, to, now)
        })
    }

    fn copy_file(
        &self,
        user_id: &str,
        source_id: &str,
        target: &FileTarget,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome> {
        self.write_as(user_id, |tx| {
            logic::copy_file(tx, user_id, source_id, target, quota_bytes, now)
        })
    }

    fn referenced_blobs(&self) -> RepoResult<Vec<String>> {
        Pg::on(&mut *self.conn()?)
            .query(
                "SELECT blob_key FROM entries WHERE blob_key IS NOT NULL \
                 UNION SELECT blob_key FROM file_versions",
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect()
    }

    fn file_versions(&self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>> {
        logic::file_versions(&mut Pg::on(&mut *self.conn()?), user_id, file_id)
    }

    fn file_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<(EntryRow, VersionRow)> {
        logic::file_version(&mut Pg::on(&mut *self.conn()?), user_id, file_id, version)
    }

    fn restore_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write_as(user_id, |tx| {
            logic::restore_version(tx, user_id, file_id, version, quota_bytes, now)
        })
    }

    fn list_trash(
        &self,
        user_id: &str,
        after: Option<&TrashPosition>,
        limit: usize,
    ) -> RepoResult<Vec<TrashRow>> {
        let (after_at, after_id) = match after {
            Some(p) => (to_millis(p.deleted_at), p.id.as_str()),
            None => (i64::MAX, ""),
        };
        // "C" collation on ids: the same order as SQLite's.
        let found = Pg::on(&mut *self.conn()?)
            .query(
                &format!(
                    "SELECT {ENTRY_COLS}, deleted_at, \
                     (SELECT COALESCE(SUM(s.size), 0)::BIGINT FROM entries s \
                      WHERE s.user_id = e.user_id AND s.deleted_by = e.id AND s.kind = 1) \
                     FROM entries e WHERE e.user_id = $1 AND e.deleted_by = e.id \
                     AND (e.deleted_at < $2 OR (e.deleted_at = $2 AND e.id COLLATE \"C\" < $3)) \
                     ORDER BY e.deleted_at DESC, e.id COLLATE \"C\" DESC LIMIT $4"
                ),
                &[&user_id, &after_at, &after_id, &(limit as i64)],
            )
            .map_err(backend)?;
        rows(found, trash_from_row)
    }

    fn restore_trash(
        &self,
        user_id: &str,
        item_id: &str,
        to: &RestoreTo,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow> {
        self.write_as(user_id, |tx| {
            logic::restore_trash(tx, user_id, item_id, to, quota_bytes, now)
        })
    }

    fn purge_trash(&self, user_id: &str, item_id: Option<&str>) -> RepoResult<u64> {
        self.write_as(user_id, |tx| logic::purge_trash(tx, user_id, item_id))
    }

    fn expire(
        &self,
        versions_before: DateTime<Utc>,
        trash_before: DateTime<Utc>,
        dry_run: bool,
    ) -> RepoResult<Expired> {
        let vb = to_millis(versions_before);
        let mut conn = self.conn()?;
        let versions = if dry_run {
            conn.query_one(
                "SELECT COUNT(*) FROM file_versions WHERE replaced_at < $1",
                &[&vb],
            )
            .and_then(|r| r.try_get::<_, i64>(0))
            .map_err(backend)? as u64
        } else {
            // A restore of one of these holds it FOR SHARE: this waits for it to commit,
            // and its new version then references the blob.
            fail_db!("expire.versions");
            conn.execute("DELETE FROM file_versions WHERE replaced_at < $1", &[&vb])
                .map_err(backend)?
        };
        let items: Vec<(String, String)> = conn
            .query(
                "SELECT user_id, id FROM entries WHERE deleted_by = id AND deleted_at < $1",
                &[&to_millis(trash_before)],
            )
            .map_err(backend)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(backend)?;
        drop(conn);
        let mut trash_items = 0;
        for (user, item) in items {
            // Checked again under the user's lock: the item may have been restored since.
            let purged = dry_run
                || self.write_as(&user, |tx| {
                    fail_db!("expire.trash_item");
                    tx.purge_item(&user, &item, Some(trash_before))
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
        // Under the user's lock, so the file cannot be deleted between the check and the
        // insert.
        self.write_as(user_id, |tx| logic::create_share(tx, user_id, share, now))
    }

    fn list_shares(&self, user_id: &str) -> RepoResult<Vec<ShareRow>> {
        let found = Pg::on(&mut *self.conn()?)
            .query(
                &format!(
                    "SELECT {SHARE_COLS} FROM shares WHERE user_id = $1 \
                     ORDER BY created_at, id COLLATE \"C\""
                ),
                &[&user_id],
            )
            .map_err(backend)?;
        rows(found, share_from_row)
    }

    fn revoke_share(&self, user_id: &str, share_id: &str) -> RepoResult<()> {
        let n = Pg::on(&mut *self.conn()?)
            .execute(
                "UPDATE shares SET disabled = TRUE WHERE user_id = $1 AND id = $2",
                &[&user_id, &share_id],
            )
            .map_err(backend)?;
        if n == 0 {
            return Err(RepoError::NotFound("share link"));
        }
        Ok(())
    }

    fn share_by_token_hash(
        &self,
        token_hash: &str,
    ) -> RepoResult<Option<(ShareRow, Option<EntryRow>)>> {
        let mut conn = self.conn()?;
        let row = conn
            .query_opt(
                &format!("SELECT {SHARE_COLS} FROM shares WHERE token_hash = $1"),
                &[&token_hash],
            )
            .map_err(backend)?;
        let Some(share) = one(row, share_from_row)? else {
            return Ok(None);
        };
        let file = Pg::on(&mut conn).live_entry(&share.user_id, &share.file_id)?;
        Ok(Some((share, file)))
    }

    fn count_share_download(&self, share_id: &str) -> RepoResult<bool> {
        // One statement: a concurrent download waits for the row lock and re-checks the
        // limit against the count the other one left, so exactly `max_downloads` succeed.
        let n = Pg::on(&mut *self.conn()?)
            .execute(
                "UPDATE shares SET download_count = download_count + 1 WHERE id = $1 \
                 AND (max_downloads IS NULL OR download_count < max_downloads)",
                &[&share_id],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn refresh_statistics(&self) -> RepoResult<Vec<String>> {
        // Without statistics (a server with autovacuum off, or a table that grew faster
        // than it ran) the planner took the children index for a lookup by path and
        // filtered every entry of the user: 12 ms instead of 0.04 at 20,000 entries.
        // Autovacuum's own rule: 50 rows plus a tenth of the table changed.
        let mut conn = self.conn()?;
        let stale: Vec<String> = Pg::on(&mut conn)
            .query(
                "SELECT relid::regclass::text FROM pg_stat_user_tables \
                 WHERE n_mod_since_analyze > 50 + n_live_tup / 10 ORDER BY 1",
                &[],
            )
            .map_err(backend)?
            .iter()
            .map(|r| r.try_get(0).map_err(backend))
            .collect::<RepoResult<_>>()?;
        for table in &stale {
            // The name comes from the catalogue, quoted by regclass.
            conn.batch_execute(&format!("ANALYZE {table}"))
                .map_err(backend)?;
        }
        Ok(stale)
    }

    fn database_id(&self) -> RepoResult<String> {
        Pg::on(&mut *self.conn()?)
            .query_one("SELECT id FROM database_identity", &[])
            .and_then(|r| r.try_get(0))
            .map_err(backend)
    }

    fn dav_props(&self, user_id: &str, entry_id: &str) -> RepoResult<Vec<DavPropRow>> {
        let found = Pg::on(&mut *self.conn()?)
            .query(
                "SELECT namespace, name, prefix, xml FROM dav_properties \
                 WHERE user_id = $1 AND entry_id = $2 \
                 ORDER BY namespace COLLATE \"C\", name COLLATE \"C\"",
                &[&user_id, &entry_id],
            )
            .map_err(backend)?;
        rows(found, |r| {
            Ok(DavPropRow {
                namespace: r.try_get(0)?,
                name: r.try_get(1)?,
                prefix: r.try_get(2)?,
                xml: r.try_get(3)?,
            })
        })
    }

    fn patch_dav_props(
        &self,
        user_id: &str,
        entry_id: &str,
        set: &[DavPropRow],
        remove: &[(String, String)],
    ) -> RepoResult<()> {
        self.write(|tx| {
            for p in set {
                tx.execute(
                    "INSERT INTO dav_properties (user_id, entry_id, namespace, name, prefix, xml) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (user_id, entry_id, namespace, name) \
                     DO UPDATE SET prefix = EXCLUDED.prefix, xml = EXCLUDED.xml",
                    &[
                        &user_id,
                        &entry_id,
                        &p.namespace,
                        &p.name,
                        &p.prefix,
                        &p.xml,
                    ],
                )
                .map_err(backend)?;
            }
            for (namespace, name) in remove {
                tx.execute(
                    "DELETE FROM dav_properties WHERE user_id = $1 AND entry_id = $2 \
                     AND namespace = $3 AND name = $4",
                    &[&user_id, &entry_id, namespace, name],
                )
                .map_err(backend)?;
            }
            Ok(())
        })
    }

    fn latest_change(&self, user_id: &str) -> RepoResult<i64> {
        let row = Pg::on(&mut *self.conn()?)
            .query_opt("SELECT change_seq FROM users WHERE id = $1", &[&user_id])
            .map_err(backend)?;
        let seq = row
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()
            .map_err(backend)?;
        seq.ok_or(RepoError::NotFound("user"))
    }

    fn changes_since(&self, user_id: &str, after: i64, limit: usize) -> RepoResult<Vec<ChangeRow>> {
        let found = Pg::on(&mut *self.conn()?)
            .query(
                "SELECT seq, op, entry_json, from_path FROM changes WHERE user_id = $1 \
                 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&user_id, &after, &(limit as i64)],
            )
            .map_err(backend)?;
        found
            .iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(backend)?;
                let op: String = r.try_get(1).map_err(backend)?;
                let json: String = r.try_get(2).map_err(backend)?;
                Ok(ChangeRow {
                    seq,
                    op: op_from_name(&op),
                    from_path: r.try_get(3).map_err(backend)?,
                    entry: LoggedEntry::from_log(json),
                })
            })
            .collect()
    }
}
