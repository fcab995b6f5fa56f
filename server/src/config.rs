//! Command line and environment of `dbx-server` (the README's command lines): every flag
//! has a `DBX_` variable, and the flag wins.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use ipnet::IpNet;

use crate::auth::Registration;
use crate::http::listener::Limits;
use crate::metadata::RefreshPolicy;

#[derive(Debug, Parser)]
#[command(name = "dbx-server", version, about = "The dbx file store server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API.
    Serve(Box<ServeArgs>),
    /// Apply pending migrations and exit.
    Migrate(StoreArgs),
    /// Purge expired versions and trash, remove orphan blobs and stale unfinished uploads, print counts.
    Gc(GcArgs),
    /// Compare metadata with the blob store, print what disagrees, exit 1 if anything does.
    Check(StoreArgs),
    /// Manage accounts (for servers with closed registration).
    #[command(subcommand)]
    User(UserCommand),
    /// Print the OpenAPI 3.1 document of the HTTP API (as served at /api/v1/openapi.json).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from the first line of stdin.
    Add {
        /// The account's e-mail address.
        email: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where metadata and blobs live: shared by every subcommand.
#[derive(Clone, Args)]
pub struct StoreArgs {
    /// Folder for the embedded database, blobs and the generated JWT key.
    #[arg(long, env = "DBX_DATA_DIR", default_value = "./dbx-data")]
    pub data_dir: PathBuf,
    /// Metadata database: sqlite://PATH or postgres://user@host:port/db [default: sqlite://<data-dir>/dbx.sqlite]
    #[arg(long, env = "DBX_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Blob store: file://PATH or s3://BUCKET [default: file://<data-dir>/blobs]
    #[arg(long, env = "DBX_BLOB_STORE")]
    pub blob_store: Option<String>,
    /// S3 endpoint, e.g. http://127.0.0.1:3900.
    #[arg(long, env = "DBX_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region; must match the server's.
    #[arg(long, env = "DBX_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(long, env = "DBX_S3_ACCESS_KEY")]
    pub s3_access_key: Option<String>,
    /// S3 secret key.
    #[arg(long, env = "DBX_S3_SECRET_KEY", hide_env_values = true)]
    pub s3_secret_key: Option<String>,
}

// Written by hand so that secrets and passwords in URLs never reach a log line.
impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("blob_store", &self.blob_store)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key", &self.s3_access_key)
            .field(
                "s3_secret_key",
                &self.s3_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

impl StoreArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("dbx.sqlite").display()))
    }

    pub fn blob_store_url(&self) -> String {
        self.blob_store
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("blobs").display()))
    }
}

/// The most `--inline-max-bytes` allows: the database holds each such file whole in memory
/// when it reads it, and a backup of the database grows with every one.
pub const MAX_INLINE_BYTES: u64 = 1024 * 1024;

#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DBX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Secret for signing access tokens [default: random, kept in <data-dir>/jwt-secret]
    #[arg(long, env = "DBX_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "DBX_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// Base of share-link URLs [default: http://<listen>]
    #[arg(long, env = "DBX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "DBX_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl: u64,
    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "DBX_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl: u64,
    /// Longest a login lasts, however often its tokens are refreshed, in seconds.
    #[arg(long, env = "DBX_SESSION_LIFETIME", default_value_t = 90 * 24 * 3600)]
    pub session_lifetime: u64,
    /// How long after a refresh its old token may be presented again (a client's own
    /// race) before that counts as theft and ends the session, in seconds.
    #[arg(long, env = "DBX_REFRESH_REUSE_GRACE", default_value_t = 10)]
    pub refresh_reuse_grace: u64,
    /// Whether anyone may register through the API (closed: `dbx-server user add`).
    #[arg(long, env = "DBX_REGISTRATION", value_enum, default_value = "open")]
    pub registration: Registration,
    /// Reverse proxies (CIDRs, comma-separated) whose Forwarded / X-Forwarded-For headers
    /// say where a request comes from; nobody else's are believed [default: none]
    #[arg(long, env = "DBX_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,
    /// Seconds a client has to send a request's head; also how long a kept-alive
    /// connection may wait for its next request.
    #[arg(long, env = "DBX_HEADER_READ_TIMEOUT", default_value_t = 30)]
    pub header_read_timeout: u64,
    /// Seconds a request body may stall, or a reply wait for a client that does not read
    /// it, before the connection is closed.
    #[arg(long, env = "DBX_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,
    /// Redis for rate-limit counters shared by every server process (redis://host:port)
    /// [default: none: each process counts alone]
    #[arg(long, env = "DBX_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys, for several deployments on one Redis.
    #[arg(long, env = "DBX_REDIS_KEY_PREFIX", default_value = "dbx")]
    pub redis_key_prefix: String,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "DBX_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// How old an unreferenced blob must be before the periodic collector removes it, in seconds.
    #[arg(long, env = "DBX_GC_GRACE", default_value_t = 24 * 3600)]
    pub gc_grace: u64,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Cap on each user's usage (the sizes of their live files' current versions), in bytes [default: none]
    #[arg(long, env = "DBX_QUOTA_BYTES", value_name = "N")]
    pub quota_bytes: Option<u64>,
    /// Content of up to this many bytes is kept in the metadata database instead of the blob
    /// store (0: never); at most 1 MiB.
    #[arg(long, env = "DBX_INLINE_MAX_BYTES", default_value_t = 64 * 1024, value_name = "N",
          value_parser = clap::value_parser!(u64).range(0..=MAX_INLINE_BYTES))]
    pub inline_max_bytes: u64,
    /// Seconds a resumable upload lives without progress; gc aborts it after that.
    #[arg(long, env = "DBX_UPLOAD_EXPIRY", default_value_t = 24 * 3600, value_name = "SECS")]
    pub upload_expiry: u64,
}

/// How long replaced versions and deleted entries are kept: `serve`'s periodic collector
/// and `gc` purge what is older.
#[derive(Debug, Clone, Copy, Args)]
pub struct RetentionArgs {
    /// Days a replaced version of a file is kept (the current version never expires).
    #[arg(
        long,
        env = "DBX_VERSION_RETENTION",
        default_value_t = 30,
        value_name = "DAYS"
    )]
    pub version_retention: u32,
    /// Days a deleted file or folder stays in the trash.
    #[arg(
        long,
        env = "DBX_TRASH_RETENTION",
        default_value_t = 30,
        value_name = "DAYS"
    )]
    pub trash_retention: u32,
}

impl RetentionArgs {
    pub fn versions(&self) -> Duration {
        Duration::from_secs(u64::from(self.version_retention) * 86_400)
    }

    pub fn trash(&self) -> Duration {
        Duration::from_secs(u64::from(self.trash_retention) * 86_400)
    }
}

impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("public_url", &self.public_url)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("session_lifetime", &self.session_lifetime)
            .field("refresh_reuse_grace", &self.refresh_reuse_grace)
            .field("registration", &self.registration)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("gc_grace", &self.gc_grace)
            .field("retention", &self.retention)
            .field("quota_bytes", &self.quota_bytes)
            .field("inline_max_bytes", &self.inline_max_bytes)
            .field("upload_expiry", &self.upload_expiry)
            .finish()
    }
}

impl ServeArgs {
    /// Settings for tests and embedding: everything in `data_dir`, a free port.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        let cli = Cli::parse_from([
            "dbx-server",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir.display().to_string(),
        ]);
        match cli.command {
            Command::Serve(args) => *args,
            _ => unreachable!("parsed a serve command"),
        }
    }

    pub fn access_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl)
    }

    pub fn connection_limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout.max(1)),
            max_connections: self.max_connections.max(1),
        }
    }

    pub fn refresh_policy(&self) -> RefreshPolicy {
        // Capped at a century, so that no date arithmetic on them can overflow.
        let secs = |s: u64| chrono::Duration::seconds(s.min(100 * 365 * 24 * 3600) as i64);
        RefreshPolicy {
            ttl: secs(self.refresh_token_ttl),
            session_lifetime: secs(self.session_lifetime),
            reuse_grace: secs(self.refresh_reuse_grace),
        }
    }
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only print what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave blobs and unfinished uploads younger than this many seconds alone.
    #[arg(long, env = "DBX_GC_GRACE", default_value_t = 24 * 3600)]
    pub grace_secs: u64,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let cli = Cli::parse_from([
            "dbx-server",
            "serve",
            "--jwt-secret",
            "topsecretjwt",
            "--s3-secret-key",
            "topsecrets3",
            "--database-url",
            "postgres://u:hunter2@db/x",
        ]);
        let shown = format!("{cli:?}");
        assert!(!shown.contains("topsecretjwt"), "{shown}");
        assert!(!shown.contains("topsecrets3"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://u:***@db/x"), "{shown}");
    }

    #[test]
    fn retention_and_quota_have_defaults_and_flags() {
        let args = ServeArgs::for_data_dir("d".into());
        assert_eq!(args.retention.version_retention, 30);
        assert_eq!(args.retention.trash_retention, 30);
        assert_eq!(args.quota_bytes, None);
        assert_eq!(args.inline_max_bytes, 64 * 1024);
        let cli = Cli::parse_from([
            "dbx-server",
            "serve",
            "--version-retention",
            "7",
            "--trash-retention",
            "0",
            "--quota-bytes",
            "1000",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("a serve command")
        };
        assert_eq!(args.retention.versions(), Duration::from_secs(7 * 86_400));
        assert_eq!(args.retention.trash(), Duration::ZERO);
        assert_eq!(args.quota_bytes, Some(1000));
    }
}
