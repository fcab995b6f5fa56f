//! `dbx whoami`: the e-mail of the logged-in account, and its usage and quota (with
//! `-v`, the server too).

use super::{out, Ctx};
use crate::progress;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let me = api.me().await?;
    out(&me.email)?;
    let used = progress::bytes(me.usage_bytes);
    match me.quota_bytes {
        Some(q) => out(&format!("usage: {used} of {} quota", progress::bytes(q)))?,
        None => out(&format!("usage: {used} (no quota)"))?,
    }
    if ctx.ui.verbose > 0 {
        out(&format!("server: {}", api.base()))?;
    }
    Ok(())
}
