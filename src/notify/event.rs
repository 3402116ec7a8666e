//! AWS's events as EventBridge delivers them, read into what dockhand acts on.
//!
//! Only the envelope and the few detail fields each kind needs are read; AWS adds
//! fields over time and they are ignored. An event is a wake-up call, not the
//! truth: dispatch reads the deployment record or the stack before saying
//! anything, so a late or reordered event cannot make dockhand report a state AWS
//! has left.

use serde_json::Value;

use crate::ops::Epoch;

/// One event, by what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEvent {
    /// EventBridge's id: the same event delivered twice has the same id.
    pub id: String,
    pub region: String,
    pub at: Epoch,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `ECS Deployment State Change`.
    Deployment {
        cluster: String,
        service: String,
        /// The `ecs-svc/…` id of `deployments[]`.
        deployment: String,
        phase: Phase,
        reason: Option<String>,
    },
    /// `ECS Service Action`: placement failures, steady state, rebalancing.
    ServiceAction {
        cluster: String,
        service: String,
        name: String,
        /// INFO, WARN or ERROR.
        level: String,
        reason: Option<String>,
    },
    /// `ECS Task State Change` of a task that stopped.
    TaskStopped(StoppedTask),
    /// `CloudFormation Stack Status Change`.
    Stack {
        stack: String,
        status: String,
        reason: Option<String>,
    },
    /// `CloudWatch Alarm State Change`.
    Alarm {
        name: String,
        state: String,
        previous: Option<String>,
        reason: Option<String>,
    },
    /// `ECS Hook State Change`: a deployment paused at a lifecycle hook.
    Hook {
        cluster: String,
        service: String,
        name: String,
        deployment_arn: Option<String>,
        hook_id: Option<String>,
        /// The stage it holds, when it times out, and what ECS does then, as the
        /// event says (the decision itself reads the record again).
        stage: Option<String>,
        expires: Option<Epoch>,
        timeout_action: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    InProgress,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    pub cluster: String,
    /// From `group: service:NAME`; `None` for a task no service runs.
    pub service: Option<String>,
    pub task: String,
    pub task_definition: String,
    pub stop_code: Option<String>,
    pub reason: Option<String>,
    /// The essential container's exit code, when it exited.
    pub exit_code: Option<i64>,
    pub container_reason: Option<String>,
}

impl StoppedTask {
    /// Whether the stop is news: a container that failed, a task that never
    /// started. Tasks ECS or a person stopped on purpose (a deploy replacing them,
    /// scaling in) with a clean exit are not.
    pub fn abnormal(&self) -> bool {
        match self.stop_code.as_deref() {
            Some("TaskFailedToStart") => true,
            _ => {
                self.exit_code.is_some_and(|c| c != 0)
                    || self.container_reason.as_deref().is_some_and(|r| {
                        r.contains("OutOfMemory") || r.contains("CannotPull") || r.contains("Error")
                    })
            }
        }
    }
}

/// Why an event was not read: logged, and the message dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unread {
    #[error("not an EventBridge event: {0}")]
    Malformed(String),
    #[error("an event of a kind dockhand does not act on: {from} / {detail_type}")]
    Unknown { from: String, detail_type: String },
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn owned(v: &Value, key: &str) -> Option<String> {
    s(v, key).filter(|x| !x.is_empty()).map(str::to_string)
}

/// The last `/`-separated part of an ARN: `…:cluster/prod` → `prod`.
pub fn last_part(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:aws:ecs:R:A:service/CLUSTER/NAME` → (CLUSTER, NAME); the old form
/// without the cluster gives an empty cluster.
fn service_of(arn: &str) -> Option<(String, String)> {
    let path = arn.split_once(":service/")?.1;
    Some(match path.split_once('/') {
        Some((cluster, name)) => (cluster.to_string(), name.to_string()),
        None => (String::new(), path.to_string()),
    })
}

/// ISO 8601 (`2026-12-03T03:12:00Z`, fractions and offsets allowed) to epoch seconds.
pub fn epoch(text: &str) -> Option<Epoch> {
    let t = text.trim();
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (clock, offset) = match time.find(['Z', '+']).or_else(|| time.rfind('-')) {
        Some(i) => (&time[..i], &time[i..]),
        None => (time, "Z"),
    };
    let mut c = clock.splitn(3, ':');
    let (h, mi) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let sec = c.next().map_or(Some(0.0), |x| x.parse::<f64>().ok())? as i64;
    let off = match offset {
        "Z" | "" => 0,
        o => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let (oh, om) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - off)
}

/// Reads one SQS message body.
pub fn parse(body: &str) -> Result<AwsEvent, Unread> {
    let v: Value =
        serde_json::from_str(body).map_err(|e| Unread::Malformed(format!("not JSON ({e})")))?;
    let field = |k: &str| owned(&v, k).ok_or_else(|| Unread::Malformed(format!("no `{k}`")));
    let (id, source, detail_type) = (field("id")?, field("source")?, field("detail-type")?);
    let region = owned(&v, "region").unwrap_or_default();
    let at = s(&v, "time")
        .and_then(epoch)
        .unwrap_or_else(crate::ops::now);
    let detail = v
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or_else(|| Unread::Malformed("no `detail` object".into()))?;
    let first_resource = v
        .get("resources")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let missing = |what: &str| Unread::Malformed(format!("{detail_type} without {what}"));
    let service = || {
        service_of(&first_resource)
            .or_else(|| {
                let arn = s(detail, "serviceArn")?;
                service_of(arn)
            })
            .map(|(cluster, name)| {
                let cluster = if cluster.is_empty() {
                    s(detail, "clusterArn")
                        .map(last_part)
                        .unwrap_or_default()
                        .to_string()
                } else {
                    cluster
                };
                (cluster, name)
            })
            .ok_or_else(|| missing("a service ARN"))
    };
    let kind = match (source.as_str(), detail_type.as_str()) {
        ("aws.ecs", "ECS Deployment State Change") => {
            let (cluster, service) = service()?;
            let phase = match s(detail, "eventName") {
                Some("SERVICE_DEPLOYMENT_IN_PROGRESS") => Phase::InProgress,
                Some("SERVICE_DEPLOYMENT_COMPLETED") => Phase::Completed,
                Some("SERVICE_DEPLOYMENT_FAILED") => Phase::Failed,
                other => {
                    return Err(Unread::Unknown {
                        from: source,
                        detail_type: format!("{detail_type} {}", other.unwrap_or("(no eventName)")),
                    });
                }
            };
            Kind::Deployment {
                cluster,
                service,
                deployment: owned(detail, "deploymentId").ok_or_else(|| missing("deploymentId"))?,
                phase,
                reason: owned(detail, "reason"),
            }
        }
        ("aws.ecs", "ECS Service Action") => {
            let (cluster, service) = service()?;
            Kind::ServiceAction {
                cluster,
                service,
                name: owned(detail, "eventName").ok_or_else(|| missing("eventName"))?,
                level: owned(detail, "eventType").unwrap_or_else(|| "INFO".into()),
                reason: owned(detail, "reason"),
            }
        }
        ("aws.ecs", "ECS Task State Change") => {
            if s(detail, "lastStatus") != Some("STOPPED") {
                return Err(Unread::Unknown {
                    from: source,
                    detail_type: format!(
                        "{detail_type} to {}",
                        s(detail, "lastStatus").unwrap_or("?")
                    ),
                });
            }
            let task = owned(detail, "taskArn").unwrap_or(first_resource);
            let containers = detail.get("containers").and_then(Value::as_array);
            // The container that failed: the first with a non-zero exit code,
            // else the first with a reason.
            let failed = containers.and_then(|cs| {
                cs.iter()
                    .find(|c| {
                        c.get("exitCode")
                            .and_then(Value::as_i64)
                            .is_some_and(|x| x != 0)
                    })
                    .or_else(|| cs.iter().find(|c| s(c, "reason").is_some()))
                    .or_else(|| cs.first())
            });
            Kind::TaskStopped(StoppedTask {
                cluster: s(detail, "clusterArn")
                    .map(last_part)
                    .unwrap_or_default()
                    .to_string(),
                service: s(detail, "group")
                    .and_then(|g| g.strip_prefix("service:"))
                    .map(str::to_string),
                task: last_part(&task).to_string(),
                task_definition: owned(detail, "taskDefinitionArn").unwrap_or_default(),
                stop_code: owned(detail, "stopCode"),
                reason: owned(detail, "stoppedReason"),
                exit_code: failed
                    .and_then(|c| c.get("exitCode"))
                    .and_then(Value::as_i64),
                container_reason: failed.and_then(|c| owned(c, "reason")),
            })
        }
        ("aws.ecs", "ECS Hook State Change") => {
            let (cluster, service) = service()?;
            Kind::Hook {
                cluster,
                service,
                name: owned(detail, "eventName").ok_or_else(|| missing("eventName"))?,
                deployment_arn: owned(detail, "serviceDeploymentArn"),
                hook_id: owned(detail, "hookId"),
                stage: owned(detail, "lifecycleStage"),
                expires: s(detail, "expiresAt").and_then(epoch),
                timeout_action: owned(detail, "timeoutAction"),
            }
        }
        ("aws.cloudformation", "CloudFormation Stack Status Change") => {
            let stack_id = owned(detail, "stack-id").unwrap_or(first_resource);
            // arn:aws:cloudformation:R:A:stack/NAME/UUID
            let name = stack_id
                .split_once(":stack/")
                .and_then(|(_, rest)| rest.split('/').next())
                .filter(|n| !n.is_empty())
                .ok_or_else(|| missing("a stack id"))?
                .to_string();
            let status = detail.get("status-details").unwrap_or(&Value::Null);
            Kind::Stack {
                stack: name,
                status: owned(status, "status").ok_or_else(|| missing("a status"))?,
                reason: owned(status, "status-reason"),
            }
        }
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            let state = detail.get("state").unwrap_or(&Value::Null);
            Kind::Alarm {
                name: owned(detail, "alarmName").ok_or_else(|| missing("alarmName"))?,
                state: owned(state, "value").ok_or_else(|| missing("a state"))?,
                previous: detail.get("previousState").and_then(|p| owned(p, "value")),
                reason: owned(state, "reason"),
            }
        }
        _ => {
            return Err(Unread::Unknown {
                from: source,
                detail_type,
            });
        }
    };
    Ok(AwsEvent {
        id,
        region,
        at,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example, trimmed only of fields dockhand ignores.
    const DEPLOYMENT: &str = r#"{
        "version": "0", "id": "ddca6449-b258-46c0-8653-e0e3aEXAMPLE",
        "detail-type": "ECS Deployment State Change", "source": "aws.ecs",
        "account": "111122223333", "time": "2020-05-23T12:31:14Z", "region": "us-west-2",
        "resources": ["arn:aws:ecs:us-west-2:111122223333:service/default/servicetest"],
        "detail": {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_IN_PROGRESS",
                   "deploymentId": "ecs-svc/123", "updatedAt": "2020-05-23T12:31:14.000Z",
                   "reason": "ECS deployment ecs-svc/123 in progress."}}"#;

    #[test]
    fn a_deployment_event_names_its_cluster_service_and_phase() {
        let e = parse(DEPLOYMENT).unwrap();
        assert_eq!(e.id, "ddca6449-b258-46c0-8653-e0e3aEXAMPLE");
        assert_eq!(e.at, 1_590_237_074);
        assert_eq!(
            e.kind,
            Kind::Deployment {
                cluster: "default".into(),
                service: "servicetest".into(),
                deployment: "ecs-svc/123".into(),
                phase: Phase::InProgress,
                reason: Some("ECS deployment ecs-svc/123 in progress.".into()),
            }
        );
    }

    #[test]
    fn a_stopped_task_reports_the_container_that_failed() {
        let body = r#"{"id": "1", "source": "aws.ecs", "detail-type": "ECS Task State Change",
            "time": "2026-12-03T03:12:00.5+01:00", "region": "us-east-1", "resources": [],
            "detail": {"clusterArn": "arn:aws:ecs:us-east-1:1:cluster/prod", "group": "service:hubot",
              "taskArn": "arn:aws:ecs:us-east-1:1:task/prod/abc", "lastStatus": "STOPPED",
              "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited",
              "containers": [{"name": "sidecar", "exitCode": 0},
                             {"name": "app", "exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}]}}"#;
        let e = parse(body).unwrap();
        assert_eq!(e.at, epoch("2026-12-03T02:12:00Z").unwrap());
        let Kind::TaskStopped(t) = e.kind else {
            panic!("{:?}", e.kind)
        };
        assert_eq!(
            (t.cluster.as_str(), t.service.as_deref()),
            ("prod", Some("hubot"))
        );
        assert_eq!((t.task.as_str(), t.exit_code), ("abc", Some(137)));
        assert!(t.abnormal());
        let clean = StoppedTask {
            exit_code: Some(0),
            container_reason: None,
            stop_code: Some("ServiceSchedulerInitiated".into()),
            ..t
        };
        assert!(!clean.abnormal(), "a deploy replacing tasks is not news");
    }

    #[test]
    fn stacks_and_alarms_are_read_by_name() {
        let stack = r#"{"id": "2", "source": "aws.cloudformation", "detail-type": "CloudFormation Stack Status Change",
            "time": "2026-12-03T03:12:00Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudformation:us-east-1:1:stack/hubot/0a1b"],
            "detail": {"stack-id": "arn:aws:cloudformation:us-east-1:1:stack/hubot/0a1b",
              "status-details": {"status": "UPDATE_ROLLBACK_COMPLETE", "status-reason": ""}}}"#;
        assert!(matches!(parse(stack).unwrap().kind,
            Kind::Stack { stack, status, reason: None } if stack == "hubot" && status == "UPDATE_ROLLBACK_COMPLETE"));
        let alarm = r#"{"id": "3", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "time": "2026-12-03T03:12:00Z", "region": "us-east-1", "resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:hubot-5xx"],
            "detail": {"alarmName": "hubot-5xx", "state": {"value": "ALARM", "reason": "Threshold Crossed"},
              "previousState": {"value": "OK"}}}"#;
        assert!(matches!(parse(alarm).unwrap().kind,
            Kind::Alarm { name, state, previous: Some(p), .. } if name == "hubot-5xx" && state == "ALARM" && p == "OK"));
    }

    #[test]
    fn what_is_not_an_event_is_refused_with_why() {
        for body in [
            "",
            "[]",
            "{\"id\": \"x\"}",
            "not json",
            "{\"id\":\"1\",\"source\":\"aws.ecs\",\"detail-type\":\"ECS Deployment State Change\",\"detail\":{}}",
        ] {
            assert!(matches!(parse(body), Err(Unread::Malformed(_))), "{body}");
        }
        let foreign =
            r#"{"id": "1", "source": "aws.s3", "detail-type": "Object Created", "detail": {}}"#;
        assert!(matches!(parse(foreign), Err(Unread::Unknown { .. })));
        let running = DEPLOYMENT.replace(
            "SERVICE_DEPLOYMENT_IN_PROGRESS",
            "SERVICE_DEPLOYMENT_SOMETHING_NEW",
        );
        assert!(matches!(parse(&running), Err(Unread::Unknown { .. })));
    }
}
