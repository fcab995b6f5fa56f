//! `dbx app-password create|list|revoke`: passwords for WebDAV and other HTTP Basic
//! clients (file managers, rclone, davfs2), each revocable on its own.

use dbx_shared::api::CreateAppPasswordRequest;

use super::{out, table, when, Ctx};
use crate::api::ClientError;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AppPasswordCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AppPasswordCommand {
    /// Make an app password and print it (it is shown only this once).
    Create(CreateArgs),
    /// List your app passwords (never their secrets).
    List(ListArgs),
    /// Revoke an app password at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// A name to recognise it by, such as the device that will use it.
    name: String,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Print {"app_passwords": [...]}, the API's reply, as one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// The app password's id, as `dbx app-password list` shows it.
    id: String,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let api = ctx.api()?;
    match args.command {
        AppPasswordCommand::Create(a) => {
            let req = CreateAppPasswordRequest { name: a.name };
            let made = api.create_app_password(&req).await?;
            let password = made.password.ok_or_else(|| {
                ClientError::BadReply("the new app password has no secret".into())
            })?;
            out(&password)?;
            ctx.note(&format!(
                "app password '{}' (id {}): use it with your e-mail at {}/dav/; it is not shown again",
                made.name,
                made.id,
                api.base()
            ));
            Ok(())
        }
        AppPasswordCommand::List(a) => {
            let reply = api.list_app_passwords().await?;
            if a.json {
                return Ok(out(&serde_json::to_string_pretty(&reply)?)?);
            }
            let rows: Vec<[String; 3]> = reply
                .app_passwords
                .iter()
                .map(|p| [p.id.clone(), p.name.clone(), when(p.created_at)])
                .collect();
            Ok(table(["ID", "NAME", "CREATED"], &rows)?)
        }
        AppPasswordCommand::Revoke(a) => {
            api.revoke_app_password(&a.id)
                .await
                .map_err(|e| anyhow::anyhow!(e).context(format!("app password {}", a.id)))?;
            ctx.detail(&format!("revoked app password {}", a.id));
            Ok(())
        }
    }
}
