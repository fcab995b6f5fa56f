//! `dbx versions`: a file's versions, newest first (the current one marked).

use anyhow::bail;

use super::{out, table, when, Ctx};
use crate::progress;
use crate::remote::{self, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
    /// Print {"versions": [...]}, the API's reply, as one JSON document.
    #[arg(long)]
    json: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let path = &args.remote;
    let file = remote::file_at(&api, path).await?;
    let reply = api.versions(&file.id).await.map_err(remote::at(path))?;
    if args.json {
        return Ok(out(&serde_json::to_string_pretty(&reply)?)?);
    }
    if reply.versions.is_empty() {
        bail!("{path}: the server lists no versions");
    }
    let rows: Vec<[String; 4]> = reply
        .versions
        .iter()
        .map(|v| {
            let current = if v.version == file.version {
                "current"
            } else {
                ""
            };
            [
                v.version.to_string(),
                progress::bytes(v.size),
                when(v.created_at),
                current.to_string(),
            ]
        })
        .collect();
    Ok(table(["VERSION", "SIZE", "SAVED", ""], &rows)?)
}
