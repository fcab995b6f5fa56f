//! What WebDAV shows of an entry: type, size, times and ETag (the content hash for
//! files, so a client sees a file change exactly when its content does).

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use dav_server::fs::{DavDirEntry, DavMetaData, FsFuture, FsResult};
use dbx_shared::api::Entry;
use futures_util::FutureExt;

use crate::metadata::EntryRow;

#[derive(Debug, Clone)]
pub struct Meta {
    dir: bool,
    len: u64,
    modified: SystemTime,
    created: SystemTime,
    etag: Option<String>,
}

impl Meta {
    /// The user's root folder, which has no row.
    pub fn root(created: DateTime<Utc>) -> Self {
        Meta {
            dir: true,
            len: 0,
            modified: created.into(),
            created: created.into(),
            etag: None,
        }
    }

    pub fn of_row(e: &EntryRow) -> Self {
        Meta {
            dir: e.content.is_none(),
            len: e.content.as_ref().map_or(0, |c| c.size),
            modified: e.updated_at.into(),
            created: e.created_at.into(),
            etag: e.content.as_ref().map(|c| c.content_hash.clone()),
        }
    }

    pub fn of_entry(e: &Entry) -> Self {
        match e {
            Entry::File(f) => Meta {
                dir: false,
                len: f.size,
                modified: f.updated_at.into(),
                created: f.created_at.into(),
                etag: Some(f.content_hash.clone()),
            },
            Entry::Folder(f) => Meta {
                dir: true,
                len: 0,
                modified: f.updated_at.into(),
                created: f.created_at.into(),
                etag: None,
            },
        }
    }
}

impl DavMetaData for Meta {
    fn len(&self) -> u64 {
        self.len
    }

    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.modified)
    }

    fn created(&self) -> FsResult<SystemTime> {
        Ok(self.created)
    }

    fn is_dir(&self) -> bool {
        self.dir
    }

    fn etag(&self) -> Option<String> {
        match &self.etag {
            Some(hash) => Some(hash.clone()),
            // Folders: the default, from the time of their last change.
            None => {
                let t = self.modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                Some(format!("{:x}", t.as_micros()))
            }
        }
    }
}

/// One child in a folder listing.
pub struct DirEntry {
    pub name: String,
    pub meta: Meta,
}

impl DavDirEntry for DirEntry {
    fn name(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }

    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let meta: Box<dyn DavMetaData> = Box::new(self.meta.clone());
        async move { Ok(meta) }.boxed()
    }
}
