//! The client's settings and credentials, kept in the config dir (`--config-dir`,
//! `DBX_CONFIG_DIR`, or the platform's config dir): `config.json` remembers the server
//! that login used, `credentials.json` (mode 0600) holds the session's tokens, `uploads.json` the
//! unfinished resumable uploads.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The server used when neither `--server`, `DBX_SERVER` nor a past login names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

const SETTINGS_FILE: &str = "config.json";
const CREDENTIALS_FILE: &str = "credentials.json";
const UPLOADS_FILE: &str = "uploads.json";

/// Non-secret settings.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// The server the last login went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// A logged-in session on one server.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub server: String,
    pub email: String,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    /// When to renew the access token: a little before it runs out, by this machine's
    /// clock. A 401 renews it too, so a wrong clock costs one round trip, not a failure.
    pub access_refresh_at: DateTime<Utc>,
}

// Written by hand so that tokens never reach a log line or an error message.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("email", &self.email)
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("access_refresh_at", &self.access_refresh_at)
            .finish()
    }
}

/// The config dir and the files in it.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    dir: PathBuf,
}

impl ConfigDir {
    /// The dir given, or the platform's config dir for dbx.
    pub fn new(dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(d) => d,
            None => directories::ProjectDirs::from("", "", "dbx")
                .map(|p| p.config_dir().to_path_buf())
                .ok_or_else(|| {
                    anyhow!("cannot find a config dir (no home dir): use --config-dir")
                })?,
        };
        Ok(ConfigDir { dir })
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join(CREDENTIALS_FILE)
    }

    pub fn load_settings(&self) -> anyhow::Result<Settings> {
        Ok(read_json(&self.dir.join(SETTINGS_FILE))?.unwrap_or_default())
    }

    pub fn save_settings(&self, s: &Settings) -> anyhow::Result<()> {
        self.write_private(SETTINGS_FILE, &serde_json::to_vec_pretty(s)?)
    }

    pub fn load_credentials(&self) -> anyhow::Result<Option<Credentials>> {
        read_json(&self.credentials_path())
    }

    pub fn save_credentials(&self, c: &Credentials) -> anyhow::Result<()> {
        self.write_private(CREDENTIALS_FILE, &serde_json::to_vec_pretty(c)?)
    }

    /// Unfinished resumable uploads (see `resume`).
    pub fn load_uploads<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<Option<T>> {
        read_json(&self.dir.join(UPLOADS_FILE))
    }

    pub fn save_uploads<T: Serialize>(&self, uploads: &T) -> anyhow::Result<()> {
        self.write_private(UPLOADS_FILE, &serde_json::to_vec_pretty(uploads)?)
    }

    /// Removes the credentials; true if there were any.
    pub fn delete_credentials(&self) -> anyhow::Result<bool> {
        let path = self.credentials_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }

    /// Writes a file readable by the owner only. It is written under a temporary name
    /// and renamed, so a crash never leaves a half-written file and the secret is never
    /// readable by others, not even for a moment.
    fn write_private(&self, name: &str, data: &[u8]) -> anyhow::Result<()> {
        create_private_dir(&self.dir)?;
        let path = self.dir.join(name);
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .permissions(private_file_mode())
            .tempfile_in(&self.dir)
            .with_context(|| format!("writing {}", path.display()))?;
        tmp.write_all(data)
            .and_then(|()| tmp.as_file().sync_all())
            .with_context(|| format!("writing {}", path.display()))?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn private_file_mode() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o600)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the config dir {}", dir.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not valid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A server URL as the client keeps it: http(s), no trailing slash.
pub fn normalize_server(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn credentials_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ConfigDir::new(Some(dir.path().join("sub"))).unwrap();
        assert!(cfg.load_credentials().unwrap().is_none());
        let c = Credentials {
            server: "http://x".into(),
            email: "a@b.c".into(),
            user_id: "u".into(),
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            access_refresh_at: Utc::now(),
        };
        cfg.save_credentials(&c).unwrap();
        let mode = std::fs::metadata(cfg.credentials_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            cfg.load_credentials().unwrap().unwrap().refresh_token,
            "secret-refresh"
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(cfg.delete_credentials().unwrap());
        assert!(!cfg.delete_credentials().unwrap());
    }

    #[test]
    fn server_urls_are_checked() {
        assert_eq!(normalize_server("http://h:1/").as_deref(), Ok("http://h:1"));
        assert!(normalize_server("ftp://h").is_err());
        assert!(normalize_server("h:1").is_err());
    }
}
