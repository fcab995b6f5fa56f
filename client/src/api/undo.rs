//! Calls of the undo features: version history, the trash, and restoring either.

use dbx_shared::api::{
    Entry, FileEntry, RestoreTrashRequest, RestoreVersionRequest, TrashItem, TrashList, VersionList,
};

use super::{Api, ApiResult};

/// Page size of trash listings.
const TRASH_PAGE: &str = "1000";

impl Api {
    /// A file's versions, newest first.
    pub async fn versions(&self, file_id: &str) -> ApiResult<VersionList> {
        self.get_json(&format!("/files/{file_id}/versions"), &[])
            .await
    }

    /// Makes `version` the current content again; returns the file's new state.
    pub async fn restore_version(&self, file_id: &str, version: i64) -> ApiResult<FileEntry> {
        let body = RestoreVersionRequest { version };
        self.post_json(&format!("/files/{file_id}/restore"), &body)
            .await
    }

    /// Every trash item, newest deletion first, following pagination.
    pub async fn trash(&self) -> ApiResult<Vec<TrashItem>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit", TRASH_PAGE)];
            if let Some(a) = &after {
                q.push(("after", a.as_str()));
            }
            let page: TrashList = self.get_json("/trash", &q).await?;
            out.extend(page.entries);
            match page.next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    pub async fn restore_trash(&self, id: &str, req: &RestoreTrashRequest) -> ApiResult<Entry> {
        self.post_json(&format!("/trash/{id}/restore"), req).await
    }

    /// Purges one trash item (`Some`) or the whole trash (`None`) for good.
    pub async fn purge_trash(&self, id: Option<&str>) -> ApiResult<()> {
        let url = match id {
            Some(id) => self.url(&format!("/trash/{id}")),
            None => self.url("/trash"),
        };
        self.send(|| Ok(self.http.delete(&url))).await?;
        Ok(())
    }
}
