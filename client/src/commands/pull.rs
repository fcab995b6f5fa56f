//! `dbx pull REMOTE [LOCAL]`: downloads a file or a folder tree. LOCAL is the path REMOTE
//! gets, whether or not it exists (like `rclone copy`). Files whose content hash already
//! matches are skipped; empty folders are made; every name from the server is checked,
//! so nothing is written outside LOCAL.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use dbx_shared::api::FileEntry;

use super::{Ctx, TransferArgs, Usage};
use crate::api::Api;
use crate::batch::{self, Outcome};
use crate::local;
use crate::progress::Progress;
use crate::remote::{self, Remote, RemotePath};
use crate::transfer;
use crate::transfer::landing::{Landing, NotLanded};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The remote file or folder to download.
    #[arg(value_parser = RemotePath::parse)]
    remote: RemotePath,
    /// The path it gets here, whether or not that exists yet [default: ./<basename of REMOTE>]
    local: Option<PathBuf>,
    #[command(flatten)]
    transfer: TransferArgs,
}

/// One file to fetch, and where it goes.
struct Download {
    file: FileEntry,
    dest: PathBuf,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let path = &args.remote;
    let local = match (args.local, path.name()) {
        (Some(l), _) => l,
        (None, Some(name)) => PathBuf::from(local::checked_local_name(name)?),
        (None, None) => return Err(Usage("give a LOCAL folder to pull / into".into()).into()),
    };
    let api = ctx.api()?;
    let (downloads, failed) = match remote::resolve(&api, path)
        .await
        .map_err(remote::at(path))?
    {
        Remote::Missing => bail!("{path}: no such file or folder"),
        Remote::File(f) => (vec![plan_file(&local, f)?], 0),
        r @ (Remote::Root | Remote::Folder(_)) => {
            let id = r.folder_id().flatten().map(str::to_string);
            plan_tree(&api, id.as_deref(), path, &local).await?
        }
    };

    let total = downloads.iter().map(|d| d.file.size).sum();
    let progress = Progress::new(ctx.ui, downloads.len() as u64, total, started);
    let landing = Arc::new(Landing::default());
    let (p, l) = (progress.clone(), landing.clone());
    let mut stats = batch::run_all(
        downloads,
        args.transfer.transfers.into(),
        progress.clone(),
        move |d| pull_file(api.clone(), p.clone(), l.clone(), d),
    )
    .await?;
    let (done, not_landed) = landing.finish().await;
    report(&progress, done);
    // Files counted as pulled when they arrived, whose batch then failed to land.
    for NotLanded { size, error } in not_landed {
        progress.warn(&format!("failed: {error:#}"));
        stats.sent -= 1;
        stats.bytes -= size;
        stats.failed += 1;
    }
    stats.failed += failed;
    batch::conclude(&progress, ctx.ui.quiet, "pulled", stats)
}

/// Tells of the files a batch put in place.
fn report(progress: &Progress, landed: Vec<PathBuf>) {
    for dest in landed {
        progress.detail(&format!("pulled {}", dest.display()));
    }
}

fn plan_file(local: &Path, file: FileEntry) -> anyhow::Result<Download> {
    if local.is_dir() {
        bail!(
            "{} is a folder; give the path the file should have, such as {}",
            local.display(),
            local.join(local::checked_local_name(&file.name)?).display()
        );
    }
    if let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(Download {
        file,
        dest: local.to_path_buf(),
    })
}

/// Makes the local folders (empty ones too) and lists the files to fetch. Returns them
/// with the number of entries that already failed.
async fn plan_tree(
    api: &Api,
    folder: Option<&str>,
    remote_root: &RemotePath,
    root: &Path,
) -> anyhow::Result<(Vec<Download>, u64)> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("{} exists and is not a folder", root.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?
        }
        Err(e) => return Err(e).with_context(|| root.display().to_string()),
    }
    let tree = remote::walk(api, folder)
        .await
        .map_err(remote::at(remote_root))?;
    let mut failed = 0u64;
    // Folders made or found here: a file is written only into one of these.
    let mut ready: HashSet<Vec<String>> = HashSet::from([Vec::new()]);
    for (rel, f) in &tree.folders {
        if !ready.contains(&rel[..rel.len() - 1]) {
            eprintln!("failed: {}: its parent folder could not be made", f.path);
            failed += 1;
            continue;
        }
        match local::local_path(root, rel).and_then(|p| local::ensure_dir(&p)) {
            Ok(()) => {
                ready.insert(rel.clone());
            }
            Err(e) => {
                eprintln!("failed: {}: {e:#}", f.path);
                failed += 1;
            }
        }
    }
    let mut downloads = Vec::new();
    for (rel, file) in tree.files {
        if !ready.contains(&rel[..rel.len() - 1]) {
            eprintln!("failed: {}: its folder could not be made", file.path);
            failed += 1;
            continue;
        }
        match local::local_path(root, &rel) {
            Ok(dest) => downloads.push(Download { file, dest }),
            Err(e) => {
                eprintln!("failed: {}: {e:#}", file.path);
                failed += 1;
            }
        }
    }
    Ok((downloads, failed))
}

/// Fetches one file, unless the local one already has the same bytes, and hands it to
/// `landing`; lands a batch when it fills one.
async fn pull_file(
    api: Arc<Api>,
    progress: Arc<Progress>,
    landing: Arc<Landing>,
    d: Download,
) -> anyhow::Result<Outcome> {
    let f = &d.file;
    if transfer::local_matches(&d.dest, f.size, &f.content_hash).await? {
        progress.skip(f.size);
        progress.detail(&format!("skipped {}: already there", d.dest.display()));
        return Ok(Outcome::Skipped);
    }
    let meter = progress.file(&f.path, f.size);
    let arrived = transfer::fetch(&api, f, &d.dest, meter).await?;
    report(&progress, landing.arrive(arrived).await);
    Ok(Outcome::Sent(f.size))
}
