//! `dbx logout`: revokes the saved session's refresh token on its server and deletes
//! the saved credentials.

use anyhow::anyhow;

use super::Ctx;
use crate::api::Api;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Ctx, _: Args) -> anyhow::Result<()> {
    let Some(creds) = ctx.config.load_credentials()? else {
        ctx.note("not logged in");
        return Ok(());
    };
    // The session is revoked where it was made, whatever --server says now.
    let server = creds.server.clone();
    let api = Api::new(server.clone(), ctx.config.clone(), Some(creds))?;
    let revoked = api.logout().await;
    // Forget the session here in any case: the user asked to be logged out.
    ctx.config.delete_credentials()?;
    match revoked {
        Ok(()) => {
            ctx.note(&format!("logged out of {server}"));
            Ok(())
        }
        Err(e) => Err(anyhow!(
            "the credentials are deleted here, but the session could not be revoked on the server: {e}"
        )),
    }
}
