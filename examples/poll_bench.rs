//! Many deploys at once against the local emulator: the AWS calls per poll interval
//! while 1, 10 and 50 watches run, in one cluster and spread over five. Run through
//! `make bench` (which starts the emulator):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --example poll_bench
//! ```
//!
//! The window counted is the time every watch of a run is under way: from the last
//! `UpdateService` of its deploys to the moment the first of them returned, read
//! from the emulator's call log (its clock is this machine's). A deploy's own calls
//! outside its watch (registering the revision, tags, the operation record) fall
//! outside the window and are counted apart.

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use dockhand::command::value::Version;
use dockhand::ops::aws::AwsOps;
use dockhand::ops::{Requester, Rollouts, Target, Verdict};

/// The watch's poll interval, in seconds.
const POLL: f64 = 0.25;
/// How long a rollout takes in the emulator, in seconds.
const ROLLOUT: f64 = 4.0;

#[tokio::main]
async fn main() {
    println!(
        "AWS calls per poll interval ({POLL} s) while every watch runs, rollouts of {ROLLOUT} s, against the emulator"
    );
    for clusters in [1, 5] {
        for watches in [1, 10, 50] {
            if clusters > watches {
                continue;
            }
            run(watches, clusters).await;
        }
    }
}

async fn run(watches: usize, clusters: usize) {
    let w = support::World::new().await;
    let mut text = format!(
        "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[watch]\npoll_seconds = {POLL}\n[environments.prod]\n"
    );
    for c in 0..clusters {
        w.cluster(&format!("c{c}")).await;
    }
    for i in 0..watches {
        let (cluster, name) = (format!("c{}", i % clusters), format!("svc{i:02}"));
        w.service(
            &cluster,
            &name,
            &format!("public.ecr.aws/example/{name}:v1"),
            1,
        )
        .await;
        text.push_str(&format!(
            "[apps.{name}]\nenvironment = \"prod\"\ncluster = \"{cluster}\"\nservice = \"{name}\"\ncontainer = \"{name}\"\n"
        ));
    }
    for i in 0..watches {
        w.settle(&format!("c{}", i % clusters), &format!("svc{i:02}"))
            .await;
    }
    w.account.rollout_seconds(ROLLOUT);
    let config =
        dockhand::config::Config::parse("bench.toml", &text, &|_| None, dockhand::verbs::NAMES)
            .expect("config");
    let ops = Arc::new(AwsOps::from_sdk_config(
        &config,
        w.account.sdk().await,
        Some(w.account.id.clone()),
    ));
    w.account.forget_calls();

    let deploys: Vec<_> = config
        .apps
        .values()
        .map(|app| {
            let target = Target {
                environment: config.environment_of(app).clone(),
                app: app.clone(),
                requester: Requester {
                    identity: "shell:bench".into(),
                    name: "@bench".into(),
                },
            };
            let ops = ops.clone();
            tokio::spawn(async move {
                let (progress, mut events) = tokio::sync::mpsc::unbounded_channel();
                let v = Version::parse("v2").expect("a version");
                let outcome = ops.deploy(&target, &v, progress).await.expect("deploy");
                let done = now();
                while events.try_recv().is_ok() {}
                assert!(
                    matches!(outcome.verdict, Verdict::Live { .. }),
                    "{:?}",
                    outcome.verdict
                );
                done
            })
        })
        .collect();
    let mut first_done = f64::MAX;
    for d in deploys {
        first_done = first_done.min(d.await.expect("a deploy"));
    }

    let calls = w.account.control("GET", "/_dockhand/calls", None);
    let calls: Vec<(String, f64)> = calls
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap_or_default().to_string(),
                c["at"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    let all_started = calls
        .iter()
        .filter(|(op, _)| op == "UpdateService")
        .map(|(_, at)| *at)
        .fold(0.0, f64::max);
    let window = first_done - all_started;
    let mut during: BTreeMap<&str, usize> = BTreeMap::new();
    let mut outside = 0;
    for (op, at) in &calls {
        if *at >= all_started && *at <= first_done {
            *during.entry(op.as_str()).or_default() += 1;
        } else {
            outside += 1;
        }
    }
    let intervals = window / POLL;
    let per: Vec<String> = during
        .iter()
        .map(|(op, n)| format!("{op} {:.1}", *n as f64 / intervals))
        .collect();
    let total: usize = during.values().sum();
    println!(
        "  {watches:>2} watches in {clusters} cluster{}: {:.1} calls per interval ({}) over {:.1} s; {:.1} calls per deploy outside the window",
        if clusters == 1 { " " } else { "s" },
        total as f64 / intervals,
        per.join(", "),
        window,
        outside as f64 / watches as f64,
    );
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}
