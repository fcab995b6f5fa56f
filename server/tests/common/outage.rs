//! Backends of a test's own that it may stop and start: a Garage (through
//! scripts/s3-server.sh with a state dir and ports of its own) and a throwaway Postgres
//! cluster (initdb/pg_ctl in a temp dir). Never the shared ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < Duration::from_secs(60), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub struct OwnGarage {
    state: tempfile::TempDir,
    port: u16,
    rpc_port: u16,
}

impl OwnGarage {
    /// Starts a Garage of this test's own; `None` when Garage is not installed (and not
    /// under CI, where that fails the test).
    pub fn start() -> Option<OwnGarage> {
        let installed = Command::new("sh")
            .args([
                "-c",
                "command -v garage || test -x \"$HOME/.cargo/bin/garage\"",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(!super::pg::in_ci(), "Garage is required under CI");
            eprintln!("skipped: Garage is not installed");
            return None;
        }
        let g = OwnGarage {
            state: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            rpc_port: free_port(),
        };
        g.up();
        Some(g)
    }

    fn script(&self, cmd: &str) -> std::process::Output {
        Command::new("bash")
            .arg(repo_root().join("scripts/s3-server.sh"))
            .arg(cmd)
            .env("DBX_S3_STATE_DIR", self.state.path())
            .env("DBX_S3_PORT", self.port.to_string())
            .env("DBX_S3_RPC_PORT", self.rpc_port.to_string())
            .output()
            .expect("s3-server.sh")
    }

    /// Starts (again) on the same state: the bucket and its objects are back.
    pub fn up(&self) {
        let out = self.script("start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the process, keeping its state, as a crash or a restart would.
    pub fn down(&self) {
        let pid = std::fs::read_to_string(self.state.path().join("garage.pid")).expect("pid");
        let status = Command::new("kill").arg(pid.trim()).status().expect("kill");
        assert!(status.success());
        wait_until("garage stops", || !port_open(self.port));
    }

    /// The `DBX_S3_*` settings.
    pub fn env(&self) -> HashMap<String, String> {
        let out = self.script("env");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Drop for OwnGarage {
    fn drop(&mut self) {
        let _ = self.script("stop");
    }
}

pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl OwnPostgres {
    /// A throwaway cluster of this test's own; `None` without PostgreSQL's binaries (and
    /// not under CI).
    pub fn start() -> Option<OwnPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path().join("bin"))
                .find(|b| b.join("initdb").exists())
        });
        let Some(bin) = bin else {
            assert!(
                !super::pg::in_ci(),
                "PostgreSQL's binaries are required under CI"
            );
            eprintln!("skipped: no initdb");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let pg = OwnPostgres {
            dir,
            bin,
            port: free_port(),
        };
        // initdb refuses to run as root: the cluster belongs to the postgres user then.
        if pg.as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let data = pg.data();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust"]);
        pg.up();
        Some(pg)
    }

    fn as_root(&self) -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().expect(tool);
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn up(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-o", &opts, "-w", "start"],
        );
    }

    /// Stops the server at once (`immediate`: as if it crashed).
    pub fn down(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}
