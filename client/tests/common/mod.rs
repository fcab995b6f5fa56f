//! Test harness: a real dbx-server in this process on 127.0.0.1:0 with its own data dir,
//! serving from its own runtime's worker threads, so the test thread can run the real
//! `dbx` binary (assert_cmd, blocking) while the server keeps answering. Each `Env` has
//! its own config dir and working dir.
#![allow(dead_code)]

pub mod devices;
pub mod proxy;

use std::future::Future;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dbx_server::app::{start, RunningServer};
use dbx_server::config::ServeArgs;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

pub struct Env {
    /// The server's base URL.
    pub server: String,
    /// `DBX_CONFIG_DIR` of every `dbx` run.
    pub config: TempDir,
    /// The working dir of every `dbx` run.
    pub work: TempDir,
    data: TempDir,
    args: ServeArgs,
    running: Option<RunningServer>,
    rt: tokio::runtime::Runtime,
}

impl Env {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts with server settings adjusted by `tweak` (token lifetimes, ...).
    pub fn start_with(tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::tempdir().expect("data dir");
        let mut args = ServeArgs::for_data_dir(data.path().to_path_buf());
        tweak(&mut args);
        let running = rt.block_on(start(args.clone())).expect("server starts");
        Env {
            server: format!("http://{}", running.addr),
            config: tempfile::tempdir().expect("config dir"),
            work: tempfile::tempdir().expect("work dir"),
            data,
            args,
            running: Some(running),
            rt,
        }
    }

    /// Stops the server and starts it again on the same data (on a new port, which
    /// becomes `self.server`).
    pub fn restart_server(&mut self) {
        if let Some(s) = self.running.take() {
            self.rt.block_on(s.shutdown());
        }
        let running = self
            .rt
            .block_on(start(self.args.clone()))
            .expect("server starts again");
        self.server = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    /// `dbx` for this test: its config dir, its server, run in its work dir.
    pub fn dbx(&self) -> Command {
        let mut c = Command::cargo_bin("dbx").expect("the dbx binary");
        c.current_dir(self.work.path())
            .env("DBX_CONFIG_DIR", self.config.path())
            .env("DBX_SERVER", &self.server)
            .env_remove("DBX_TRANSFERS")
            .env_remove("DBX_EMAIL")
            .env_remove("RUST_LOG");
        c
    }

    /// Registers (which also logs in) a new account through the CLI.
    pub fn register(&self, email: &str) {
        self.dbx()
            .args(["register", "--email", email, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .success();
    }

    pub fn login(&self, email: &str) {
        self.dbx()
            .args(["login", "--email", email, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .success();
    }

    /// A path in the work dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config.path().join("credentials.json")
    }

    pub fn credentials(&self) -> serde_json::Value {
        let bytes = std::fs::read(self.credentials_path()).expect("credentials file");
        serde_json::from_slice(&bytes).expect("credentials json")
    }

    pub fn set_credentials(&self, v: &serde_json::Value) {
        std::fs::write(
            self.credentials_path(),
            serde_json::to_vec(v).expect("json"),
        )
        .expect("write");
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// `dbx ls --json PATH`, parsed.
    pub fn ls_json(&self, path: &str) -> serde_json::Value {
        let out = self.dbx().args(["ls", "--json", path]).assert().success();
        serde_json::from_slice(&out.get_output().stdout).expect("ls --json is JSON")
    }

    /// The entry at `path` by way of the CLI, if there is one.
    pub fn remote_entry(&self, path: &str) -> Option<serde_json::Value> {
        let out = self
            .dbx()
            .args(["ls", "--json", path])
            .output()
            .expect("runs");
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        Some(v)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.running.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// Stderr of a run as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file and folder below `root`, relative, with file contents: two trees are
/// the same when these are equal.
pub fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                out.push((rel, None));
                stack.push(p);
            } else {
                out.push((rel, Some(std::fs::read(&p).expect("read"))));
            }
        }
    }
    out.sort();
    out
}

/// `n` bytes that are not all alike.
pub fn data(n: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}
