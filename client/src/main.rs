//! The dbx command-line client.
#![forbid(unsafe_code)]

use clap::Parser;

/// dbx: your personal file store, from the command line.
#[derive(Parser)]
#[command(name = "dbx", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
