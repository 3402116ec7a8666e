//! When is a rollout really done? The rules, and the polling loop that applies them.
//!
//! "Service stable" is not success: after a circuit-breaker rollback the service is
//! stable too, on the old revision. So a deploy is live only when the service's
//! PRIMARY deployment runs the wanted task definition and its rollout COMPLETED; a
//! FAILED rollout, or a primary back on another revision, is a failure. On the stack
//! path the stack must also reach `UPDATE_COMPLETE`; `UPDATE_ROLLBACK_*` is a failure.
//!
//! The judges are pure functions over snapshots (unit-tested below); `watch` polls a
//! snapshot source on tokio's clock, so tests run on a paused clock.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{OpsResult, Verdict};

/// One ECS deployment as the watch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSnap {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
    pub rollout_state: String,
    pub rollout_reason: Option<String>,
}

/// A service at one poll.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceSnap {
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<DeploymentSnap>,
}

impl ServiceSnap {
    pub fn primary(&self) -> Option<&DeploymentSnap> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    /// Whether a rollout is under way (more than one deployment, or the primary's not done).
    pub fn in_progress(&self) -> bool {
        self.deployments.len() > 1
            || self
                .primary()
                .is_some_and(|p| p.rollout_state == "IN_PROGRESS")
    }

    /// `IN_PROGRESS 1/2 running` style summary of the state, for timeouts and status.
    pub fn state(&self) -> String {
        match self.primary() {
            Some(p) => format!(
                "rollout {} with {}/{} tasks running on {}",
                p.rollout_state,
                p.running,
                p.desired,
                revision(&p.task_definition)
            ),
            None => format!(
                "{}/{} tasks running, no primary deployment",
                self.running, self.desired
            ),
        }
    }
}

/// What one poll concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Not settled; the state to report if the wait ends here.
    Waiting(String),
    Done(Verdict),
    /// The rollout failed; the caller adds stopped tasks' reasons.
    RolledBack {
        summary: String,
        reason: Option<String>,
    },
}

/// `arn:aws:ecs:...:task-definition/hubot:8` -> `hubot:8`.
pub fn revision(task_definition: &str) -> String {
    task_definition
        .rsplit('/')
        .next()
        .unwrap_or(task_definition)
        .to_string()
}

/// Judges a service deploy (or rollback) to the task definition `want`.
pub fn judge_deploy(snap: &ServiceSnap, want: &str) -> Judgement {
    if let Some(failed) = snap
        .deployments
        .iter()
        .find(|d| d.task_definition == want && d.rollout_state == "FAILED")
    {
        let back = snap
            .primary()
            .filter(|p| p.task_definition != want)
            .map(|p| revision(&p.task_definition));
        return Judgement::RolledBack {
            summary: match back {
                Some(r) => format!("ECS rolled back to {r}"),
                None => "the rollout failed".to_string(),
            },
            reason: failed.rollout_reason.clone(),
        };
    }
    let Some(primary) = snap.primary() else {
        return Judgement::Waiting(snap.state());
    };
    if primary.task_definition != want {
        // The new deployment is gone and another revision is primary: rolled back
        // (by the breaker, or by someone's cancel).
        if !snap.deployments.iter().any(|d| d.task_definition == want) {
            return Judgement::RolledBack {
                summary: format!("ECS rolled back to {}", revision(&primary.task_definition)),
                reason: None,
            };
        }
        return Judgement::Waiting(snap.state());
    }
    if primary.rollout_state == "COMPLETED" && snap.deployments.len() == 1 {
        return Judgement::Done(Verdict::Live {
            version: None,
            revision: revision(want),
            running: primary.running,
            desired: primary.desired,
        });
    }
    Judgement::Waiting(snap.state())
}

/// Judges a scale to `count` on the service path.
pub fn judge_scale(snap: &ServiceSnap, count: i32) -> Judgement {
    match snap.primary() {
        Some(p)
            if snap.deployments.len() == 1
                && p.desired == count
                && p.running == count
                && snap.running == count =>
        {
            Judgement::Done(Verdict::Live {
                version: None,
                revision: revision(&p.task_definition),
                running: p.running,
                desired: p.desired,
            })
        }
        _ => Judgement::Waiting(snap.state()),
    }
}

/// Stack statuses that end an update, and whether they are a success.
pub fn stack_settled(status: &str) -> Option<bool> {
    match status {
        "UPDATE_COMPLETE" => Some(true),
        "UPDATE_ROLLBACK_COMPLETE"
        | "UPDATE_ROLLBACK_FAILED"
        | "UPDATE_FAILED"
        | "ROLLBACK_COMPLETE"
        | "ROLLBACK_FAILED" => Some(false),
        _ => None,
    }
}

/// Polls `step` every `poll` until it decides or `timeout` passes. The first poll is
/// immediate, so an outcome is reported within one interval of AWS settling.
pub async fn watch<F, Fut>(poll: Duration, timeout: Duration, mut step: F) -> OpsResult<Verdict>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = OpsResult<Judgement>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let state = match step().await? {
            Judgement::Done(v) => return Ok(v),
            Judgement::RolledBack { summary, reason } => {
                return Ok(Verdict::Failed {
                    summary,
                    reason,
                    stopped_reason: None,
                });
            }
            Judgement::Waiting(state) => state,
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(Verdict::TimedOut { state });
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const OLD: &str = "arn:aws:ecs:us-east-1:1:task-definition/hubot:7";
    const NEW: &str = "arn:aws:ecs:us-east-1:1:task-definition/hubot:8";

    fn dep(status: &str, td: &str, running: i32, state: &str) -> DeploymentSnap {
        DeploymentSnap {
            id: format!("ecs-svc/{status}{td}"),
            status: status.into(),
            task_definition: td.into(),
            desired: 2,
            running,
            pending: 2 - running,
            failed: 0,
            rollout_state: state.into(),
            rollout_reason: None,
        }
    }

    fn snap(deployments: Vec<DeploymentSnap>) -> ServiceSnap {
        let primary = deployments.iter().find(|d| d.status == "PRIMARY").cloned();
        ServiceSnap {
            task_definition: primary
                .as_ref()
                .map(|p| p.task_definition.clone())
                .unwrap_or_default(),
            desired: 2,
            running: deployments.iter().map(|d| d.running).sum(),
            pending: 0,
            deployments,
        }
    }

    #[test]
    fn live_only_when_the_primary_runs_the_new_revision_and_completed() {
        assert!(matches!(
            judge_deploy(
                &snap(vec![
                    dep("PRIMARY", NEW, 1, "IN_PROGRESS"),
                    dep("ACTIVE", OLD, 1, "COMPLETED")
                ]),
                NEW
            ),
            Judgement::Waiting(_)
        ));
        assert!(
            matches!(
                judge_deploy(
                    &snap(vec![
                        dep("PRIMARY", NEW, 2, "COMPLETED"),
                        dep("ACTIVE", OLD, 1, "COMPLETED")
                    ]),
                    NEW
                ),
                Judgement::Waiting(_)
            ),
            "old tasks still draining"
        );
        assert_eq!(
            judge_deploy(&snap(vec![dep("PRIMARY", NEW, 2, "COMPLETED")]), NEW),
            Judgement::Done(Verdict::Live {
                version: None,
                revision: "hubot:8".into(),
                running: 2,
                desired: 2
            })
        );
    }

    #[test]
    fn a_stable_service_on_the_old_revision_is_a_failure() {
        // The breaker rolled back: the service is steady, but not on what we deployed.
        let j = judge_deploy(&snap(vec![dep("PRIMARY", OLD, 2, "COMPLETED")]), NEW);
        assert_eq!(
            j,
            Judgement::RolledBack {
                summary: "ECS rolled back to hubot:7".into(),
                reason: None
            }
        );
        let mut failed = dep("ACTIVE", NEW, 0, "FAILED");
        failed.rollout_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let j = judge_deploy(
            &snap(vec![dep("PRIMARY", OLD, 1, "IN_PROGRESS"), failed]),
            NEW,
        );
        assert_eq!(
            j,
            Judgement::RolledBack {
                summary: "ECS rolled back to hubot:7".into(),
                reason: Some("ECS deployment circuit breaker: tasks failed to start.".into())
            }
        );
    }

    #[test]
    fn scale_waits_for_running_to_match() {
        let mut s = snap(vec![dep("PRIMARY", OLD, 2, "COMPLETED")]);
        s.deployments[0].desired = 3;
        assert!(matches!(judge_scale(&s, 3), Judgement::Waiting(_)));
        s.deployments[0].running = 3;
        s.running = 3;
        assert!(matches!(judge_scale(&s, 3), Judgement::Done(_)));
    }

    #[test]
    fn stack_statuses_that_settle() {
        assert_eq!(stack_settled("UPDATE_COMPLETE"), Some(true));
        assert_eq!(stack_settled("UPDATE_ROLLBACK_COMPLETE"), Some(false));
        assert_eq!(stack_settled("UPDATE_IN_PROGRESS"), None);
        assert_eq!(stack_settled("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_outcome_is_reported_within_one_poll_of_settling() {
        let polls = AtomicUsize::new(0);
        let start = Instant::now();
        let v = watch(Duration::from_secs(5), Duration::from_secs(1800), || {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(if n < 3 {
                    Judgement::Waiting("IN_PROGRESS".into())
                } else {
                    Judgement::Done(Verdict::Unchanged {
                        detail: "done".into(),
                    })
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(
            v,
            Verdict::Unchanged {
                detail: "done".into()
            }
        );
        assert_eq!(polls.load(Ordering::SeqCst), 4, "polls at 0s, 5s, 10s, 15s");
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn every_wait_ends_with_the_state_it_reached() {
        let start = Instant::now();
        let v = watch(Duration::from_secs(5), Duration::from_secs(60), || async {
            Ok(Judgement::Waiting(
                "rollout IN_PROGRESS with 1/2 tasks running on hubot:8".into(),
            ))
        })
        .await
        .unwrap();
        assert_eq!(
            v,
            Verdict::TimedOut {
                state: "rollout IN_PROGRESS with 1/2 tasks running on hubot:8".into()
            }
        );
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_rollback_ends_the_watch_as_a_failure() {
        let v = watch(Duration::from_secs(5), Duration::from_secs(60), || async {
            Ok(judge_deploy(
                &snap(vec![dep("PRIMARY", OLD, 2, "COMPLETED")]),
                NEW,
            ))
        })
        .await
        .unwrap();
        assert!(
            matches!(v, Verdict::Failed { summary, .. } if summary == "ECS rolled back to hubot:7")
        );
    }
}
