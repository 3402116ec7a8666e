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

use super::{Epoch, Left, OpsError, OpsResult, Verdict};

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

    /// Whether a rollout is under way (more than one deployment, or the primary's
    /// not done). A primary whose rollout FAILED is over: ECS stopped it without a
    /// rollback (with one, the rollback would be the primary) and moves nothing
    /// more, though the old deployment's tasks stay; a deploy or rollback may go.
    pub fn in_progress(&self) -> bool {
        match self.primary() {
            Some(p) if p.rollout_state == "FAILED" => false,
            Some(p) => p.rollout_state == "IN_PROGRESS" || self.deployments.len() > 1,
            None => self.deployments.len() > 1,
        }
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
    /// The deploy has failed for certain, but ECS is still rolling back: the watch
    /// keeps going until the rollback ends (its end is the verdict), and if the
    /// wait runs out first the verdict is this failure, never a timeout.
    RollingBack {
        summary: String,
        reason: Option<String>,
    },
}

/// One service revision of a ServiceDeployment record, as the judge reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RevisionSnap {
    pub arn: String,
    /// From DescribeServiceRevisions; `None` until it was read.
    pub task_definition: Option<String>,
    /// The version (tag or digest) the app's container runs in this revision.
    pub version: Option<String>,
    /// The app container's image digest as ECS resolved it.
    pub digest: Option<String>,
    pub requested: i32,
    pub running: i32,
    pub pending: i32,
    pub production_weight: Option<f64>,
    pub test_weight: Option<f64>,
}

impl RevisionSnap {
    /// `worker:1 (v41)`, or the revision id when its task definition is not known.
    pub fn name(&self) -> String {
        let rev = match &self.task_definition {
            Some(td) => revision(td),
            None => format!("service revision {}", revision(&self.arn)),
        };
        match &self.version {
            Some(v) => format!("{rev} ({v})"),
            None => rev,
        }
    }
}

/// ECS's own record of one service deployment (ListServiceDeployments /
/// DescribeServiceDeployments), free of SDK types. Status and stage are kept as the
/// strings ECS sent, so a value this dockhand does not know stays visible.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordSnap {
    pub arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub stage: Option<String>,
    /// `deploymentConfiguration.strategy` as the deployment started (ROLLING if absent).
    pub strategy: Option<String>,
    /// Bake minutes: `bakeTimeInMinutes`, and the linear/canary step bake.
    pub bake_minutes: Option<i32>,
    pub step_bake_minutes: Option<i32>,
    pub target: RevisionSnap,
    pub sources: Vec<RevisionSnap>,
    /// The revision ECS rolls back to (`rollback.serviceRevisionArn`), if it says.
    pub rollback_to: Option<String>,
    pub rollback_reason: Option<String>,
    pub breaker_status: Option<String>,
    pub breaker_failures: i32,
    pub breaker_threshold: i32,
    pub triggered_alarms: Vec<String>,
    /// Lifecycle hooks of the current stage: (target ARN or hook id, status).
    pub hooks: Vec<(String, String)>,
    /// A PAUSE hook of the current stage waiting for someone's decision.
    pub paused: Option<Pause>,
    /// When the watch first saw the record in its current stage (AWS time).
    pub stage_since: Option<Epoch>,
}

/// A deployment held at a PAUSE lifecycle hook until ContinueServiceDeployment
/// (or its timeout, which then takes `timeout_action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    pub hook_id: String,
    pub stage: Option<String>,
    pub expires: Option<Epoch>,
    /// CONTINUE or ROLLBACK.
    pub timeout_action: Option<String>,
}

impl RecordSnap {
    /// The revision ECS rolls back to: the one `rollback` names, else the first source.
    pub fn back_to(&self) -> Option<&RevisionSnap> {
        self.rollback_to
            .as_deref()
            .and_then(|arn| self.sources.iter().find(|s| s.arn == arn))
            .or(self.sources.first())
    }

    pub fn back_to_name(&self) -> String {
        self.back_to()
            .map(RevisionSnap::name)
            .unwrap_or_else(|| "the previous revision".into())
    }

    /// Why ECS rolled back, in its own fields: the triggered alarms, the circuit
    /// breaker's count against its threshold, or the failed lifecycle hook and its
    /// stage; else ECS's own reason text.
    pub fn cause(&self) -> Option<String> {
        if !self.triggered_alarms.is_empty() {
            return Some(format!(
                "alarm {} triggered",
                self.triggered_alarms.join(", ")
            ));
        }
        if self.breaker_status.as_deref() == Some("TRIGGERED") {
            return Some(format!(
                "the deployment circuit breaker tripped: {} failed tasks, threshold {}",
                self.breaker_failures, self.breaker_threshold
            ));
        }
        if let Some((hook, _)) = self.hooks.iter().find(|(_, s)| s == "FAILED") {
            return Some(format!(
                "lifecycle hook {hook} failed in {}",
                self.stage.as_deref().unwrap_or("an unknown stage")
            ));
        }
        self.rollback_reason
            .clone()
            .or_else(|| self.status_reason.clone())
    }

    /// The deployment's progress in its strategy's own terms, for the thread and
    /// for a timeout: `canary 5% → bake 3/10 min`, `blue/green: production
    /// traffic on worker:2 (v42), bake 12/30 min`, `rolling: SCALE_UP, 2/3 ...`.
    pub fn progress(&self, now: Epoch) -> String {
        let stage = self.stage.as_deref().unwrap_or("no stage yet");
        let t = &self.target;
        let weight = t.production_weight.unwrap_or(0.0);
        let baked = |total: Option<i32>| {
            let done = self
                .stage_since
                .map(|s| (now - s).max(0) / 60)
                .unwrap_or_default();
            match total {
                Some(m) => format!("bake {done}/{m} min"),
                None => format!("bake {done} min"),
            }
        };
        let tasks = format!(
            "{}/{} tasks running on {}",
            t.running,
            t.requested,
            t.name()
        );
        match (self.strategy.as_deref().unwrap_or("ROLLING"), stage) {
            ("BLUE_GREEN", "BAKE_TIME") => format!(
                "blue/green: production traffic on {}, {}",
                t.name(),
                baked(self.bake_minutes)
            ),
            ("BLUE_GREEN", "PRODUCTION_TRAFFIC_SHIFT" | "POST_PRODUCTION_TRAFFIC_SHIFT") => {
                format!("blue/green: production traffic {weight}% on {}", t.name())
            }
            ("CANARY", "PRODUCTION_TRAFFIC_SHIFT") if weight < 100.0 => {
                format!("canary {weight}% → {}", baked(self.step_bake_minutes))
            }
            ("LINEAR", "PRODUCTION_TRAFFIC_SHIFT") if weight < 100.0 => {
                format!("linear {weight}% → {}", baked(self.step_bake_minutes))
            }
            ("CANARY" | "LINEAR", "BAKE_TIME") => format!(
                "{}: production traffic on {}, {}",
                self.strategy.as_deref().unwrap_or_default().to_lowercase(),
                t.name(),
                baked(self.bake_minutes)
            ),
            ("ROLLING", _) => format!("rolling: {stage}, {tasks}"),
            (strategy, _) => {
                let name = match strategy {
                    "BLUE_GREEN" => "blue/green".to_string(),
                    other => other.to_lowercase(),
                };
                let traffic = t
                    .production_weight
                    .map(|w| format!(", production traffic {w}%"))
                    .unwrap_or_default();
                format!("{name}: {stage}{traffic}, {tasks}")
            }
        }
    }

    /// A line for the thread each time the stage or the traffic moves (the bake
    /// countdown alone does not post): `None` while nothing of that changed.
    pub fn milestone(&self) -> (String, String) {
        let key = format!(
            "{}|{}|{:?}|{:?}",
            self.status,
            self.stage.as_deref().unwrap_or_default(),
            self.target.production_weight,
            self.target.test_weight
        );
        (key, self.progress(self.stage_since.unwrap_or_default()))
    }
}

/// What a deploy must end on: the revision it created and the version it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub task_definition: String,
    pub version: Option<String>,
}

impl Want {
    pub fn new(task_definition: &str, version: Option<&str>) -> Want {
        Want {
            task_definition: task_definition.to_string(),
            version: version.map(str::to_string),
        }
    }
}

/// Judges a deploy (or rollback, or a resumed watch) from ECS's own record of it.
///
/// Live only when the record says SUCCESSFUL, the service runs the revision this
/// deploy created, and that revision's image carries the version. `stopped_by` is
/// who asked dockhand to stop it, when it was dockhand.
pub fn judge_record(
    rec: &RecordSnap,
    svc: &ServiceSnap,
    want: &Want,
    stopped_by: Option<&str>,
    now: Epoch,
) -> Judgement {
    let back = rec.back_to_name();
    let cancelled = |state: String| {
        Judgement::Done(Verdict::Cancelled {
            state: format!("cancelled by {}; {state}", stopped_by.unwrap_or("someone")),
        })
    };
    match rec.status.as_str() {
        "SUCCESSFUL" => {
            if svc.task_definition != want.task_definition {
                return Judgement::Done(Verdict::Failed {
                    summary: format!(
                        "ECS finished this deployment, but the service now runs {}, not {}",
                        revision(&svc.task_definition),
                        revision(&want.task_definition)
                    ),
                    reason: Some("another deployment of the service started after it".into()),
                    stopped_reason: None,
                    left: Left::Superseded,
                });
            }
            if let Some(v) = &want.version {
                let carries = rec.target.version.as_deref() == Some(v.as_str())
                    || rec.target.digest.as_deref() == Some(v.as_str());
                if !carries {
                    return Judgement::RolledBack {
                        summary: format!(
                            "{} runs {}, not {v}",
                            revision(&want.task_definition),
                            rec.target
                                .version
                                .as_deref()
                                .unwrap_or("an image without a tag")
                        ),
                        reason: None,
                    };
                }
            }
            Judgement::Done(Verdict::Live {
                version: None,
                revision: revision(&want.task_definition),
                running: rec.target.running,
                desired: rec.target.requested,
            })
        }
        "ROLLBACK_SUCCESSFUL" if stopped_by.is_some() => cancelled(format!(
            "ECS stopped the deployment and rolled back to {back}"
        )),
        "ROLLBACK_SUCCESSFUL" => Judgement::RolledBack {
            summary: format!("ECS rolled back to {back}"),
            reason: rec.cause(),
        },
        "ROLLBACK_FAILED" => Judgement::Done(Verdict::Failed {
            summary: format!(
                "ECS could not roll back to {back}: the service may be on neither {} nor {back}. \
                 Check what runs now, then deploy a version known to work (or fix what stops \
                 its tasks); AWS does nothing more on its own",
                rec.target.name()
            ),
            reason: [rec.cause(), rec.status_reason.clone()]
                .into_iter()
                .flatten()
                .reduce(|a, b| if a == b { a } else { format!("{a}; {b}") }),
            stopped_reason: None,
            left: Left::Failure,
        }),
        "STOPPED" if stopped_by.is_some() => cancelled(format!(
            "ECS stopped the deployment; the service runs {}",
            revision(&svc.task_definition)
        )),
        "STOPPED" => Judgement::Done(Verdict::Failed {
            summary: format!(
                "ECS stopped the deployment without a rollback; the service runs {}",
                revision(&svc.task_definition)
            ),
            reason: rec.cause(),
            stopped_reason: None,
            left: Left::Failure,
        }),
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => Judgement::RollingBack {
            summary: match stopped_by {
                Some(who) => format!("cancelled by {who}; ECS is rolling back to {back}"),
                None => format!("ECS is rolling back to {back}"),
            },
            reason: rec.cause(),
        },
        "PENDING" | "IN_PROGRESS" => Judgement::Waiting(rec.progress(now)),
        "STOP_REQUESTED" => Judgement::Waiting(format!(
            "ECS is stopping the deployment (STOP_REQUESTED); {}",
            rec.progress(now)
        )),
        // A status this dockhand does not know (ECS added one): never green, and
        // never a failure it cannot explain. Keep watching and say what ECS said;
        // the wait ends with it if nothing known follows.
        other => Judgement::Waiting(format!(
            "ECS reports the deployment as {other}, a status dockhand does not know; {}",
            rec.progress(now)
        )),
    }
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
///
/// A poll that fails with an error `transient` accepts (throttling, a 5xx, a call
/// that timed out) does not end the watch: it is tried again after a backoff that
/// doubles from `poll` up to `MAX_BACKOFF`, with jitter, on tokio's clock, until
/// the wait runs out. Any other error (access denied, a deleted service or stack)
/// ends it at once.
pub async fn watch<F, Fut, T>(
    poll: Duration,
    timeout: Duration,
    transient: T,
    mut step: F,
) -> OpsResult<Verdict>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = OpsResult<Judgement>>,
    T: Fn(&OpsError) -> bool,
{
    let deadline = Instant::now() + timeout;
    let mut failing: Option<(String, Option<String>)> = None;
    let mut state = String::from("no answer from AWS yet");
    let mut errors = 0u32;
    loop {
        let wait = match step().await {
            Ok(Judgement::Done(v)) => return Ok(v),
            Ok(Judgement::RolledBack { summary, reason }) => {
                return Ok(Verdict::Failed {
                    summary,
                    reason,
                    stopped_reason: None,
                    left: Left::Restored,
                });
            }
            Ok(Judgement::RollingBack { summary, reason }) => {
                errors = 0;
                state = summary.clone();
                failing = Some((summary, reason));
                poll
            }
            Ok(Judgement::Waiting(s)) => {
                errors = 0;
                state = s;
                poll
            }
            Err(e) if transient(&e) => {
                errors += 1;
                let wait = backoff(poll, errors);
                tracing::warn!(error = %e, attempt = errors, wait_ms = wait.as_millis() as u64,
                    "a watch poll failed with a transient AWS error; polling again");
                wait
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(match failing {
                // The failure is certain; only the rollback's end is not known yet.
                Some((summary, reason)) => Verdict::Failed {
                    summary: format!("{summary} (still, when dockhand stopped waiting)"),
                    reason,
                    stopped_reason: None,
                    left: Left::Restored,
                },
                None if errors > 0 => Verdict::TimedOut {
                    state: format!("{state} (AWS answered the last {errors} polls with errors)"),
                },
                None => Verdict::TimedOut { state },
            });
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
    }
}

/// The longest wait between polls while AWS answers with transient errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `poll` doubled per consecutive error, capped, then jittered to 50-100 % so many
/// watches throttled together do not poll again in step.
pub fn backoff(poll: Duration, errors: u32) -> Duration {
    let full = poll
        .saturating_mul(1u32 << errors.min(16))
        .min(MAX_BACKOFF.max(poll));
    full.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in [0, 1): the clock's nanoseconds mixed with a counter (no RNG crate).
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or_default();
    let mut x = N.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ nanos;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
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
        let v = watch(
            Duration::from_secs(5),
            Duration::from_secs(1800),
            |_| false,
            || {
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
            },
        )
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
        let v = watch(
            Duration::from_secs(5),
            Duration::from_secs(60),
            |_| false,
            || async {
                Ok(Judgement::Waiting(
                    "rollout IN_PROGRESS with 1/2 tasks running on hubot:8".into(),
                ))
            },
        )
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
        let v = watch(
            Duration::from_secs(5),
            Duration::from_secs(60),
            |_| false,
            || async {
                Ok(judge_deploy(
                    &snap(vec![dep("PRIMARY", OLD, 2, "COMPLETED")]),
                    NEW,
                ))
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(v, Verdict::Failed { summary, .. } if summary == "ECS rolled back to hubot:7")
        );
    }

    // --- the service-deployment record judge, over recorded snapshots ---------------

    fn rev(td: &str, version: &str) -> RevisionSnap {
        RevisionSnap {
            arn: format!("arn:aws:ecs:us-east-1:1:service-revision/c/hubot/{version}"),
            task_definition: Some(td.into()),
            version: Some(version.into()),
            digest: Some(format!("sha256:{version}")),
            requested: 2,
            running: 2,
            pending: 0,
            production_weight: None,
            test_weight: None,
        }
    }

    fn record(status: &str, stage: Option<&str>) -> RecordSnap {
        RecordSnap {
            arn: "arn:aws:ecs:us-east-1:1:service-deployment/c/hubot/abc".into(),
            status: status.into(),
            stage: stage.map(str::to_string),
            target: rev(NEW, "v2"),
            sources: vec![rev(OLD, "v1")],
            ..RecordSnap::default()
        }
    }

    fn on(td: &str) -> ServiceSnap {
        let mut s = snap(vec![dep("PRIMARY", td, 2, "COMPLETED")]);
        s.task_definition = td.into();
        s
    }

    fn want(version: &str) -> Want {
        Want {
            task_definition: NEW.into(),
            version: Some(version.into()),
        }
    }

    /// (what the record says, what the service runs, the judgement's kind and text).
    #[test]
    fn the_record_decides_and_only_successful_on_the_new_revision_is_live() {
        let breaker = RecordSnap {
            breaker_status: Some("TRIGGERED".into()),
            breaker_failures: 3,
            breaker_threshold: 3,
            ..record("ROLLBACK_SUCCESSFUL", Some("SCALE_UP"))
        };
        let alarm = RecordSnap {
            triggered_alarms: vec!["hubot-5xx".into()],
            ..record("ROLLBACK_SUCCESSFUL", Some("BAKE_TIME"))
        };
        let hook = RecordSnap {
            hooks: vec![(
                "arn:aws:lambda:us-east-1:1:function:check".into(),
                "FAILED".into(),
            )],
            ..record("ROLLBACK_SUCCESSFUL", Some("POST_TEST_TRAFFIC_SHIFT"))
        };
        let cases: Vec<(&str, RecordSnap, ServiceSnap, &str, &str)> = vec![
            (
                "successful on the new revision",
                record("SUCCESSFUL", Some("CLEAN_UP")),
                on(NEW),
                "live",
                "hubot:8",
            ),
            (
                "successful but the service left it",
                record("SUCCESSFUL", None),
                on(OLD),
                "failed",
                "now runs hubot:7",
            ),
            (
                "in progress",
                record("IN_PROGRESS", Some("SCALE_UP")),
                on(NEW),
                "waiting",
                "rolling: SCALE_UP",
            ),
            (
                "pending",
                record("PENDING", None),
                on(OLD),
                "waiting",
                "rolling",
            ),
            (
                "breaker",
                breaker,
                on(OLD),
                "rolled back",
                "ECS rolled back to hubot:7 (v1)|3 failed tasks, threshold 3",
            ),
            (
                "alarm",
                alarm,
                on(OLD),
                "rolled back",
                "alarm hubot-5xx triggered",
            ),
            (
                "hook",
                hook,
                on(OLD),
                "rolled back",
                "function:check failed in POST_TEST_TRAFFIC_SHIFT",
            ),
            (
                "rolling back",
                record("ROLLBACK_IN_PROGRESS", Some("SCALE_UP")),
                on(NEW),
                "rolling back",
                "ECS is rolling back to hubot:7 (v1)",
            ),
            (
                "rollback requested",
                record("ROLLBACK_REQUESTED", None),
                on(NEW),
                "rolling back",
                "rolling back",
            ),
            (
                "rollback failed",
                record("ROLLBACK_FAILED", None),
                on(NEW),
                "failed",
                "may be on neither hubot:8 (v2) nor hubot:7 (v1)",
            ),
            (
                "stopped",
                record("STOPPED", None),
                on(NEW),
                "failed",
                "stopped the deployment without a rollback",
            ),
            (
                "stop requested",
                record("STOP_REQUESTED", None),
                on(NEW),
                "waiting",
                "STOP_REQUESTED",
            ),
            (
                "unknown status",
                record("PAUSED_FOR_APPROVAL", Some("BAKE_TIME")),
                on(NEW),
                "waiting",
                "PAUSED_FOR_APPROVAL, a status dockhand does not know",
            ),
            (
                "empty status",
                record("", None),
                on(NEW),
                "waiting",
                "does not know",
            ),
        ];
        for (name, rec, svc, kind, text) in cases {
            let j = judge_record(&rec, &svc, &want("v2"), None, 0);
            let (got, said) = match &j {
                Judgement::Done(Verdict::Live { revision, .. }) => ("live", revision.clone()),
                Judgement::Done(Verdict::Failed {
                    summary, reason, ..
                }) => (
                    "failed",
                    format!("{summary}|{}", reason.clone().unwrap_or_default()),
                ),
                Judgement::Done(other) => ("other", format!("{other:?}")),
                Judgement::Waiting(s) => ("waiting", s.clone()),
                Judgement::RolledBack { summary, reason } => (
                    "rolled back",
                    format!("{summary}|{}", reason.clone().unwrap_or_default()),
                ),
                Judgement::RollingBack { summary, reason } => (
                    "rolling back",
                    format!("{summary}|{}", reason.clone().unwrap_or_default()),
                ),
            };
            assert_eq!(got, kind, "{name}: {j:?}");
            for part in text.split('|') {
                assert!(said.contains(part), "{name}: {part:?} not in {said:?}");
            }
        }
    }

    #[test]
    fn a_rollout_ecs_stopped_without_a_rollback_is_not_in_progress() {
        let mut s = snap(vec![
            dep("PRIMARY", NEW, 0, "FAILED"),
            dep("ACTIVE", OLD, 2, "COMPLETED"),
        ]);
        assert!(!s.in_progress(), "{}", s.state());
        s.deployments[0].rollout_state = "IN_PROGRESS".into();
        assert!(s.in_progress());
        s.deployments[0].rollout_state = "COMPLETED".into();
        assert!(s.in_progress(), "the old tasks are still draining");
    }

    /// The [Roll back] button hangs on this: only a failure that nobody undid
    /// offers it.
    #[test]
    fn a_failure_says_what_it_left_running() {
        let left = |rec: RecordSnap, svc: ServiceSnap| match judge_record(
            &rec,
            &svc,
            &want("v2"),
            None,
            0,
        ) {
            Judgement::Done(Verdict::Failed { left, .. }) => Some(left),
            _ => None,
        };
        assert_eq!(left(record("STOPPED", None), on(NEW)), Some(Left::Failure));
        assert_eq!(
            left(record("ROLLBACK_FAILED", None), on(NEW)),
            Some(Left::Failure)
        );
        assert_eq!(
            left(record("SUCCESSFUL", None), on(OLD)),
            Some(Left::Superseded)
        );
        // Rolled back is no Done: run() turns it into a Failed that left the old one.
        assert_eq!(left(record("ROLLBACK_SUCCESSFUL", None), on(OLD)), None);
    }

    #[test]
    fn successful_with_an_image_without_the_version_is_not_live() {
        let mut rec = record("SUCCESSFUL", None);
        rec.target.version = Some("v3".into());
        assert!(matches!(
            judge_record(&rec, &on(NEW), &want("v2"), None, 0),
            Judgement::RolledBack { summary, .. } if summary == "hubot:8 runs v3, not v2"
        ));
        // A digest deploy is live when ECS resolved the image to that digest.
        assert!(matches!(
            judge_record(
                &record("SUCCESSFUL", None),
                &on(NEW),
                &want("sha256:v2"),
                None,
                0
            ),
            Judgement::Done(Verdict::Live { .. })
        ));
    }

    #[test]
    fn a_stop_dockhand_was_asked_for_is_a_cancel() {
        let j = judge_record(
            &record("ROLLBACK_SUCCESSFUL", None),
            &on(OLD),
            &want("v2"),
            Some("@alice"),
            0,
        );
        assert_eq!(
            j,
            Judgement::Done(Verdict::Cancelled {
                state: "cancelled by @alice; ECS stopped the deployment and rolled back to hubot:7 (v1)".into()
            })
        );
    }

    #[test]
    fn each_strategy_reports_in_its_own_terms() {
        let now = 10_000;
        let staged = |strategy: &str, stage: &str, weight: f64| RecordSnap {
            strategy: Some(strategy.into()),
            bake_minutes: Some(30),
            step_bake_minutes: Some(10),
            stage_since: Some(now - 180),
            target: RevisionSnap {
                production_weight: Some(weight),
                ..rev(NEW, "v2")
            },
            ..record("IN_PROGRESS", Some(stage))
        };
        let cases = [
            (
                staged("CANARY", "PRODUCTION_TRAFFIC_SHIFT", 10.0),
                "canary 10% → bake 3/10 min",
            ),
            (
                staged("LINEAR", "PRODUCTION_TRAFFIC_SHIFT", 30.0),
                "linear 30% → bake 3/10 min",
            ),
            (
                staged("BLUE_GREEN", "BAKE_TIME", 100.0),
                "blue/green: production traffic on hubot:8 (v2), bake 3/30 min",
            ),
            (
                staged("BLUE_GREEN", "TEST_TRAFFIC_SHIFT", 0.0),
                "blue/green: TEST_TRAFFIC_SHIFT, production traffic 0%, 2/2 tasks running on hubot:8 (v2)",
            ),
            (
                staged("CANARY", "BAKE_TIME", 100.0),
                "canary: production traffic on hubot:8 (v2), bake 3/30 min",
            ),
            (
                record("IN_PROGRESS", Some("SCALE_UP")),
                "rolling: SCALE_UP, 2/2 tasks running on hubot:8 (v2)",
            ),
        ];
        for (rec, text) in cases {
            assert_eq!(rec.progress(now), text);
            // Never live before ECS says SUCCESSFUL, however far the traffic went.
            assert!(matches!(
                judge_record(&rec, &on(NEW), &want("v2"), None, now),
                Judgement::Waiting(_)
            ));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_rollback_still_running_when_the_wait_ends_is_a_failure_not_a_timeout() {
        let v = watch(
            Duration::from_secs(5),
            Duration::from_secs(30),
            |_| false,
            || async {
                Ok(judge_record(
                    &record("ROLLBACK_IN_PROGRESS", None),
                    &on(NEW),
                    &want("v2"),
                    None,
                    0,
                ))
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(&v, Verdict::Failed { summary, .. } if summary.starts_with("ECS is rolling back to hubot:7 (v1)")),
            "{v:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_polled_through_with_backoff_and_others_end_the_watch() {
        let polls = AtomicUsize::new(0);
        let start = Instant::now();
        let v = watch(
            Duration::from_secs(5),
            Duration::from_secs(600),
            |e| matches!(e, OpsError::Throttled { .. }),
            || {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 4 {
                        Err(OpsError::Throttled {
                            operation: "ecs:DescribeServices".into(),
                        })
                    } else {
                        Ok(Judgement::Done(Verdict::Unchanged {
                            detail: "done".into(),
                        }))
                    }
                }
            },
        )
        .await
        .unwrap();
        assert!(matches!(v, Verdict::Unchanged { .. }));
        assert_eq!(polls.load(Ordering::SeqCst), 5);
        // 10, 20, 40 and 30 s (the cap), each jittered to 50-100 %.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(50) && waited <= Duration::from_secs(100),
            "{waited:?}"
        );

        let r = watch(
            Duration::from_secs(5),
            Duration::from_secs(600),
            |e| matches!(e, OpsError::Throttled { .. }),
            || async {
                Err::<Judgement, _>(OpsError::AccessDenied {
                    action: "ecs:DescribeServices".into(),
                })
            },
        )
        .await;
        assert!(matches!(r, Err(OpsError::AccessDenied { .. })));
    }
}
