//! A budget for AWS calls: one token bucket per service, account and region,
//! shared by every caller, so dockhand stays below what AWS throttles at.
//!
//! AWS throttles per account and region, and a bot that does not pace itself
//! finds out from `ThrottlingException`s in the middle of a person's `status`.
//! So each service client built in `Clients::new` (ECS, CloudFormation, CloudWatch
//! Logs) sends through an HTTP client that first takes a token from its
//! (service, account, region) bucket. The SDK's retries pass through it too, so
//! they spend budget like any call. SQS (long polls) and DynamoDB (the shared
//! table: holds, leases) are not budgeted: their quotas are far above what
//! dockhand sends, and a lease renewal must not queue behind a `status`.
//!
//! When tokens are short, callers wait in priority order (`Priority`), first come
//! first served within one: a person before a watch before background work. The
//! priority is a task-local set where work is spawned (`dispatch`); work that
//! sets none counts as a person's, so a path nobody marked still goes before
//! background work rather than behind it. A caller that has waited `max_wait`
//! (half the attempt timeout, so the wait never eats the whole of an attempt's
//! `call_timeout`) goes without a token: a budget that is spent makes people wait
//! a little, never makes a call fail. `Priority::waited` tells the work it wraps
//! how long its calls waited, which dispatch adds to the reply.
//!
//! Time is tokio's, so the tests below run on a paused clock.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config;

/// Whose work a call is, in the order waiters are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Someone is waiting for the reply.
    Person,
    /// An operation's watch: someone hears of its progress, a poll late is no harm.
    Watch,
    /// Nobody is waiting: notifications' reads, recovery after a restart.
    Background,
}

impl Priority {
    fn name(self) -> &'static str {
        match self {
            Priority::Person => "person",
            Priority::Watch => "watch",
            Priority::Background => "background",
        }
    }

    /// Runs `work` with its AWS calls at this priority.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        self.waited(work).await.0
    }

    /// Runs `work` at this priority, and says how long its AWS calls waited for
    /// the budget: the time during which at least one of them waited, so calls
    /// waiting side by side count once.
    pub async fn waited<F: Future>(self, work: F) -> (F::Output, Duration) {
        let caller = Caller {
            priority: self,
            waits: Cell::default(),
        };
        CALLER
            .scope(caller, async {
                let out = work.await;
                let waited = CALLER.try_with(|c| c.waits.get().total).unwrap_or_default();
                (out, waited)
            })
            .await
    }

    /// The priority of the work being polled now; unmarked work is a person's.
    fn current() -> Priority {
        CALLER.try_with(|c| c.priority).unwrap_or(Priority::Person)
    }
}

tokio::task_local! {
    static CALLER: Caller;
}

struct Caller {
    priority: Priority,
    waits: Cell<Waits>,
}

/// The union of a caller's waits: how many wait now, since when, and the total
/// of the spans in which any did.
#[derive(Debug, Clone, Copy, Default)]
struct Waits {
    now: u32,
    since: Option<Instant>,
    total: Duration,
}

/// One call's wait, counted in its caller's `Waits` while it lives (cancelled
/// calls included).
struct Waiting;

impl Waiting {
    fn begin() -> Waiting {
        let _ = CALLER.try_with(|c| {
            let mut w = c.waits.get();
            if w.now == 0 {
                w.since = Some(Instant::now());
            }
            w.now += 1;
            c.waits.set(w);
        });
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = CALLER.try_with(|c| {
            let mut w = c.waits.get();
            w.now = w.now.saturating_sub(1);
            if w.now == 0
                && let Some(since) = w.since.take()
            {
                w.total += since.elapsed();
            }
            c.waits.set(w);
        });
    }
}

/// The services that are budgeted (see the module doc for those that are not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Service {
    Ecs,
    CloudFormation,
    Logs,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::CloudFormation => "cloudformation",
            Service::Logs => "logs",
        }
    }

    /// Sustained calls per second from `[aws.budget]`; bursts of four times that
    /// for ECS (40 by default, below its read buckets of 50-100: a `status` of
    /// 500 apps, 50 DescribeServices, goes out nearly at once), twice that for
    /// the others, whose limits are tighter or unpublished (at least one call).
    fn rate(self, budget: &config::Budget) -> Rate {
        let (per_second, burst) = match self {
            Service::Ecs => (budget.ecs, 4.0),
            Service::CloudFormation => (budget.cloudformation, 2.0),
            Service::Logs => (budget.logs, 2.0),
        };
        Rate {
            per_second,
            burst: (burst * per_second).max(1.0),
        }
    }
}

/// Whose credentials a call is made with: an environment's assumed role's
/// account, or `home` for the bot's own.
pub(crate) fn account_of(role_arn: Option<&str>) -> String {
    // arn:aws:iam::<account>:role/<name>
    role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .filter(|a| !a.is_empty())
        .unwrap_or("home")
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rate {
    per_second: f64,
    burst: f64,
}

/// Every bucket of one `AwsOps`, by service, account and region.
#[derive(Debug)]
pub(crate) struct Budgets {
    budget: config::Budget,
    max_wait: Duration,
    buckets: Mutex<HashMap<(Service, String, String), Arc<Bucket>>>,
}

impl Budgets {
    pub(crate) fn new(aws: &config::Aws) -> Budgets {
        Budgets {
            budget: aws.budget.clone(),
            max_wait: aws.call_timeout / 2,
            buckets: Mutex::default(),
        }
    }

    /// `inner`, sending each request once a token of the (service, account,
    /// region) bucket is had.
    pub(crate) fn client(
        &self,
        service: Service,
        account: &str,
        region: &str,
        inner: SharedHttpClient,
    ) -> SharedHttpClient {
        let bucket = Arc::clone(
            self.buckets
                .lock()
                .expect("budget buckets")
                .entry((service, account.to_string(), region.to_string()))
                .or_insert_with(|| {
                    Arc::new(Bucket::new(service.rate(&self.budget), self.max_wait))
                }),
        );
        SharedHttpClient::new(Budgeted {
            inner,
            bucket,
            service,
        })
    }
}

/// What a waiter got from its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Took {
    /// A token at once.
    Token,
    /// A token after waiting.
    Waited,
    /// No token within `max_wait`: the call goes anyway.
    Overdrawn,
}

#[derive(Debug)]
struct Bucket {
    rate: Rate,
    max_wait: Duration,
    state: Mutex<State>,
    /// Told whenever the queue changes, so the waiter now first re-reckons.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
    /// Waiters by priority, then arrival.
    queue: BTreeSet<(Priority, u64)>,
    arrivals: u64,
}

impl Bucket {
    fn new(rate: Rate, max_wait: Duration) -> Bucket {
        Bucket {
            rate,
            max_wait,
            state: Mutex::new(State {
                tokens: rate.burst,
                at: Instant::now(),
                queue: BTreeSet::new(),
                arrivals: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.state.lock().expect("budget bucket");
        let now = Instant::now();
        let gained = now.duration_since(s.at).as_secs_f64() * self.rate.per_second;
        s.tokens = (s.tokens + gained).min(self.rate.burst);
        s.at = now;
        s
    }

    /// Waits for a token: only the first waiter (by priority, then arrival)
    /// may take one, and it sleeps until one is due; the others sleep until the
    /// queue changes.
    async fn take(&self, priority: Priority) -> Took {
        let me = {
            let mut s = self.lock();
            if s.queue.is_empty() && s.tokens >= 1.0 {
                s.tokens -= 1.0;
                return Took::Token;
            }
            s.arrivals += 1;
            let me = (priority, s.arrivals);
            s.queue.insert(me);
            me
        };
        self.changed.notify_waiters();
        let _queued = Queued { bucket: self, me };
        let _waiting = Waiting::begin();
        let deadline = Instant::now() + self.max_wait;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let due = {
                let mut s = self.lock();
                let first = s.queue.first() == Some(&me);
                if first && s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    return Took::Waited;
                }
                first.then(|| Duration::from_secs_f64((1.0 - s.tokens) / self.rate.per_second))
            };
            if Instant::now() >= deadline {
                return Took::Overdrawn;
            }
            let until = due.map_or(deadline, |d| (Instant::now() + d).min(deadline));
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

/// A waiter's place in the queue, given up however the wait ends (a token, the
/// deadline, or the call dropped).
struct Queued<'a> {
    bucket: &'a Bucket,
    me: (Priority, u64),
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.bucket.state.lock() {
            s.queue.remove(&self.me);
        }
        self.bucket.changed.notify_waiters();
    }
}

/// The SDK's HTTP client behind a bucket.
#[derive(Debug)]
struct Budgeted {
    inner: SharedHttpClient,
    bucket: Arc<Bucket>,
    service: Service,
}

impl HttpClient for Budgeted {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            bucket: Arc::clone(&self.bucket),
            service: self.service,
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    bucket: Arc<Bucket>,
    service: Service,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, bucket, service) = (self.inner.clone(), Arc::clone(&self.bucket), self.service);
        // Read here, inside the caller's task: the SDK polls this future there.
        let priority = Priority::current();
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            let took = bucket.take(priority).await;
            if took != Took::Token {
                crate::metrics::metrics().aws_budget_wait(
                    service.name(),
                    priority.name(),
                    started.elapsed(),
                    took == Took::Overdrawn,
                );
            }
            if took == Took::Overdrawn {
                tracing::warn!(
                    service = service.name(),
                    priority = priority.name(),
                    "AWS call budget spent for longer than a call may wait; calling anyway"
                );
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(per_second: f64, burst: f64) -> Arc<Bucket> {
        Arc::new(Bucket::new(
            Rate { per_second, burst },
            Duration::from_secs(10),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_calls_are_paced_at_the_rate() {
        let b = bucket(2.0, 4.0);
        let start = Instant::now();
        for _ in 0..4 {
            assert_eq!(b.take(Priority::Person).await, Took::Token);
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..6 {
            assert_eq!(b.take(Priority::Person).await, Took::Waited);
        }
        // Six more at two a second.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    /// Background work queued first, then a watch, then a person: tokens go to
    /// the person, the watch, then the background work, in that order.
    #[tokio::test(start_paused = true)]
    async fn people_go_before_watches_before_background_work() {
        let b = bucket(1.0, 1.0);
        assert_eq!(b.take(Priority::Background).await, Took::Token);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for priority in [
            Priority::Background,
            Priority::Background,
            Priority::Watch,
            Priority::Person,
            Priority::Person,
        ] {
            let (b, order) = (Arc::clone(&b), Arc::clone(&order));
            tasks.spawn(async move {
                b.take(priority).await;
                order.lock().unwrap().push(priority);
            });
            // Each is queued before the next arrives.
            tokio::task::yield_now().await;
        }
        tasks.join_all().await;
        use Priority::*;
        assert_eq!(
            *order.lock().unwrap(),
            [Person, Person, Watch, Background, Background]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_waited_too_long_goes_anyway() {
        let b = Arc::new(Bucket::new(
            Rate {
                per_second: 0.01,
                burst: 1.0,
            },
            Duration::from_secs(2),
        ));
        assert_eq!(b.take(Priority::Person).await, Took::Token);
        let start = Instant::now();
        assert_eq!(b.take(Priority::Person).await, Took::Overdrawn);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // The one that gave up left the queue: the next is not behind a ghost.
        assert!(b.lock().queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_gives_its_place_up() {
        let b = bucket(1.0, 1.0);
        b.take(Priority::Person).await;
        let waiting = tokio::time::timeout(Duration::from_millis(100), b.take(Priority::Person));
        assert!(waiting.await.is_err());
        assert!(b.lock().queue.is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.take(Priority::Background).await, Took::Token);
    }

    /// Two calls waiting side by side for one second are one second of waiting;
    /// calls that got a token at once add nothing.
    #[tokio::test(start_paused = true)]
    async fn work_is_told_how_long_its_calls_waited_side_by_side_once() {
        let b = bucket(2.0, 2.0);
        let (_, waited) = Priority::Person
            .waited(async {
                b.take(Priority::current()).await;
                b.take(Priority::current()).await;
            })
            .await;
        assert_eq!(waited, Duration::ZERO);
        let (took, waited) = Priority::Person
            .waited(async {
                futures::join!(b.take(Priority::current()), b.take(Priority::current()))
            })
            .await;
        assert_eq!(took, (Took::Waited, Took::Waited));
        assert_eq!(waited, Duration::from_secs(1));
    }

    #[test]
    fn the_account_is_the_roles_or_home() {
        assert_eq!(
            account_of(Some("arn:aws:iam::111111111111:role/dockhand")),
            "111111111111"
        );
        assert_eq!(account_of(None), "home");
    }

    #[tokio::test]
    async fn unmarked_work_is_a_persons() {
        assert_eq!(Priority::current(), Priority::Person);
        let inside = Priority::Background
            .scope(async { Priority::current() })
            .await;
        assert_eq!(inside, Priority::Background);
    }
}
