//! The `dockhand` binary: command line, logging, exit codes. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use dockhand::chat::{
    self,
    shell::{self, Speaker},
};
use dockhand::command::Catalog;
use dockhand::config::{Config, process_env};
use dockhand::dispatch::{Dispatcher, Handle};

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
    /// Run the bot: every chat adapter whose tokens are set (SLACK_BOT_TOKEN with
    /// SLACK_APP_TOKEN or SLACK_SIGNING_SECRET; DISCORD_TOKEN), until SIGTERM or Ctrl-C.
    Run,
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

/// How long in-flight operations may keep watching after a stop is asked; ECS's
/// stop timeout in deploy/dockhand.yaml leaves room for it.
const GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn run(config: Config, catalog: Catalog) -> ExitCode {
    let ops = dockhand::ops::aws::AwsOps::new(&config);
    let dispatcher = Dispatcher::new(config.clone(), catalog, ops);
    let handler: Arc<dyn Handle> = Arc::new(dispatcher.clone());
    let stop = CancellationToken::new();
    let mut adapters = tokio::task::JoinSet::new();
    if config.slack.bot_token.is_some() {
        let (slack, handler, stop) = (config.slack.clone(), Arc::clone(&handler), stop.clone());
        adapters.spawn(async move {
            chat::slack::run(&slack, handler, stop)
                .await
                .map_err(|e| format!("slack: {e}"))
        });
    }
    if config.discord.token.is_some() {
        let discord = config.discord.clone();
        let apps: Vec<String> = config.apps.keys().map(|a| a.to_string()).collect();
        let (dispatcher, handler, stop) = (dispatcher.clone(), Arc::clone(&handler), stop.clone());
        adapters.spawn(async move {
            chat::discord::run(&discord, dispatcher.catalog(), apps, handler, stop)
                .await
                .map_err(|e| format!("discord: {e}"))
        });
    }
    if adapters.is_empty() {
        eprintln!(
            "error: no chat adapter to run: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Slack, Socket Mode), \
             DISCORD_TOKEN (Discord), or try `dockhand shell`"
        );
        return ExitCode::from(2);
    }
    {
        let (stop, operations) = (stop.clone(), dispatcher.shutdown_token().clone());
        tokio::spawn(async move {
            stop_signal().await;
            tracing::info!(
                "stopping: no new commands; operations in flight have {GRACE:?} to finish"
            );
            stop.cancel();
            tokio::time::sleep(GRACE).await;
            operations.cancel();
        });
    }
    let mut code = ExitCode::SUCCESS;
    while let Some(done) = adapters.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            code = ExitCode::FAILURE;
            // One adapter failing stops the bot: ECS restarts it whole.
            stop.cancel();
            dispatcher.shutdown_token().cancel();
        }
    }
    dispatcher.tasks().close();
    dispatcher.tasks().wait().await;
    code
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
        Cmd::Run => {
            dockhand::logging::init("info");
            let Some((config, catalog)) = load(&cli) else {
                return ExitCode::from(2);
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(run(config, catalog))
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
