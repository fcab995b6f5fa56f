//! Version history: every new content of a file keeps the previous one as a version, for
//! the retention period. This area lists a file's versions, opens one for download and
//! makes one current again.

use std::sync::Arc;

use chrono::Utc;

use crate::changes::ChangeWaker;
use crate::error::AppResult;
use crate::metadata::{Db, EntryRow, VersionRow};

pub struct Versions {
    db: Db,
    waker: Arc<dyn ChangeWaker>,
    quota_bytes: Option<u64>,
}

impl Versions {
    pub fn new(db: Db, waker: Arc<dyn ChangeWaker>, quota_bytes: Option<u64>) -> Self {
        Versions {
            db,
            waker,
            quota_bytes,
        }
    }

    /// The versions of a live file of this user, newest first, the current one included.
    pub async fn list(&self, user: &str, file_id: &str) -> AppResult<Vec<VersionRow>> {
        let (u, f) = (user.to_string(), file_id.to_string());
        Ok(self.db.run(move |r| r.file_versions(&u, &f)).await?)
    }

    /// The file as it was at `version`: its name, with that version's content, ready to
    /// be served like the current one.
    pub async fn as_file(&self, user: &str, file_id: &str, version: i64) -> AppResult<EntryRow> {
        let (u, f) = (user.to_string(), file_id.to_string());
        let (mut file, kept) = self
            .db
            .run(move |r| r.file_version(&u, &f, version))
            .await?;
        file.content = Some(kept.content);
        Ok(file)
    }

    /// Makes `version`'s content current again, as a new version.
    pub async fn restore(&self, user: &str, file_id: &str, version: i64) -> AppResult<EntryRow> {
        let (u, f, quota) = (user.to_string(), file_id.to_string(), self.quota_bytes);
        let file = self
            .db
            .run(move |r| r.restore_version(&u, &f, version, quota, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok(file)
    }
}
