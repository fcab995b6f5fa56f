//! Resumable uploads this machine has started and not finished, kept in `uploads.json`
//! in the config dir, so that a new `dbx push` or `dbx sync` after a broken connection,
//! a killed process or a server restart goes on from the server's offset.
//!
//! An upload is found again only for the same server, account, remote path, size,
//! content hash and precondition: anything else is another upload.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ConfigDir;

/// Records older than this are dropped: the server gives an upload up after a day
/// without progress anyway.
const KEEP_DAYS: i64 = 7;

/// What an upload is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadKey {
    pub server: String,
    pub user_id: String,
    pub path: String,
    pub size: u64,
    pub content_hash: String,
    /// `If-Match` / `If-None-Match` as sent, empty for none.
    pub precondition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    key: UploadKey,
    url: String,
    started_at: DateTime<Utc>,
}

/// The file of unfinished uploads. Concurrent transfers of one process take turns; two
/// processes writing at once lose at most a record, which costs a fresh upload.
pub struct Resumes {
    config: ConfigDir,
    lock: Mutex<()>,
}

impl Resumes {
    pub fn new(config: ConfigDir) -> Self {
        Resumes {
            config,
            lock: Mutex::new(()),
        }
    }

    /// The URL of the unfinished upload for `key`, if this machine started one.
    pub fn find(&self, key: &UploadKey) -> Option<String> {
        let _turn = self.lock.lock().ok()?;
        self.load()
            .into_iter()
            .find(|r| &r.key == key)
            .map(|r| r.url)
    }

    /// Remembers that `url` uploads `key`. Failing to write only costs the resume.
    pub fn remember(&self, key: &UploadKey, url: &str) {
        self.update(|records| {
            records.retain(|r| &r.key != key);
            records.push(Record {
                key: key.clone(),
                url: url.to_string(),
                started_at: Utc::now(),
            });
        });
    }

    /// Forgets the upload for `key` (finished, refused or gone).
    pub fn forget(&self, key: &UploadKey) {
        self.update(|records| records.retain(|r| &r.key != key));
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Record>)) {
        let Ok(_turn) = self.lock.lock() else {
            return;
        };
        let mut records = self.load();
        let before = records.len();
        let cutoff = Utc::now() - chrono::Duration::days(KEEP_DAYS);
        records.retain(|r| r.started_at > cutoff);
        change(&mut records);
        if records.is_empty() && before == 0 {
            return;
        }
        if let Err(e) = self.config.save_uploads(&records) {
            eprintln!("warning: cannot remember unfinished uploads: {e:#}");
        }
    }

    /// The records on disk; an unreadable file counts as none (each costs a fresh upload).
    fn load(&self) -> Vec<Record> {
        self.config
            .load_uploads()
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}
