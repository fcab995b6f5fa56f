//! `dbx ls`: the entries of a folder (or the one file a path names), as names, a long
//! listing (`-l`), or the API's entries as one JSON document (`--json`).

use anyhow::bail;
use dbx_shared::api::Entry;

use super::{out, Ctx};
use crate::remote::{self, Remote, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder or file to list.
    #[arg(default_value = "/", value_parser = RemotePath::parse)]
    remote: RemotePath,
    /// Long listing: type, size, last change, name.
    #[arg(short = 'l')]
    long: bool,
    /// Print {"entries": [...]}, the API's entries, as one JSON document.
    #[arg(long)]
    json: bool,
}

/// `--json`: the shape of the API's listing, without its paging token.
#[derive(serde::Serialize)]
struct Listing<'a> {
    entries: &'a [Entry],
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let path = &args.remote;
    let entries = match remote::resolve(&api, path)
        .await
        .map_err(remote::at(path))?
    {
        Remote::Missing => bail!("{path}: no such file or folder"),
        Remote::File(f) => vec![Entry::File(f)],
        r @ (Remote::Root | Remote::Folder(_)) => {
            let id = r.folder_id().flatten().map(str::to_string);
            api.list(id.as_deref()).await.map_err(remote::at(path))?
        }
    };
    if args.json {
        let doc = Listing { entries: &entries };
        return Ok(out(&serde_json::to_string_pretty(&doc)?)?);
    }
    if args.long {
        let width = entries.iter().map(|e| size_of(e).len()).max().unwrap_or(1);
        for e in &entries {
            let (kind, updated) = match e {
                Entry::Folder(f) => ('d', f.updated_at),
                Entry::File(f) => ('-', f.updated_at),
            };
            let when = updated.format("%Y-%m-%d %H:%M");
            out(&format!(
                "{kind} {:>width$}  {when}  {}",
                size_of(e),
                display_name(e)
            ))?;
        }
        return Ok(());
    }
    for e in &entries {
        out(&display_name(e))?;
    }
    Ok(())
}

fn size_of(e: &Entry) -> String {
    match e {
        Entry::Folder(_) => "-".to_string(),
        Entry::File(f) => f.size.to_string(),
    }
}

/// Folders end in `/`, as with `ls -p`.
fn display_name(e: &Entry) -> String {
    match e {
        Entry::Folder(f) => format!("{}/", f.name),
        Entry::File(f) => f.name.clone(),
    }
}
