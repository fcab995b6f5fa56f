//! Fresh Postgres databases for tests: one per test, `dbx_t_<uuid v7>`, created on the
//! server at `DBX_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Every call runs on a thread of its own, because the blocking `postgres` client panics
//! on a tokio worker thread and these helpers are called from async tests too.

use std::time::Duration;

use postgres::{Client, NoTls};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Databases left behind by tests that did not clean up (a crash, a leaked one) are
/// dropped by later runs once they are this old.
const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// The server to create test databases on.
pub fn admin_url() -> String {
    std::env::var("DBX_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// True under CI, where a missing backend fails the tests instead of skipping them.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A database of its own, dropped (best effort) when this goes out of scope.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// Creates a fresh database; `Err` with the reason when the server cannot be reached.
    pub fn create() -> Result<TestDatabase, String> {
        let admin = admin_url();
        let name = format!("dbx_t_{}", uuid::Uuid::now_v7().simple());
        let url = with_database(&admin, &name)?;
        let created = name.clone();
        off_runtime(move || {
            let mut client = connect(&admin)?;
            drop_stale(&mut client);
            // An ICU en-US default collation on purpose: it sorts "_x" before "10" and "é"
            // before "z", so a query that forgets the bytewise "C" collation fails here
            // rather than on a production server whose default is not C.
            let icu = format!(
                "CREATE DATABASE {created} TEMPLATE template0 ENCODING 'UTF8' \
                 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
            );
            if client.batch_execute(&icu).is_ok() {
                return Ok(());
            }
            client
                .batch_execute(&format!("CREATE DATABASE {created} TEMPLATE template0"))
                .map_err(|e| format!("creating database {created}: {}", with_causes(&e)))
        })?;
        Ok(TestDatabase { url, name })
    }

    /// Creates a fresh database that outlives this process (cleaned up by later runs
    /// after a while); panics when Postgres cannot be reached.
    pub fn create_leaked() -> String {
        let db = TestDatabase::create()
            .unwrap_or_else(|e| panic!("Postgres at {} is required: {e}", admin_url()));
        let url = db.url.clone();
        std::mem::forget(db);
        url
    }

    /// A fresh database, or `None` (and a note on stderr) when Postgres cannot be reached;
    /// under `CI=true` an unreachable Postgres fails the test instead.
    pub fn or_skip(test: &str) -> Option<TestDatabase> {
        match TestDatabase::create() {
            Ok(db) => Some(db),
            Err(e) if in_ci() => panic!("Postgres at {} is required under CI: {e}", admin_url()),
            Err(e) => {
                eprintln!(
                    "skipped {test}: Postgres at {} is unreachable: {e}",
                    admin_url()
                );
                None
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = admin_url();
        let name = self.name.clone();
        let _ = off_runtime(move || {
            let mut client = connect(&admin)?;
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .map_err(|e| with_causes(&e))
        });
    }
}

/// Runs `sql` (several statements) on the database at `url`, off the async runtime.
pub fn batch_execute(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || {
        connect(&url)?
            .batch_execute(&sql)
            .map_err(|e| with_causes(&e))
    })
}

fn connect(url: &str) -> Result<Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    config.connect_timeout(Duration::from_secs(5));
    config.connect(NoTls).map_err(|e| with_causes(&e))
}

/// The `postgres` crate's error text names only the kind; the reason is in the causes.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// `url` with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> Result<String, String> {
    let scheme_end = url.find("://").ok_or("not a URL")? + 3;
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    Ok(format!("{base}/{name}{query}"))
}

/// Drops test databases whose v7 id says they were made more than `STALE_AFTER` ago.
fn drop_stale(client: &mut Client) {
    let Ok(rows) = client.query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'dbx\\_t\\_%'",
        &[],
    ) else {
        return;
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    for row in rows {
        let name: String = row.get(0);
        let made_ms = name
            .get(6..18)
            .and_then(|hex| i64::from_str_radix(hex, 16).ok());
        if made_ms.is_some_and(|ms| now_ms - ms > STALE_AFTER.as_millis() as i64) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Runs `f` on a thread of its own (never on a tokio worker) and waits for it.
fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|_| Err("the Postgres helper thread panicked".into()))
}
