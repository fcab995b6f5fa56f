//! The change log as clients see it: opaque cursors, delta pages and long-poll wake-ups.

pub mod cursor;
pub mod pg_waker;
pub mod waker;

use std::sync::Arc;
use std::time::Duration;

use dbx_shared::api::{Change, DeltaReply};
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::metadata::Db;
pub use waker::{ChangeWaker, LocalWaker};

pub struct Delta {
    db: Db,
    waker: Arc<dyn ChangeWaker>,
    shutdown: CancellationToken,
}

impl Delta {
    pub fn new(db: Db, waker: Arc<dyn ChangeWaker>, shutdown: CancellationToken) -> Self {
        Delta {
            db,
            waker,
            shutdown,
        }
    }

    /// Decodes a client's cursor; foreign, malformed or future cursors are refused.
    async fn position(&self, user_id: &str, cursor: Option<&str>) -> AppResult<i64> {
        let Some(cursor) = cursor else { return Ok(0) };
        let seq = cursor::decode(cursor, user_id)
            .ok_or_else(|| AppError::bad_request("the cursor is not valid"))?;
        let latest = self.latest_seq(user_id).await?;
        if seq > latest {
            return Err(AppError::bad_request("the cursor is not valid"));
        }
        Ok(seq)
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
    ) -> AppResult<DeltaReply> {
        let after = self.position(user_id, cursor).await?;
        let user = user_id.to_string();
        // One more than asked tells whether there is more without a second query.
        let mut rows = self
            .db
            .run(move |r| r.changes_since(&user, after, limit + 1))
            .await?;
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        let last = rows.last().map_or(after, |c| c.seq);
        Ok(DeltaReply {
            entries: rows
                .into_iter()
                .map(|c| Change {
                    op: c.op,
                    from_path: c.from_path,
                    entry: c.entry,
                })
                .collect(),
            cursor: cursor::encode(user_id, last),
            has_more,
        })
    }

    pub async fn latest(&self, user_id: &str) -> AppResult<String> {
        Ok(cursor::encode(user_id, self.latest_seq(user_id).await?))
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
