//! The read-only verbs: status, stacks, stack, events, history.
//!
//! `status` of many apps is the hot one (on-call runs it from a phone): services are
//! described 10 per call per cluster, clusters and task definitions concurrently.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

use super::ecs::{self, TAG_BY_NAME, TAG_OUTCOME, TAG_VERSION};
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
    let resolved: Vec<(usize, Result<(super::Clients, ServiceRef), OpsError>)> =
        stream::iter(resolving)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;

    let mut lines: Vec<Option<AppStatus>> = vec![None; apps.len()];
    // Group by environment and cluster: one DescribeServices per 10 services.
    let mut groups: BTreeMap<(String, String), (super::Clients, Vec<(usize, String)>)> =
        BTreeMap::new();
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
            (clients, members, result)
        })
        .collect();
    let described: Vec<_> = stream::iter(describing)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut reads = Vec::new();
    for (clients, members, result) in described {
        match result {
            Ok((services, _missing)) => {
                for (i, name) in members {
                    match services
                        .iter()
                        .find(|s| s.service_name() == Some(name.as_str()))
                    {
                        Some(s) => reads.push((i, clients.clone(), s.clone())),
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
        .map(|(i, clients, service)| async move {
            let (app, _) = &apps[i];
            let snap = ecs::snap(&service);
            let primary = snap.primary().cloned();
            let td = ecs::task_definition(&clients, &snap.task_definition).await;
            let (version, by) = match &td {
                Ok((td, tags)) => {
                    let container = match &app.target {
                        config::Target::Service { container, .. } => Some(container.as_str()),
                        config::Target::Stack { .. } => None,
                    };
                    let version = ecs::app_container(
                        td,
                        container,
                        service.service_name().unwrap_or_default(),
                    )
                    .and_then(|c| c.image())
                    .and_then(|i| ecs::split_image(i).1)
                    .map(str::to_string)
                    .or_else(|| ecs::tag_value(tags, TAG_VERSION).map(str::to_string));
                    (
                        version,
                        ecs::tag_value(tags, TAG_BY_NAME).map(str::to_string),
                    )
                }
                Err(_) => (None, None),
            };
            let rollout = match &primary {
                Some(_) if snap.in_progress() => "IN_PROGRESS".to_string(),
                Some(p) if !p.rollout_state.is_empty() => p.rollout_state.clone(),
                _ => "STEADY".to_string(),
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
) -> OpsResult<StackDetail> {
    let clients = ops.clients(environment).await?;
    let s = cfn::describe(&clients, name.as_str()).await?;
    let events = cfn::events(&clients, name.as_str()).await?;
    Ok(StackDetail {
        name: name.to_string(),
        status: cfn::status(&s),
        reason: s.stack_status_reason().map(str::to_string),
        // CloudFormation itself answers NoEcho parameters as `****`.
        parameters: s
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_key().unwrap_or_default().to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        outputs: s
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.output_key().unwrap_or_default().to_string(),
                    o.output_value().unwrap_or_default().to_string(),
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
                        .map(|r| format!(" {r}"))
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
    lines.sort_by(|a, b| b.at.cmp(&a.at));
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
    let container = match &app.target {
        config::Target::Service { container, .. } => Some(container.clone()),
        config::Target::Stack { .. } => None,
    };
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
            let version = ecs::app_container(&td, container, &svc.service)
                .and_then(|c| c.image())
                .and_then(|i| ecs::split_image(i).1)
                .unwrap_or("?")
                .to_string();
            let outcome = match (arn == current, ecs::tag_value(&tags, TAG_OUTCOME)) {
                (true, _) => "running now".to_string(),
                (false, Some(o)) => o.to_string(),
                (false, None) => "-".to_string(),
            };
            Ok::<_, OpsError>((
                ecs::revision_number(&arn),
                HistoryEntry {
                    version,
                    revision: revision(&arn),
                    by: ecs::tag_value(&tags, TAG_BY_NAME).map(str::to_string),
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
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}
