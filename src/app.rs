//! `dockhand run`: the supervisor that owns every long-lived task, and the one
//! place the stop order is written down.
//!
//! ```text
//! start:  dispatcher + health server -> (stand by while an older replica runs
//!         without shared state) -> router -> recovery -> adapters
//! stop:   (SIGTERM, Ctrl-C, or an adapter failing)
//!   1. intake     adapters stop taking events (their workers finish their queues)
//!   2. operations each says in its thread that dockhand restarts and AWS carries on
//!   3. drain      every operation task ends; the last outbox goes, the router ends
//!   4. delivery   each deliverer sends what it holds, then its adapter returns
//!   5. health     /healthz answers until here, so ECS sees a healthy task draining
//! ```
//!
//! Steps 1-4 have `STOP_DEADLINE` in all; past it the supervisor gives up and
//! returns a failure exit code, with the replies it could not deliver logged.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc::unbounded_channel;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::{self, Router, Wiring};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::dispatch::{Dispatcher, Handle};
use crate::health::{self, Health};
use crate::message::Platform;
use crate::ops::aws::AwsOps;

/// The longest a stop may take (ECS's stop timeout in deploy/dockhand.yaml is 40 s).
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// How often a replica looks for operations whose replica died (their claim
/// lapsed, `ops::CLAIM_LEASE`): one Query of the shared table each time.
const ADOPT_EVERY: Duration = Duration::from_secs(15);

/// How often a replica standing by (no shared state, an older replica
/// running) looks again: two ECS calls each time.
const ELDEST_EVERY: Duration = Duration::from_secs(15);

/// Waits while an older task of this ECS service runs and `[state] table` is
/// unset (`ops::aws::eldest`): true once this replica may start, false when it
/// was stopped while it stood by. Outside ECS there is nothing to wait for.
async fn stand_by(ops: &AwsOps) -> bool {
    let Some(me) = crate::ops::aws::eldest::this_task().await else {
        return true;
    };
    let mut told = false;
    loop {
        match ops.elders(&me).await {
            Ok(elders) if elders.is_empty() => {
                if told {
                    tracing::info!(task = %me.arn, "the older dockhand task is gone; this one starts");
                }
                return true;
            }
            Ok(elders) => {
                if !told {
                    let why = "this ECS service runs more than one dockhand task without `[state] table`:                                this one answers nothing while an older one runs, so nothing is done twice.                                To run replicas set `[state] table` (deploy/dockhand.yaml: SharedState=true);                                else give the service DesiredCount 1";
                    tracing::error!(task = %me.arn, older = ?elders, "{why}");
                    eprintln!("error: {why}");
                    told = true;
                }
            }
            // Refusing to start over a missing permission would stop the one
            // replica most services run: start, and say why it could not check.
            Err(e) => {
                tracing::warn!(error = %e, "could not check for older dockhand tasks of this service; starting");
                return true;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ELDEST_EVERY) => {}
            () = stop_signal() => return false,
        }
    }
}

/// Why an adapter ended the bot.
type AdapterResult = Result<(), String>;

/// Runs every adapter whose tokens are set until a stop signal or an adapter fails.
pub async fn run(config: Config, catalog: Catalog) -> ExitCode {
    let ops = AwsOps::new(&config);
    let dispatcher = Dispatcher::new(config.clone(), catalog, ops);
    let handler: Arc<dyn Handle> = Arc::new(dispatcher.clone());
    let health = Health::new();
    let intake = CancellationToken::new();
    let adapters = TaskTracker::new();
    let (failed_tx, mut failed) = unbounded_channel::<String>();

    // Health and metrics come first and outlive the adapters: ECS sees a live
    // task while it stands by (below) and while it drains.
    let health_stop = CancellationToken::new();
    let health_server = {
        let d = dispatcher.clone();
        let probe: health::Probe = Arc::new(move || {
            let d = d.clone();
            Box::pin(async move { d.ops().reachable().await.is_ok() })
        });
        let (addr, stop, health) = (
            config.metrics_addr.clone(),
            health_stop.clone(),
            health.clone(),
        );
        let with_metrics = config.metrics == crate::config::MetricsEndpoint::WithHealth;
        if let crate::config::MetricsEndpoint::At(addr) = config.metrics.clone() {
            let stop = health_stop.clone();
            tokio::spawn(async move {
                if let Err(e) = health::serve_metrics(&addr, stop).await {
                    tracing::error!("{e}");
                    eprintln!("error: {e}");
                }
            });
        }
        tokio::spawn(async move {
            if let Err(e) = health::serve(&addr, health, probe, with_metrics, stop).await {
                tracing::error!("{e}");
                eprintln!("error: {e}");
            }
        })
    };

    // Without shared state, a second task of one ECS service stands by while
    // an older one runs, rather than answering everything twice.
    if config.state.table.is_none() && !stand_by(dispatcher.ops()).await {
        health_stop.cancel();
        let _ = health_server.await;
        return ExitCode::SUCCESS;
    }

    let mut router = Router::new();
    let (outbox, routed) = unbounded_channel();
    let mut wiring = |platform: Platform| Wiring {
        handler: Arc::clone(&handler),
        outbox: outbox.clone(),
        replies: router.route(platform),
        health: health.clone(),
        stop: intake.clone(),
        replicas: Arc::new(dispatcher.clone()),
    };
    let mut started: Vec<Platform> = Vec::new();
    let mut spawn = |platform: Platform, adapter: BoxFuture<'static, AdapterResult>| {
        let failed = failed_tx.clone();
        started.push(platform);
        adapters.spawn(async move {
            if let Err(e) = adapter.await {
                let _ = failed.send(e);
            }
        });
    };
    if config.slack.bot_token.is_some() {
        let (slack, wiring) = (config.slack.clone(), wiring(Platform::Slack));
        spawn(
            Platform::Slack,
            Box::pin(async move {
                adapters::slack::run(&slack, wiring)
                    .await
                    .map_err(|e| format!("slack: {e}"))
            }),
        );
    }
    if config.discord.token.is_some() {
        let discord = config.discord.clone();
        let direct_messages = config.access.direct_messages;
        let (dispatcher, wiring) = (dispatcher.clone(), wiring(Platform::Discord));
        spawn(
            Platform::Discord,
            Box::pin(async move {
                adapters::discord::run(&discord, dispatcher.catalog(), direct_messages, wiring)
                    .await
                    .map_err(|e| format!("discord: {e}"))
            }),
        );
    }
    drop(failed_tx);
    if started.is_empty() {
        eprintln!(
            "error: no chat adapter to run: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Slack, Socket Mode), \
             DISCORD_TOKEN (Discord), or try `dockhand shell`"
        );
        return ExitCode::from(2);
    }
    let routing = tokio::spawn(router.run(routed));
    // Operations a previous instance left mid-watch report again where they were
    // asked; posting needs only the platforms' web APIs, not their sockets.
    for platform in &started {
        dispatcher.recover(*platform, &outbox);
    }
    // Replicas: an operation whose replica died (its claim lapsed) is resumed
    // by one of the others, in its thread.
    if config.state.table.is_some() {
        let (d, outbox, stop, platforms) = (
            dispatcher.clone(),
            outbox.clone(),
            intake.clone(),
            started.clone(),
        );
        adapters.spawn(async move {
            let mut every = tokio::time::interval(ADOPT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = every.tick() => d.adopt(&platforms, &outbox),
                    () = stop.cancelled() => return,
                }
            }
        });
    }
    // AWS's events: another input beside the adapters, stopped with them.
    if let Some(url) = &config.notifications.queue {
        notifications(&dispatcher, url, &outbox, &health, &intake, &adapters);
    }
    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        _ = stop_signal() => {
            tracing::info!("stopping: no new commands; operations in flight hand over");
        }
        Some(e) = failed.recv() => {
            // One adapter failing stops the bot: ECS restarts it whole.
            tracing::error!("{e}");
            eprintln!("error: {e}");
            code = ExitCode::FAILURE;
        }
    }
    adapters.close();
    let stopping = async {
        // 1. intake, 2. operations: they stop watching at once and each says so in
        // its channel; the next instance resumes the watch from what was recorded.
        intake.cancel();
        dispatcher.shutdown_token().cancel();
        // 3. drain: every operation's last reply is in the router.
        dispatcher.tasks().close();
        dispatcher.tasks().wait().await;
        drop(outbox);
        // 4. delivery: the router ends with the last outbox (the adapters'
        // workers hold theirs until their queues are done), then each deliverer.
        let _ = routing.await;
        adapters.wait().await;
    };
    if tokio::time::timeout(STOP_DEADLINE, stopping).await.is_err() {
        tracing::error!("stopping took over {STOP_DEADLINE:?}; exiting with replies undelivered");
        code = ExitCode::FAILURE;
    }
    while let Ok(e) = failed.try_recv() {
        tracing::error!("{e}");
        code = ExitCode::FAILURE;
    }
    // 5. health.
    health_stop.cancel();
    let _ = health_server.await;
    code
}

/// Starts the notifications consumer on `url`, owned by `tasks`, stopped by `stop`.
pub fn notifications(
    dispatcher: &Dispatcher<AwsOps>,
    url: &str,
    outbox: &crate::message::Outbox,
    health: &Health,
    stop: &CancellationToken,
    tasks: &TaskTracker,
) {
    let queue = crate::ops::aws::queue::SqsQueue::new(dispatcher.ops_handle(), url);
    let notice: Arc<dyn crate::notify::Notice> = Arc::new(dispatcher.clone());
    tracing::info!(queue = url, "notifications: reading AWS's events");
    tasks.spawn(crate::notify::consume(
        queue,
        notice,
        outbox.clone(),
        health.clone(),
        stop.clone(),
    ));
}

/// SIGTERM (ECS stopping the task) or Ctrl-C.
pub async fn stop_signal() {
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
