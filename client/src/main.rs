//! The dbx command-line client (the README's command lines): log in, list, push, pull,
//! move, remove and share files on a dbx server.
#![forbid(unsafe_code)]

mod api;
mod batch;
mod commands;
mod config;
mod local;
mod progress;
mod remote;
mod resume;
mod sync;
mod transfer;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::{Ctx, Global, Usage};

/// dbx: your personal file store, from the command line.
///
/// Remote paths start with '/'. Exit status: 0 success, 1 failure, 2 bad usage.
#[derive(Parser)]
#[command(name = "dbx", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account on the server (and log in to it).
    Register(commands::register::Args),
    /// Log in; the server is remembered for later commands.
    Login(commands::login::Args),
    /// Revoke this machine's session on the server and forget its credentials.
    Logout(commands::logout::Args),
    /// Show who is logged in.
    Whoami(commands::whoami::Args),
    /// List a folder, or show one file.
    Ls(commands::ls::Args),
    /// Make a folder, and any missing parents.
    Mkdir(commands::mkdir::Args),
    /// Move or rename a file or folder: DST is its new path (missing parents are made; an existing DST is an error).
    Mv(commands::mv::Args),
    /// Upload a file or a folder tree.
    Push(commands::push::Args),
    /// Download a file or a folder tree.
    Pull(commands::pull::Args),
    /// Remove a file or a folder (with everything in it); it goes to the trash.
    Rm(commands::rm::Args),
    /// List a file's versions, newest first.
    Versions(commands::versions::Args),
    /// Make an earlier version of a file its current content again.
    // `--version N` is this command's own: no `--version` flag for the program here.
    #[command(disable_version_flag = true)]
    Restore(commands::restore::Args),
    /// List, restore and purge deleted files and folders.
    Trash(commands::trash::Args),
    /// Create, list and revoke share links.
    Share(commands::share::Args),
    /// Create, list and revoke app passwords for WebDAV and other Basic-auth clients.
    AppPassword(commands::app_password::Args),
    /// Print a shell completion script.
    Completions(commands::completions::Args),
    /// Two-way sync of a local folder with a remote one: one pass, or keep syncing.
    Sync(commands::sync::Args),
    /// Show a synced folder's last sync, pending changes and conflicts.
    Status(commands::status::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx::new(&cli.global)?;
    match cli.command {
        Command::Register(a) => commands::register::run(&ctx, a).await,
        Command::Login(a) => commands::login::run(&ctx, a).await,
        Command::Logout(a) => commands::logout::run(&ctx, a).await,
        Command::Whoami(a) => commands::whoami::run(&ctx, a).await,
        Command::Ls(a) => commands::ls::run(&ctx, a).await,
        Command::Mkdir(a) => commands::mkdir::run(&ctx, a).await,
        Command::Mv(a) => commands::mv::run(&ctx, a).await,
        Command::Push(a) => commands::push::run(&ctx, a).await,
        Command::Pull(a) => commands::pull::run(&ctx, a).await,
        Command::Rm(a) => commands::rm::run(&ctx, a).await,
        Command::Versions(a) => commands::versions::run(&ctx, a).await,
        Command::Restore(a) => commands::restore::run(&ctx, a).await,
        Command::Trash(a) => commands::trash::run(&ctx, a).await,
        Command::Share(a) => commands::share::run(&ctx, a).await,
        Command::AppPassword(a) => commands::app_password::run(&ctx, a).await,
        Command::Completions(a) => commands::completions::run(a),
        Command::Sync(a) => commands::sync::run(&ctx, a).await,
        Command::Status(a) => commands::status::run(&ctx, a).await,
    }
}

/// One `error: …` line, and the exit status: 2 for bad usage, 1 for any other failure.
fn report(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            // `dbx ls | head`: the reader went away, which is not our failure.
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
        }
        // These say everything themselves; the context around them would only repeat.
        if let Some(api @ (api::ClientError::NotLoggedIn | api::ClientError::Unreachable { .. })) =
            cause.downcast_ref::<api::ClientError>()
        {
            eprintln!("error: {api}");
            return ExitCode::FAILURE;
        }
    }
    let line = format!("{e:#}").replace('\n', " ");
    eprintln!("error: {line}");
    if e.chain().any(|c| c.is::<Usage>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
