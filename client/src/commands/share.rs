//! `dbx share create|list|revoke`: read-only links to one file, with an optional expiry
//! and download limit.

use anyhow::bail;
use chrono::{DateTime, NaiveDate, Utc};
use dbx_shared::api::{CreateShareRequest, Share};
use futures_util::{stream, StreamExt};

use super::{out, table, when, Ctx};
use crate::api::{Api, ClientError};
use crate::remote::{self, Remote, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ShareCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ShareCommand {
    /// Make a link to a file and print its URL.
    Create(CreateArgs),
    /// List your links.
    List(ListArgs),
    /// Revoke a link at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The file to share.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
    /// When the link stops working: a duration from now (30m, 12h, 7d, 2w) or a time
    /// (2026-12-31T00:00:00Z, or 2026-12-31 for midnight UTC) [default: never]
    #[arg(long, value_name = "DURATION|DATETIME", value_parser = parse_expiry)]
    expires: Option<Expiry>,
    /// How many whole downloads the link allows [default: no limit]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_downloads: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Print {"shares": [...]}, the API's reply, as one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// The link's id, as `dbx share list` shows it.
    id: String,
}

/// `--expires`: relative to when the link is made, or a fixed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    In(chrono::Duration),
    At(DateTime<Utc>),
}

impl Expiry {
    fn at(self) -> DateTime<Utc> {
        match self {
            Expiry::In(d) => Utc::now() + d,
            Expiry::At(t) => t,
        }
    }
}

fn parse_expiry(s: &str) -> Result<Expiry, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Expiry::At(t.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(Expiry::At(t.and_utc()));
        }
    }
    let bad =
        || format!("'{s}' is not a duration (30m, 12h, 7d, 2w) or a time (2026-12-31T00:00:00Z)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(secs)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(|s| Expiry::In(chrono::Duration::seconds(s)))
        .ok_or_else(|| format!("'{s}' is too far away"))
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    match args.command {
        ShareCommand::Create(a) => create(&api, a).await,
        ShareCommand::List(a) => list(&api, a).await,
        ShareCommand::Revoke(a) => {
            api.revoke_share(&a.id)
                .await
                .map_err(|e| anyhow::anyhow!(e).context(format!("share {}", a.id)))?;
            ctx.detail(&format!("revoked share {}", a.id));
            Ok(())
        }
    }
}

async fn create(api: &Api, a: CreateArgs) -> anyhow::Result<()> {
    let path = &a.remote;
    let file = match remote::resolve(api, path).await.map_err(remote::at(path))? {
        Remote::File(f) => f,
        Remote::Missing => bail!("{path}: no such file or folder"),
        Remote::Root | Remote::Folder(_) => bail!("{path} is a folder; share links are for files"),
    };
    let req = CreateShareRequest {
        file_id: file.id,
        expires_at: a.expires.map(Expiry::at),
        max_downloads: a.max_downloads,
    };
    let share = api.create_share(&req).await.map_err(remote::at(path))?;
    match share.url {
        Some(url) => Ok(out(&url)?),
        None => Err(ClientError::BadReply("the new share has no url".into()).into()),
    }
}

async fn list(api: &Api, a: ListArgs) -> anyhow::Result<()> {
    let reply = api.list_shares().await?;
    if a.json {
        return Ok(out(&serde_json::to_string_pretty(&reply)?)?);
    }
    // The reply names files by id: look their paths up, a few at a time.
    let rows: Vec<[String; 5]> = stream::iter(&reply.shares)
        .map(|s| async move {
            let file = match api.file(&s.file_id).await {
                Ok(f) => f.path,
                Err(e) if e.is_not_found() => "(deleted)".to_string(),
                Err(e) => return Err(e),
            };
            Ok(row(s, file))
        })
        .buffered(8)
        .collect::<Vec<Result<_, ClientError>>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(table(
        ["ID", "FILE", "EXPIRES", "DOWNLOADS", "STATUS"],
        &rows,
    )?)
}

fn row(s: &Share, file: String) -> [String; 5] {
    let now = Utc::now();
    let expires = s.expires_at.map(when).unwrap_or_else(|| "never".into());
    let downloads = match s.max_downloads {
        Some(max) => format!("{}/{max}", s.download_count),
        None => s.download_count.to_string(),
    };
    let status = if s.disabled {
        "revoked"
    } else if s.expires_at.is_some_and(|t| t <= now) {
        "expired"
    } else if s.max_downloads.is_some_and(|m| s.download_count >= m) {
        "used up"
    } else {
        "active"
    };
    [s.id.clone(), file, expires, downloads, status.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_expiries() {
        assert_eq!(
            parse_expiry("7d"),
            Ok(Expiry::In(chrono::Duration::days(7)))
        );
        assert_eq!(
            parse_expiry("90m"),
            Ok(Expiry::In(chrono::Duration::minutes(90)))
        );
        assert_eq!(
            parse_expiry("2026-12-31T00:00:00Z")
                .map(Expiry::at)
                .map(|t| t.to_rfc3339()),
            Ok("2026-12-31T00:00:00+00:00".to_string())
        );
        assert_eq!(
            parse_expiry("2026-12-31")
                .map(Expiry::at)
                .map(|t| t.to_rfc3339()),
            Ok("2026-12-31T00:00:00+00:00".to_string())
        );
        for bad in ["", "d", "7", "7y", "-1d", "0d", "tomorrow", "99999999999w"] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }
}
