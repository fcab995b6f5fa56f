//! `dbx-server` as a real child process on a free port, with its own data dir and the
//! embedded backends (SQLite and the filesystem store), for tests that need what only a
//! whole process shows: its memory, its files, its log, its exit.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_dbx-server");

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub data: PathBuf,
}

/// A `dbx-server` command on `data` with the embedded backends, whatever the environment.
pub fn command(data: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DBX_BLOB_STORE")
        .env_remove("DBX_DATABASE_URL")
        .env_remove("DBX_JWT_SECRET")
        .env_remove("DBX_REDIS_URL")
        .env_remove("DBX_TRUSTED_PROXIES")
        .env_remove("DBX_REGISTRATION")
        .env("DBX_DATA_DIR", data);
    cmd
}

/// Spawns a `serve` command and waits for its "listening on" line: the child and its base
/// URL, or (the child killed) the line it printed instead.
pub fn spawn_serving(mut cmd: Command) -> Result<(Child, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn dbx-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    match line.trim().strip_prefix("listening on ") {
        Some(base) => Ok((child, base.to_string())),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(line)
        }
    }
}

impl ServerProcess {
    /// Starts `serve` with `extra` arguments and waits for its "listening on" line; stderr
    /// (the log) is piped when `capture_log`.
    pub fn start(data: &Path, extra: &[&str], capture_log: bool) -> ServerProcess {
        let mut cmd = command(data);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(if capture_log {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let (child, addr) =
            spawn_serving(cmd).unwrap_or_else(|line| panic!("unexpected first line {line:?}"));
        ServerProcess {
            child,
            base: addr,
            data: data.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The peak resident memory of the process so far, in KiB (Linux's VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Kills the process (SIGKILL) and returns what it logged, if captured.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
