//! `dbx sync LOCAL_DIR [--remote REMOTE] [--watch]`: one two-way pass, or keep syncing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{Ctx, UploadArgs};
use crate::remote::RemotePath;
use crate::sync::engine::{Engine, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The local folder to keep in sync (made if missing).
    #[arg(value_name = "LOCAL_DIR")]
    pub local: PathBuf,
    /// The remote folder it mirrors [default: the one used before, else / (the whole account)]
    #[arg(long, env = "DBX_REMOTE", value_name = "REMOTE", value_parser = RemotePath::parse)]
    pub remote: Option<RemotePath>,
    /// Keep syncing: on local changes, on server changes, until SIGINT or SIGTERM.
    #[arg(long, env = "DBX_WATCH")]
    pub watch: bool,
    /// Name of this device in conflicted copies [default: the one used before, else the host name]
    #[arg(long, env = "DBX_DEVICE", value_name = "NAME")]
    pub device: Option<String>,
    /// Approve, once, deletions that bring the last hour's to more than half of the files (and more than 5).
    #[arg(long, env = "DBX_ALLOW_MASS_DELETE")]
    pub allow_mass_delete: bool,
    #[command(flatten)]
    pub upload: UploadArgs,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.upload_api(&args.upload)?;
    let opts = Options {
        remote: args.remote,
        device: args.device,
        allow_mass_delete: args.allow_mass_delete,
        quiet: ctx.ui.quiet,
        ..Options::new(args.local)
    };
    let mut engine = Engine::open(api, opts).await?;
    if args.watch {
        return crate::sync::watch::run(&mut engine).await;
    }
    // A signal lets the op in flight finish; the pass stops after it.
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    crate::sync::watch::spawn_signals(stop.clone(), tx)?;
    let report = engine.pass(&stop).await?;
    if stop.load(Ordering::SeqCst) {
        anyhow::bail!("interrupted; the next sync goes on from here");
    }
    let mut line = format!("sync done: {} changes", report.applied);
    if report.skipped > 0 {
        line.push_str(&format!(", {} left for the next pass", report.skipped));
    }
    if report.busy > 0 {
        line.push_str(&format!(", {} files still being written", report.busy));
    }
    if report.unsyncable > 0 {
        line.push_str(&format!(
            ", {} left alone (cannot be synced, see above)",
            report.unsyncable
        ));
    }
    ctx.note(&line);
    if report.failed > 0 {
        anyhow::bail!("{} changes failed (see above)", report.failed);
    }
    Ok(())
}
