//! Progress edits, coalesced: what each adapter's deliverer uses so a busy
//! operation edits a message at most once per `EDIT_INTERVAL`, and an edit that a
//! newer one supersedes before its turn is never sent. The final state still lands
//! within a second; platforms' per-message edit limits are never approached.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::message::Outbound;
use crate::message::{MessageId, Reply};

/// The shortest time between two edits of one message.
pub const EDIT_INTERVAL: Duration = Duration::from_secs(1);
/// ... of a message the platform refused to edit, whose news now goes out as new
/// posts: fewer of them, the last one still certain.
pub const SLOW_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Edits {
    last: HashMap<MessageId, Instant>,
    waiting: HashMap<MessageId, Reply>,
    slow: HashSet<MessageId>,
}

impl Edits {
    fn interval(&self, id: &MessageId) -> Duration {
        if self.slow.contains(id) {
            SLOW_INTERVAL
        } else {
            EDIT_INTERVAL
        }
    }

    fn due_now(&self, id: &MessageId) -> bool {
        self.last
            .get(id)
            .is_none_or(|t| t.elapsed() >= self.interval(id))
    }

    /// Paces a message's later edits at `SLOW_INTERVAL`.
    pub fn slow_down(&mut self, id: MessageId) {
        self.slow.insert(id);
    }

    /// Holds the newest version of a message; true when it may be sent now.
    pub fn offer(&mut self, id: MessageId, reply: Reply) -> bool {
        self.waiting.insert(id, reply);
        self.due_now(&id)
    }

    /// When the next held edit may be sent, if any is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting
            .keys()
            .map(|id| {
                self.last
                    .get(id)
                    .map_or_else(Instant::now, |t| *t + self.interval(id))
            })
            .min()
    }

    /// The held edits whose turn has come (all of them when `all`).
    pub fn due(&self, all: bool) -> Vec<MessageId> {
        self.waiting
            .keys()
            .filter(|id| all || self.due_now(id))
            .copied()
            .collect()
    }

    /// Takes a held edit to send, counting it as sent now.
    pub fn take(&mut self, id: MessageId) -> Option<Reply> {
        let reply = self.waiting.remove(&id)?;
        self.last.insert(id, Instant::now());
        Some(reply)
    }

    /// Forgets the send times of messages no longer remembered.
    pub fn retain(&mut self, keep: impl Fn(&MessageId) -> bool) {
        self.last.retain(|id, _| keep(id));
        self.slow.retain(|id| keep(id));
    }
}

/// A platform's deliverer: what `deliver` drives.
pub trait Sink: Send {
    /// What the adapter itself asks to be delivered (answers to clicks).
    type Direct: Send;
    fn next_due(&self) -> Option<Instant>;
    fn reply(&mut self, out: Outbound) -> impl Future<Output = ()> + Send;
    fn direct(&mut self, d: Self::Direct) -> impl Future<Output = ()> + Send;
    fn flush(&mut self, all: bool) -> impl Future<Output = ()> + Send;
}

/// Runs a deliverer until both channels close (every sender gone), then flushes
/// held edits. The adapter's own messages go first: Discord wants a click answered
/// within 3 s, and a settled prompt should change before what follows it.
pub async fn deliver<S: Sink>(
    mut sink: S,
    mut outbox: UnboundedReceiver<Outbound>,
    mut direct: UnboundedReceiver<S::Direct>,
) {
    let (mut outbox_open, mut direct_open) = (true, true);
    while outbox_open || direct_open {
        let due = sink.next_due();
        tokio::select! {
            biased;
            d = direct.recv(), if direct_open => match d {
                Some(d) => sink.direct(d).await,
                None => direct_open = false,
            },
            out = outbox.recv(), if outbox_open => match out {
                Some(out) => sink.reply(out).await,
                None => outbox_open = false,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                sink.flush(false).await
            }
        }
    }
    sink.flush(true).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn edits_are_paced_and_the_newest_wins() {
        let mut e = Edits::default();
        let id = MessageId(1);
        assert!(e.offer(id, Reply::text("1/2 running")));
        assert_eq!(e.take(id).unwrap().text, "1/2 running");
        // Within the interval: held, and superseded by the newer text.
        assert!(!e.offer(id, Reply::text("2/2 running")));
        assert!(!e.offer(id, Reply::text("live")));
        assert_eq!(e.next_due(), Some(Instant::now() + EDIT_INTERVAL));
        tokio::time::advance(EDIT_INTERVAL).await;
        assert_eq!(e.due(false), [id]);
        assert_eq!(e.take(id).unwrap().text, "live");

        // A message the platform refused to edit is paced at SLOW_INTERVAL.
        e.slow_down(id);
        assert!(!e.offer(id, Reply::text("again")));
        tokio::time::advance(EDIT_INTERVAL).await;
        assert!(e.due(false).is_empty());
        tokio::time::advance(SLOW_INTERVAL).await;
        assert_eq!(e.due(false), [id]);
    }
}
