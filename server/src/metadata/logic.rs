//! The write rules both backends share (parents, folder creation, conflicts, If-Match,
//! insert versus update, the change-log row), written once over [`Store`]. Each backend
//! implements `Store` with its own SQL and keeps its own transactions and locking; these
//! functions run inside whatever transaction the caller opened.

use chrono::{DateTime, Utc};
use dbx_shared::api::ChangeOp;
use dbx_shared::names::{join, name_key};

use super::model::*;
use super::{RepoError, RepoResult};

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
    /// Soft-deletes an entry and, given a case-folded `subtree_prefix` ("/a/"), every live
    /// entry whose path starts with it.
    fn mark_deleted(
        &mut self,
        user_id: &str,
        id: &str,
        subtree_prefix: Option<&str>,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    /// Appends the change to the user's log at the next gap-free position.
    fn record_change(
        &mut self,
        entry: &EntryRow,
        op: ChangeOp,
        now: DateTime<Utc>,
    ) -> RepoResult<()>;
    fn insert_share(&mut self, share: &ShareRow, token_hash: &str) -> RepoResult<()>;
}

/// A folder new children go into: its id (`None` for the root) and path.
pub(crate) type Parent = (Option<String>, String);

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
        path: join(&parent_path, name),
        kind: EntryKind::Folder,
        content: None,
        created_at: now,
        updated_at: now,
    };
    s.insert_entry(&row)?;
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
    let path = join(&parent.1, &name);
    let content = |version| FileContent {
        size: w.size,
        mime_type: w.mime_type.clone(),
        content_hash: w.content_hash.clone(),
        version,
        blob_key: w.blob_key.clone(),
    };
    match s.live_entry_at(user_id, &path)? {
        Some(e) if e.kind == EntryKind::Folder => {
            Err(RepoError::Conflict(format!("'{}' is a folder", e.path)))
        }
        Some(mut e) => {
            let old = e
                .content
                .clone()
                .ok_or_else(|| RepoError::Backend("file without content".into()))?;
            if w.if_match.is_some_and(|p| !p.allows(Some(old.version))) {
                return Err(RepoError::PreconditionFailed);
            }
            let new = content(old.version + 1);
            s.update_content(&e.id, &new, now)?;
            e.content = Some(new);
            e.updated_at = now;
            s.record_change(&e, ChangeOp::Update, now)?;
            Ok(PutOutcome {
                entry: e,
                created: false,
                replaced_blob: Some(old.blob_key),
            })
        }
        None => {
            if w.if_match.is_some_and(|p| !p.allows(None)) {
                return Err(RepoError::PreconditionFailed);
            }
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
            s.insert_entry(&row)?;
            s.record_change(&row, ChangeOp::Create, now)?;
            Ok(PutOutcome {
                entry: row,
                created: true,
                replaced_blob: None,
            })
        }
    }
}

pub(crate) fn delete_entry(
    s: &mut impl Store,
    user_id: &str,
    entry_id: &str,
    kind: EntryKind,
    now: DateTime<Utc>,
) -> RepoResult<()> {
    let entry = match s.live_entry(user_id, entry_id)? {
        Some(e) if e.kind == kind => e,
        _ => return Err(RepoError::NotFound(kind.noun())),
    };
    // The trailing slash keeps "/a" from taking "/ab" with it.
    let subtree = (kind == EntryKind::Folder).then(|| format!("{}/", name_key(&entry.path)));
    s.mark_deleted(user_id, entry_id, subtree.as_deref(), now)?;
    s.record_change(&entry, ChangeOp::Delete, now)
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
