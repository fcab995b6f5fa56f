//! `dbx-server serve | migrate | gc | check` (the README's command lines).
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use clap::Parser;
use dbx_server::app::{open_content, open_repository, start};
use dbx_server::config::{Cli, Command, StoreArgs, UserCommand};
use dbx_server::gc::{self, GcPolicy};
use dbx_server::metadata::Db;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_db(store: &StoreArgs) -> anyhow::Result<Db> {
    dbx_server::private_fs::create_dir(&store.data_dir)?;
    let url = store.database_url();
    let repo = tokio::task::spawn_blocking(move || open_repository(&url)).await??;
    Ok(Db::new(repo))
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let server = start(*args).await?;
            println!("listening on http://{}", server.addr);
            let stop = server.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                stop.cancel();
            });
            server.wait().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(store) => {
            open_db(&store).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Gc(args) => {
            let db = open_db(&args.store).await?;
            let blobs = open_content(&db, &args.store).await?;
            let policy = GcPolicy::new(Duration::from_secs(args.grace_secs), &args.retention);
            let r = gc::collect(&db, blobs.as_ref(), &policy, Utc::now(), args.dry_run).await?;
            let (purge, remove) = if args.dry_run {
                ("would purge", "would remove")
            } else {
                ("purged", "removed")
            };
            println!(
                "{purge} {} expired versions and {} expired trash items",
                r.expired_versions, r.expired_trash_items
            );
            println!(
                "{remove} {} orphan blobs ({} bytes) and {} stale uploads",
                r.orphan_blobs, r.orphan_bytes, r.stale_uploads
            );
            let abort = if args.dry_run {
                "would abort"
            } else {
                "aborted"
            };
            println!("{abort} {} expired resumable uploads", r.expired_uploads);
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Add { email, store }) => {
            let password = read_password()?;
            let db = open_db(&store).await?;
            let hashing = dbx_server::auth::password::HashQueue::per_cpu();
            let user = dbx_server::auth::create_account(&db, &hashing, &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("added {} ({})", user.email, user.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            print!("{}", dbx_server::http::openapi::document());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(store) => {
            let db = open_db(&store).await?;
            let blobs = open_content(&db, &store).await?;
            let r = gc::check(&db, blobs.as_ref()).await?;
            for key in &r.missing_blobs {
                println!("missing blob: {key}");
            }
            for key in &r.unreferenced_blobs {
                println!("unreferenced blob: {key}");
            }
            if r.is_clean() {
                println!("ok: metadata and blobs agree");
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

/// The password: the first line of stdin, without its line ending.
fn read_password() -> anyhow::Result<String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        anyhow::bail!(
            "give the password on stdin (e.g. `echo \"$PASSWORD\" | dbx-server user add EMAIL`)"
        );
    }
    Ok(password)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let ctrl_c = tokio::signal::ctrl_c();
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = ctrl_c => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
