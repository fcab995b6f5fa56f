//! The crash loop (issue 11): rounds of a real `dbx-server serve` process under concurrent
//! clients that upload, overwrite (with If-Match), delete, move and rename, restore from the
//! trash and restore versions, SIGKILLed at a random moment, then started again on the
//! same data. After each kill it checks DESIGN.md's invariants 2 and 3:
//!
//! - every acknowledged write reads back exactly (content hash and version); the one write
//!   each client had in flight when the server died is either wholly there or not at all;
//! - nothing else is listed (no half-written file), the trash and every file's versions are
//!   what the clients were told;
//! - every listed file's content is there; `dbx-server check` finds no missing blob;
//! - the change log is gap-free and replays to the live tree;
//! - after `dbx-server gc --grace-secs 0` (with no retention in some rounds, so that it
//!   purges versions and trash too) `dbx-server check` is clean.
//!
//! `DBX_CRASH_ROUNDS` (default 3), `DBX_CRASH_BACKEND` (`sqlite-fs`, the default,
//! `sqlite-s3` or `pg-s3`; S3 from `scripts/s3-server.sh env`, Postgres from
//! `DBX_TEST_DATABASE_URL`) and `DBX_CRASH_SEED` choose the run; the seed is printed, and a
//! failure names it with the round. `scripts/crash-loop.sh` runs many rounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::invariants::{check_change_log, Account};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

/// Clients working at once, each in its own folder of one account.
const CLIENTS: usize = 4;
/// Names a client's files take (`f0` ...), in either of its two folders.
const NAMES: usize = 8;
/// Live files a client keeps at most.
const MAX_FILES: usize = 6;
const EMAIL: &str = "crash-loop@example.com";
const PASSWORD: &str = "crash loop password";

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where metadata and blobs live for the run.
struct Backend {
    name: String,
    database: Option<common::pg::TestDatabase>,
    s3: Vec<(&'static str, String)>,
}

impl Backend {
    fn from_env() -> Backend {
        let name = std::env::var("DBX_CRASH_BACKEND").unwrap_or_else(|_| "sqlite-fs".into());
        let s3_env = || {
            let var = |k: &str| {
                std::env::var(k)
                    .unwrap_or_else(|_| panic!("{k} must be set (scripts/s3-server.sh env)"))
            };
            vec![
                ("DBX_BLOB_STORE", format!("s3://{}", var("DBX_S3_BUCKET"))),
                ("DBX_S3_ENDPOINT", var("DBX_S3_ENDPOINT")),
                ("DBX_S3_REGION", var("DBX_S3_REGION")),
                ("DBX_S3_ACCESS_KEY", var("DBX_S3_ACCESS_KEY")),
                ("DBX_S3_SECRET_KEY", var("DBX_S3_SECRET_KEY")),
            ]
        };
        let (database, s3) = match name.as_str() {
            "sqlite-fs" => (None, Vec::new()),
            "sqlite-s3" => (None, s3_env()),
            "pg-s3" => {
                let db = common::pg::TestDatabase::create()
                    .unwrap_or_else(|e| panic!("Postgres is required for pg-s3: {e}"));
                (Some(db), s3_env())
            }
            other => panic!("DBX_CRASH_BACKEND={other}: use sqlite-fs, sqlite-s3 or pg-s3"),
        };
        Backend { name, database, s3 }
    }

    /// A `dbx-server` command on `data` with this backend.
    fn command(&self, data: &Path) -> Command {
        let mut cmd = common::process::command(data);
        for (k, v) in &self.s3 {
            cmd.env(k, v);
        }
        if let Some(db) = &self.database {
            cmd.env("DBX_DATABASE_URL", &db.url);
        }
        cmd
    }

    fn database_url(&self, data: &Path) -> String {
        match &self.database {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}", data.join("dbx.sqlite").display()),
        }
    }
}

struct Run {
    backend: Backend,
    data: PathBuf,
    log: PathBuf,
    http: Client,
    seed: u64,
}

/// Prints the seed when the test fails, wherever it fails.
struct SeedOnFailure(u64, String);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash loop failed: DBX_CRASH_SEED={} DBX_CRASH_BACKEND={}",
                self.0, self.1
            );
        }
    }
}

impl Run {
    fn start_server(&self) -> (Child, String) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let mut cmd = self.backend.command(&self.data);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--access-token-ttl", "86400"])
            .stderr(log);
        common::process::spawn_serving(cmd).unwrap_or_else(|line| {
            panic!("dbx-server did not start: {line:?}\n{}", self.log_tail())
        })
    }

    /// `dbx-server <args>` on this run's data: whether it succeeded, and its stdout.
    fn cli(&self, args: &[&str]) -> (bool, String) {
        let out = self
            .backend
            .command(&self.data)
            .args(args)
            .output()
            .expect("dbx-server");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn crash_loop() {
    let rounds: u32 = env_or("DBX_CRASH_ROUNDS", 3);
    let seed: u64 = env_or("DBX_CRASH_SEED", rand::random());
    let backend = Backend::from_env();
    let _report = SeedOnFailure(seed, backend.name.clone());
    eprintln!(
        "crash loop: {rounds} rounds on {}, DBX_CRASH_SEED={seed}",
        backend.name
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let run = Run {
        backend,
        data: dir.path().join("data"),
        log: dir.path().join("server.log"),
        http: Client::new(),
        seed,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let mut stats = Stats::default();
    let mut clients = rt.block_on(set_up(&run));
    for round in 1..=rounds {
        if let Err(e) = rt.block_on(one_round(&run, round, &mut clients, &mut stats)) {
            panic!(
                "round {round}: {e}\nDBX_CRASH_SEED={seed}\nserver log (last lines):\n{}",
                run.log_tail()
            );
        }
    }
    eprintln!(
        "crash loop: {rounds} rounds on {} in {:.1} s: {stats:?}",
        run.backend.name,
        started.elapsed().as_secs_f64()
    );
}

/// What the rounds did, for the closing line.
#[derive(Debug, Default)]
struct Stats {
    acknowledged: u64,
    in_flight_at_kill: u64,
    in_flight_landed: u64,
    purging_gc_rounds: u64,
    orphans_collected: u64,
}

/// One client's view of its files: what the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileM {
    /// `None` only for a new file whose upload was cut before the reply.
    id: Option<String>,
    /// 0: the client's folder, 1: its subfolder.
    dir: usize,
    name: String,
    version: i64,
    hash: String,
    /// Every kept version, the current one included: version → content hash.
    history: BTreeMap<i64, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    files: Vec<FileM>,
    /// Files in the trash, where they were when deleted.
    trash: Vec<FileM>,
    /// The subfolder's name ("d" or "e": it is renamed now and then).
    sub: String,
}

struct ClientState {
    index: usize,
    /// Ids of the client's folder and of its subfolder.
    dirs: [String; 2],
    model: Model,
    /// The model if the write in flight when the server died took effect.
    pending: Option<Model>,
    rng: StdRng,
    acknowledged: u64,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Create,
    Overwrite,
    Delete,
    Move,
    RestoreTrash,
    RestoreVersion,
    RenameFolder,
}

async fn login(run: &Run, base: &str, register: bool) -> String {
    let creds = json!({"email": EMAIL, "password": PASSWORD});
    if register {
        let r = run
            .http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&creds)
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r: Value = run
        .http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&creds)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    r["access_token"].as_str().expect("token").to_string()
}

/// Registers the account and makes each client's folders.
async fn set_up(run: &Run) -> Vec<ClientState> {
    let (mut server, base) = run.start_server();
    let token = login(run, &base, true).await;
    let mut clients = Vec::new();
    for index in 0..CLIENTS {
        let mkdir = |parent: Option<String>, name: String| {
            let (http, base, token) = (&run.http, &base, &token);
            async move {
                let r = http
                    .post(format!("{base}/api/v1/folders"))
                    .bearer_auth(token)
                    .json(&json!({"parent_id": parent, "name": name}))
                    .send()
                    .await
                    .expect("mkdir");
                assert_eq!(r.status(), StatusCode::CREATED);
                let v: Value = r.json().await.expect("folder");
                v["id"].as_str().expect("id").to_string()
            }
        };
        let top = mkdir(None, format!("c{index}")).await;
        let sub = mkdir(Some(top.clone()), "d".into()).await;
        clients.push(ClientState {
            index,
            dirs: [top, sub],
            model: Model {
                files: Vec::new(),
                trash: Vec::new(),
                sub: "d".into(),
            },
            pending: None,
            rng: StdRng::seed_from_u64(run.seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9)),
            acknowledged: 0,
        });
    }
    kill(&mut server);
    clients
}

async fn one_round(
    run: &Run,
    round: u32,
    clients: &mut [ClientState],
    stats: &mut Stats,
) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(run.seed.wrapping_add(u64::from(round)));
    let (mut server, base) = run.start_server();
    let token = login(run, &base, false).await;

    // The clients work until the server is killed, some time into the round.
    let killed = AtomicBool::new(false);
    let delay = match rng.random_range(0..10) {
        0 => Duration::from_millis(rng.random_range(0..40)),
        _ => Duration::from_millis(rng.random_range(40..900)),
    };
    let before: u64 = clients.iter().map(|c| c.acknowledged).sum();
    let work = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|c| work(c, &run.http, &base, &token, &killed)),
    );
    let killer = async {
        tokio::time::sleep(delay).await;
        killed.store(true, Ordering::SeqCst);
        kill(&mut server);
    };
    let (results, ()) = tokio::join!(work, killer);
    for r in results {
        r?;
    }
    stats.acknowledged += clients.iter().map(|c| c.acknowledged).sum::<u64>() - before;

    // Started again on the same data: every client finds what it was told, and at most
    // its one write in flight on top.
    let (mut server, base) = run.start_server();
    let account = Account {
        client: &run.http,
        base: &base,
        token: &token,
    };
    let checked = verify(&account, clients, stats).await;
    let live = match checked {
        Ok(()) => account.live_tree().await,
        Err(e) => Err(e),
    };
    kill(&mut server);
    let live = live?;

    // The change log, read from the database with the server down (off the async
    // workers: the Postgres client blocks).
    let url = run.backend.database_url(&run.data);
    tokio::task::spawn_blocking(move || {
        let repo = dbx_server::app::open_repository(&url)
            .map_err(|e| format!("opening the database: {e}"))?;
        let user = repo
            .user_by_email(EMAIL)
            .map_err(|e| e.to_string())?
            .ok_or("no user")?;
        check_change_log(repo.as_ref(), &user.id, &live)
    })
    .await
    .map_err(|e| e.to_string())??;

    // No missing blob (orphans of cut uploads may be there), then gc, then all clean.
    let (_, report) = run.cli(&["check"]);
    if report.contains("missing blob") {
        return Err(format!("check after the crash: {report}"));
    }
    let purge = rng.random_range(0..3) == 0;
    let mut gc = vec!["gc", "--grace-secs", "0"];
    if purge {
        gc.extend(["--version-retention", "0", "--trash-retention", "0"]);
        stats.purging_gc_rounds += 1;
    }
    let (ok, out) = run.cli(&gc);
    if !ok {
        return Err(format!("gc failed: {out}"));
    }
    stats.orphans_collected += out
        .split("removed ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    let (clean, report) = run.cli(&["check"]);
    if !clean {
        return Err(format!("check after gc ({out}): {report}"));
    }
    if purge {
        for c in clients.iter_mut() {
            c.model.trash.clear();
            for f in &mut c.model.files {
                f.history = BTreeMap::from([(f.version, f.hash.clone())]);
            }
        }
    }
    Ok(())
}

impl ClientState {
    fn folder_path(&self, dir: usize, model: &Model) -> String {
        match dir {
            0 => format!("/c{}", self.index),
            _ => format!("/c{}/{}", self.index, model.sub),
        }
    }

    /// A name not taken in `dir` by a live file.
    fn free_name(&mut self, model: &Model, dir: usize) -> Option<String> {
        let free: Vec<String> = (0..NAMES)
            .map(|i| format!("f{i}"))
            .filter(|n| !model.files.iter().any(|f| f.dir == dir && &f.name == n))
            .collect();
        if free.is_empty() {
            return None;
        }
        Some(free[self.rng.random_range(0..free.len())].clone())
    }

    fn pick(&mut self) -> Op {
        let m = &self.model;
        loop {
            let op = match self.rng.random_range(0..100) {
                0..=24 => Op::Create,
                25..=49 => Op::Overwrite,
                50..=61 => Op::Delete,
                62..=75 => Op::Move,
                76..=85 => Op::RestoreTrash,
                86..=96 => Op::RestoreVersion,
                _ => Op::RenameFolder,
            };
            let possible = match op {
                Op::Create => m.files.len() < MAX_FILES,
                Op::Overwrite | Op::Delete | Op::Move => !m.files.is_empty(),
                Op::RestoreTrash => !m.trash.is_empty() && m.files.len() < MAX_FILES,
                Op::RestoreVersion => m.files.iter().any(|f| f.history.len() > 1),
                Op::RenameFolder => true,
            };
            if possible {
                return op;
            }
        }
    }

    fn body(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..10) {
            0 => 0,
            1 => self.rng.random_range(256 * 1024..3 * 1024 * 1024),
            _ => self.rng.random_range(1..48 * 1024),
        };
        let mut data = vec![0u8; len];
        self.rng.fill_bytes(&mut data);
        data
    }
}

/// A request the client is about to send, and the model if it succeeds.
struct Planned {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    json: Option<Value>,
    body: Option<Vec<u8>>,
    expect: StatusCode,
    after: Model,
    /// Which file of `after.files` the reply describes (its id, version and hash are
    /// checked against the reply, and a new file's id taken from it).
    describes: Option<usize>,
}

fn plan(c: &mut ClientState, op: Op) -> Planned {
    let mut after = c.model.clone();
    let mut p = Planned {
        method: Method::POST,
        path: String::new(),
        query: Vec::new(),
        headers: Vec::new(),
        json: None,
        body: None,
        expect: StatusCode::OK,
        after: c.model.clone(),
        describes: None,
    };
    let tag = |f: &FileM| format!("\"{}:{}\"", f.id.as_deref().unwrap_or(""), f.version);
    match op {
        Op::Create => {
            let dir = c.rng.random_range(0..2);
            let name = c.free_name(&after, dir).expect("a free name");
            let data = c.body();
            let hash = dbx_shared::content_hash::content_hash(&data);
            p.method = Method::PUT;
            p.path = "/api/v1/files/content".into();
            p.query = vec![("parent_id", c.dirs[dir].clone()), ("name", name.clone())];
            p.headers = vec![("if-none-match", "*".into())];
            p.body = Some(data);
            p.expect = StatusCode::CREATED;
            after.files.push(FileM {
                id: None,
                dir,
                name,
                version: 1,
                hash: hash.clone(),
                history: BTreeMap::from([(1, hash)]),
            });
            p.describes = Some(after.files.len() - 1);
        }
        Op::Overwrite => {
            let i = c.rng.random_range(0..after.files.len());
            let data = c.body();
            let hash = dbx_shared::content_hash::content_hash(&data);
            let f = &mut after.files[i];
            p.method = Method::PUT;
            p.path = "/api/v1/files/content".into();
            p.query = vec![
                ("parent_id", c.dirs[f.dir].clone()),
                ("name", f.name.clone()),
            ];
            p.headers = vec![("if-match", tag(f))];
            p.body = Some(data);
            f.version += 1;
            f.hash = hash.clone();
            f.history.insert(f.version, hash);
            p.describes = Some(i);
        }
        Op::Delete => {
            let i = c.rng.random_range(0..after.files.len());
            let f = after.files.remove(i);
            p.method = Method::DELETE;
            p.path = format!("/api/v1/files/{}", f.id.as_deref().unwrap_or(""));
            p.headers = vec![("if-match", tag(&f))];
            p.expect = StatusCode::NO_CONTENT;
            after.trash.push(f);
        }
        Op::Move => {
            let i = c.rng.random_range(0..after.files.len());
            let dir = c.rng.random_range(0..2);
            match c.free_name(&after, dir) {
                Some(name) => {
                    let f = &mut after.files[i];
                    p.path = format!("/api/v1/entries/{}/move", f.id.as_deref().unwrap_or(""));
                    p.json = Some(json!({"parent_id": c.dirs[dir], "name": name}));
                    if c.rng.random_bool(0.5) {
                        p.headers = vec![("if-match", tag(f))];
                    }
                    f.dir = dir;
                    f.name = name;
                    p.describes = Some(i);
                }
                // Every name taken there: rename the subfolder instead.
                None => return plan(c, Op::RenameFolder),
            }
        }
        Op::RestoreTrash => {
            let i = c.rng.random_range(0..after.trash.len());
            let dir = c.rng.random_range(0..2);
            let name = c.free_name(&after, dir).expect("a free name");
            let mut f = after.trash.remove(i);
            p.path = format!("/api/v1/trash/{}/restore", f.id.as_deref().unwrap_or(""));
            p.json = Some(json!({"parent_id": c.dirs[dir], "name": name}));
            f.dir = dir;
            f.name = name;
            after.files.push(f);
            p.describes = Some(after.files.len() - 1);
        }
        Op::RestoreVersion => {
            let candidates: Vec<usize> = (0..after.files.len())
                .filter(|&i| after.files[i].history.len() > 1)
                .collect();
            let i = candidates[c.rng.random_range(0..candidates.len())];
            let f = &mut after.files[i];
            let older: Vec<i64> = f
                .history
                .keys()
                .copied()
                .filter(|v| *v != f.version)
                .collect();
            let v = older[c.rng.random_range(0..older.len())];
            p.path = format!("/api/v1/files/{}/restore", f.id.as_deref().unwrap_or(""));
            p.json = Some(json!({ "version": v }));
            f.version += 1;
            f.hash = f.history[&v].clone();
            f.history.insert(f.version, f.hash.clone());
            p.describes = Some(i);
        }
        Op::RenameFolder => {
            let name = if after.sub == "d" { "e" } else { "d" };
            p.path = format!("/api/v1/entries/{}/move", c.dirs[1]);
            p.json = Some(json!({ "name": name }));
            after.sub = name.into();
        }
    }
    p.after = after;
    p
}

/// Sends a planned request: the status and JSON body, or why no reply came.
async fn send(
    http: &Client,
    base: &str,
    token: &str,
    p: &Planned,
) -> Result<(StatusCode, Value), String> {
    let mut req = http
        .request(p.method.clone(), format!("{base}{}", p.path))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .query(&p.query);
    for (k, v) in &p.headers {
        req = req.header(*k, v);
    }
    if let Some(j) = &p.json {
        req = req.json(j);
    }
    if let Some(data) = &p.body {
        // Streamed in pieces, as clients send big files.
        let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = data
            .chunks(64 * 1024)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        req = req
            .header("content-length", data.len())
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                pieces,
            )));
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// Random writes until the server dies under them.
async fn work(
    c: &mut ClientState,
    http: &Client,
    base: &str,
    token: &str,
    killed: &AtomicBool,
) -> Result<(), String> {
    c.pending = None;
    while !killed.load(Ordering::SeqCst) {
        let op = c.pick();
        let mut p = plan(c, op);
        match send(http, base, token, &p).await {
            Err(_) if killed.load(Ordering::SeqCst) => {
                c.pending = Some(p.after);
                return Ok(());
            }
            Err(e) => return Err(format!("client {}: {op:?} failed: {e}", c.index)),
            Ok((status, body)) if status == p.expect => {
                if let Some(i) = p.describes {
                    let f = &mut p.after.files[i];
                    let (id, version, hash) = (
                        body["id"].as_str(),
                        body["version"].as_i64(),
                        body["content_hash"].as_str(),
                    );
                    if (f.id.is_some() && id != f.id.as_deref())
                        || version != Some(f.version)
                        || hash != Some(f.hash.as_str())
                    {
                        return Err(format!(
                            "client {}: {op:?} answered {body} where {f:?} was expected",
                            c.index
                        ));
                    }
                    f.id = id.map(str::to_string);
                }
                c.model = p.after;
                c.acknowledged += 1;
            }
            Ok((status, body)) => {
                return Err(format!(
                    "client {}: {op:?} {} answered {status} {body}, expected {}",
                    c.index, p.path, p.expect
                ))
            }
        }
    }
    Ok(())
}

/// What the server shows of one client's files.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    /// (folder, name) → (id, version, hash).
    files: BTreeMap<(usize, String), (String, i64, String)>,
    trash: Vec<String>,
    sub: String,
}

async fn observe(a: &Account<'_>, c: &ClientState) -> Result<Observed, String> {
    let mut files = BTreeMap::new();
    let mut sub = None;
    for dir in 0..2 {
        for e in a.children(&c.dirs[dir]).await? {
            match &e {
                dbx_shared::api::Entry::Folder(f) if dir == 0 && f.id == c.dirs[1] => {
                    sub = Some(f.name.clone());
                }
                dbx_shared::api::Entry::File(f) => {
                    files.insert(
                        (dir, f.name.clone()),
                        (f.id.clone(), f.version, f.content_hash.clone()),
                    );
                }
                other => return Err(format!("client {}: unexpected {other:?}", c.index)),
            }
        }
    }
    let prefix = format!("/c{}/", c.index);
    let mut trash: Vec<String> = a
        .trash()
        .await?
        .into_iter()
        .filter(|(_, path)| path.starts_with(&prefix))
        .map(|(id, _)| id)
        .collect();
    trash.sort();
    Ok(Observed {
        files,
        trash,
        sub: sub.ok_or_else(|| format!("client {}: the subfolder is gone", c.index))?,
    })
}

/// Whether `m` is what the server shows; fills in the ids of new files from it.
fn matches(m: &Model, o: &Observed) -> Option<Model> {
    if m.sub != o.sub || m.files.len() != o.files.len() {
        return None;
    }
    let mut trash: Vec<String> = m.trash.iter().filter_map(|f| f.id.clone()).collect();
    trash.sort();
    if trash != o.trash || trash.len() != m.trash.len() {
        return None;
    }
    let mut out = m.clone();
    for f in &mut out.files {
        let (id, version, hash) = o.files.get(&(f.dir, f.name.clone()))?;
        if f.id.as_ref().is_some_and(|i| i != id) || *version != f.version || *hash != f.hash {
            return None;
        }
        f.id = Some(id.clone());
    }
    Some(out)
}

async fn verify(
    a: &Account<'_>,
    clients: &mut [ClientState],
    stats: &mut Stats,
) -> Result<(), String> {
    let root: Vec<String> = a
        .children("root")
        .await?
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    let expected: Vec<String> = (0..CLIENTS).map(|i| format!("c{i}")).collect();
    if root != expected {
        return Err(format!("the root lists {root:?}"));
    }
    for c in clients.iter_mut() {
        let o = observe(a, c).await?;
        let pending = c.pending.take();
        stats.in_flight_at_kill += u64::from(pending.is_some());
        c.model = match (matches(&c.model, &o), pending.as_ref().and_then(|p| matches(p, &o))) {
            (Some(m), _) => m,
            (None, Some(m)) => {
                stats.in_flight_landed += 1;
                m
            }
            (None, None) => {
                return Err(format!(
                    "client {}: the server shows\n{o:#?}\nbut it was told\n{:#?}\n(or, with the write in flight,\n{pending:#?})",
                    c.index, c.model
                ))
            }
        };
        for f in &c.model.files {
            let id = f.id.as_deref().unwrap_or_default();
            let path = format!("{}/{}", c.folder_path(f.dir, &c.model), f.name);
            a.check_content(id, &f.hash)
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            let versions = a.versions(id).await?;
            if versions != f.history {
                return Err(format!(
                    "{path}: versions {versions:?}, expected {:?}",
                    f.history
                ));
            }
        }
    }
    Ok(())
}
