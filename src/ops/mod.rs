//! The AWS side of the pipeline: deploy, rollback, scale, cancel and the describe
//! verbs, behind the `Ops` trait.
//!
//! The trait is the seam between the platform-free core and AWS: dispatch calls it
//! with resolved apps and typed values and gets back plain data (`Outcome`,
//! `AppStatus`, ...) plus a stream of progress `Event`s; it never sees an SDK type.
//! `aws/` is the one implementation, through the AWS SDK for Rust; `watch.rs` holds
//! the rules that decide when a rollout has really succeeded or failed.

pub mod aws;
pub mod mask;
pub mod store;
pub mod watch;

/// Whose work an AWS call is (a person's, a watch's, background): the order the
/// call budget serves them in. A task-local, no AWS type: the core sets it.
pub use aws::budget::Priority;

pub use store::{
    CLAIM_LEASE, Claim, Lease, Lock, Mute, Operation, OperationKind, ReplyTo, Store, Taken, Waiting,
};

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::command::value::{StackName, TaskCount, Version};
use crate::config::{App, Environment, OutputRules};

/// Who asked, as recorded on the AWS side (client request tokens, task-definition tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// `slack:U024BE7LH`: stable, never a display name.
    pub identity: String,
    /// What to call them in chat.
    pub name: String,
}

/// An operation on one app: the app, where it lives, and who asked.
#[derive(Debug, Clone)]
pub struct Target {
    pub app: App,
    pub environment: Environment,
    pub requester: Requester,
}

/// A moment as seconds since the epoch (AWS timestamps, kept free of SDK types).
pub type Epoch = i64;

/// Progress of a running operation. Dispatch turns `Started` and `Rollout` into
/// edits of one message and the event variants into thread posts; each AWS event
/// arrives here once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started {
        current: Option<String>,
    },
    StackEvent {
        at: Epoch,
        resource: String,
        status: String,
        reason: Option<String>,
    },
    ServiceEvent {
        at: Epoch,
        message: String,
    },
    Rollout {
        revision: String,
        running: i32,
        desired: i32,
        pending: i32,
        failed: i32,
    },
    /// The deployment waits at a PAUSE lifecycle hook for someone's decision.
    Paused(watch::Pause),
    /// A failure's evidence: the task that stopped, and its last log lines.
    Evidence(Evidence),
}

/// The latest stopped task of a failed rollout and what it logged last, so the
/// reason is on screen without a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub task: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// Where the lines came from (the log group).
    pub source: Option<String>,
    pub lines: Vec<LogLine>,
    /// Why there are no lines, when dockhand could not read them.
    pub unread: Option<String>,
}

pub type Progress = mpsc::UnboundedSender<Event>;

/// What a failure left running, which decides whether a [Roll back] button helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// AWS put back, or is putting back, what ran before: nothing to undo.
    Restored,
    /// The failed version, or a state nobody restored, is what runs now.
    Failure,
    /// Another deployment took over; undoing it is for whoever started that.
    Superseded,
}

/// How an operation ended, once the outcome is certain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The service's primary deployment runs the wanted revision and its rollout completed.
    Live {
        version: Option<String>,
        revision: String,
        running: i32,
        desired: i32,
    },
    /// Nothing to do: the app already runs that version or count.
    Unchanged { detail: String },
    /// AWS rolled back or the stack update failed: what happened and why.
    Failed {
        summary: String,
        reason: Option<String>,
        stopped_reason: Option<String>,
        left: Left,
    },
    /// The wait limit passed; the state AWS was in then.
    TimedOut { state: String },
    /// A cancel finished: the stack or service is back where it was.
    Cancelled { state: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub elapsed: Duration,
}

/// `deploy --plan`: what would change, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub current: Option<String>,
    /// One line per change (`Parameter Version: v1 -> v2`, `Modify TaskDefinition (replace)`).
    pub changes: Vec<String>,
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStatus {
    pub app: String,
    pub environment: String,
    pub version: Option<String>,
    pub running: i32,
    pub desired: i32,
    pub pending: i32,
    pub rollout: String,
    pub deployed_by: Option<String>,
    pub deployed_at: Option<Epoch>,
    /// Set when the app could not be read (missing service, access denied...).
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSummary {
    pub name: String,
    pub status: String,
    pub updated: Option<Epoch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackDetail {
    pub name: String,
    pub status: String,
    pub reason: Option<String>,
    /// Parameters with NoEcho values already masked by AWS (`****`).
    pub parameters: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    pub events: Vec<EventLine>,
}

/// A service or stack event for `events` and `stack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    pub at: Epoch,
    pub text: String,
}

/// One deploy in `history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub version: String,
    pub revision: String,
    pub by: Option<String>,
    pub at: Option<Epoch>,
    pub outcome: String,
}

/// A deployment an event told of, as ECS has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// ECS's `ecs-svc/…` id.
    pub id: String,
    /// Whether it is still in the service's `deployments[]` (else the primary
    /// stands in: ECS cleans finished ones up).
    pub present: bool,
    /// When ECS created it (milliseconds), while it is in `deployments[]`.
    pub created_ms: Option<i64>,
    pub task_definition: String,
    pub version: Option<String>,
    /// The IAM principal that registered its revision (a pipeline's role, a person).
    pub registered_by: Option<String>,
    /// Set when dockhand itself registered the revision: whom it recorded.
    pub by_dockhand: Option<String>,
}

/// `logs`: which of an app's log lines to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// The newest this many lines.
    pub lines: usize,
    /// From when, epoch milliseconds.
    pub since_ms: i64,
    /// A CloudWatch Logs filter pattern, already checked (`command::value`).
    pub grep: Option<String>,
    /// One task's lines: its id, or the start of it.
    pub task: Option<String>,
}

/// One log line as chat may see it: cleaned of control characters and masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at_ms: i64,
    /// The task's id (the end of the stream's name).
    pub task: String,
    pub text: String,
}

/// What `logs` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// Where: the log group (and region, when not the environment's).
    pub source: String,
    /// Oldest first, the newest `lines` of the window.
    pub lines: Vec<LogLine>,
    /// Lines of the window that matched but are not in `lines`.
    pub earlier: usize,
    /// dockhand stopped reading before the end of the window (its call budget):
    /// the lines shown may not be the newest.
    pub cut_short: bool,
}

/// `logs --follow`: which of an app's lines to tail as they come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailQuery {
    /// A CloudWatch Logs filter pattern, already checked (`command::value`).
    pub grep: Option<String>,
    /// One task's lines: its id, or the start of it.
    pub task: Option<String>,
}

/// What a live tail read since its last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailBatch {
    /// Oldest first, cleaned and masked like `logs`.
    pub lines: Vec<LogLine>,
    /// AWS left lines out (Live Tail samples past 500 lines a second), or the
    /// reader did (more arrived in one read than it keeps).
    pub sampled: bool,
}

/// An app's lines as they arrive: CloudWatch Logs Live Tail where AWS offers it,
/// a FilterLogEvents poll where it does not. Dropping it ends the session.
pub trait LogTail: Send + 'static {
    /// The lines that arrived since the last call, after about a second (an
    /// empty batch when none did): the caller's pace is the reader's.
    fn next(&mut self) -> impl Future<Output = OpsResult<TailBatch>> + Send;
    /// Where the lines come from (the log group), as shown in chat.
    fn source(&self) -> &str;
    /// Whether AWS streams the lines (Live Tail); if not, each `next` is one
    /// FilterLogEvents call, which counts against dockhand's AWS read budget.
    fn live(&self) -> bool;
}

/// Why an AWS operation could not be done, in terms a person can act on. Clone:
/// one failed call in a shared poll round is every watcher's error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpsError {
    #[error("AWS denied `{action}` to dockhand's role. Ask the platform team to allow it.")]
    AccessDenied { action: String },
    #[error("AWS kept throttling `{operation}`; try again in a minute.")]
    Throttled { operation: String },
    /// Dispatch adds how to cancel, in the command syntax of where it is read.
    #[error("{app} is busy: {status} since {since}.")]
    Busy {
        app: String,
        status: String,
        since: String,
    },
    /// Dispatch adds how to unlock, in the command syntax of where it is read.
    #[error("{app} is locked by {} since {} UTC: {}.", .lock.by_name, clock(.lock.at), .lock.reason)]
    Locked { app: String, lock: Lock },
    #[error("{0}")]
    NotFound(String),
    #[error("AWS refused it: {0}")]
    Rejected(String),
    #[error("AWS is not configured: {0}")]
    Setup(String),
    #[error("{0}")]
    OutOfBounds(String),
    /// A stream AWS ended or broke off (a Live Tail session): what happened.
    #[error("{0}")]
    Ended(String),
    /// With shared state: this replica's claim on the app lapsed (it could not
    /// renew it in time) and another replica took the operation over; that one
    /// reports the verdict, this one stops watching.
    #[error(
        "another dockhand replica watches it now (this one could not renew its claim in time); its verdict follows here"
    )]
    HandedOver,
    /// Anything else: shown as an internal error with a reference, logged in full.
    #[error("{operation} failed: {detail}")]
    Internal { operation: String, detail: String },
}

impl OpsError {
    /// Whether the message is for the person in chat, or an internal error for the log.
    pub fn is_user_facing(&self) -> bool {
        !matches!(self, OpsError::Internal { .. })
    }
}

pub type OpsResult<T> = Result<T, OpsError>;

/// Deploys, rollbacks, scaling and cancels: the mutating flows, each watched to a
/// verdict (see `watch`), and a recorded operation watched again after a restart.
pub trait Rollouts: Send + Sync + 'static {
    fn deploy(
        &self,
        target: &Target,
        version: &Version,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    /// What `deploy` would change, changing nothing.
    fn plan(
        &self,
        target: &Target,
        version: &Version,
    ) -> impl Future<Output = OpsResult<Plan>> + Send;
    fn rollback(
        &self,
        target: &Target,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    /// Decides the app's deployment paused at a lifecycle hook (CONTINUE, or
    /// ROLLBACK), without watching it: what was decided, for the person.
    fn decide_hook(
        &self,
        target: &Target,
        go_on: bool,
    ) -> impl Future<Output = OpsResult<String>> + Send;
    /// Lets a deployment paused at a lifecycle hook go on, and watches it.
    fn proceed(
        &self,
        target: &Target,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    /// Where `rollback` would go, changing nothing.
    fn rollback_plan(&self, target: &Target) -> impl Future<Output = OpsResult<Plan>> + Send;
    fn scale(
        &self,
        target: &Target,
        count: TaskCount,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    fn cancel(
        &self,
        target: &Target,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    /// Watches a deployment started outside dockhand to its verdict.
    fn follow(
        &self,
        target: &Target,
        deployment: &Deployment,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
    /// Watches a recorded operation to its outcome from wherever it is now.
    fn resume(
        &self,
        target: &Target,
        operation: &Operation,
        progress: Progress,
    ) -> impl Future<Output = OpsResult<Outcome>> + Send;
}

/// The read-only verbs: nothing here changes AWS.
pub trait Inspect: Send + Sync + 'static {
    /// One line per app; an app AWS cannot describe gets its error, not a gap.
    fn status(&self, apps: &[(App, Environment)]) -> impl Future<Output = Vec<AppStatus>> + Send;
    fn stacks(
        &self,
        environments: &[Environment],
    ) -> impl Future<Output = OpsResult<Vec<StackSummary>>> + Send;
    /// One stack; its outputs shown as `outputs` (the owning app's rules, or
    /// none) and `mask` decide.
    fn stack(
        &self,
        environment: &Environment,
        name: &StackName,
        outputs: &OutputRules,
    ) -> impl Future<Output = OpsResult<StackDetail>> + Send;
    /// The latest service and stack events, newest first.
    fn events(
        &self,
        app: &App,
        environment: &Environment,
        n: usize,
    ) -> impl Future<Output = OpsResult<Vec<EventLine>>> + Send;
    /// The deployment of `target` that ECS calls `id`.
    fn deployment(
        &self,
        target: &Target,
        id: &str,
    ) -> impl Future<Output = OpsResult<Deployment>> + Send;
    /// The cluster and service name an app runs as.
    fn service_name(
        &self,
        app: &App,
        environment: &Environment,
    ) -> impl Future<Output = OpsResult<(String, String)>> + Send;
    /// The app's log lines: its running revision's app container, read from
    /// CloudWatch Logs where its awslogs configuration says.
    fn logs(
        &self,
        app: &App,
        environment: &Environment,
        query: &LogQuery,
    ) -> impl Future<Output = OpsResult<LogPage>> + Send;
    /// What `tail` returns.
    type Tail: LogTail;
    /// The app's lines as they arrive, from now on: where `logs` reads, live.
    fn tail(
        &self,
        app: &App,
        environment: &Environment,
        query: &TailQuery,
    ) -> impl Future<Output = OpsResult<Self::Tail>> + Send;
    /// The latest revisions: version, who, when, outcome.
    fn history(
        &self,
        app: &App,
        environment: &Environment,
    ) -> impl Future<Output = OpsResult<Vec<HistoryEntry>>> + Send;
}

/// Everything dispatch needs from AWS, by capability. `aws::AwsOps` is the real
/// implementation; the tests' `FakeOps` scripts outcomes for the behaviours that
/// are dispatch's own (holds, confirmations, records, replies).
pub trait Ops: Rollouts + Inspect + Store {}

impl<T: Rollouts + Inspect + Store> Ops for T {}

/// Seconds since the epoch, as AWS stamps events.
pub fn now() -> Epoch {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `HH:MM` in UTC, the way chat lines show times.
pub fn clock(at: Epoch) -> String {
    let secs = at.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `3m12s`, `45s`, `1h02m`.
pub fn took(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_well_in_chat() {
        assert_eq!(clock(14 * 3600 + 2 * 60 + 11), "14:02");
        assert_eq!(took(Duration::from_secs(192)), "3m12s");
        assert_eq!(took(Duration::from_secs(45)), "45s");
        assert_eq!(took(Duration::from_secs(3720)), "1h02m");
    }
}
