//! One module per subcommand, each with a `clap::Args` struct and a `run` function; and
//! what they share: the global options and the context built from them.

pub mod app_password;
pub mod completions;
pub mod login;
pub mod logout;
pub mod ls;
pub mod mkdir;
pub mod mv;
pub mod pull;
pub mod push;
pub mod register;
pub mod restore;
pub mod rm;
pub mod share;
pub mod status;
pub mod sync;
pub mod trash;
pub mod versions;
pub mod whoami;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::ArgAction;

use crate::api::Api;
use crate::config::{normalize_server, ConfigDir, DEFAULT_SERVER};
use crate::progress::Ui;

/// Options of every subcommand (the README's option table).
#[derive(Debug, clap::Args)]
pub struct Global {
    /// Server base URL; remembered by login [default: the one login used, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "DBX_SERVER", value_name = "URL", value_parser = normalize_server)]
    server: Option<String>,
    /// Where settings and credentials are kept [default: the platform's config dir, ~/.config/dbx on Linux]
    #[arg(long, global = true, env = "DBX_CONFIG_DIR", value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Quieter: no progress bars, no summary.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More verbose: each file as it is done.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
}

/// Options of commands that move files.
#[derive(Debug, Clone, clap::Args)]
pub struct TransferArgs {
    /// How many files move at once.
    #[arg(long, env = "DBX_TRANSFERS", default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub transfers: u16,
}

/// Options of commands that upload.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    /// Bytes per request of a resumable upload (files of 64 MiB and more), e.g. 16MiB.
    #[arg(long, env = "DBX_CHUNK_SIZE", default_value = "16MiB", value_name = "SIZE",
          value_parser = parse_chunk_size)]
    pub chunk_size: u64,
}

/// Smallest and largest `--chunk-size`.
const CHUNK_SIZES: std::ops::RangeInclusive<u64> = (1 << 20)..=(4 << 30);

/// A size such as `16MiB`, `8M` or `5242880`, from 1 MiB to 4 GiB.
fn parse_chunk_size(s: &str) -> Result<u64, String> {
    let size = s
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("not a size ({e}); for example 16MiB"))?
        .as_u64();
    if CHUNK_SIZES.contains(&size) {
        Ok(size)
    } else {
        Err("must be from 1MiB to 4GiB".into())
    }
}

/// Bad usage found after parsing: exit status 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// What every command runs with.
pub struct Ctx {
    pub config: ConfigDir,
    pub ui: Ui,
    server_flag: Option<String>,
}

impl Ctx {
    pub fn new(g: &Global) -> anyhow::Result<Self> {
        Ok(Ctx {
            config: ConfigDir::new(g.config_dir.clone())?,
            ui: Ui {
                quiet: g.quiet,
                verbose: g.verbose,
            },
            server_flag: g.server.clone(),
        })
    }

    /// The flag wins over the variable (clap merges the two), the variable over what
    /// login remembered, and that over the default.
    pub fn server(&self) -> anyhow::Result<String> {
        if let Some(s) = &self.server_flag {
            return Ok(s.clone());
        }
        match self.config.load_settings()?.server {
            Some(s) => Ok(normalize_server(&s).map_err(anyhow::Error::msg)?),
            None => Ok(DEFAULT_SERVER.to_string()),
        }
    }

    /// A client for the server, with the saved session if it is for that server.
    pub fn api(&self) -> anyhow::Result<Arc<Api>> {
        Ok(Arc::new(self.new_api()?))
    }

    /// A connection for a command that uploads.
    pub fn upload_api(&self, args: &UploadArgs) -> anyhow::Result<Arc<Api>> {
        Ok(Arc::new(self.new_api()?.with_upload_chunk(args.chunk_size)))
    }

    fn new_api(&self) -> anyhow::Result<Api> {
        let creds = self.config.load_credentials()?;
        Ok(Api::new(self.server()?, self.config.clone(), creds)?)
    }

    /// A note on stderr, unless `-q`.
    pub fn note(&self, line: &str) {
        if !self.ui.quiet {
            eprintln!("{line}");
        }
    }

    /// A note on stderr, only with `-v`.
    pub fn detail(&self, line: &str) {
        if self.ui.verbose > 0 {
            eprintln!("{line}");
        }
    }
}

/// Writes one line on stdout; a closed pipe comes back as an error, not a panic.
pub fn out(line: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()
}

/// Prints `rows` under `header` in left-aligned columns, two spaces apart.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> std::io::Result<()> {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out(cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// A time as the tables show it.
pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
