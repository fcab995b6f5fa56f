//! `dbx whoami`: the e-mail of the logged-in account (with `-v`, the server and usage).

use super::{out, Ctx};
use crate::progress;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    let me = api.me().await?;
    out(&me.email)?;
    if ctx.ui.verbose > 0 {
        out(&format!("server: {}", api.base()))?;
        out(&format!("usage: {}", progress::bytes(me.usage_bytes)))?;
    }
    Ok(())
}
