//! ECS calls and the shapes the watch needs, with SDK types kept inside this file.

use aws_sdk_ecs::types::{
    DesiredStatus, Service, ServiceField, SortOrder, Tag, TaskDefinition, TaskDefinitionField,
    TaskDefinitionStatus,
};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{Clients, ServiceRef, classify};
use crate::ops::watch::{DeploymentSnap, ServiceSnap};
use crate::ops::{Epoch, OpsError, OpsResult};

/// A service event: id, time, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    pub id: String,
    pub at: Epoch,
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
    /// Enough for every revision `status` and `history` look at in a large account.
    const MAX: usize = 1024;

    fn get(&self, arn: &str) -> Option<(TaskDefinition, Vec<Tag>)> {
        let map = self.0.lock().expect("revisions lock");
        map.get(arn)
            .filter(|(at, ..)| at.elapsed() < Self::TTL)
            .map(|(_, td, tags)| (td.clone(), tags.clone()))
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

/// The stop reason of the most recently stopped task of the service.
pub async fn last_stopped_reason(clients: &Clients, svc: &ServiceRef) -> OpsResult<Option<String>> {
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
    Ok(out
        .tasks()
        .iter()
        .filter(|t| t.stopped_reason().is_some())
        .max_by_key(|t| t.stopped_at().map(|s| s.secs()).unwrap_or_default())
        .and_then(|t| t.stopped_reason().map(str::to_string)))
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
}
