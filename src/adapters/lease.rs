//! One replica at a time, for what only one of several may do: hold the Discord
//! gateway, which hands every event to every connection (two connected replicas
//! would answer everything twice). The others keep posting over HTTP and wait.
//!
//! ```text
//!   take --theirs--> wait RETRY, take again             (a standby replica)
//!    | ours
//!    v
//!   session(fenced) <-- keep every RENEW
//!    |   lost (another took it), or not kept for TERM - RENEW
//!    |     -> cancel the session at once, back off, take again
//!    | stop
//!    v
//!   give: the next replica takes it within RETRY, not TERM
//! ```
//!
//! A dead holder's lease lapses within `TERM`, and a standby asks every `RETRY`,
//! so another replica holds it within `TERM + RETRY` (25 s). The holder stops its
//! session once `TERM - RENEW` has passed since its last renewal was sent, before
//! any other replica can take the lease, so two sessions never overlap while the
//! replicas' clocks agree within `RENEW`; the lease's fence stops a holder that
//! lagged past that from renewing its way back.
//!
//! Without shared state (`[state] table`) this process is the only replica, and
//! the session simply runs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ops::{Lease, OpsResult, Taken};

/// How long a lease lasts unless renewed.
pub const TERM: Duration = Duration::from_secs(20);
/// How often the holder renews it.
pub const RENEW: Duration = Duration::from_secs(5);
/// How often a standby replica asks for it.
pub const RETRY: Duration = Duration::from_secs(5);
/// A session shorter than this counts as a failed one: the next waits longer.
const SHORT: Duration = Duration::from_secs(60);
/// The longest wait between sessions.
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The shared state, as an adapter sees it (dispatch implements it over its
/// `Store`): leases, and keys seen by any replica.
pub trait Replicas: Send + Sync + 'static {
    /// Whether other replicas may run beside this one (`[state] table` is set).
    fn shared(&self) -> bool;
    /// True for the first replica to mark `key` (it handles what the key
    /// names); false for every later one. A failure to ask counts as first:
    /// answering twice is better than not at all.
    fn first_seen(&self, key: String) -> BoxFuture<'static, bool>;
    fn take(
        &self,
        name: &str,
        holder: &str,
        term: Duration,
    ) -> BoxFuture<'static, OpsResult<Taken>>;
    fn keep(&self, lease: &Lease, term: Duration) -> BoxFuture<'static, OpsResult<bool>>;
    fn give(&self, lease: &Lease) -> BoxFuture<'static, OpsResult<()>>;
}

/// This replica, as leases and the log name it: the host (an ECS task's own),
/// the process, and when it started, so a restarted process is a new holder.
pub fn holder() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "dockhand".into());
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() % 0x10_0000);
        format!("{host}/{}/{started:x}", std::process::id())
    })
    .clone()
}

/// The wait before the next session: none after a long one; after short ones,
/// 5 s doubling up to `BACKOFF_MAX`, so a session that fails at once does not
/// reconnect (and identify) in a loop.
fn backoff(short_sessions: u32) -> Duration {
    match short_sessions {
        0 => Duration::ZERO,
        n => (RETRY * 2u32.saturating_pow(n - 1).min(64)).min(BACKOFF_MAX),
    }
}

/// Runs `session` while this replica holds the lease `name`, until `stop`.
/// `session` is given a token cancelled when it must end (the lease lost, or
/// the bot stopping) and is started again each time the lease is taken again;
/// `standby` is called whenever another replica is found holding it. Returns
/// the session's own failure, or `Ok` once stopped.
pub async fn hold<E, F, Fut>(
    replicas: Arc<dyn Replicas>,
    name: &str,
    what: &str,
    stop: CancellationToken,
    standby: impl Fn() + Sync,
    mut session: F,
) -> Result<(), E>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    if !replicas.shared() {
        return session(stop).await;
    }
    let me = holder();
    let mut short = 0u32;
    let mut wait = Duration::ZERO;
    loop {
        if !wait.is_zero() {
            tracing::info!(
                wait_s = wait.as_secs(),
                "{what}: the last session was short; waiting before the next"
            );
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
        let Some(lease) = take(&*replicas, name, what, &me, &stop, &standby).await else {
            return Ok(());
        };
        tracing::info!(holder = %lease.holder, fence = lease.fence, "{what}: this replica holds it");
        crate::metrics::metrics().lease(name, true);
        let fenced = stop.child_token();
        let began = Instant::now();
        let run = session(fenced.clone());
        tokio::pin!(run);
        let mut kept = Instant::now();
        let mut renew = tokio::time::interval_at(kept + RENEW, RENEW);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lost = loop {
            tokio::select! {
                ended = &mut run => {
                    crate::metrics::metrics().lease(name, false);
                    // Stopped, or failed on its own: either way the lease goes
                    // back at once, so another replica takes over without waiting.
                    if let Err(e) = replicas.give(&lease).await {
                        tracing::warn!(error = %e, "{what}: could not give the lease back; it lapses within {}s", TERM.as_secs());
                    }
                    return ended;
                }
                _ = renew.tick() => {
                    let sent = Instant::now();
                    match tokio::time::timeout(RENEW, replicas.keep(&lease, TERM)).await {
                        Ok(Ok(true)) => kept = sent,
                        Ok(Ok(false)) => break "another replica took the lease",
                        Ok(Err(e)) => tracing::warn!(error = %e, "{what}: could not renew the lease"),
                        Err(_) => tracing::warn!("{what}: renewing the lease took over {}s", RENEW.as_secs()),
                    }
                    if kept.elapsed() >= TERM - RENEW {
                        break "the lease could not be renewed in time";
                    }
                }
            }
        };
        tracing::warn!(fence = lease.fence, "{what}: stopping: {lost}");
        crate::metrics::metrics().lease(name, false);
        fenced.cancel();
        let _ = run.await;
        short = if began.elapsed() < SHORT {
            short + 1
        } else {
            0
        };
        wait = backoff(short);
    }
}

/// Asks for the lease until it is ours (`None` once stopped), logging who holds
/// it each time that changes.
async fn take(
    replicas: &dyn Replicas,
    name: &str,
    what: &str,
    me: &str,
    stop: &CancellationToken,
    standby: &(dyn Fn() + Sync),
) -> Option<Lease> {
    let mut told: Option<String> = None;
    loop {
        match replicas.take(name, me, TERM).await {
            Ok(Taken::Ours(lease)) => return Some(lease),
            Ok(Taken::Theirs { holder }) => {
                if told.as_deref() != Some(holder.as_str()) {
                    standby();
                    tracing::info!(%holder, this = me, "{what}: another replica holds it; this one posts and stands by");
                    told = Some(holder);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what}: could not ask for the lease; asking again")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = stop.cancelled() => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A lease table in memory, with a clock of the test's (tokio's, paused).
    #[derive(Default)]
    struct Table {
        /// holder, fence, until
        lease: Mutex<Option<(String, i64, Instant)>>,
        fence: Mutex<i64>,
        /// Renewals refused as if the table could not be reached.
        unreachable: std::sync::atomic::AtomicBool,
    }

    impl Replicas for Arc<Table> {
        fn shared(&self) -> bool {
            true
        }
        fn first_seen(&self, _key: String) -> BoxFuture<'static, bool> {
            Box::pin(async { true })
        }
        fn take(
            &self,
            name: &str,
            holder: &str,
            term: Duration,
        ) -> BoxFuture<'static, OpsResult<Taken>> {
            let mut lease = self.lease.lock().unwrap();
            let taken = match &*lease {
                Some((h, _, until)) if *until > Instant::now() => {
                    Taken::Theirs { holder: h.clone() }
                }
                _ => {
                    let mut fence = self.fence.lock().unwrap();
                    *fence += 1;
                    *lease = Some((holder.to_string(), *fence, Instant::now() + term));
                    Taken::Ours(Lease {
                        name: name.into(),
                        holder: holder.into(),
                        fence: *fence,
                    })
                }
            };
            Box::pin(async { Ok(taken) })
        }
        fn keep(&self, l: &Lease, term: Duration) -> BoxFuture<'static, OpsResult<bool>> {
            let unreachable = self.unreachable.load(Ordering::SeqCst);
            let mut lease = self.lease.lock().unwrap();
            let result = match &mut *lease {
                _ if unreachable => Err(crate::ops::OpsError::Throttled {
                    operation: "dynamodb:UpdateItem".into(),
                }),
                Some((h, f, until)) if *h == l.holder && *f == l.fence => {
                    *until = Instant::now() + term;
                    Ok(true)
                }
                _ => Ok(false),
            };
            Box::pin(async { result })
        }
        fn give(&self, l: &Lease) -> BoxFuture<'static, OpsResult<()>> {
            let mut lease = self.lease.lock().unwrap();
            if let Some((h, f, until)) = &mut *lease
                && *h == l.holder
                && *f == l.fence
            {
                *until = Instant::now();
            }
            Box::pin(async { Ok(()) })
        }
    }

    /// A session that counts its starts and runs until told to end.
    fn counting(
        starts: Arc<AtomicUsize>,
    ) -> impl FnMut(CancellationToken) -> BoxFuture<'static, Result<(), String>> {
        move |end: CancellationToken| {
            starts.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                end.cancelled().await;
                Ok(())
            })
        }
    }

    /// `hold` running a counting session, once the session has started.
    async fn started(
        table: &Arc<Table>,
        starts: &Arc<AtomicUsize>,
        stop: &CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), String>> {
        let task = tokio::spawn(hold(
            Arc::new(table.clone()),
            "gw",
            "test",
            stop.clone(),
            || {},
            counting(starts.clone()),
        ));
        while starts.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        task
    }

    #[tokio::test(start_paused = true)]
    async fn a_standby_takes_over_within_term_and_retry_when_the_holder_dies() {
        let table = Arc::new(Table::default());
        // Another replica held it and stopped renewing just now.
        *table.lease.lock().unwrap() = Some(("dead/1/0".into(), 7, Instant::now() + TERM));
        let starts = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let began = Instant::now();
        let task = started(&table, &starts, &stop).await;
        assert!(began.elapsed() <= TERM + RETRY, "{:?}", began.elapsed());
        let (holder, fence, _) = table.lease.lock().unwrap().clone().unwrap();
        assert_eq!((holder, fence), (super::holder(), 1));
        // It keeps the lease well past its term by renewing it.
        tokio::time::sleep(TERM * 3).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert!(table.lease.lock().unwrap().as_ref().unwrap().2 > Instant::now());
        // Stopping gives it back at once.
        stop.cancel();
        task.await.unwrap().unwrap();
        assert!(table.lease.lock().unwrap().as_ref().unwrap().2 <= Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_that_loses_the_lease_ends_its_session_at_once_and_waits() {
        let table = Arc::new(Table::default());
        let starts = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let task = started(&table, &starts, &stop).await;
        // Another replica takes the lease (its fence moves on): the next
        // renewal fails and the session is ended.
        *table.lease.lock().unwrap() = Some(("other/2/0".into(), 9, Instant::now() + TERM * 100));
        tokio::time::sleep(RENEW + Duration::from_millis(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        assert!(!task.is_finished(), "it stands by rather than failing");
        // The other gives it up: taken again, after the back-off for a short session.
        *table.lease.lock().unwrap() = None;
        tokio::time::sleep(backoff(1) + RETRY * 2).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_that_cannot_renew_ends_its_session_before_the_lease_lapses() {
        let table = Arc::new(Table::default());
        let ended = Arc::new(Mutex::new(None::<Instant>));
        let stop = CancellationToken::new();
        let seen = ended.clone();
        let task = tokio::spawn(hold(
            Arc::new(table.clone()),
            "gw",
            "test",
            stop.clone(),
            || {},
            move |end: CancellationToken| {
                let seen = seen.clone();
                Box::pin(async move {
                    end.cancelled().await;
                    seen.lock().unwrap().get_or_insert(Instant::now());
                    Ok::<(), String>(())
                }) as BoxFuture<'static, _>
            },
        ));
        tokio::time::sleep(RENEW * 2 + Duration::from_millis(10)).await;
        table.unreachable.store(true, Ordering::SeqCst);
        let lapses = table.lease.lock().unwrap().as_ref().unwrap().2;
        tokio::time::sleep(TERM * 2).await;
        let ended = ended.lock().unwrap().expect("the session ended");
        assert!(
            ended < lapses,
            "ended {ended:?}, lease lapsed at {lapses:?}"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_session_gives_the_lease_back_and_its_failure_is_returned() {
        let table = Arc::new(Table::default());
        let failed = hold(
            Arc::new(table.clone()),
            "gw",
            "test",
            CancellationToken::new(),
            || {},
            |_| async { Err::<(), _>("the gateway refused") },
        )
        .await;
        assert_eq!(failed, Err("the gateway refused"));
        assert!(table.lease.lock().unwrap().as_ref().unwrap().2 <= Instant::now());
    }

    #[test]
    fn short_sessions_back_off_doubling_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(7), Duration::from_secs(300));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
