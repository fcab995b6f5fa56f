//! `dbx push LOCAL [REMOTE]`: uploads a file or a folder tree. REMOTE is the path LOCAL
//! gets, whether or not it exists (like `rclone copy`, never nested like `cp -r`). Files
//! whose content hash already matches the server's are skipped; empty folders are made.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};

use super::{Ctx, TransferArgs, UploadArgs, Usage};
use crate::api::Api;
use crate::batch::{self, Outcome};
use crate::local;
use crate::progress::Progress;
use crate::remote::{self, Remote, RemotePath};
use crate::transfer;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The local file or folder to upload.
    local: PathBuf,
    /// The path it gets on the server, whether or not that exists yet [default: /<basename of LOCAL>]
    #[arg(value_parser = RemotePath::parse)]
    remote: Option<RemotePath>,
    #[command(flatten)]
    transfer: TransferArgs,
    #[command(flatten)]
    upload: UploadArgs,
}

/// One file to send, and what the server has at its path.
struct Upload {
    local: PathBuf,
    remote: RemotePath,
    size: u64,
    /// Size and content hash of the server's file at that path, if there is one.
    existing: Option<(u64, String)>,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let meta = std::fs::metadata(&args.local).with_context(|| args.local.display().to_string())?;
    let remote = match args.remote {
        Some(r) => r,
        None => default_remote(&args.local)?,
    };
    let api = ctx.upload_api(&args.upload)?;
    let (uploads, failed) = if meta.is_dir() {
        plan_tree(ctx, &api, &args.local, &remote).await?
    } else if meta.is_file() {
        (
            vec![plan_file(&api, &args.local, meta.len(), &remote).await?],
            0,
        )
    } else {
        bail!("{} is not a file or a folder", args.local.display());
    };

    let total = uploads.iter().map(|u| u.size).sum();
    let progress = Progress::new(ctx.ui, uploads.len() as u64, total, started);
    let p = progress.clone();
    let mut stats = batch::run_all(
        uploads,
        args.transfer.transfers.into(),
        progress.clone(),
        move |u| push_file(api.clone(), p.clone(), u),
    )
    .await?;
    stats.failed += failed;
    batch::conclude(&progress, ctx.ui.quiet, "pushed", stats)
}

/// `/<basename of LOCAL>`.
fn default_remote(local: &Path) -> anyhow::Result<RemotePath> {
    let name = match local.file_name() {
        Some(n) => n.to_os_string(),
        None => std::fs::canonicalize(local)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_os_string()))
            .ok_or_else(|| {
                Usage(format!(
                    "give a REMOTE path: {} has no name",
                    local.display()
                ))
            })?,
    };
    let name = local::remote_name(&name).map_err(|why| {
        Usage(format!(
            "give a REMOTE path: the name of {} cannot be used: {why}",
            local.display()
        ))
    })?;
    Ok(RemotePath::root().join(&name))
}

async fn plan_file(
    api: &Api,
    local: &Path,
    size: u64,
    remote: &RemotePath,
) -> anyhow::Result<Upload> {
    let existing = match remote::resolve(api, remote)
        .await
        .map_err(remote::at(remote))?
    {
        Remote::Root | Remote::Folder(_) => bail!(
            "{remote} is a folder; give the path the file should have, such as {}",
            remote.join(default_remote(local)?.name().unwrap_or("name"))
        ),
        Remote::File(f) => Some((f.size, f.content_hash)),
        Remote::Missing => None,
    };
    Ok(Upload {
        local: local.to_path_buf(),
        remote: remote.clone(),
        size,
        existing,
    })
}

/// Makes the remote folders (empty ones too) and lists the files to send. Returns them
/// with the number of entries that already failed.
async fn plan_tree(
    ctx: &Ctx,
    api: &Api,
    local_root: &Path,
    remote_root: &RemotePath,
) -> anyhow::Result<(Vec<Upload>, u64)> {
    let root = local_root.to_path_buf();
    let tree = tokio::task::spawn_blocking(move || local::walk(&root))
        .await
        .context("the folder-walking thread failed")??;
    for line in &tree.ignored {
        ctx.note(&format!("skipping {line}"));
    }
    let mut failed = 0u64;
    for line in &tree.problems {
        eprintln!("failed: {line}");
        failed += 1;
    }

    let root_id = remote::ensure_folder(api, remote_root).await?;
    let existing = remote::walk(api, root_id.as_deref())
        .await
        .map_err(remote::at(remote_root))?;
    let index = existing.index();

    // Folder ids by key path; parents come before children in `tree.folders`.
    let mut ids: HashMap<Vec<String>, Option<String>> = HashMap::new();
    ids.insert(Vec::new(), root_id);
    for (k, f) in &index.folders {
        ids.insert(k.clone(), Some(f.id.clone()));
    }
    for (rel, path) in &tree.folders {
        let k = remote::key(rel);
        if ids.contains_key(&k) {
            continue;
        }
        let at = remote_root.join_all(rel);
        let (Some(name), Some(parent)) = (rel.last(), ids.get(&k[..k.len() - 1]).cloned()) else {
            eprintln!(
                "failed: {}: its parent folder could not be made",
                path.display()
            );
            failed += 1;
            continue;
        };
        match api.create_folder(parent.as_deref(), name).await {
            Ok(f) => {
                ctx.detail(&format!("made {at}"));
                ids.insert(k, Some(f.id));
            }
            Err(e) => {
                eprintln!("failed: making {at}: {e}");
                failed += 1;
            }
        }
    }

    let uploads = tree
        .files
        .into_iter()
        .map(|f| Upload {
            existing: index
                .files
                .get(&remote::key(&f.rel))
                .map(|e| (e.size, e.content_hash.clone())),
            remote: remote_root.join_all(&f.rel),
            local: f.path,
            size: f.size,
        })
        .collect();
    Ok((uploads, failed))
}

/// Hashes one file and sends it, unless the server already has those bytes there.
async fn push_file(api: Arc<Api>, progress: Arc<Progress>, u: Upload) -> anyhow::Result<Outcome> {
    let (size, hash) = transfer::hash_file(&u.local).await?;
    let path = u.remote.to_string();
    let same = u
        .existing
        .as_ref()
        .is_some_and(|(s, h)| *s == size && h.eq_ignore_ascii_case(&hash));
    if same {
        progress.skip(u.size);
        progress.detail(&format!("skipped {path}: already there"));
        return Ok(Outcome::Skipped);
    }
    let meter = progress.file(&path, size);
    transfer::upload_file(&api, &u.local, &path, size, &hash, meter).await?;
    progress.detail(&format!("pushed {path}"));
    Ok(Outcome::Sent(size))
}
