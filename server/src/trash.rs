//! The trash: a deleted file or folder stays restorable for the retention period. This
//! area lists the trash, restores an item (with everything deleted with it) and purges
//! items for good.

use std::sync::Arc;

use chrono::Utc;
use dbx_shared::api::{RestoreTrashRequest, TrashList};
use dbx_shared::names::normalize_name;

use crate::changes::ChangeWaker;
use crate::error::{AppError, AppResult};
use crate::metadata::{from_millis, to_millis, Db, EntryRow, RestoreTo, TrashPosition, TrashRow};
use crate::paging;

pub struct Trash {
    db: Db,
    waker: Arc<dyn ChangeWaker>,
    quota_bytes: Option<u64>,
}

fn encode_token(p: &TrashPosition) -> String {
    paging::encode(&to_millis(p.deleted_at).to_string(), &p.id)
}

fn decode_token(token: &str) -> AppResult<TrashPosition> {
    let (at, id) = paging::decode(token)?;
    let at = at
        .parse()
        .map_err(|_| AppError::bad_request("the 'after' token is not valid"))?;
    Ok(TrashPosition {
        deleted_at: from_millis(at),
        id,
    })
}

impl Trash {
    pub fn new(db: Db, waker: Arc<dyn ChangeWaker>, quota_bytes: Option<u64>) -> Self {
        Trash {
            db,
            waker,
            quota_bytes,
        }
    }

    /// One page of the user's trash, newest deletion first.
    pub async fn list(
        &self,
        user: &str,
        after: Option<&str>,
        limit: usize,
    ) -> AppResult<TrashList> {
        let after = after.map(decode_token).transpose()?;
        let u = user.to_string();
        let rows = self
            .db
            .run(move |r| r.list_trash(&u, after.as_ref(), limit + 1))
            .await?;
        let (rows, next) = paging::page(rows, limit, |t| encode_token(&t.position()));
        Ok(TrashList {
            entries: rows.iter().map(TrashRow::to_api).collect(),
            next,
        })
    }

    /// Brings an item back, by default at its old path; returns the restored entry.
    pub async fn restore(
        &self,
        user: &str,
        item_id: &str,
        req: RestoreTrashRequest,
    ) -> AppResult<EntryRow> {
        let to = RestoreTo {
            // `root`, as in the folder routes, names the root too.
            parent: req.parent_id.map(|p| p.filter(|id| id != "root")),
            name: req.name.as_deref().map(normalize_name).transpose()?,
        };
        let (u, i, quota) = (user.to_string(), item_id.to_string(), self.quota_bytes);
        let entry = self
            .db
            .run(move |r| r.restore_trash(&u, &i, &to, quota, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok(entry)
    }

    /// Purges one item (`Some`) or the whole trash (`None`) for good.
    pub async fn purge(&self, user: &str, item_id: Option<String>) -> AppResult<()> {
        let u = user.to_string();
        self.db
            .run(move |r| r.purge_trash(&u, item_id.as_deref()))
            .await?;
        Ok(())
    }
}
