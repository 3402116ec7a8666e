//! The `dockhand` binary: command line, logging, exit codes. Everything else is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dockhand::adapters::shell::{self, Speaker};
use dockhand::catalog::Catalog;
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
        /// After end of input, keep showing notifications this many seconds
        /// (with `[notifications] queue` set).
        #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
        linger: f64,
    },
    /// Validate the catalogue and the config, then exit: 0 when both are sound.
    Check,
    /// Create, update, plan or delete a CloudFormation stack from a template.
    Stack {
        #[command(subcommand)]
        action: StackCmd,
    },
    /// Exit 0 when the running bot's /healthz answers (the container health check).
    Healthcheck,
    /// Run the bot: every chat adapter whose tokens are set (SLACK_BOT_TOKEN with
    /// SLACK_APP_TOKEN or SLACK_SIGNING_SECRET; DISCORD_TOKEN), until SIGTERM or Ctrl-C.
    Run,
}

#[derive(clap::Args)]
struct StackArgs {
    /// The stack's name.
    #[arg(long)]
    stack: String,
    /// The template file (YAML or JSON).
    #[arg(long)]
    template: PathBuf,
    /// A stack whose outputs fill parameters of the same name (repeatable).
    #[arg(long = "parent")]
    parents: Vec<String>,
    /// A parameter, KEY=VALUE (repeatable; wins over parents and the params file).
    #[arg(long = "param", value_parser = dockhand::ops::aws::stacks::pair)]
    params: Vec<(String, String)>,
    /// Parameters from a file: KEY=VALUE lines, or CloudFormation's JSON list.
    #[arg(long)]
    params_file: Option<PathBuf>,
    /// A stack tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_parser = dockhand::ops::aws::stacks::pair)]
    tags: Vec<(String, String)>,
}

#[derive(Subcommand)]
enum StackCmd {
    /// Create the stack, or update it; waits and shows its events. No changes is success.
    Up(StackArgs),
    /// Show what `up` would change (a change set, deleted afterwards).
    Plan(StackArgs),
    /// Delete the stack and wait until it is gone.
    Delete {
        #[arg(long)]
        stack: String,
        /// Do not ask first.
        #[arg(long)]
        yes: bool,
    },
}

/// `dockhand stack ...`: the same CloudFormation code as the chat verbs, with the
/// terminal as the chat: events as lines, a spinner while waiting.
async fn stack(config: Config, action: &StackCmd) -> ExitCode {
    use dockhand::ops::aws::stacks::{StackDone, StackProgress, StackRequest, params_file};
    use std::io::{IsTerminal, Write};

    let ops = dockhand::ops::aws::AwsOps::new(&config);
    let request = |a: &StackArgs| -> Result<StackRequest, String> {
        let template = std::fs::read_to_string(&a.template)
            .map_err(|e| format!("cannot read {}: {e}", a.template.display()))?;
        let mut params = match &a.params_file {
            Some(f) => params_file(
                &std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?,
            )
            .map_err(|e| format!("{}: {e}", f.display()))?,
            None => Vec::new(),
        };
        params.extend(a.params.iter().cloned());
        Ok(StackRequest {
            stack: a.stack.clone(),
            template,
            parents: a.parents.clone(),
            params,
            tags: a.tags.clone(),
        })
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        let spin = std::io::stderr().is_terminal();
        let frames = ['|', '/', '-', '\\'];
        let mut n = 0;
        while let Some(p) = rx.recv().await {
            match p {
                StackProgress::Line(l) => {
                    if spin {
                        eprint!("\r\x1b[K");
                    }
                    println!("{l}");
                }
                StackProgress::Waiting(status) if spin => {
                    n += 1;
                    eprint!("\r{} {status}", frames[n % frames.len()]);
                    let _ = std::io::stderr().flush();
                }
                StackProgress::Waiting(_) => {}
            }
        }
        if spin {
            eprint!("\r\x1b[K");
        }
    });
    let result = match action {
        StackCmd::Up(a) => match request(a) {
            Err(e) => Err(e),
            Ok(r) => {
                ops.stack_up(&r, &tx)
                    .await
                    .map_err(|e| e.to_string())
                    .map(|done| match done {
                        StackDone::NoChanges => format!("{}: no changes.", r.stack),
                        StackDone::Created => format!("{}: CREATE_COMPLETE.", r.stack),
                        _ => format!("{}: UPDATE_COMPLETE.", r.stack),
                    })
            }
        },
        StackCmd::Plan(a) => match request(a) {
            Err(e) => Err(e),
            Ok(r) => ops
                .stack_plan(&r)
                .await
                .map_err(|e| e.to_string())
                .map(|lines| {
                    if lines.is_empty() {
                        format!("{}: no changes.", r.stack)
                    } else {
                        format!(
                            "Plan for {}, nothing changed yet:\n  {}",
                            r.stack,
                            lines.join("\n  ")
                        )
                    }
                }),
        },
        StackCmd::Delete { stack, yes } => {
            let asked = *yes || {
                eprint!("Delete stack {stack} and everything in it? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer).is_ok()
                    && matches!(answer.trim(), "y" | "Y" | "yes")
            };
            if asked {
                ops.stack_delete(stack, &tx)
                    .await
                    .map_err(|e| e.to_string())
                    .map(|_| format!("{stack}: deleted."))
            } else {
                Ok(format!("{stack}: left as it is."))
            }
        }
    };
    drop(tx);
    let _ = printer.await;
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads config and catalogue, printing every problem; `None` when there is any.
fn load(cli: &Cli) -> Option<(Config, Catalog)> {
    let path = cli
        .config
        .clone()
        .or_else(|| Some(PathBuf::from("dockhand.toml")).filter(|p| p.exists()));
    let mut ok = true;
    let config = match Config::load_from_env(path.as_deref(), &process_env, dockhand::verbs::NAMES)
    {
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
                    print!("\n{}", dockhand::config::environment_help());
                    ExitCode::SUCCESS
                }
                None => ExitCode::from(2),
            }
        }
        Cmd::Stack { action } => {
            dockhand::logging::init("warn");
            // The catalogue is not needed here; the config only for `[aws]`.
            let path = cli
                .config
                .clone()
                .or_else(|| Some(PathBuf::from("dockhand.toml")).filter(|p| p.exists()));
            let config = match Config::load_from_env(
                path.as_deref(),
                &process_env,
                dockhand::verbs::NAMES,
            ) {
                Ok(c) => c,
                Err(errors) => {
                    errors.iter().for_each(|e| eprintln!("error: {e}"));
                    return ExitCode::from(2);
                }
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(stack(config, action))
        }
        Cmd::Healthcheck => {
            let addr = std::env::var("DOCKHAND_METRICS_ADDR")
                .unwrap_or_else(|_| dockhand::config::DEFAULT_METRICS_ADDR.to_string());
            match dockhand::health::check(&addr) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    ExitCode::FAILURE
                }
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
            runtime.block_on(dockhand::app::run(config, catalog))
        }
        Cmd::Shell {
            user,
            channel,
            linger,
        } => {
            dockhand::logging::init("warn");
            let Some((config, catalog)) = load(&cli) else {
                return ExitCode::from(2);
            };
            // One thread: the shell waits on a person and on AWS, and each worker
            // thread costs its stack and its allocator arena in a tool whose whole
            // footprint is a few MB (stdin is read on tokio's blocking pool).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let speaker = Speaker {
                user: user.clone(),
                channel: channel.clone(),
            };
            let linger = std::time::Duration::from_secs_f64(linger.max(0.0));
            let result = runtime.block_on(async move {
                let ops = dockhand::ops::aws::AwsOps::new(&config);
                let queue = config.notifications.queue.clone();
                let dispatcher = Dispatcher::new(config, catalog, ops);
                // Notifications routed to `shell:<channel>` show here (the demo).
                let source = queue.map(|url| {
                    let d = dispatcher.clone();
                    let start: shell::Source = Box::new(move |outbox, stop| {
                        let queue = dockhand::ops::aws::queue::SqsQueue::new(d.ops_handle(), &url);
                        let notice: std::sync::Arc<dyn dockhand::notify::Notice> =
                            std::sync::Arc::new(d);
                        Box::pin(dockhand::notify::consume(
                            queue,
                            notice,
                            outbox,
                            dockhand::health::Health::new(),
                            stop,
                        ))
                    });
                    start
                });
                shell::run(dispatcher, speaker, source, linger).await
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
