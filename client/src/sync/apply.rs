//! Applies one planned op to the local folder or the server, checking first that the side
//! it touches still looks as the plan saw it (otherwise the op is skipped and the next
//! pass plans again), and records the new base right after. Downloads go to a temporary
//! file in `.dbx/tmp`, are checked against the content hash, and are renamed into place
//! only if the local file still matches what the plan saw. Uploads carry `If-Match` with
//! the base version; a 412 means the server moved on, and is handled as a conflict.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dbx_shared::api::{Entry, FileEntry};

use super::delta::remote_meta;
use super::http;
use super::planner::{conflict_name, FileMeta, Node, Op};
use super::scan::mtime_of;
use super::state::{State, Table};
use crate::api::Api;
use crate::remote::{ensure_folder, RemotePath};

/// What became of an op.
#[derive(Debug)]
pub enum Outcome {
    /// Done; the line to log (none for bookkeeping).
    Applied(Option<String>),
    /// Left for the next pass, and why.
    Skipped(String),
}

use Outcome::{Applied, Skipped};

/// Everything an op needs.
pub struct Applier<'a> {
    pub api: &'a Api,
    pub state: &'a State,
    pub root: &'a Path,
    pub remote_root: &'a RemotePath,
    pub device: &'a str,
}

fn done(line: String) -> anyhow::Result<Outcome> {
    Ok(Applied(Some(line)))
}

fn skip(why: impl Into<String>) -> anyhow::Result<Outcome> {
    Ok(Skipped(why.into()))
}

impl Applier<'_> {
    fn local(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn remote(&self, rel: &str) -> RemotePath {
        let names: Vec<String> = rel.split('/').map(str::to_string).collect();
        self.remote_root.join_all(&names)
    }

    /// Whether the local file at `rel` still has the size and time the scan saw.
    fn local_is(&self, rel: &str, want: Option<&FileMeta>) -> bool {
        let meta = self.local(rel).symlink_metadata();
        match (meta, want) {
            (Err(e), None) => e.kind() == std::io::ErrorKind::NotFound,
            (Ok(m), Some(w)) => m.is_file() && m.len() == w.size && Some(mtime_of(&m)) == w.mtime,
            _ => false,
        }
    }

    pub async fn apply(&self, op: &Op) -> anyhow::Result<Outcome> {
        match op {
            Op::Upload {
                path,
                local,
                replaces,
            } => self.upload(path, local, replaces.as_ref()).await,
            Op::Download {
                path,
                remote,
                expect_local,
            } => {
                if self.download(path, remote, expect_local.as_ref()).await? {
                    done(format!("downloaded {path}"))
                } else {
                    skip("changed since the scan")
                }
            }
            Op::DeleteLocal { path, local } => self.delete_local(path, local),
            Op::DeleteRemote { path, remote } => self.delete_remote(path, remote).await,
            Op::DeleteLocalFolder { path } => match std::fs::remove_dir(self.local(path)) {
                Ok(()) => {
                    self.state.delete(Table::Base, path)?;
                    done(format!("deleted folder {path} here"))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.state.delete(Table::Base, path)?;
                    Ok(Applied(None))
                }
                Err(_) => skip("the folder is not empty"),
            },
            Op::DeleteRemoteFolder { path, id } => {
                self.delete_remote_folder(path, id.as_deref()).await
            }
            Op::MkdirLocal { path } => {
                let p = self.local(path);
                if p.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                    return skip("a file is in the way");
                }
                std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
                self.state
                    .put(Table::Base, path, &Node::Folder { id: None })?;
                done(format!("created folder {path} here"))
            }
            Op::MkdirRemote { path } => {
                let id = ensure_folder(self.api, &self.remote(path)).await?;
                self.state.put(Table::Base, path, &Node::Folder { id })?;
                done(format!("created folder {path} on the server"))
            }
            Op::Conflict {
                path,
                local,
                remote,
            } => {
                if !self.local_is(path, Some(local)) {
                    return skip("changed since the scan");
                }
                let copy = self.move_aside(path, local).await?;
                self.download(path, remote, None).await?;
                done(format!(
                    "conflict: {path} changed on both sides; kept this device's version as {copy}"
                ))
            }
            Op::LocalFileAside { path, local } => {
                if !self.local_is(path, Some(local)) {
                    return skip("changed since the scan");
                }
                let copy = self.move_aside(path, local).await?;
                done(format!(
                    "conflict: a folder replaced {path}; kept the file as {copy}"
                ))
            }
            Op::RemoteFileAside { path, remote } => self.remote_file_aside(path, remote).await,
            Op::RecordBase { path, node } => {
                self.state.put(Table::Base, path, node)?;
                Ok(Applied(None))
            }
            Op::ForgetBase { path } => {
                self.state.delete(Table::Base, path)?;
                Ok(Applied(None))
            }
        }
    }

    async fn upload(
        &self,
        rel: &str,
        local: &FileMeta,
        replaces: Option<&FileMeta>,
    ) -> anyhow::Result<Outcome> {
        if !self.local_is(rel, Some(local)) {
            return skip("changed since the scan");
        }
        let path = self.remote(rel).to_string();
        // Check that the file we replace is still the one the plan saw: If-Match compares
        // version numbers only, and a file deleted and made again starts at 1 again.
        let current = match replaces.and_then(|r| r.id.as_deref()) {
            Some(id) => http::file(self.api, id).await?,
            None => None,
        };
        let current = match current {
            Some(f) => Some(Entry::File(f)),
            None => self.api.entry_at(&path).await?,
        };
        let if_match = match current {
            None => None,
            Some(Entry::Folder(_)) => return skip("a folder is in the way on the server"),
            Some(Entry::File(f)) if f.content_hash.eq_ignore_ascii_case(&local.hash) => {
                self.record_file(rel, &f, local.mtime)?;
                return Ok(Applied(None));
            }
            Some(Entry::File(f))
                if replaces.is_some_and(|r| {
                    r.id.as_ref() == Some(&f.id) && r.version == Some(f.version)
                }) =>
            {
                Some(f.version)
            }
            Some(Entry::File(f)) => return self.lost_race(rel, local, &f).await,
        };
        let file = self.local(rel);
        match http::upload(self.api, &path, &file, local.size, &local.hash, if_match).await {
            Ok((entry, created)) => {
                self.record_file(rel, &entry, local.mtime)?;
                if if_match.is_none() && !created {
                    eprintln!("warning: {rel} was created on the server by someone else at the same moment; their version was replaced");
                }
                done(format!("uploaded {rel}"))
            }
            Err(e) if http::is_precondition_failed(&e) => match self.api.entry_at(&path).await? {
                Some(Entry::File(f)) => self.lost_race(rel, local, &f).await,
                _ => skip("deleted on the server meanwhile"),
            },
            Err(e) if http::is_checksum_mismatch(&e) => skip("changed while it was uploaded"),
            Err(e) => Err(e).with_context(|| format!("uploading {rel}")),
        }
    }

    /// The server's file changed after the plan: keep ours as a conflicted copy and
    /// take theirs.
    async fn lost_race(
        &self,
        rel: &str,
        local: &FileMeta,
        theirs: &FileEntry,
    ) -> anyhow::Result<Outcome> {
        let copy = self.move_aside(rel, local).await?;
        self.download(rel, &remote_meta(theirs), None).await?;
        done(format!(
            "conflict: {rel} changed on the server meanwhile; kept this device's version as {copy}"
        ))
    }

    fn record_file(&self, rel: &str, f: &FileEntry, mtime: Option<i64>) -> anyhow::Result<()> {
        let node = Node::File(FileMeta {
            mtime,
            ..remote_meta(f)
        });
        self.state.put(Table::Base, rel, &node)
    }

    /// A free conflicted-copy name for `rel`.
    fn copy_name(&self, rel: &str) -> String {
        let stamp = chrono::Local::now().format("%Y-%m-%d %H%M%S").to_string();
        let mut n = 1;
        loop {
            let s = if n == 1 {
                stamp.clone()
            } else {
                format!("{stamp} {n}")
            };
            let name = conflict_name(rel, self.device, &s);
            if self.local(&name).symlink_metadata().is_err() {
                return name;
            }
            n += 1;
        }
    }

    /// Renames the local file to a conflicted copy and uploads that as a new file.
    async fn move_aside(&self, rel: &str, local: &FileMeta) -> anyhow::Result<String> {
        let copy = self.copy_name(rel);
        let (from, to) = (self.local(rel), self.local(&copy));
        std::fs::rename(&from, &to)
            .with_context(|| format!("renaming {} to {}", from.display(), to.display()))?;
        self.state.add_conflict(&copy, rel)?;
        // If the upload fails, the copy is a new local file for the next pass.
        let path = self.remote(&copy).to_string();
        if let Ok((entry, _)) =
            http::upload(self.api, &path, &to, local.size, &local.hash, None).await
        {
            let mtime = to.symlink_metadata().ok().map(|m| mtime_of(&m));
            self.record_file(&copy, &entry, mtime)?;
        }
        Ok(copy)
    }

    /// Downloads into a temporary file, then renames it to `rel` if the local file still
    /// is `expect`. False if anything moved on since the plan.
    async fn download(
        &self,
        rel: &str,
        remote: &FileMeta,
        expect: Option<&FileMeta>,
    ) -> anyhow::Result<bool> {
        let Some(id) = remote.id.as_deref() else {
            return Ok(false);
        };
        let tmp_dir = self.state.dir().join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let (tmp, hash) = match http::download_temp(self.api, id, &tmp_dir).await {
            Ok(x) => x,
            Err(e)
                if e.downcast_ref::<crate::api::ClientError>()
                    .is_some_and(|c| c.is_not_found()) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e).with_context(|| format!("downloading {rel}")),
        };
        // A newer version than the plan's was served: the next pass has its metadata.
        if !hash.eq_ignore_ascii_case(&remote.hash) {
            return Ok(false);
        }
        let dest = self.local(rel);
        if let Some(parent) = dest.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                return Ok(false);
            }
        }
        if !self.local_is(rel, expect) {
            return Ok(false);
        }
        set_mode(&tmp, &dest);
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming into {}", dest.display()))?;
        let mtime = dest.symlink_metadata().ok().map(|m| mtime_of(&m));
        let node = Node::File(FileMeta {
            mtime,
            ..remote.clone()
        });
        self.state.put(Table::Base, rel, &node)?;
        Ok(true)
    }

    fn delete_local(&self, rel: &str, local: &FileMeta) -> anyhow::Result<Outcome> {
        if self.local_is(rel, None) {
            self.state.delete(Table::Base, rel)?;
            return Ok(Applied(None));
        }
        if !self.local_is(rel, Some(local)) {
            return skip("changed since the scan");
        }
        let p = self.local(rel);
        std::fs::remove_file(&p).with_context(|| format!("deleting {}", p.display()))?;
        self.state.delete(Table::Base, rel)?;
        done(format!("deleted {rel} here"))
    }

    async fn delete_remote(&self, rel: &str, remote: &FileMeta) -> anyhow::Result<Outcome> {
        let Some(id) = remote.id.as_deref() else {
            return skip("no server id");
        };
        match http::file(self.api, id).await? {
            None => {
                self.state.delete(Table::Base, rel)?;
                Ok(Applied(None))
            }
            Some(f) if Some(f.version) == remote.version => {
                http::delete(self.api, id, false).await?;
                self.state.delete(Table::Base, rel)?;
                done(format!("deleted {rel} on the server"))
            }
            Some(_) => skip("changed on the server meanwhile"),
        }
    }

    async fn delete_remote_folder(&self, rel: &str, id: Option<&str>) -> anyhow::Result<Outcome> {
        let id = match id {
            Some(id) => id.to_string(),
            None => match self.api.entry_at(&self.remote(rel).to_string()).await? {
                Some(Entry::Folder(f)) => f.id,
                _ => {
                    self.state.delete(Table::Base, rel)?;
                    return Ok(Applied(None));
                }
            },
        };
        match self.api.list(Some(&id)).await {
            Ok(children) if !children.is_empty() => {
                return skip("the folder is not empty on the server")
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                self.state.delete(Table::Base, rel)?;
                return Ok(Applied(None));
            }
            Err(e) => return Err(e.into()),
        }
        http::delete(self.api, &id, true).await?;
        self.state.delete(Table::Base, rel)?;
        done(format!("deleted folder {rel} on the server"))
    }

    /// The server's file must make way for a local folder: fetch it to a conflicted
    /// copy (uploaded by the next pass), then remove it from the server.
    async fn remote_file_aside(&self, rel: &str, remote: &FileMeta) -> anyhow::Result<Outcome> {
        let copy = self.copy_name(rel);
        if !self.download(&copy, remote, None).await? {
            return skip("changed on the server meanwhile");
        }
        // The copy is not on the server yet: the next pass uploads it.
        self.state.delete(Table::Base, &copy)?;
        self.state.add_conflict(&copy, rel)?;
        self.delete_remote(rel, remote).await?;
        done(format!(
            "conflict: a folder replaced {rel}; kept the server's file as {copy}"
        ))
    }
}

/// Gives the downloaded file the mode of the file it replaces, or 0644.
fn set_mode(tmp: &tempfile::NamedTempFile, dest: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o644);
    let _ = tmp
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode));
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
