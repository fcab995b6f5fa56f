//! `dbx register`: creates an account, then logs in to it.

use super::{login, Ctx};
use crate::api::Api;

/// The same flags as login.
pub type Args = login::Args;

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let email = login::email(args.email)?;
    let password = login::password(args.password_stdin, true)?;
    let server = ctx.server()?;
    let api = Api::new(server.clone(), ctx.config.clone(), None)?;
    let user = api.register(&email, &password).await?;
    api.login(&email, &password).await?;
    login::remember_server(ctx, &server)?;
    ctx.note(&format!(
        "registered {} on {server}, and logged in",
        user.email
    ));
    Ok(())
}
