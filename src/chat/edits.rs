//! Progress edits, coalesced: what each adapter's deliverer uses so a busy
//! operation edits a message at most once per `EDIT_INTERVAL`, and an edit that a
//! newer one supersedes before its turn is never sent. The final state still lands
//! within a second; platforms' per-message edit limits are never approached.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::chat::{MessageId, Reply};

/// The shortest time between two edits of one message.
pub const EDIT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Edits {
    last: HashMap<MessageId, Instant>,
    waiting: HashMap<MessageId, Reply>,
}

impl Edits {
    fn due_now(&self, id: &MessageId) -> bool {
        self.last
            .get(id)
            .is_none_or(|t| t.elapsed() >= EDIT_INTERVAL)
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
                    .map_or_else(Instant::now, |t| *t + EDIT_INTERVAL)
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
    }
}
