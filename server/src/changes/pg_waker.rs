//! Wakes long-polls across server processes that share one Postgres database: every
//! committed change sends `NOTIFY dbx_changes, '<user id>'` (see `metadata::postgres`), and
//! a dedicated thread of each process LISTENs on that channel and wakes the polls held
//! here. Local writes still wake local polls directly, without the round trip.
//!
//! The listening connection is a plain blocking client on a thread of its own (never on a
//! tokio worker). When it drops, the thread reconnects with back-off, and then wakes every
//! poll held here: a change may have landed meanwhile, and a poll woken for nothing just
//! looks again and goes back to waiting.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};
use tokio::sync::watch;

use super::waker::{ChangeWaker, LocalWaker};
use crate::metadata::postgres::{describe, is_postgres_url, one_line, parse_url, CHANGES_CHANNEL};

/// How long the listener blocks before checking whether it is still wanted.
const POLL: Duration = Duration::from_secs(1);
/// How often an idle listening connection is probed, so a dead one is noticed.
const PROBE_EVERY: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The listening connection's `application_name`, to tell it apart in `pg_stat_activity`.
pub const LISTENER_NAME: &str = "dbx-server-listen";

/// The waker for a database URL: a [`PgWaker`] for Postgres, a [`LocalWaker`] otherwise
/// (one SQLite database is only ever served by one process).
pub async fn for_database_url(url: &str) -> anyhow::Result<Arc<dyn ChangeWaker>> {
    if !is_postgres_url(url) {
        return Ok(Arc::new(LocalWaker::default()));
    }
    let url = url.to_string();
    let waker = tokio::task::spawn_blocking(move || PgWaker::start(&url)).await??;
    Ok(Arc::new(waker))
}

/// A [`LocalWaker`] that is also woken by other processes' changes, through Postgres.
pub struct PgWaker {
    inner: Arc<Inner>,
}

struct Inner {
    local: LocalWaker,
    /// Users with a poll subscribed since their last wake-up: who to wake after a
    /// reconnect, when notifications may have been missed.
    watched: Mutex<HashSet<String>>,
}

impl Inner {
    fn wake(&self, user_id: &str) {
        self.watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user_id);
        self.local.notify(user_id);
    }

    fn wake_all(&self) {
        let users = std::mem::take(&mut *self.watched.lock().unwrap_or_else(|p| p.into_inner()));
        for user in users {
            self.local.notify(&user);
        }
    }
}

impl PgWaker {
    /// Connects, starts listening, and hands the connection to a listener thread, which
    /// runs until the waker is dropped. Blocks until listening: call it off the async
    /// workers. Fails when the database cannot be reached.
    pub fn start(url: &str) -> anyhow::Result<Self> {
        let mut config = parse_url(url)?;
        config.application_name(LISTENER_NAME);
        let client = listen(&config)?;
        let inner = Arc::new(Inner {
            local: LocalWaker::default(),
            watched: Mutex::new(HashSet::new()),
        });
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("dbx-pg-listen".into())
            .spawn(move || run(config, client, weak))
            .context("starting the Postgres listener thread")?;
        Ok(PgWaker { inner })
    }
}

impl ChangeWaker for PgWaker {
    fn subscribe(&self, user_id: &str) -> watch::Receiver<u64> {
        self.inner
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user_id.to_string());
        self.inner.local.subscribe(user_id)
    }

    fn notify(&self, user_id: &str) {
        self.inner.wake(user_id);
    }
}

/// A new connection that LISTENs on the changes channel.
fn listen(config: &Config) -> anyhow::Result<Client> {
    let target = describe(config);
    let mut client = config
        .connect(NoTls)
        .map_err(|e| anyhow::anyhow!("cannot connect to Postgres at {target}: {}", one_line(&e)))?;
    client
        .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .map_err(|e| anyhow::anyhow!("cannot LISTEN on Postgres at {target}: {}", one_line(&e)))?;
    Ok(client)
}

/// The listener thread: serves a connection until it drops, then reconnects with back-off;
/// returns when the waker is gone.
fn run(config: Config, mut client: Client, waker: Weak<Inner>) {
    loop {
        match serve(&mut client, &waker) {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "lost the Postgres change listener; reconnecting"),
        }
        let mut backoff = MIN_BACKOFF;
        client = loop {
            thread::sleep(backoff);
            if waker.strong_count() == 0 {
                return;
            }
            match listen(&config) {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "Postgres change listener");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        tracing::info!("Postgres change listener reconnected");
        match waker.upgrade() {
            Some(inner) => inner.wake_all(),
            None => return,
        }
    }
}

/// Wakes local polls for each notification; `Ok` when the waker is gone, `Err` when the
/// connection is.
fn serve(client: &mut Client, waker: &Weak<Inner>) -> Result<(), String> {
    let mut probed = Instant::now();
    loop {
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(POLL);
            while let Some(n) = iter.next().map_err(|e| one_line(&e))? {
                match waker.upgrade() {
                    Some(inner) => inner.wake(n.payload()),
                    None => return Ok(()),
                }
            }
        }
        if waker.strong_count() == 0 {
            return Ok(());
        }
        if client.is_closed() {
            return Err("the connection was closed".into());
        }
        if probed.elapsed() >= PROBE_EVERY {
            client.batch_execute("").map_err(|e| one_line(&e))?;
            probed = Instant::now();
        }
    }
}
