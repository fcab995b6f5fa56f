//! Applies one planned op to the local folder or the server, checking first that the side
//! it touches still looks as the plan saw it (otherwise the op is skipped and the next
//! pass plans again), and records the new base right after.
//!
//! - Server writes carry preconditions: a new file or conflicted copy `If-None-Match: *`
//!   (a 412 means another device made that path first: ours becomes a conflicted copy),
//!   a replacement or a file delete `If-Match: "<id>:<version>"`, a folder delete
//!   `?recursive=false` after its known children, so a file added elsewhere meanwhile
//!   survives.
//! - Downloads go to `.dbx/tmp`, are checked against the content hash, fsynced with their
//!   folder before the base records them, and move into place only if the local file
//!   still is what the plan saw, never through a symbolic link.
//! - A local file deleted or replaced goes to the local trash (`.dbx/trash`) first.
//! - Content leaves a side only once it is safe on the other: the server's file that makes
//!   way for a folder is deleted only after its conflicted copy is uploaded.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dbx_shared::api::{Entry, FileEntry};

use super::delta::remote_meta;
use super::http::{self, Deleted, Moved, Precondition};
use super::planner::{conflict_name, FileMeta, Node, Op};
use super::scan::{change_key, identity, mtime_of, Ignore};
use super::state::{State, Table};
use super::trash;
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

/// What became of an upload of a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Yes,
    /// The name is taken on the server.
    Taken,
    Failed,
}

/// How many other names a conflicted copy tries when the server already has its name.
const COPY_NAME_TRIES: usize = 5;

impl Applier<'_> {
    fn local(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn remote(&self, rel: &str) -> RemotePath {
        let names: Vec<String> = rel.split('/').map(str::to_string).collect();
        self.remote_root.join_all(&names)
    }

    /// Whether the local file at `rel` still has the size, times and inode the scan saw
    /// (`want` none: nothing is there).
    fn local_is(&self, rel: &str, want: Option<&FileMeta>) -> bool {
        let meta = self.local(rel).symlink_metadata();
        match (meta, want) {
            (Err(e), None) => e.kind() == std::io::ErrorKind::NotFound,
            (Ok(m), Some(w)) => {
                m.is_file()
                    && m.len() == w.size
                    && Some(mtime_of(&m)) == w.mtime
                    && w.ckey.as_ref().is_none_or(|k| *k == change_key(&m))
            }
            _ => false,
        }
    }

    /// Makes sure every folder from the root down to `rel` (included) is a real folder,
    /// creating missing ones; false when one is a symbolic link or a file, so that nothing
    /// is ever written or deleted through a link.
    fn real_dirs(&self, rel: &str) -> anyhow::Result<bool> {
        let mut p = self.root.to_path_buf();
        for name in rel.split('/').filter(|n| !n.is_empty()) {
            p.push(name);
            match p.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            if !p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                                return Ok(false);
                            }
                        }
                        Err(e) => {
                            return Err(e).with_context(|| format!("creating {}", p.display()))
                        }
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
            }
        }
        Ok(true)
    }

    /// The base node of the local folder `rel` with the server id `id`.
    fn folder_node(&self, rel: &str, id: Option<String>) -> Node {
        let ino = self
            .local(rel)
            .symlink_metadata()
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| identity(&m));
        Node::Folder { id, ino }
    }

    /// `real_dirs` for the folder holding `rel`.
    fn real_parent(&self, rel: &str) -> anyhow::Result<bool> {
        self.real_dirs(rel.rsplit_once('/').map_or("", |(d, _)| d))
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
            } => match self.download(path, remote, expect_local.as_ref()).await? {
                Ok(()) => done(format!("downloaded {path}")),
                Err(why) => skip(why),
            },
            Op::DeleteLocal { path, local } => self.delete_local(path, local),
            Op::DeleteRemote { path, remote } => self.delete_remote(path, remote).await,
            Op::DeleteLocalFolder { path } => self.delete_local_folder(path),
            Op::DeleteRemoteFolder { path, id } => {
                self.delete_remote_folder(path, id.as_deref()).await
            }
            Op::MkdirLocal { path, id } => {
                if !self.real_dirs(path)? {
                    return skip("a file or symbolic link is in the way of the folder");
                }
                self.state
                    .put(Table::Base, path, &self.folder_node(path, id.clone()))?;
                done(format!("created folder {path} here"))
            }
            Op::MkdirRemote { path } => {
                let id = ensure_folder(self.api, &self.remote(path)).await?;
                self.state
                    .put(Table::Base, path, &self.folder_node(path, id))?;
                done(format!("created folder {path} on the server"))
            }
            Op::MoveLocal {
                path,
                from,
                base,
                local,
            } => self.move_local(from, path, local, base),
            Op::MoveRemote {
                path,
                from,
                base,
                id,
                version,
            } => self.move_remote(from, path, id, *version, base).await,
            Op::MoveBase { path, from } => {
                self.state.move_base(from, path)?;
                Ok(Applied(None))
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
                if let Err(why) = self.download(path, remote, None).await? {
                    return skip(format!("kept this device's version as {copy}; {why}"));
                }
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
        // Only over the server file the plan saw, or only as a new file: anything else
        // there now is another device's, and a 412 says so.
        let pre = match replaces {
            Some(FileMeta {
                id: Some(id),
                version: Some(version),
                ..
            }) => Precondition::Is {
                id: id.clone(),
                version: *version,
            },
            _ => Precondition::CreateOnly,
        };
        let file = self.local(rel);
        match http::upload(self.api, &path, &file, local.size, &local.hash, &pre).await {
            Ok((entry, _)) => {
                self.record_file(rel, &entry, local)?;
                done(format!("uploaded {rel}"))
            }
            Err(e) if http::is_precondition_failed(&e) => match self.api.entry_at(&path).await? {
                // The same content got there another way: nothing to keep aside.
                Some(Entry::File(f)) if f.content_hash.eq_ignore_ascii_case(&local.hash) => {
                    self.record_file(rel, &f, local)?;
                    Ok(Applied(None))
                }
                Some(Entry::File(f)) => self.lost_race(rel, local, &f).await,
                Some(Entry::Folder(_)) => skip("a folder is in the way on the server"),
                None => skip("changed on the server meanwhile"),
            },
            Err(e) if e.status() == Some(reqwest::StatusCode::CONFLICT) => {
                skip("a folder is in the way on the server")
            }
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
        if let Err(why) = self.download(rel, &remote_meta(theirs), None).await? {
            return skip(format!("kept this device's version as {copy}; {why}"));
        }
        done(format!(
            "conflict: {rel} changed on the server meanwhile; kept this device's version as {copy}"
        ))
    }

    /// Records the server's file as the base, with the local file's stamps.
    fn record_file(&self, rel: &str, f: &FileEntry, local: &FileMeta) -> anyhow::Result<()> {
        let node = Node::File(FileMeta {
            mtime: local.mtime,
            ckey: local.ckey.clone(),
            ..remote_meta(f)
        });
        self.state.put(Table::Base, rel, &node)
    }

    /// A conflicted-copy name for `rel` that is free here; `taken` more names are
    /// skipped (they were taken on the server).
    fn copy_name(&self, rel: &str, taken: usize) -> String {
        let stamp = chrono::Local::now().format("%Y-%m-%d %H%M%S").to_string();
        let mut n = 1;
        let mut skipped = 0;
        loop {
            let s = if n == 1 {
                stamp.clone()
            } else {
                format!("{stamp} {n}")
            };
            let name = conflict_name(rel, self.device, &s);
            if self.local(&name).symlink_metadata().is_err() {
                if skipped == taken {
                    return name;
                }
                skipped += 1;
            }
            n += 1;
        }
    }

    /// Renames the local file to a conflicted copy and uploads that as a new file,
    /// trying another name while the server already has one.
    async fn move_aside(&self, rel: &str, local: &FileMeta) -> anyhow::Result<String> {
        let mut copy = self.copy_name(rel, 0);
        let from = self.local(rel);
        std::fs::rename(&from, self.local(&copy))
            .with_context(|| format!("renaming {} to {copy}", from.display()))?;
        self.state.add_conflict(&copy, rel)?;
        for tries in 1..=COPY_NAME_TRIES {
            if self.upload_new(&copy, local).await? != Sent::Taken {
                break;
            }
            // Taken on the server (another device's copy): another name.
            let next = self.copy_name(rel, tries);
            std::fs::rename(self.local(&copy), self.local(&next))
                .with_context(|| format!("renaming {copy} to {next}"))?;
            self.state.add_conflict(&next, rel)?;
            copy = next;
        }
        Ok(copy)
    }

    /// Uploads the local file `rel` as a new server file (`If-None-Match: *`). A failure
    /// leaves it a new local file for the next pass.
    async fn upload_new(&self, rel: &str, local: &FileMeta) -> anyhow::Result<Sent> {
        let p = self.local(rel);
        let path = self.remote(rel).to_string();
        let sent = http::upload(
            self.api,
            &path,
            &p,
            local.size,
            &local.hash,
            &Precondition::CreateOnly,
        )
        .await;
        match sent {
            Ok((entry, _)) => {
                let stamps = p.symlink_metadata().ok().map(|m| FileMeta {
                    mtime: Some(mtime_of(&m)),
                    ckey: Some(change_key(&m)),
                    ..FileMeta::default()
                });
                self.record_file(rel, &entry, &stamps.unwrap_or_default())?;
                Ok(Sent::Yes)
            }
            Err(e) if http::is_precondition_failed(&e) => Ok(Sent::Taken),
            Err(_) => Ok(Sent::Failed),
        }
    }

    /// Downloads into a temporary file, then moves it to `rel` if the local file still
    /// is `expect` (which goes to the local trash first). `Ok(Err(why))` when anything
    /// moved on since the plan or the way is blocked.
    async fn download(
        &self,
        rel: &str,
        remote: &FileMeta,
        expect: Option<&FileMeta>,
    ) -> anyhow::Result<Result<(), String>> {
        let Some(id) = remote.id.as_deref() else {
            return Ok(Err("no server id".into()));
        };
        let tmp_dir = self.state.dir().join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let (tmp, hash) = match http::download_temp(self.api, id, &tmp_dir).await {
            Ok(x) => x,
            Err(e)
                if e.downcast_ref::<crate::api::ClientError>()
                    .is_some_and(|c| c.is_not_found()) =>
            {
                return Ok(Err("deleted on the server meanwhile".into()))
            }
            Err(e) => return Err(e).with_context(|| format!("downloading {rel}")),
        };
        // A newer version than the plan's was served: the next pass has its metadata.
        if !hash.eq_ignore_ascii_case(&remote.hash) {
            return Ok(Err("changed on the server meanwhile".into()));
        }
        if !self.real_parent(rel)? {
            return Ok(Err(
                "a file or symbolic link is in the way of its folder".into()
            ));
        }
        if !self.local_is(rel, expect) {
            return Ok(Err(match self.local(rel).symlink_metadata() {
                Ok(m) if !m.is_file() => "something that is not a file is in the way".into(),
                _ => "changed since the scan".into(),
            }));
        }
        let dest = self.local(rel);
        set_mode(&tmp, &dest);
        // On disk before the base says so: after a power cut the old content must not
        // come back looking like a local edit.
        tmp.as_file().sync_all().context("flushing a download")?;
        if expect.is_some() {
            trash::put(self.state.dir(), self.root, rel)?;
        }
        tmp.persist_noclobber(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("moving the download into {}", dest.display()))?;
        sync_dir(dest.parent().unwrap_or(self.root));
        let stamps = dest.symlink_metadata().ok();
        let node = Node::File(FileMeta {
            mtime: stamps.as_ref().map(mtime_of),
            ckey: stamps.as_ref().map(change_key),
            ..remote.clone()
        });
        self.state.put(Table::Base, rel, &node)?;
        Ok(Ok(()))
    }

    fn delete_local(&self, rel: &str, local: &FileMeta) -> anyhow::Result<Outcome> {
        if self.local_is(rel, None) {
            self.state.delete(Table::Base, rel)?;
            return Ok(Applied(None));
        }
        if !self.local_is(rel, Some(local)) {
            return skip("changed since the scan");
        }
        if !self.real_parent(rel)? {
            return skip("its folder is a symbolic link");
        }
        trash::put(self.state.dir(), self.root, rel)?;
        self.state.delete(Table::Base, rel)?;
        self.state.note_deletion(rel, now_s())?;
        done(format!("deleted {rel} here (kept in .dbx/trash)"))
    }

    async fn delete_remote(&self, rel: &str, remote: &FileMeta) -> anyhow::Result<Outcome> {
        let (Some(id), Some(version)) = (remote.id.as_deref(), remote.version) else {
            return skip("no server id");
        };
        match http::delete_file(self.api, id, version).await? {
            Deleted::Yes => {
                self.state.delete(Table::Base, rel)?;
                self.state.note_deletion(rel, now_s())?;
                done(format!("deleted {rel} on the server"))
            }
            Deleted::Gone => {
                self.state.delete(Table::Base, rel)?;
                Ok(Applied(None))
            }
            Deleted::Refused => skip("changed on the server meanwhile"),
        }
    }

    /// Removes an empty local folder. One that still holds only ignored litter
    /// (`.DS_Store`, ...) has it moved to the trash; one that holds files that are not
    /// synced (unreadable, links) is kept, and the next pass puts it back on the server.
    fn delete_local_folder(&self, rel: &str) -> anyhow::Result<Outcome> {
        let p = self.local(rel);
        if !self.real_parent(rel)? || p.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            self.state.delete(Table::Base, rel)?;
            return Ok(Applied(None));
        }
        match std::fs::remove_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                let ignore = Ignore::load(self.root)?;
                let mut litter = Vec::new();
                for e in std::fs::read_dir(&p)?.flatten() {
                    let child = format!("{rel}/{}", e.file_name().to_string_lossy());
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    if !ignore.is_ignored(&child, is_dir) {
                        self.state.delete(Table::Base, rel)?;
                        return done(format!(
                            "kept folder {rel} here: it holds files that are not synced"
                        ));
                    }
                    litter.push(child);
                }
                for child in &litter {
                    trash::put(self.state.dir(), self.root, child)?;
                }
                std::fs::remove_dir(&p).with_context(|| format!("deleting {}", p.display()))?;
            }
        }
        self.state.delete(Table::Base, rel)?;
        done(format!("deleted folder {rel} here"))
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
        match http::delete_empty_folder(self.api, &id).await? {
            Deleted::Yes => {
                self.state.delete(Table::Base, rel)?;
                done(format!("deleted folder {rel} on the server"))
            }
            Deleted::Gone => {
                self.state.delete(Table::Base, rel)?;
                Ok(Applied(None))
            }
            Deleted::Refused => skip("the folder is not empty on the server"),
        }
    }

    /// The server moved `from` to `to`: one local rename, so files keep their inodes and
    /// nothing is downloaded; the base follows. Only if `from` still is what the plan saw
    /// and nothing is at `to` (a file is linked there first, which never replaces
    /// anything, then unlinked from its old name).
    fn move_local(
        &self,
        from: &str,
        to: &str,
        local: &Node,
        base: &str,
    ) -> anyhow::Result<Outcome> {
        let (src, dest) = (self.local(from), self.local(to));
        let still = match local {
            Node::File(f) => self.local_is(from, Some(f)),
            Node::Folder { ino, .. } => src
                .symlink_metadata()
                .is_ok_and(|m| m.is_dir() && ino.as_ref().is_none_or(|i| *i == identity(&m))),
        };
        if !still {
            return skip("changed since the scan");
        }
        if !self.real_parent(from)? || !self.real_parent(to)? {
            return skip("a file or symbolic link is in the way of its folder");
        }
        // Only a name that differs in case on a file system that ignores case may be
        // the entry itself.
        let same_inode = match (src.symlink_metadata(), dest.symlink_metadata()) {
            (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => false,
            (Ok(a), Ok(b)) if identity(&a) == identity(&b) => true,
            _ => return skip("something is in the way here"),
        };
        let renamed = if local.is_folder() || same_inode {
            std::fs::rename(&src, &dest)
        } else {
            std::fs::hard_link(&src, &dest).and_then(|()| std::fs::remove_file(&src))
        };
        match renamed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return skip("something is in the way here")
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("renaming {} to {}", src.display(), dest.display()))
            }
        }
        sync_dir(src.parent().unwrap_or(self.root));
        sync_dir(dest.parent().unwrap_or(self.root));
        self.state.move_base(base, to)?;
        done(format!("moved {from} to {to} here"))
    }

    /// This device moved `from` to `to`: one server move (a file's with `If-Match`), the
    /// base follows. A refused move changes nothing; the next pass plans again with what
    /// the server has then (another device's edit moves along, a delete or a taken name
    /// turns it into an upload at the new path).
    async fn move_remote(
        &self,
        from: &str,
        to: &str,
        id: &str,
        version: Option<i64>,
        base: &str,
    ) -> anyhow::Result<Outcome> {
        let dir = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        let name = to.rsplit('/').next().unwrap_or(to);
        let parent = if dir(from) == dir(to) {
            None
        } else if dir(to).is_empty() {
            Some(ensure_folder(self.api, self.remote_root).await?)
        } else {
            Some(ensure_folder(self.api, &self.remote(&dir(to))).await?)
        };
        match http::move_entry(self.api, id, parent, name, version).await? {
            Moved::Yes => {
                self.state.move_base(base, to)?;
                done(format!("moved {from} to {to} on the server"))
            }
            Moved::Refused(why) => skip(why),
        }
    }

    /// The server's file must make way for a local folder: fetch it to a conflicted copy,
    /// upload that copy, and only then remove the file from the server.
    async fn remote_file_aside(&self, rel: &str, remote: &FileMeta) -> anyhow::Result<Outcome> {
        let copy = self.copy_name(rel, 0);
        if let Err(why) = self.download(&copy, remote, None).await? {
            return skip(why);
        }
        self.state.add_conflict(&copy, rel)?;
        let stamps = self.local(&copy).symlink_metadata().ok();
        let local = FileMeta {
            mtime: stamps.as_ref().map(mtime_of),
            ckey: stamps.as_ref().map(change_key),
            ..remote.clone()
        };
        // The copy is a new local file until it is on the server.
        self.state.delete(Table::Base, &copy)?;
        if self.upload_new(&copy, &local).await? != Sent::Yes {
            return skip(format!(
                "kept the server's file as {copy} here; it is removed from the server once \
                 the copy is uploaded"
            ));
        }
        match self.delete_remote(rel, remote).await? {
            Applied(_) => done(format!(
                "conflict: a folder replaced {rel}; kept the server's file as {copy}"
            )),
            skipped => Ok(skipped),
        }
    }
}

/// Now, in seconds since the epoch.
pub fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Flushes a folder's entries (a rename into it) to disk; best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
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
