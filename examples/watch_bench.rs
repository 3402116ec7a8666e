//! One deploy per ECS deployment strategy against the local emulator: the AWS calls
//! one watch makes per poll, and how long after ECS settled dockhand gave its
//! verdict. Run through `make bench` (which starts the emulator):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --example watch_bench
//! ```
//!
//! "Settled" is the `finishedAt` of ECS's own service-deployment record, read
//! after the verdict; the verdict moment is when `deploy` returned. Both are this
//! machine's clock. The emulator scales a bake minute down to `MINUTE` seconds,
//! so a canary takes seconds here, as it would take minutes on AWS; the calls
//! per poll are what carry over.

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentConfiguration, DeploymentStrategy, LinearConfiguration,
};
use dockhand::command::value::Version;
use dockhand::ops::aws::AwsOps;
use dockhand::ops::{Requester, Rollouts, Target, Verdict};
use serde_json::json;

/// The watch's poll interval, in seconds.
const POLL: f64 = 0.25;
/// A bake "minute", in seconds, in the emulator.
const MINUTE: f64 = 0.5;
/// Deploys per strategy.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.worker(3).await;
    w.account.rollout_seconds(2.0);
    w.account.control(
        "POST",
        "/_dockhand/config",
        Some(json!({ "minute_seconds": MINUTE })),
    );
    let text = format!(
        "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[watch]\npoll_seconds = {POLL}\n\
         [environments.prod]\n[apps.worker]\nenvironment = \"prod\"\ncluster = \"apps\"\n\
         service = \"worker\"\ncontainer = \"worker\"\nmin = 0\nmax = 10\n"
    );
    let config =
        dockhand::config::Config::parse("bench.toml", &text, &|_| None, dockhand::verbs::NAMES)
            .expect("config");
    let app = config.apps.values().next().expect("worker").clone();
    let target = Target {
        environment: config.environment_of(&app).clone(),
        app,
        requester: Requester {
            identity: "shell:bench".into(),
            name: "@bench".into(),
        },
    };
    let ops = AwsOps::from_sdk_config(&config, w.account.sdk().await, Some(w.account.id.clone()));

    println!(
        "one deploy's watch per strategy, poll {POLL} s, {ROUNDS} deploys each, against the emulator"
    );
    let mut version = 41;
    for (name, strategy) in [
        ("rolling", DeploymentStrategy::Rolling),
        ("blue/green", DeploymentStrategy::BlueGreen),
        ("linear 50%", DeploymentStrategy::Linear),
        ("canary 10%", DeploymentStrategy::Canary),
    ] {
        configure(&w, strategy).await;
        let mut per_poll: BTreeMap<String, f64> = BTreeMap::new();
        let (mut polls, mut lags, mut took) = (0.0, Vec::new(), 0.0);
        for _ in 0..ROUNDS {
            version += 1;
            let v = Version::parse(&format!("v{version}")).expect("a version");
            w.account.forget_calls();
            let (progress, mut events) = tokio::sync::mpsc::unbounded_channel();
            let started = Instant::now();
            let outcome = ops.deploy(&target, &v, progress).await.expect("deploy");
            let verdict_at = now();
            took += started.elapsed().as_secs_f64();
            while events.try_recv().is_ok() {}
            assert!(
                matches!(outcome.verdict, Verdict::Live { .. }),
                "{name}: {:?}",
                outcome.verdict
            );
            let calls = w.account.calls();
            let n = calls.iter().filter(|c| *c == "DescribeServices").count() as f64;
            polls += n;
            for c in calls {
                *per_poll.entry(c).or_default() += 1.0;
            }
            lags.push(verdict_at - finished_at(&w).await);
        }
        let total: f64 = per_poll.values().sum();
        let each: Vec<String> = per_poll
            .iter()
            .map(|(op, n)| format!("{op} {:.2}", n / polls))
            .collect();
        lags.sort_by(f64::total_cmp);
        println!(
            "  {name:<11}: {:.1} polls per watch ({:.1} s), {:.2} AWS calls per poll ({})",
            polls / ROUNDS as f64,
            took / ROUNDS as f64,
            total / polls,
            each.join(", ")
        );
        println!(
            "  {:<11}  ECS settled -> verdict: median {:.0} ms, max {:.0} ms (poll {:.0} ms)",
            "",
            lags[lags.len() / 2] * 1000.0,
            lags[lags.len() - 1] * 1000.0,
            POLL * 1000.0
        );
    }
}

/// Gives `worker` a deployment strategy with short bakes (the emulator merges it
/// into the service; no deployment starts).
async fn configure(w: &support::World, strategy: DeploymentStrategy) {
    let config = DeploymentConfiguration::builder()
        .strategy(strategy)
        .bake_time_in_minutes(2)
        .linear_configuration(
            LinearConfiguration::builder()
                .step_percent(50.0)
                .step_bake_time_in_minutes(1)
                .build(),
        )
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(10.0)
                .canary_bake_time_in_minutes(1)
                .build(),
        )
        .build();
    w.deployment_configuration("apps", "worker", config).await;
}

/// When ECS's newest service-deployment record of `worker` finished.
async fn finished_at(w: &support::World) -> f64 {
    let d = w
        .newest_deployment("apps", "worker")
        .await
        .expect("a record");
    let at = d.finished_at().expect("a finished deployment");
    at.secs() as f64 + f64::from(at.subsec_nanos()) / 1e9
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}
