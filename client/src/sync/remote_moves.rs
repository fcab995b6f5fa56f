//! Server moves in the mirror: the entry (a folder with its whole subtree) leaves its old
//! path and appears at its new one with the same ids, so the planner sees the base's ids
//! at new paths and renames the local entries (see `moves`): nothing is downloaded again.
//! A folder moved in from outside the synced folder is listed, its content is new here;
//! one moved out is gone.

use std::collections::HashMap;

use dbx_shared::api::{Change, ChangeOp, Entry};

use super::delta::{local_rel, remote_meta};
use super::planner::Node;
use super::state::Batch;
use crate::api::Api;
use crate::remote::{self, RemoteTree};

/// Applies a `move` change: the entry leaves `from_path` for its new path, a folder
/// carrying what the mirror has below it.
pub fn apply(
    batch: &Batch<'_>,
    root: &str,
    change: &Change,
    listed: Option<&RemoteTree>,
) -> anyhow::Result<()> {
    let from = change.from_path.as_deref().and_then(|p| local_rel(root, p));
    let to = local_rel(root, change.entry.path());
    match &change.entry {
        Entry::Folder(f) => {
            match (from, to) {
                (Some(from), Some(to)) if !from.is_empty() && !to.is_empty() => {
                    batch.move_tree(from, to)?
                }
                (Some(from), _) => batch.remove_tree(from)?,
                _ => {}
            }
            let Some(to) = to.filter(|t| !t.is_empty()) else {
                return Ok(());
            };
            batch.put(to, &Node::folder(Some(f.id.clone())))?;
            if let Some(tree) = listed {
                put_tree(batch, to, tree)?;
            }
        }
        Entry::File(f) => {
            if let Some(from) = from.filter(|p| !p.is_empty()) {
                batch.remove_file(from, &f.id)?;
            }
            if let Some(to) = to.filter(|p| !p.is_empty()) {
                batch.put(to, &Node::File(remote_meta(f)))?;
            }
        }
    }
    Ok(())
}

/// Folders a page moves into the synced tree from outside it: the log holds their
/// content's history outside the remote root, so what they hold now is listed (keyed by
/// the change's place in the page). Later changes apply on top, as for any entry.
pub async fn list_moved_in(
    api: &Api,
    root: &str,
    changes: &[Change],
) -> anyhow::Result<HashMap<usize, RemoteTree>> {
    let mut listed = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        let Entry::Folder(f) = &change.entry else {
            continue;
        };
        let outside = |p: &str| local_rel(root, p).is_none();
        if change.op != ChangeOp::Move
            || !change.from_path.as_deref().is_some_and(outside)
            || outside(&f.path)
        {
            continue;
        }
        match remote::walk(api, Some(&f.id)).await {
            Ok(tree) => {
                listed.insert(i, tree);
            }
            // Deleted since: a later change says so.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(listed)
}

fn put_tree(batch: &Batch<'_>, at: &str, tree: &RemoteTree) -> anyhow::Result<()> {
    let path = |rel: &[String]| format!("{at}/{}", rel.join("/"));
    for (rel, f) in &tree.folders {
        if names_ok(rel) {
            batch.put(&path(rel), &Node::folder(Some(f.id.clone())))?;
        }
    }
    for (rel, f) in &tree.files {
        if names_ok(rel) {
            batch.put(&path(rel), &Node::File(remote_meta(f)))?;
        }
    }
    Ok(())
}

/// Listed names become local paths: the same check as the log's paths.
fn names_ok(rel: &[String]) -> bool {
    local_rel("/", &format!("/{}", rel.join("/"))).is_some()
}
