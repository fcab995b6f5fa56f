//! Wiring: opens the stores named by the configuration, builds the area services, and
//! runs the HTTP server until shutdown. The one place where the areas meet the front
//! doors: nothing in `http/` or `dav/` imports this module.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::changes::Delta;
use crate::config::{ServeArgs, StoreArgs};
use crate::files::Files;
use crate::gc::GcPolicy;
use crate::http::client_addr::TrustedProxies;
use crate::http::Services;
use crate::metadata::{postgres::PgRepo, sqlite::SqliteRepo, Db, Repository};
use crate::properties::Properties;
use crate::sharing::Shares;
use crate::storage::{self, BlobStore, S3Settings};
use crate::tiered_blobs::TieredBlobs;
use crate::trash::Trash;
use crate::uploads::Uploads;
use crate::versions::Versions;

/// Opens the metadata repository named by the URL and applies pending migrations.
pub fn open_repository(url: &str) -> anyhow::Result<Arc<dyn Repository>> {
    let repo: Arc<dyn Repository> = if url.starts_with("sqlite://") {
        Arc::new(SqliteRepo::open_url(url)?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PgRepo::open(url)?)
    } else {
        bail!("unknown database URL scheme: use sqlite://PATH or postgres://…")
    };
    repo.migrate().context("applying migrations")?;
    Ok(repo)
}

pub async fn open_blobs(store: &StoreArgs) -> anyhow::Result<Arc<dyn BlobStore>> {
    let settings = S3Settings {
        endpoint: store.s3_endpoint.clone(),
        region: store.s3_region.clone(),
        access_key: store.s3_access_key.clone(),
        secret_key: store.s3_secret_key.clone(),
    };
    Ok(storage::open(&store.blob_store_url(), &settings).await?)
}

/// Every blob, small content in the database (`db`) included: what the server, `gc` and
/// `check` read, list and remove blobs through.
pub async fn open_content(db: &Db, store: &StoreArgs) -> anyhow::Result<Arc<dyn BlobStore>> {
    let large = open_blobs(store).await?;
    Ok(Arc::new(TieredBlobs::new(db.clone(), large)))
}

/// The JWT secret: the flag's, or one made on first start and kept in the data dir.
fn jwt_secret(args: &ServeArgs) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &args.jwt_secret {
        if s.len() < 16 {
            bail!("--jwt-secret must be at least 16 characters");
        }
        return Ok(s.as_bytes().to_vec());
    }
    load_or_create_secret(&args.store.data_dir.join("jwt-secret"))
}

/// The shortest secret file accepted, in bytes: 256 bits of the generated one's 43
/// base64 characters, or a hand-made one of at least 32 characters.
const MIN_SECRET_FILE_BYTES: usize = 32;

/// Reads the secret file, refusing one that others may read or that is too short to
/// resist guessing (anyone who knows it can sign in as every user); makes one if absent.
fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => {
            let mode = crate::private_fs::mode(path)?;
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by others (mode {mode:o}): run chmod 600 on it",
                    path.display()
                );
            }
            let secret = s.trim();
            if secret.len() < MIN_SECRET_FILE_BYTES {
                bail!(
                    "{} holds a secret of {} bytes; it needs at least {MIN_SECRET_FILE_BYTES} \
                     (delete it to have a random one made)",
                    path.display(),
                    secret.len()
                );
            }
            return Ok(secret.as_bytes().to_vec());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let secret = crate::auth::tokens::random_token().map_err(anyhow::Error::msg)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::private_fs::FILE_MODE)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    Ok(secret.into_bytes())
}

/// A server running in this process.
pub struct RunningServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops taking requests, lets in-flight ones finish, and waits.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Waits until the server stops (after `shutdown` is requested elsewhere).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Opens everything, binds the listener and starts serving.
pub async fn start(args: ServeArgs) -> anyhow::Result<RunningServer> {
    crate::private_fs::create_dir(&args.store.data_dir)
        .with_context(|| format!("creating data dir {}", args.store.data_dir.display()))?;
    let url = args.store.database_url();
    let repo = tokio::task::spawn_blocking(move || open_repository(&url)).await??;
    let db = Db::new(repo);
    let blobs = open_content(&db, &args.store).await?;
    let secret = jwt_secret(&args)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));

    let shared = match &args.redis_url {
        Some(url) => Some(
            crate::auth::throttle::SharedCounters::connect(url, &args.redis_key_prefix)
                .await
                .map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let waker = crate::changes::pg_waker::for_database_url(&args.store.database_url()).await?;
    let files = Arc::new(Files::new(
        db.clone(),
        blobs.clone(),
        waker.clone(),
        args.max_upload_bytes,
        args.quota_bytes,
        args.inline_max_bytes,
    ));
    let services = Services {
        auth: Arc::new(Auth::new(
            db.clone(),
            &secret,
            args.access_ttl(),
            args.refresh_policy(),
            args.registration,
            shared.as_ref(),
        )),
        uploads: Arc::new(Uploads::new(
            db.clone(),
            blobs.clone(),
            files.clone(),
            args.max_upload_bytes,
            Duration::from_secs(args.upload_expiry),
        )),
        files,
        shares: Arc::new(Shares::new(db.clone(), public_url, shared.as_ref())),
        versions: Arc::new(Versions::new(db.clone(), waker.clone(), args.quota_bytes)),
        trash: Arc::new(Trash::new(db.clone(), waker.clone(), args.quota_bytes)),
        delta: Arc::new(Delta::new(db.clone(), waker, shutdown.clone())),
        proxies: Arc::new(TrustedProxies::new(args.trusted_proxies.clone())),
        properties: Arc::new(Properties::new(db.clone())),
    };
    spawn_housekeeping(
        services.auth.clone(),
        services.shares.clone(),
        db,
        blobs,
        GcPolicy::new(Duration::from_secs(args.gc_grace), &args.retention),
        shutdown.clone(),
    );

    let routes = crate::http::routes(&services);
    let task = tokio::spawn(crate::http::listener::serve(
        listener,
        routes,
        args.connection_limits(),
        shutdown.clone(),
    ));
    Ok(RunningServer {
        addr,
        shutdown,
        task,
    })
}

/// How often housekeeping wakes.
const HOUSEKEEPING_TICK: Duration = Duration::from_secs(5);

/// Periodic work: every few seconds, refresh the planner's statistics of tables that grew
/// (a fresh Postgres database has none, and without them a lookup by path scans the
/// user's entries: a new server's first minute of small uploads ran at a quarter of its
/// speed); each minute, forget refilled rate limits; hourly, purge what is past its
/// retention and collect orphan blobs past the grace period.
fn spawn_housekeeping(
    auth: Arc<Auth>,
    shares: Arc<Shares>,
    db: Db,
    blobs: Arc<dyn BlobStore>,
    policy: GcPolicy,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING_TICK);
        let per_minute = (60 / HOUSEKEEPING_TICK.as_secs()).max(1);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            // A query of the statistics catalogue; ANALYZE only for tables that changed by
            // autovacuum's rule, so a large table is analysed seldom.
            match db.run(|r| r.refresh_statistics()).await {
                Ok(tables) if !tables.is_empty() => tracing::debug!(?tables, "analysed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "refreshing planner statistics failed"),
            }
            ticks += 1;
            if !ticks.is_multiple_of(per_minute) {
                continue;
            }
            auth.shrink_throttles();
            shares.shrink_throttle();
            if ticks.is_multiple_of(60 * per_minute) {
                let now = chrono::Utc::now();
                match crate::gc::collect(&db, blobs.as_ref(), &policy, now, false).await {
                    Ok(r) => tracing::info!(
                        versions = r.expired_versions,
                        trash = r.expired_trash_items,
                        orphans = r.orphan_blobs,
                        stale = r.stale_uploads,
                        expired_uploads = r.expired_uploads,
                        "gc"
                    ),
                    Err(e) => tracing::warn!(error = %e, "gc failed"),
                }
            }
        }
    });
}
