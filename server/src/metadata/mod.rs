//! The metadata repository: one trait with narrow noun-verb methods, and its SQLite and
//! Postgres implementations. Calls block; `Db` runs them on tokio's blocking pool so no
//! async worker ever waits on a database.
//!
//! Every method that changes a file or folder also writes that change's log row, in the
//! same transaction, at the user's next gap-free position (DESIGN.md invariant 3).

mod db;
mod logic;
pub mod model;
pub mod postgres;
pub mod sessions;
pub mod sqlite;

use chrono::{DateTime, Utc};

use crate::storage::BlobInfo;

pub use db::Db;
pub use model::*;
pub use sessions::{RefreshPolicy, Rotation};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// The thing (named by the string: "file", "folder", "user", ...) does not exist for this user.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("the current version does not match")]
    PreconditionFailed,
    #[error("{0}")]
    Invalid(String),
    /// The write would take the user's usage past their quota.
    #[error("this would take the account over its storage quota")]
    QuotaExceeded,
    /// The backend failed; the text is for the log only.
    #[error("database error: {0}")]
    Backend(String),
    /// The database cannot be reached or does not answer in time: try again later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

pub type RepoResult<T> = Result<T, RepoError>;

/// The metadata store. Implementations are blocking; call them through [`Db`].
pub trait Repository: UploadRepository + InlineBlobRepository + Send + Sync + 'static {
    /// Applies pending migrations.
    fn migrate(&self) -> RepoResult<()>;

    // Users and refresh tokens.
    /// Fails with `Conflict` when the e-mail is taken.
    fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<UserRow>;
    fn user_by_email(&self, email: &str) -> RepoResult<Option<UserRow>>;
    fn user_by_id(&self, user_id: &str) -> RepoResult<Option<UserRow>>;
    /// The ids of every user.
    fn user_ids(&self) -> RepoResult<Vec<String>>;
    /// Sum of the sizes of the user's live files.
    fn usage_bytes(&self, user_id: &str) -> RepoResult<u64>;
    /// Starts a session (a login) with its first refresh token.
    fn add_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Presents a refresh token, atomically: a live one is retired and `new_hash` stored
    /// as its successor; a rotated one presented again revokes its whole session, unless
    /// within the policy's grace (see [`sessions`]).
    fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        policy: &RefreshPolicy,
        now: DateTime<Utc>,
    ) -> RepoResult<Rotation>;
    /// Ends the session of one of this user's refresh tokens (every token rotated from the
    /// same login); true when a live token was retired.
    fn revoke_refresh_token(
        &self,
        user_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<bool>;

    // App passwords (WebDAV and other Basic-auth clients).
    /// Stores a new app password; `Conflict` when the user already has one of that name
    /// (case-insensitively).
    fn add_app_password(&self, row: &AppPasswordRow, secret_hash: &str) -> RepoResult<()>;
    /// The user's app passwords, oldest first.
    fn list_app_passwords(&self, user_id: &str) -> RepoResult<Vec<AppPasswordRow>>;
    /// Deletes one of this user's app passwords; `NotFound` when there is none.
    fn revoke_app_password(&self, user_id: &str, id: &str) -> RepoResult<()>;
    /// The user with this e-mail who holds an app password with this hash.
    fn user_by_app_password(&self, email: &str, secret_hash: &str) -> RepoResult<Option<UserRow>>;

    // Entries.
    /// A live entry of this user by id.
    fn entry(&self, user_id: &str, entry_id: &str) -> RepoResult<Option<EntryRow>>;
    /// A live entry of this user by path (normalized names; empty is the root, which has
    /// no row: `None`).
    fn entry_by_path(&self, user_id: &str, names: &[String]) -> RepoResult<Option<EntryRow>>;
    /// Live children of a folder (`None`: the root), folders first, then files, by name,
    /// strictly after `after`.
    fn list_children(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> RepoResult<Vec<EntryRow>>;
    fn create_folder(
        &self,
        user_id: &str,
        parent_id: Option<&str>,
        name: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow>;
    /// Creates or replaces a file's content (creating missing parent folders for a path
    /// target) and returns what changed.
    fn put_file(
        &self,
        user_id: &str,
        write: &FileWrite,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome>;
    /// Makes a file at `target` with the content of the live file `source_id`: the same
    /// blob, hash, size and type, so nothing is copied in the blob store. Creates or
    /// replaces like `put_file` (and within `quota_bytes` like it), in one transaction
    /// that reads the source.
    fn copy_file(
        &self,
        user_id: &str,
        source_id: &str,
        target: &FileTarget,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<PutOutcome>;
    /// Soft-deletes a live entry of the given kind and, for a folder, all below it, if
    /// `check` holds (`PreconditionFailed` or `Conflict` otherwise, nothing deleted).
    fn delete_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        kind: EntryKind,
        check: &DeleteCheck,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Moves or renames a live entry (a folder with everything below it) in one
    /// transaction with one change-log row, and returns it at its new place. `NotFound`
    /// for an unknown entry or target folder, `Conflict` when the name is taken there,
    /// `Invalid` for a folder into its own subtree, `PreconditionFailed` when
    /// `to.if_match` does not match.
    fn move_entry(
        &self,
        user_id: &str,
        entry_id: &str,
        to: &MoveTo,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow>;
    /// Every blob key something still points to: a live file, a kept version or a trash
    /// item.
    fn referenced_blobs(&self) -> RepoResult<Vec<String>>;
    /// Brings the query planner's statistics up to date on tables that changed much since
    /// they were last analysed (as autovacuum does when it runs); returns their names.
    fn refresh_statistics(&self) -> RepoResult<Vec<String>>;

    // Versions.
    /// The versions of a live file of this user, newest first, the current one included.
    fn file_versions(&self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>>;
    /// A live file of this user and one of its kept versions.
    fn file_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<(EntryRow, VersionRow)>;
    /// Makes a kept version's content current again, as a new version (change log
    /// `update`); within `quota_bytes` when set.
    fn restore_version(
        &self,
        user_id: &str,
        file_id: &str,
        version: i64,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow>;

    // Trash.
    /// The user's trash items, newest deletion first, strictly after `after`.
    fn list_trash(
        &self,
        user_id: &str,
        after: Option<&TrashPosition>,
        limit: usize,
    ) -> RepoResult<Vec<TrashRow>>;
    /// Brings a trash item and everything deleted with it back (change log `create` for
    /// each, parents first); returns the restored entry.
    fn restore_trash(
        &self,
        user_id: &str,
        item_id: &str,
        to: &RestoreTo,
        quota_bytes: Option<u64>,
        now: DateTime<Utc>,
    ) -> RepoResult<EntryRow>;
    /// Removes one trash item (`Some`) or the whole trash (`None`) for good: its rows,
    /// versions and share links. Returns how many items went; `NotFound` for an item
    /// that is not in this user's trash.
    fn purge_trash(&self, user_id: &str, item_id: Option<&str>) -> RepoResult<u64>;
    /// Removes versions replaced before `versions_before` and trash items deleted before
    /// `trash_before`, of every user (with `dry_run`, only counts them).
    fn expire(
        &self,
        versions_before: DateTime<Utc>,
        trash_before: DateTime<Utc>,
        dry_run: bool,
    ) -> RepoResult<Expired>;

    // Share links.
    fn create_share(
        &self,
        user_id: &str,
        share: &NewShare,
        now: DateTime<Utc>,
    ) -> RepoResult<ShareRow>;
    fn list_shares(&self, user_id: &str) -> RepoResult<Vec<ShareRow>>;
    /// Disables a link of this user; `NotFound` when there is none.
    fn revoke_share(&self, user_id: &str, share_id: &str) -> RepoResult<()>;
    /// The link with this token hash and the live file it points to (`None` for the file
    /// when it was deleted).
    fn share_by_token_hash(
        &self,
        token_hash: &str,
    ) -> RepoResult<Option<(ShareRow, Option<EntryRow>)>>;
    /// Counts one download if the link still allows one, atomically; false when it is
    /// out of downloads.
    fn count_share_download(&self, share_id: &str) -> RepoResult<bool>;

    // WebDAV dead properties, by entry id (`ROOT_PROPS_ID` for the root).
    fn dav_props(&self, user_id: &str, entry_id: &str) -> RepoResult<Vec<DavPropRow>>;
    /// Sets (insert or replace) and removes properties, in one transaction.
    fn patch_dav_props(
        &self,
        user_id: &str,
        entry_id: &str,
        set: &[DavPropRow],
        remove: &[(String, String)],
    ) -> RepoResult<()>;

    // Change log.
    /// The random id this database got when it was made (delta cursors carry it).
    fn database_id(&self) -> RepoResult<String>;
    /// The user's current log position (0 before any change).
    fn latest_change(&self, user_id: &str) -> RepoResult<i64>;
    /// Changes after position `after`, in commit order, at most `limit`.
    fn changes_since(&self, user_id: &str, after: i64, limit: usize) -> RepoResult<Vec<ChangeRow>>;
}

/// Small content kept in the database, a part of [`Repository`] that each backend
/// implements in a module of its own. Keys have the form of blob keys. It is only ever
/// written with the version that points to it (`FileWrite::inline`).
pub trait InlineBlobRepository {
    /// The content under `key`, `None` when absent.
    fn inline_blob(&self, key: &str) -> RepoResult<Option<Vec<u8>>>;
    /// Size and time of the content under `key`, `None` when absent.
    fn inline_blob_info(&self, key: &str) -> RepoResult<Option<BlobInfo>>;
    /// Every key starting with `prefix`, with its size and time.
    fn inline_blobs(&self, prefix: &str) -> RepoResult<Vec<BlobInfo>>;
    /// Removes the content under `key`; a missing key is not an error.
    fn delete_inline_blob(&self, key: &str) -> RepoResult<()>;
}

/// Resumable uploads, a part of [`Repository`] that each backend implements in a module of
/// its own. A request that writes an upload's bytes first takes its lease by
/// compare-and-set, so across processes only one such request runs per upload.
pub trait UploadRepository {
    fn create_upload(&self, row: &UploadRow) -> RepoResult<()>;
    /// One of this user's uploads (expired or not).
    fn upload(&self, user_id: &str, id: &str) -> RepoResult<Option<UploadRow>>;
    /// Takes the upload's lease `lease_id` until `until`, if no one holds it at `now`
    /// and (when given) the upload is at `offset`. `NotFound` for no such upload of this
    /// user; `Conflict` when the offset differs or the lease is held.
    fn claim_upload(
        &self,
        user_id: &str,
        id: &str,
        offset: Option<u64>,
        lease: &UploadLease,
    ) -> RepoResult<UploadRow>;
    /// Extends a lease still held; false when it was lost.
    fn renew_upload_lease(&self, id: &str, lease: &UploadLease) -> RepoResult<bool>;
    /// Stores an upload's new state under its lease, and releases the lease; false (and
    /// nothing stored) when the lease was lost.
    fn save_upload(&self, row: &UploadRow, lease_id: &str) -> RepoResult<bool>;
    /// Releases a lease without storing anything.
    fn release_upload(&self, id: &str, lease_id: &str) -> RepoResult<()>;
    /// Forgets an upload (completed or abandoned).
    fn delete_upload(&self, id: &str) -> RepoResult<()>;
    /// Uploads that expired before `now` and that no one holds, oldest first.
    fn expired_uploads(&self, now: DateTime<Utc>, limit: usize) -> RepoResult<Vec<UploadRow>>;
}
