//! The top of the pipeline: one adapter per chat platform, and the outbound router
//! they share.
//!
//! An adapter does only what is specific to its platform: connect, turn the
//! platform's events into `Inbound`s (button clicks into `Handle::click`), and draw
//! `Reply`s in its idiom (plain lines, Block Kit, embeds). What every platform needs
//! alike lives here and in `edits`: the `Router` hands each `Outbound` to the
//! deliverer of its origin's platform (so the audit channel, recovered operations
//! and, later, event sources reach any platform), and `edits` coalesces progress
//! edits and runs every deliverer's loop.
//!
//! The contract, for a new adapter: take a `Wiring` from the supervisor (`app`);
//! report `connected` to its `Health` as the connection comes and goes; answer a
//! platform's acknowledgement deadline at once and hand slow work to a task; stop
//! taking events when `stop` is cancelled; and return once its deliverer has drained
//! `replies`, which happens after every operation has sent its last word.

pub mod discord;
pub mod edits;
pub mod lease;
pub mod shell;
pub mod slack;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::dispatch::{Click, Handle, Handled};
use crate::health::Health;
use crate::message::{Author, Inbound, Origin, Outbound, Outbox, Platform, Via};

/// How many events an adapter holds for its worker. Far above what people type
/// (the worker takes each in microseconds); reached only by a flood, whose
/// excess is dropped rather than held in memory (F10).
pub const INBOX: usize = 1024;

/// The queue between an adapter's event callbacks and its worker: bounded, and
/// never blocking a callback (Socket Mode's and the gateway's acknowledgements
/// must not wait). What does not fit is dropped and counted.
pub struct Inbox<T> {
    tx: tokio::sync::mpsc::Sender<T>,
    dropped: std::sync::atomic::AtomicU64,
    platform: &'static str,
}

impl<T> Inbox<T> {
    pub fn new(platform: &'static str) -> (Inbox<T>, tokio::sync::mpsc::Receiver<T>) {
        let (tx, rx) = tokio::sync::mpsc::channel(INBOX);
        let inbox = Inbox {
            tx,
            dropped: Default::default(),
            platform,
        };
        (inbox, rx)
    }

    pub fn offer(&self, item: T) {
        use tokio::sync::mpsc::error::TrySendError;
        match self.tx.try_send(item) {
            Ok(()) => {}
            // The worker is gone only at shutdown; the event is then dropped.
            Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => {
                let n = self
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                // Said on the first and every thousandth: a flood is one line a
                // while in the log, not one per event.
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(
                        platform = self.platform,
                        dropped = n,
                        "events arrive faster than dockhand takes them; the excess is dropped"
                    );
                }
            }
        }
    }
}

/// What the supervisor gives an adapter.
pub struct Wiring {
    /// Dispatch, as adapters see it.
    pub handler: Arc<dyn Handle>,
    /// Into the router: what the adapter's commands send their replies to.
    pub outbox: Outbox,
    /// This platform's share of the router's output, for its deliverer.
    pub replies: UnboundedReceiver<Outbound>,
    /// Where the adapter says whether it is connected (`/readyz` reads it).
    pub health: Health,
    /// Cancelled when the bot stops: take no more events.
    pub stop: CancellationToken,
    /// The state replicas share: who holds a connection only one may hold,
    /// which events another replica already took.
    pub replicas: Arc<dyn lease::Replicas>,
}

/// A message from a person, through dispatch: an immediate answer goes back where
/// it came from; work dispatch spawned answers through `outbox` by itself.
pub fn answer(
    handler: &dyn Handle,
    origin: Origin,
    author: &Author,
    via: Via,
    text: &str,
    outbox: &Outbox,
) {
    let inbound = Inbound {
        origin: &origin,
        author,
        via,
        text,
    };
    if let Handled::Reply(reply) = handler.handle(&inbound, outbox) {
        let _ = outbox.send(Outbound { origin, reply });
    }
}

/// A Confirm/Abort click by `author`: what it did, for the adapter to draw (the
/// settled prompt for everyone, or the refusal for the clicker alone).
pub fn click(
    handler: &dyn Handle,
    origin: &Origin,
    author: &Author,
    command: &str,
    outbox: &Outbox,
) -> Click {
    let inbound = Inbound {
        origin,
        author,
        via: Via::Addressed,
        text: command,
    };
    handler.click(&inbound, outbox)
}

/// Sends every `Outbound` to the deliverer of its origin's platform.
///
/// It ends when every `Outbox` is gone (the adapters' workers, every operation,
/// the supervisor's own), and then drops its routes, so each deliverer drains what
/// it holds and ends: the stop order falls out of ownership, as in mini-redis.
#[derive(Debug, Default)]
pub struct Router {
    routes: HashMap<Platform, UnboundedSender<Outbound>>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// The receiving end for `platform`'s deliverer.
    pub fn route(&mut self, platform: Platform) -> UnboundedReceiver<Outbound> {
        let (tx, rx) = unbounded_channel();
        self.routes.insert(platform, tx);
        rx
    }

    /// The platforms that have a deliverer.
    pub fn platforms(&self) -> Vec<Platform> {
        Platform::ALL
            .into_iter()
            .filter(|p| self.routes.contains_key(p))
            .collect()
    }

    /// Routes until every sender of `outbox` is dropped.
    pub async fn run(self, mut outbox: UnboundedReceiver<Outbound>) {
        let mut unrouted = HashSet::new();
        while let Some(mut out) = outbox.recv().await {
            let platform = out.origin.platform;
            match self.routes.get(&platform) {
                Some(route) => {
                    let _ = route.send(out);
                }
                None => {
                    // Said once: an audit or notification channel on a platform
                    // that is not running. Dropped on purpose, so said delivered:
                    // an event would otherwise come back until its dead-letter queue.
                    if unrouted.insert(platform) {
                        tracing::warn!(
                            %platform,
                            "no {platform} adapter is running; replies to {platform} channels are dropped"
                        );
                    }
                    out.reply.delivered.done();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Origin, Reply};

    fn to(platform: Platform, text: &str) -> Outbound {
        Outbound {
            origin: Origin {
                platform,
                channel: "C1".into(),
                thread: None,
                direct: false,
            },
            reply: Reply::text(text),
        }
    }

    #[tokio::test]
    async fn a_flood_fills_the_inbox_and_the_rest_is_dropped_not_held() {
        let (inbox, mut rx) = Inbox::new("test");
        for i in 0..10_000 {
            inbox.offer(i);
        }
        assert_eq!(
            inbox.dropped.load(std::sync::atomic::Ordering::Relaxed),
            10_000 - INBOX as u64
        );
        let mut held = 0;
        while rx.try_recv().is_ok() {
            held += 1;
        }
        assert_eq!(held, INBOX);
    }

    #[tokio::test]
    async fn each_reply_reaches_its_platform_and_routes_close_with_the_last_outbox() {
        let mut router = Router::new();
        let mut slack = router.route(Platform::Slack);
        let mut discord = router.route(Platform::Discord);
        let (outbox, rx) = unbounded_channel();
        let routing = tokio::spawn(router.run(rx));
        outbox.send(to(Platform::Slack, "audit")).unwrap();
        outbox.send(to(Platform::Discord, "deploy")).unwrap();
        outbox.send(to(Platform::Shell, "nowhere")).unwrap();
        drop(outbox);
        routing.await.unwrap();
        assert_eq!(slack.recv().await.unwrap().reply.text, "audit");
        assert_eq!(discord.recv().await.unwrap().reply.text, "deploy");
        assert!(slack.recv().await.is_none(), "the route closes");
        assert!(discord.recv().await.is_none());
    }
}
