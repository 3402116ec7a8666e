//! `status` of 50 apps against the local emulator: AWS calls per `status`, and how
//! long it takes. Run through `make bench` (which starts the emulator):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --example status_bench
//! ```
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

const APPS: usize = 50;
const ROUNDS: usize = 20;

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.cluster("apps").await;
    w.cluster("batch").await;
    let mut config =
        String::from("[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n");
    for i in 0..APPS {
        let (cluster, name) = if i < 45 {
            ("apps", format!("svc{i:02}"))
        } else {
            ("batch", format!("job{i:02}"))
        };
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
    }
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
        assert_eq!(lines.len(), APPS);
    }
    let calls = w.account.calls();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let count = |calls: &[String], op: &str| calls.iter().filter(|c| *c == op).count();

    println!("status of {APPS} apps in 2 clusters (45 + 5), against the emulator");
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
}
