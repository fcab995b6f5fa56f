//! DESIGN.md's invariants 2 and 3 as checks on one account, for the crash loop and the
//! failpoint walk: the live tree as the API lists it, every listed file's content read back
//! against its hash, and the change log (read through the repository) gap-free and, when
//! replayed, equal to the live tree.

use std::collections::{BTreeMap, BTreeSet};

use dbx_server::metadata::Repository;
use dbx_shared::api::{ChangeOp, Entry};
use dbx_shared::names::name_key;
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// What the API shows of one live entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub folder: bool,
    /// 0 for a folder.
    pub version: i64,
    /// Empty for a folder.
    pub hash: String,
}

impl Seen {
    fn of(e: &Entry) -> Seen {
        match e {
            Entry::Folder(f) => Seen {
                path: f.path.clone(),
                folder: true,
                version: 0,
                hash: String::new(),
            },
            Entry::File(f) => Seen {
                path: f.path.clone(),
                folder: false,
                version: f.version,
                hash: f.content_hash.clone(),
            },
        }
    }
}

/// Live entries by id.
pub type Tree = BTreeMap<String, Seen>;

/// A user of a server, as the checks need it: a base URL and a bearer token.
pub struct Account<'a> {
    pub client: &'a Client,
    pub base: &'a str,
    pub token: &'a str,
}

impl Account<'_> {
    async fn get(&self, path: &str) -> Result<(StatusCode, bytes::Bytes), String> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token)
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| format!("GET {path}: {e}"))?;
        Ok((status, body))
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.get(path).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "GET {path}: {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))
    }

    /// Every live entry of a folder (`root` or an id), all pages.
    pub async fn children(&self, folder: &str) -> Result<Vec<Entry>, String> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/folders/{folder}/children?limit=1000");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = self.get_json(&path).await?;
            let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone())
                .map_err(|e| format!("{path}: {e}"))?;
            out.extend(entries);
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// The whole live tree, walked from the root.
    pub async fn live_tree(&self) -> Result<Tree, String> {
        let mut tree = Tree::new();
        let mut folders = vec!["root".to_string()];
        while let Some(folder) = folders.pop() {
            for e in self.children(&folder).await? {
                if e.is_folder() {
                    folders.push(e.id().to_string());
                }
                tree.insert(e.id().to_string(), Seen::of(&e));
            }
        }
        Ok(tree)
    }

    /// The content of a file reads back whole and matches `hash`.
    pub async fn check_content(&self, id: &str, hash: &str) -> Result<(), String> {
        let (status, body) = self.get(&format!("/api/v1/files/{id}/content")).await?;
        if status != StatusCode::OK {
            return Err(format!(
                "file {id}: content answers {status} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let got = dbx_shared::content_hash::content_hash(&body);
        if got != hash {
            return Err(format!(
                "file {id}: content hashes to {got}, listed as {hash}"
            ));
        }
        Ok(())
    }

    /// Every file of `tree` reads back exactly.
    pub async fn check_contents(&self, tree: &Tree) -> Result<(), String> {
        for (id, seen) in tree.iter().filter(|(_, s)| !s.folder) {
            self.check_content(id, &seen.hash)
                .await
                .map_err(|e| format!("{}: {e}", seen.path))?;
        }
        Ok(())
    }

    /// The ids and paths of the trash items.
    pub async fn trash(&self) -> Result<BTreeMap<String, String>, String> {
        let list = self.get_json("/api/v1/trash?limit=10000").await?;
        Ok(list["entries"]
            .as_array()
            .ok_or("trash: no entries")?
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap_or_default().to_string(),
                    e["path"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    /// A live file's versions, version → content hash.
    pub async fn versions(&self, id: &str) -> Result<BTreeMap<i64, String>, String> {
        let list = self
            .get_json(&format!("/api/v1/files/{id}/versions"))
            .await?;
        Ok(list["versions"]
            .as_array()
            .ok_or("versions: no list")?
            .iter()
            .map(|v| {
                (
                    v["version"].as_i64().unwrap_or_default(),
                    v["content_hash"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    /// What a failed write must leave as it was: the live tree, the trash and every live
    /// file's versions.
    pub async fn state(&self) -> Result<AccountState, String> {
        let live = self.live_tree().await?;
        let trash = self.trash().await?.into_keys().collect();
        let mut versions = BTreeMap::new();
        for id in live.iter().filter(|(_, s)| !s.folder).map(|(id, _)| id) {
            versions.insert(id.clone(), self.versions(id).await?);
        }
        Ok(AccountState {
            live,
            trash,
            versions,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub live: Tree,
    pub trash: BTreeSet<String>,
    pub versions: BTreeMap<String, BTreeMap<i64, String>>,
}

/// Invariant 3 on the repository: the user's log positions run 1, 2, ... up to the
/// latest with no gap, and replaying the log gives exactly `live` (every committed change
/// has its row, and no row is without its change).
pub fn check_change_log(repo: &dyn Repository, user_id: &str, live: &Tree) -> Result<(), String> {
    let latest = repo
        .latest_change(user_id)
        .map_err(|e| format!("latest change: {e}"))?;
    let mut replay = Tree::new();
    let mut next = 1;
    loop {
        let rows = repo
            .changes_since(user_id, next - 1, 1000)
            .map_err(|e| format!("changes: {e}"))?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            if row.seq != next {
                return Err(format!(
                    "change log: position {} follows {}",
                    row.seq,
                    next - 1
                ));
            }
            next += 1;
            let entry = row
                .entry
                .parse()
                .map_err(|e| format!("change log: position {}: {e}", row.seq))?;
            apply(&mut replay, row.op, row.from_path.as_deref(), &entry);
        }
    }
    if next - 1 != latest {
        return Err(format!(
            "change log: rows end at {} but the latest position is {latest}",
            next - 1
        ));
    }
    if &replay != live {
        return Err(format!(
            "change log replayed differs from the live tree:\n{}",
            diff(&replay, live)
        ));
    }
    Ok(())
}

fn under(path: &str, folder: &str) -> bool {
    name_key(path).starts_with(&format!("{}/", name_key(folder)))
}

fn apply(tree: &mut Tree, op: ChangeOp, from_path: Option<&str>, entry: &Entry) {
    let seen = Seen::of(entry);
    match op {
        ChangeOp::Create | ChangeOp::Update => {}
        ChangeOp::Delete => {
            tree.remove(entry.id());
            if seen.folder {
                tree.retain(|_, s| !under(&s.path, &seen.path));
            }
            return;
        }
        ChangeOp::Move => {
            if let (true, Some(from)) = (seen.folder, from_path) {
                for s in tree.values_mut().filter(|s| under(&s.path, from)) {
                    s.path = format!("{}{}", seen.path, &s.path[from.len()..]);
                }
            }
        }
    }
    tree.insert(entry.id().to_string(), seen);
}

/// The entries on which two trees differ, one line each.
pub fn diff(expected: &Tree, got: &Tree) -> String {
    let mut out = String::new();
    for (id, e) in expected {
        match got.get(id) {
            None => out.push_str(&format!("  only in the first: {id} {e:?}\n")),
            Some(g) if g != e => out.push_str(&format!("  {id}: {e:?} then {g:?}\n")),
            _ => {}
        }
    }
    for (id, g) in got {
        if !expected.contains_key(id) {
            out.push_str(&format!("  only in the second: {id} {g:?}\n"));
        }
    }
    out
}
