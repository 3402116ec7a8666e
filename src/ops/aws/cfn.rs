//! CloudFormation calls, with SDK types kept inside this file.

use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, Stack, StackStatus,
};

use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;

use super::{Clients, ServiceRef, classify};
use crate::command::value::StackName;
use crate::config;
use crate::ops::{Epoch, OpsError, OpsResult};

/// A stack event as the watch and `events` use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub id: String,
    pub at: Epoch,
    pub resource: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub token: Option<String>,
}

pub async fn describe(clients: &Clients, stack: &str) -> OpsResult<Stack> {
    let out = clients
        .cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| classify("cloudformation:DescribeStacks", e))?;
    out.stacks()
        .first()
        .cloned()
        .ok_or_else(|| OpsError::NotFound(format!("Stack `{stack}` was not found.")))
}

pub fn status(stack: &Stack) -> String {
    stack
        .stack_status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// When the stack last changed (update, else creation).
pub fn changed_at(stack: &Stack) -> Option<Epoch> {
    stack
        .last_updated_time()
        .or(stack.creation_time())
        .map(|t| t.secs())
}

pub fn parameter(stack: &Stack, key: &str) -> Option<String> {
    stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(|p| p.parameter_value().map(str::to_string))
}

/// The ECS service a stack manages, from its `AWS::ECS::Service` resource. The
/// physical id is the service ARN, `arn:aws:ecs:region:account:service/cluster/name`;
/// older services have no cluster in the ARN, and then the stack's cluster is used.
pub async fn stack_service(clients: &Clients, stack: &StackName) -> OpsResult<ServiceRef> {
    let out = clients
        .cfn
        .list_stack_resources()
        .stack_name(stack.as_str())
        .send()
        .await
        .map_err(|e| classify("cloudformation:ListStackResources", e))?;
    let resources = out.stack_resource_summaries();
    let of_type = |t: &str| {
        resources
            .iter()
            .find(|r| r.resource_type() == Some(t))
            .and_then(|r| r.physical_resource_id())
    };
    let service = of_type("AWS::ECS::Service").ok_or_else(|| {
        OpsError::NotFound(format!("Stack `{stack}` has no AWS::ECS::Service resource; configure the app with `cluster`, `service` and `container` instead."))
    })?;
    let parts: Vec<&str> = service
        .rsplit(':')
        .next()
        .unwrap_or(service)
        .split('/')
        .collect();
    match parts.as_slice() {
        ["service", cluster, name] => Ok(ServiceRef {
            cluster: cluster.to_string(),
            service: name.to_string(),
        }),
        [.., name] => {
            let cluster = of_type("AWS::ECS::Cluster").unwrap_or("default");
            Ok(ServiceRef {
                cluster: cluster.rsplit('/').next().unwrap_or(cluster).to_string(),
                service: name.to_string(),
            })
        }
        [] => Err(OpsError::NotFound(format!(
            "Stack `{stack}` has an ECS service without a name."
        ))),
    }
}

/// The task definition a stack's `AWS::ECS::TaskDefinition` resource names now (its
/// physical id is the revision's ARN): after an update, the revision it produced.
pub async fn stack_task_definition(clients: &Clients, stack: &str) -> OpsResult<Option<String>> {
    let out = clients
        .cfn
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| classify("cloudformation:ListStackResources", e))?;
    Ok(out
        .stack_resource_summaries()
        .iter()
        .find(|r| r.resource_type() == Some("AWS::ECS::TaskDefinition"))
        .and_then(|r| r.physical_resource_id())
        .map(str::to_string))
}

/// The most DescribeStackEvents pages read for one operation: 20 pages of 100 hold
/// the rollback of a stack at CloudFormation's limit of 500 resources twice over.
const OPERATION_PAGES: usize = 20;

/// The stack's latest events, newest first (one page: the newest 100).
pub async fn events(clients: &Clients, stack: &str) -> OpsResult<Vec<StackEvent>> {
    Ok(events_page(clients, stack, None).await?.0)
}

/// The events of the operation whose request token is `token`, newest first, and
/// whatever came after it, read as they come. The first read pages back until a
/// page ends before the operation began, so its first failure is found however
/// many events its rollback wrote after it (two per resource) (issue 13, point 7);
/// later reads page back only until they meet an event already read, which is one
/// DescribeStackEvents per poll while the stack moves.
#[derive(Debug)]
pub struct OperationEvents {
    token: String,
    events: Vec<StackEvent>,
    ids: std::collections::HashSet<String>,
}

impl OperationEvents {
    pub fn new(token: &str) -> OperationEvents {
        OperationEvents {
            token: token.to_string(),
            events: Vec::new(),
            ids: Default::default(),
        }
    }

    /// Every event read so far, newest first.
    pub fn all(&self) -> &[StackEvent] {
        &self.events
    }

    /// Reads the events written since the last read; returns them all.
    pub async fn read(&mut self, clients: &Clients, stack: &str) -> OpsResult<&[StackEvent]> {
        let mut new = Vec::new();
        let mut next = None;
        for _ in 0..OPERATION_PAGES {
            let (page, more) = events_page(clients, stack, next).await?;
            let before = page
                .last()
                .is_none_or(|oldest| oldest.token.as_deref() != Some(self.token.as_str()));
            let mut met = false;
            for e in page {
                if self.ids.contains(&e.id) {
                    met = true;
                    break;
                }
                new.push(e);
            }
            // Past what was read before, or (on the first read) before the operation.
            let done = met || (self.ids.is_empty() && before);
            match more {
                Some(t) if !done => next = Some(t),
                _ => break,
            }
        }
        self.ids.extend(new.iter().map(|e| e.id.clone()));
        new.append(&mut self.events);
        self.events = new;
        Ok(&self.events)
    }
}

/// One page of the stack's events, newest first, and the token of the next.
async fn events_page(
    clients: &Clients,
    stack: &str,
    next: Option<String>,
) -> OpsResult<(Vec<StackEvent>, Option<String>)> {
    let out = clients
        .cfn
        .describe_stack_events()
        .stack_name(stack)
        .set_next_token(next)
        .send()
        .await
        .map_err(|e| classify("cloudformation:DescribeStackEvents", e))?;
    let events = out
        .stack_events()
        .iter()
        .map(|e| StackEvent {
            id: e.event_id().unwrap_or_default().to_string(),
            at: e.timestamp().map(|t| t.secs()).unwrap_or_default(),
            resource: e.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: e.resource_type().unwrap_or_default().to_string(),
            status: e
                .resource_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            reason: e.resource_status_reason().map(str::to_string),
            token: e.client_request_token().map(str::to_string),
        })
        .collect();
    Ok((events, out.next_token().map(str::to_string)))
}

/// Parameters for an update: `changes` set, every other one `UsePreviousValue`.
pub fn parameters(stack: &Stack, changes: &[(&str, String)]) -> Vec<Parameter> {
    stack
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_key())
        .map(|key| match changes.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => Parameter::builder()
                .parameter_key(key)
                .parameter_value(v)
                .build(),
            None => Parameter::builder()
                .parameter_key(key)
                .use_previous_value(true)
                .build(),
        })
        .collect()
}

/// The result of asking for an update.
#[derive(Debug, PartialEq, Eq)]
pub enum Update {
    Started,
    /// "No updates are to be performed."
    NoChanges,
}

pub(crate) const CAPABILITIES: [Capability; 3] = [
    Capability::CapabilityIam,
    Capability::CapabilityNamedIam,
    Capability::CapabilityAutoExpand,
];

/// What a chat-driven change acknowledges: only the capabilities the app's
/// config names (F12). `stack up`, run by a person at a terminal with the
/// template in front of them, passes all of them.
fn acknowledged(capabilities: &[config::Capability]) -> Vec<Capability> {
    capabilities
        .iter()
        .map(|c| match c {
            config::Capability::Iam => Capability::CapabilityIam,
            config::Capability::NamedIam => Capability::CapabilityNamedIam,
            config::Capability::AutoExpand => Capability::CapabilityAutoExpand,
        })
        .collect()
}

/// CloudFormation's "Requires capabilities : [CAPABILITY_IAM]", said with the
/// config line that acknowledges it.
fn needs_capabilities(stack: &str, error: OpsError) -> OpsError {
    match error {
        OpsError::Rejected(m) if m.starts_with("Requires capabilities") => {
            let wanted = m
                .split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(names, _)| names.trim().to_string())
                .unwrap_or_else(|| "CAPABILITY_IAM".into());
            OpsError::Rejected(format!(
                "Stack `{stack}` has IAM resources, so CloudFormation wants {wanted} acknowledged. \
                 If they are meant to be there, add `capabilities = [\"{wanted}\"]` to the app in dockhand.toml"
            ))
        }
        other => other,
    }
}

pub async fn update(
    clients: &Clients,
    stack: &str,
    parameters: Vec<Parameter>,
    token: &str,
    capabilities: &[config::Capability],
) -> OpsResult<Update> {
    let result = clients
        .cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true)
        .set_parameters(Some(parameters))
        .set_capabilities(Some(acknowledged(capabilities)))
        .client_request_token(token)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Update::Started),
        Err(e) => match classify("cloudformation:UpdateStack", e) {
            OpsError::Rejected(m) if m.contains("No updates are to be performed") => {
                Ok(Update::NoChanges)
            }
            other => Err(needs_capabilities(stack, other)),
        },
    }
}

pub async fn cancel_update(clients: &Clients, stack: &str, token: &str) -> OpsResult<()> {
    clients
        .cfn
        .cancel_update_stack()
        .stack_name(stack)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| classify("cloudformation:CancelUpdateStack", e))?;
    Ok(())
}

/// Creates a change set for the update, lists its changes, and deletes it.
/// Parameter changes are listed too: a parameter-only change can show no resource
/// changes, and the person still needs to see what would change.
pub async fn plan(
    clients: &Clients,
    stack: &Stack,
    changes: &[(&str, String)],
    capabilities: &[config::Capability],
) -> OpsResult<Vec<String>> {
    let name = stack.stack_name().unwrap_or_default();
    let set_name = format!("dockhand-plan-{}", super::record::short_id());
    let created = clients
        .cfn
        .create_change_set()
        .stack_name(name)
        .change_set_name(&set_name)
        .change_set_type(ChangeSetType::Update)
        .use_previous_template(true)
        .set_parameters(Some(parameters(stack, changes)))
        .set_capabilities(Some(acknowledged(capabilities)))
        .send()
        .await
        .map_err(|e| needs_capabilities(name, classify("cloudformation:CreateChangeSet", e)))?;
    let id = created.id().unwrap_or(&set_name).to_string();
    let mut lines: Vec<String> = changes
        .iter()
        .filter_map(|(k, v)| {
            let old = parameter(stack, k).unwrap_or_default();
            (old != *v).then(|| format!("Parameter {k}: {old} -> {v}"))
        })
        .collect();
    let described = describe_change_set(clients, name, &id).await;
    // Delete whatever happened above; a plan must leave nothing behind.
    let deleted = clients
        .cfn
        .delete_change_set()
        .stack_name(name)
        .change_set_name(&id)
        .send()
        .await;
    if let Err(e) = deleted {
        tracing::warn!(change_set = id, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "could not delete a plan's change set");
    }
    let d = described?;
    lines.extend(change_lines(&d));
    if d.status() == Some(&ChangeSetStatus::Failed) && lines.is_empty() {
        let reason = d.status_reason().unwrap_or_default();
        if !reason.contains("didn't contain changes") && !reason.contains("No updates") {
            return Err(OpsError::Rejected(reason.to_string()));
        }
    }
    Ok(lines)
}

/// Waits for a change set to be computed (or to fail), up to a minute.
pub async fn describe_change_set(
    clients: &Clients,
    stack: &str,
    id: &str,
) -> OpsResult<DescribeChangeSetOutput> {
    for _ in 0..120 {
        let d = clients
            .cfn
            .describe_change_set()
            .stack_name(stack)
            .change_set_name(id)
            .send()
            .await
            .map_err(|e| classify("cloudformation:DescribeChangeSet", e))?;
        match d.status() {
            Some(ChangeSetStatus::CreateComplete) | Some(ChangeSetStatus::Failed) => return Ok(d),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Err(OpsError::Internal {
        operation: "cloudformation:DescribeChangeSet".into(),
        detail: "change set not ready after 60 s".into(),
    })
}

/// A change set's resource changes, one line each: `Modify Service AWS::ECS::Service (replace)`.
pub fn change_lines(d: &DescribeChangeSetOutput) -> Vec<String> {
    d.changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|r| {
            let replace = match r.replacement().map(|x| x.as_str()) {
                Some("True") => " (replace)",
                Some("Conditional") => " (may replace)",
                _ => "",
            };
            format!(
                "{} {} {}{replace}",
                r.action().map(|a| a.as_str()).unwrap_or("Change"),
                r.logical_resource_id().unwrap_or_default(),
                r.resource_type().unwrap_or_default()
            )
        })
        .collect()
}

/// Every stack that is not deleted: name, status, last change.
pub async fn list(clients: &Clients) -> OpsResult<Vec<Stack>> {
    let mut stacks = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .describe_stacks()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| classify("cloudformation:DescribeStacks", e))?;
        stacks.extend(
            out.stacks()
                .iter()
                .filter(|s| s.stack_status() != Some(&StackStatus::DeleteComplete))
                .cloned(),
        );
        token = out.next_token().map(str::to_string);
        if token.is_none() || stacks.len() >= 500 {
            return Ok(stacks);
        }
    }
}
