//! `dbx mv`: moves or renames a file or folder on the server in one request, as rclone's
//! `moveto` does: DST is the new path (never a folder to move into), its missing parent
//! folders are made, and a taken DST is an error: nothing is ever overwritten.

use anyhow::bail;
use dbx_shared::api::Entry;

use super::Ctx;
use crate::remote::{self, key, Remote, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file or folder to move.
    #[arg(value_parser = RemotePath::parse)]
    src: RemotePath,
    /// Its new path (a case-only change of the name renames it).
    #[arg(value_parser = RemotePath::parse)]
    dst: RemotePath,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let (src, dst) = (&args.src, &args.dst);
    let entry = match remote::resolve(&api, src).await.map_err(remote::at(src))? {
        Remote::Root => bail!("the root folder cannot be moved"),
        Remote::Missing => bail!("{src}: no such file or folder"),
        Remote::Folder(f) => Entry::Folder(f),
        Remote::File(f) => Entry::File(f),
    };
    let (Some(parent), Some(name)) = (dst.parent(), dst.name()) else {
        bail!("/ already exists");
    };
    let (src_key, dst_key) = (key(src.names()), key(dst.names()));
    // The same path up to case is the entry itself: a rename of its case.
    if src_key != dst_key {
        if dst_key.starts_with(&src_key) {
            bail!("cannot move {src} into itself");
        }
        if !matches!(remote::resolve(&api, dst).await?, Remote::Missing) {
            bail!("{dst} already exists");
        }
    }
    let parent_id = remote::ensure_folder(&api, &parent).await?;
    api.move_entry(entry.id(), parent_id.as_deref(), name)
        .await
        .map_err(remote::at(src))?;
    ctx.detail(&format!("moved {src} to {dst}"));
    Ok(())
}
