//! `status` of 50 apps in 2 clusters and of 500 in 10 against the local emulator:
//! AWS calls per `status`, and how long it takes. Run through `make bench` (which starts the emulator):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --example status_bench
//! ```
//!
//! Back to back, `status` runs at the call budget's pace (ECS 10 a second); spaced as
//! on-call types it, the budget's burst covers it. The first call of a fresh bot
//! also describes every revision (one DescribeTaskDefinition each), at that pace.
//!
//! The emulator answers in a few milliseconds per call on this machine, so the
//! figures measure dockhand's batching and concurrency plus a local round trip,
//! not AWS's latency; the call counts are what carry over to AWS.

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::time::{Duration, Instant};

use dockhand::ops::Inspect;
use dockhand::ops::aws::AwsOps;

const ROUNDS: usize = 20;
const SPACED: usize = 5;
/// Long enough for the default ECS budget (10 a second, bursts of 40) to refill.
const REFILL: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() {
    bench(&[("apps", 45), ("batch", 5)]).await;
    let ten: Vec<(String, usize)> = (0..10).map(|c| (format!("c{c}"), 50)).collect();
    let ten: Vec<(&str, usize)> = ten.iter().map(|(c, n)| (c.as_str(), *n)).collect();
    bench(&ten).await;
}

/// `status` of every app in `layout` (cluster, services), all in one account.
async fn bench(layout: &[(&str, usize)]) {
    let w = support::World::new().await;
    let mut config =
        String::from("[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n");
    let mut i = 0;
    for (cluster, n) in layout {
        w.cluster(cluster).await;
        for _ in 0..*n {
            let name = format!("svc{i:03}");
            w.service(
                cluster,
                &name,
                &format!("public.ecr.aws/example/{name}:v{i}"),
                2,
            )
            .await;
            config.push_str(&format!(
                "[apps.{name}]\nenvironment = \"prod\"\ncluster = \"{cluster}\"\nservice = \"{name}\"\ncontainer = \"{name}\"\n"
            ));
            i += 1;
        }
    }
    let apps_n = i;
    let text = format!(
        "commands_dir = {:?}\n{config}",
        support::root().join("commands")
    );
    let config =
        dockhand::config::Config::parse("bench.toml", &text, &|_| None, dockhand::verbs::NAMES)
            .expect("config");
    let apps: Vec<_> = config
        .apps
        .values()
        .map(|a| (a.clone(), config.environment_of(a).clone()))
        .collect();
    let ops = AwsOps::from_sdk_config(&config, w.account.sdk().await, Some(w.account.id.clone()));

    // The first `status` also describes every revision; later ones reuse them.
    w.account.forget_calls();
    let started = Instant::now();
    let lines = ops.status(&apps).await;
    let first = started.elapsed();
    assert!(lines.iter().all(|l| l.problem.is_none()), "{lines:?}");
    let first_calls = w.account.calls();

    w.account.forget_calls();
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let lines = ops.status(&apps).await;
        times.push(started.elapsed());
        assert_eq!(lines.len(), apps_n);
    }
    let calls = w.account.calls();
    times.sort();

    // As on-call types it: a `status` now and then, the call budget refilled between.
    let mut spaced = Vec::with_capacity(SPACED);
    for _ in 0..SPACED {
        tokio::time::sleep(REFILL).await;
        let started = Instant::now();
        ops.status(&apps).await;
        spaced.push(started.elapsed());
    }
    spaced.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();

    let split: Vec<String> = layout.iter().map(|(_, n)| n.to_string()).collect();
    println!(
        "status of {apps_n} apps in {} clusters ({}), against the emulator",
        layout.len(),
        split.join(" + ")
    );
    println!(
        "  first call : {:7.1} ms, {} AWS calls ({} DescribeServices, {} DescribeServiceDeployments, {} DescribeTaskDefinition)",
        ms(first),
        first_calls.len(),
        count(&first_calls, "DescribeServices"),
        count(&first_calls, "DescribeServiceDeployments"),
        count(&first_calls, "DescribeTaskDefinition"),
    );
    println!(
        "  later calls: median {:.1} ms, p90 {:.1} ms, min {:.1} ms over {ROUNDS} rounds; {:.1} AWS calls each ({:.1} DescribeServices, {:.1} DescribeServiceDeployments)",
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS * 9 / 10]),
        ms(times[0]),
        calls.len() as f64 / ROUNDS as f64,
        count(&calls, "DescribeServices") as f64 / ROUNDS as f64,
        count(&calls, "DescribeServiceDeployments") as f64 / ROUNDS as f64,
    );
    println!(
        "  spaced     : median {:.1} ms, max {:.1} ms over {SPACED} calls {} s apart (the budget refilled)",
        ms(spaced[SPACED / 2]),
        ms(spaced[SPACED - 1]),
        REFILL.as_secs(),
    );
}
