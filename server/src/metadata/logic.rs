//! The write rules both backends share (parents, folder creation, conflicts, If-Match,
//! insert versus update, moves, the change-log row), written once over [`Store`]. Each
//! backend implements `Store` with its own SQL and keeps its own transactions and locking;
//! these functions run inside whatever transaction the caller opened.

use chrono::{DateTime, Utc};
use dbx_shared::api::ChangeOp;
use dbx_shared::names::{check_path_bounds, join, name_key, NameError, MAX_DEPTH, MAX_PATH_BYTES};

use super::model::*;
use super::{RepoError, RepoResult};
use crate::failpoints::fail_db;

/// The statements the shared rules need, run on one connection or transaction.
pub(crate) trait Store {
    /// A live entry of this user by id.
    fn live_entry(&mut self, user_id: &str, id: &str) -> RepoResult<Option<EntryRow>>;
    /// A live entry of this user by display path (matched case-folded).
    fn live_entry_at(&mut self, user_id: &str, path: &str) -> RepoResult<Option<EntryRow>>;
    /// Inserts a new row; a taken name is a `Conflict`.
    fn insert_entry(&mut self, entry: &EntryRow) -> RepoResult<()>;
    /// Replaces a file row's content with a new version.
    fn update_content(
        &mut self,
        id: &str,
        content: &FileContent,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Whether a folder has any live entry in it.
    fn has_live_children(&mut self, user_id: &str, folder_id: &str) -> RepoResult<bool>;
    /// Soft-deletes an entry and, given a case-folded `subtree_prefix` ("/a/"), every live
    /// entry whose path starts with it, all as one trash item named by the entry's id.
    fn mark_deleted(
        &mut self,
        user_id: &str,
        id: &str,
        subtree_prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Appends a change to the user's log at the next gap-free position; `from_path` is a
    /// move's old path.
    fn append_change(
        &mut self,
        entry: &EntryRow,
        op: ChangeOp,
        from_path: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Appends the change to the user's log at the next gap-free position.
    fn record_change(
        &mut self,
        entry: &EntryRow,
        op: ChangeOp,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.append_change(entry, op, None, now)
    }
    fn insert_share(&mut self, share: &ShareRow, token_hash: &str) -> RepoResult<()>;
    /// Keeps a new version's small content in the database under `key`.
    fn insert_inline_blob(&mut self, key: &str, data: &[u8], now: DateTime<Utc>) -> RepoResult<()>;
    /// Writes a moved entry's new parent, name and path and, for a folder, rewrites the
    /// paths of every live entry below `old_path` to lie below its new path, with one
    /// statement over the indexed range of case-folded paths (`old/` up to `old0`, since
    /// '0' follows '/'), so the cost follows the subtree, not the user's whole tree.
    fn relocate(&mut self, moved: &EntryRow, old_path: &str, now: DateTime<Utc>) -> RepoResult<()>;
    /// The longest path below the folder at `path` among live entries: its length in
    /// bytes and its number of names (the deepest and the longest may be two entries);
    /// `None` for an empty folder. Served by the same index range as `relocate`.
    fn subtree_extent(&mut self, user_id: &str, path: &str) -> RepoResult<Option<(usize, usize)>>;
    /// Appends a move to the user's log, with the entry's old path.
    fn record_move(
        &mut self,
        entry: &EntryRow,
        from_path: &str,
        now: DateTime<Utc>,
    ) -> RepoResult<()> {
        self.append_change(entry, ChangeOp::Move, Some(from_path), now)
    }
    /// Sum of the sizes of the user's live files.
    fn usage(&mut self, user_id: &str) -> RepoResult<u64>;
    /// Records a file's current content as its newest version, written `now`.
    fn insert_version(&mut self, file: &EntryRow, now: DateTime<Utc>) -> RepoResult<()>;
    /// Marks a version as no longer current: its retention starts `now`.
    fn retire_version(&mut self, file_id: &str, version: i64, now: DateTime<Utc>)
        -> RepoResult<()>;
    /// The versions of a file, newest first.
    fn versions(&mut self, user_id: &str, file_id: &str) -> RepoResult<Vec<VersionRow>>;
    /// One version of a file. Postgres locks the row (FOR SHARE) so that `expire` cannot
    /// remove it while a restore makes its blob current again.
    fn version(
        &mut self,
        user_id: &str,
        file_id: &str,
        version: i64,
    ) -> RepoResult<Option<VersionRow>>;
    /// The rows of a trash item: the deleted entry and what was deleted with it.
    fn trashed(&mut self, user_id: &str, item_id: &str) -> RepoResult<Vec<EntryRow>>;
    /// Makes a trashed row live again with the place (parent, name, path) `row` gives.
    fn undelete(&mut self, row: &EntryRow, now: DateTime<Utc>) -> RepoResult<()>;
    /// The ids of the user's trash items.
    fn trash_item_ids(&mut self, user_id: &str) -> RepoResult<Vec<String>>;
    /// The blob of some content of this user (a file's current or kept version, a trash
    /// item's) with this hash and size. Postgres locks the version row (FOR SHARE) so that
    /// `expire` cannot remove it while a write starts pointing to its blob.
    fn held_blob(&mut self, user_id: &str, hash: &str, size: u64) -> RepoResult<Option<String>>;
    /// Removes a trash item for good (only if deleted before `deleted_before`, when
    /// given): its rows, their versions and share links. False when there is no such item.
    fn purge_item(
        &mut self,
        user_id: &str,
        item_id: &str,
        deleted_before: Option<DateTime<Utc>>,
    ) -> RepoResult<bool>;
}

/// A folder new children go into: its id (`None` for the root) and path.
pub(crate) type Parent = (Option<String>, String);

/// The refusal of a second app password with the same name (both dialects' unique index).
pub(crate) fn app_password_name_taken(name: &str) -> RepoError {
    RepoError::Conflict(format!("you already have an app password named '{name}'"))
}

/// A live entry by path names; the root (no names) has no row.
pub(crate) fn entry_by_path(
    s: &mut impl Store,
    user_id: &str,
    names: &[String],
) -> RepoResult<Option<EntryRow>> {
    if names.is_empty() {
        return Ok(None);
    }
    s.live_entry_at(user_id, &format!("/{}", names.join("/")))
}

/// The folder new children go into: its id and path (`None`, "/" for the root).
pub(crate) fn parent_folder(
    s: &mut impl Store,
    user_id: &str,
    parent_id: Option<&str>,
) -> RepoResult<Parent> {
    match parent_id {
        None => Ok((None, "/".to_string())),
        Some(id) => match s.live_entry(user_id, id)? {
            Some(e) if e.kind == EntryKind::Folder => Ok((Some(e.id), e.path)),
            _ => Err(RepoError::NotFound("folder")),
        },
    }
}

/// The path of a new entry named `name` in `parent_path`, within the depth and length
/// bounds (a folder id lets a client go deeper one level at a time, past any path check
/// at the door).
fn child_path(parent_path: &str, name: &str) -> RepoResult<String> {
    let path = join(parent_path, name);
    check_path_bounds(&path).map_err(|e| RepoError::Invalid(e.to_string()))?;
    Ok(path)
}

fn new_folder(
    s: &mut impl Store,
    user_id: &str,
    parent: Parent,
    name: &str,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    let (parent_id, parent_path) = parent;
    let row = EntryRow {
        id: new_id(),
        user_id: user_id.to_string(),
        parent_id,
        name: name.to_string(),
        path: child_path(&parent_path, name)?,
        kind: EntryKind::Folder,
        content: None,
        created_at: now,
        updated_at: now,
    };
    fail_db!("folder.insert");
    s.insert_entry(&row)?;
    fail_db!("folder.log");
    s.record_change(&row, ChangeOp::Create, now)?;
    Ok(row)
}

/// Walks `names` from the root, creating missing folders; a file in the way is a conflict.
fn ensure_folders(
    s: &mut impl Store,
    user_id: &str,
    names: &[String],
    now: DateTime<Utc>,
) -> RepoResult<Parent> {
    let mut parent: Parent = (None, "/".to_string());
    for name in names {
        let path = join(&parent.1, name);
        parent = match s.live_entry_at(user_id, &path)? {
            Some(e) if e.kind == EntryKind::Folder => (Some(e.id), e.path),
            Some(e) => {
                return Err(RepoError::Conflict(format!(
                    "'{}' is a file, not a folder",
                    e.path
                )))
            }
            None => {
                let f = new_folder(s, user_id, parent, name, now)?;
                (Some(f.id), f.path)
            }
        };
    }
    Ok(parent)
}

pub(crate) fn create_folder(
    s: &mut impl Store,
    user_id: &str,
    parent_id: Option<&str>,
    name: &str,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    let parent = parent_folder(s, user_id, parent_id)?;
    let path = join(&parent.1, name);
    if let Some(e) = s.live_entry_at(user_id, &path)? {
        return Err(RepoError::Conflict(format!(
            "'{}' is already taken in that folder",
            e.name
        )));
    }
    new_folder(s, user_id, parent, name, now)
}

pub(crate) fn put_file(
    s: &mut impl Store,
    user_id: &str,
    w: &FileWrite,
    now: DateTime<Utc>,
) -> RepoResult<PutOutcome> {
    let (parent, name) = match &w.target {
        FileTarget::Path(names) => {
            let (leaf, dirs) = names
                .split_last()
                .ok_or_else(|| RepoError::Invalid("the path must name a file".into()))?;
            (ensure_folders(s, user_id, dirs, now)?, leaf.clone())
        }
        FileTarget::InFolder { parent_id, name } => (
            parent_folder(s, user_id, parent_id.as_deref())?,
            name.clone(),
        ),
    };
    let path = child_path(&parent.1, &name)?;
    let blob_key = if w.dedup {
        match s.held_blob(user_id, &w.content_hash, w.size)? {
            Some(held) => held,
            None if w.blob_key.is_empty() => return Err(RepoError::NotFound("content")),
            None => w.blob_key.clone(),
        }
    } else {
        w.blob_key.clone()
    };
    if let Some(data) = w.inline.as_ref().filter(|_| blob_key == w.blob_key) {
        fail_db!("file.inline");
        s.insert_inline_blob(&blob_key, data, now)?;
    }
    let content = |version| FileContent {
        size: w.size,
        mime_type: w.mime_type.clone(),
        content_hash: w.content_hash.clone(),
        version,
        blob_key: blob_key.clone(),
    };
    match s.live_entry_at(user_id, &path)? {
        Some(e) if e.kind == EntryKind::Folder => {
            Err(RepoError::Conflict(format!("'{}' is a folder", e.path)))
        }
        Some(e) => {
            let old = current_content(&e)?;
            if w.if_match
                .as_ref()
                .is_some_and(|p| !p.allows(Some((&e.id, old.version))))
            {
                return Err(RepoError::PreconditionFailed);
            }
            check_quota(s, user_id, w.quota_bytes, old.size, w.size)?;
            let new = content(old.version + 1);
            Ok(PutOutcome {
                entry: replace_content(s, e, new, now)?,
                created: false,
                replaced_blob: Some(old.blob_key),
            })
        }
        None => {
            if w.if_match.as_ref().is_some_and(|p| !p.allows(None)) {
                return Err(RepoError::PreconditionFailed);
            }
            check_quota(s, user_id, w.quota_bytes, 0, w.size)?;
            let row = EntryRow {
                id: new_id(),
                user_id: user_id.to_string(),
                parent_id: parent.0,
                name,
                path,
                kind: EntryKind::File,
                content: Some(content(1)),
                created_at: now,
                updated_at: now,
            };
            fail_db!("file.insert");
            s.insert_entry(&row)?;
            fail_db!("file.version");
            s.insert_version(&row, now)?;
            fail_db!("file.log");
            s.record_change(&row, ChangeOp::Create, now)?;
            Ok(PutOutcome {
                entry: row,
                created: true,
                replaced_blob: None,
            })
        }
    }
}

/// A new file (or version) at `target` pointing to the source file's blob. Blobs are
/// written once and never overwritten, and gc keeps a blob while any row points to it, so
/// sharing one is safe; reading the source in the same transaction keeps a blob that was
/// just replaced (and is about to be collected) from being picked up.
pub(crate) fn copy_file(
    s: &mut impl Store,
    user_id: &str,
    source_id: &str,
    target: &FileTarget,
    quota_bytes: Option<u64>,
    now: DateTime<Utc>,
) -> RepoResult<PutOutcome> {
    let source = match s.live_entry(user_id, source_id)? {
        Some(e) if e.kind == EntryKind::File => e,
        _ => return Err(RepoError::NotFound("file")),
    };
    let c = source
        .content
        .ok_or_else(|| RepoError::Backend("file without content".into()))?;
    let write = FileWrite {
        target: target.clone(),
        blob_key: c.blob_key,
        size: c.size,
        mime_type: c.mime_type,
        content_hash: c.content_hash,
        if_match: None,
        quota_bytes,
        dedup: false,
        inline: None,
    };
    put_file(s, user_id, &write, now)
}

pub(crate) fn delete_entry(
    s: &mut impl Store,
    user_id: &str,
    entry_id: &str,
    kind: EntryKind,
    check: &DeleteCheck,
    now: DateTime<Utc>,
) -> RepoResult<()> {
    let entry = match s.live_entry(user_id, entry_id)? {
        Some(e) if e.kind == kind => e,
        _ => return Err(RepoError::NotFound(kind.noun())),
    };
    let current = entry
        .content
        .as_ref()
        .map(|c| (entry.id.as_str(), c.version));
    if check.if_match.as_ref().is_some_and(|p| !p.allows(current)) {
        return Err(RepoError::PreconditionFailed);
    }
    if check.only_if_empty && s.has_live_children(user_id, entry_id)? {
        return Err(RepoError::Conflict(format!(
            "'{}' is not empty",
            entry.path
        )));
    }
    // The trailing slash keeps "/a" from taking "/ab" with it.
    let subtree = (kind == EntryKind::Folder).then(|| format!("{}/", name_key(&entry.path)));
    fail_db!("delete.mark");
    s.mark_deleted(user_id, entry_id, subtree.as_deref(), now)?;
    fail_db!("delete.log");
    s.record_change(&entry, ChangeOp::Delete, now)
}

/// Moves or renames an entry and everything below it; see [`MoveTo`]. A move to the
/// place the entry already has (same folder, same name, byte for byte) changes nothing
/// and logs nothing; a rename that changes only the case of the name is a move.
pub(crate) fn move_entry(
    s: &mut impl Store,
    user_id: &str,
    entry_id: &str,
    to: &MoveTo,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    if to.parent_id.is_none() && to.name.is_none() {
        return Err(RepoError::Invalid(
            "a move needs parent_id, name or both".into(),
        ));
    }
    let entry = s
        .live_entry(user_id, entry_id)?
        .ok_or(RepoError::NotFound("entry"))?;
    if let Some(tag) = &to.if_match {
        // A folder has no version: no tag can match it.
        let version = entry.content.as_ref().map(|c| c.version);
        if !version.is_some_and(|v| tag.matches(&entry.id, v)) {
            return Err(RepoError::PreconditionFailed);
        }
    }
    let parent_id = match &to.parent_id {
        Some(p) => p.as_deref(),
        None => entry.parent_id.as_deref(),
    };
    let parent = parent_folder(s, user_id, parent_id)?;
    let name = to.name.clone().unwrap_or_else(|| entry.name.clone());
    let path = child_path(&parent.1, &name)?;
    if path == entry.path {
        return Ok(entry);
    }
    if entry.kind == EntryKind::Folder {
        if is_within(&parent.1, &entry.path) {
            return Err(RepoError::Invalid(
                "a folder cannot move into itself or below itself".into(),
            ));
        }
        check_subtree_bounds(s, user_id, &entry.path, &path)?;
    }
    // The entry itself at the new path (case-insensitively) is a case-only rename.
    if let Some(other) = s.live_entry_at(user_id, &path)? {
        if other.id != entry.id {
            return Err(RepoError::Conflict(format!(
                "'{}' is already taken in that folder",
                other.name
            )));
        }
    }
    let moved = EntryRow {
        parent_id: parent.0,
        name,
        path,
        updated_at: now,
        ..entry.clone()
    };
    fail_db!("move.relocate");
    s.relocate(&moved, &entry.path, now)?;
    fail_db!("move.log");
    s.record_move(&moved, &entry.path, now)?;
    Ok(moved)
}

/// The paths below a folder moved from `old` to `new` stay within the bounds every path
/// keeps (a move must not reach where no upload could).
fn check_subtree_bounds(s: &mut impl Store, user_id: &str, old: &str, new: &str) -> RepoResult<()> {
    let depth = |p: &str| p.matches('/').count();
    if new.len() <= old.len() && depth(new) <= depth(old) {
        return Ok(());
    }
    let Some((bytes, names)) = s.subtree_extent(user_id, old)? else {
        return Ok(());
    };
    if names - depth(old) + depth(new) > MAX_DEPTH {
        return Err(RepoError::Invalid(NameError::TooDeep.to_string()));
    }
    if bytes - old.len() + new.len() > MAX_PATH_BYTES {
        return Err(RepoError::Invalid(NameError::PathTooLong.to_string()));
    }
    Ok(())
}

/// Whether `path` is `folder` or below it, compared case-folded.
fn is_within(path: &str, folder: &str) -> bool {
    let (path, folder) = (name_key(path), name_key(folder));
    path == folder || path.starts_with(&format!("{folder}/"))
}

pub(crate) fn create_share(
    s: &mut impl Store,
    user_id: &str,
    share: &NewShare,
    now: DateTime<Utc>,
) -> RepoResult<ShareRow> {
    match s.live_entry(user_id, &share.file_id)? {
        Some(e) if e.kind == EntryKind::File => {}
        _ => return Err(RepoError::NotFound("file")),
    }
    let row = ShareRow {
        id: new_id(),
        user_id: user_id.to_string(),
        file_id: share.file_id.clone(),
        expires_at: share.expires_at,
        max_downloads: share.max_downloads,
        download_count: 0,
        disabled: false,
        created_at: now,
    };
    s.insert_share(&row, &share.token_hash)?;
    Ok(row)
}

fn current_content(e: &EntryRow) -> RepoResult<FileContent> {
    e.content
        .clone()
        .ok_or_else(|| RepoError::Backend(format!("file {} without content", e.id)))
}

/// Fails with `QuotaExceeded` when replacing `removed` bytes of live files with `added`
/// would take the user past `quota`. A write that does not grow the usage always passes,
/// so a user over a lowered quota can still shrink and delete. Runs inside the writing
/// transaction, after the user's other writers (SQLite's write lock, Postgres's user row
/// lock), so two uploads that each fit but not together cannot both pass.
fn check_quota(
    s: &mut impl Store,
    user_id: &str,
    quota: Option<u64>,
    removed: u64,
    added: u64,
) -> RepoResult<()> {
    let Some(quota) = quota else { return Ok(()) };
    if added <= removed {
        return Ok(());
    }
    let usage = s.usage(user_id)?;
    if usage.saturating_sub(removed).saturating_add(added) > quota {
        return Err(RepoError::QuotaExceeded);
    }
    Ok(())
}

/// Makes `new` the current content of live file `e`; the old one stays as a version.
fn replace_content(
    s: &mut impl Store,
    mut e: EntryRow,
    new: FileContent,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    let old = current_content(&e)?;
    fail_db!("content.update");
    s.update_content(&e.id, &new, now)?;
    fail_db!("content.retire");
    s.retire_version(&e.id, old.version, now)?;
    e.content = Some(new);
    e.updated_at = now;
    fail_db!("content.version");
    s.insert_version(&e, now)?;
    fail_db!("content.log");
    s.record_change(&e, ChangeOp::Update, now)?;
    Ok(e)
}

fn live_file(s: &mut impl Store, user_id: &str, file_id: &str) -> RepoResult<EntryRow> {
    match s.live_entry(user_id, file_id)? {
        Some(e) if e.kind == EntryKind::File => Ok(e),
        _ => Err(RepoError::NotFound("file")),
    }
}

pub(crate) fn file_versions(
    s: &mut impl Store,
    user_id: &str,
    file_id: &str,
) -> RepoResult<Vec<VersionRow>> {
    live_file(s, user_id, file_id)?;
    s.versions(user_id, file_id)
}

pub(crate) fn file_version(
    s: &mut impl Store,
    user_id: &str,
    file_id: &str,
    version: i64,
) -> RepoResult<(EntryRow, VersionRow)> {
    let file = live_file(s, user_id, file_id)?;
    let v = s
        .version(user_id, file_id, version)?
        .ok_or(RepoError::NotFound("version"))?;
    Ok((file, v))
}

pub(crate) fn restore_version(
    s: &mut impl Store,
    user_id: &str,
    file_id: &str,
    version: i64,
    quota: Option<u64>,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    let (file, kept) = file_version(s, user_id, file_id, version)?;
    let old = current_content(&file)?;
    check_quota(s, user_id, quota, old.size, kept.content.size)?;
    let new = FileContent {
        version: old.version + 1,
        ..kept.content
    };
    replace_content(s, file, new, now)
}

/// How deep a path is: parents sort before their children.
fn depth(path: &str) -> usize {
    path.matches('/').count()
}

pub(crate) fn restore_trash(
    s: &mut impl Store,
    user_id: &str,
    item_id: &str,
    to: &RestoreTo,
    quota: Option<u64>,
    now: DateTime<Utc>,
) -> RepoResult<EntryRow> {
    let mut rows = s.trashed(user_id, item_id)?;
    let old = rows
        .iter()
        .find(|r| r.id == item_id)
        .cloned()
        .ok_or(RepoError::NotFound("trash item"))?;
    let parent = match &to.parent {
        Some(id) => parent_folder(s, user_id, id.as_deref())?,
        None => {
            // The old parent path, with missing folders made again.
            let (dir, _) = old.path.rsplit_once('/').unwrap_or(("", ""));
            let names = if dir.is_empty() {
                Vec::new()
            } else {
                dbx_shared::names::parse_path(dir).map_err(|e| RepoError::Backend(e.to_string()))?
            };
            ensure_folders(s, user_id, &names, now)?
        }
    };
    let name = to.name.clone().unwrap_or_else(|| old.name.clone());
    let path = join(&parent.1, &name);
    if let Some(e) = s.live_entry_at(user_id, &path)? {
        return Err(RepoError::Conflict(format!(
            "'{}' is already taken",
            e.path
        )));
    }
    let added = rows
        .iter()
        .filter_map(|r| r.content.as_ref())
        .map(|c| c.size)
        .sum();
    check_quota(s, user_id, quota, 0, added)?;
    rows.sort_by(|a, b| (depth(&a.path), &a.path).cmp(&(depth(&b.path), &b.path)));
    let below = format!("{}/", old.path);
    let mut restored = None;
    for mut row in rows {
        if row.id == old.id {
            row.parent_id = parent.0.clone();
            row.name = name.clone();
            row.path = path.clone();
        } else {
            // Everything else was below the deleted folder, at its path then.
            let rest = row.path.strip_prefix(&below).ok_or_else(|| {
                RepoError::Backend(format!("trash row {} is not below {}", row.id, old.path))
            })?;
            row.path = join(&path, rest);
        }
        row.updated_at = now;
        fail_db!("trash_restore.undelete");
        s.undelete(&row, now)?;
        fail_db!("trash_restore.log");
        s.record_change(&row, ChangeOp::Create, now)?;
        if row.id == old.id {
            restored = Some(row);
        }
    }
    restored.ok_or(RepoError::NotFound("trash item"))
}

pub(crate) fn purge_trash(
    s: &mut impl Store,
    user_id: &str,
    item_id: Option<&str>,
) -> RepoResult<u64> {
    match item_id {
        Some(id) => {
            fail_db!("purge.item");
            match s.purge_item(user_id, id, None)? {
                true => Ok(1),
                false => Err(RepoError::NotFound("trash item")),
            }
        }
        None => {
            let mut purged = 0;
            for id in s.trash_item_ids(user_id)? {
                fail_db!("purge.item");
                purged += u64::from(s.purge_item(user_id, &id, None)?);
            }
            Ok(purged)
        }
    }
}

/// The `parts` column: ETags in order, space-separated (ETags hold no spaces).
pub(crate) fn parts_text(parts: &[String]) -> String {
    parts.join(" ")
}

pub(crate) fn parts_from_text(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Whether a request may take an upload's lease: no one else holds it (a lease held
/// until `held_until`), and the upload is at the offset the request names.
pub(crate) fn check_claim(
    row: &UploadRow,
    held_until: Option<DateTime<Utc>>,
    offset: Option<u64>,
    lease: &UploadLease,
) -> RepoResult<()> {
    if held_until.is_some_and(|t| t > lease.now) {
        return Err(RepoError::Conflict(
            "another request is writing this upload".into(),
        ));
    }
    match offset {
        Some(o) if o != row.staged.offset => Err(RepoError::Conflict(format!(
            "Upload-Offset is {o}, but the upload is at {}",
            row.staged.offset
        ))),
        _ => Ok(()),
    }
}
