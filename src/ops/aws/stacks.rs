//! `dockhand stack up | plan | delete`: creating and updating stacks from a
//! template, the way the seeds' AutoStacker24 does, on the same CloudFormation code
//! the chat verbs use (`cfn.rs`: events, change sets, capabilities, classify).
//!
//! Parameters come from three places, later winning: the parent stacks' outputs
//! (only names the template declares: CloudFormation refuses unknown parameters),
//! a params file, and `--param K=V`. On an update, a parameter given nowhere keeps
//! its previous value; on a create it must have a default. Everything missing is
//! listed at once, before any change is asked of AWS.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag};
use tokio::sync::mpsc;

use super::cfn::{self, CAPABILITIES};
use super::{AwsOps, Clients, classify};
use crate::command::value::StackName;
use crate::ops::{OpsError, clock};

/// What `stack up` and `stack plan` are asked to do.
#[derive(Debug, Clone, Default)]
pub struct StackRequest {
    pub stack: String,
    pub template: String,
    pub parents: Vec<String>,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// What the terminal shows while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackProgress {
    /// A line to print: a stack event, or what is being done.
    Line(String),
    /// Still waiting: the stack's status, for a spinner.
    Waiting(String),
}

/// How a `stack up` or `stack delete` ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackDone {
    Created,
    Updated,
    NoChanges,
    Deleted,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0}")]
    Input(String),
    #[error(
        "missing parameters for stack `{stack}`: {}. Give them with --param K=V, a --params-file, or a --parent stack whose outputs have these names.",
        names.join(", ")
    )]
    Missing { stack: String, names: Vec<String> },
    #[error("{0}")]
    Aws(#[from] OpsError),
    #[error("stack `{stack}` ended {status}: {reason}")]
    Failed {
        stack: String,
        status: String,
        reason: String,
    },
}

/// A template parameter: its name and whether it has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub has_default: bool,
    /// `NoEcho: true`: CloudFormation masks it in DescribeStacks, but not where
    /// a template echoes it (an Output, a resource's error): `stack up` masks its
    /// value in what it prints.
    pub no_echo: bool,
}

/// The template's `Parameters`, read locally (YAML or JSON).
pub fn declared(template: &str) -> Result<Vec<Declared>, StackError> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template)
        .map_err(|e| StackError::Input(format!("the template is not valid YAML or JSON: {e}")))?;
    if !doc.get("Resources").is_some_and(|r| r.is_mapping()) {
        return Err(StackError::Input(
            "the template has no `Resources`: is it a CloudFormation template?".into(),
        ));
    }
    let Some(params) = doc.get("Parameters").and_then(|p| p.as_mapping()) else {
        return Ok(Vec::new());
    };
    Ok(params
        .iter()
        .filter_map(|(k, v)| {
            let no_echo = v.get("NoEcho").is_some_and(|n| {
                n.as_bool() == Some(true)
                    || n.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
            });
            Some(Declared {
                name: k.as_str()?.to_string(),
                has_default: v.get("Default").is_some(),
                no_echo,
            })
        })
        .collect())
}

/// The values given to NoEcho parameters, to mask wherever they show up.
/// Values shorter than 4 characters are left: masking `1` everywhere would
/// hide more than it protects.
fn hidden_values(declared: &[Declared], parameters: &[Parameter]) -> Vec<String> {
    declared
        .iter()
        .filter(|d| d.no_echo)
        .filter_map(|d| {
            parameters
                .iter()
                .find(|p| p.parameter_key() == Some(d.name.as_str()))
                .and_then(|p| p.parameter_value())
        })
        .filter(|v| v.len() >= 4)
        .map(str::to_string)
        .collect()
}

/// `text` with every NoEcho value given and every credential-shaped word masked.
fn hide(text: &str, hidden: &[String]) -> String {
    let mut out = text.to_string();
    for h in hidden {
        out = out.replace(h.as_str(), "****");
    }
    crate::ops::mask::text(&out)
}

/// Parses `K=V`.
pub fn pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// A params file: `K=V` per line (`#` comments), or a JSON list in CloudFormation's
/// own `[{"ParameterKey": .., "ParameterValue": ..}]` shape.
pub fn params_file(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.trim_start().starts_with('[') {
        let list: Vec<BTreeMap<String, String>> = serde_json::from_str(text)
            .map_err(|e| format!("not a CloudFormation parameter list: {e}"))?;
        return list
            .into_iter()
            .map(|p| match (p.get("ParameterKey"), p.get("ParameterValue")) {
                (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
                _ => Err("each entry needs ParameterKey and ParameterValue".to_string()),
            })
            .collect();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(pair)
        .collect()
}

/// Which statuses end a wait, and whether well.
fn settled(status: &str) -> Option<bool> {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "DELETE_COMPLETE" | "IMPORT_COMPLETE" => Some(true),
        s if s.ends_with("_IN_PROGRESS") => None,
        _ => Some(false),
    }
}

impl AwsOps {
    async fn stack_clients(&self) -> Result<Clients, StackError> {
        Ok(self.home_clients().await?)
    }

    fn check_request(req: &StackRequest, declared: &[Declared]) -> Result<(), StackError> {
        StackName::parse(&req.stack).map_err(|e| StackError::Input(e.to_string()))?;
        for p in &req.parents {
            StackName::parse(p).map_err(|e| StackError::Input(format!("--parent: {e}")))?;
        }
        let names: HashSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        let unknown: Vec<&str> = req
            .params
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !names.contains(k))
            .collect();
        if !unknown.is_empty() {
            let mut known: Vec<&str> = names.into_iter().collect();
            known.sort_unstable();
            return Err(StackError::Input(format!(
                "the template declares no parameter {}; it declares: {}",
                unknown.join(", "),
                known.join(", ")
            )));
        }
        Ok(())
    }

    /// Parameters for a create (`existing` None) or an update, or every missing name.
    async fn resolve(
        &self,
        clients: &Clients,
        req: &StackRequest,
        declared: &[Declared],
        existing: Option<&aws_sdk_cloudformation::types::Stack>,
    ) -> Result<Vec<Parameter>, StackError> {
        let wanted: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for parent in &req.parents {
            let stack = cfn::describe(clients, parent).await?;
            for o in stack.outputs() {
                if let (Some(k), Some(v)) = (o.output_key(), o.output_value())
                    && wanted.contains(k)
                {
                    values.insert(k.to_string(), v.to_string());
                }
            }
        }
        values.extend(req.params.iter().cloned());
        let previous: HashSet<&str> = existing
            .map(|s| {
                s.parameters()
                    .iter()
                    .filter_map(|p| p.parameter_key())
                    .collect()
            })
            .unwrap_or_default();
        let mut missing = Vec::new();
        let mut out = Vec::new();
        for d in declared {
            let p = Parameter::builder().parameter_key(&d.name);
            match values.get(&d.name) {
                Some(v) => out.push(p.parameter_value(v).build()),
                None if previous.contains(d.name.as_str()) => {
                    out.push(p.use_previous_value(true).build())
                }
                None if d.has_default => {}
                None => missing.push(d.name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(StackError::Missing {
                stack: req.stack.clone(),
                names: missing,
            });
        }
        Ok(out)
    }

    /// The stack, or `None` when there is none to update (never created, deleted,
    /// or left empty by a create change set).
    async fn existing(
        &self,
        clients: &Clients,
        name: &str,
    ) -> Result<Option<aws_sdk_cloudformation::types::Stack>, StackError> {
        match cfn::describe(clients, name).await {
            Ok(s) if s.stack_status() == Some(&StackStatus::ReviewInProgress) => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(OpsError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates or updates the stack and waits for the outcome, sending its events.
    pub async fn stack_up(
        &self,
        req: &StackRequest,
        progress: &mpsc::UnboundedSender<StackProgress>,
    ) -> Result<StackDone, StackError> {
        let declared = declared(&req.template)?;
        Self::check_request(req, &declared)?;
        let clients = self.stack_clients().await?;
        let existing = self.existing(&clients, &req.stack).await?;
        let parameters = self
            .resolve(&clients, req, &declared, existing.as_ref())
            .await?;
        let hidden = hidden_values(&declared, &parameters);
        let tags: Vec<Tag> = req
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let token = format!("dockhand-cli-{}", super::record::short_id());
        let since = crate::ops::now() - 1;
        let done = if existing.is_some() {
            let sent = clients
                .cfn
                .update_stack()
                .stack_name(&req.stack)
                .template_body(&req.template)
                .set_parameters(Some(parameters))
                .set_capabilities(Some(CAPABILITIES.to_vec()))
                .set_tags((!tags.is_empty()).then_some(tags))
                .client_request_token(&token)
                .send()
                .await;
            match sent.map_err(|e| classify("cloudformation:UpdateStack", e)) {
                Err(OpsError::Rejected(m)) if m.contains("No updates are to be performed") => {
                    return Ok(StackDone::NoChanges);
                }
                Err(e) => return Err(e.into()),
                Ok(_) => StackDone::Updated,
            }
        } else {
            clients
                .cfn
                .create_stack()
                .stack_name(&req.stack)
                .template_body(&req.template)
                .set_parameters(Some(parameters))
                .set_capabilities(Some(CAPABILITIES.to_vec()))
                .set_tags((!tags.is_empty()).then_some(tags))
                .client_request_token(&token)
                .send()
                .await
                .map_err(|e| classify("cloudformation:CreateStack", e))?;
            StackDone::Created
        };
        let verb = if done == StackDone::Created {
            "Creating"
        } else {
            "Updating"
        };
        let _ = progress.send(StackProgress::Line(format!("{verb} stack {}", req.stack)));
        self.wait_stack(&clients, &req.stack, &token, since, &hidden, progress)
            .await?;
        Ok(done)
    }

    /// What `stack up` would change: a change set, listed, then deleted (with the
    /// empty stack a create change set leaves behind).
    pub async fn stack_plan(&self, req: &StackRequest) -> Result<Vec<String>, StackError> {
        let declared = declared(&req.template)?;
        Self::check_request(req, &declared)?;
        let clients = self.stack_clients().await?;
        let existing = self.existing(&clients, &req.stack).await?;
        let parameters = self
            .resolve(&clients, req, &declared, existing.as_ref())
            .await?;
        let kind = if existing.is_some() {
            ChangeSetType::Update
        } else {
            ChangeSetType::Create
        };
        let set_name = format!("dockhand-plan-{}", super::record::short_id());
        let created = clients
            .cfn
            .create_change_set()
            .stack_name(&req.stack)
            .change_set_name(&set_name)
            .change_set_type(kind.clone())
            .template_body(&req.template)
            .set_parameters(Some(parameters.clone()))
            .set_capabilities(Some(CAPABILITIES.to_vec()))
            .send()
            .await
            .map_err(|e| classify("cloudformation:CreateChangeSet", e))?;
        let id = created.id().unwrap_or(&set_name).to_string();
        let mut lines: Vec<String> = Vec::new();
        if let Some(stack) = &existing {
            for p in &parameters {
                if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value()) {
                    let old = cfn::parameter(stack, k).unwrap_or_default();
                    if old != v {
                        lines.push(format!("Parameter {k}: {old} -> {v}"));
                    }
                }
            }
        }
        let described = cfn::describe_change_set(&clients, &req.stack, &id).await;
        let cleanup = clients
            .cfn
            .delete_change_set()
            .stack_name(&req.stack)
            .change_set_name(&id)
            .send()
            .await;
        if let Err(e) = cleanup {
            tracing::warn!(change_set = id, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "could not delete the plan's change set");
        }
        if kind == ChangeSetType::Create {
            // A create change set leaves an empty stack in REVIEW_IN_PROGRESS.
            let _ = clients
                .cfn
                .delete_stack()
                .stack_name(&req.stack)
                .send()
                .await;
        }
        let d = described?;
        lines.extend(cfn::change_lines(&d));
        if d.status() == Some(&ChangeSetStatus::Failed) && lines.is_empty() {
            let reason = d.status_reason().unwrap_or_default();
            if !reason.contains("didn't contain changes") && !reason.contains("No updates") {
                return Err(OpsError::Rejected(reason.to_string()).into());
            }
        }
        Ok(lines)
    }

    /// Deletes the stack and waits until it is gone.
    pub async fn stack_delete(
        &self,
        name: &str,
        progress: &mpsc::UnboundedSender<StackProgress>,
    ) -> Result<StackDone, StackError> {
        StackName::parse(name).map_err(|e| StackError::Input(e.to_string()))?;
        let clients = self.stack_clients().await?;
        if self.existing(&clients, name).await?.is_none() {
            return Err(OpsError::NotFound(format!("Stack `{name}` does not exist.")).into());
        }
        let token = format!("dockhand-cli-{}", super::record::short_id());
        let since = crate::ops::now() - 1;
        clients
            .cfn
            .delete_stack()
            .stack_name(name)
            .client_request_token(&token)
            .send()
            .await
            .map_err(|e| classify("cloudformation:DeleteStack", e))?;
        let _ = progress.send(StackProgress::Line(format!("Deleting stack {name}")));
        self.wait_stack(&clients, name, &token, since, &[], progress)
            .await?;
        Ok(StackDone::Deleted)
    }

    /// Polls status and events until the stack settles; events are sent once each.
    async fn wait_stack(
        &self,
        clients: &Clients,
        name: &str,
        token: &str,
        since: i64,
        hidden: &[String],
        progress: &mpsc::UnboundedSender<StackProgress>,
    ) -> Result<(), StackError> {
        let poll = self.watch_config().poll.min(Duration::from_secs(2));
        let deadline = Instant::now() + self.watch_config().timeout;
        let mut seen = HashSet::new();
        let mut first_failure: Option<String> = None;
        let mut operation = cfn::OperationEvents::new(token);
        loop {
            // Events first: the last ones before a status flip still get printed.
            let events = match operation.read(clients, name).await {
                Ok(events) => events.to_vec(),
                Err(_) => Vec::new(),
            };
            for e in events.iter().rev() {
                let ours = match &e.token {
                    Some(t) => t == token,
                    None => e.at >= since,
                };
                if ours && seen.insert(e.id.clone()) {
                    let shown = e.reason.as_deref().map(|r| hide(r, hidden));
                    if e.status.ends_with("_FAILED") && first_failure.is_none() {
                        first_failure = Some(format!(
                            "{} {}: {}",
                            e.resource,
                            e.status,
                            shown.clone().unwrap_or_default()
                        ));
                    }
                    let reason = shown.map(|r| format!("  {r}")).unwrap_or_default();
                    let _ = progress.send(StackProgress::Line(format!(
                        "{} {:<40} {}{reason}",
                        clock(e.at),
                        e.resource,
                        e.status
                    )));
                }
            }
            let status = match cfn::describe(clients, name).await {
                Ok(s) => cfn::status(&s),
                // A deleted stack stops being found by name.
                Err(OpsError::NotFound(_)) => "DELETE_COMPLETE".to_string(),
                Err(e) => return Err(e.into()),
            };
            match settled(&status) {
                Some(true) => return Ok(()),
                Some(false) => {
                    return Err(StackError::Failed {
                        stack: name.to_string(),
                        reason: first_failure.unwrap_or_else(|| "see the stack's events".into()),
                        status,
                    });
                }
                None if Instant::now() > deadline => {
                    return Err(StackError::Failed {
                        stack: name.to_string(),
                        reason: format!(
                            "still {status} after {}; it carries on in AWS",
                            crate::ops::took(self.watch_config().timeout)
                        ),
                        status,
                    });
                }
                None => {
                    let _ = progress.send(StackProgress::Waiting(status));
                    tokio::time::sleep(poll).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_no_echo_value_is_masked_wherever_stack_up_prints_it() {
        let declared = declared(
            "Parameters:\n  DbPassword: {Type: String, NoEcho: true}\n  Owner: {Type: String}\nResources: {}\n",
        )
        .unwrap();
        let p = |k: &str, v: &str| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        };
        let hidden = hidden_values(
            &declared,
            &[p("DbPassword", "hunter2-x"), p("Owner", "payments")],
        );
        assert_eq!(hidden, ["hunter2-x"]);
        assert_eq!(
            hide("Invalid password hunter2-x for user payments", &hidden),
            "Invalid password **** for user payments"
        );
    }

    #[test]
    fn template_parameters_are_read_locally() {
        let t = "Parameters:\n  Version:\n    Type: String\n  Count:\n    Type: Number\n    Default: 2\nResources:\n  X:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref Version\n";
        let d = declared(t).unwrap();
        assert_eq!(
            d,
            [
                Declared {
                    name: "Version".into(),
                    has_default: false,
                    no_echo: false,
                },
                Declared {
                    name: "Count".into(),
                    has_default: true,
                    no_echo: false,
                }
            ]
        );
        assert!(matches!(
            declared("Description: x\n"),
            Err(StackError::Input(_))
        ));
        assert!(matches!(declared(": :"), Err(StackError::Input(_))));
    }

    #[test]
    fn params_files_take_pairs_or_cloudformation_json() {
        assert_eq!(
            params_file("# comment\nA=1\n\nB=x=y\n").unwrap(),
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(
            params_file(r#"[{"ParameterKey": "A", "ParameterValue": "1"}]"#).unwrap(),
            [("A".to_string(), "1".to_string())]
        );
        assert!(params_file("nope").is_err());
    }
}
