//! The read-only verbs: status, stacks, stack, events, history.
//!
//! `status` of many apps is the hot one (on-call runs it from a phone): services are
//! described 10 per call per cluster, clusters and task definitions concurrently.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ecs::types::ServiceDeployment;

use futures::stream::{self, StreamExt};

use super::ecs;
use super::record::attribution_of;
use super::{AwsOps, ServiceRef, cfn};
use crate::command::value::StackName;
use crate::config::{self, App, Environment};
use crate::ops::watch::revision;
use crate::ops::{
    AppStatus, EventLine, HistoryEntry, OpsError, OpsResult, StackDetail, StackSummary,
};

/// How many AWS calls `status` and `history` make at once.
const CONCURRENCY: usize = 8;

fn problem_line(app: &App, problem: String) -> AppStatus {
    AppStatus {
        app: app.name.to_string(),
        environment: app.environment.clone(),
        version: None,
        running: 0,
        desired: 0,
        pending: 0,
        rollout: String::new(),
        deployed_by: None,
        deployed_at: None,
        problem: Some(problem),
    }
}

fn short_error(e: &OpsError) -> String {
    if e.is_user_facing() {
        e.to_string()
    } else {
        "cannot be read (see the log)".into()
    }
}

/// An app's clients and service, once resolved.
type Resolved = (super::Clients, ServiceRef);
/// A service name with the index of the app it belongs to.
type Indexed = (usize, String);

pub async fn status(ops: &AwsOps, apps: &[(App, Environment)]) -> Vec<AppStatus> {
    // Resolve every app's service (stack apps: once, then remembered).
    let resolving: Vec<_> = apps
        .iter()
        .enumerate()
        .map(|(i, (app, env))| async move {
            let r = async {
                let clients = ops.clients(env).await?;
                let svc = ops.service_of(&clients, app).await?;
                Ok((clients, svc))
            }
            .await;
            (i, r)
        })
        .collect();
    let resolved: Vec<(usize, OpsResult<Resolved>)> = stream::iter(resolving)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut lines: Vec<Option<AppStatus>> = vec![None; apps.len()];
    // Group by environment and cluster: one DescribeServices per 10 services.
    let mut groups: BTreeMap<(String, String), (super::Clients, Vec<Indexed>)> = BTreeMap::new();
    for (i, r) in resolved {
        match r {
            Ok((clients, svc)) => {
                groups
                    .entry((apps[i].1.name.clone(), svc.cluster.clone()))
                    .or_insert_with(|| (clients, Vec::new()))
                    .1
                    .push((i, svc.service));
            }
            Err(e) => lines[i] = Some(problem_line(&apps[i].0, short_error(&e))),
        }
    }
    let describing: Vec<_> = groups
        .into_iter()
        .map(|((_, cluster), (clients, members))| async move {
            let names: Vec<String> = members.iter().map(|(_, s)| s.clone()).collect();
            let result = ecs::describe_many(&clients, &cluster, &names).await;
            // ECS's own record of each service's current deployment, 20 per call:
            // its status is the deployment's state in ECS's words.
            let current: Vec<String> = match &result {
                Ok((services, _)) => services
                    .iter()
                    .filter_map(|s| s.current_service_deployment().map(str::to_string))
                    .collect(),
                Err(_) => Vec::new(),
            };
            let records: HashMap<String, ServiceDeployment> = if current.is_empty() {
                HashMap::new()
            } else {
                // Without records (an older API, a region without them), the
                // deployments array's words serve, as before.
                match ecs::records(&clients, &current).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::debug!(error = %e, "no deployment records for status");
                        HashMap::new()
                    }
                }
            };
            (clients, members, result.map(|r| (r, records)))
        })
        .collect();
    let described: Vec<_> = stream::iter(describing)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut reads = Vec::new();
    for (clients, members, result) in described {
        match result {
            Ok(((services, _missing), records)) => {
                for (i, name) in members {
                    match services
                        .iter()
                        .find(|s| s.service_name() == Some(name.as_str()))
                    {
                        Some(s) => {
                            let record = s
                                .current_service_deployment()
                                .and_then(|arn| records.get(arn))
                                .cloned();
                            reads.push((i, clients.clone(), s.clone(), record))
                        }
                        None => {
                            ops.forget_service(&apps[i].0);
                            lines[i] = Some(problem_line(
                                &apps[i].0,
                                format!("service {name} not found"),
                            ));
                        }
                    }
                }
            }
            Err(e) => {
                for (i, _) in members {
                    lines[i] = Some(problem_line(&apps[i].0, short_error(&e)));
                }
            }
        }
    }
    let reading: Vec<_> = reads
        .into_iter()
        .map(|(i, clients, service, record)| async move {
            let (app, _) = &apps[i];
            let snap = ecs::snap(&service);
            let primary = snap.primary().cloned();
            let td = ecs::task_definition_attributed(&clients, &snap.task_definition).await;
            let (version, by) = match &td {
                Ok((td, tags)) => {
                    let attribution = attribution_of(tags);
                    let version = ecs::image_version(
                        td,
                        app.container(),
                        service.service_name().unwrap_or_default(),
                    )
                    .map(str::to_string)
                    .or_else(|| attribution.as_ref().and_then(|a| a.version.clone()));
                    (version, attribution.map(|a| a.by_name))
                }
                Err(_) => (None, None),
            };
            let rollout = match &record {
                Some(d) => ecs_words(d),
                None => match &primary {
                    Some(_) if snap.in_progress() => "IN_PROGRESS".to_string(),
                    Some(p) if !p.rollout_state.is_empty() => p.rollout_state.clone(),
                    _ => "STEADY".to_string(),
                },
            };
            (
                i,
                AppStatus {
                    app: app.name.to_string(),
                    environment: app.environment.clone(),
                    version,
                    running: snap.running,
                    desired: snap.desired,
                    pending: snap.pending,
                    rollout,
                    deployed_by: by,
                    deployed_at: service
                        .deployments()
                        .iter()
                        .find(|d| d.status() == Some("PRIMARY"))
                        .and_then(|d| d.created_at())
                        .map(|t| t.secs()),
                    problem: None,
                },
            )
        })
        .collect();
    let read: Vec<(usize, AppStatus)> = stream::iter(reading)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (i, line) in read {
        lines[i] = Some(line);
    }
    lines.into_iter().flatten().collect()
}

/// A service deployment's state as ECS words it: its status, with the lifecycle
/// stage while it runs (`IN_PROGRESS (BAKE_TIME)`), and when it ended if it rolled
/// back or stopped, since that is news for a while and history after.
fn ecs_words(d: &ServiceDeployment) -> String {
    let status = d.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    let running = matches!(
        status,
        "PENDING"
            | "IN_PROGRESS"
            | "ROLLBACK_REQUESTED"
            | "ROLLBACK_IN_PROGRESS"
            | "STOP_REQUESTED"
    );
    match (running, d.lifecycle_stage(), d.finished_at()) {
        (true, Some(stage), _) => format!("{status} ({})", stage.as_str()),
        (false, _, Some(at)) if status != "SUCCESSFUL" => {
            format!("{status} {}", crate::ops::clock(at.secs()))
        }
        _ => status.to_string(),
    }
}

pub async fn stacks(ops: &AwsOps, environments: &[Environment]) -> OpsResult<Vec<StackSummary>> {
    let mut out: Vec<StackSummary> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for env in environments {
        let clients = ops.clients(env).await?;
        for s in cfn::list(&clients).await? {
            if seen.insert(s.stack_id().unwrap_or_default().to_string()) {
                out.push(StackSummary {
                    name: s.stack_name().unwrap_or_default().to_string(),
                    status: cfn::status(&s),
                    updated: cfn::changed_at(&s),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub async fn stack(
    ops: &AwsOps,
    environment: &Environment,
    name: &StackName,
    rules: &config::OutputRules,
) -> OpsResult<StackDetail> {
    let clients = ops.clients(environment).await?;
    let s = cfn::describe(&clients, name.as_str()).await?;
    let events = cfn::events(&clients, name.as_str()).await?;
    Ok(StackDetail {
        name: name.to_string(),
        status: cfn::status(&s),
        // Reasons can quote a request's values.
        reason: s.stack_status_reason().map(crate::ops::mask::text),
        // CloudFormation itself answers NoEcho parameters as `****`; names that
        // look secret are masked here as well, for templates that forgot NoEcho.
        parameters: s
            .parameters()
            .iter()
            .map(|p| {
                let key = p.parameter_key().unwrap_or_default();
                (
                    key.to_string(),
                    ops.shown(key, p.parameter_value().unwrap_or_default()),
                )
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .map(|o| {
                let key = o.output_key().unwrap_or_default();
                (
                    key.to_string(),
                    ops.output_shown(rules, key, o.output_value().unwrap_or_default()),
                )
            })
            .collect(),
        events: events
            .iter()
            .take(5)
            .map(|e| EventLine {
                at: e.at,
                text: format!(
                    "{} {}{}",
                    e.status,
                    e.resource,
                    e.reason
                        .as_deref()
                        .map(|r| format!(" {}", crate::ops::mask::text(r)))
                        .unwrap_or_default()
                ),
            })
            .collect(),
    })
}

pub async fn events(
    ops: &AwsOps,
    app: &App,
    environment: &Environment,
    n: usize,
) -> OpsResult<Vec<EventLine>> {
    let clients = ops.clients(environment).await?;
    let svc = ops.service_of(&clients, app).await?;
    let service = ecs::describe(&clients, &svc).await?;
    let mut lines: Vec<EventLine> = ecs::events(&service)
        .into_iter()
        .take(n)
        .map(|e| EventLine {
            at: e.at,
            text: e.message,
        })
        .collect();
    if let config::Target::Stack { stack, .. } = &app.target {
        for e in cfn::events(&clients, stack.as_str())
            .await?
            .into_iter()
            .take(n)
        {
            let reason = e.reason.map(|r| format!(" {r}")).unwrap_or_default();
            lines.push(EventLine {
                at: e.at,
                text: format!("{} {}{reason}", e.status, e.resource),
            });
        }
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.at));
    lines.truncate(n);
    Ok(lines)
}

pub async fn history(
    ops: &AwsOps,
    app: &App,
    environment: &Environment,
) -> OpsResult<Vec<HistoryEntry>> {
    let clients = ops.clients(environment).await?;
    let svc = ops.service_of(&clients, app).await?;
    let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
    let (td, _) = ecs::task_definition(&clients, &snap.task_definition).await?;
    let family = td.family().unwrap_or_default().to_string();
    let container = app.container().map(str::to_string);
    let arns = ecs::revisions(&clients, &family, 10).await?;
    let (clients, container, svc, current) = (
        &clients,
        container.as_deref(),
        &svc,
        snap.task_definition.as_str(),
    );
    let reading: Vec<_> = arns
        .into_iter()
        .map(|arn| async move {
            let (td, tags) = ecs::task_definition(clients, &arn).await?;
            let version = ecs::image_version(&td, container, &svc.service)
                .unwrap_or("?")
                .to_string();
            let attribution = attribution_of(&tags);
            let outcome = match (arn == current, attribution.as_ref().and_then(|a| a.ending)) {
                (true, _) => "running now".to_string(),
                (false, Some(e)) => e.as_str().to_string(),
                (false, None) => "-".to_string(),
            };
            Ok::<_, OpsError>((
                ecs::revision_number(&arn),
                HistoryEntry {
                    version,
                    revision: revision(&arn),
                    by: attribution.map(|a| a.by_name),
                    at: td.registered_at().map(|t| t.secs()),
                    outcome,
                },
            ))
        })
        .collect();
    let mut entries: Vec<(i64, HistoryEntry)> = stream::iter(reading)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<OpsResult<_>>()?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut entries: Vec<HistoryEntry> = entries.into_iter().map(|(_, e)| e).collect();
    if let config::Target::Stack { stack, .. } = &app.target {
        // CloudFormation registers a stack's revisions, so only the ones dockhand
        // saw go live carry its tags; the stack's events say who asked for the
        // rest (their request token) and how each update ended.
        let operations =
            stack_operations(&cfn::events(clients, stack.as_str()).await?, stack.as_str());
        for e in entries.iter_mut() {
            let Some(at) = e.at else { continue };
            // The update that registered this revision: the last one started before it.
            if let Some(op) = operations
                .iter()
                .filter(|o| o.started <= at)
                .max_by_key(|o| o.started)
            {
                if e.by.is_none() {
                    e.by = op.token.as_deref().and_then(super::record::who_from_token);
                }
                if e.outcome == "-" {
                    e.outcome = op.outcome.clone();
                }
            }
        }
    }
    Ok(entries)
}

/// One stack operation read back from its events.
#[derive(Debug, PartialEq, Eq)]
struct StackOperation {
    started: crate::ops::Epoch,
    token: Option<String>,
    outcome: String,
}

/// Groups a stack's events (newest first) into operations: each starts with the
/// stack's own `*_IN_PROGRESS` event and ends with its final status.
fn stack_operations(events: &[cfn::StackEvent], stack: &str) -> Vec<StackOperation> {
    let mut operations: Vec<StackOperation> = Vec::new();
    let mut outcome: Option<String> = None;
    for e in events.iter().filter(|e| e.resource == stack) {
        match e.status.as_str() {
            "UPDATE_COMPLETE" | "CREATE_COMPLETE" => outcome = Some("live".into()),
            "UPDATE_ROLLBACK_COMPLETE" | "UPDATE_ROLLBACK_FAILED" | "UPDATE_FAILED" => {
                outcome = Some("rolled back".into())
            }
            "UPDATE_IN_PROGRESS" | "CREATE_IN_PROGRESS" => operations.push(StackOperation {
                started: e.at,
                token: e.token.clone(),
                outcome: outcome.take().unwrap_or_else(|| "in progress".into()),
            }),
            _ => {}
        }
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_state_is_said_in_ecs_words() {
        use aws_sdk_ecs::primitives::DateTime;
        use aws_sdk_ecs::types::{
            ServiceDeploymentLifecycleStage as Stage, ServiceDeploymentStatus as S,
        };
        let d = |status: S, stage: Option<Stage>, finished: Option<i64>| {
            ServiceDeployment::builder()
                .status(status)
                .set_lifecycle_stage(stage)
                .set_finished_at(finished.map(DateTime::from_secs))
                .build()
        };
        let at = 1_764_680_000; // 13:33 UTC
        assert_eq!(
            ecs_words(&d(S::InProgress, Some(Stage::BakeTime), None)),
            "IN_PROGRESS (BAKE_TIME)"
        );
        assert_eq!(ecs_words(&d(S::Successful, None, Some(at))), "SUCCESSFUL");
        assert_eq!(
            ecs_words(&d(S::RollbackSuccessful, None, Some(at))),
            format!("ROLLBACK_SUCCESSFUL {}", crate::ops::clock(at))
        );
        assert_eq!(ecs_words(&d(S::Pending, None, None)), "PENDING");
    }

    fn event(at: i64, status: &str, token: &str) -> cfn::StackEvent {
        cfn::StackEvent {
            id: format!("{at}-{status}"),
            at,
            resource: "hubot".into(),
            resource_type: "AWS::CloudFormation::Stack".into(),
            status: status.into(),
            reason: None,
            token: Some(token.into()),
        }
    }

    #[test]
    fn stack_events_group_into_operations_with_their_outcome() {
        // Newest first, as DescribeStackEvents answers.
        let events = [
            event(50, "UPDATE_IN_PROGRESS", "dockhand-deploy-slack-U2-bbbbbb"),
            event(
                40,
                "UPDATE_ROLLBACK_COMPLETE",
                "dockhand-deploy-slack-U1-aaaaaa",
            ),
            event(
                35,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                "dockhand-deploy-slack-U1-aaaaaa",
            ),
            event(30, "UPDATE_IN_PROGRESS", "dockhand-deploy-slack-U1-aaaaaa"),
            event(20, "UPDATE_COMPLETE", "console-1"),
            event(10, "UPDATE_IN_PROGRESS", "console-1"),
        ];
        let ops = stack_operations(&events, "hubot");
        let seen: Vec<(i64, &str, Option<String>)> = ops
            .iter()
            .map(|o| {
                (
                    o.started,
                    o.outcome.as_str(),
                    o.token
                        .as_deref()
                        .and_then(super::super::record::who_from_token),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (50, "in progress", Some("slack:U2".to_string())),
                (30, "rolled back", Some("slack:U1".to_string())),
                (10, "live", None),
            ]
        );
    }
}
