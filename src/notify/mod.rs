//! The event source: AWS's own event bus, pulled from an SQS queue, as another
//! input beside the chat adapters.
//!
//! ```text
//! EventBridge rules -> SQS queue -> consume -> event::parse -> Handle::notice
//!   -> dispatch decides (route, mute, quiet hours, limits; reads AWS) -> outbox
//!   -> router -> deliverer -> Delivered -> the message is deleted
//! ```
//!
//! A message is deleted only once what it caused went out (or was dropped on
//! purpose: unknown, foreign, muted, already said), so a restart loses nothing:
//! SQS gives an undeleted message again after its visibility timeout, and after
//! `maxReceiveCount` receives the queue's redrive policy moves it to the
//! dead-letter queue, so a message that always fails ends there, not in a loop.
//! The queue itself is behind the `Queue` trait (`ops::aws::queue` is SQS).

pub mod event;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::message::Outbox;
pub use event::{AwsEvent, Kind, Phase, StoppedTask, Unread};

/// One message as the queue gave it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    /// What deleting it takes.
    pub receipt: String,
    pub body: String,
    /// How many times SQS has given it (1 the first time).
    pub receives: u32,
}

/// Why the queue could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum QueueError {
    #[error(
        "AWS denied `{0}` on the notifications queue to dockhand's role; allow it (deploy/dockhand.yaml does)"
    )]
    Denied(String),
    #[error("the notifications queue does not exist: {0}; check `notifications.queue`")]
    Missing(String),
    #[error("the notifications queue did not answer: {0}")]
    Unreachable(String),
}

/// A queue of events: long-polled, and deleted from once handled.
pub trait Queue: Send + Sync + 'static {
    /// Waits up to the queue's long-poll time for up to ten messages.
    fn receive(&self) -> impl Future<Output = Result<Vec<Message>, QueueError>> + Send;
    /// Deletes handled messages (at most ten), by receipt.
    fn delete(&self, receipts: Vec<String>) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// What dispatch made of an event.
pub enum Noticed {
    /// Sent (or on its way): delete the message once each of these is told.
    Posted(Vec<tokio::sync::oneshot::Receiver<()>>),
    /// Nothing to say, on purpose (logged at debug with why): delete it.
    Dropped(&'static str),
    /// Could not be decided now (AWS did not answer): leave it for SQS to give
    /// again after its visibility timeout.
    Retry(String),
}

/// What the consumer needs from dispatch, without its `Ops` type.
pub trait Notice: Send + Sync + 'static {
    fn notice(&self, event: AwsEvent, outbox: &Outbox) -> BoxFuture<'static, Noticed>;
}

/// Receives a message gets before the consumer calls it poison in the log (the
/// template's redrive policy moves it to the dead-letter queue at 5).
const POISON_AFTER: u32 = 4;
/// The longest a handled message waits for its post before it is left for SQS
/// to give again (below the template's visibility timeout of 60 s).
const DELIVERY_WAIT: Duration = Duration::from_secs(45);
/// How long deletes gather into one batch call.
const DELETE_BATCH_WAIT: Duration = Duration::from_millis(200);

/// Pulls events until `stop`, handing each to `notice`, and reports the queue's
/// health as `notifications` (`/readyz` says not ready while it fails).
pub async fn consume<Q: Queue>(
    queue: Q,
    notice: Arc<dyn Notice>,
    outbox: Outbox,
    health: Health,
    stop: CancellationToken,
) {
    let queue = Arc::new(queue);
    let (deleted_tx, deleted_rx) = mpsc::unbounded_channel::<String>();
    let deleter = tokio::spawn(delete_batches(Arc::clone(&queue), deleted_rx));
    let mut failures = 0u32;
    let waiting = tokio_util::task::TaskTracker::new();
    loop {
        let received = tokio::select! {
            r = queue.receive() => r,
            () = stop.cancelled() => break,
        };
        let messages = match received {
            Ok(m) => {
                if failures > 0 {
                    tracing::info!("notifications: the queue answers again");
                }
                failures = 0;
                health.report_source("notifications", true);
                m
            }
            Err(e) => {
                failures += 1;
                health.report_source("notifications", false);
                // Said on the first failure and every tenth: a queue deleted at
                // night is a line a while, not a line a poll.
                if failures == 1 || failures.is_multiple_of(10) {
                    tracing::error!(error = %e, failures, "notifications: cannot read the queue");
                }
                let wait = Duration::from_secs(u64::from(failures.min(30)));
                tokio::select! {
                    () = tokio::time::sleep(wait) => continue,
                    () = stop.cancelled() => break,
                }
            }
        };
        for m in messages {
            let (kind, noticed) = match event::parse(&m.body) {
                Ok(event) => (kind_name(&event.kind), notice.notice(event, &outbox).await),
                Err(e) => {
                    tracing::warn!(message = %m.id, error = %e, "notifications: dropped a message");
                    ("unreadable", Noticed::Dropped("unreadable"))
                }
            };
            let outcome = match &noticed {
                Noticed::Posted(_) => "posted",
                Noticed::Dropped(_) => "dropped",
                Noticed::Retry(_) => "retry",
            };
            crate::metrics::metrics().notification(kind, outcome);
            match noticed {
                Noticed::Dropped(why) => {
                    tracing::debug!(message = %m.id, why, "notifications: nothing to say");
                    let _ = deleted_tx.send(m.receipt);
                }
                Noticed::Retry(why) => {
                    if m.receives >= POISON_AFTER {
                        tracing::error!(message = %m.id, receives = m.receives, why, "notifications: a message keeps failing; the queue's redrive policy moves it to the dead-letter queue");
                    } else {
                        tracing::warn!(message = %m.id, why, "notifications: will try again when SQS gives it back");
                    }
                }
                Noticed::Posted(waits) => {
                    let deleted = deleted_tx.clone();
                    let id = m.id.clone();
                    waiting.spawn(async move {
                        let all = futures::future::join_all(waits);
                        match tokio::time::timeout(DELIVERY_WAIT, all).await {
                            Ok(told) if told.iter().all(Result::is_ok) => {
                                let _ = deleted.send(m.receipt);
                            }
                            _ => tracing::warn!(message = %id, "notifications: not delivered; SQS gives it again"),
                        }
                    });
                }
            }
        }
    }
    // What was posted before the stop still gets deleted, while the deliverers
    // drain: the router ends only once this outbox is gone too.
    drop(outbox);
    waiting.close();
    let _ = tokio::time::timeout(DELIVERY_WAIT, waiting.wait()).await;
    drop(deleted_tx);
    let _ = deleter.await;
}

/// Deletes receipts in batches of up to ten, gathered for `DELETE_BATCH_WAIT`.
async fn delete_batches<Q: Queue>(queue: Arc<Q>, mut receipts: mpsc::UnboundedReceiver<String>) {
    while let Some(first) = receipts.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + DELETE_BATCH_WAIT;
        while batch.len() < 10 {
            match tokio::time::timeout_at(deadline, receipts.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        let n = batch.len();
        if let Err(e) = queue.delete(batch).await {
            // They come back after the visibility timeout, and are known by id then.
            tracing::warn!(error = %e, messages = n, "notifications: could not delete handled messages");
        }
    }
}

/// For the metrics: which kind of event.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Deployment { .. } => "deployment",
        Kind::ServiceAction { .. } => "service_action",
        Kind::TaskStopped(_) => "task_stopped",
        Kind::Stack { .. } => "stack",
        Kind::Alarm { .. } => "alarm",
        Kind::Hook { .. } => "hook",
    }
}
