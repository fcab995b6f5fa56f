//! Sync test harness: one real dbx-server in this process (on its own runtime, so the
//! test thread can block on `dbx` runs), and "devices", each a real `dbx` process with its
//! own config dir and folder, logged in as the same user.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use dbx_server::app::{start, RunningServer};
use dbx_server::config::ServeArgs;
use tempfile::TempDir;

use super::PASSWORD;

/// The server, on its own runtime so that the test thread can block on `dbx` runs.
pub struct Server {
    pub url: String,
    pub data: TempDir,
    running: Option<RunningServer>,
    rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::tempdir().expect("data dir");
        let args = ServeArgs::for_data_dir(data.path().to_path_buf());
        let running = rt.block_on(start(args)).expect("server starts");
        Server {
            url: format!("http://{}", running.addr),
            data,
            running: Some(running),
            rt,
        }
    }

    /// Stops the server (the data stays), runs `during`, and starts it again on the
    /// same address.
    pub fn outage(&mut self, during: impl FnOnce()) {
        let addr = self.running.as_ref().expect("running").addr;
        if let Some(s) = self.running.take() {
            self.rt.block_on(s.shutdown());
        }
        during();
        let mut args = ServeArgs::for_data_dir(self.data.path().to_path_buf());
        args.listen = addr;
        self.running = Some(self.rt.block_on(start(args)).expect("server starts again"));
    }

    /// Two devices of one new user.
    pub fn pair(&self) -> (Device, Device) {
        let email = format!(
            "u{}@example.com",
            std::process::id() as u64 * 1000 + rand_suffix()
        );
        let a = Device::new(self, "dev-a");
        let b = Device::new(self, "dev-b");
        a.dbx()
            .args(["register", "--email", &email, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .success();
        b.dbx()
            .args(["login", "--email", &email, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .success();
        (a, b)
    }
}

pub fn rand_suffix() -> u64 {
    use rand::Rng;
    rand::rng().random_range(0..1_000_000)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.running.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// One device: a config dir and a synced folder.
pub struct Device {
    pub name: String,
    pub server: String,
    pub config: TempDir,
    pub dir: TempDir,
}

impl Device {
    pub fn new(server: &Server, name: &str) -> Device {
        Device {
            name: name.to_string(),
            server: server.url.clone(),
            config: tempfile::tempdir().expect("config"),
            dir: tempfile::tempdir().expect("folder"),
        }
    }

    pub fn dbx(&self) -> Command {
        let mut c = Command::cargo_bin("dbx").expect("the dbx binary");
        c.env("DBX_CONFIG_DIR", self.config.path())
            .env("DBX_SERVER", &self.server)
            .env("DBX_DEVICE", &self.name)
            .env_remove("DBX_REMOTE")
            .env_remove("DBX_ALLOW_MASS_DELETE")
            .env_remove("DBX_WATCH");
        c
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)).ok()
    }

    /// One pass, which must succeed; returns its stderr.
    pub fn sync(&self) -> String {
        let out = self.dbx().arg("sync").arg(self.root()).assert().success();
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    }

    /// `dbx sync --watch`, running.
    pub fn watch(&self) -> Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dbx"))
            .env("DBX_CONFIG_DIR", self.config.path())
            .env("DBX_SERVER", &self.server)
            .env("DBX_DEVICE", &self.name)
            .arg("sync")
            .arg(self.root())
            .arg("--watch")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dbx sync --watch starts")
    }

    /// Files and folders below the root (without `.dbx`), with file contents.
    pub fn tree(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let rel = p
                    .strip_prefix(self.root())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel == ".dbx" {
                    continue;
                }
                if p.is_dir() {
                    out.push((rel, None));
                    stack.push(p);
                } else {
                    out.push((rel, Some(std::fs::read(&p).unwrap())));
                }
            }
        }
        out.sort();
        out
    }

    pub fn names(&self) -> Vec<String> {
        self.tree().into_iter().map(|(p, _)| p).collect()
    }
}

/// Polls `cond` every 100 ms for up to 20 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for: {what}");
}

/// Stops a daemon with SIGTERM; it must exit cleanly.
pub fn stop(child: Child) -> String {
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    let out = child.wait_with_output().expect("daemon exits");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "daemon exit {:?}: {err}", out.status);
    err
}
