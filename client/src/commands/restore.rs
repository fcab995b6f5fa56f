//! `dbx restore REMOTE --version N`: makes an earlier version the current content again
//! (as a new version, so every synced device gets it).

use super::Ctx;
use crate::remote::{self, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
    /// The version to bring back, as `dbx versions` lists it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..))]
    version: i64,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let path = &args.remote;
    let file = remote::file_at(&api, path).await?;
    let now = api
        .restore_version(&file.id, args.version)
        .await
        .map_err(remote::at(path))?;
    ctx.note(&format!(
        "restored {path} to version {}, now version {}",
        args.version, now.version
    ));
    Ok(())
}
