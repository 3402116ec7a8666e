//! What dockhand remembers between commands, as typed records behind one trait.
//!
//! Locks, the operations in flight (so a restarted dockhand resumes their watch and
//! reports where they were asked) and who deployed what are Rust types here, with
//! one encoding each in the store that keeps them. The embedded store is tags on the
//! app's ECS service and task definitions (`aws::record`); a shared store for
//! several replicas implements the same trait with conditional writes.

use std::future::Future;

use super::{Epoch, OpsResult, Requester, Target};
use crate::command::value::{AppName, TaskCount, Version};
use crate::config::{App, Environment};
use crate::message::Platform;

/// An app's lock: deploys, rollbacks and scaling are refused until it is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// Who locked it: `slack:U024BE7LH`.
    pub by: String,
    /// What to call them in chat.
    pub by_name: String,
    pub at: Epoch,
    pub reason: String,
}

/// Who asked for a revision, the version it carries, and how its rollout ended:
/// what `history`, `status` and `rollback` read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Who asked: `slack:U024BE7LH`.
    pub by: String,
    /// What to call them in chat.
    pub by_name: String,
    pub version: Option<String>,
    /// Unset while it rolls out, and for endings that say nothing about the
    /// revision itself (timed out, cancelled, unchanged).
    pub ending: Option<Ending>,
}

/// How a revision's rollout ended, as far as choosing a rollback target goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Live,
    Failed,
}

impl Ending {
    /// As `history` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Live => "live",
            Ending::Failed => "failed",
        }
    }
}

/// What a long operation does to its app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationKind {
    Deploy {
        version: Version,
    },
    Rollback,
    Scale {
        count: TaskCount,
    },
    Cancel,
    /// A deployment paused at a lifecycle hook, let go on.
    Continue,
}

impl OperationKind {
    /// The verb, as rules, metrics and the catalogue name it.
    pub fn verb(&self) -> &'static str {
        match self {
            OperationKind::Deploy { .. } => "deploy",
            OperationKind::Rollback => "rollback",
            OperationKind::Scale { .. } => "scale",
            OperationKind::Cancel => "cancel",
            OperationKind::Continue => "continue",
        }
    }

    /// The command as a person would type it: `deploy hubot v2`.
    pub fn asked(&self, app: &AppName) -> String {
        match self {
            OperationKind::Deploy { version } => format!("deploy {app} {version}"),
            OperationKind::Rollback => format!("rollback {app}"),
            OperationKind::Scale { count } => format!("scale {app} {count}"),
            OperationKind::Cancel => format!("cancel {app}"),
            OperationKind::Continue => format!("continue {app}"),
        }
    }

    /// What the verdict line names: `hubot v2` is live, `hubot rollback` failed.
    pub fn what(&self, app: &AppName) -> String {
        match self {
            OperationKind::Deploy { version } => format!("{app} {version}"),
            OperationKind::Rollback => format!("{app} rollback"),
            OperationKind::Scale { count } => format!("{app} scale to {count}"),
            OperationKind::Cancel => format!("{app} cancel"),
            OperationKind::Continue => format!("{app} deployment"),
        }
    }
}

/// An app's notifications silenced for a while (`mute`), with who and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    pub until: Epoch,
    pub by: String,
    pub reason: String,
}

/// Where an operation's replies go: the conversation it was asked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub platform: Platform,
    pub channel: String,
    pub thread: Option<String>,
}

/// An operation in flight, recorded while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub app: AppName,
    pub kind: OperationKind,
    pub requester: Requester,
    pub reply_to: ReplyTo,
    pub started_at: Epoch,
}

impl Operation {
    pub fn asked(&self) -> String {
        self.kind.asked(&self.app)
    }
}

/// Where dockhand keeps its records.
///
/// Written for a store with conditional writes: `lock` succeeds only when no lock
/// is held (else `OpsError::Locked` with the holder), and `record` replaces the
/// app's one operation record. The embedded ECS-tag store reads, then writes, then
/// reads back: two dockhands racing can both believe they won within that window
/// (the bundled template runs one task, so it does not happen there).
/// One operation's claim on its app, as replicas that share state see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Unique to this operation in this process: only it renews or releases.
    pub holder: String,
    /// Who asked, as chat names them, and what: for the refusal others get.
    pub who: String,
    pub what: String,
    pub since: Epoch,
}

/// A confirmation waiting for its code, as replicas share it: whichever
/// replica `confirm <code>` reaches parses `text` again and runs it, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub code: String,
    /// The command as typed, addressing removed (`deploy hubot v2`).
    pub text: String,
    pub platform: Platform,
    pub channel: String,
    pub thread: Option<String>,
    pub direct: bool,
    pub author_id: String,
    pub author_name: String,
    pub external: bool,
    pub asked: String,
    pub rule: Option<String>,
    pub other_person: bool,
    pub expires_at: Epoch,
    /// What the prompt showed AWS would do (a deploy's, a rollback's), once known.
    pub plan: Option<super::Plan>,
}

/// How long a claim lasts unless renewed: a replica that dies mid-operation
/// frees its apps within this. The running operation renews it every third.
pub const CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// Something only one replica may do at a time (hold the Discord gateway),
/// leased through the shared state and given up, or lost, as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What is leased: `discord-gateway`.
    pub name: String,
    /// This replica, as the log and the other replicas name it.
    pub holder: String,
    /// Grows by one each time the lease changes hands: a holder that lost it
    /// cannot renew it back (fencing), even if its clock or network lagged.
    pub fence: i64,
}

impl Lease {
    /// The lease of a replica that runs alone (no shared state): always its own.
    pub fn sole(name: &str, holder: &str) -> Lease {
        Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            fence: 0,
        }
    }
}

/// What asking for a lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Ours(Lease),
    /// Another replica holds it, live: who.
    Theirs {
        holder: String,
    },
}

pub trait Store: Send + Sync + 'static {
    /// Takes the lease `name` for `holder` for `term` unless another replica
    /// holds it. Without shared state this process is the only replica, so
    /// the lease is always its own.
    fn take_lease(
        &self,
        name: &str,
        holder: &str,
        _term: std::time::Duration,
    ) -> impl Future<Output = OpsResult<Taken>> + Send {
        let lease = Lease::sole(name, holder);
        async { Ok(Taken::Ours(lease)) }
    }
    /// Extends a lease held for another `term`: false when it was lost (it
    /// lapsed and another replica took it; its fence moved on).
    fn keep_lease(
        &self,
        _lease: &Lease,
        _term: std::time::Duration,
    ) -> impl Future<Output = OpsResult<bool>> + Send {
        async { Ok(true) }
    }
    /// Gives a lease up at once (a replica stopping), if it is still held.
    fn give_lease(&self, _lease: &Lease) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// Takes the app's hold across every replica sharing state (`[state]
    /// table`): `Busy`, saying who holds it and since when, while another
    /// operation does. Without shared state the one process's own map is the
    /// hold (see dispatch), and this has nothing to do.
    fn claim(
        &self,
        _target: &Target,
        _claim: &Claim,
    ) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// Extends the claim's lease; `Busy` if it lapsed and another took the app.
    fn renew(
        &self,
        _target: &Target,
        _claim: &Claim,
    ) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// Whether replicas share state: confirmations are then settled through it.
    fn shares_state(&self) -> bool {
        false
    }
    /// Shares a confirmation waiting for its code.
    fn offer(&self, _waiting: &Waiting) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// Adds the plan its prompt showed to a shared confirmation.
    fn planned(
        &self,
        _code: &str,
        _plan: &super::Plan,
    ) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// The shared confirmation under `code`, if it still waits (and has not expired).
    fn waiting(&self, _code: &str) -> impl Future<Output = OpsResult<Option<Waiting>>> + Send {
        async { Ok(None) }
    }
    /// Takes the shared confirmation away: true for the one caller that did (it
    /// runs it), false when another replica took it first.
    fn take(&self, _code: &str) -> impl Future<Output = OpsResult<bool>> + Send {
        async { Ok(true) }
    }
    /// Marks `key` seen across the replicas for a day: true for the first to
    /// mark it (it handles what the key names), false for every later one.
    fn first_seen(&self, _key: &str) -> impl Future<Output = OpsResult<bool>> + Send {
        async { Ok(true) }
    }
    /// Apps whose claim has lapsed (its replica stopped renewing it): their
    /// recorded operations are another replica's to resume.
    fn lapsed(&self) -> impl Future<Output = OpsResult<Vec<String>>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Gives the claim up, if it is still this operation's.
    fn release(
        &self,
        _target: &Target,
        _claim: &Claim,
    ) -> impl Future<Output = OpsResult<()>> + Send {
        async { Ok(()) }
    }
    /// Locks an app; an existing lock is kept and returned as `Locked`.
    fn lock(&self, target: &Target, reason: &str) -> impl Future<Output = OpsResult<Lock>> + Send;
    /// Removes the app's lock; someone else's only with `may_break`. Returns the
    /// lock removed (`None` when there was none).
    fn unlock(
        &self,
        target: &Target,
        may_break: bool,
    ) -> impl Future<Output = OpsResult<Option<Lock>>> + Send;
    /// Records an operation while it runs.
    fn record(&self, target: &Target, op: &Operation)
    -> impl Future<Output = OpsResult<()>> + Send;
    /// Removes the operation's record once its outcome is reported.
    fn clear(&self, target: &Target) -> impl Future<Output = OpsResult<()>> + Send;
    /// The operations recorded on these apps: what a restarted dockhand resumes.
    fn operations(
        &self,
        apps: &[(App, Environment)],
    ) -> impl Future<Output = Vec<Operation>> + Send;
}
