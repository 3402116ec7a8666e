//! Slack's rate limits, kept on dockhand's side, each where Slack keeps it.
//!
//! Slack documents the limits per method, per app and workspace
//! (<https://docs.slack.dev/apis/web-api/rate-limits>), with one exception that
//! matters here: `chat.postMessage` "generally allows posting one message per
//! second per channel", short bursts above that allowed. So a post is paced by
//! its channel's `Gate` (`POST`, one per lane in `deliver.rs`), and a burst in
//! one channel never waits in front of an answer in another. The methods Slack
//! counts per workspace share one `Gate` each (`Workspace`), sized below their
//! tier: `chat.update` is Tier 3, 50+ a minute
//! (<https://api.slack.com/methods/chat.update>), `chat.postEphemeral` Tier 4,
//! 100+ a minute (<https://api.slack.com/methods/chat.postEphemeral>), and so are
//! the `files.*` calls of an upload (slack-morphism's tiering; the three steps
//! of one upload share a gate).
//!
//! Slack still has the last word: a 429 holds the gate it counted against for
//! its `Retry-After` and then lets calls through at the sustained rate, without
//! the burst (Slack's count and ours disagreed: another replica posts with the
//! same token, or the workspace-wide post limit Slack does not put a number on).
//! Only that gate waits: a 429 in one channel slows that channel alone.
//!
//! slack-morphism would pace `chat.postMessage` itself, at one a second for the
//! whole workspace, and sleep out 429s inside the call, where no answer can
//! overtake a progress edit. The deliverer's calls therefore go through a client
//! that neither paces nor retries (`unretried`), and this module does both.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::time::Instant;

use super::Client;
use crate::message::MessageId;

/// A sustained rate (one call `every`), with a burst of `burst` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub every: Duration,
    pub burst: u32,
}

/// `chat.postMessage` in one channel: Slack's one a second, a burst of three.
pub const POST: Rate = Rate {
    every: Duration::from_secs(1),
    burst: 3,
};
/// `chat.update` in the workspace: 40 a minute and a burst of 5, so at most 45 in
/// any minute, below Tier 3's 50.
pub const UPDATE: Rate = Rate {
    every: Duration::from_millis(1500),
    burst: 5,
};
/// `chat.postEphemeral`, and separately the steps of file uploads, in the
/// workspace: 80 a minute and a burst of 5, at most 85 in a minute, below Tier 4's 100.
pub const TIER4: Rate = Rate {
    every: Duration::from_millis(750),
    burst: 5,
};

/// How often a call Slack answered 429 is sent again (after its `Retry-After`).
pub const RETRIES: u32 = 3;
/// The wait when a 429 names none (Slack always does).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One rate limit: a token bucket kept as the time it is next full (GCRA), so
/// taking a turn and holding after a 429 are each one comparison.
#[derive(Debug)]
pub struct Gate {
    rate: Rate,
    /// When the bucket is full again, counting every turn taken.
    full_at: Mutex<Instant>,
}

impl Gate {
    pub fn new(rate: Rate) -> Gate {
        assert!(rate.burst >= 1 && !rate.every.is_zero());
        Gate {
            rate,
            full_at: Mutex::new(Instant::now()),
        }
    }

    /// `n` turns' worth of time.
    fn turns(&self, n: u32) -> Duration {
        self.rate.every * n
    }

    /// Takes a turn now, leaving at least `spare` turns for others (answers, over
    /// progress edits), or says when one comes.
    pub fn try_take(&self, spare: u32) -> Result<(), Instant> {
        let now = Instant::now();
        let mut full_at = self.full_at.lock().expect("gate lock");
        let slack = self.turns(self.rate.burst.saturating_sub(1 + spare));
        if now + slack >= *full_at {
            *full_at = (*full_at).max(now) + self.rate.every;
            Ok(())
        } else {
            Err(*full_at - slack)
        }
    }

    /// Waits for a turn and takes it.
    pub async fn turn(&self) {
        while let Err(at) = self.try_take(0) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Slack said 429: no turn before `retry_after` from now, and from then on the
    /// sustained rate, the burst used up.
    pub fn hold(&self, retry_after: Option<Duration>) {
        let until = Instant::now() + retry_after.unwrap_or(RETRY_AFTER);
        let mut full_at = self.full_at.lock().expect("gate lock");
        *full_at = (*full_at).max(until + self.turns(self.rate.burst - 1));
    }

    /// When the bucket is full again: a gate dropped then forgets nothing.
    pub fn rested_at(&self) -> Instant {
        *self.full_at.lock().expect("gate lock")
    }
}

/// The gates of the methods Slack limits per workspace, shared by every lane.
#[derive(Debug)]
pub struct Workspace {
    pub update: Gate,
    pub ephemeral: Gate,
    pub files: Gate,
}

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace {
            update: Gate::new(UPDATE),
            ephemeral: Gate::new(TIER4),
            files: Gate::new(TIER4),
        }
    }
}

/// Makes `call` in its turn at `gate`, and again after a 429's `Retry-After`, up
/// to `RETRIES` times, holding `gate` meanwhile. The last error is returned.
pub async fn send<T, F, Fut>(gate: &Gate, mut call: F) -> Result<T, SlackClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SlackClientError>>,
{
    let mut retried = 0;
    loop {
        gate.turn().await;
        let result = call().await;
        if let Err(SlackClientError::RateLimitError(limited)) = &result {
            gate.hold(limited.retry_after);
            if retried < RETRIES {
                retried += 1;
                tracing::debug!(retried, retry_after = ?limited.retry_after, "slack: rate limited; sent again in its turn");
                continue;
            }
        }
        return result;
    }
}

/// The deliverer's own client: the adapter's connections (its connector, cloned,
/// shares their pool), with a rate controller of no limits and no retries. The
/// controller still applies the special limits slack-morphism's typed methods
/// carry, so `chat.postMessage` goes through `post_message` instead.
pub fn unretried(shared: &Client) -> Client {
    let connector = (*shared.http_api.connector)
        .clone()
        .with_rate_control(SlackApiRateControlConfig::new().with_tiers_limits(HashMap::new()));
    SlackClient::new(connector)
}

pub type Session<'a> = SlackClientSession<'a, SlackClientHyperHttpsConnector>;

/// `chat.postMessage` without slack-morphism's pacing of it (one a second for
/// the whole workspace): its gate is its channel's.
pub async fn post_message(
    session: &Session<'_>,
    req: &SlackApiChatPostMessageRequest,
) -> Result<SlackApiChatPostMessageResponse, SlackClientError> {
    session
        .http_session_api
        .http_post("chat.postMessage", req, None)
        .await
}

/// What waits in one channel's lane: answers (posts, a settled prompt, a refusal)
/// in the order they came, and progress edits, one per message, the newest text
/// replacing an older one in its place. The lane sends an answer whenever its
/// turn has come, and an edit in between, once `ready` (its message is posted):
/// the channel's reader waits for answers, while an edit only changes what is
/// already there.
#[derive(Debug)]
pub struct Queue<A, E> {
    answers: VecDeque<A>,
    edits: VecDeque<MessageId>,
    held: HashMap<MessageId, E>,
}

impl<A, E> Default for Queue<A, E> {
    fn default() -> Self {
        Queue {
            answers: VecDeque::new(),
            edits: VecDeque::new(),
            held: HashMap::new(),
        }
    }
}

impl<A, E> Queue<A, E> {
    pub fn answer(&mut self, a: A) {
        self.answers.push_back(a);
    }

    pub fn front_answer(&self) -> Option<&A> {
        self.answers.front()
    }

    pub fn next_answer(&mut self) -> Option<A> {
        self.answers.pop_front()
    }

    /// An answer Slack turned away for now: first again.
    pub fn retry_answer(&mut self, a: A) {
        self.answers.push_front(a);
    }

    /// An edit of `id`: in the place of one already waiting, else last.
    pub fn edit(&mut self, id: MessageId, e: E) {
        if self.held.insert(id, e).is_none() {
            self.edits.push_back(id);
        }
    }

    /// An edit Slack turned away for now goes first again, unless a newer one of
    /// the same message came meanwhile.
    pub fn retry_edit(&mut self, id: MessageId, e: E) {
        if let std::collections::hash_map::Entry::Vacant(v) = self.held.entry(id) {
            v.insert(e);
            self.edits.push_front(id);
        }
    }

    pub fn has_edit(&self, ready: impl Fn(&E) -> bool) -> bool {
        self.held.values().any(ready)
    }

    /// The first edit that is `ready`.
    pub fn next_edit(&mut self, ready: impl Fn(&E) -> bool) -> Option<(MessageId, E)> {
        let at = self.edits.iter().position(|id| ready(&self.held[id]))?;
        let id = self.edits.remove(at)?;
        let e = self.held.remove(&id)?;
        Some((id, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// How many turns `gate` gives within `window` of now, taken as they come.
    async fn turns_within(gate: &Gate, window: Duration) -> usize {
        let end = Instant::now() + window;
        let mut n = 0;
        loop {
            match gate.try_take(0) {
                Ok(()) => n += 1,
                Err(at) if at < end => tokio::time::sleep_until(at).await,
                Err(_) => return n,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_gate_gives_its_burst_then_its_rate() {
        let gate = Gate::new(POST);
        for _ in 0..3 {
            assert!(gate.try_take(0).is_ok());
        }
        assert_eq!(gate.try_take(0), Err(Instant::now() + SECOND));
        // 3 at once and one a second after: 3 + 9 in ten seconds (the tenth lands at 10 s).
        let gate = Gate::new(POST);
        assert_eq!(turns_within(&gate, 10 * SECOND).await, 12);
        // Rested, the burst is back, and no more than it.
        tokio::time::advance(60 * SECOND).await;
        assert_eq!(turns_within(&gate, Duration::ZERO).await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_workspace_gates_stay_below_their_tiers_in_any_minute() {
        for (rate, tier) in [(UPDATE, 50), (TIER4, 100)] {
            let gate = Gate::new(rate);
            let n = turns_within(&gate, Duration::from_secs(60)).await;
            assert!(n < tier, "{n} calls in a minute at {rate:?}, tier {tier}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_waits_out_retry_after_then_resumes_without_the_burst() {
        let gate = Gate::new(POST);
        assert!(gate.try_take(0).is_ok());
        gate.hold(Some(2 * SECOND));
        let held = Instant::now();
        assert_eq!(gate.try_take(0), Err(held + 2 * SECOND));
        gate.turn().await;
        assert_eq!(Instant::now(), held + 2 * SECOND);
        assert_eq!(gate.try_take(0), Err(Instant::now() + SECOND));
        assert!(gate.rested_at() > Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn spare_turns_are_left_for_answers() {
        let gate = Gate::new(UPDATE);
        // Progress edits leaving one: four of the five.
        let edits = std::iter::from_fn(|| gate.try_take(1).ok())
            .take(10)
            .count();
        assert_eq!(edits, 4);
        assert!(gate.try_take(0).is_ok(), "the spare one is an answer's");
        assert!(gate.try_take(0).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn send_retries_a_429_in_its_turn_and_gives_up_after_retries() {
        use slack_morphism::errors::SlackRateLimitError;
        let gate = Gate::new(POST);
        let limited = || {
            Err::<(), _>(SlackClientError::RateLimitError(
                SlackRateLimitError::new().with_retry_after(2 * SECOND),
            ))
        };
        let start = Instant::now();
        let mut calls = 0;
        let result = send(&gate, || {
            calls += 1;
            std::future::ready(if calls < 3 { limited() } else { Ok(()) })
        })
        .await;
        assert!(result.is_ok());
        assert_eq!((calls, start.elapsed()), (3, 4 * SECOND));

        let mut calls = 0;
        let result = send(&gate, || {
            calls += 1;
            std::future::ready(limited())
        })
        .await;
        assert!(matches!(result, Err(SlackClientError::RateLimitError(_))));
        assert_eq!(calls, 1 + RETRIES as usize);
    }

    #[test]
    fn an_edit_keeps_its_place_with_the_newest_text_and_waits_until_ready() {
        let mut q = Queue::default();
        let (a, b) = (MessageId(1), MessageId(2));
        let posted = |e: &&str| !e.starts_with('b');
        q.edit(a, "a1");
        q.edit(b, "b1");
        q.answer("pong");
        q.edit(a, "a2");
        assert_eq!(q.front_answer(), Some(&"pong"));
        assert_eq!(q.next_answer(), Some("pong"));
        q.retry_answer("pong");
        assert_eq!(q.next_answer(), Some("pong"));
        assert_eq!(q.next_answer(), None);
        assert_eq!(q.next_edit(posted), Some((a, "a2")));
        // Turned away, it goes first again...
        q.retry_edit(a, "a2");
        assert_eq!(q.next_edit(posted), Some((a, "a2")));
        // ...unless a newer one came meanwhile.
        q.edit(a, "a3");
        q.retry_edit(a, "a2");
        assert_eq!(q.next_edit(posted), Some((a, "a3")));
        // An edit of a message not posted yet waits.
        assert!(!q.has_edit(posted));
        assert_eq!(q.next_edit(posted), None);
        assert_eq!(q.next_edit(|_| true), Some((b, "b1")));
        assert!(!q.has_edit(|_| true) && q.front_answer().is_none());
    }
}
