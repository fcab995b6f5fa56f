//! `dbx login`: e-mail and password (asked at the terminal, or the password from stdin)
//! for a session whose tokens are saved in the config dir; the server is remembered.

use std::io::{BufRead, Write};

use anyhow::Context;

use super::{Ctx, Usage};
use crate::api::Api;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account's e-mail [default: asked at the terminal]
    #[arg(long, env = "DBX_EMAIL", value_name = "E")]
    pub email: Option<String>,
    /// Read the password from the first line of stdin instead of asking for it.
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let email = email(args.email)?;
    let password = password(args.password_stdin, false)?;
    let server = ctx.server()?;
    let api = Api::new(server.clone(), ctx.config.clone(), None)?;
    let session = api.login(&email, &password).await?;
    remember_server(ctx, &server)?;
    ctx.note(&format!("logged in to {server} as {}", session.email));
    Ok(())
}

/// Saves the server that login used, for the commands that follow.
pub fn remember_server(ctx: &Ctx, server: &str) -> anyhow::Result<()> {
    let mut settings = ctx.config.load_settings()?;
    settings.server = Some(server.to_string());
    ctx.config.save_settings(&settings)
}

/// The e-mail from the flag, or asked for on the terminal (not stdin, which may carry
/// the password).
pub fn email(given: Option<String>) -> anyhow::Result<String> {
    if let Some(e) = given.filter(|e| !e.trim().is_empty()) {
        return Ok(e.trim().to_string());
    }
    let no_tty = || Usage("no --email given and no terminal to ask for it on".into());
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_tty())?;
    write!(tty, "E-mail: ").map_err(|_| no_tty())?;
    let mut line = String::new();
    std::io::BufReader::new(tty)
        .read_line(&mut line)
        .map_err(|_| no_tty())?;
    let email = line.trim().to_string();
    if email.is_empty() {
        return Err(Usage("an e-mail is required".into()).into());
    }
    Ok(email)
}

/// The password: the first line of stdin, or asked at the terminal without echo
/// (twice when `confirm`, for a new account).
pub fn password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            return Err(Usage("--password-stdin: stdin holds no password".into()).into());
        }
        return Ok(pw);
    }
    let no_tty = |_| Usage("no terminal to ask for the password on: use --password-stdin".into());
    let pw = rpassword::prompt_password("Password: ").map_err(no_tty)?;
    if confirm {
        let again = rpassword::prompt_password("Password again: ").map_err(no_tty)?;
        if again != pw {
            anyhow::bail!("the passwords differ");
        }
    }
    Ok(pw)
}
