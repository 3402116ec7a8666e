//! Abuse bounds (F10): how many commands a person and a channel may send, and
//! how many AWS reads chat may start per second, whatever arrives.
//!
//! Token buckets on tokio's clock (so tests run on a paused one). A person who
//! runs dry hears "slow down" once per window and is then ignored until the
//! bucket refills: a flood costs one short answer, not one per message. Reads
//! (`status`, `stack`...) take a token from one budget shared by every channel
//! before they reach AWS, and wait for it rather than fail; operations' watches
//! do not take from it, so a flood of reads never slows a deploy's verdict.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A bucket of `burst` tokens refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

impl Rate {
    /// When `tokens` are back from empty.
    fn refill_time(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(tokens / self.per_second)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Until when the "slow down" answer already given covers.
    warned_until: Option<Instant>,
}

impl Bucket {
    fn full(rate: Rate) -> Bucket {
        Bucket {
            tokens: rate.burst,
            at: Instant::now(),
            warned_until: None,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + gained).min(rate.burst);
        self.at = now;
    }
}

/// What a command's sender gets from the limits.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    Go,
    /// Over the limit, told now: try again in this many seconds.
    SlowDown(u64),
    /// Over the limit and already told: silence.
    Quiet,
}

/// Buckets by key (a person's identity, a channel).
#[derive(Debug)]
pub struct Buckets {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Beyond this many keys, full (idle) buckets are forgotten: memory stays
/// bounded however many identities a flood makes up.
const MAX_KEYS: usize = 10_000;

impl Buckets {
    pub fn new(rate: Rate) -> Buckets {
        Buckets {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `key`, or says how long until one is back.
    pub fn take(&self, key: &str) -> Admit {
        let now = Instant::now();
        let rate = self.rate;
        let mut buckets = self.buckets.lock().expect("limits lock");
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                b.refill(rate, now);
                b.tokens < rate.burst
            });
        }
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| Bucket::full(rate));
        bucket.refill(rate, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Admit::Go;
        }
        if bucket.warned_until.is_some_and(|until| now < until) {
            return Admit::Quiet;
        }
        // Told once; quiet until the bucket is full again.
        let wait = rate.refill_time(1.0 - bucket.tokens);
        bucket.warned_until = Some(now + rate.refill_time(rate.burst));
        Admit::SlowDown(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

/// The shared budget of AWS reads chat may start: one bucket, and `acquire`
/// waits for its token instead of refusing.
#[derive(Debug)]
pub struct Budget {
    rate: Rate,
    bucket: tokio::sync::Mutex<Bucket>,
}

impl Budget {
    pub fn new(rate: Rate) -> Budget {
        Budget {
            rate,
            bucket: tokio::sync::Mutex::new(Bucket::full(rate)),
        }
    }

    /// Waits until a read may start. One waiter at a time holds the lock while
    /// it sleeps, so reads start in arrival order at the budget's pace.
    pub async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        bucket.refill(self.rate, Instant::now());
        if bucket.tokens < 1.0 {
            tokio::time::sleep(self.rate.refill_time(1.0 - bucket.tokens)).await;
            bucket.refill(self.rate, Instant::now());
        }
        bucket.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_slow_down_then_silence_until_refilled() {
        let b = Buckets::new(Rate {
            burst: 3.0,
            per_second: 0.5,
        });
        for _ in 0..3 {
            assert_eq!(b.take("slack:U1"), Admit::Go);
        }
        assert_eq!(b.take("slack:U1"), Admit::SlowDown(2));
        for _ in 0..100 {
            assert_eq!(b.take("slack:U1"), Admit::Quiet);
        }
        // Someone else is not slowed by it.
        assert_eq!(b.take("slack:U2"), Admit::Go);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(b.take("slack:U1"), Admit::Go);
        tokio::time::advance(Duration::from_secs(6)).await;
        // The window is over: a new flood is told again, once.
        for _ in 0..3 {
            assert_eq!(b.take("slack:U1"), Admit::Go);
        }
        assert_eq!(b.take("slack:U1"), Admit::SlowDown(2));
    }

    #[tokio::test(start_paused = true)]
    async fn made_up_identities_do_not_grow_memory_without_bound() {
        let b = Buckets::new(Rate {
            burst: 2.0,
            per_second: 1.0,
        });
        for i in 0..50_000 {
            b.take(&format!("slack:U{i}"));
            if i % 1000 == 0 {
                tokio::time::advance(Duration::from_secs(5)).await;
            }
        }
        assert!(b.buckets.lock().unwrap().len() <= MAX_KEYS + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_read_budget_paces_reads_instead_of_failing_them() {
        let budget = Budget::new(Rate {
            burst: 5.0,
            per_second: 5.0,
        });
        let start = Instant::now();
        for _ in 0..25 {
            budget.acquire().await;
        }
        // 5 at once, then 20 more at 5 a second.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }
}
