//! The mutating flows on both paths: deploy, rollback, scale, cancel.
//!
//! Stack-managed apps change only through their stack (`UpdateStack` with the
//! previous template and every other parameter `UsePreviousValue`); service-managed
//! apps through a copied task definition and `UpdateService`. Either way the watch
//! polls until the outcome is certain (see `ops::watch`), posts each new AWS event
//! once, and records who asked and how it ended on the AWS side: the client request
//! token and task-definition tags. The running revision is never deregistered.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use aws_sdk_ecs::types::Service;

use super::cfn::{self, StackEvent, Update};
use super::ecs::{self, ServiceEvent};
use super::poll::{Look, Watcher};
use super::record::{self, token};
use super::{AwsOps, Clients, ServiceRef, transient};
use crate::command::value::{TaskCount, Version};
use crate::config;
use crate::ops::store::{Attribution, Ending, Operation, OperationKind};
use crate::ops::watch::{
    self, Judgement, Pause, RecordSnap, ServiceSnap, Want, judge_deploy, judge_record, judge_scale,
    revision, stack_settled,
};
use crate::ops::{
    Event, Left, OpsError, OpsResult, Outcome, Plan, Progress, Target, Verdict, clock,
};

/// Posts each AWS event once, and the rollout counts when they change.
struct Reporter {
    progress: Progress,
    seen: HashSet<String>,
    last_rollout: Option<Event>,
    /// Service events from this time on (milliseconds) belong to the operation.
    since_ms: i64,
}

impl Reporter {
    fn new(progress: Progress) -> Mutex<Reporter> {
        Reporter::since(progress, None)
    }

    /// For a deployment that began at `started_ms` (ECS's createdAt): the events
    /// of what the service did before it (a previous deploy settling a moment
    /// earlier) are not its story. Without a start, from a second before the
    /// request: clocks differ a little.
    fn since(progress: Progress, started_ms: Option<i64>) -> Mutex<Reporter> {
        Mutex::new(Reporter {
            progress,
            seen: HashSet::new(),
            last_rollout: None,
            since_ms: started_ms.unwrap_or_else(|| crate::ops::now() * 1000 - 1000),
        })
    }

    fn service(&mut self, snap: &ServiceSnap, events: &[ServiceEvent]) {
        for e in events.iter().rev() {
            if e.at_ms >= self.since_ms && self.seen.insert(e.id.clone()) {
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

    /// A thread line, once per `key`.
    fn once(&mut self, key: String, message: String) {
        if self.seen.insert(key) {
            let _ = self.progress.send(Event::ServiceEvent {
                at: crate::ops::now(),
                message,
            });
        }
    }

    /// The deployment's stage and traffic in its strategy's terms, each step once;
    /// and, the first time a deploy is known to have failed while ECS still rolls
    /// back, that failure, so the thread says it when it happens.
    fn record(&mut self, rec: &RecordSnap, judged: &Judgement) {
        // Progress lines only while the deployment goes forward, and only once ECS
        // names a stage: a rollback has lines of its own below.
        if matches!(rec.status.as_str(), "PENDING" | "IN_PROGRESS") && rec.stage.is_some() {
            let (key, line) = rec.milestone();
            self.once(
                format!("{}|{key}", rec.arn),
                format!("ECS deployment: {line}"),
            );
        }
        if let Judgement::RollingBack { summary, reason } = judged {
            let why = reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            // A stop dockhand was asked for is a cancel, not a failure.
            let lead = if stopped_by(&rec.arn).is_some() {
                ""
            } else {
                "FAILED: "
            };
            self.once(
                format!("{}|rolling-back", rec.arn),
                format!("{lead}{summary}{why}. dockhand watches the rollback to its end."),
            );
        }
        if let Some(pause) = &rec.paused
            && rec.status == "IN_PROGRESS"
            && self
                .seen
                .insert(format!("{}|paused|{}", rec.arn, pause.hook_id))
        {
            let _ = self.progress.send(Event::Paused(pause.clone()));
        }
        let rolling_back_seen = self.seen.contains(&format!("{}|rolling-back", rec.arn));
        match rec.status.as_str() {
            "ROLLBACK_SUCCESSFUL" if rolling_back_seen => self.once(
                format!("{}|rolled-back", rec.arn),
                format!(
                    "The rollback finished: ECS is back on {}.",
                    rec.back_to()
                        .map(|b| b.name())
                        .unwrap_or_else(|| "the previous revision".into())
                ),
            ),
            "ROLLBACK_FAILED" if rolling_back_seen => self.once(
                format!("{}|rollback-failed", rec.arn),
                "The rollback FAILED: the service may be on neither version.".into(),
            ),
            _ => {}
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

/// Who asked this dockhand to stop which service deployment (by its ARN, unique
/// across accounts): the deploy's own watch, running alongside, names them in its
/// verdict instead of calling the rollback a failure. Known in this process only;
/// a deploy watched by another dockhand reports ECS's reason instead.
static STOPS: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);

fn stopped_by(arn: &str) -> Option<String> {
    STOPS.lock().expect("stops lock").get(arn).cloned()
}

/// Remembers who stopped `arn`. Cancels are rare; the map is bounded all the same,
/// and a stop older than the bound only loses the "cancelled by" wording.
fn note_stop(arn: &str, who: &str) {
    let mut stops = STOPS.lock().expect("stops lock");
    if stops.len() >= 256 {
        stops.clear();
    }
    stops.insert(arn.to_string(), who.to_string());
}

/// Which judge a watch uses, decided on its first polls and logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judge {
    /// Looking for ECS's record of this deploy; `misses` polls found none.
    Looking { misses: u32 },
    /// ECS's service-deployment record with this ARN.
    Record(String),
    /// No records (an old service, a region or emulator without the API): the
    /// legacy deployments-array rules.
    Legacy,
    /// A CODE_DEPLOY or EXTERNAL controller: ECS keeps no record and dockhand
    /// cannot judge the rollout at all.
    Unjudgeable(String),
}

/// What one poll found of the record.
enum Seen {
    Record(Box<RecordSnap>),
    NotYet,
    Legacy,
    Unjudgeable(String),
}

/// Polls without a record of a deploy the service already rolls out, before the
/// legacy rules take over (ECS writes the record when the deployment starts).
const MISSES_BEFORE_LEGACY: u32 = 5;

/// The newest records looked at when finding the one of a deploy.
const RECORDS_LOOKED_AT: i32 = 5;

/// Finds and reads ECS's record of one deploy, poll after poll. Once found, a poll
/// costs one DescribeServiceDeployments; revisions are described once (they never
/// change).
struct RecordWatch {
    judge: Judge,
    revisions: HashMap<String, ecs::RevisionInfo>,
    /// The record's status and stage, and when the watch first saw them.
    stage: Option<(String, crate::ops::Epoch)>,
    container: Option<String>,
    service: String,
    /// The last record read: what `finish` judges the stopped tasks' relevance by.
    last: Option<RecordSnap>,
}

impl RecordWatch {
    fn new(target: &Target, svc: &ServiceRef) -> RecordWatch {
        RecordWatch::new_for(target.app.container().map(str::to_string), &svc.service)
    }

    fn new_for(container: Option<String>, service: &str) -> RecordWatch {
        RecordWatch {
            judge: Judge::Looking { misses: 0 },
            revisions: HashMap::new(),
            stage: None,
            container,
            service: service.to_string(),
            last: None,
        }
    }

    fn legacy(&mut self, why: &str) -> Seen {
        tracing::info!(service = %self.service, judge = "deployments-array", why, "judging the rollout by the legacy deployments array");
        self.judge = Judge::Legacy;
        Seen::Legacy
    }

    /// Describes the revisions not known yet.
    async fn learn(&mut self, clients: &Clients, arns: Vec<String>) -> OpsResult<()> {
        let mut missing: Vec<String> = arns
            .into_iter()
            .filter(|a| !a.is_empty() && !self.revisions.contains_key(a))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let found = ecs::describe_revisions(
                clients,
                &missing,
                self.container.as_deref(),
                &self.service,
            )
            .await?;
            self.revisions.extend(found);
        }
        Ok(())
    }

    async fn read(
        &mut self,
        clients: &Clients,
        d: &aws_sdk_ecs::types::ServiceDeployment,
    ) -> OpsResult<RecordSnap> {
        let mut arns: Vec<String> = d
            .source_service_revisions()
            .iter()
            .chain(d.target_service_revision())
            .filter_map(|r| r.arn().map(str::to_string))
            .collect();
        arns.extend(
            d.rollback()
                .and_then(|r| r.service_revision_arn())
                .map(str::to_string),
        );
        self.learn(clients, arns).await?;
        let mut rec = ecs::record_snap(d, &self.revisions);
        let key = format!(
            "{}|{}",
            rec.status,
            rec.stage.as_deref().unwrap_or_default()
        );
        let since = match &self.stage {
            Some((k, since)) if *k == key => *since,
            _ => ecs::record_updated(d).unwrap_or_else(crate::ops::now),
        };
        self.stage = Some((key, since));
        rec.stage_since = Some(since);
        self.last = Some(rec.clone());
        Ok(rec)
    }

    /// The record of the deploy to `want` (its target revision's task definition).
    /// `eager` looks even before the service shows the new revision (a resumed
    /// watch, a stack that settled).
    #[allow(clippy::too_many_arguments)]
    async fn look(
        &mut self,
        clients: &Clients,
        svc: &ServiceRef,
        watcher: &Watcher,
        seen: &Look,
        snap: &ServiceSnap,
        want: &str,
        eager: bool,
    ) -> OpsResult<Seen> {
        let s = &seen.service;
        match &self.judge {
            Judge::Legacy => return Ok(Seen::Legacy),
            Judge::Unjudgeable(c) => return Ok(Seen::Unjudgeable(c.clone())),
            Judge::Record(arn) => {
                let arn = arn.clone();
                // The cluster's round describes the record with the others once it
                // is followed; until then (the round began before), once here.
                let found = match &seen.record {
                    Some(r) => r.clone()?,
                    None => ecs::describe_deployments(clients, std::slice::from_ref(&arn))
                        .await?
                        .into_iter()
                        .next(),
                };
                watcher.follow(&arn);
                return match found {
                    Some(d) => Ok(Seen::Record(Box::new(self.read(clients, &d).await?))),
                    None => Ok(self.legacy("ECS no longer describes the deployment's record")),
                };
            }
            Judge::Looking { .. } => {}
        }
        let controller = ecs::controller(s);
        if controller != "ECS" {
            tracing::info!(service = %self.service, judge = "none", controller, "ECS keeps no deployment records under this controller; dockhand cannot judge the rollout");
            self.judge = Judge::Unjudgeable(controller.clone());
            return Ok(Seen::Unjudgeable(controller));
        }
        let rolls_want = snap.deployments.iter().any(|d| d.task_definition == want);
        if !rolls_want && !eager {
            return Ok(Seen::NotYet);
        }
        let list = match ecs::list_deployments(clients, svc, RECORDS_LOOKED_AT).await {
            Ok(list) => list,
            Err(e) if transient(&e) => return Err(e),
            Err(e) => {
                tracing::info!(error = %e, "ListServiceDeployments failed");
                return Ok(self.legacy("ListServiceDeployments failed"));
            }
        };
        if list.is_empty() {
            return Ok(self.legacy("ECS has no deployment records for the service"));
        }
        let arns: Vec<String> = list.into_iter().map(|(arn, _)| arn).collect();
        let records = ecs::describe_deployments(clients, &arns).await?;
        let targets = records
            .iter()
            .filter_map(|d| d.target_service_revision()?.arn().map(str::to_string))
            .collect();
        self.learn(clients, targets).await?;
        let ours = records.iter().find(|d| {
            d.target_service_revision()
                .and_then(|t| t.arn())
                .and_then(|a| self.revisions.get(a))
                .and_then(|r| r.task_definition.as_deref())
                == Some(want)
        });
        match ours {
            Some(d) => {
                let arn = d.service_deployment_arn().unwrap_or_default().to_string();
                tracing::info!(service = %self.service, judge = "service-deployment", deployment = %arn, "judging the rollout by ECS's service-deployment record");
                watcher.follow(&arn);
                self.judge = Judge::Record(arn);
                Ok(Seen::Record(Box::new(self.read(clients, d).await?)))
            }
            None => {
                let misses = match self.judge {
                    Judge::Looking { misses } => misses + 1,
                    _ => 1,
                };
                if misses >= MISSES_BEFORE_LEGACY {
                    return Ok(self.legacy("ECS has no record of this deploy"));
                }
                self.judge = Judge::Looking { misses };
                Ok(Seen::NotYet)
            }
        }
    }

    /// Whether the last stopped task's reason belongs in a failure: when the
    /// breaker (tasks that failed) or a failed rollback caused it, or the legacy
    /// judge decided; not for an alarm or a hook, where it would be unrelated.
    fn stopped_tasks_matter(&self) -> bool {
        match &self.last {
            Some(r) if matches!(self.judge, Judge::Record(_)) => {
                r.breaker_status.as_deref() == Some("TRIGGERED")
                    || r.status == "ROLLBACK_FAILED"
                    || r.cause().is_none()
            }
            _ => true,
        }
    }
}

/// What a poll's look at the record means for a deploy to `want`.
fn judge_seen(
    seen: Seen,
    snap: &ServiceSnap,
    want: &Want,
    reporter: &Mutex<Reporter>,
) -> Judgement {
    match seen {
        Seen::Record(rec) => {
            let j = judge_record(
                &rec,
                snap,
                want,
                stopped_by(&rec.arn).as_deref(),
                crate::ops::now(),
            );
            reporter.lock().expect("reporter").record(&rec, &j);
            j
        }
        Seen::NotYet => Judgement::Waiting(format!(
            "no ECS deployment record of {} yet; {}",
            revision(&want.task_definition),
            snap.state()
        )),
        Seen::Legacy => judge_deploy(snap, &want.task_definition),
        Seen::Unjudgeable(controller) => Judgement::Done(Verdict::TimedOut {
            state: unjudgeable(&controller),
        }),
    }
}

fn unjudgeable(controller: &str) -> String {
    format!(
        "the service uses the {controller} deployment controller, whose rollouts ECS keeps no \
         record of, so dockhand cannot judge whether this one succeeded (see {})",
        match controller {
            "CODE_DEPLOY" => "the CodeDeploy deployment",
            _ => "the tool that runs its task sets",
        }
    )
}

/// A service under the CODE_DEPLOY or EXTERNAL controller takes no new task
/// definition through UpdateService (AWS refuses it), and ECS keeps no record of
/// its rollouts: say so before changing anything, rather than deploy blind.
fn refuse_unjudgeable(target: &Target, s: &Service) -> OpsResult<()> {
    let controller = ecs::controller(s);
    if controller == "ECS" {
        return Ok(());
    }
    Err(OpsError::Rejected(format!(
        "{} uses the {controller} deployment controller: its rollouts go through {}, not \
         UpdateService, and {}; nothing was changed.",
        target.app.name,
        if controller == "CODE_DEPLOY" {
            "CodeDeploy"
        } else {
            "its own task sets"
        },
        unjudgeable(&controller)
    )))
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
    match ops.current_lock(clients, target).await? {
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
            refuse_unjudgeable(target, &s)?;
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
                let tags = record::attribution_tags(&Attribution::new(
                    &target.requester,
                    Some(version.as_str()),
                    None,
                ));
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
                    Want::new(&new, Some(version.as_str())),
                    None,
                    Reporter::new(progress),
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

/// One look at the service in a watch, from its cluster's shared round:
/// snapshotted for the judges, and its new events and counts reported.
async fn observe(watcher: &Watcher, reporter: &Mutex<Reporter>) -> OpsResult<(Look, ServiceSnap)> {
    let seen = watcher.look().await?;
    let snap = ecs::snap(&seen.service);
    reporter
        .lock()
        .expect("reporter")
        .service(&snap, &ecs::events(&seen.service));
    Ok((seen, snap))
}

/// A watcher of `svc` on its cluster's shared poll, at the configured interval.
fn watcher(ops: &AwsOps, clients: &Clients, svc: &ServiceRef) -> Watcher {
    clients.polls.watch(clients, svc, ops.watch_config().poll)
}

/// Polls the service and ECS's record of the deploy of `want` until the judge
/// decides or the app's timeout passes; `stopping` when dockhand stopped it.
#[allow(clippy::too_many_arguments)]
async fn poll_record(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    reporter: &Mutex<Reporter>,
    records: &tokio::sync::Mutex<RecordWatch>,
    want: &Want,
    stopping: bool,
) -> OpsResult<Verdict> {
    let w = &watcher(ops, clients, svc);
    watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        transient,
        move || async move {
            let (look, snap) = observe(w, reporter).await?;
            let seen = records
                .lock()
                .await
                .look(
                    clients,
                    svc,
                    w,
                    &look,
                    &snap,
                    &want.task_definition,
                    stopping,
                )
                .await?;
            Ok(judge_seen(seen, &snap, want, reporter))
        },
    )
    .await
}

/// Watches a service-path rollout to `want`, then records the outcome on it.
async fn watch_service(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    want: Want,
    record: Option<&str>,
    reporter: Mutex<Reporter>,
) -> OpsResult<Verdict> {
    let mut watch = RecordWatch::new(target, svc);
    // A resumed watch knows its record already: the service may be back on the
    // old revision (rolled back while no dockhand watched), where looking for a
    // record of a revision it does not run would wait for nothing.
    if let Some(arn) = record {
        watch.judge = Judge::Record(arn.to_string());
    }
    let records = tokio::sync::Mutex::new(watch);
    let verdict = poll_record(ops, clients, target, svc, &reporter, &records, &want, false).await?;
    let matter = records.lock().await.stopped_tasks_matter();
    let ended = Ended {
        version: want.version.as_deref(),
        revision_arn: &want.task_definition,
        stopped_tasks_matter: matter,
    };
    finish(ops, clients, svc, target, verdict, ended, &reporter).await
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
    let (r, w) = (&reporter, &watcher(ops, clients, svc));
    watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        transient,
        move || async move {
            let (_, snap) = observe(w, r).await?;
            Ok(judge_scale(&snap, n))
        },
    )
    .await
}

/// Completes a verdict: the version on success, the last stopped task's reason on
/// failure; and tags the revision with the outcome, which `history` and `rollback` read.
/// What `finish` needs to know of the rollout that ended.
struct Ended<'a> {
    version: Option<&'a str>,
    revision_arn: &'a str,
    stopped_tasks_matter: bool,
}

async fn finish(
    ops: &AwsOps,
    clients: &Clients,
    svc: &ServiceRef,
    target: &Target,
    verdict: Verdict,
    ended: Ended<'_>,
    reporter: &Mutex<Reporter>,
) -> OpsResult<Verdict> {
    let Ended {
        version,
        revision_arn,
        stopped_tasks_matter,
    } = ended;
    let ending = match &verdict {
        Verdict::Live { .. } => Some(Ending::Live),
        Verdict::Failed { .. } => Some(Ending::Failed),
        Verdict::Unchanged { .. } | Verdict::TimedOut { .. } | Verdict::Cancelled { .. } => None,
    };
    if let (Some(ending), false) = (ending, revision_arn.is_empty()) {
        let tags =
            record::attribution_tags(&Attribution::new(&target.requester, version, Some(ending)));
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
            left,
        } if stopped_tasks_matter => {
            let stopped = ecs::last_stopped_task(clients, svc, Some(revision_arn))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not read stopped tasks");
                    None
                });
            let stopped_reason = stopped.as_ref().and_then(|t| t.reason.clone());
            // A task that failed (not one the scheduler replaced) brings its
            // last lines into the thread.
            if let Some(task) = stopped.filter(|t| t.exit_code.is_some_and(|c| c != 0)) {
                let evidence =
                    super::logs::evidence(ops, clients, &target.app, &svc.service, task).await;
                let progress = reporter.lock().expect("reporter lock").progress.clone();
                let _ = progress.send(Event::Evidence(evidence));
            }
            Verdict::Failed {
                summary,
                reason,
                stopped_reason,
                left,
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
        capabilities,
        ..
    } = &target.app.target
    else {
        unreachable!("stack_update is only called for stack-managed apps")
    };
    let stack = cfn::describe(clients, stack_name.as_str()).await?;
    let status = cfn::status(&stack);
    if status == "UPDATE_ROLLBACK_FAILED" {
        return Err(OpsError::OutOfBounds(stuck(stack_name.as_str())));
    }
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
        capabilities,
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

/// A stack whose rollback failed: CloudFormation will not touch it again, and
/// neither will dockhand, until someone fixes what blocked the rollback.
fn stuck(stack: &str) -> String {
    format!(
        "stack {stack} is stuck in UPDATE_ROLLBACK_FAILED: CloudFormation could not roll it back. \
         Fix what blocked the rollback (see its events), then run \
         `aws cloudformation continue-update-rollback --stack-name {stack}`; dockhand will not update it until then."
    )
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
    let records = tokio::sync::Mutex::new(RecordWatch::new(target, svc));
    // The revision this update produced, once its TaskDefinition resource is done.
    let produced: Mutex<Option<String>> = Mutex::new(None);
    let (r, c, e, rw, pr) = (&reporter, clients, &expect, &records, &produced);
    let w = &watcher(ops, clients, svc);
    // The operation's events so far, and the stack status they were read at.
    let operation = &tokio::sync::Mutex::new((cfn::OperationEvents::new(token), None::<String>));
    let name = stack_name.as_str();
    let verdict = watch::watch(
        ops.watch_config().poll,
        target.app.timeout,
        transient,
        move || async move {
            let stack = cfn::describe(c, name).await?;
            let status = cfn::status(&stack);
            let events = {
                let mut op = operation.lock().await;
                let (read, at) = &mut *op;
                // A settled stack whose status did not change wrote no new events.
                if at.as_deref() != Some(status.as_str()) || stack_settled(&status).is_none() {
                    read.read(c, name).await?;
                }
                *at = Some(status.clone());
                read.all().to_vec()
            };
            r.lock().expect("reporter").stack(&events, token);
            let (look, snap) = observe(w, r).await?;
            let settled = stack_settled(&status);
            // The stack's TaskDefinition resource names the revision the update made
            // once it completed: read it then (one ListStackResources), or when the
            // stack settles, and follow ECS's record of rolling it out.
            let known = pr.lock().expect("produced").clone();
            let want_td = match (e, known) {
                (Expect::Version(_), Some(td)) => Some(td),
                (Expect::Version(_), None)
                    if settled.is_some()
                        || events.iter().any(|ev| {
                            ev.token.as_deref() == Some(token)
                                && ev.resource_type == "AWS::ECS::TaskDefinition"
                                && ev.status == "UPDATE_COMPLETE"
                        }) =>
                {
                    let td = cfn::stack_task_definition(c, name).await?;
                    *pr.lock().expect("produced") = td.clone();
                    td
                }
                _ => None,
            };
            let want = match (e, &want_td) {
                (Expect::Version(v), Some(td)) => Some(Want {
                    task_definition: td.clone(),
                    version: Some(v.clone()),
                }),
                _ => None,
            };
            let judged = match &want {
                Some(wanted) => {
                    let seen = rw
                        .lock()
                        .await
                        .look(
                            c,
                            svc,
                            w,
                            &look,
                            &snap,
                            &wanted.task_definition,
                            settled.is_some(),
                        )
                        .await?;
                    Some((
                        matches!(seen, Seen::Legacy),
                        judge_seen(seen, &snap, wanted, r),
                    ))
                }
                None => None,
            };
            Ok(match (settled, e) {
                (None, _) => {
                    let ecs_state = match &judged {
                        Some((_, Judgement::Waiting(state)))
                        | Some((_, Judgement::RollingBack { summary: state, .. })) => state.clone(),
                        _ => snap.state(),
                    };
                    Judgement::Waiting(format!("stack {status}; {ecs_state}"))
                }
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
                    // The first failure of this update (its events carry its token):
                    // the cause, not the rollback's own failures after it.
                    let failed = events.iter().rev().find(|ev| {
                        ev.token.as_deref() == Some(token) && ev.status.ends_with("_FAILED")
                    });
                    Judgement::RolledBack {
                        summary: if status == "UPDATE_ROLLBACK_FAILED" {
                            stuck(name).trim_end_matches('.').to_string()
                        } else {
                            format!("CloudFormation rolled back {name} ({status})")
                        },
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
                // did not wait for the rollout: live only when ECS's record of the
                // revision this update produced says SUCCESSFUL (or, without
                // records, the service runs it), and that revision runs the version.
                (Some(true), Expect::Version(v)) => match judged {
                    Some((false, Judgement::Waiting(state))) => {
                        Judgement::Waiting(format!("stack {status}; {state}"))
                    }
                    Some((false, other)) => other,
                    // The legacy rules, for a service without records.
                    Some((true, _)) | None => {
                        let want = want_td.clone().unwrap_or_else(|| {
                            snap.primary()
                                .map(|p| p.task_definition.clone())
                                .unwrap_or_default()
                        });
                        let (td, _) = ecs::task_definition(c, &want).await?;
                        let runs = ecs::image_version(&td, None, &svc.service).map(str::to_string);
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
                },
                (Some(true), Expect::Count(n)) => judge_scale(&snap, *n),
                (Some(true), Expect::RolledBack) => Judgement::Done(Verdict::Failed {
                    summary: format!("the update of {name} finished before it could be cancelled"),
                    reason: None,
                    stopped_reason: None,
                    left: Left::Failure,
                }),
            })
        },
    )
    .await?;
    let (version, revision_arn) = match (&expect, &verdict) {
        (Expect::Version(v), Verdict::Live { .. }) => (
            Some(v.as_str()),
            match produced.into_inner().expect("produced") {
                Some(td) => td,
                None => ecs::describe(clients, svc)
                    .await
                    .map(|s| ecs::snap(&s).task_definition)
                    .unwrap_or_default(),
            },
        ),
        _ => (None, String::new()),
    };
    let matter = records.lock().await.stopped_tasks_matter();
    let ended = Ended {
        version,
        revision_arn: &revision_arn,
        stopped_tasks_matter: matter,
    };
    finish(ops, clients, svc, target, verdict, ended, &reporter).await
}

pub async fn plan(ops: &AwsOps, target: &Target, version: &Version) -> OpsResult<Plan> {
    let clients = ops.clients(&target.environment).await?;
    match &target.app.target {
        config::Target::Stack {
            stack,
            version_parameter,
            capabilities,
            ..
        } => {
            let s = cfn::describe(&clients, stack.as_str()).await?;
            let current = cfn::parameter(&s, version_parameter);
            let changes = cfn::plan(
                &clients,
                &s,
                &[(version_parameter.as_str(), version.to_string())],
                capabilities,
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

/// Where a rollback would go, changing nothing: the revision `rollback` picks and
/// the version it carries.
pub async fn rollback_plan(ops: &AwsOps, target: &Target) -> OpsResult<Plan> {
    let clients = ops.clients(&target.environment).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let snap = ecs::snap(&ecs::describe(&clients, &svc).await?);
    let container = target.app.container();
    let (td, _) = ecs::task_definition(&clients, &snap.task_definition).await?;
    let current = ecs::image_version(&td, container, &svc.service).map(str::to_string);
    let (arn, version) =
        rollback_revision(&clients, &snap.task_definition, container, &svc.service).await?;
    let to = version.as_deref().unwrap_or("an image without a tag");
    let change = match &target.app.target {
        config::Target::Stack {
            stack,
            version_parameter,
            ..
        } => format!(
            "Stack {stack}: parameter {version_parameter} -> {to} ({})",
            revision(&arn)
        ),
        config::Target::Service { .. } => format!(
            "Service {}: UpdateService back to {} ({to})",
            svc.service,
            revision(&arn)
        ),
    };
    Ok(Plan {
        current,
        changes: vec![change],
    })
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
    let current_version = ecs::image_version(&td, container, service).map(str::to_string);
    let mut fallback = None;
    for arn in ecs::revisions(clients, &family, 20).await? {
        // Only older revisions: after a rollback, the newer one is what we left.
        if ecs::revision_number(&arn) >= ecs::revision_number(current) {
            continue;
        }
        let (td, tags) = ecs::task_definition(clients, &arn).await?;
        let version = ecs::image_version(&td, container, service).map(str::to_string);
        if version == current_version {
            continue;
        }
        match record::attribution_of(&tags).and_then(|a| a.ending) {
            Some(Ending::Live) => return Ok((arn, version)),
            Some(Ending::Failed) => {}
            None => {
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
    // A deployment held at a PAUSE hook is rolled back by deciding the hook: ECS
    // takes the service back to the revision it ran before, on the same record.
    if paused(target, &clients, &svc).await?.is_some() {
        let (rec, _) = decide(target, &clients, &svc, false).await?;
        let _ = progress.send(Event::Started {
            current: rec.target.version.clone(),
        });
        let verdict = watch_stop(ops, &clients, target, &svc, &rec, progress).await?;
        return Ok(Outcome {
            verdict,
            elapsed: started.elapsed(),
        });
    }
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
            refuse_unjudgeable(target, &ecs::describe(&clients, &svc).await?)?;
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
                Want::new(&arn, version.as_deref()),
                None,
                Reporter::new(progress),
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
            let s = ecs::describe(&clients, &svc).await?;
            match in_flight(target, &clients, &svc, &s).await? {
                InFlight::Record(rec) => {
                    stop_with_rollback(ops, &clients, target, &svc, rec, progress).await?
                }
                InFlight::Nothing => {
                    return Err(OpsError::Rejected(format!(
                        "{} has no rollout in progress to cancel; nothing was changed.",
                        target.app.name
                    )));
                }
                InFlight::RollingBack(rec) => {
                    return Err(OpsError::Rejected(format!(
                        "{} is already rolling back to {} ({}); there is nothing to cancel and nothing was changed.",
                        target.app.name,
                        rec.back_to()
                            .map(|b| b.name())
                            .unwrap_or_else(|| "the previous revision".into()),
                        rec.status
                    )));
                }
                InFlight::NoRecords => {
                    legacy_cancel(ops, &clients, target, &svc, &s, progress).await?
                }
            }
        }
    };
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

/// The app's deployment held at a PAUSE lifecycle hook, if there is one now.
async fn paused(
    target: &Target,
    clients: &Clients,
    svc: &ServiceRef,
) -> OpsResult<Option<(RecordSnap, Pause)>> {
    let s = ecs::describe(clients, svc).await?;
    Ok(match in_flight(target, clients, svc, &s).await? {
        InFlight::Record(rec) => rec.paused.clone().map(|p| (rec, p)),
        _ => None,
    })
}

/// Decides the deployment paused at a hook: CONTINUE (refused to whoever started
/// it where the environment needs two people) or ROLLBACK (who stopped it is
/// noted for the verdict). Returns the record as it was, and its pause.
async fn decide(
    target: &Target,
    clients: &Clients,
    svc: &ServiceRef,
    go_on: bool,
) -> OpsResult<(RecordSnap, Pause)> {
    let Some((rec, pause)) = paused(target, clients, svc).await? else {
        return Err(OpsError::Rejected(format!(
            "{} has no deployment waiting at a lifecycle hook; nothing was changed.",
            target.app.name
        )));
    };
    let task_definition = rec.target.task_definition.clone().unwrap_or_default();
    if go_on && target.environment.two_person && !task_definition.is_empty() {
        // The decision is the second person's: whoever started it may not make it.
        let (_, tags) = ecs::task_definition(clients, &task_definition).await?;
        if let Some(a) = record::attribution_of(&tags)
            && a.by == target.requester.identity
        {
            return Err(OpsError::Rejected(format!(
                "You started this deployment of {}; in {} someone else must decide at its lifecycle hook. Nothing was changed.",
                target.app.name, target.environment.name
            )));
        }
    }
    if !go_on {
        note_stop(&rec.arn, &target.requester.name);
    }
    ecs::continue_deployment(clients, &rec.arn, &pause.hook_id, go_on).await?;
    tracing::info!(deployment = %rec.arn, hook = %pause.hook_id, by = %target.requester.identity,
        action = if go_on { "CONTINUE" } else { "ROLLBACK" }, "ContinueServiceDeployment");
    Ok((rec, pause))
}

/// Decides the paused deployment for an app another operation watches: that
/// operation's thread reports what follows.
pub async fn decide_hook(ops: &AwsOps, target: &Target, go_on: bool) -> OpsResult<String> {
    let clients = ops.clients(&target.environment).await?;
    ensure_unlocked(ops, &clients, target).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let (rec, pause) = decide(target, &clients, &svc, go_on).await?;
    let at = pause.stage.map(|s| format!(" in {s}")).unwrap_or_default();
    Ok(if go_on {
        format!(
            "Continued by {}: the deployment of {} goes on past its lifecycle hook{at}; its thread follows it.",
            target.requester.name,
            rec.target.name()
        )
    } else {
        format!(
            "Rolled back at its lifecycle hook{at} by {}: ECS takes {} back to {}; the deployment's thread follows it.",
            target.requester.name,
            target.app.name,
            rec.back_to_name()
        )
    })
}

/// `continue`: lets a deployment paused at a lifecycle hook go on (ECS's
/// ContinueServiceDeployment), then watches it to its verdict.
pub async fn proceed(ops: &AwsOps, target: &Target, progress: Progress) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    ensure_unlocked(ops, &clients, target).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    // The events from the decision on are this operation's story.
    let decided_ms = crate::ops::now() * 1000;
    let (rec, _) = decide(target, &clients, &svc, true).await?;
    let _ = progress.send(Event::Started {
        current: rec.sources.first().and_then(|s| s.version.clone()),
    });
    let task_definition = rec.target.task_definition.clone().unwrap_or_default();
    let verdict = watch_service(
        ops,
        &clients,
        target,
        &svc,
        Want::new(&task_definition, rec.target.version.as_deref()),
        Some(&rec.arn),
        Reporter::since(progress, Some(decided_ms)),
    )
    .await?;
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

/// What a service has in flight, by ECS's records.
enum InFlight {
    /// A deployment ECS is rolling out (PENDING or IN_PROGRESS).
    Record(RecordSnap),
    /// ECS is already stopping or rolling back the newest deployment.
    RollingBack(RecordSnap),
    /// The newest deployment has finished.
    Nothing,
    /// No records to go by (an old service, another deployment controller).
    NoRecords,
}

async fn in_flight(
    target: &Target,
    clients: &Clients,
    svc: &ServiceRef,
    s: &Service,
) -> OpsResult<InFlight> {
    if ecs::controller(s) != "ECS" {
        return Ok(InFlight::NoRecords);
    }
    let newest = match s.current_service_deployment() {
        Some(arn) => Some(arn.to_string()),
        None => match ecs::list_deployments(clients, svc, 1).await {
            Ok(list) => list.into_iter().next().map(|(arn, _)| arn),
            Err(e) if transient(&e) => return Err(e),
            Err(_) => None,
        },
    };
    let Some(arn) = newest else {
        return Ok(InFlight::NoRecords);
    };
    let Some(d) = ecs::describe_deployments(clients, &[arn])
        .await?
        .into_iter()
        .next()
    else {
        return Ok(InFlight::NoRecords);
    };
    let rec = RecordWatch::new(target, svc).read(clients, &d).await?;
    Ok(match rec.status.as_str() {
        "PENDING" | "IN_PROGRESS" => InFlight::Record(rec),
        "STOP_REQUESTED" | "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => {
            InFlight::RollingBack(rec)
        }
        // Completed (SUCCESSFUL, STOPPED, ROLLBACK_*), or a status this dockhand
        // does not know: it stops nothing it cannot name as in flight.
        _ => InFlight::Nothing,
    })
}

/// Cancels a service-path rollout the way ECS means it: StopServiceDeployment
/// with rollback, so ECS returns the service to the revision it ran before this
/// deployment (never to a revision whose rollout failed), then watches the
/// record until the rollback ends.
async fn stop_with_rollback(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    rec: RecordSnap,
    progress: Progress,
) -> OpsResult<Verdict> {
    let _ = progress.send(Event::Started {
        current: rec.target.version.clone(),
    });
    note_stop(&rec.arn, &target.requester.name);
    if let Err(e) = ecs::stop_deployment(clients, &rec.arn).await {
        STOPS.lock().expect("stops lock").remove(&rec.arn);
        return Err(match e {
            // ECS answers a conflict for a deployment that completed meanwhile.
            OpsError::Rejected(_) => OpsError::Rejected(format!(
                "{}'s rollout finished before it could be cancelled; nothing was changed.",
                target.app.name
            )),
            other => other,
        });
    }
    tracing::info!(deployment = %rec.arn, by = %target.requester.identity, "StopServiceDeployment (ROLLBACK)");
    watch_stop(ops, clients, target, svc, &rec, progress).await
}

/// Watches a stopped deployment's record until its rollback ends (a cancel, or a
/// cancel resumed after a restart).
async fn watch_stop(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    rec: &RecordSnap,
    progress: Progress,
) -> OpsResult<Verdict> {
    let want = Want {
        task_definition: rec.target.task_definition.clone().unwrap_or_default(),
        version: None,
    };
    let reporter = Reporter::new(progress);
    let records = tokio::sync::Mutex::new(RecordWatch::new(target, svc));
    records.lock().await.judge = Judge::Record(rec.arn.clone());
    let verdict = poll_record(ops, clients, target, svc, &reporter, &records, &want, true).await?;
    Ok(match verdict {
        // ECS finished the deployment before the stop took.
        Verdict::Live { revision, .. } => Verdict::Failed {
            summary: format!("the rollout finished before it could be stopped: {revision} runs"),
            reason: None,
            stopped_reason: None,
            left: Left::Failure,
        },
        other => other,
    })
}

/// Cancels a rollout where ECS keeps no records: the previous revision goes back,
/// unless its own rollout failed (that would put back a broken version).
async fn legacy_cancel(
    ops: &AwsOps,
    clients: &Clients,
    target: &Target,
    svc: &ServiceRef,
    s: &Service,
    progress: Progress,
) -> OpsResult<Verdict> {
    let snap = ecs::snap(s);
    let previous = snap
        .deployments
        .iter()
        .find(|d| d.status == "ACTIVE" && d.rollout_state != "FAILED")
        .map(|d| d.task_definition.clone());
    let Some(previous) = previous.filter(|_| snap.in_progress()) else {
        return Err(OpsError::Rejected(format!(
            "{} has no rollout in progress to cancel; nothing was changed.",
            target.app.name
        )));
    };
    ecs::update_task_definition(clients, svc, &previous).await?;
    Ok(
        match watch_service(
            ops,
            clients,
            target,
            svc,
            Want::new(&previous, None),
            None,
            Reporter::new(progress),
        )
        .await?
        {
            Verdict::Live { revision, .. } => Verdict::Cancelled {
                state: format!(
                    "cancelled by {}; {} is back on {revision}",
                    target.requester.name, target.app.name
                ),
            },
            other => other,
        },
    )
}

/// The record a resumed watch follows: the newest whose target runs `version`
/// (a deploy), or the newest of all (a rollback or cancel). `None` without records.
async fn resumable(
    target: &Target,
    clients: &Clients,
    svc: &ServiceRef,
    s: &Service,
    version: Option<&str>,
) -> OpsResult<Option<RecordSnap>> {
    if ecs::controller(s) != "ECS" {
        return Ok(None);
    }
    let list = match ecs::list_deployments(clients, svc, RECORDS_LOOKED_AT).await {
        Ok(list) => list,
        Err(e) if transient(&e) => return Err(e),
        Err(_) => return Ok(None),
    };
    let arns: Vec<String> = list.into_iter().map(|(arn, _)| arn).collect();
    let mut rw = RecordWatch::new(target, svc);
    for d in ecs::describe_deployments(clients, &arns).await? {
        let rec = rw.read(clients, &d).await?;
        if version.is_none_or(|v| {
            rec.target.version.as_deref() == Some(v) || rec.target.digest.as_deref() == Some(v)
        }) {
            return Ok(Some(rec));
        }
    }
    Ok(None)
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
                OperationKind::Rollback | OperationKind::Continue => {
                    Expect::Version(current.unwrap_or_default())
                }
                OperationKind::Scale { count } => {
                    Expect::Count(i32::try_from(count.0).unwrap_or(i32::MAX))
                }
                OperationKind::Cancel => Expect::RolledBack,
            };
            watch_stack(ops, &clients, target, &svc, &token, expect, progress).await?
        }
        config::Target::Service { .. } => {
            let s = ecs::describe(&clients, &svc).await?;
            let snap = ecs::snap(&s);
            let _ = progress.send(Event::Started { current: None });
            let found = match &op.kind {
                OperationKind::Deploy { version } => {
                    resumable(target, &clients, &svc, &s, Some(version.as_str())).await?
                }
                OperationKind::Rollback | OperationKind::Cancel | OperationKind::Continue => {
                    resumable(target, &clients, &svc, &s, None).await?
                }
                OperationKind::Scale { .. } => None,
            };
            match &op.kind {
                OperationKind::Scale { count } => {
                    let n = i32::try_from(count.0).unwrap_or(i32::MAX);
                    watch_count(ops, &clients, target, &svc, n, progress).await?
                }
                OperationKind::Deploy { .. }
                | OperationKind::Rollback
                | OperationKind::Cancel
                | OperationKind::Continue
                    if found.is_some() =>
                {
                    let rec = found.expect("checked above");
                    match &op.kind {
                        // A cancel stopped the newest deployment: watch its rollback.
                        OperationKind::Cancel => {
                            note_stop(&rec.arn, &target.requester.name);
                            watch_stop(ops, &clients, target, &svc, &rec, progress).await?
                        }
                        // The deploy's own record, found by the version it deployed:
                        // after a rollback while no dockhand watched, the primary is
                        // the old revision and must not be judged as the deploy.
                        _ => {
                            let want = rec.target.task_definition.clone().unwrap_or_default();
                            let version = rec.target.version.clone();
                            watch_service(
                                ops,
                                &clients,
                                target,
                                &svc,
                                Want::new(&want, version.as_deref()),
                                Some(&rec.arn),
                                Reporter::new(progress),
                            )
                            .await?
                        }
                    }
                }
                // Without records: deploy, rollback and cancel all roll out the
                // primary's revision (the legacy rules).
                OperationKind::Deploy { .. }
                | OperationKind::Rollback
                | OperationKind::Cancel
                | OperationKind::Continue => {
                    let want = snap.task_definition.clone();
                    let (_, tags) = ecs::task_definition(&clients, &want).await?;
                    let version = record::attribution_of(&tags).and_then(|a| a.version);
                    // A deploy cut off before it reached ECS (its watcher stopped
                    // between the record and UpdateService): the primary is the
                    // old revision, and calling it the deploy would be a false green.
                    if let OperationKind::Deploy { version: asked } = &op.kind
                        && version.as_deref() != Some(asked.as_str())
                    {
                        return Ok(Outcome {
                            verdict: Verdict::Unchanged {
                                detail: format!(
                                    "still runs {} ({}): the deploy of {asked} did not reach ECS before dockhand stopped watching; deploy it again",
                                    version.as_deref().unwrap_or("its previous version"),
                                    want.rsplit('/').next().unwrap_or(&want)
                                ),
                            },
                            elapsed: started.elapsed(),
                        });
                    }
                    watch_service(
                        ops,
                        &clients,
                        target,
                        &svc,
                        Want::new(&want, version.as_deref()),
                        None,
                        Reporter::new(progress),
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

/// The deployment an event named (by its `ecs-svc/…` id), as ECS has it now: the
/// revision it rolls out, the version on it, and who registered that revision.
pub async fn deployment(
    ops: &AwsOps,
    target: &Target,
    id: &str,
) -> OpsResult<crate::ops::Deployment> {
    let clients = ops.clients(&target.environment).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let s = ecs::describe(&clients, &svc).await?;
    let snap = ecs::snap(&s);
    // Gone from `deployments[]` once ECS cleaned it up: the primary is what it left.
    let found = snap.deployments.iter().find(|d| d.id == id);
    let task_definition = found
        .or_else(|| snap.primary())
        .map(|d| d.task_definition.clone())
        .unwrap_or_else(|| snap.task_definition.clone());
    let (td, tags) = ecs::task_definition(&clients, &task_definition).await?;
    let attribution = record::attribution_of(&tags);
    let version = ecs::image_version(&td, target.app.container(), &svc.service)
        .map(str::to_string)
        .or_else(|| attribution.as_ref().and_then(|a| a.version.clone()));
    let created_ms = s
        .deployments()
        .iter()
        .find(|d| d.id() == Some(id))
        .and_then(|d| d.created_at())
        .and_then(|t| t.to_millis().ok());
    Ok(crate::ops::Deployment {
        id: id.to_string(),
        present: found.is_some(),
        created_ms,
        task_definition,
        version,
        registered_by: td.registered_by().map(str::to_string),
        by_dockhand: attribution.map(|a| a.by_name),
    })
}

/// Watches a deployment started outside dockhand to its verdict, judged as a
/// deploy from chat is (ECS's record first, the legacy rules without one).
pub async fn follow(
    ops: &AwsOps,
    target: &Target,
    d: &crate::ops::Deployment,
    progress: Progress,
) -> OpsResult<Outcome> {
    let started = Instant::now();
    let clients = ops.clients(&target.environment).await?;
    let svc = ops.service_of(&clients, &target.app).await?;
    let _ = progress.send(Event::Started {
        current: d.version.clone(),
    });
    let verdict = watch_service(
        ops,
        &clients,
        target,
        &svc,
        Want::new(&d.task_definition, d.version.as_deref()),
        None,
        Reporter::since(progress, d.created_ms),
    )
    .await?;
    Ok(Outcome {
        verdict,
        elapsed: started.elapsed(),
    })
}

/// The cluster and service an app runs as (read from its stack once for a
/// stack-managed app).
pub async fn service_name(
    ops: &AwsOps,
    app: &config::App,
    env: &config::Environment,
) -> OpsResult<(String, String)> {
    let clients = ops.clients(env).await?;
    let svc = ops.service_of(&clients, app).await?;
    Ok((svc.cluster, svc.service))
}
