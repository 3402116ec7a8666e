//! `logs --follow`: an app's lines as they arrive. CloudWatch Logs Live Tail
//! (StartLiveTail, one streamed session) where AWS offers it; where it does not
//! (a role without `logs:StartLiveTail`, a region or endpoint without it), a
//! FilterLogEvents poll each second. Both behind `ops::LogTail`: dispatch never
//! knows which one it reads.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream;
use aws_sdk_cloudwatchlogs::types::error::StartLiveTailResponseStreamError;
use aws_smithy_types::event_stream::RawMessage;

use super::logs::{LogSource, client_for, missing_group};
use super::{AwsOps, classify};
use crate::config::{App, Environment};
use crate::ops::{LogLine, LogTail, OpsError, OpsResult, TailBatch, TailQuery, mask};

/// How often the poll reads, and how far back each read looks again: the awslogs
/// driver ships a task's lines in batches (every 5 s by default), so a line
/// stamped before the newest one seen may still arrive. Each event is shown once
/// (by its id).
const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_OVERLAP_MS: i64 = 15_000;
/// Lines one read keeps: far more than chat shows in a second. A read that
/// brings more keeps the newest and says it sampled.
const MAX_BATCH: usize = 500;

/// A live tail of one app, by whichever way AWS allows.
pub enum AwsTail {
    Live(Live),
    Poll(Poll),
}

impl LogTail for AwsTail {
    async fn next(&mut self) -> OpsResult<TailBatch> {
        match self {
            AwsTail::Live(l) => l.next().await,
            AwsTail::Poll(p) => p.next().await,
        }
    }

    fn source(&self) -> &str {
        match self {
            AwsTail::Live(l) => &l.source,
            AwsTail::Poll(p) => &p.source,
        }
    }

    fn live(&self) -> bool {
        matches!(self, AwsTail::Live(_))
    }
}

/// Starts tailing the app's running revision's app container: Live Tail first,
/// the poll when AWS will not give a session.
pub(crate) async fn start(
    ops: &AwsOps,
    app: &App,
    environment: &Environment,
    query: &TailQuery,
) -> OpsResult<AwsTail> {
    let clients = ops.clients(environment).await?;
    let (source, service_arn) = super::logs::app_source(ops, &clients, app).await?;
    let logs = client_for(&clients, &source);
    let prefix = super::logs::stream_prefix(app, &source, query.task.as_deref())?;
    let shown = super::logs::shown_source(&clients, &source);
    match live(&logs, &source, &service_arn, prefix.clone(), query).await {
        Ok(stream) => {
            tracing::info!(app = %app.name, group = %source.group, "logs: following with Live Tail");
            return Ok(AwsTail::Live(Live {
                stream,
                secrets: source.secrets,
                source: shown,
            }));
        }
        Err(Unavailable::Missing) => return Err(missing_group(app, &source)),
        Err(Unavailable::Other(e)) => return Err(e),
        Err(Unavailable::Refused(why)) => {
            tracing::info!(app = %app.name, group = %source.group, why, "logs: Live Tail unavailable; polling FilterLogEvents");
        }
    }
    let mut poll = Poll {
        logs,
        group: source.group.clone(),
        prefix,
        grep: query.grep.clone(),
        secrets: source.secrets,
        source: shown,
        from_ms: crate::ops::now() * 1000,
        seen: HashMap::new(),
        app: app.clone(),
        group_source: source.group,
        carried: Vec::new(),
    };
    // The first read says now whether the group can be read at all; what it
    // found is the first batch.
    poll.carried = poll.read().await?.lines;
    Ok(AwsTail::Poll(poll))
}

/// Why Live Tail gave no session.
enum Unavailable {
    /// The group does not exist: the poll would say the same.
    Missing,
    /// Not offered to dockhand here (no permission, not in this region or
    /// endpoint, too many sessions): the poll reads instead. Why, for the log.
    Refused(String),
    /// Anything else, said as it is.
    Other(OpsError),
}

/// The session; its `response_stream` is the events (the receiver's own type
/// is not exported).
type Stream = aws_sdk_cloudwatchlogs::operation::start_live_tail::StartLiveTailOutput;

async fn live(
    logs: &aws_sdk_cloudwatchlogs::Client,
    source: &LogSource,
    service_arn: &str,
    prefix: Option<String>,
    query: &TailQuery,
) -> Result<Stream, Unavailable> {
    let Some(arn) = group_arn(service_arn, source, logs) else {
        return Err(Unavailable::Refused(
            "the log group's ARN is not known".into(),
        ));
    };
    let sent = logs
        .start_live_tail()
        .log_group_identifiers(arn)
        .set_log_stream_name_prefixes(prefix.map(|p| vec![p]))
        .set_log_event_filter_pattern(query.grep.clone())
        .send()
        .await;
    match sent {
        Ok(out) => Ok(out),
        Err(e) => {
            let code = e.code().unwrap_or_default().to_string();
            match code.as_str() {
                "ResourceNotFoundException" => Err(Unavailable::Missing),
                // No permission for Live Tail, Live Tail not served here, or the
                // account's concurrent sessions in use: reading still works.
                "AccessDeniedException"
                | "InvalidOperationException"
                | "LimitExceededException"
                | "UnknownOperationException" => Err(Unavailable::Refused(code)),
                "" if matches!(
                    e,
                    aws_sdk_cloudwatchlogs::error::SdkError::DispatchFailure(_)
                ) =>
                {
                    // Live Tail has its own host (`stream-logs.<region>...`): one
                    // that does not answer (a proxy, an endpoint without it) is
                    // Live Tail's trouble, not the logs'.
                    Err(Unavailable::Refused("its endpoint did not answer".into()))
                }
                _ => Err(Unavailable::Other(classify("logs:StartLiveTail", e))),
            }
        }
    }
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>`, from the account and
/// partition of the service that logs there: Live Tail takes ARNs only.
fn group_arn(
    service_arn: &str,
    source: &LogSource,
    logs: &aws_sdk_cloudwatchlogs::Client,
) -> Option<String> {
    let parts: Vec<&str> = service_arn.split(':').collect();
    let (partition, account) = (parts.get(1)?, parts.get(4)?);
    let region = source
        .region
        .clone()
        .or_else(|| logs.config().region().map(|r| r.to_string()))?;
    Some(format!(
        "arn:{partition}:logs:{region}:{account}:log-group:{}",
        source.group
    ))
}

/// A Live Tail session: AWS sends an update about once a second.
pub struct Live {
    stream: Stream,
    secrets: Vec<String>,
    source: String,
}

impl Live {
    async fn next(&mut self) -> OpsResult<TailBatch> {
        loop {
            match self.stream.response_stream.recv().await {
                Ok(Some(StartLiveTailResponseStream::SessionUpdate(update))) => {
                    let sampled = update.session_metadata().is_some_and(|m| m.sampled());
                    let lines = update
                        .session_results()
                        .iter()
                        .map(|e| {
                            line(
                                e.timestamp().unwrap_or_default(),
                                e.log_stream_name().unwrap_or_default(),
                                e.message().unwrap_or_default(),
                                &self.secrets,
                            )
                        })
                        .collect();
                    return Ok(TailBatch { lines, sampled });
                }
                Ok(Some(_)) => continue, // sessionStart, or what this SDK does not know
                Ok(None) => {
                    return Err(OpsError::Ended(
                        "CloudWatch Logs ended the Live Tail session".into(),
                    ));
                }
                Err(e) => return Err(stream_error(e)),
            }
        }
    }
}

fn stream_error(
    e: aws_sdk_cloudwatchlogs::error::SdkError<StartLiveTailResponseStreamError, RawMessage>,
) -> OpsError {
    match e.into_service_error() {
        StartLiveTailResponseStreamError::SessionTimeoutException(_) => {
            OpsError::Ended("CloudWatch Logs ended the Live Tail session at its time limit".into())
        }
        other => OpsError::Ended(format!(
            "CloudWatch Logs broke off the Live Tail session ({})",
            other.code().unwrap_or("no reason given")
        )),
    }
}

/// FilterLogEvents once a second over the last few seconds, each event once.
pub struct Poll {
    logs: aws_sdk_cloudwatchlogs::Client,
    group: String,
    prefix: Option<String>,
    grep: Option<String>,
    secrets: Vec<String>,
    source: String,
    /// Lines from before the tail began are not its.
    from_ms: i64,
    /// Event ids already shown, with their timestamps, within the overlap.
    seen: HashMap<String, i64>,
    app: App,
    group_source: String,
    /// Lines the read at start found, for the first batch.
    carried: Vec<LogLine>,
}

impl Poll {
    async fn next(&mut self) -> OpsResult<TailBatch> {
        tokio::time::sleep(POLL_EVERY).await;
        let mut batch = self.read().await?;
        if !self.carried.is_empty() {
            let mut lines = std::mem::take(&mut self.carried);
            lines.append(&mut batch.lines);
            batch.lines = lines;
        }
        Ok(batch)
    }

    /// One read of the overlap window: what has not been shown yet.
    async fn read(&mut self) -> OpsResult<TailBatch> {
        let now_ms = crate::ops::now() * 1000;
        let start = self.from_ms.max(now_ms - POLL_OVERLAP_MS);
        let page = self
            .logs
            .filter_log_events()
            .log_group_name(&self.group)
            .set_log_stream_name_prefix(self.prefix.clone())
            .start_time(start)
            .set_filter_pattern(self.grep.clone())
            .send()
            .await
            .map_err(|e| match classify("logs:FilterLogEvents", e) {
                OpsError::NotFound(_) => OpsError::NotFound(format!(
                    "Log group {} does not exist (any more): {}'s logs cannot be followed.",
                    self.group_source, self.app.name
                )),
                other => other,
            })?;
        self.seen.retain(|_, at| *at >= start);
        let mut lines = Vec::new();
        for e in page.events() {
            let (Some(id), at) = (e.event_id(), e.timestamp().unwrap_or_default()) else {
                continue;
            };
            if at < self.from_ms || self.seen.insert(id.to_string(), at).is_some() {
                continue;
            }
            lines.push(line(
                at,
                e.log_stream_name().unwrap_or_default(),
                e.message().unwrap_or_default(),
                &self.secrets,
            ));
        }
        // More than one page in a second: the rest is past what chat can show.
        let mut sampled = page.next_token().is_some_and(|t| !t.is_empty());
        if lines.len() > MAX_BATCH {
            lines.drain(..lines.len() - MAX_BATCH);
            sampled = true;
        }
        Ok(TailBatch { lines, sampled })
    }
}

fn line(at_ms: i64, stream: &str, message: &str, secrets: &[String]) -> LogLine {
    LogLine {
        at_ms,
        task: stream.rsplit('/').next().unwrap_or(stream).to_string(),
        text: mask::log_line(message.trim_end(), secrets),
    }
}
