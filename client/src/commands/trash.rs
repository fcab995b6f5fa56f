//! `dbx trash ls|restore|purge`: what was deleted stays in the trash for the server's
//! retention period; bring it back, or remove it for good.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail};
use dbx_shared::api::{EntryType, RestoreTrashRequest, TrashItem, TrashList};
use dbx_shared::names::name_key;

use super::{out, table, when, Ctx, Usage};
use crate::api::Api;
use crate::progress;
use crate::remote::{self, RemotePath};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TrashCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TrashCommand {
    /// List the trash, newest deletion first.
    Ls(LsArgs),
    /// Bring an item back (a folder with everything deleted with it), by default at its
    /// old path.
    Restore(RestoreArgs),
    /// Remove an item, or everything, for good: never restorable after.
    Purge(PurgeArgs),
}

#[derive(Debug, clap::Args)]
struct LsArgs {
    /// Print {"entries": [...], "next": null}, the API's reply, as one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The item: its path when it was deleted (the newest deletion at that path), or
    /// its id as `dbx trash ls` shows it.
    item: String,
    /// Restore to this path instead (missing parent folders are made).
    #[arg(long, value_name = "REMOTE", value_parser = RemotePath::parse)]
    to: Option<RemotePath>,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true))]
struct PurgeArgs {
    /// The item: its id, or its path when it was deleted.
    #[arg(group = "what")]
    item: Option<String>,
    /// Empty the whole trash.
    #[arg(long, group = "what")]
    all: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long)]
    yes: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    match args.command {
        TrashCommand::Ls(a) => ls(&api, a).await,
        TrashCommand::Restore(a) => restore(ctx, &api, a).await,
        TrashCommand::Purge(a) => purge(ctx, &api, a).await,
    }
}

async fn ls(api: &Api, a: LsArgs) -> anyhow::Result<()> {
    let entries = api.trash().await?;
    if a.json {
        let reply = TrashList {
            entries,
            next: None,
        };
        return Ok(out(&serde_json::to_string_pretty(&reply)?)?);
    }
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|t| {
            let kind = match t.kind {
                EntryType::Folder => "folder",
                EntryType::File => "file",
            };
            [
                t.id.clone(),
                kind.to_string(),
                progress::bytes(t.size),
                when(t.deleted_at),
                t.path.clone(),
            ]
        })
        .collect();
    Ok(table(["ID", "TYPE", "SIZE", "DELETED", "PATH"], &rows)?)
}

/// The trash item a command line names: a path (`/…`, the newest deletion there) or an id.
async fn find(api: &Api, item: &str) -> anyhow::Result<TrashItem> {
    let items = api.trash().await?;
    let found = if item.starts_with('/') {
        let path = RemotePath::parse(item).map_err(|e| anyhow!(Usage(e)))?;
        let key = name_key(&path.to_string());
        items.into_iter().find(|t| name_key(&t.path) == key)
    } else {
        items.into_iter().find(|t| t.id == item)
    };
    found.ok_or_else(|| anyhow!("{item}: not in the trash (see dbx trash ls)"))
}

async fn restore(ctx: &Ctx, api: &Api, a: RestoreArgs) -> anyhow::Result<()> {
    let item = find(api, &a.item).await?;
    let mut req = RestoreTrashRequest::default();
    if let Some(to) = &a.to {
        let Some(name) = to.name() else {
            return Err(
                Usage("--to names the restored entry itself; / is not a name".into()).into(),
            );
        };
        let parent = RemotePath::root().join_all(&to.names()[..to.names().len() - 1]);
        req.parent_id = Some(remote::ensure_folder(api, &parent).await?);
        req.name = Some(name.to_string());
    }
    let entry = api
        .restore_trash(&item.id, &req)
        .await
        .map_err(|e| anyhow!(e).context(item.path.clone()))?;
    ctx.note(&format!("restored {} to {}", item.path, entry.path()));
    Ok(())
}

async fn purge(ctx: &Ctx, api: &Api, a: PurgeArgs) -> anyhow::Result<()> {
    let (id, what) = match &a.item {
        Some(item) => {
            let t = find(api, item).await?;
            let what = format!("{} ({}) from the trash", t.path, progress::bytes(t.size));
            (Some(t.id), what)
        }
        None => {
            let n = api.trash().await?.len();
            (None, format!("all {n} items in the trash"))
        }
    };
    if !a.yes && !confirm(&format!("Remove {what} for good? This cannot be undone."))? {
        bail!("nothing purged");
    }
    api.purge_trash(id.as_deref()).await?;
    ctx.detail(&format!("purged {what}"));
    Ok(())
}

/// Asks on the terminal; without one, refuses (a script must say `--yes`).
fn confirm(question: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Usage("not asking without a terminal: add --yes to purge".into()).into());
    }
    let mut stderr = std::io::stderr();
    write!(stderr, "{question} [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}
