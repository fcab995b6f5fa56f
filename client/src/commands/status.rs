//! `dbx status [LOCAL_DIR]`: when the folder last synced, what is waiting to go up or
//! come down (as of the last look at the server: no network needed), and conflicts.

use std::path::PathBuf;

use super::{out, Ctx};
use crate::sync::engine::{prepare, DEVICE, LAST_SYNC, REMOTE_ROOT, SERVER};
use crate::sync::planner::{is_conflict_copy, Op};
use crate::sync::scan::SETTLE;
use crate::sync::state::State;
use crate::sync::trash;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The synced folder [default: the current folder]
    #[arg(value_name = "LOCAL_DIR")]
    pub local: Option<PathBuf>,
}

pub async fn run(_ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let root = args.local.unwrap_or_else(|| PathBuf::from("."));
    let Some(state) = State::open_existing(&root)? else {
        anyhow::bail!(
            "{} is not a synced folder (run dbx sync first)",
            root.display()
        );
    };
    let get = |k: &str| -> anyhow::Result<String> {
        Ok(state.get(k)?.unwrap_or_else(|| "-".to_string()))
    };
    out(&format!("folder:     {}", root.display()))?;
    out(&format!(
        "syncs with: {}{}",
        get(SERVER)?,
        get(REMOTE_ROOT)?
    ))?;
    out(&format!("device:     {}", get(DEVICE)?))?;
    out(&format!("last sync:  {}", get(LAST_SYNC)?))?;
    let (ops, scan) = prepare(&state, &root, SETTLE).await?;
    let (mut up, mut down, mut other) = (Vec::new(), Vec::new(), Vec::new());
    for op in &ops {
        let path = op.path().to_string();
        match op {
            Op::Upload { .. }
            | Op::MkdirRemote { .. }
            | Op::DeleteRemote { .. }
            | Op::DeleteRemoteFolder { .. } => up.push(path),
            Op::Download { .. }
            | Op::MkdirLocal { .. }
            | Op::DeleteLocal { .. }
            | Op::DeleteLocalFolder { .. } => down.push(path),
            Op::MoveRemote { from, .. } => up.push(format!("{from} -> {path} (move)")),
            Op::MoveLocal { from, .. } => down.push(format!("{from} -> {path} (move)")),
            op if !op.is_change() => {}
            _ => other.push(path),
        }
    }
    out(&format!("pending uploads:   {}", up.len()))?;
    for p in &up {
        out(&format!("  {p}"))?;
    }
    out(&format!(
        "pending downloads: {} (as of the last sync)",
        down.len()
    ))?;
    for p in &down {
        out(&format!("  {p}"))?;
    }
    if !other.is_empty() {
        out(&format!("pending conflicts: {}", other.len()))?;
        for p in &other {
            out(&format!("  {p}"))?;
        }
    }
    if !scan.busy.is_empty() {
        out(&format!("still being written: {}", scan.busy.len()))?;
    }
    if !scan.skipped.is_empty() {
        out(&format!("not synced (cannot be): {}", scan.skipped.len()))?;
        for p in &scan.problems {
            out(&format!("  {p}"))?;
        }
    }
    let copies: Vec<&String> = scan
        .snapshot
        .entries
        .keys()
        .filter(|p| is_conflict_copy(p))
        .collect();
    out(&format!("conflicted copies: {}", copies.len()))?;
    for c in copies {
        out(&format!("  {c}"))?;
    }
    let (files, bytes) = trash::summary(state.dir());
    out(&format!(
        "local trash:       {files} files, {bytes} bytes in {} (deleted and replaced files, kept {} days)",
        state.dir().join("trash").display(),
        trash::KEEP_DAYS
    ))?;
    let made = state.conflicts()?;
    if !made.is_empty() {
        out(&format!(
            "conflicts resolved on this device: {}",
            made.len()
        ))?;
        for (copy, original, at) in made {
            out(&format!("  {at}  {original} -> {copy}"))?;
        }
    }
    Ok(())
}
