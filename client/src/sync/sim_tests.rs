//! Randomized check of the planner: 2–3 simulated devices edit, delete, rename (files and
//! whole folders, keeping their inodes) and sync against a simulated server, where
//! another client also moves entries, their ops interleaved with each other and with new
//! local edits in random order. At the end every device must hold the server's tree, and every version
//! a user wrote and did not replace or delete themselves must still exist, at its path or
//! as a conflicted copy.
//!
//! The ops are applied with the engine's rules: each checks that its side still looks as
//! planned, uploads carry `If-Match`, a 412 turns into a conflicted copy.
//!
//! Replay one case: `DBX_SYNC_SIM_SEED=<seed> cargo test -p dbx --bin dbx sync::planner::sim`.
//! More cases: `DBX_SYNC_SIM_RUNS=5000`.

use std::collections::{BTreeMap, HashSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::snapshot::at_or_below as is_below;
use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum SNode {
    Folder {
        id: String,
    },
    File {
        id: String,
        version: i64,
        content: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LNode {
    Folder,
    File(String),
}

#[derive(Default)]
struct Server {
    tree: BTreeMap<String, SNode>,
    next_id: u64,
}

struct Device {
    name: String,
    local: BTreeMap<String, LNode>,
    /// The inode of each local entry: kept by edits in place and renames, new for
    /// anything created (downloads land under a new inode).
    inos: BTreeMap<String, u64>,
    next_ino: u64,
    base: Snapshot,
    queue: Vec<Op>,
    /// Old and new paths of moves that did not happen this pass (the engine holds the
    /// ops below them).
    held: Vec<String>,
    copies: u32,
}

struct World {
    rng: StdRng,
    server: Server,
    devices: Vec<Device>,
    written: Vec<String>,
    superseded: HashSet<String>,
    counter: u64,
    /// Users also turn files into folders and back.
    kinds: bool,
}

fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = parent(path);
    while let Some(x) = p {
        out.push(x.to_string());
        p = parent(x);
    }
    out.reverse();
    out
}

fn has_children<T>(tree: &BTreeMap<String, T>, path: &str) -> bool {
    tree.range(format!("{path}/")..format!("{path}0"))
        .next()
        .is_some()
}

fn local_meta(content: &str, ino: Option<u64>) -> FileMeta {
    FileMeta {
        hash: content.to_string(),
        size: content.len() as u64,
        id: None,
        version: None,
        mtime: Some(0),
        ckey: ino.map(|i| format!("{i}:0:1")),
    }
}

/// Moves `from` and everything below it to `to` in a path-keyed map.
fn move_keys<T>(tree: &mut BTreeMap<String, T>, from: &str, to: &str) {
    let keys: Vec<String> = tree.keys().filter(|p| is_below(p, from)).cloned().collect();
    for k in keys {
        if let Some(v) = tree.remove(&k) {
            tree.insert(format!("{to}{}", &k[from.len()..]), v);
        }
    }
}

impl Server {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("s{}", self.next_id)
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (p, n) in &self.tree {
            let node = match n {
                SNode::Folder { id } => Node::folder(Some(id.clone())),
                SNode::File {
                    id,
                    version,
                    content,
                } => Node::File(FileMeta {
                    hash: content.clone(),
                    size: content.len() as u64,
                    id: Some(id.clone()),
                    version: Some(*version),
                    mtime: None,
                    ckey: None,
                }),
            };
            s.insert(p.clone(), node);
        }
        s
    }

    /// Creates the folder and its parents; false if a file is in the way.
    fn mkdirs(&mut self, path: &str) -> bool {
        let mut all = ancestors(path);
        all.push(path.to_string());
        for p in all {
            match self.tree.get(&p) {
                Some(SNode::Folder { .. }) => {}
                Some(SNode::File { .. }) => return false,
                None => {
                    let id = self.id();
                    self.tree.insert(p, SNode::Folder { id });
                }
            }
        }
        true
    }

    /// PUT without If-Match (last write wins); the new file's meta, or None if a folder
    /// is in the way.
    fn put(&mut self, path: &str, content: &str) -> Option<FileMeta> {
        if let Some(p) = parent(path) {
            if !self.mkdirs(p) {
                return None;
            }
        }
        let (id, version) = match self.tree.get(path) {
            Some(SNode::Folder { .. }) => return None,
            Some(SNode::File { id, version, .. }) => (id.clone(), version + 1),
            None => (self.id(), 1),
        };
        self.tree.insert(
            path.to_string(),
            SNode::File {
                id: id.clone(),
                version,
                content: content.to_string(),
            },
        );
        Some(FileMeta {
            hash: content.to_string(),
            size: content.len() as u64,
            id: Some(id),
            version: Some(version),
            mtime: Some(0),
            ckey: None,
        })
    }

    /// `POST /entries/{id}/move` to `to`: false (nothing moved) if the id is gone, a
    /// file's version is not `version` (412), `to` is taken (409) or below the entry
    /// (400), or a file is in the way of its folders. Missing folders are made first, as
    /// the client does before it moves.
    fn move_entry(&mut self, id: &str, version: Option<i64>, to: &str) -> bool {
        let Some((from, node)) = self.tree.iter().find(|(_, n)| match n {
            SNode::Folder { id: x } | SNode::File { id: x, .. } => x == id,
        }) else {
            return false;
        };
        let from = from.clone();
        if let (SNode::File { version: v, .. }, Some(want)) = (node, version) {
            if *v != want {
                return false;
            }
        }
        if self.tree.contains_key(to) || is_below(to, &from) {
            return false;
        }
        if let Some(p) = parent(to) {
            if !self.mkdirs(p) {
                return false;
            }
        }
        move_keys(&mut self.tree, &from, to);
        true
    }

    fn file(&self, path: &str) -> Option<(String, i64, String)> {
        match self.tree.get(path) {
            Some(SNode::File {
                id,
                version,
                content,
            }) => Some((id.clone(), *version, content.clone())),
            _ => None,
        }
    }
}

impl Device {
    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for (p, n) in &self.local {
            let ino = self.inos.get(p).copied();
            let node = match n {
                LNode::Folder => Node::Folder {
                    id: None,
                    ino: ino.map(|i| format!("{i}:1")),
                },
                LNode::File(c) => Node::File(local_meta(c, ino)),
            };
            s.insert(p.clone(), node);
        }
        s
    }

    /// Puts `node` at `path` as a new local entry (a new inode).
    fn create(&mut self, path: &str, node: LNode) -> Option<LNode> {
        self.next_ino += 1;
        self.inos.insert(path.to_string(), self.next_ino);
        self.local.insert(path.to_string(), node)
    }

    /// The local file's change key and the folder's inode, as the base records them.
    fn ckey(&self, path: &str) -> Option<String> {
        self.inos.get(path).map(|i| format!("{i}:0:1"))
    }

    fn folder_base(&self, path: &str) -> Node {
        Node::Folder {
            id: None,
            ino: self.inos.get(path).map(|i| format!("{i}:1")),
        }
    }

    /// A rename here: the entry and everything below it keep their inodes.
    fn rename(&mut self, from: &str, to: &str) {
        move_keys(&mut self.local, from, to);
        move_keys(&mut self.inos, from, to);
    }

    fn local_file(&self, path: &str) -> Option<&str> {
        match self.local.get(path) {
            Some(LNode::File(c)) => Some(c),
            _ => None,
        }
    }

    /// Creates local parent folders of `path`; false if a file is in the way.
    fn mkparents(&mut self, path: &str) -> bool {
        for p in ancestors(path) {
            match self.local.get(&p) {
                Some(LNode::Folder) => {}
                Some(LNode::File(_)) => return false,
                None => {
                    self.create(&p, LNode::Folder);
                }
            }
        }
        true
    }

    fn copy_name(&mut self, path: &str) -> String {
        self.copies += 1;
        conflict_name(path, &self.name, &self.copies.to_string())
    }

    /// Moves the local file at `path` to a conflicted copy and uploads that.
    fn move_aside(&mut self, server: &mut Server, path: &str) {
        let Some(LNode::File(content)) = self.local.remove(path) else {
            return;
        };
        let copy = self.copy_name(path);
        self.local
            .insert(copy.clone(), LNode::File(content.clone()));
        if let Some(ino) = self.inos.remove(path) {
            self.inos.insert(copy.clone(), ino);
        }
        if let Some(mut meta) = server.put(&copy, &content) {
            meta.ckey = self.ckey(&copy);
            self.base.insert(copy, Node::File(meta));
        }
    }

    /// Downloads the server's file at `path` if it still is `remote` and the local file
    /// still is `expect` (None: absent).
    fn download(&mut self, server: &Server, path: &str, remote: &FileMeta, expect: Option<&str>) {
        let Some((id, _, content)) = server.file(path) else {
            return;
        };
        if Some(&id) != remote.id.as_ref() || content != remote.hash {
            return;
        }
        if self.local_file(path) != expect
            || (expect.is_none() && self.local.contains_key(path))
            || !self.mkparents(path)
        {
            return;
        }
        self.create(path, LNode::File(content));
        let mut meta = remote.clone();
        meta.mtime = Some(0);
        meta.ckey = self.ckey(path);
        self.base.insert(path.to_string(), Node::File(meta));
    }

    /// Applies `op`; false for a move that did not happen.
    fn apply(&mut self, server: &mut Server, op: Op) -> bool {
        match op {
            Op::Upload {
                path,
                local,
                replaces,
            } => {
                if self.local_file(&path) != Some(local.hash.as_str()) {
                    return true;
                }
                match server.tree.get(&path).cloned() {
                    Some(SNode::Folder { .. }) => {}
                    Some(SNode::File {
                        version,
                        content,
                        id,
                    }) => {
                        let same_file = replaces.as_ref().is_some_and(|r| {
                            r.id.as_ref() == Some(&id) && r.version == Some(version)
                        });
                        if content == local.hash {
                            let meta = FileMeta {
                                id: Some(id),
                                version: Some(version),
                                ..local
                            };
                            self.base.insert(path, Node::File(meta));
                        } else if same_file {
                            if let Some(mut meta) = server.put(&path, &local.hash) {
                                meta.ckey = local.ckey;
                                self.base.insert(path, Node::File(meta));
                            }
                        } else {
                            // 412, or a file the plan did not know: keep ours as a
                            // conflicted copy and take the server's.
                            self.move_aside(server, &path);
                            let remote = FileMeta {
                                hash: content.clone(),
                                size: content.len() as u64,
                                id: Some(id),
                                version: Some(version),
                                mtime: None,
                                ckey: None,
                            };
                            self.download(server, &path, &remote, None);
                        }
                    }
                    // Deleted meanwhile (a 412 with If-Match): an edit beats a delete.
                    None => {
                        if let Some(mut meta) = server.put(&path, &local.hash) {
                            meta.ckey = local.ckey;
                            self.base.insert(path, Node::File(meta));
                        }
                    }
                }
            }
            Op::Download {
                path,
                remote,
                expect_local,
            } => {
                let expect = expect_local.map(|f| f.hash);
                self.download(server, &path, &remote, expect.as_deref());
            }
            Op::DeleteLocal { path, local } => match self.local_file(&path) {
                Some(c) if c == local.hash => {
                    self.local.remove(&path);
                    self.base.remove(&path);
                }
                None if !self.local.contains_key(&path) => {
                    self.base.remove(&path);
                }
                _ => {}
            },
            Op::DeleteRemote { path, remote } => match server.file(&path) {
                Some((id, v, _))
                    if Some(&id) == remote.id.as_ref() && Some(v) == remote.version =>
                {
                    server.tree.remove(&path);
                    self.base.remove(&path);
                }
                None if !server.tree.contains_key(&path) => {
                    self.base.remove(&path);
                }
                _ => {}
            },
            Op::DeleteLocalFolder { path } => match self.local.get(&path) {
                Some(LNode::Folder) if !has_children(&self.local, &path) => {
                    self.local.remove(&path);
                    self.base.remove(&path);
                }
                None => {
                    self.base.remove(&path);
                }
                _ => {}
            },
            Op::DeleteRemoteFolder { path, .. } => match server.tree.get(&path) {
                Some(SNode::Folder { .. }) if !has_children(&server.tree, &path) => {
                    server.tree.remove(&path);
                    self.base.remove(&path);
                }
                None => {
                    self.base.remove(&path);
                }
                _ => {}
            },
            Op::MkdirLocal { path, id } => {
                if self.local.get(&path) == Some(&LNode::Folder)
                    || (!self.local.contains_key(&path) && self.mkparents(&path))
                {
                    if !self.local.contains_key(&path) {
                        self.create(&path, LNode::Folder);
                    }
                    let mut node = self.folder_base(&path);
                    if let Node::Folder { id: known, .. } = &mut node {
                        *known = id;
                    }
                    self.base.insert(path, node);
                }
            }
            Op::MkdirRemote { path } => {
                if server.mkdirs(&path) {
                    let mut node = self.folder_base(&path);
                    if let (Node::Folder { id, .. }, Some(SNode::Folder { id: made })) =
                        (&mut node, server.tree.get(&path))
                    {
                        *id = Some(made.clone());
                    }
                    self.base.insert(path, node);
                }
            }
            Op::MoveLocal {
                path,
                from,
                base,
                local,
            } => {
                let still = match (&local, self.local.get(&from)) {
                    (Node::File(f), Some(LNode::File(c))) => *c == f.hash,
                    (Node::Folder { .. }, Some(LNode::Folder)) => true,
                    _ => false,
                };
                if !still || self.local.contains_key(&path) || !self.mkparents(&path) {
                    return false;
                }
                self.rename(&from, &path);
                self.base.move_tree(&base, &path);
            }
            Op::MoveRemote {
                path,
                base,
                id,
                version,
                ..
            } => {
                if !server.move_entry(&id, version, &path) {
                    return false;
                }
                self.base.move_tree(&base, &path);
            }
            Op::MoveBase { path, from } => self.base.move_tree(&from, &path),
            Op::Conflict {
                path,
                local,
                remote,
            } => {
                if self.local_file(&path) == Some(local.hash.as_str()) {
                    self.move_aside(server, &path);
                    self.download(server, &path, &remote, None);
                }
            }
            Op::LocalFileAside { path, local } => {
                if self.local_file(&path) == Some(local.hash.as_str()) {
                    self.move_aside(server, &path);
                }
            }
            Op::RemoteFileAside { path, remote } => {
                let Some((id, v, content)) = server.file(&path) else {
                    return true;
                };
                if Some(&id) != remote.id.as_ref() || Some(v) != remote.version {
                    return true;
                }
                let copy = self.copy_name(&path);
                if self.local.contains_key(&copy) || !self.mkparents(&copy) {
                    return true;
                }
                self.create(&copy, LNode::File(content));
                server.tree.remove(&path);
                self.base.remove(&path);
            }
            Op::RecordBase { path, node } => self.base.insert(path, node),
            Op::ForgetBase { path } => {
                self.base.remove(&path);
            }
        }
        true
    }
}

impl World {
    fn new(seed: u64, kinds: bool) -> World {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(2..=3);
        let devices = (0..n)
            .map(|i| Device {
                name: format!("dev{i}"),
                local: BTreeMap::new(),
                inos: BTreeMap::new(),
                next_ino: 0,
                base: Snapshot::default(),
                queue: Vec::new(),
                held: Vec::new(),
                copies: 0,
            })
            .collect();
        World {
            rng,
            server: Server::default(),
            devices,
            written: Vec::new(),
            superseded: HashSet::new(),
            counter: 0,
            kinds,
        }
    }

    fn new_content(&mut self, d: usize) -> String {
        self.counter += 1;
        let c = format!("v{}-dev{d}", self.counter);
        self.written.push(c.clone());
        c
    }

    /// One thing a user does in device `d`'s folder.
    fn user_action(&mut self, d: usize) {
        if std::env::var_os("DBX_SYNC_SIM_TRACE").is_some() {
            eprintln!("dev{d} user acts; local {:?}", self.devices[d].local);
        }
        let folders: Vec<String> = std::iter::once(String::new())
            .chain(
                self.devices[d]
                    .local
                    .iter()
                    .filter(|(_, n)| **n == LNode::Folder)
                    .map(|(p, _)| p.clone()),
            )
            .collect();
        let files: Vec<String> = self.devices[d]
            .local
            .iter()
            .filter(|(_, n)| **n != LNode::Folder)
            .map(|(p, _)| p.clone())
            .collect();
        let at = |dir: &str, name: String| {
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        };
        match self.rng.random_range(0..15) {
            10..=11 if !self.kinds => {}
            0..=3 => {
                // Write a file (new, or over an old one in place).
                let dir = folders[self.rng.random_range(0..folders.len())].clone();
                let path = at(&dir, format!("f{}.txt", self.rng.random_range(0..3)));
                if self.devices[d].local.get(&path) == Some(&LNode::Folder) {
                    return;
                }
                let c = self.new_content(d);
                let dev = &mut self.devices[d];
                let old = match dev.local.get_mut(&path) {
                    Some(slot) => Some(std::mem::replace(slot, LNode::File(c))),
                    None => dev.create(&path, LNode::File(c)),
                };
                if let Some(LNode::File(old)) = old {
                    self.superseded.insert(old);
                }
            }
            4..=5 if !files.is_empty() => {
                let path = files[self.rng.random_range(0..files.len())].clone();
                let c = self.new_content(d);
                if let Some(LNode::File(old)) = self.devices[d].local.insert(path, LNode::File(c)) {
                    self.superseded.insert(old);
                }
            }
            6 if !files.is_empty() => {
                let path = &files[self.rng.random_range(0..files.len())];
                if let Some(LNode::File(old)) = self.devices[d].local.remove(path) {
                    self.superseded.insert(old);
                }
            }
            7..=8 if folders.len() < 8 => {
                let dir = folders[self.rng.random_range(0..folders.len())].clone();
                if dir.split('/').count() < 3 {
                    let path = at(&dir, format!("d{}", self.rng.random_range(0..2)));
                    if !self.devices[d].local.contains_key(&path) {
                        self.devices[d].create(&path, LNode::Folder);
                    }
                }
            }
            9 if folders.len() > 1 => {
                let dir = folders[self.rng.random_range(1..folders.len())].clone();
                let dev = &mut self.devices[d];
                let below: Vec<String> = dev
                    .local
                    .range(format!("{dir}/")..format!("{dir}0"))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in below {
                    if let Some(LNode::File(old)) = dev.local.remove(&p) {
                        self.superseded.insert(old);
                    }
                }
                dev.local.remove(&dir);
            }
            10 if !files.is_empty() => {
                // A file becomes a folder of the same name.
                let path = files[self.rng.random_range(0..files.len())].clone();
                if let Some(LNode::File(old)) = self.devices[d].create(&path, LNode::Folder) {
                    self.superseded.insert(old);
                }
            }
            11 if folders.len() > 1 => {
                // A folder becomes a file of the same name.
                let dir = folders[self.rng.random_range(1..folders.len())].clone();
                let below: Vec<String> = self.devices[d]
                    .local
                    .range(format!("{dir}/")..format!("{dir}0"))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in below {
                    if let Some(LNode::File(old)) = self.devices[d].local.remove(&p) {
                        self.superseded.insert(old);
                    }
                }
                let c = self.new_content(d);
                self.devices[d].create(&dir, LNode::File(c));
            }
            12..=13 => {
                // Rename a file or a folder (with all it holds) to a free name, maybe in
                // another folder.
                let all: Vec<String> = self.devices[d].local.keys().cloned().collect();
                if all.is_empty() {
                    return;
                }
                let from = all[self.rng.random_range(0..all.len())].clone();
                let dir = folders[self.rng.random_range(0..folders.len())].clone();
                let to = at(&dir, format!("m{}", self.rng.random_range(0..3)));
                let dev = &mut self.devices[d];
                if is_below(&dir, &from) || dev.local.contains_key(&to) {
                    return;
                }
                dev.rename(&from, &to);
            }
            14 => {
                // Another client (`dbx mv`) moves something on the server.
                let all: Vec<String> = self.server.tree.keys().cloned().collect();
                if all.is_empty() {
                    return;
                }
                let from = all[self.rng.random_range(0..all.len())].clone();
                let to = format!("s{}", self.rng.random_range(0..3));
                let to = match self.rng.random_range(0..2) {
                    0 => to,
                    _ => match parent(&from) {
                        Some(p) => format!("{p}/{to}"),
                        None => to,
                    },
                };
                let id = match &self.server.tree[&from] {
                    SNode::Folder { id } | SNode::File { id, .. } => id.clone(),
                };
                self.server.move_entry(&id, None, &to);
            }
            _ => {}
        }
    }

    fn start_pass(&mut self, d: usize) {
        let remote = self.server.snapshot();
        let dev = &mut self.devices[d];
        if std::env::var_os("DBX_SYNC_SIM_TRACE").is_some() {
            eprintln!("{} plans; local {:?}", dev.name, dev.local);
        }
        let mut ops = plan(&dev.snapshot(), &remote, &dev.base);
        ops.reverse();
        dev.queue = ops;
        dev.held.clear();
    }

    fn step(&mut self, d: usize) {
        let dev = &mut self.devices[d];
        if let Some(op) = dev.queue.pop() {
            let trace = std::env::var_os("DBX_SYNC_SIM_TRACE").is_some();
            let held = |p: &str| dev.held.iter().any(|h| is_below(p, h));
            if held(op.path()) || op.moved_from().is_some_and(held) {
                if trace {
                    eprintln!("{} holds {op:?}", dev.name);
                }
                return;
            }
            if trace {
                eprintln!("{} applies {op:?}", dev.name);
            }
            let moved = op
                .moved_from()
                .map(|from| [from.to_string(), op.path().to_string()]);
            if !dev.apply(&mut self.server, op) {
                dev.held.extend(moved.into_iter().flatten());
            }
        }
    }

    fn run(&mut self, steps: usize) -> Result<(), String> {
        for _ in 0..steps {
            let d = self.rng.random_range(0..self.devices.len());
            let busy = !self.devices[d].queue.is_empty();
            let roll = self.rng.random_range(0..10);
            match (busy, roll) {
                (true, 0..=6) => self.step(d),
                (false, 0..=3) => self.start_pass(d),
                _ => self.user_action(d),
            }
        }
        for d in 0..self.devices.len() {
            while !self.devices[d].queue.is_empty() {
                self.step(d);
            }
        }
        self.settle()?;
        self.check()
    }

    /// Syncs every device in turn until a whole round changes nothing.
    fn settle(&mut self) -> Result<(), String> {
        for _ in 0..10 {
            let mut changed = false;
            for d in 0..self.devices.len() {
                self.start_pass(d);
                changed |= self.devices[d].queue.iter().any(Op::is_change);
                while !self.devices[d].queue.is_empty() {
                    self.step(d);
                }
            }
            if !changed {
                return Ok(());
            }
        }
        Err("did not settle after 10 rounds".into())
    }

    fn check(&self) -> Result<(), String> {
        let want: BTreeMap<String, LNode> = self
            .server
            .tree
            .iter()
            .map(|(p, n)| {
                let l = match n {
                    SNode::Folder { .. } => LNode::Folder,
                    SNode::File { content, .. } => LNode::File(content.clone()),
                };
                (p.clone(), l)
            })
            .collect();
        for dev in &self.devices {
            if dev.local != want {
                return Err(format!(
                    "{} differs from the server:\n  local  {:?}\n  server {:?}",
                    dev.name, dev.local, want
                ));
            }
        }
        let present: HashSet<&String> = want
            .values()
            .filter_map(|n| match n {
                LNode::File(c) => Some(c),
                LNode::Folder => None,
            })
            .collect();
        for c in &self.written {
            if !self.superseded.contains(c) && !present.contains(c) {
                return Err(format!("version {c} was lost; server {want:?}"));
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64, kinds: bool) {
    let mut w = World::new(seed, kinds);
    let steps = w.rng.random_range(20..300);
    if let Err(e) = w.run(steps) {
        panic!("seed {seed}: {e}\nreplay: DBX_SYNC_SIM_SEED={seed} cargo test -p dbx --bin dbx sync::planner::sim");
    }
}

/// The seed to replay, or the number of seeds to run.
fn seeds() -> Result<u64, u64> {
    if let Some(seed) = std::env::var("DBX_SYNC_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return Ok(seed);
    }
    Err(std::env::var("DBX_SYNC_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500))
}

#[test]
fn sim_devices_converge_without_losing_edits() {
    match seeds() {
        Ok(seed) => run_seed(seed, false),
        Err(runs) => (0..runs).for_each(|s| run_seed(s, false)),
    }
}

#[test]
fn sim_with_files_and_folders_trading_places() {
    match seeds() {
        Ok(seed) => run_seed(seed, true),
        Err(runs) => (0..runs).for_each(|s| run_seed(s, true)),
    }
}
