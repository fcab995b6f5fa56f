//! Child processes: the dbx-server under test, and timed runs of the `dbx` client with their
//! peak resident memory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

use crate::util::{proc_status_kib, reset_peak_rss, tail};

/// How long a server may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a server may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Removes every `DBX_` variable the bench itself was given, so that a child sees only
/// what the bench sets for it.
fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DBX_") {
            cmd.env_remove(key);
        }
    }
}

/// A running `dbx-server serve`, killed if dropped.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `bin serve` on 127.0.0.1 with a port the kernel picks, with `env` as its only
    /// `DBX_` settings; returns once it said where it listens and `/healthz` answers.
    pub async fn start(
        bin: &Path,
        env: &[(String, String)],
        log: &Path,
        http: &reqwest::Client,
    ) -> Result<ServerProcess> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve");
        clean_env(&mut cmd);
        cmd.env("DBX_LISTEN", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("dbx-server exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout of dbx-server"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.trim().strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(rest.trim().to_string()));
                }
            }
            Ok(None)
        })
        .await;
        let base_url = match addr {
            Ok(Ok(Some(url))) => url,
            Ok(_) => bail!("dbx-server exited before it listened: {}", tail(log, 3)),
            Err(_) => bail!(
                "dbx-server did not listen within {} s: {}",
                START_TIMEOUT.as_secs(),
                tail(log, 3)
            ),
        };
        if !base_url.starts_with("http://127.0.0.1:") {
            bail!("dbx-server listens on {base_url}, not on 127.0.0.1");
        }
        // Keep reading its stdout so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let server = ServerProcess {
            child,
            pid,
            base_url,
            log: log.to_path_buf(),
        };
        for _ in 0..100 {
            let ok = http
                .get(format!("{}/healthz", server.base_url))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ok {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("dbx-server at {} never answered /healthz", server.base_url)
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid, "VmHWM")
    }

    /// Current resident memory (VmRSS) in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid, "VmRSS")
    }

    /// Resets VmHWM to the current RSS; false when not possible.
    pub fn reset_peak(&self) -> bool {
        reset_peak_rss(self.pid)
    }

    /// SIGTERM, then a kill if it has not stopped in time.
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        match timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.child.kill().await.context("killing dbx-server")?;
                bail!(
                    "dbx-server did not stop within {} s of SIGTERM: killed (log: {})",
                    STOP_TIMEOUT.as_secs(),
                    self.log.display()
                )
            }
        }
    }
}

/// One finished run of a command.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    pub took: Duration,
    /// Peak resident memory of the command, in KiB, when measured.
    pub peak_kib: Option<u64>,
}

/// How a command's peak memory is measured.
pub fn rss_method() -> &'static str {
    if Path::new(TIME_BIN).is_file() {
        "GNU time %M (maximum resident set size)"
    } else {
        "VmHWM from /proc, polled every 10 ms"
    }
}

const TIME_BIN: &str = "/usr/bin/time";

/// Environment and logging of a command the bench runs.
pub struct CmdSpec<'a> {
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// Set after every inherited `DBX_` variable was removed.
    pub env: Vec<(String, String)>,
    pub stdin: Option<String>,
    /// stdout and stderr are appended here.
    pub log: &'a Path,
    pub limit: Duration,
    pub measure_rss: bool,
}

/// Runs a command to its end (killed after `limit`), timing it and, if asked, measuring
/// its peak resident memory.
pub async fn run(spec: CmdSpec<'_>) -> Result<Ran> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(spec.log)
        .with_context(|| format!("cannot open {}", spec.log.display()))?;
    let log2 = log.try_clone()?;
    let use_time = spec.measure_rss && Path::new(TIME_BIN).is_file();
    let rss_file = spec.log.with_extension("maxrss");
    let mut cmd = if use_time {
        let mut c = Command::new(TIME_BIN);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
        c.arg(spec.program);
        c
    } else {
        Command::new(spec.program)
    };
    cmd.args(&spec.args);
    clean_env(&mut cmd);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::from(log))
    .stderr(Stdio::from(log2))
    .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", spec.program.display()))?;
    if let Some(input) = &spec.stdin {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).await?;
            stdin.shutdown().await?;
        }
    }
    let pid = child.id();
    let poll = spec.measure_rss && !use_time;
    let mut polled_peak: Option<u64> = None;
    let deadline = started + spec.limit;
    let status = loop {
        let wait = tokio::time::sleep(if poll {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(500)
        });
        tokio::select! {
            status = child.wait() => break status?,
            _ = wait => {
                if poll {
                    if let Some(kib) = pid.and_then(|p| proc_status_kib(p, "VmHWM")) {
                        polled_peak = Some(polled_peak.map_or(kib, |m| m.max(kib)));
                    }
                }
                if Instant::now() >= deadline {
                    let _ = child.kill().await;
                    bail!(
                        "{} did not finish within {} s: killed (log: {})",
                        spec.program.display(),
                        spec.limit.as_secs(),
                        spec.log.display()
                    );
                }
            }
        }
    };
    let took = started.elapsed();
    let peak_kib = if use_time {
        std::fs::read_to_string(&rss_file)
            .ok()
            .and_then(|t| t.lines().rev().find_map(|l| l.trim().parse::<u64>().ok()))
    } else {
        polled_peak
    };
    Ok(Ran {
        success: status.success(),
        took,
        peak_kib,
    })
}
