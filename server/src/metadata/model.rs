//! Rows the repository hands back, and the arguments of its writes.

use crate::storage::Staged;
use chrono::{DateTime, Utc};
use dbx_shared::api::{
    ChangeOp, Entry, EntryType, FileEntry, FileVersion, FolderEntry, Share, TrashItem,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Folder = 0,
    File = 1,
}

impl EntryKind {
    pub fn from_i64(v: i64) -> Self {
        if v == 0 {
            EntryKind::Folder
        } else {
            EntryKind::File
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            EntryKind::Folder => "folder",
            EntryKind::File => "file",
        }
    }
}

/// The content of a file version, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub size: u64,
    pub mime_type: String,
    pub content_hash: String,
    pub version: i64,
    pub blob_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub id: String,
    pub user_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub path: String,
    pub kind: EntryKind,
    /// Present for files.
    pub content: Option<FileContent>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EntryRow {
    /// The entry as API.md shows it.
    pub fn to_api(&self) -> Entry {
        self.clone().into_api()
    }

    /// The same without copying its strings, for a listing's thousand rows.
    pub fn into_api(self) -> Entry {
        match self.content {
            Some(c) => Entry::File(FileEntry {
                id: self.id,
                name: self.name,
                parent_id: self.parent_id,
                path: self.path,
                size: c.size,
                mime_type: c.mime_type,
                content_hash: c.content_hash,
                version: c.version,
                created_at: self.created_at,
                updated_at: self.updated_at,
            }),
            None => Entry::Folder(FolderEntry {
                id: self.id,
                name: self.name,
                parent_id: self.parent_id,
                path: self.path,
                created_at: self.created_at,
                updated_at: self.updated_at,
            }),
        }
    }

    /// Where this entry sorts in a listing: folders first, then by case-folded name.
    pub fn position(&self) -> ListPosition {
        ListPosition {
            kind: self.kind,
            name_key: dbx_shared::names::name_key(&self.name),
        }
    }
}

/// A place in a folder listing, for pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub kind: EntryKind,
    pub name_key: String,
}

/// Where an upload goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileTarget {
    /// A path from the root; missing parent folders are created.
    Path(Vec<String>),
    /// A name in an existing folder (`None`: the root).
    InFolder {
        parent_id: Option<String>,
        name: String,
    },
}

/// A new version of a file whose blob is already durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub target: FileTarget,
    pub blob_key: String,
    pub size: u64,
    pub mime_type: String,
    pub content_hash: String,
    /// When set, the write happens only if the current version is this one.
    pub if_match: Option<IfMatch>,
    /// When set, the write fails with `QuotaExceeded` if it would take the user's usage
    /// past this many bytes.
    pub quota_bytes: Option<u64>,
    /// Dedup: when the account already holds content with this hash and size, the file
    /// points to that blob instead of `blob_key` (the caller then removes its own copy).
    /// With an empty `blob_key` (`by-hash`), such content must exist: `NotFound` else.
    pub dedup: bool,
    /// Small content kept in the database under `blob_key`, written in the same
    /// transaction as the version (unless dedup points the file to content already held).
    pub inline: Option<bytes::Bytes>,
}

/// A resumable (tus) upload, as the database keeps it between requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub user_id: String,
    /// The declared total size.
    pub length: u64,
    /// Where the file goes, as the client gave it (`Upload-Metadata` path).
    pub path: String,
    /// The `if_match` metadata, as the client gave it.
    pub if_match: Option<String>,
    /// The declared content hash, lower-case hex.
    pub content_hash: Option<String>,
    /// Where its bytes wait (its id is the upload's id; its offset, the upload's).
    pub staged: Staged,
    /// The content-hash digests of the whole 4 MiB blocks received.
    pub block_digests: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// 24 hours after the last progress, unless it completes.
    pub expires_at: DateTime<Utc>,
}

/// A conditional upload's or delete's precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `If-Match: *`: the file must exist.
    Any,
    /// `If-Match: "N"` or `"<file id>:N"`: the current file must be at version N (and be
    /// that file: one deleted and made again at the same path starts at 1 again).
    Version(VersionTag),
    /// `If-None-Match: *`: no live file may be at the path yet.
    Absent,
}

impl IfMatch {
    /// An `If-Match` value: `*`, or a version tag (see [`VersionTag::parse`]).
    pub fn parse(v: &str) -> Option<IfMatch> {
        match v.trim() {
            "*" => Some(IfMatch::Any),
            v => VersionTag::parse(v).map(IfMatch::Version),
        }
    }

    /// Whether a file that is `current` (its id and version; `None`: no file) passes.
    pub fn allows(&self, current: Option<(&str, i64)>) -> bool {
        match self {
            IfMatch::Any => current.is_some(),
            IfMatch::Version(t) => current.is_some_and(|(id, v)| t.matches(id, v)),
            IfMatch::Absent => current.is_none(),
        }
    }
}

/// `If-Match` on a request about one existing file: `"<version>"`, or
/// `"<file id>:<version>"`, which also fails when the id is another file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionTag {
    pub file_id: Option<String>,
    pub version: i64,
}

impl VersionTag {
    /// `"N"`, `N` or `"<file id>:N"` (weak `W/` tolerated); `None` for anything else.
    pub fn parse(v: &str) -> Option<VersionTag> {
        let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
        let (file_id, version) = match v.rsplit_once(':') {
            Some((id, n)) if !id.is_empty() => (Some(id.to_string()), n),
            Some(_) => return None,
            None => (None, v),
        };
        let version = version.parse::<i64>().ok()?;
        Some(VersionTag { file_id, version })
    }

    /// Whether the file `id` at `version` passes.
    pub fn matches(&self, id: &str, version: i64) -> bool {
        self.version == version && self.file_id.as_deref().is_none_or(|f| f == id)
    }
}

/// Where a move takes an entry; at least one of the two is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveTo {
    /// The new folder (`Some(None)`: the root); `None` keeps the entry's folder.
    pub parent_id: Option<Option<String>>,
    /// The new name, normalized; `None` keeps the name.
    pub name: Option<String>,
    /// For files: the move happens only if the file is at this version.
    pub if_match: Option<VersionTag>,
}

/// What must hold for a delete to go ahead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteCheck {
    /// A file's `If-Match`.
    pub if_match: Option<IfMatch>,
    /// A folder is deleted only if it has no live children (`?recursive=false`).
    pub only_if_empty: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub entry: EntryRow,
    /// True when the file did not exist before.
    pub created: bool,
    /// The blob of the replaced version, which stays as a kept version.
    pub replaced_blob: Option<String>,
}

/// One content a file has had: its current one or a kept earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub content: FileContent,
    /// When this content was written.
    pub created_at: DateTime<Utc>,
}

impl VersionRow {
    pub fn to_api(&self) -> FileVersion {
        FileVersion {
            version: self.content.version,
            size: self.content.size,
            content_hash: self.content.content_hash.clone(),
            created_at: self.created_at,
        }
    }
}

/// A trash item: the entry the user deleted (its state then), and what went with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashRow {
    pub entry: EntryRow,
    pub deleted_at: DateTime<Utc>,
    /// The size of the file, or of the files deleted with the folder.
    pub size: u64,
}

impl TrashRow {
    pub fn to_api(&self) -> TrashItem {
        TrashItem {
            id: self.entry.id.clone(),
            kind: match self.entry.kind {
                EntryKind::Folder => EntryType::Folder,
                EntryKind::File => EntryType::File,
            },
            name: self.entry.name.clone(),
            path: self.entry.path.clone(),
            deleted_at: self.deleted_at,
            size: self.size,
        }
    }

    pub fn position(&self) -> TrashPosition {
        TrashPosition {
            deleted_at: self.deleted_at,
            id: self.entry.id.clone(),
        }
    }
}

/// A place in the trash listing (newest deletion first), for pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashPosition {
    pub deleted_at: DateTime<Utc>,
    pub id: String,
}

/// Where a trash item goes back to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreTo {
    /// `None`: the folder at its old parent path (made again when missing);
    /// `Some(None)`: the root; `Some(Some(id))`: that live folder.
    pub parent: Option<Option<String>>,
    /// A new (normalized) name; `None` keeps the old one.
    pub name: Option<String>,
}

/// What `expire` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub versions: u64,
    pub trash_items: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    pub file_id: String,
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    pub id: String,
    pub user_id: String,
    pub file_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_downloads: Option<u64>,
    pub download_count: u64,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl ShareRow {
    /// The link as `GET /shares` shows it (no token, no URL).
    pub fn to_api(&self) -> Share {
        Share {
            id: self.id.clone(),
            token: None,
            url: None,
            file_id: self.file_id.clone(),
            expires_at: self.expires_at,
            max_downloads: self.max_downloads,
            download_count: self.download_count,
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

/// An app password as stored (its secret is kept only as a hash, elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPasswordRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A WebDAV dead property of an entry, as a client set it with PROPPATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavPropRow {
    /// The XML namespace, empty for none.
    pub namespace: String,
    pub name: String,
    pub prefix: Option<String>,
    /// The whole property element, as raw XML.
    pub xml: Vec<u8>,
}

/// The key under which the root folder's properties are kept (the root has no row).
pub const ROOT_PROPS_ID: &str = "root";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// Gap-free position in the user's log, from 1.
    pub seq: i64,
    pub op: ChangeOp,
    /// For a move: the entry's path before it.
    pub from_path: Option<String>,
    /// The entry after the change (for a delete, its last state).
    pub entry: LoggedEntry,
}

/// An entry as the change log keeps it: the API's JSON, written when the change is logged
/// and sent to clients as it is. Parsing and writing again a page of 1,000 of them was
/// half of a `/delta` call's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry(String);

impl LoggedEntry {
    pub fn of(entry: &Entry) -> Result<Self, serde_json::Error> {
        serde_json::to_string(entry).map(LoggedEntry)
    }

    /// Text that `of` made and the log kept.
    pub fn from_log(json: String) -> Self {
        LoggedEntry(json)
    }

    pub fn parse(&self) -> Result<Entry, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Milliseconds since the epoch, as both databases store times.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn op_name(op: ChangeOp) -> &'static str {
    match op {
        ChangeOp::Create => "create",
        ChangeOp::Update => "update",
        ChangeOp::Delete => "delete",
        ChangeOp::Move => "move",
    }
}

pub fn op_from_name(s: &str) -> ChangeOp {
    match s {
        "create" => ChangeOp::Create,
        "update" => ChangeOp::Update,
        "move" => ChangeOp::Move,
        _ => ChangeOp::Delete,
    }
}

/// A new entry id: UUID v7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A lease on an upload: who holds it (a random id per request), from when, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLease {
    pub id: String,
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}
