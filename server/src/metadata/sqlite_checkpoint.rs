//! Checkpoints SQLite's write-ahead log on a thread of its own.
//!
//! SQLite's automatic checkpoint runs in the connection that commits, right after the
//! commit, while this process's writer turn (`SqliteRepo::write`) is still held: about
//! every thousand pages one write paid for copying the log into the database and its
//! fsyncs, and every writer queued behind it waited too. That was the stall of tens of
//! milliseconds at the tail of write latencies. Here this thread checkpoints soon after
//! commits, without holding any writer's turn (a PASSIVE checkpoint waits for no reader
//! or writer), so the log's pages are nearly all copied already when it is reused.
//!
//! The log is reused from its start only once a checkpoint has copied all of it, and
//! under writes that never pause a checkpoint running beside them never catches up. So
//! the pool's connections keep an automatic checkpoint at a higher mark (4,000 pages
//! instead of 1,000) as a backstop: it bounds the log, and since this thread has copied
//! most of it, it costs the writer little more than one fsync.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

/// How long the thread waits after a wake-up before it checkpoints, so one checkpoint
/// covers the commits of a burst.
const GATHER: Duration = Duration::from_millis(50);
/// A checkpoint at least this often while nothing wakes the thread (writes from another
/// process on the same file).
const IDLE: Duration = Duration::from_secs(1);

/// Wakes the checkpoint thread; the thread ends when this is dropped.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the database at `path`.
    pub(super) fn start(path: &Path) -> std::io::Result<Self> {
        let conn = Connection::open(path)
            .and_then(|c| c.execute_batch("PRAGMA busy_timeout = 10000;").map(|()| c))
            .map_err(std::io::Error::other)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || loop {
                match woken.recv_timeout(IDLE) {
                    Ok(()) => thread::sleep(GATHER),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        checkpoint(&conn);
                        return;
                    }
                }
                checkpoint(&conn);
            })?;
        Ok(Checkpointer { wake })
    }

    /// Called after each commit: asks for a checkpoint soon, without waiting for it.
    pub(super) fn committed(&self) {
        let _ = self.wake.try_send(());
    }
}

fn checkpoint(conn: &Connection) {
    // A failed checkpoint leaves the log as it is; the next one catches up.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!("sqlite checkpoint: {e}");
    }
}
