//! One replica at a time without shared state. A task of an ECS service that
//! runs more than one task, with `[state] table` unset, would answer every
//! Discord message twice, hold its apps in its own memory only and miss the
//! confirmations the other replica gave. So such a task stands by while an
//! older task of its service runs, and starts when it is the eldest: the
//! bundled template never gets here (its rule keeps DesiredCount at 1 without
//! the table, and its deploys stop the old task before starting the new), a
//! hand-made service does.
//!
//! Which task this is comes from the ECS task metadata endpoint (v4,
//! `ECS_CONTAINER_METADATA_URI_V4/task`, set by the ECS agent in every
//! container); which tasks are older, from ListTasks and DescribeTasks.

use aws_sdk_ecs::types::DesiredStatus;

use super::{AwsOps, classify};
use crate::ops::OpsResult;

/// This process's ECS task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisTask {
    pub cluster: String,
    pub arn: String,
}

/// The task this process runs in, when ECS runs it (`None` elsewhere, or when
/// the endpoint does not answer: then there is nothing to compare with).
pub async fn this_task() -> Option<ThisTask> {
    let base = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok()?;
    match metadata(&format!("{}/task", base.trim_end_matches('/'))).await {
        Ok(task) => Some(task),
        Err(e) => {
            tracing::warn!(error = %e, "the ECS task metadata endpoint did not answer; not checking for other replicas");
            None
        }
    }
}

async fn metadata(url: &str) -> Result<ThisTask, String> {
    use http_body_util::BodyExt;
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), client.get(uri))
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let task: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let field = |k: &str| {
        task[k]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(ThisTask {
        cluster: field("Cluster").ok_or("no Cluster in the task metadata")?,
        arn: field("TaskARN").ok_or("no TaskARN in the task metadata")?,
    })
}

impl AwsOps {
    /// The running tasks of `me`'s service created before it (ties broken by
    /// ARN, so two tasks started together agree which is older): while there
    /// is one, `me` stands by. Empty for a task no service started.
    pub async fn elders(&self, me: &ThisTask) -> OpsResult<Vec<String>> {
        let ecs = self.home_clients().await?.ecs;
        let described = ecs
            .describe_tasks()
            .cluster(&me.cluster)
            .tasks(&me.arn)
            .send()
            .await
            .map_err(|e| classify("ecs:DescribeTasks", e))?;
        let Some(mine) = described.tasks().first() else {
            return Ok(Vec::new());
        };
        let Some(service) = mine.group().and_then(|g| g.strip_prefix("service:")) else {
            return Ok(Vec::new());
        };
        // A task not yet created (no timestamp) counts as the youngest.
        let created =
            |t: &aws_sdk_ecs::types::Task| t.created_at().map_or(i128::MAX, |c| c.as_nanos());
        let my_age = (created(mine), me.arn.clone());
        let mut running = Vec::new();
        let mut pages = ecs
            .list_tasks()
            .cluster(&me.cluster)
            .service_name(service)
            .desired_status(DesiredStatus::Running)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("ecs:ListTasks", e))?;
            running.extend(page.task_arns().iter().filter(|a| **a != me.arn).cloned());
        }
        let mut elders = Vec::new();
        for chunk in running.chunks(100) {
            let out = ecs
                .describe_tasks()
                .cluster(&me.cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| classify("ecs:DescribeTasks", e))?;
            for t in out.tasks() {
                let arn = t.task_arn().unwrap_or_default().to_string();
                let age = (created(t), arn.clone());
                if age < my_age {
                    elders.push(arn);
                }
            }
        }
        Ok(elders)
    }
}
