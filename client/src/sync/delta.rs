//! Keeps the mirror of the server's tree (below the remote root) up to date from the
//! change log: every page from the stored cursor on is applied and committed together
//! with the cursor after it. The first pass has no cursor and reads the log from the
//! beginning, which builds the whole mirror with the same code.
//!
//! A cursor the server refuses (410 `cursor_reset`, or 400 from a server that does not
//! know that code) means its history is not the one the merge base was made with: the
//! base is forgotten too, and the pass merges both sides as a first sync does.

use dbx_shared::api::{Change, ChangeOp, Entry};

use super::planner::{FileMeta, Node};
use super::state::{Batch, State};
use super::{http, remote_moves};
use crate::api::Api;

/// The state key of the delta cursor.
pub const CURSOR: &str = "cursor";

/// What a pull did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pulled {
    pub changes: usize,
    /// The server's history changed: everything known about it was forgotten.
    pub reset: bool,
}

/// Pulls every change since the stored cursor.
pub async fn pull(api: &Api, state: &mut State, root: &str) -> anyhow::Result<Pulled> {
    let mut out = Pulled::default();
    loop {
        let cursor = state.get(CURSOR)?;
        let page = match http::delta(api, cursor.as_deref()).await {
            Ok(p) => p,
            Err(e)
                if cursor.is_some()
                    && !out.reset
                    && (http::is_cursor_reset(&e)
                        || e.status() == Some(reqwest::StatusCode::BAD_REQUEST)) =>
            {
                eprintln!(
                    "warning: the server's history is not the one this folder last synced with \
                     ({e}); merging both sides as on a first sync: nothing is deleted, and files \
                     that differ are kept as conflicted copies"
                );
                state.forget_server()?;
                out.reset = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        out.changes += page.entries.len();
        let listed = remote_moves::list_moved_in(api, root, &page.entries).await?;
        let batch = state.batch()?;
        for (i, change) in page.entries.iter().enumerate() {
            match change.op {
                ChangeOp::Move => remote_moves::apply(&batch, root, change, listed.get(&i))?,
                _ => apply(&batch, root, change)?,
            }
        }
        batch.set(CURSOR, &page.cursor)?;
        batch.commit()?;
        if !page.has_more || cursor.as_deref() == Some(page.cursor.as_str()) {
            return Ok(out);
        }
    }
}

/// `path` relative to `root`: `Some("")` for the root itself, `None` outside it.
pub fn relative<'a>(root: &str, path: &'a str) -> Option<&'a str> {
    if root == "/" {
        return Some(path.trim_start_matches('/'));
    }
    if path == root {
        return Some("");
    }
    path.strip_prefix(root)?.strip_prefix('/')
}

/// A server path as a mirror path: relative to `root`, `None` outside it or when it is
/// not a plain path (paths become local paths: never trust one that could leave the
/// folder).
pub fn local_rel<'a>(root: &str, path: &'a str) -> Option<&'a str> {
    let rel = relative(root, path)?;
    if !rel.is_empty() && !rel.split('/').all(is_plain_name) {
        eprintln!("warning: ignoring a server entry with a bad path: {path:?}");
        return None;
    }
    Some(rel)
}

fn apply(batch: &Batch<'_>, root: &str, change: &Change) -> anyhow::Result<()> {
    let Some(rel) = local_rel(root, change.entry.path()) else {
        return Ok(());
    };
    match (change.op, &change.entry) {
        (ChangeOp::Delete, Entry::Folder(_)) => batch.remove_tree(rel),
        (ChangeOp::Delete, Entry::File(f)) if !rel.is_empty() => batch.remove_file(rel, &f.id),
        (_, _) if rel.is_empty() => Ok(()),
        (_, Entry::Folder(f)) => batch.put(rel, &Node::folder(Some(f.id.clone()))),
        (_, Entry::File(f)) => batch.put(rel, &Node::File(remote_meta(f))),
    }
}

/// A name as the API's rules allow it (so no `..`, no `/`, nothing empty).
fn is_plain_name(name: &str) -> bool {
    dbx_shared::names::normalize_name(name).is_ok_and(|n| n == name)
}

/// A server file as the planner sees it.
pub fn remote_meta(f: &dbx_shared::api::FileEntry) -> FileMeta {
    FileMeta {
        hash: f.content_hash.to_ascii_lowercase(),
        size: f.size,
        id: Some(f.id.clone()),
        version: Some(f.version),
        mtime: None,
        ckey: None,
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn paths_relative_to_the_remote_root() {
        assert_eq!(relative("/", "/a/b"), Some("a/b"));
        assert_eq!(relative("/docs", "/docs/a"), Some("a"));
        assert_eq!(relative("/docs", "/docs"), Some(""));
        assert_eq!(relative("/docs", "/docsx/a"), None);
        assert_eq!(relative("/docs", "/other"), None);
        assert!(super::is_plain_name("a b.txt"));
        assert!(!super::is_plain_name(".."));
        assert!(!super::is_plain_name(""));
    }
}
