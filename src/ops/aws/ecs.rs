//! ECS calls and the shapes the watch needs, with SDK types kept inside this file.

use aws_sdk_ecs::types::{
    DesiredStatus, Service, ServiceDeployment, ServiceField, ServiceRevision, SortOrder,
    StopServiceDeploymentStopType, Tag, TaskDefinition, TaskDefinitionField, TaskDefinitionStatus,
};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Clients, ServiceRef, classify};
use crate::ops::watch::{DeploymentSnap, RecordSnap, RevisionSnap, ServiceSnap};
use crate::ops::{Epoch, OpsError, OpsResult};

/// A service event: id, time, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub id: String,
    pub at: Epoch,
    /// `at` to the millisecond: what belongs to an operation is decided by it.
    pub at_ms: i64,
    pub message: String,
}

pub async fn untag_resource(clients: &Clients, arn: &str, keys: &[&str]) -> OpsResult<()> {
    clients
        .ecs
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .map_err(|e| classify("ecs:UntagResource", e))?;
    Ok(())
}

pub fn snap(s: &Service) -> ServiceSnap {
    ServiceSnap {
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        pending: s.pending_count(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| DeploymentSnap {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed: d.failed_tasks(),
                rollout_state: d
                    .rollout_state()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                rollout_reason: d.rollout_state_reason().map(str::to_string),
            })
            .collect(),
    }
}

pub fn events(s: &Service) -> Vec<ServiceEvent> {
    s.events()
        .iter()
        .map(|e| ServiceEvent {
            id: e.id().unwrap_or_default().to_string(),
            at: e.created_at().map(|t| t.secs()).unwrap_or_default(),
            at_ms: e
                .created_at()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_default(),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Describes one service; a missing one is a clear "not found".
pub async fn describe(clients: &Clients, svc: &ServiceRef) -> OpsResult<Service> {
    let out = clients
        .ecs
        .describe_services()
        .cluster(&svc.cluster)
        .services(&svc.service)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| classify("ecs:DescribeServices", e))?;
    out.services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .cloned()
        .ok_or_else(|| {
            OpsError::NotFound(format!(
                "ECS service `{}` was not found in cluster `{}`.",
                svc.service, svc.cluster
            ))
        })
}

/// Describes many services of one cluster, 10 per call (the API's limit), the
/// calls made together.
/// Returns the services found and the names ECS reported missing.
pub async fn describe_many(
    clients: &Clients,
    cluster: &str,
    names: &[String],
) -> OpsResult<(Vec<Service>, Vec<String>)> {
    let calls = names.chunks(10).map(|chunk| async move {
        clients
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeServices", e))
    });
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for out in futures::future::try_join_all(calls).await? {
        found.extend(
            out.services()
                .iter()
                .filter(|s| s.status() != Some("INACTIVE"))
                .cloned(),
        );
        missing.extend(out.failures().iter().filter_map(|f| {
            f.arn()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        }));
    }
    Ok((found, missing))
}

pub async fn task_definition(
    clients: &Clients,
    arn: &str,
) -> OpsResult<(TaskDefinition, Vec<Tag>)> {
    if let Some(hit) = clients.revisions.get(arn) {
        return Ok(hit);
    }
    describe_task_definition(clients, arn).await
}

/// A revision for a reader that uses only its body and its attribution (`status`):
/// the body never changes, and the attribution tags (who, which version) are
/// written once, when dockhand registers the revision or its rollout ends; only the
/// outcome tag changes after. So a cached entry that carries an attribution is
/// trusted at any age, and one without for `Revisions::UNATTRIBUTED_TTL`, which
/// bounds how long an attribution another replica writes stays unseen here.
/// `status` of 500 apps thus describes each revision once, not every minute.
pub async fn task_definition_attributed(
    clients: &Clients,
    arn: &str,
) -> OpsResult<(TaskDefinition, Vec<Tag>)> {
    if let Some(hit) = clients.revisions.attributed(arn) {
        return Ok(hit);
    }
    describe_task_definition(clients, arn).await
}

async fn describe_task_definition(
    clients: &Clients,
    arn: &str,
) -> OpsResult<(TaskDefinition, Vec<Tag>)> {
    let out = clients
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| classify("ecs:DescribeTaskDefinition", e))?;
    let td = out
        .task_definition()
        .cloned()
        .ok_or_else(|| OpsError::NotFound(format!("task definition `{arn}` was not found.")))?;
    let tags = out.tags().to_vec();
    clients.revisions.put(arn, &td, &tags);
    Ok((td, tags))
}

/// Described task definitions, by ARN. A revision's contents never change, so
/// `status` of fifty apps need not describe fifty revisions on every call; its tags
/// do change (dockhand adds the outcome), so an entry is dropped when this bot tags
/// the revision and is trusted for at most `Revisions::TTL`, which bounds how stale
/// a tag written elsewhere (another dockhand, a person) can look.
#[derive(Debug, Default)]
pub struct Revisions(std::sync::Mutex<HashMap<String, Described>>);

/// A revision as described, and when.
type Described = (Instant, TaskDefinition, Vec<Tag>);

impl Revisions {
    const TTL: Duration = Duration::from_secs(60);
    /// See `task_definition_attributed`.
    const UNATTRIBUTED_TTL: Duration = Duration::from_secs(600);
    /// Enough for every revision `status` and `history` look at in a large account.
    const MAX: usize = 1024;

    fn get(&self, arn: &str) -> Option<(TaskDefinition, Vec<Tag>)> {
        let map = self.0.lock().expect("revisions lock");
        map.get(arn)
            .filter(|(at, ..)| at.elapsed() < Self::TTL)
            .map(|(_, td, tags)| (td.clone(), tags.clone()))
    }

    /// The entry for `arn` as `task_definition_attributed` trusts it.
    fn attributed(&self, arn: &str) -> Option<(TaskDefinition, Vec<Tag>)> {
        let map = self.0.lock().expect("revisions lock");
        let (at, td, tags) = map.get(arn)?;
        let attributed = super::record::attribution_of(tags).is_some_and(|a| !a.by.is_empty());
        (attributed || at.elapsed() < Self::UNATTRIBUTED_TTL).then(|| (td.clone(), tags.clone()))
    }

    fn put(&self, arn: &str, td: &TaskDefinition, tags: &[Tag]) {
        let mut map = self.0.lock().expect("revisions lock");
        if map.len() >= Self::MAX {
            map.retain(|_, (at, ..)| at.elapsed() < Self::TTL);
            if map.len() >= Self::MAX {
                map.clear();
            }
        }
        map.insert(arn.to_string(), (Instant::now(), td.clone(), tags.to_vec()));
    }

    fn forget(&self, arn: &str) {
        self.0.lock().expect("revisions lock").remove(arn);
    }
}

/// Service-deployment records that ended (SUCCESSFUL, ROLLBACK_*, STOPPED), by ARN.
/// A record that ended never changes again, so `status` describes a steady
/// service's current record once, not on every call.
#[derive(Debug, Default)]
pub struct Finished(std::sync::Mutex<HashMap<String, ServiceDeployment>>);

impl Finished {
    /// Enough for the current record of every service in a large account.
    const MAX: usize = 4096;

    fn get(&self, arn: &str) -> Option<ServiceDeployment> {
        self.0.lock().expect("finished lock").get(arn).cloned()
    }

    fn put(&self, d: &ServiceDeployment) {
        let ended = matches!(
            d.status().map(|s| s.as_str()),
            Some("SUCCESSFUL" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED" | "STOPPED")
        );
        let (true, Some(arn)) = (ended, d.service_deployment_arn()) else {
            return;
        };
        let mut map = self.0.lock().expect("finished lock");
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(arn.to_string(), d.clone());
    }
}

/// The records of `arns`, by ARN: ended ones from `clients.finished`, the rest
/// described (20 per call, the calls at once).
pub async fn records(
    clients: &Clients,
    arns: &[String],
) -> OpsResult<HashMap<String, ServiceDeployment>> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for arn in arns {
        match clients.finished.get(arn) {
            Some(d) => {
                found.insert(arn.clone(), d);
            }
            None => missing.push(arn.clone()),
        }
    }
    let calls = missing
        .chunks(20)
        .map(|chunk| describe_deployments(clients, chunk));
    for described in futures::future::try_join_all(calls).await? {
        for d in described {
            clients.finished.put(&d);
            if let Some(arn) = d.service_deployment_arn() {
                found.insert(arn.to_string(), d);
            }
        }
    }
    Ok(found)
}

/// The image of `container` in `td`, or a not-found naming the containers there are.
pub fn container_image<'a>(td: &'a TaskDefinition, container: &str) -> OpsResult<&'a str> {
    let defs = td.container_definitions();
    defs.iter().find(|c| c.name() == Some(container)).and_then(|c| c.image()).ok_or_else(|| {
        let names: Vec<&str> = defs.iter().filter_map(|c| c.name()).collect();
        OpsError::NotFound(format!(
            "container `{container}` is not in task definition {}:{} (it has: {}); fix `container` in dockhand.toml.",
            td.family().unwrap_or_default(),
            td.revision(),
            names.join(", ")
        ))
    })
}

/// The container dockhand reads the version from: the named one, else the one
/// named like the service, else the first essential one.
pub fn app_container<'a>(
    td: &'a TaskDefinition,
    preferred: Option<&str>,
    service: &str,
) -> Option<&'a aws_sdk_ecs::types::ContainerDefinition> {
    let defs = td.container_definitions();
    preferred
        .and_then(|p| defs.iter().find(|c| c.name() == Some(p)))
        .or_else(|| defs.iter().find(|c| c.name() == Some(service)))
        .or_else(|| defs.iter().find(|c| c.essential().unwrap_or(true)))
}

/// The version a revision runs: the tag or digest of its app container's image.
pub fn image_version<'a>(
    td: &'a TaskDefinition,
    preferred: Option<&str>,
    service: &str,
) -> Option<&'a str> {
    app_container(td, preferred, service)
        .and_then(|c| c.image())
        .and_then(|i| split_image(i).1)
}

/// Registers a copy of `td` with `container`'s image replaced and the given tags.
pub async fn register_copy(
    clients: &Clients,
    td: &TaskDefinition,
    container: &str,
    image: &str,
    tags: Vec<Tag>,
) -> OpsResult<String> {
    let containers = td
        .container_definitions()
        .iter()
        .map(|c| {
            if c.name() == Some(container) {
                let mut c = c.clone();
                c.image = Some(image.to_string());
                c
            } else {
                c.clone()
            }
        })
        .collect();
    let out = clients
        .ecs
        .register_task_definition()
        .set_family(td.family().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(Some(td.volumes().to_vec()))
        .set_placement_constraints(Some(td.placement_constraints().to_vec()))
        .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| classify("ecs:RegisterTaskDefinition", e))?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| OpsError::Internal {
            operation: "ecs:RegisterTaskDefinition".into(),
            detail: "no ARN in the answer".into(),
        })
}

pub async fn update_task_definition(
    clients: &Clients,
    svc: &ServiceRef,
    arn: &str,
) -> OpsResult<()> {
    clients
        .ecs
        .update_service()
        .cluster(&svc.cluster)
        .service(&svc.service)
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| classify("ecs:UpdateService", e))?;
    Ok(())
}

pub async fn update_count(clients: &Clients, svc: &ServiceRef, count: i32) -> OpsResult<()> {
    clients
        .ecs
        .update_service()
        .cluster(&svc.cluster)
        .service(&svc.service)
        .desired_count(count)
        .send()
        .await
        .map_err(|e| classify("ecs:UpdateService", e))?;
    Ok(())
}

/// Tags a task definition; history reads these back.
pub async fn tag_resource(clients: &Clients, arn: &str, tags: Vec<Tag>) -> OpsResult<()> {
    clients.revisions.forget(arn);
    clients
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| classify("ecs:TagResource", e))?;
    Ok(())
}

/// The stop reason of the most recently stopped task of the service: of revision
/// `of` when it has stopped tasks (a rollback's own clean-up stops the old tasks
/// after the failing ones, with a reason that explains nothing), else of any.
/// A task that stopped: which, of what revision, why, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    pub id: String,
    pub task_definition: String,
    pub reason: Option<String>,
    /// The first non-zero exit code of its containers (or 0).
    pub exit_code: Option<i32>,
    pub stopped_ms: i64,
}

/// The newest stopped task of revision `of` (any revision when it has none).
pub async fn last_stopped_task(
    clients: &Clients,
    svc: &ServiceRef,
    of: Option<&str>,
) -> OpsResult<Option<StoppedTask>> {
    let list = clients
        .ecs
        .list_tasks()
        .cluster(&svc.cluster)
        .service_name(&svc.service)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(|e| classify("ecs:ListTasks", e))?;
    let arns: Vec<String> = list.task_arns().iter().take(100).cloned().collect();
    if arns.is_empty() {
        return Ok(None);
    }
    let out = clients
        .ecs
        .describe_tasks()
        .cluster(&svc.cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .map_err(|e| classify("ecs:DescribeTasks", e))?;
    let newest = |only: Option<&str>| {
        out.tasks()
            .iter()
            .filter(|t| t.stopped_reason().is_some())
            .filter(|t| only.is_none_or(|td| t.task_definition_arn() == Some(td)))
            .max_by_key(|t| t.stopped_at().map(|s| s.secs()).unwrap_or_default())
            .map(|t| StoppedTask {
                id: t
                    .task_arn()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                reason: t.stopped_reason().map(str::to_string),
                exit_code: t
                    .containers()
                    .iter()
                    .filter_map(|c| c.exit_code())
                    .find(|c| *c != 0)
                    .or_else(|| t.containers().iter().find_map(|c| c.exit_code())),
                stopped_ms: t
                    .stopped_at()
                    .map(|s| s.to_millis().unwrap_or_default())
                    .unwrap_or_default(),
            })
    };
    Ok(newest(of.filter(|td| !td.is_empty())).or_else(|| newest(None)))
}

/// The revisions of a family, newest first, active and inactive (at most `n`).
pub async fn revisions(clients: &Clients, family: &str, n: usize) -> OpsResult<Vec<String>> {
    let mut all = Vec::new();
    for status in [TaskDefinitionStatus::Active, TaskDefinitionStatus::Inactive] {
        let out = clients
            .ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(status)
            .sort(SortOrder::Desc)
            .send()
            .await
            .map_err(|e| classify("ecs:ListTaskDefinitions", e))?;
        all.extend(out.task_definition_arns().iter().cloned());
    }
    // A family prefix also matches longer family names; keep this family only.
    all.retain(|a| {
        a.rsplit('/')
            .next()
            .and_then(|r| r.rsplit_once(':'))
            .is_some_and(|(f, _)| f == family)
    });
    all.sort_by_key(|a| std::cmp::Reverse(revision_number(a)));
    all.truncate(n);
    Ok(all)
}

pub fn revision_number(arn: &str) -> i64 {
    arn.rsplit(':')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or_default()
}

/// The service's deployment controller: `ECS` (the default when absent),
/// `CODE_DEPLOY` or `EXTERNAL`. Only ECS keeps service-deployment records.
pub fn controller(s: &Service) -> String {
    s.deployment_controller()
        .map(|c| c.r#type().as_str().to_string())
        .unwrap_or_else(|| "ECS".into())
}

/// The service's deployment records, newest first: (ARN, status), at most `n`.
pub async fn list_deployments(
    clients: &Clients,
    svc: &ServiceRef,
    n: i32,
) -> OpsResult<Vec<(String, String)>> {
    let out = clients
        .ecs
        .list_service_deployments()
        .cluster(&svc.cluster)
        .service(&svc.service)
        .max_results(n)
        .send()
        .await
        .map_err(|e| classify("ecs:ListServiceDeployments", e))?;
    Ok(out
        .service_deployments()
        .iter()
        .filter_map(|b| {
            Some((
                b.service_deployment_arn()?.to_string(),
                b.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            ))
        })
        .collect())
}

/// Describes service deployment records (at most 20 ARNs per call, the API's limit).
pub async fn describe_deployments(
    clients: &Clients,
    arns: &[String],
) -> OpsResult<Vec<ServiceDeployment>> {
    let mut all = Vec::new();
    for chunk in arns.chunks(20) {
        let out = clients
            .ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeServiceDeployments", e))?;
        all.extend(out.service_deployments().iter().cloned());
    }
    Ok(all)
}

/// What the judge needs of a service revision: its task definition and the app
/// container's version and digest. A revision never changes, so callers keep these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevisionInfo {
    pub task_definition: Option<String>,
    pub version: Option<String>,
    pub digest: Option<String>,
}

/// Describes service revisions (20 per call) as `RevisionInfo`s, by ARN. The app's
/// container is `container`, else the one named like the service, else the first.
pub async fn describe_revisions(
    clients: &Clients,
    arns: &[String],
    container: Option<&str>,
    service: &str,
) -> OpsResult<HashMap<String, RevisionInfo>> {
    let mut found = HashMap::new();
    for chunk in arns.chunks(20) {
        let out = clients
            .ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeServiceRevisions", e))?;
        for r in out.service_revisions() {
            if let Some(arn) = r.service_revision_arn() {
                found.insert(arn.to_string(), revision_info(r, container, service));
            }
        }
    }
    Ok(found)
}

fn revision_info(r: &ServiceRevision, container: Option<&str>, service: &str) -> RevisionInfo {
    let images = r.container_images();
    let image = container
        .and_then(|c| images.iter().find(|i| i.container_name() == Some(c)))
        .or_else(|| images.iter().find(|i| i.container_name() == Some(service)))
        .or_else(|| images.first());
    RevisionInfo {
        task_definition: r.task_definition().map(str::to_string),
        version: image
            .and_then(|i| i.image())
            .and_then(|i| split_image(i).1)
            .map(str::to_string),
        digest: image.and_then(|i| i.image_digest()).map(str::to_string),
    }
}

/// A record as the judge reads it; revisions not in `revisions` have no task
/// definition or version yet.
pub fn record_snap(d: &ServiceDeployment, revisions: &HashMap<String, RevisionInfo>) -> RecordSnap {
    let rev = |r: &aws_sdk_ecs::types::ServiceRevisionSummary| {
        let arn = r.arn().unwrap_or_default().to_string();
        let info = revisions.get(&arn).cloned().unwrap_or_default();
        RevisionSnap {
            arn,
            task_definition: info.task_definition,
            version: info.version,
            digest: info.digest,
            requested: r.requested_task_count(),
            running: r.running_task_count(),
            pending: r.pending_task_count(),
            production_weight: r.requested_production_traffic_weight(),
            test_weight: r.requested_test_traffic_weight(),
        }
    };
    let config = d.deployment_configuration();
    let strategy = config
        .and_then(|c| c.strategy())
        .map(|s| s.as_str().to_string());
    let step_bake = config.and_then(|c| match strategy.as_deref() {
        Some("LINEAR") => c
            .linear_configuration()
            .and_then(|l| l.step_bake_time_in_minutes()),
        Some("CANARY") => c
            .canary_configuration()
            .and_then(|l| l.canary_bake_time_in_minutes()),
        _ => None,
    });
    RecordSnap {
        arn: d.service_deployment_arn().unwrap_or_default().to_string(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status_reason: d.status_reason().map(str::to_string),
        stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
        strategy,
        bake_minutes: config.and_then(|c| c.bake_time_in_minutes()),
        step_bake_minutes: step_bake,
        target: d.target_service_revision().map(rev).unwrap_or_default(),
        sources: d.source_service_revisions().iter().map(rev).collect(),
        rollback_to: d
            .rollback()
            .and_then(|r| r.service_revision_arn())
            .map(str::to_string),
        rollback_reason: d.rollback().and_then(|r| r.reason()).map(str::to_string),
        breaker_status: d
            .deployment_circuit_breaker()
            .and_then(|b| b.status())
            .map(|s| s.as_str().to_string()),
        breaker_failures: d
            .deployment_circuit_breaker()
            .map(|b| b.failure_count())
            .unwrap_or_default(),
        breaker_threshold: d
            .deployment_circuit_breaker()
            .map(|b| b.threshold())
            .unwrap_or_default(),
        triggered_alarms: d
            .alarms()
            .map(|a| a.triggered_alarm_names().to_vec())
            .unwrap_or_default(),
        hooks: d
            .lifecycle_hook_details()
            .iter()
            .map(|h| {
                (
                    h.target_arn()
                        .or(h.hook_id())
                        .unwrap_or("a lifecycle hook")
                        .to_string(),
                    h.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        paused: d
            .lifecycle_hook_details()
            .iter()
            .find(|h| {
                h.status().map(|s| s.as_str()) == Some("AWAITING_ACTION") && h.hook_id().is_some()
            })
            .map(|h| crate::ops::watch::Pause {
                hook_id: h.hook_id().unwrap_or_default().to_string(),
                stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
                expires: h.expires_at().map(|t| t.secs()),
                timeout_action: h.timeout_action().map(|a| a.as_str().to_string()),
            }),
        stage_since: None,
    }
}

/// When the record last changed (AWS time), to date a stage first seen.
pub fn record_updated(d: &ServiceDeployment) -> Option<Epoch> {
    d.updated_at().or(d.started_at()).map(|t| t.secs())
}

/// StopServiceDeployment with rollback: ECS stops the deployment and returns the
/// service to the revision it ran before (`ROLLBACK` is the only stop type the API
/// reference calls valid).
pub async fn stop_deployment(clients: &Clients, arn: &str) -> OpsResult<()> {
    clients
        .ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(|e| classify("ecs:StopServiceDeployment", e))?;
    Ok(())
}

/// Decides a PAUSE hook: CONTINUE lets the deployment go on, ROLLBACK rolls it back.
pub async fn continue_deployment(
    clients: &Clients,
    arn: &str,
    hook_id: &str,
    go_on: bool,
) -> OpsResult<()> {
    use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
    clients
        .ecs
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(if go_on {
            Action::Continue
        } else {
            Action::Rollback
        })
        .send()
        .await
        .map_err(|e| classify("ecs:ContinueServiceDeployment", e))?;
    Ok(())
}

/// Splits an image reference into repository and version (tag or digest):
/// `repo:tag`, `registry:5000/repo:tag`, `repo@sha256:...`.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo, Some(digest));
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], Some(&image[slash + i + 1..])),
        None => (image, None),
    }
}

/// The image with its version replaced; the repository stays.
pub fn with_version(image: &str, version: &str) -> String {
    let (repo, _) = split_image(image);
    if version.starts_with("sha256:") {
        format!("{repo}@{version}")
    } else {
        format!("{repo}:{version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tag_or_digest_of_an_image_changes() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            ("hubot:v1", "v2", "hubot:v2"),
            (
                "registry.local:5000/team/hubot:v1",
                "v2",
                "registry.local:5000/team/hubot:v2",
            ),
            (
                "registry.local:5000/team/hubot",
                "v2",
                "registry.local:5000/team/hubot:v2",
            ),
            (
                "123.dkr.ecr.eu-west-1.amazonaws.com/hubot@sha256:00",
                "v3",
                "123.dkr.ecr.eu-west-1.amazonaws.com/hubot:v3",
            ),
        ];
        for (image, version, want) in cases {
            assert_eq!(with_version(image, version), want);
        }
        assert_eq!(with_version("hubot:v1", &d), format!("hubot@{d}"));
        assert_eq!(
            split_image("registry.local:5000/hubot"),
            ("registry.local:5000/hubot", None)
        );
        assert_eq!(split_image("hubot@sha256:ab"), ("hubot", Some("sha256:ab")));
    }

    #[test]
    fn status_trusts_an_attributed_revision_at_any_age_and_an_unattributed_one_for_ten_minutes() {
        let revisions = Revisions::default();
        let td = TaskDefinition::builder().build();
        let long_ago = Instant::now() - Duration::from_secs(3600);
        let recently = Instant::now() - Duration::from_secs(120);
        let by = vec![super::super::record::tag(
            "dockhand:requested-by",
            "slack:U1",
        )];
        let entries = [
            ("attributed-old", long_ago, by.clone()),
            ("bare-old", long_ago, vec![]),
            ("bare-recent", recently, vec![]),
        ];
        {
            let mut map = revisions.0.lock().unwrap();
            for (arn, at, tags) in entries {
                map.insert(arn.to_string(), (at, td.clone(), tags));
            }
        }
        assert!(revisions.attributed("attributed-old").is_some());
        assert!(revisions.attributed("bare-old").is_none());
        assert!(revisions.attributed("bare-recent").is_some());
        // Everyone else still re-reads tags older than a minute (the outcome changes).
        assert!(revisions.get("attributed-old").is_none());
        assert!(revisions.get("bare-recent").is_none());
    }
}
