//! An app's logs from CloudWatch Logs: where its running revision's app container
//! sends them (the awslogs driver's group, region and stream prefix), read with
//! FilterLogEvents, cleaned and masked before anything leaves this module.

use std::collections::VecDeque;

use aws_sdk_ecs::types::{ContainerDefinition, LogDriver};

use super::{AwsOps, Clients, classify, ecs};
use crate::config::{App, Environment};
use crate::ops::{LogLine, LogPage, LogQuery, OpsError, OpsResult, mask};

/// FilterLogEvents calls one `logs` may make: AWS answers at most 10,000 events
/// (1 MB) a page, so this reads a window of up to 100,000 lines or 10 MB, and
/// says so when the window holds more.
const MAX_CALLS: u32 = 10;

/// Where a container's lines are, from its awslogs options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogSource {
    pub group: String,
    pub region: Option<String>,
    /// `prefix/container/`: every task's stream starts with it (AWS names a
    /// stream `prefix/container/task-id`). None without a prefix: ECS then names
    /// streams by container id, and the whole group is read.
    pub streams: Option<String>,
    /// Values of the container's variables whose names look secret.
    pub secrets: Vec<String>,
}

/// Where `container` of the app logs, or why dockhand cannot read it.
pub(crate) fn source(
    ops: &AwsOps,
    app: &App,
    container: &ContainerDefinition,
) -> OpsResult<LogSource> {
    let name = container.name().unwrap_or_default();
    let Some(config) = container.log_configuration() else {
        return Err(OpsError::NotFound(format!(
            "{}'s container `{name}` has no log configuration, so ECS keeps its output nowhere \
             dockhand can read. Give it the awslogs driver in its task definition.",
            app.name
        )));
    };
    match config.log_driver() {
        LogDriver::Awslogs => {}
        other => {
            return Err(OpsError::NotFound(format!(
                "{}'s container `{name}` logs through the {} driver; dockhand reads CloudWatch Logs \
                 (the awslogs driver) only. Read its logs where {} sends them.",
                app.name,
                other.as_str(),
                other.as_str()
            )));
        }
    }
    let options = config.options();
    let option = |k: &str| options.and_then(|o| o.get(k)).cloned();
    let group = option("awslogs-group").ok_or_else(|| {
        OpsError::NotFound(format!(
            "{}'s container `{name}` uses awslogs without `awslogs-group`; set it in the task definition.",
            app.name
        ))
    })?;
    let secrets = container
        .environment()
        .iter()
        .filter(|kv| kv.name().is_some_and(|n| ops.secret_name(n)))
        .filter_map(|kv| kv.value().map(str::to_string))
        .collect();
    Ok(LogSource {
        group,
        region: option("awslogs-region"),
        streams: option("awslogs-stream-prefix").map(|p| format!("{p}/{name}/")),
        secrets,
    })
}

/// The app container of the revision the service runs now, where it logs, and
/// the service's ARN (its account and partition name the log group's ARN).
pub(crate) async fn app_source(
    ops: &AwsOps,
    clients: &Clients,
    app: &App,
) -> OpsResult<(LogSource, String)> {
    let svc = ops.service_of(clients, app).await?;
    let described = ecs::describe(clients, &svc).await?;
    let arn = described.service_arn().unwrap_or_default().to_string();
    let snap = ecs::snap(&described);
    let (td, _) = ecs::task_definition(clients, &snap.task_definition).await?;
    let container = ecs::app_container(&td, app.container(), &svc.service).ok_or_else(|| {
        OpsError::NotFound(format!(
            "{}'s task definition has no essential container to read logs of.",
            app.name
        ))
    })?;
    Ok((source(ops, app, container)?, arn))
}

/// The region the container logs to, when it is not the environment's.
fn other_region<'a>(clients: &Clients, source: &'a LogSource) -> Option<&'a str> {
    let home = clients.logs.config().region().map(|r| r.as_ref());
    source.region.as_deref().filter(|r| Some(*r) != home)
}

pub(crate) async fn read(
    ops: &AwsOps,
    app: &App,
    environment: &Environment,
    query: &LogQuery,
) -> OpsResult<LogPage> {
    let clients = ops.clients(environment).await?;
    let (source, _) = app_source(ops, &clients, app).await?;
    lines(&clients, app, &source, query).await
}

/// A client for the region the container logs to.
pub(crate) fn client_for(clients: &Clients, source: &LogSource) -> aws_sdk_cloudwatchlogs::Client {
    match other_region(clients, source) {
        Some(r) => aws_sdk_cloudwatchlogs::Client::from_conf(
            clients
                .logs
                .config()
                .to_builder()
                .region(aws_config::Region::new(r.to_string()))
                .build(),
        ),
        None => clients.logs.clone(),
    }
}

/// The group as chat is told it: with its region when not the environment's.
pub(crate) fn shown_source(clients: &Clients, source: &LogSource) -> String {
    match other_region(clients, source) {
        Some(r) => format!("{} ({r})", source.group),
        None => source.group.clone(),
    }
}

/// The streams to read: the container's, or one task's of them.
pub(crate) fn stream_prefix(
    app: &App,
    source: &LogSource,
    task: Option<&str>,
) -> OpsResult<Option<String>> {
    match (&source.streams, task) {
        (Some(p), Some(task)) => Ok(Some(format!("{p}{task}"))),
        (Some(p), None) => Ok(Some(p.clone())),
        // Streams named by container id: a task's lines cannot be picked out.
        (None, Some(_)) => Err(OpsError::NotFound(format!(
            "{}'s container logs without `awslogs-stream-prefix`, so its streams do not name \
             their task; leave out --task.",
            app.name
        ))),
        (None, None) => Ok(None),
    }
}

/// The newest `query.lines` lines of the window, oldest first. FilterLogEvents
/// pages forward in time, so the window is read to its end, keeping only the
/// newest lines: memory stays at `lines`, whatever the window holds.
pub(crate) async fn lines(
    clients: &Clients,
    app: &App,
    source: &LogSource,
    query: &LogQuery,
) -> OpsResult<LogPage> {
    let logs = client_for(clients, source);
    let prefix = stream_prefix(app, source, query.task.as_deref())?;
    let mut kept: VecDeque<LogLine> = VecDeque::with_capacity(query.lines.min(1024));
    let (mut matched, mut calls, mut token) = (0usize, 0u32, None::<String>);
    let cut_short = loop {
        if calls == MAX_CALLS {
            break token.is_some();
        }
        calls += 1;
        let page = logs
            .filter_log_events()
            .log_group_name(&source.group)
            .set_log_stream_name_prefix(prefix.clone())
            .start_time(query.since_ms)
            .set_filter_pattern(query.grep.clone())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| match classify("logs:FilterLogEvents", e) {
                OpsError::NotFound(_) => missing_group(app, source),
                other => other,
            })?;
        for event in page.events() {
            matched += 1;
            if kept.len() == query.lines {
                kept.pop_front();
            }
            let stream = event.log_stream_name().unwrap_or_default();
            kept.push_back(LogLine {
                at_ms: event.timestamp().unwrap_or_default(),
                task: stream.rsplit('/').next().unwrap_or(stream).to_string(),
                text: mask::log_line(
                    event.message().unwrap_or_default().trim_end(),
                    &source.secrets,
                ),
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break false,
        }
    };
    let lines: Vec<LogLine> = kept.into();
    Ok(LogPage {
        source: shown_source(clients, source),
        earlier: matched - lines.len(),
        lines,
        cut_short,
    })
}

/// The last lines `task` logged before it stopped, or why there are none.
pub(crate) async fn evidence(
    ops: &AwsOps,
    clients: &Clients,
    app: &App,
    service: &str,
    task: ecs::StoppedTask,
) -> crate::ops::Evidence {
    /// Lines a failure's thread shows.
    const LINES: usize = 20;
    let read = async {
        let (td, _) = ecs::task_definition(clients, &task.task_definition).await?;
        let container = ecs::app_container(&td, app.container(), service).ok_or_else(|| {
            OpsError::NotFound("its task definition has no essential container".into())
        })?;
        let source = source(ops, app, container)?;
        let query = LogQuery {
            lines: LINES,
            // A failing task lives minutes; an hour before its end is ample.
            since_ms: task.stopped_ms - 3_600_000,
            grep: None,
            task: Some(task.id.clone()),
        };
        lines(clients, app, &source, &query).await
    };
    let (source, lines, unread) = match read.await {
        Ok(page) => (Some(page.source), page.lines, None),
        Err(e) => {
            tracing::warn!(app = %app.name, task = %task.id, error = %e, "could not read a failed task's logs");
            (None, Vec::new(), Some(e.to_string()))
        }
    };
    crate::ops::Evidence {
        task: task.id,
        exit_code: task.exit_code,
        reason: task.reason.map(|r| mask::log_line(&r, &[])),
        source,
        lines,
        unread,
    }
}

pub(crate) fn missing_group(app: &App, source: &LogSource) -> OpsError {
    OpsError::NotFound(format!(
        "Log group {} does not exist: {}'s task definition sends its logs there, but CloudWatch \
         has no such group (create it, or set awslogs-create-group).",
        source.group, app.name
    ))
}
