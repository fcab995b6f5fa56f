//! Moves and renames: the request's checks here, then one repository call that moves the
//! entry and everything below it in one transaction. No HTTP in sight, so that every
//! front end (the JSON API, WebDAV's MOVE) moves the same way.

use chrono::Utc;
use dbx_shared::api::MoveRequest;
use dbx_shared::names::normalize_name;

use super::Files;
use crate::error::AppResult;
use crate::metadata::{EntryRow, MoveTo, VersionTag};

impl Files {
    /// Moves the entry `id` into the folder `req.parent_id` (`null` or `"root"`: the
    /// root; absent: where it is) under the name `req.name` (absent: its own). With
    /// `if_match`, a file moves only at that version (a folder never matches one).
    /// Returns the entry at its new place; the same place is a no-op.
    pub async fn move_entry(
        &self,
        user: &str,
        id: &str,
        req: MoveRequest,
        if_match: Option<VersionTag>,
    ) -> AppResult<EntryRow> {
        let to = MoveTo {
            parent_id: req.parent_id.map(|p| p.filter(|p| p != "root")),
            name: req.name.as_deref().map(normalize_name).transpose()?,
            if_match,
        };
        let (u, i) = (user.to_string(), id.to_string());
        let moved = self
            .db
            .run(move |r| r.move_entry(&u, &i, &to, Utc::now()))
            .await?;
        self.waker.notify(user);
        Ok(moved)
    }
}
