//! The change log as clients see it: opaque cursors, delta pages and long-poll wake-ups.

pub mod cursor;
pub mod pg_waker;
pub mod waker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::metadata::{ChangeRow, Db};
pub use waker::{ChangeWaker, LocalWaker};

/// A page of the log as `GET /delta` answers it.
#[derive(Debug)]
pub struct DeltaPage {
    entries: Vec<ChangeRow>,
    cursor: String,
    has_more: bool,
}

impl DeltaPage {
    /// The page as `DeltaReply` writes it, each entry's logged text copied in as it is
    /// (see `LoggedEntry`).
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let entries: usize = self
            .entries
            .iter()
            .map(|c| {
                ENVELOPE + c.entry.as_str().len() + c.from_path.as_ref().map_or(0, String::len)
            })
            .sum();
        let mut out = Vec::with_capacity(entries + self.cursor.len() + ENVELOPE);
        out.extend_from_slice(b"{\"entries\":[");
        for (i, c) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"op\":");
            serde_json::to_writer(&mut out, &c.op)?;
            if let Some(from) = &c.from_path {
                out.extend_from_slice(b",\"from_path\":");
                serde_json::to_writer(&mut out, from)?;
            }
            out.extend_from_slice(b",\"entry\":");
            out.extend_from_slice(c.entry.as_str().as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"cursor\":");
        serde_json::to_writer(&mut out, &self.cursor)?;
        out.extend_from_slice(b",\"has_more\":");
        serde_json::to_writer(&mut out, &self.has_more)?;
        out.push(b'}');
        Ok(out)
    }
}

/// Room for the JSON around one change (or the page's own fields), so the body is
/// allocated once.
const ENVELOPE: usize = 64;

pub struct Delta {
    db: Db,
    waker: Arc<dyn ChangeWaker>,
    shutdown: CancellationToken,
    database: OnceCell<String>,
}

impl Delta {
    pub fn new(db: Db, waker: Arc<dyn ChangeWaker>, shutdown: CancellationToken) -> Self {
        Delta {
            db,
            waker,
            shutdown,
            database: OnceCell::new(),
        }
    }

    /// This database's identity, read once.
    async fn database_id(&self) -> AppResult<&str> {
        self.database
            .get_or_try_init(|| async { Ok(self.db.run(|r| r.database_id()).await?) })
            .await
            .map(String::as_str)
    }

    /// Decodes a client's cursor into its position. Malformed cursors, another user's and
    /// forged ones from the future are 400 (API.md); a cursor this server handed out that
    /// no longer matches its history (another database, an account that no longer exists,
    /// a position that is gone or holds another change) is 410 `cursor_reset`.
    async fn position(&self, user_id: &str, cursor: Option<&str>) -> AppResult<i64> {
        let Some(raw) = cursor else { return Ok(0) };
        let bad = || AppError::bad_request("the cursor is not valid");
        let reset = |why: &str| {
            AppError::CursorReset(format!(
                "the cursor does not match this server's history ({why}); start again without \
                 a cursor and merge"
            ))
        };
        let c = cursor::decode(raw).ok_or_else(bad)?;
        if let Some(d) = &c.database {
            if d != self.database_id().await? {
                return Err(reset("it was made by another database"));
            }
        }
        if c.owner != user_id {
            let owner = c.owner.clone();
            return match self.db.run(move |r| r.user_by_id(&owner)).await? {
                Some(_) => Err(bad()),
                None => Err(reset("its account no longer exists")),
            };
        }
        let latest = self.latest_seq(user_id).await?;
        let Some(tag) = c.tag else {
            // A v1 cursor carries nothing more to check.
            return if c.seq > latest {
                Err(bad())
            } else {
                Ok(c.seq)
            };
        };
        if c.seq > latest {
            return Err(reset("the log is shorter than the cursor's position"));
        }
        if self.tag_at(user_id, c.seq).await? != tag {
            return Err(reset("another change stands at its position"));
        }
        Ok(c.seq)
    }

    /// The tag of the user's change at `seq` (empty at 0, before any change).
    async fn tag_at(&self, user_id: &str, seq: i64) -> AppResult<String> {
        if seq <= 0 {
            return Ok(String::new());
        }
        let user = user_id.to_string();
        let rows = self
            .db
            .run(move |r| r.changes_since(&user, seq - 1, 1))
            .await?;
        Ok(rows
            .first()
            .filter(|c| c.seq == seq)
            .map(cursor::tag)
            .unwrap_or_default())
    }

    async fn cursor_at(&self, user_id: &str, seq: i64, tag: String) -> AppResult<String> {
        Ok(cursor::encode(
            user_id,
            self.database_id().await?,
            seq,
            &tag,
        ))
    }

    async fn latest_seq(&self, user_id: &str) -> AppResult<i64> {
        let user = user_id.to_string();
        Ok(self.db.run(move |r| r.latest_change(&user)).await?)
    }

    pub async fn page(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> AppResult<DeltaPage> {
        let after = self.position(user_id, cursor).await?;
        let user = user_id.to_string();
        // One more than asked tells whether there is more without a second query.
        let mut rows = self
            .db
            .run(move |r| r.changes_since(&user, after, limit + 1))
            .await?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let next = match rows.last() {
            Some(c) => self.cursor_at(user_id, c.seq, cursor::tag(c)).await?,
            None => {
                let tag = self.tag_at(user_id, after).await?;
                self.cursor_at(user_id, after, tag).await?
            }
        };
        Ok(DeltaPage {
            entries: rows,
            cursor: next,
            has_more,
        })
    }

    pub async fn latest(&self, user_id: &str) -> AppResult<String> {
        let seq = self.latest_seq(user_id).await?;
        let tag = self.tag_at(user_id, seq).await?;
        self.cursor_at(user_id, seq, tag).await
    }

    /// True as soon as a change lands after `cursor`; false after `timeout` or at shutdown.
    pub async fn wait(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        timeout: Duration,
    ) -> AppResult<bool> {
        let after = self.position(user_id, cursor).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Subscribe before looking, so a change committed in between still wakes us.
            let mut woken = self.waker.subscribe(user_id);
            if self.latest_seq(user_id).await? > after {
                return Ok(true);
            }
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(false),
                _ = self.shutdown.cancelled() => return Ok(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::LoggedEntry;
    use chrono::TimeZone;
    use dbx_shared::api::{Change, ChangeOp, DeltaReply, Entry, FileEntry, FolderEntry};

    fn changes() -> Vec<Change> {
        let t = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 22, 0, 0).unwrap();
        let folder = Entry::Folder(FolderEntry {
            id: "f1".into(),
            name: "Docs \"2026\"".into(),
            parent_id: None,
            path: "/Docs \"2026\"".into(),
            created_at: t,
            updated_at: t,
        });
        let file = Entry::File(FileEntry {
            id: "f2".into(),
            name: "a\u{e9}\n.txt".into(),
            parent_id: Some("f1".into()),
            path: "/Docs \"2026\"/a\u{e9}\n.txt".into(),
            size: 4096,
            mime_type: "text/plain".into(),
            content_hash: "0".repeat(64),
            version: 3,
            created_at: t,
            updated_at: t,
        });
        vec![
            Change {
                op: ChangeOp::Create,
                from_path: None,
                entry: folder,
            },
            Change {
                op: ChangeOp::Move,
                from_path: Some("/b \"\\ \u{1}.txt".into()),
                entry: file,
            },
        ]
    }

    /// The page written around the log's text is byte for byte what `DeltaReply` writes.
    #[test]
    fn a_page_is_written_as_delta_reply_writes_it() {
        for (changes, has_more) in [(changes(), true), (changes(), false), (vec![], false)] {
            let page = DeltaPage {
                entries: changes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ChangeRow {
                        seq: i as i64 + 1,
                        op: c.op,
                        from_path: c.from_path.clone(),
                        entry: LoggedEntry::of(&c.entry).unwrap(),
                    })
                    .collect(),
                cursor: "djI6dTE6ZGI6MjoxMjM0".into(),
                has_more,
            };
            let reply = DeltaReply {
                entries: changes,
                cursor: page.cursor.clone(),
                has_more,
            };
            assert_eq!(
                String::from_utf8(page.to_json().unwrap()).unwrap(),
                serde_json::to_string(&reply).unwrap()
            );
        }
    }
}
