//! `dbx rm`: removes a file, or a folder with everything in it (a soft delete on the
//! server).

use anyhow::bail;
use dbx_shared::api::Entry;

use super::Ctx;
use crate::remote::{self, Remote, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file or folder to remove.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let path = &args.remote;
    let entry = match remote::resolve(&api, path)
        .await
        .map_err(remote::at(path))?
    {
        Remote::Root => bail!("the root folder cannot be removed"),
        Remote::Missing => bail!("{path}: no such file or folder"),
        Remote::Folder(f) => Entry::Folder(f),
        Remote::File(f) => Entry::File(f),
    };
    api.delete_entry(&entry).await.map_err(remote::at(path))?;
    ctx.detail(&format!("removed {path}"));
    Ok(())
}
