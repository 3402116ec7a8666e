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
use crate::message::{MessageId, Placement, Reply};

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
    pub fn offer(&mut self, id: MessageId, mut reply: Reply) -> bool {
        if let Some(old) = self.waiting.remove(&id) {
            reply.delivered.merge(old.delivered);
        }
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
    /// Its waiters are told now: the deliverer sends it next.
    pub fn take(&mut self, id: MessageId) -> Option<Reply> {
        let mut reply = self.waiting.remove(&id)?;
        self.last.insert(id, Instant::now());
        reply.delivered.done();
        Some(reply)
    }

    /// Forgets the send times of messages no longer remembered.
    pub fn retain(&mut self, keep: impl Fn(&MessageId) -> bool) {
        self.last.retain(|id, _| keep(id));
        self.slow.retain(|id| keep(id));
    }
}

/// Ids remembered for later edits; a deploy's messages are done long before this
/// many newer ones are posted.
const REMEMBERED: usize = 4096;

/// What every deliverer keeps: dispatch's message ids mapped to where the platform
/// posted them (`P`: Slack's channel and `ts`, Discord's channel and message id),
/// and the edits waiting their turn. Old ids are forgotten past `REMEMBERED`, with
/// their held edits.
#[derive(Debug)]
pub struct Outgoing<P> {
    pub edits: Edits,
    posted: HashMap<MessageId, (u64, P)>,
    order: u64,
}

impl<P> Default for Outgoing<P> {
    fn default() -> Self {
        Outgoing {
            edits: Edits::default(),
            posted: HashMap::new(),
            order: 0,
        }
    }
}

impl<P> Outgoing<P> {
    /// Remembers where `id` was posted.
    pub fn posted(&mut self, id: MessageId, at: P) {
        self.order += 1;
        self.posted.insert(id, (self.order, at));
        if self.posted.len() > REMEMBERED {
            let cutoff = self.order - (REMEMBERED as u64) / 2;
            self.posted.retain(|_, (order, _)| *order > cutoff);
            let posted = &self.posted;
            self.edits.retain(|id| posted.contains_key(id));
        }
    }

    pub fn get(&self, id: MessageId) -> Option<&P> {
        self.posted.get(&id).map(|(_, p)| p)
    }

    pub fn get_mut(&mut self, id: MessageId) -> Option<&mut P> {
        self.posted.get_mut(&id).map(|(_, p)| p)
    }

    /// The edit of `id` whose turn has come, with where to send it; an edit of a
    /// message that was never posted (its post failed) is dropped, and said.
    pub fn take_edit(&mut self, id: MessageId, platform: &str) -> Option<(Reply, &P)> {
        let reply = self.edits.take(id)?;
        match self.posted.get(&id) {
            Some((_, p)) => Some((reply, p)),
            None => {
                tracing::warn!(
                    ?id,
                    platform,
                    "an edit for a message that was never posted is dropped"
                );
                None
            }
        }
    }
}

/// A platform's deliverer: what `deliver` drives. It posts and edits in its
/// platform's idiom; the pacing of edits and the id map are `Outgoing`'s.
pub trait Sink: Send {
    /// What the adapter itself asks to be delivered (answers to clicks).
    type Direct: Send;
    /// Where the platform put a posted message.
    type Posted: Send;
    fn outgoing(&mut self) -> &mut Outgoing<Self::Posted>;
    /// A new message, or a post in the thread of an earlier one.
    fn post(&mut self, out: Outbound) -> impl Future<Output = ()> + Send;
    /// Sends the held edit of `id`, whose turn has come.
    fn edit(&mut self, id: MessageId) -> impl Future<Output = ()> + Send;
    fn direct(&mut self, d: Self::Direct) -> impl Future<Output = ()> + Send;

    /// Posts `out` and tells its waiters (`Reply::delivered`) once it is posted:
    /// by default when `post` returns. A sink whose `post` only queues the reply
    /// (Slack's per-channel lanes) tells them itself, once it is sent.
    fn hand(&mut self, mut out: Outbound) -> impl Future<Output = ()> + Send {
        async move {
            let mut delivered = std::mem::take(&mut out.reply.delivered);
            self.post(out).await;
            delivered.done();
        }
    }

    /// Returns once what the sink still sends by itself has gone, after the loop
    /// handed it the last reply and edit. Nothing is left by default.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Runs a deliverer until both channels close (every sender gone), then sends every
/// held edit and waits for the sink to finish. The adapter's own messages go first:
/// Discord wants a click answered within 3 s, and a settled prompt should change
/// before what follows it.
pub async fn deliver<S: Sink>(
    mut sink: S,
    mut outbox: UnboundedReceiver<Outbound>,
    mut direct: UnboundedReceiver<S::Direct>,
) {
    let (mut outbox_open, mut direct_open) = (true, true);
    while outbox_open || direct_open {
        let due = sink.outgoing().edits.next_due();
        tokio::select! {
            biased;
            d = direct.recv(), if direct_open => match d {
                Some(d) => sink.direct(d).await,
                None => direct_open = false,
            },
            out = outbox.recv(), if outbox_open => match out {
                Some(out) => match out.reply.placement {
                    // Coalesced: sent now if its interval has passed, else held
                    // (a newer edit replaces a held one).
                    Placement::Edit(id) => {
                        if sink.outgoing().edits.offer(id, out.reply) {
                            sink.edit(id).await;
                        }
                    }
                    Placement::New | Placement::Thread(_) => sink.hand(out).await,
                },
                None => outbox_open = false,
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                flush(&mut sink, false).await
            }
        }
    }
    flush(&mut sink, true).await;
    sink.finish().await;
}

/// Sends the edits whose turn has come (all of them when `all`).
async fn flush<S: Sink>(sink: &mut S, all: bool) {
    let due = sink.outgoing().edits.due(all);
    for id in due {
        sink.edit(id).await;
    }
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
