//! One look per cluster and poll interval, shared by every watch there.
//!
//! A watch used to describe its own service on every poll: twenty deploys in one
//! cluster made twenty `DescribeServices` per interval where two would do, and ECS
//! throttles per account and region, so every extra call slows every other watch and
//! every `status`. Now a watch holds a `Watcher` on its cluster's `Poll`, and a
//! *round* describes every service watched in the cluster, 10 per `DescribeServices`
//! (the API's limit), and every deployment record followed there, 20 per
//! `DescribeServiceDeployments`; each watch reads its own part of the round.
//!
//! There is no poller task. The first watcher that asks once a round is due (one
//! interval after the last began) makes it under the poll's lock and reads it; the
//! others read it while it is fresh (less than an interval since it ended). So
//! rounds stop when the watches do, a cancelled watch cancels only itself (a round
//! it was making is made by the next watcher that asks), and tests on tokio's
//! paused clock see the same rounds as production. A watch asks once per interval
//! (`watch::watch` sleeps between polls), so the watches of a cluster fall into step
//! with its rounds and each reads every round when it is made: an outcome is still
//! reported within one interval of AWS settling.
//!
//! Neighbours: `deploy.rs` holds the watches (`observe`, `RecordWatch::look`);
//! `ecs.rs` the single calls and the snapshots the judges read.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_ecs::types::{Service, ServiceDeployment, ServiceField};
use tokio::time::Instant;

use super::{Clients, ServiceRef, classify, ecs};
use crate::ops::{OpsError, OpsResult};

/// The cluster polls of one environment's clients, by cluster and interval.
#[derive(Debug, Default)]
pub(crate) struct Polls(Mutex<HashMap<(String, Duration), Weak<Poll>>>);

impl Polls {
    /// A watcher of `svc`, polled every `every` with the rest of its cluster.
    pub(crate) fn watch(&self, clients: &Clients, svc: &ServiceRef, every: Duration) -> Watcher {
        let poll = {
            let mut polls = self.0.lock().expect("polls");
            // A poll lives as long as one of its watchers; forget the ended ones.
            polls.retain(|_, p| p.strong_count() > 0);
            let key = (svc.cluster.clone(), every);
            match polls.get(&key).and_then(Weak::upgrade) {
                Some(p) => p,
                None => {
                    let p = Arc::new(Poll::new(&svc.cluster, every));
                    polls.insert(key, Arc::downgrade(&p));
                    p
                }
            }
        };
        poll.wanted
            .lock()
            .expect("wanted")
            .add_service(&svc.service);
        Watcher {
            poll,
            clients: clients.clone(),
            service: svc.service.clone(),
            record: Mutex::new(None),
            seen: AtomicU64::new(0),
        }
    }
}

/// What one watcher read from a round.
#[derive(Debug)]
pub(crate) struct Look {
    pub service: Service,
    /// The followed deployment record as the same round described it: `None` when
    /// no record is followed or the round began before it was (the watcher then
    /// describes it itself, once); `Some(None)` when ECS no longer describes it.
    pub record: Option<OpsResult<Option<ServiceDeployment>>>,
}

/// One watch's share of its cluster's poll. Dropping it stops polling its service
/// (and its record) with the next round.
#[derive(Debug)]
pub(crate) struct Watcher {
    poll: Arc<Poll>,
    clients: Clients,
    service: String,
    record: Mutex<Option<String>>,
    /// The number of the last round this watcher read.
    seen: AtomicU64,
}

impl Watcher {
    /// The service as the next round saw it: a round newer than the last this
    /// watcher read and less than an interval old, else the one made now (or at
    /// the time it falls due, for a watcher that asks early).
    pub(crate) async fn look(&self) -> OpsResult<Look> {
        loop {
            let last = self.poll.last();
            // Fresh: ended less than an interval ago. (A round slower than the
            // interval, waiting on throttling or the call budget, is still news.)
            let fresh = last
                .ended
                .is_some_and(|t| Instant::now() < t + self.poll.every);
            if last.n > self.seen.load(Ordering::Relaxed)
                && fresh
                && let Some(look) = self.part(&last)
            {
                return look;
            }
            // Rounds begin at least an interval apart, however many watch.
            if let Some(began) = last.began {
                tokio::time::sleep_until(began + self.poll.every).await;
            }
            let _making = self.poll.making.lock().await;
            // Someone made it while this one waited for the lock.
            if self.poll.last().n != last.n {
                continue;
            }
            let round = Arc::new(self.poll.round(&self.clients, last.n + 1).await);
            *self.poll.last.lock().expect("round") = round.clone();
            // The maker reads its own round, however long it took.
            if let Some(look) = self.part(&round) {
                return look;
            }
        }
    }

    /// This watcher's part of `round`, marked read.
    fn part(&self, round: &Round) -> Option<OpsResult<Look>> {
        let record = self.record.lock().expect("record").clone();
        let look = round.part(&self.service, record.as_deref())?;
        self.seen.store(round.n, Ordering::Relaxed);
        Some(look)
    }

    /// Follows ECS's record of this watch's deployment from the next round on.
    pub(crate) fn follow(&self, record_arn: &str) {
        let mut record = self.record.lock().expect("record");
        if record.as_deref() == Some(record_arn) {
            return;
        }
        let mut wanted = self.poll.wanted.lock().expect("wanted");
        if let Some(old) = record.take() {
            wanted.remove_record(&old);
        }
        wanted.add_record(record_arn);
        *record = Some(record_arn.to_string());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let mut wanted = self.poll.wanted.lock().expect("wanted");
        wanted.remove_service(&self.service);
        if let Some(r) = self.record.lock().expect("record").as_deref() {
            wanted.remove_record(r);
        }
    }
}

#[derive(Debug)]
struct Poll {
    cluster: String,
    every: Duration,
    wanted: Mutex<Wanted>,
    /// Held by the watcher making a round.
    making: tokio::sync::Mutex<()>,
    last: Mutex<Arc<Round>>,
}

impl Poll {
    fn new(cluster: &str, every: Duration) -> Poll {
        Poll {
            cluster: cluster.to_string(),
            every,
            wanted: Mutex::default(),
            making: tokio::sync::Mutex::new(()),
            last: Mutex::new(Arc::new(Round::default())),
        }
    }

    fn last(&self) -> Arc<Round> {
        self.last.lock().expect("round").clone()
    }

    /// Describes every watched service and followed record, the calls made together.
    async fn round(&self, clients: &Clients, n: u64) -> Round {
        let began = Instant::now();
        let (services, records) = {
            let w = self.wanted.lock().expect("wanted");
            (w.services(), w.records())
        };
        let describing = services.chunks(10).map(|chunk| async move {
            let out = clients
                .ecs
                .describe_services()
                .cluster(&self.cluster)
                .set_services(Some(chunk.to_vec()))
                .include(ServiceField::Tags)
                .send()
                .await
                .map_err(|e| classify("ecs:DescribeServices", e));
            (chunk, out)
        });
        let reading = records
            .chunks(20)
            .map(|chunk| async move { (chunk, ecs::describe_deployments(clients, chunk).await) });
        let (described, read) = futures::future::join(
            futures::future::join_all(describing),
            futures::future::join_all(reading),
        )
        .await;

        let mut round = Round {
            n,
            began: Some(began),
            ..Round::default()
        };
        for (chunk, out) in described {
            match out {
                Ok(out) => {
                    for name in chunk {
                        // A deleted service stays INACTIVE for a while: gone all the same.
                        let found = out.services().iter().find(|s| {
                            s.service_name() == Some(name.as_str())
                                && s.status() != Some("INACTIVE")
                        });
                        round.services.insert(
                            name.clone(),
                            found.cloned().ok_or_else(|| {
                                OpsError::NotFound(format!(
                                    "ECS service `{name}` was not found in cluster `{}`.",
                                    self.cluster
                                ))
                            }),
                        );
                    }
                }
                Err(e) => {
                    for name in chunk {
                        round.services.insert(name.clone(), Err(e.clone()));
                    }
                }
            }
        }
        for (chunk, out) in read {
            for arn in chunk {
                let part = match &out {
                    Ok(found) => Ok(found
                        .iter()
                        .find(|d| d.service_deployment_arn() == Some(arn.as_str()))
                        .cloned()),
                    Err(e) => Err(e.clone()),
                };
                round.records.insert(arn.clone(), part);
            }
        }
        tracing::debug!(cluster = %self.cluster, round = n, services = services.len(),
            records = records.len(), "polled the cluster's watched services");
        round.ended = Some(Instant::now());
        round
    }
}

/// What one round read.
#[derive(Debug, Default)]
struct Round {
    /// 0 before the first round.
    n: u64,
    began: Option<Instant>,
    ended: Option<Instant>,
    services: HashMap<String, OpsResult<Service>>,
    records: HashMap<String, OpsResult<Option<ServiceDeployment>>>,
}

impl Round {
    /// A watcher's part, if the round looked at its service.
    fn part(&self, service: &str, record: Option<&str>) -> Option<OpsResult<Look>> {
        let s = match self.services.get(service)? {
            Ok(s) => s.clone(),
            Err(e) => return Some(Err(e.clone())),
        };
        let record = record
            .and_then(|arn| self.records.get(arn))
            .map(|r| match r {
                Ok(d) => Ok(d.clone()),
                Err(e) => Err(e.clone()),
            });
        Some(Ok(Look { service: s, record }))
    }
}

/// What the cluster's watches want looked at, with how many watch each.
#[derive(Debug, Default)]
struct Wanted {
    services: HashMap<String, usize>,
    records: HashMap<String, usize>,
}

impl Wanted {
    fn add_service(&mut self, name: &str) {
        *self.services.entry(name.to_string()).or_default() += 1;
    }

    fn remove_service(&mut self, name: &str) {
        release(&mut self.services, name);
    }

    fn add_record(&mut self, arn: &str) {
        *self.records.entry(arn.to_string()).or_default() += 1;
    }

    fn remove_record(&mut self, arn: &str) {
        release(&mut self.records, arn);
    }

    fn services(&self) -> Vec<String> {
        sorted(&self.services)
    }

    fn records(&self) -> Vec<String> {
        sorted(&self.records)
    }
}

fn release(counts: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// In a stable order, so a cluster's services fall into the same calls each round.
fn sorted(counts: &HashMap<String, usize>) -> Vec<String> {
    counts
        .keys()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}
