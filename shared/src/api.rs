//! Request and reply bodies of API.md, used by the server to answer and the client to read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Base path of every API route.
pub const API_BASE: &str = "/api/v1";

/// A folder as listings, delta and metadata calls return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FolderEntry {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    pub name: String,
    /// The folder it is in; null for the root.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub parent_id: Option<String>,
    pub path: String,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
}

/// A file as listings, delta and metadata calls return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileEntry {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    pub name: String,
    /// The folder it is in; null for the root.
    #[cfg_attr(feature = "openapi", schema(required = true, format = "uuid"))]
    pub parent_id: Option<String>,
    pub path: String,
    pub size: u64,
    pub mime_type: String,
    /// The Dropbox content hash: SHA-256 over the SHA-256 digests of each 4 MiB block.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub content_hash: String,
    /// Starts at 1 and grows by one with each new content.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub version: i64,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    pub updated_at: DateTime<Utc>,
}

/// A folder or a file, told apart by `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    Folder(FolderEntry),
    File(FileEntry),
}

impl Entry {
    pub fn id(&self) -> &str {
        match self {
            Entry::Folder(f) => &f.id,
            Entry::File(f) => &f.id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Entry::Folder(f) => &f.name,
            Entry::File(f) => &f.name,
        }
    }

    pub fn path(&self) -> &str {
        match self {
            Entry::Folder(f) => &f.path,
            Entry::File(f) => &f.path,
        }
    }

    pub fn parent_id(&self) -> Option<&str> {
        match self {
            Entry::Folder(f) => f.parent_id.as_deref(),
            Entry::File(f) => f.parent_id.as_deref(),
        }
    }

    pub fn is_folder(&self) -> bool {
        matches!(self, Entry::Folder(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    pub email: String,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterReply {
    pub user: User,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Reply of login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenReply {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeReply {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    pub email: String,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
    pub usage_bytes: u64,
    /// The cap on `usage_bytes`; `None` (JSON null) when the server sets none. Older
    /// servers leave it out, which reads as none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub quota_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateFolderRequest {
    pub parent_id: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListReply {
    pub entries: Vec<Entry>,
    /// Pass as `after` for the following page; null on the last page.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateShareRequest {
    pub file_id: String,
    #[serde(
        default,
        with = "crate::time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub max_downloads: Option<u64>,
}

/// A share link. `token` and `url` are present only in the reply that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Share {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub file_id: String,
    #[serde(with = "crate::time::option")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub expires_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub max_downloads: Option<u64>,
    pub download_count: u64,
    pub disabled: bool,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShareList {
    pub shares: Vec<Share>,
}

/// One content a file has had, as `GET /files/{id}/versions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileVersion {
    pub version: i64,
    pub size: u64,
    pub content_hash: String,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionList {
    /// Newest first; the current version included.
    pub versions: Vec<FileVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreVersionRequest {
    pub version: i64,
}

/// Whether an entry is a file or a folder, where a reply names it in `"type"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    Folder,
    File,
}

/// A deleted file or folder, as `GET /trash` lists it. A folder deleted as a whole is one
/// item, and its `size` counts the files deleted with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrashItem {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EntryType,
    pub name: String,
    pub path: String,
    #[serde(with = "crate::time")]
    pub deleted_at: DateTime<Utc>,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrashList {
    /// Newest deletion first.
    pub entries: Vec<TrashItem>,
    /// Pass as `after` for the following page; null on the last page.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next: Option<String>,
}

/// Body of `POST /trash/{id}/restore`: the fields of a move, both optional. `parent_id`
/// absent restores into the old parent path; present, it names the folder (`null`: the
/// root); `name` absent keeps the name.
pub type RestoreTrashRequest = MoveRequest;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateAppPasswordRequest {
    pub name: String,
}

/// An app password, for WebDAV and other HTTP Basic clients. `password` is present only
/// in the reply that created it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPassword {
    #[cfg_attr(feature = "openapi", schema(format = "uuid"))]
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(with = "crate::time")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPasswordList {
    pub app_passwords: Vec<AppPassword>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
    /// The entry (a folder: with its whole subtree) moved from `Change::from_path`.
    Move,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub op: ChangeOp,
    /// For a move: where the entry was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    pub entry: Entry,
}

/// Body of `POST /entries/{id}/move`: at least one field. `parent_id` absent keeps the
/// folder, `null` is the root; `name` absent keeps the name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveRequest {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub parent_id: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A field that is present, even as `null`: `Some(None)`; `#[serde(default)]` gives
/// `None` when it is absent.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeltaReply {
    pub entries: Vec<Change>,
    pub cursor: String,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CursorReply {
    pub cursor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitReply {
    pub changes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_serializes_with_type_tag_and_api_times() {
        let t = DateTime::parse_from_rfc3339("2026-11-25T13:05:00.123Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let e = Entry::Folder(FolderEntry {
            id: "x".into(),
            name: "docs".into(),
            parent_id: None,
            path: "/docs".into(),
            created_at: t,
            updated_at: t,
        });
        let v = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(v["type"], "folder");
        assert_eq!(v["parent_id"], serde_json::Value::Null);
        assert_eq!(v["created_at"], "2026-11-25T13:05:00Z");
    }

    #[test]
    fn move_request_tells_absent_from_null() {
        let parse = |s: &str| serde_json::from_str::<MoveRequest>(s).ok();
        assert_eq!(parse("{}"), Some(MoveRequest::default()));
        let to_root = parse(r#"{"parent_id": null}"#).unwrap_or_default();
        assert_eq!(to_root.parent_id, Some(None));
        let renamed = parse(r#"{"name": "b"}"#).unwrap_or_default();
        assert_eq!(
            (renamed.parent_id, renamed.name.as_deref()),
            (None, Some("b"))
        );
        let back = serde_json::to_value(&to_root).unwrap_or_default();
        assert_eq!(back, serde_json::json!({"parent_id": null}));
    }
}

/// Body of `POST /files/by-hash`: where the file goes (`path`, or `parent_id` and
/// `name`) and the content the account already holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ByHashRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-fA-F]{64}$"))]
    pub content_hash: String,
    pub size: u64,
}
