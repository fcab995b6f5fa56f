//! WebDAV dead properties: what clients store on a file or folder with PROPPATCH (Finder
//! tags, Windows attributes, anything a client invents), kept per entry in the metadata
//! store so they survive restarts and are the same on every server process.

use crate::error::{AppError, AppResult};
use crate::metadata::{DavPropRow, Db, ROOT_PROPS_ID};

/// Largest value of one property, in bytes of XML.
pub const MAX_PROP_BYTES: usize = 64 * 1024;

pub struct Properties {
    db: Db,
}

/// The id properties are kept under: the entry's, or `ROOT_PROPS_ID` for the root.
fn key(entry_id: Option<&str>) -> String {
    entry_id.unwrap_or(ROOT_PROPS_ID).to_string()
}

impl Properties {
    pub fn new(db: Db) -> Self {
        Properties { db }
    }

    /// Every property of an entry (`None`: the root).
    pub async fn get(&self, user: &str, entry_id: Option<&str>) -> AppResult<Vec<DavPropRow>> {
        let (u, e) = (user.to_string(), key(entry_id));
        Ok(self.db.run(move |r| r.dav_props(&u, &e)).await?)
    }

    /// Sets and removes properties (`(namespace, name)`) in one go.
    pub async fn patch(
        &self,
        user: &str,
        entry_id: Option<&str>,
        set: Vec<DavPropRow>,
        remove: Vec<(String, String)>,
    ) -> AppResult<()> {
        if set.iter().any(|p| p.xml.len() > MAX_PROP_BYTES) {
            return Err(AppError::PayloadTooLarge(MAX_PROP_BYTES as u64));
        }
        let (u, e) = (user.to_string(), key(entry_id));
        Ok(self
            .db
            .run(move |r| r.patch_dav_props(&u, &e, &set, &remove))
            .await?)
    }

    /// Gives `to` the properties of `from` (after a copy or a move made a new entry).
    pub async fn copy(&self, user: &str, from: &str, to: &str) -> AppResult<()> {
        let props = self.get(user, Some(from)).await?;
        if props.is_empty() {
            return Ok(());
        }
        self.patch(user, Some(to), props, Vec::new()).await
    }
}
