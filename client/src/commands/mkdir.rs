//! `dbx mkdir`: makes a folder and any missing parents; an existing folder is fine.

use super::Ctx;
use crate::remote::{self, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to make.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    remote::ensure_folder(&api, &args.remote).await?;
    ctx.detail(&format!("made {}", args.remote));
    Ok(())
}
