//! `sessile`, the admin tool of sessile's session stores: see `sessile --help` and the crate's
//! README.

mod cli;
mod commands;
mod error;
mod gc;
mod import;
mod open;
mod output;
mod progress;
mod stats;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Report;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| CliError::new(error::Kind::Failed, format!("cannot start: {error}")))
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(report) => {
            if json {
                println!("{}", report.json);
            } else {
                print!("{}", report.text);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            if json {
                println!("{}", error.to_json());
            } else {
                eprintln!("sessile: {error}");
            }
            ExitCode::from(error.kind.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<Report, CliError> {
    let store = &cli.store;
    match &cli.command {
        Command::Migrate { print } => commands::migrate(store, *print).await,
        Command::Sessions {
            user,
            limit,
            cursor,
        } => {
            let page = limit.map(|limit| commands::Page {
                limit,
                cursor: cursor.as_deref(),
            });
            commands::sessions(&open::open(store, false).await?, user, page).await
        }
        Command::Revoke { key } => {
            let prefix = output::parse_key(key)?;
            commands::revoke(&open::open(store, false).await?, &prefix).await
        }
        Command::RevokeUser { user, except } => {
            let keep = except.as_deref().map(output::parse_key).transpose()?;
            let opened = open::open(store, false).await?;
            commands::revoke_user(&opened, user, keep.as_deref()).await
        }
        Command::Gc(args) => gc::gc(&open::open(store, false).await?, args).await,
        Command::ImportNode(args) => import::import_node(store, args).await,
        Command::Stats { top } => stats::stats(&open::open(store, false).await?, *top).await,
    }
}
