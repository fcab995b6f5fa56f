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
//! The log is reused from its start only by a writer that begins when a checkpoint has
//! copied all of it and no reader still reads from it. Under steady writes that moment
//! never comes: each checkpoint running beside the writers ends a few pages behind. The
//! log then grew to the pool's automatic checkpoint mark (4,000 pages), where every
//! commit checkpointed again with two more fsyncs, and writes ran slower than they
//! arrived: a queue of 100-300 ms built up until the writes paused. So once the log has
//! grown past [`RESTART_AT`] pages, this thread takes the writer turn itself, copies the
//! few pages written since its last pass and waits for the readers still in the log
//! (a RESTART checkpoint, bounded by [`RESTART_WAIT`]); the next writer then reuses the
//! log from its start. Writers wait for that short step, not for a whole copy.
//! The automatic checkpoint stays as a backstop, for writes from another process.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::Connection;

/// How long the thread waits after a wake-up before it checkpoints, so one checkpoint
/// covers the commits of a burst.
const GATHER: Duration = Duration::from_millis(50);
/// A checkpoint at least this often while nothing wakes the thread (writes from another
/// process on the same file).
const IDLE: Duration = Duration::from_secs(1);
/// Pages in the log past which the log is restarted under the writer turn (SQLite's own
/// automatic checkpoint mark; a page is 4 KiB).
const RESTART_AT: i64 = 1000;
/// The longest the restart waits, holding the writer turn, for readers to leave the log
/// (or for a writer of another process); past it the log is left for the next pass.
const RESTART_WAIT: Duration = Duration::from_millis(20);
/// The busy handler's pause between two looks at the readers during a restart.
const RESTART_POLL: Duration = Duration::from_micros(250);
/// Restarts tried in one pass before the log is left for the next: a reader held up by a
/// busy machine can outlast one wait, and the next pass may be 50 ms and many pages later.
const RESTART_TRIES: usize = 3;
/// How many pauses fit in [`RESTART_WAIT`].
const RESTART_POLLS: i32 = (RESTART_WAIT.as_micros() / RESTART_POLL.as_micros()) as i32;

/// Wakes the checkpoint thread; the thread ends when this is dropped.
pub(super) struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the database at `path`;
    /// `writer_turn` is the lock this process's writers take before they begin.
    pub(super) fn start(path: &Path, writer_turn: Arc<Mutex<()>>) -> std::io::Result<Self> {
        let conn = Connection::open(path)
            .and_then(|c| c.busy_handler(Some(wait_briefly)).map(|()| c))
            .map_err(std::io::Error::other)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut restart_near = false;
                loop {
                    match woken.recv_timeout(IDLE) {
                        // A restart that is near is not put off to gather a burst: the
                        // log grows by a page or ten with every commit meanwhile.
                        Ok(()) if !restart_near => thread::sleep(GATHER),
                        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            checkpoint(&conn, &writer_turn);
                            return;
                        }
                    }
                    restart_near = checkpoint(&conn, &writer_turn) >= RESTART_AT / 2;
                }
            })?;
        Ok(Checkpointer { wake })
    }

    /// Called after each commit: asks for a checkpoint soon, without waiting for it.
    pub(super) fn committed(&self) {
        let _ = self.wake.try_send(());
    }
}

/// Copies the log into the database beside the writers, then restarts the log under
/// the writer turn if it has grown past [`RESTART_AT`]; returns the log's length in pages
/// as this pass left it. A checkpoint that fails or is busy leaves the log as it is; the
/// next pass catches up.
fn checkpoint(conn: &Connection, writer_turn: &Mutex<()>) -> i64 {
    let log_pages = match run(conn, "PASSIVE") {
        Ok(pass) => pass.log_pages,
        Err(e) => {
            tracing::warn!("sqlite checkpoint: {e}");
            return 0;
        }
    };
    if log_pages < RESTART_AT {
        return log_pages;
    }
    for _ in 0..RESTART_TRIES {
        // The turn is let go between tries, so writers are held up for one try at most.
        let turn = writer_turn.lock();
        let restart = run(conn, "RESTART");
        MutexGuard::unlock_fair(turn);
        match restart {
            // The next writer starts the log over.
            Ok(r) if !r.busy => return 0,
            Ok(_) => thread::sleep(RESTART_POLL),
            Err(e) => {
                tracing::warn!("sqlite log restart: {e}");
                return log_pages;
            }
        }
    }
    tracing::debug!("sqlite log restart: readers stayed, left for the next pass");
    log_pages
}

/// What a checkpoint reports.
struct Pass {
    /// It could not finish: a reader or another writer held the log past the busy handler.
    busy: bool,
    log_pages: i64,
}

fn run(conn: &Connection, mode: &str) -> rusqlite::Result<Pass> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok(Pass {
            busy: r.get::<_, i64>(0)? != 0,
            log_pages: r.get(1)?,
        })
    })
}

/// SQLite's busy handler for this connection: polls every [`RESTART_POLL`] up to
/// [`RESTART_WAIT`] (a PASSIVE checkpoint never calls it).
fn wait_briefly(attempts: i32) -> bool {
    if attempts >= RESTART_POLLS {
        return false;
    }
    thread::sleep(RESTART_POLL);
    true
}
