//! `dbx sync --watch`: a pass at start, then one whenever the local folder changes
//! (notify, debounced), the server reports a change (`/delta/wait` long-poll, backing off
//! while the server is unreachable), and every few minutes as a full rescan anyway, until
//! SIGINT or SIGTERM. A signal lets the op in flight finish; the pass stops after it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult};
use tokio::sync::{mpsc, watch};

use super::engine::{is_fatal, Engine};
use super::http;
use super::state::STATE_DIR;
use crate::api::{Api, ClientError};

/// A full pass this often even when no event came (missed events, watch limits).
const RESCAN: Duration = Duration::from_secs(300);
/// Without local events (watch limit reached), rescan this often instead.
const RESCAN_UNWATCHED: Duration = Duration::from_secs(30);
/// The next look when files were still being written.
const RETRY: Duration = Duration::from_secs(1);
/// How long one long-poll waits on the server.
const WAIT_S: u64 = 60;
/// How long local events are gathered before a pass.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// After a wake-up, how long more wake-ups (a burst of events, the server's and ours) are
/// gathered into the same pass.
const GATHER: Duration = Duration::from_millis(50);

/// Keeps syncing until a signal.
pub async fn run(engine: &mut Engine) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    spawn_signals(stop.clone(), tx.clone())?;
    let _debouncer = match watch_local(engine.root(), tx.clone()) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!(
                "warning: {e}; rescanning every {} s instead",
                RESCAN_UNWATCHED.as_secs()
            );
            None
        }
    };
    let rescan = if _debouncer.is_some() {
        RESCAN
    } else {
        RESCAN_UNWATCHED
    };
    let (cursor_tx, cursor_rx) = watch::channel(engine.cursor()?);
    let waiter = tokio::spawn(wait_remote(engine.api().clone(), cursor_rx, tx.clone()));
    eprintln!("watching {} (Ctrl-C to stop)", engine.root().display());
    let mut backoff = Duration::from_secs(1);
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        // How long to wait for an event before the next pass.
        let mut next = rescan;
        match engine.pass(&stop).await {
            Ok(report) => {
                if report.failed > 0 {
                    // Some ops failed: try again, a little later each time.
                    next = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                } else {
                    backoff = Duration::from_secs(1);
                    if report.busy > 0 {
                        // Files still being written: look again once they may be done.
                        next = RETRY;
                    }
                }
            }
            Err(e) => {
                if e.chain().any(|c| {
                    matches!(
                        c.downcast_ref::<ClientError>(),
                        Some(ClientError::NotLoggedIn)
                    )
                }) {
                    break Err(e);
                }
                eprintln!("error: {e:#}");
                if is_fatal(&e) {
                    // The server is unreachable: try again, a little later each time.
                    next = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
        let _ = cursor_tx.send(engine.cursor()?);
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        // Wait for a reason to run again, then let a burst of wake-ups gather.
        let _ = tokio::time::timeout(next, rx.recv()).await;
        tokio::time::sleep(GATHER).await;
        while rx.try_recv().is_ok() {}
    };
    waiter.abort();
    if result.is_ok() {
        eprintln!("stopped");
    }
    result
}

/// SIGINT and SIGTERM set `stop` and wake the loop.
pub fn spawn_signals(stop: Arc<AtomicBool>, tx: mpsc::UnboundedSender<()>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("stopping after the transfer in flight");
        stop.store(true, Ordering::SeqCst);
        let _ = tx.send(());
    });
    Ok(())
}

/// Watches the folder; each burst of changes outside `.dbx` sends one wake-up.
fn watch_local(
    root: &Path,
    tx: mpsc::UnboundedSender<()>,
) -> anyhow::Result<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
> {
    let state_dir = root.join(STATE_DIR);
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |res: DebounceEventResult| {
        let relevant = match res {
            Ok(events) => events
                .iter()
                .any(|e| e.paths.iter().any(|p| !p.starts_with(&state_dir))),
            Err(errors) => {
                for e in errors {
                    eprintln!("warning: watching the folder: {}", explain(&e));
                }
                true
            }
        };
        if relevant {
            let _ = tx.send(());
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot watch the folder: {}", explain(&e)))?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| anyhow::anyhow!("cannot watch {}: {}", root.display(), explain(&e)))?;
    Ok(debouncer)
}

/// A watch error in words; running out of inotify watches says what to do about it.
fn explain(e: &notify::Error) -> String {
    let out_of_watches = matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
        || matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(28));
    if out_of_watches {
        "the system ran out of inotify watches (one is needed per folder); raise the limit, \
         e.g. `sudo sysctl fs.inotify.max_user_watches=524288`"
            .to_string()
    } else {
        e.to_string()
    }
}

/// Long-polls the server for changes after the latest cursor; wakes the loop on one.
async fn wait_remote(
    api: Arc<Api>,
    mut cursor: watch::Receiver<Option<String>>,
    tx: mpsc::UnboundedSender<()>,
) {
    let mut backoff = Duration::from_secs(1);
    let mut told = false;
    loop {
        let c = cursor.borrow_and_update().clone();
        match http::wait(&api, c.as_deref(), WAIT_S).await {
            Ok(changed) => {
                backoff = Duration::from_secs(1);
                told = false;
                if changed {
                    let _ = tx.send(());
                    // Wait for the pass to move the cursor on before polling again.
                    let _ = tokio::time::timeout(Duration::from_secs(30), cursor.changed()).await;
                }
            }
            Err(e) => {
                if !told {
                    eprintln!("warning: waiting for server changes: {e}; retrying");
                    told = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}
