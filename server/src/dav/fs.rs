//! dav-server's file system over dbx's area logic (`Files`, `Properties`), never the
//! stores: every change is the same transaction, with the same change-log row, as the
//! API's, so sync and `/delta` see WebDAV edits like any other.
//!
//! dav-server deletes a folder file by file, and an overwritten COPY or MOVE destination
//! the same way. dbx deletes a folder as one soft delete (one change-log row, one trash
//! item), so within a DELETE, and below the destination of a COPY or MOVE, a folder lists
//! as empty and its `remove_dir` takes the whole subtree at once.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavMetaData, DavProp, FsError, FsFuture, FsStream, GuardedFileSystem,
    OpenOptions, ReadDirMeta,
};
use dbx_shared::api::{Entry, MoveRequest};
use dbx_shared::names::name_key;
use futures_util::{stream, FutureExt};
use http::{Method, StatusCode};

use super::file::{ReadFile, WriteFile};
use super::meta::{DirEntry, Meta};
use super::paths::{api_path, names};
use crate::error::{AppError, AppResult};
use crate::files::{Files, ToRead, Upload};
use crate::metadata::{
    DavPropRow, DeleteCheck, EntryKind, EntryRow, FileTarget, IfMatch, VersionTag,
};
use crate::properties::Properties;

/// Page size when listing a folder.
const LIST_PAGE: usize = 1000;

/// Who is asking, and what the request is (see the module comment).
#[derive(Clone)]
pub struct DavUser {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub method: Method,
    /// The request's path, as names.
    pub source: Vec<String>,
    /// The `Destination` of a COPY or MOVE, as names.
    pub destination: Option<Vec<String>>,
    /// A GET or HEAD looks its path up twice (for its metadata, then to open it): the
    /// second time is answered from here. Only for those two methods, which change
    /// nothing, so what is kept cannot go stale within the request.
    pub looked_up: Arc<Mutex<Option<ToRead>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DavUser {
    /// Whether this is a MOVE that only changes the case of names, and `names` its
    /// destination.
    fn renames_case_only_to(&self, names: &[String]) -> bool {
        let keys = |n: &[String]| -> Vec<String> { n.iter().map(|s| name_key(s)).collect() };
        self.method.as_str() == "MOVE"
            && self.destination.as_deref() == Some(names)
            && names != self.source.as_slice()
            && keys(names) == keys(&self.source)
    }

    /// Whether a folder at `names` is about to be deleted as a whole, so its children
    /// need not be listed one by one.
    fn deletes_whole(&self, names: &[String]) -> bool {
        if self.method == Method::DELETE {
            return true;
        }
        let copy_or_move = self.method.as_str() == "COPY" || self.method.as_str() == "MOVE";
        copy_or_move
            && self
                .destination
                .as_ref()
                .is_some_and(|d| names.starts_with(d))
    }
}

/// Maps an area error to dav-server's status vocabulary (which has no 400: a bad name is
/// refused earlier, by the front door).
pub fn fs_error(e: AppError) -> FsError {
    match e.code().status() {
        404 => FsError::NotFound,
        409 => FsError::Exists,
        413 => FsError::TooLarge,
        507 => FsError::InsufficientStorage,
        400 | 412 => FsError::Forbidden,
        _ => {
            tracing::error!(error = %e, "webdav request failed");
            FsError::GeneralFailure
        }
    }
}

#[derive(Clone)]
pub struct DbxFs {
    files: Arc<Files>,
    properties: Arc<Properties>,
}

/// An entry or the root.
enum Node {
    Root,
    Entry(Box<EntryRow>),
}

impl Node {
    fn id(&self) -> Option<&str> {
        match self {
            Node::Root => None,
            Node::Entry(e) => Some(&e.id),
        }
    }

    fn is_dir(&self) -> bool {
        match self {
            Node::Root => true,
            Node::Entry(e) => e.kind == EntryKind::Folder,
        }
    }
}

impl DbxFs {
    pub fn new(files: Arc<Files>, properties: Arc<Properties>) -> Self {
        DbxFs { files, properties }
    }

    async fn node(&self, user: &DavUser, names: &[String]) -> AppResult<Node> {
        if names.is_empty() {
            return Ok(Node::Root);
        }
        let e = self.to_read(user, names).await?.entry;
        Ok(Node::Entry(Box::new(e)))
    }

    /// The entry at `names` (not the root). A GET or HEAD looks its own path up once (see
    /// `DavUser::looked_up`; a GET's was read with its credentials, with a small file's
    /// content).
    async fn to_read(&self, user: &DavUser, names: &[String]) -> AppResult<ToRead> {
        let kept =
            matches!(user.method, Method::GET | Method::HEAD) && names == user.source.as_slice();
        if kept {
            if let Some(e) = lock(&user.looked_up).clone() {
                return Ok(e);
            }
        }
        let e: ToRead = self
            .files
            .entry_at(&user.id, &api_path(names))
            .await?
            .into();
        if kept {
            *lock(&user.looked_up) = Some(e.clone());
        }
        Ok(e)
    }

    async fn node_at(&self, user: &DavUser, path: &DavPath) -> AppResult<Node> {
        self.node(user, &names(path)?).await
    }

    /// The folder that holds `names` (its id, `None` for the root) and the last name.
    async fn parent_of(
        &self,
        user: &DavUser,
        names: &[String],
    ) -> AppResult<(Option<String>, String)> {
        let (leaf, dirs) = names
            .split_last()
            .ok_or_else(|| AppError::bad_request("the root cannot be changed"))?;
        match self.node(user, dirs).await? {
            Node::Root => Ok((None, leaf.clone())),
            Node::Entry(e) if e.kind == EntryKind::Folder => Ok((Some(e.id), leaf.clone())),
            Node::Entry(_) => Err(AppError::not_found("folder")),
        }
    }

    async fn meta(&self, user: &DavUser, path: &DavPath) -> AppResult<Box<dyn DavMetaData>> {
        let names = names(path)?;
        if user.renames_case_only_to(&names) {
            // The new name of a case-only rename is free: it is the source itself, which
            // dav-server must not delete as an existing destination.
            return Err(AppError::not_found("entry"));
        }
        Ok(Box::new(match self.node(user, &names).await? {
            Node::Root => Meta::root(user.created_at),
            Node::Entry(e) => Meta::of_row(&e),
        }))
    }

    async fn open_file(
        &self,
        user: &DavUser,
        path: &DavPath,
        o: OpenOptions,
    ) -> AppResult<Box<dyn DavFile>> {
        let names = names(path)?;
        if names.is_empty() {
            return Err(AppError::bad_request("the root is a folder"));
        }
        let current = match self.to_read(user, &names).await {
            Ok(e) => Some(e),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        if current
            .as_ref()
            .is_some_and(|e| e.entry.kind == EntryKind::Folder)
        {
            return Err(AppError::bad_request("that is a folder"));
        }
        if !o.write {
            let file = current.ok_or_else(|| AppError::not_found("file"))?;
            return Ok(Box::new(ReadFile::new(self.files.clone(), file)));
        }
        if o.create_new && current.is_some() {
            return Err(AppError::Conflict("the file exists".into()));
        }
        if !o.create && current.is_none() {
            return Err(AppError::not_found("file"));
        }
        let (parent_id, name) = self.parent_of(user, &names).await?;
        let up = Upload {
            target: FileTarget::InFolder { parent_id, name },
            mime_type: None,
            // Checked again at commit, so a racing writer cannot slip in between.
            if_match: if o.create_new {
                Some(IfMatch::Absent)
            } else if !o.create {
                Some(IfMatch::Any)
            } else {
                None
            },
            expected_hash: None,
            content_length: o.size,
        };
        Ok(Box::new(WriteFile::start(
            self.files.clone(),
            user.id.clone(),
            up,
        )))
    }

    /// Every child of a folder, following the listing's pages.
    async fn children(&self, user: &DavUser, folder: Option<&str>) -> AppResult<Vec<Entry>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .files
                .list(
                    &user.id,
                    folder.map(str::to_string),
                    after.as_deref(),
                    LIST_PAGE,
                )
                .await?;
            out.extend(page.entries);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    async fn read_dir_at(
        &self,
        user: &DavUser,
        path: &DavPath,
    ) -> AppResult<FsStream<Box<dyn DavDirEntry>>> {
        let names = names(path)?;
        let node = self.node(user, &names).await?;
        if !node.is_dir() {
            return Err(AppError::bad_request("not a folder"));
        }
        let children = if user.deletes_whole(&names) {
            Vec::new()
        } else {
            self.children(user, node.id()).await?
        };
        let items = children.into_iter().map(|e| {
            let entry = DirEntry {
                name: e.name().to_string(),
                meta: Meta::of_entry(&e),
            };
            Ok(Box::new(entry) as Box<dyn DavDirEntry>)
        });
        Ok(Box::pin(stream::iter(items)))
    }

    async fn create_dir_at(&self, user: &DavUser, path: &DavPath) -> AppResult<()> {
        let (parent, name) = self.parent_of(user, &names(path)?).await?;
        self.files.create_folder(&user.id, parent, &name).await?;
        Ok(())
    }

    async fn remove(&self, user: &DavUser, path: &DavPath, kind: EntryKind) -> AppResult<()> {
        match self.node_at(user, path).await? {
            Node::Entry(e) if e.kind == kind => {
                // A file is deleted only at the version just looked up: a PUT from another
                // client in between is not thrown away unseen.
                let if_match = e.content.as_ref().map(|c| {
                    IfMatch::Version(VersionTag {
                        file_id: Some(e.id.clone()),
                        version: c.version,
                    })
                });
                let check = DeleteCheck {
                    if_match,
                    only_if_empty: false,
                };
                self.files.delete(&user.id, &e.id, kind, check).await
            }
            Node::Root => Err(AppError::bad_request("the root cannot be deleted")),
            Node::Entry(_) => Err(AppError::not_found(kind.noun())),
        }
    }

    /// Copies a file, sharing its blob, and its properties.
    async fn copy_at(&self, user: &DavUser, from: &DavPath, to: &DavPath) -> AppResult<()> {
        let Node::Entry(src) = self.node_at(user, from).await? else {
            return Err(AppError::bad_request("the root cannot be copied"));
        };
        let (parent_id, name) = self.parent_of(user, &names(to)?).await?;
        self.copy_entry(user, &src.id, src.kind, parent_id, name)
            .await?;
        Ok(())
    }

    /// Copies a file or a whole folder tree into `parent_id` under `name`, with their
    /// properties; returns the new entry's id.
    async fn copy_entry(
        &self,
        user: &DavUser,
        src_id: &str,
        kind: EntryKind,
        parent_id: Option<String>,
        name: String,
    ) -> AppResult<String> {
        let files = &self.files;
        let new_id = match kind {
            EntryKind::File => {
                let target = FileTarget::InFolder { parent_id, name };
                files.copy_file(&user.id, src_id, target).await?.0.id
            }
            EntryKind::Folder => {
                let folder = files.create_folder(&user.id, parent_id, &name).await?;
                for child in self.children(user, Some(src_id)).await? {
                    let kind = if child.is_folder() {
                        EntryKind::Folder
                    } else {
                        EntryKind::File
                    };
                    let (id, name) = (child.id(), child.name().to_string());
                    Box::pin(self.copy_entry(user, id, kind, Some(folder.id.clone()), name))
                        .await?;
                }
                folder.id
            }
        };
        self.properties.copy(&user.id, src_id, &new_id).await?;
        Ok(new_id)
    }

    /// MOVE: the API's move, so the entry keeps its id, versions, share links and
    /// properties, and a folder moves with its subtree in one change.
    async fn rename_at(&self, user: &DavUser, from: &DavPath, to: &DavPath) -> AppResult<()> {
        let Node::Entry(src) = self.node_at(user, from).await? else {
            return Err(AppError::bad_request("the root cannot be moved"));
        };
        let (parent_id, name) = self.parent_of(user, &names(to)?).await?;
        let req = MoveRequest {
            parent_id: Some(parent_id),
            name: Some(name),
        };
        self.files.move_entry(&user.id, &src.id, req, None).await?;
        Ok(())
    }

    async fn patch(
        &self,
        user: &DavUser,
        path: &DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> AppResult<Vec<(StatusCode, DavProp)>> {
        let node = self.node_at(user, path).await?;
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut done = Vec::new();
        for (is_set, prop) in patch {
            let namespace = prop.namespace.clone().unwrap_or_default();
            // Operations apply in document order (RFC 4918 9.2): only the last one on a
            // property counts.
            set.retain(|p: &DavPropRow| p.namespace != namespace || p.name != prop.name);
            remove.retain(|(ns, name)| *ns != namespace || *name != prop.name);
            if is_set {
                set.push(DavPropRow {
                    namespace,
                    name: prop.name.clone(),
                    prefix: prop.prefix.clone(),
                    xml: prop.xml.clone().unwrap_or_default(),
                });
            } else {
                remove.push((namespace, prop.name.clone()));
            }
            done.push((StatusCode::OK, DavProp { xml: None, ..prop }));
        }
        self.properties
            .patch(&user.id, node.id(), set, remove)
            .await?;
        Ok(done)
    }

    async fn props(&self, user: &DavUser, path: &DavPath) -> AppResult<Vec<DavPropRow>> {
        let node = self.node_at(user, path).await?;
        self.properties.get(&user.id, node.id()).await
    }
}

fn to_dav_prop(p: DavPropRow, with_value: bool) -> DavProp {
    DavProp {
        name: p.name,
        prefix: p.prefix,
        namespace: (!p.namespace.is_empty()).then_some(p.namespace),
        xml: with_value.then_some(p.xml),
    }
}

impl GuardedFileSystem<DavUser> for DbxFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
        user: &'a DavUser,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move { self.open_file(user, path, options).await.map_err(fs_error) }.boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
        user: &'a DavUser,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move { self.read_dir_at(user, path).await.map_err(fs_error) }.boxed()
    }

    fn metadata<'a>(
        &'a self,
        path: &'a DavPath,
        user: &'a DavUser,
    ) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move { self.meta(user, path).await.map_err(fs_error) }.boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath, user: &'a DavUser) -> FsFuture<'a, ()> {
        async move { self.create_dir_at(user, path).await.map_err(fs_error) }.boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath, user: &'a DavUser) -> FsFuture<'a, ()> {
        async move {
            self.remove(user, path, EntryKind::Folder)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath, user: &'a DavUser) -> FsFuture<'a, ()> {
        async move {
            self.remove(user, path, EntryKind::File)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn rename<'a>(
        &'a self,
        from: &'a DavPath,
        to: &'a DavPath,
        user: &'a DavUser,
    ) -> FsFuture<'a, ()> {
        async move { self.rename_at(user, from, to).await.map_err(fs_error) }.boxed()
    }

    fn copy<'a>(
        &'a self,
        from: &'a DavPath,
        to: &'a DavPath,
        user: &'a DavUser,
    ) -> FsFuture<'a, ()> {
        async move { self.copy_at(user, from, to).await.map_err(fs_error) }.boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
        _user: &'a DavUser,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        async { true }.boxed()
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
        user: &'a DavUser,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move { self.patch(user, path, patch).await.map_err(fs_error) }.boxed()
    }

    fn get_props<'a>(
        &'a self,
        path: &'a DavPath,
        do_content: bool,
        user: &'a DavUser,
    ) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            let props = self.props(user, path).await.map_err(fs_error)?;
            Ok(props
                .into_iter()
                .map(|p| to_dav_prop(p, do_content))
                .collect())
        }
        .boxed()
    }

    fn get_prop<'a>(
        &'a self,
        path: &'a DavPath,
        prop: DavProp,
        user: &'a DavUser,
    ) -> FsFuture<'a, Vec<u8>> {
        async move {
            let namespace = prop.namespace.unwrap_or_default();
            self.props(user, path)
                .await
                .map_err(fs_error)?
                .into_iter()
                .find(|p| p.namespace == namespace && p.name == prop.name)
                .map(|p| p.xml)
                .ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn get_quota<'a>(&'a self, user: &'a DavUser) -> FsFuture<'a, (u64, Option<u64>)> {
        async move {
            let used = self.files.usage(&user.id).await.map_err(fs_error)?;
            Ok((used, None))
        }
        .boxed()
    }
}
