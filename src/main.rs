//! The `dockhand` binary: command line, logging, exit codes. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dockhand::chat::shell::{self, Speaker};
use dockhand::command::Catalog;
use dockhand::config::{Config, process_env};
use dockhand::dispatch::Dispatcher;

#[derive(Parser)]
#[command(
    name = "dockhand",
    version,
    about = "ChatOps for AWS ECS and CloudFormation"
)]
struct Cli {
    /// The config file (default: ./dockhand.toml when it exists).
    #[arg(long, global = true, env = "DOCKHAND_CONFIG")]
    config: Option<PathBuf>,
    /// The command catalogue directory (overrides `commands_dir` in config).
    #[arg(long, global = true)]
    commands: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Chat with the bot in this terminal, or feed it one message per line on stdin.
    Shell {
        /// Who is speaking (a user id).
        #[arg(long, default_value = "you")]
        user: String,
        /// Where (a channel id).
        #[arg(long, default_value = "shell")]
        channel: String,
    },
    /// Validate the catalogue and the config, then exit: 0 when both are sound.
    Check,
}

/// Loads config and catalogue, printing every problem; `None` when there is any.
fn load(cli: &Cli) -> Option<(Config, Catalog)> {
    let path = cli
        .config
        .clone()
        .or_else(|| Some(PathBuf::from("dockhand.toml")).filter(|p| p.exists()));
    let mut ok = true;
    let config = match Config::load(path.as_deref(), &process_env) {
        Ok(c) => Some(c),
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}"));
            ok = false;
            None
        }
    };
    let dir = cli
        .commands
        .clone()
        .or_else(|| config.as_ref().map(|c| c.commands_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("commands"));
    let catalog = match Catalog::load(&dir) {
        Ok(c) => Some(c),
        Err(errors) => {
            errors.iter().for_each(|e| eprintln!("error: {e}"));
            ok = false;
            None
        }
    };
    if !ok {
        eprintln!("dockhand cannot start until these are fixed.");
        return None;
    }
    Some((config?, catalog?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Cmd::Check => {
            dockhand::logging::init("warn");
            match load(&cli) {
                Some((config, catalog)) => {
                    println!(
                        "ok: {} commands, {} apps",
                        catalog.entries().len(),
                        config.apps.len()
                    );
                    ExitCode::SUCCESS
                }
                None => ExitCode::from(2),
            }
        }
        Cmd::Shell { user, channel } => {
            dockhand::logging::init("warn");
            let Some((config, catalog)) = load(&cli) else {
                return ExitCode::from(2);
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            let speaker = Speaker {
                user: user.clone(),
                channel: channel.clone(),
            };
            let result = runtime.block_on(async move {
                let ops = dockhand::ops::aws::AwsOps::new(&config);
                shell::run(Dispatcher::new(config, catalog, ops), speaker).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
