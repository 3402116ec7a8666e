//! The mutating flows on both paths: deploy, rollback, scale, cancel.
//!
//! Stack-managed apps change only through their stack (`UpdateStack` with the
//! previous template and every other parameter `UsePreviousValue`); service-managed
//! apps through a copied task definition and `UpdateService`. Either way the watch
//! polls until the outcome is certain (see `ops::watch`), posts each new AWS event
//! once, and records who asked and how it ended on the AWS side: the client request
//! token and task-definition tags. The running revision is never deregistered.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use super::cfn::{self, StackEvent, Update};
use super::ecs::{self, ServiceEvent};
use super::record::{self, TAG_OUTCOME, TAG_VERSION, token};
use super::{AwsOps, Clients, ServiceRef};
use crate::command::value::{TaskCount, Version};
use crate::config;
use crate::ops::store::{Operation, OperationKind};
use crate::ops::watch::{
    self, Judgement, ServiceSnap, judge_deploy, judge_scale, revision, stack_settled,
};
use crate::ops::{
    Epoch, Event, OpsError, OpsResult, Outcome, Plan, Progress, Target, Verdict, clock,
};

/// Posts each AWS event once, and the rollout counts when they change.
struct Reporter {
    progress: Progress,
    seen: HashSet<String>,
    last_rollout: Option<Event>,
    since: Epoch,
}

impl Reporter {
    fn new(progress: Progress) -> Mutex<Reporter> {
        // Events from a second before the request count: clocks differ a little.
        Mutex::new(Reporter {
            progress,
            seen: HashSet::new(),
            last_rollout: None,
            since: crate::ops::now() - 1,
        })
    }

    fn service(&mut self, snap: &ServiceSnap, events: &[ServiceEvent]) {
        for e in events.iter().rev() {
            if e.at >= self.since && self.seen.insert(e.id.clone()) {
                let _ = self.progress.send(Event::ServiceEvent {
                    at: e.at,
                    message: e.message.clone(),
                });
            }
        }
        if let Some(p) = snap.primary() {
            let rollout = Event::Rollout {
                revision: revision(&p.task_definition),
                running: p.running,
                desired: p.desired,
                pending: p.pending,
                failed: p.failed,
            };
            if self.last_rollout.as_ref() != Some(&rollout) {
                let _ = self.progress.send(rollout.clone());
                self.last_rollout = Some(rollout);
            }
        }
    }

    fn stack(&mut self, events: &[StackEvent], token: &str) {
        for e in events.iter().rev() {
            if e.token.as_deref() == Some(token) && self.seen.insert(e.id.clone()) {
                let _ = self.progress.send(Event::StackEvent {
                    at: e.at,
                    resource: e.resource.clone(),
                    status: e.status.clone(),
                    reason: e.reason.clone(),
                });
            }
        }
    }
}

fn busy_service(app: &str, snap: &ServiceSnap) -> OpsError {
    OpsError::Busy {
        app: app.to_string(),
        status: format!("a rollout ({})", snap.state()),
        since: "it started".into(),
    }
}

/// Refuses to move a locked app. Read from AWS every time: the lock may have been
/// taken by another dockhand, or before this one started.
async fn ensure_unlocked(ops: &AwsOps, clients: &Clients, target: &Target) -> OpsResult<()> {
    let svc = ops.service_of(clients, &target.app).await?;
    match record::lock_of(&ecs::describe(clients, &svc).await?) {
        Some(lock) => Err(OpsError::Locked {
            app: target.app.name.to_string(),
            lock,
        }),
        None => Ok(()),
    }
}

pub async fn deploy(
    ops: &AwsOps,
    target: &Target,
    version: &Version,
    progress: Progress,
) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    ensure_unlocked(ops, &clients, target).await?;
    let verdict = match &target.app.target {
        config::Target::Stack {
            version_parameter, ..
        } => {
            let changes = vec![(version_parameter.as_str(), version.to_string())];
            stack_update(
                ops,
                &clients,
                target,
                "deploy",
                changes,
                Expect::Version(version.to_string()),
                progress,
            )
            .await?
        }
        config::Target::Service { container, .. } => {
            let svc = ops.service_of(&clients, &target.app).await?;
            let s = ecs::describe(&clients, &svc).await?;
            let snap = ecs::snap(&s);
            if snap.in_progress() {
                return Err(busy_service(target.app.name.as_str(), &snap));
            }
            let (td, _) = ecs::task_definition(&clients, &snap.task_definition).await?;
            let image = ecs::container_image(&td, container)?;
            let current = ecs::split_image(image).1.map(str::to_string);
            let _ = progress.send(Event::Started {
                current: current.clone(),
            });
            if current.as_deref() == Some(version.as_str()) {
                Verdict::Unchanged {
                    detail: format!("already runs {version}"),
                }
            } else {
                let tags = record::attribution(&target.requester, Some(version.as_str()), None);
                let new = ecs::register_copy(
                    &clients,
                    &td,
                    container,
                    &ecs::with_version(image, version.as_str()),
                    tags,
                )
                .await?;
                ecs::update_task_definition(&clients, &svc, &new).await?;
                watch_service(
                    ops,
                    &clients,
                    target,
                    &svc,
                    &new,
                    Some(version.as_str()),
                    progress,
                )
                .await?
            }
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

/// Watches a service-path rollout to `want`, then records the outcome on it.
async fn watch_service(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    want: &str,
    version: Option<&str>,
    progress: Progress,
) -> OpsResult<Verdict> {
    let reporter = Reporter::new(progress);
    let (r, c) = (&reporter, clients);
    let verdict = watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        move || async move {
            let s = ecs::describe(c, svc).await?;
            let snap = ecs::snap(&s);
            r.lock().expect("reporter").service(&snap, &ecs::events(&s));
            Ok(judge_deploy(&snap, want))
        },
    )
    .await?;
    finish(clients, svc, target, verdict, version, want).await
}

/// Watches a service-path scale until `n` tasks run.
async fn watch_count(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    n: i32,
    progress: Progress,
) -> OpsResult<Verdict> {
    let reporter = Reporter::new(progress);
    let (r, c) = (&reporter, clients);
    watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        move || async move {
            let service = ecs::describe(c, svc).await?;
            let snap = ecs::snap(&service);
            r.lock()
                .expect("reporter")
                .service(&snap, &ecs::events(&service));
            Ok(judge_scale(&snap, n))
        },
    )
    .await
}

/// Completes a verdict: the version on success, the last stopped task's reason on
/// failure; and tags the revision with the outcome, which `history` and `rollback` read.
async fn finish(
    clients: &Clients,
    svc: &ServiceRef,
    target: &Target,
    verdict: Verdict,
    version: Option<&str>,
    revision_arn: &str,
) -> OpsResult<Verdict> {
    let outcome_tag = match &verdict {
        Verdict::Live { .. } => Some("live"),
        Verdict::Failed { .. } => Some("failed"),
        Verdict::Unchanged { .. } | Verdict::TimedOut { .. } | Verdict::Cancelled { .. } => None,
    };
    if let (Some(outcome), false) = (outcome_tag, revision_arn.is_empty()) {
        let tags = record::attribution(&target.requester, version, Some(outcome));
        // The outcome is already certain; a failed tag only costs history detail.
        if let Err(e) = ecs::tag_resource(clients, revision_arn, tags).await {
            tracing::warn!(error = %e, revision = revision_arn, "could not tag the revision with its outcome");
        }
    }
    Ok(match verdict {
        Verdict::Live {
            version: None,
            revision,
            running,
            desired,
        } => Verdict::Live {
            version: version.map(str::to_string),
            revision,
            running,
            desired,
        },
        Verdict::Failed {
            summary,
            reason,
            stopped_reason: None,
        } => {
            let stopped_reason = ecs::last_stopped_reason(clients, svc)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not read stopped tasks");
                    None
                });
            Verdict::Failed {
                summary,
                reason,
                stopped_reason,
            }
        }
        other => other,
    })
}

/// What a stack update must end with to be a success.
enum Expect {
    /// The service's primary runs a revision with this version, rollout completed.
    Version(String),
    /// The service runs this many tasks.
    Count(i32),
    /// The update was cancelled and rolled back.
    RolledBack,
}

/// Updates a stack-managed app's parameters and watches the result.
async fn stack_update(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    verb: &str,
    changes: Vec<(&str, String)>,
    expect: Expect,
    progress: Progress,
) -> OpsResult<Verdict> {
    let config::Target::Stack {
        stack: stack_name,
        version_parameter,
        ..
    } = &target.app.target
    else {
        unreachable!("stack_update is only called for stack-managed apps")
    };
    let stack = cfn::describe(clients, stack_name.as_str()).await?;
    let status = cfn::status(&stack);
    if status.ends_with("_IN_PROGRESS") {
        return Err(OpsError::Busy {
            app: target.app.name.to_string(),
            status,
            since: cfn::changed_at(&stack)
                .map(clock)
                .unwrap_or_else(|| "a while".into()),
        });
    }
    let _ = progress.send(Event::Started {
        current: cfn::parameter(&stack, version_parameter),
    });
    let svc = ops.service_of(clients, &target.app).await?;
    let token = token(verb, &target.requester);
    match cfn::update(
        clients,
        stack_name.as_str(),
        cfn::parameters(&stack, &changes),
        &token,
    )
    .await?
    {
        Update::NoChanges => {
            let detail = match &expect {
                Expect::Version(v) => format!("already runs {v}"),
                Expect::Count(n) => format!("already has {n} tasks"),
                Expect::RolledBack => "has nothing to cancel".into(),
            };
            return Ok(Verdict::Unchanged { detail });
        }
        Update::Started => {}
    }
    watch_stack(ops, clients, target, &svc, &token, expect, progress).await
}

/// Watches a stack operation identified by `token` until the stack settles and the
/// service agrees.
async fn watch_stack(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    token: &str,
    expect: Expect,
    progress: Progress,
) -> OpsResult<Verdict> {
    let config::Target::Stack {
        stack: stack_name, ..
    } = &target.app.target
    else {
        unreachable!("watch_stack is only called for stack-managed apps")
    };
    let reporter = Reporter::new(progress);
    let (r, c, e) = (&reporter, clients, &expect);
    let name = stack_name.as_str();
    let verdict = watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        move || async move {
            let stack = cfn::describe(c, name).await?;
            let events = cfn::events(c, name).await?;
            r.lock().expect("reporter").stack(&events, token);
            let s = ecs::describe(c, svc).await?;
            let snap = ecs::snap(&s);
            r.lock().expect("reporter").service(&snap, &ecs::events(&s));
            let status = cfn::status(&stack);
            Ok(match (stack_settled(&status), e) {
                (None, _) => Judgement::Waiting(format!("stack {status}; {}", snap.state())),
                (Some(false), Expect::RolledBack) if status == "UPDATE_ROLLBACK_COMPLETE" => {
                    match snap.primary() {
                        Some(p) if !snap.in_progress() => Judgement::Done(Verdict::Cancelled {
                            state: format!(
                                "{name} is back on {} ({status})",
                                revision(&p.task_definition)
                            ),
                        }),
                        _ => Judgement::Waiting(format!("stack {status}; {}", snap.state())),
                    }
                }
                (Some(false), _) => {
                    let failed = events.iter().rev().find(|ev| {
                        ev.token.as_deref() == Some(token) && ev.status.ends_with("_FAILED")
                    });
                    Judgement::RolledBack {
                        summary: format!("CloudFormation rolled back {name} ({status})"),
                        reason: failed.map(|f| {
                            format!(
                                "{} {}: {}",
                                f.resource,
                                f.status,
                                f.reason.clone().unwrap_or_default()
                            )
                        }),
                    }
                }
                // UPDATE_COMPLETE says nothing about ECS when the Service resource
                // did not wait for the rollout: live only when the service runs the
                // revision this update produced, and that revision runs the version.
                (Some(true), Expect::Version(v)) => {
                    let want = match cfn::stack_task_definition(c, name).await? {
                        Some(arn) => arn,
                        // No task definition in the stack: the primary's must carry it.
                        None => snap
                            .primary()
                            .map(|p| p.task_definition.clone())
                            .unwrap_or_default(),
                    };
                    let (td, _) = ecs::task_definition(c, &want).await?;
                    let runs = ecs::app_container(&td, None, &svc.service)
                        .and_then(|c| c.image())
                        .and_then(|i| ecs::split_image(i).1)
                        .map(str::to_string);
                    match judge_deploy(&snap, &want) {
                        Judgement::Done(_) if runs.as_deref() != Some(v.as_str()) => {
                            Judgement::RolledBack {
                                summary: format!(
                                    "{} runs {}, not {v}",
                                    revision(&want),
                                    runs.as_deref().unwrap_or("an image without a tag")
                                ),
                                reason: None,
                            }
                        }
                        Judgement::Waiting(state) => {
                            Judgement::Waiting(format!("stack {status}; {state}"))
                        }
                        other => other,
                    }
                }
                (Some(true), Expect::Count(n)) => judge_scale(&snap, *n),
                (Some(true), Expect::RolledBack) => Judgement::Done(Verdict::Failed {
                    summary: format!("the update of {name} finished before it could be cancelled"),
                    reason: None,
                    stopped_reason: None,
                }),
            })
        },
    )
    .await?;
    let (version, revision_arn) = match (&expect, &verdict) {
        (Expect::Version(v), Verdict::Live { .. }) => (
            Some(v.as_str()),
            ecs::describe(clients, svc)
                .await
                .map(|s| ecs::snap(&s).task_definition)
                .unwrap_or_default(),
        ),
        _ => (None, String::new()),
    };
    finish(clients, svc, target, verdict, version, &revision_arn).await
}

pub async fn plan(ops: &AwsOps, target: &Target, version: &Version) -> OpsResult<Plan> {
    let clients = ops.clients(&target.environment).await?;
    match &target.app.target {
        config::Target::Stack {
            stack,
            version_parameter,
            ..
        } => {
            let s = cfn::describe(&clients, stack.as_str()).await?;
            let current = cfn::parameter(&s, version_parameter);
            let changes = cfn::plan(
                &clients,
                &s,
                &[(version_parameter.as_str(), version.to_string())],
            )
            .await?;
            Ok(Plan { current, changes })
        }
        config::Target::Service { container, .. } => {
            let svc = ops.service_of(&clients, &target.app).await?;
            let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
            let (td, _) = ecs::task_definition(&clients, &snap.task_definition).await?;
            let image = ecs::container_image(&td, container)?;
            let current = ecs::split_image(image).1.map(str::to_string);
            let next = ecs::with_version(image, version.as_str());
            let changes = if next == image {
                Vec::new()
            } else {
                vec![
                    format!(
                        "Task definition {} -> a new revision of {}",
                        revision(&snap.task_definition),
                        td.family().unwrap_or_default()
                    ),
                    format!("Container {container} image: {image} -> {next}"),
                    format!(
                        "Service {}: UpdateService to the new revision ({} tasks)",
                        svc.service, snap.desired
                    ),
                ]
            };
            Ok(Plan { current, changes })
        }
    }
}

/// The revision to roll back to: the newest one tagged live that is not running
/// now, else the one before the current revision.
async fn rollback_revision(
    clients: &Clients,
    current: &str,
    container: Option<&str>,
    service: &str,
) -> OpsResult<(String, Option<String>)> {
    let (td, _) = ecs::task_definition(clients, current).await?;
    let family = td.family().unwrap_or_default().to_string();
    let current_version = ecs::app_container(&td, container, service)
        .and_then(|c| c.image())
        .and_then(|i| ecs::split_image(i).1)
        .map(str::to_string);
    let mut fallback = None;
    for arn in ecs::revisions(clients, &family, 20).await? {
        // Only older revisions: after a rollback, the newer one is what we left.
        if ecs::revision_number(&arn) >= ecs::revision_number(current) {
            continue;
        }
        let (td, tags) = ecs::task_definition(clients, &arn).await?;
        let version = ecs::app_container(&td, container, service)
            .and_then(|c| c.image())
            .and_then(|i| ecs::split_image(i).1)
            .map(str::to_string);
        if version == current_version {
            continue;
        }
        match record::tag_value(&tags, TAG_OUTCOME) {
            Some("live") => return Ok((arn, version)),
            Some("failed") => {}
            _ => {
                fallback.get_or_insert((arn, version));
            }
        }
    }
    fallback
        .ok_or_else(|| OpsError::NotFound("There is no earlier version to roll back to.".into()))
}

pub async fn rollback(ops: &AwsOps, target: &Target, progress: Progress) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    ensure_unlocked(ops, &clients, target).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
    let verdict = match &target.app.target {
        config::Target::Stack {
            version_parameter, ..
        } => {
            let (_, version) =
                rollback_revision(&clients, &snap.task_definition, None, &svc.service).await?;
            let version = version.ok_or_else(|| {
                OpsError::NotFound("The previous revision has no image tag to return to.".into())
            })?;
            let changes = vec![(version_parameter.as_str(), version.clone())];
            stack_update(
                ops,
                &clients,
                target,
                "rollback",
                changes,
                Expect::Version(version),
                progress,
            )
            .await?
        }
        config::Target::Service { container, .. } => {
            if snap.in_progress() {
                return Err(busy_service(target.app.name.as_str(), &snap));
            }
            let (td, _) = ecs::task_definition(&clients, &snap.task_definition).await?;
            let current = ecs::container_image(&td, container)?;
            let _ = progress.send(Event::Started {
                current: ecs::split_image(current).1.map(str::to_string),
            });
            let (arn, version) = rollback_revision(
                &clients,
                &snap.task_definition,
                Some(container),
                &svc.service,
            )
            .await?;
            ecs::update_task_definition(&clients, &svc, &arn).await?;
            watch_service(
                ops,
                &clients,
                target,
                &svc,
                &arn,
                version.as_deref(),
                progress,
            )
            .await?
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

pub async fn scale(
    ops: &AwsOps,
    target: &Target,
    count: TaskCount,
    progress: Progress,
) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    ensure_unlocked(ops, &clients, target).await?;
    let n = i32::try_from(count.0).unwrap_or(i32::MAX);
    let verdict = match &target.app.target {
        config::Target::Stack {
            count_parameter, ..
        } => {
            // Never behind CloudFormation's back: the count is a stack parameter.
            stack_update(
                ops,
                &clients,
                target,
                "scale",
                vec![(count_parameter.as_str(), count.to_string())],
                Expect::Count(n),
                progress,
            )
            .await?
        }
        config::Target::Service { .. } => {
            let svc = ops.service_of(&clients, &target.app).await?;
            let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
            let _ = progress.send(Event::Started {
                current: Some(format!("{} tasks", snap.desired)),
            });
            if snap.desired == n && snap.running == n && !snap.in_progress() {
                Verdict::Unchanged {
                    detail: format!("already has {n} tasks"),
                }
            } else {
                ecs::update_count(&clients, &svc, n).await?;
                watch_count(ops, &clients, target, &svc, n, progress).await?
            }
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

pub async fn cancel(ops: &AwsOps, target: &Target, progress: Progress) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let verdict = match &target.app.target {
        config::Target::Stack { stack, .. } => {
            let s = cfn::describe(&clients, stack.as_str()).await?;
            let status = cfn::status(&s);
            if status != "UPDATE_IN_PROGRESS" {
                return Err(OpsError::Rejected(format!(
                    "{} has no update to cancel (stack {status}).",
                    target.app.name
                )));
            }
            // The rollback CloudFormation starts carries the cancel's token on its events.
            let token = token("cancel", &target.requester);
            cfn::cancel_update(&clients, stack.as_str(), &token).await?;
            watch_stack(
                ops,
                &clients,
                target,
                &svc,
                &token,
                Expect::RolledBack,
                progress,
            )
            .await?
        }
        config::Target::Service { .. } => {
            let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
            let previous = snap
                .deployments
                .iter()
                .find(|d| d.status == "ACTIVE")
                .map(|d| d.task_definition.clone());
            let Some(previous) = previous.filter(|_| snap.in_progress()) else {
                return Err(OpsError::Rejected(format!(
                    "{} has no rollout in progress to cancel.",
                    target.app.name
                )));
            };
            ecs::update_task_definition(&clients, &svc, &previous).await?;
            match watch_service(ops, &clients, target, &svc, &previous, None, progress).await? {
                Verdict::Live { revision, .. } => Verdict::Cancelled {
                    state: format!("{} is back on {revision}", target.app.name),
                },
                other => other,
            }
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

/// Watches a recorded operation to its end, from wherever it is now: it may still
/// be rolling out, or have finished while no dockhand was watching.
pub async fn resume(
    ops: &AwsOps,
    target: &Target,
    op: &Operation,
    progress: Progress,
) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let verdict = match &target.app.target {
        config::Target::Stack {
            stack,
            version_parameter,
            ..
        } => {
            let s = cfn::describe(&clients, stack.as_str()).await?;
            let current = cfn::parameter(&s, version_parameter);
            let _ = progress.send(Event::Started {
                current: current.clone(),
            });
            // The operation's own events carry its request token: the newest
            // event with one of dockhand's tokens is this operation's.
            let events = cfn::events(&clients, stack.as_str()).await?;
            let token = events
                .iter()
                .find_map(|e| e.token.clone().filter(|t| t.starts_with("dockhand-")))
                .unwrap_or_default();
            let expect = match &op.kind {
                OperationKind::Deploy { version } => Expect::Version(version.to_string()),
                // A rollback's target version is what it set the parameter to.
                OperationKind::Rollback => Expect::Version(current.unwrap_or_default()),
                OperationKind::Scale { count } => {
                    Expect::Count(i32::try_from(count.0).unwrap_or(i32::MAX))
                }
                OperationKind::Cancel => Expect::RolledBack,
            };
            watch_stack(ops, &clients, target, &svc, &token, expect, progress).await?
        }
        config::Target::Service { .. } => {
            let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
            let _ = progress.send(Event::Started { current: None });
            match &op.kind {
                OperationKind::Scale { count } => {
                    let n = i32::try_from(count.0).unwrap_or(i32::MAX);
                    watch_count(ops, &clients, target, &svc, n, progress).await?
                }
                // Deploy, rollback and cancel all roll out the primary's revision.
                OperationKind::Deploy { .. } | OperationKind::Rollback | OperationKind::Cancel => {
                    let want = snap.task_definition.clone();
                    let (_, tags) = ecs::task_definition(&clients, &want).await?;
                    let version = record::tag_value(&tags, TAG_VERSION).map(str::to_string);
                    watch_service(
                        ops,
                        &clients,
                        target,
                        &svc,
                        &want,
                        version.as_deref(),
                        progress,
                    )
                    .await?
                }
            }
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}
