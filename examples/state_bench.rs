//! What shared state (`[state] table`, DynamoDB) adds to each operation, against
//! the local emulator: the claim every mutating command takes before it starts
//! and the release when it ends (median and p99 of each pair), and the DynamoDB
//! calls per command and per watch poll. Run through `make bench`:
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --quiet --example state_bench
//! ```

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::time::{Duration, Instant};

use dockhand::ops::{Claim, Requester, Store, Target};

const CONFIG: &str = "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[state]\ntable = \"dockhand-state\"\n\
    [environments.prod]\n[apps.worker]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"worker\"\ncontainer = \"worker\"\n\
    [[rules]]\nname = \"anyone\"\nverbs = [\"deploy\", \"lock\", \"unlock\"]\n";

const ROUNDS: usize = 200;

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.state_table("dockhand-state").await;
    w.worker(1).await;
    let config =
        dockhand::config::Config::parse("bench.toml", CONFIG, &|_| None, dockhand::verbs::NAMES)
            .unwrap_or_else(|e| panic!("{e:?}"));
    let ops = dockhand::ops::aws::AwsOps::from_sdk_config(
        &config,
        w.account.sdk().await,
        Some(w.account.id.clone()),
    );
    let app = config.apps.values().next().unwrap().clone();
    let target = Target {
        environment: config.environment_of(&app).clone(),
        app,
        requester: Requester {
            identity: "shell:alice".into(),
            name: "@alice".into(),
        },
    };
    let dynamodb = || {
        w.account
            .calls()
            .iter()
            .filter(|c| {
                matches!(
                    c.as_str(),
                    "PutItem" | "UpdateItem" | "DeleteItem" | "GetItem" | "Query"
                )
            })
            .count()
    };
    let before = dynamodb();
    let (mut claims, mut releases) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let claim = Claim {
            holder: format!("bench#{i}"),
            who: "@alice".into(),
            what: "deploy worker v42".into(),
            since: dockhand::ops::now(),
        };
        let t = Instant::now();
        ops.claim(&target, &claim).await.expect("the app is free");
        claims.push(t.elapsed());
        let t = Instant::now();
        ops.release(&target, &claim).await.expect("released");
        releases.push(t.elapsed());
    }
    let calls = dynamodb() - before;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let both: Vec<Duration> = claims.iter().zip(&releases).map(|(c, r)| *c + *r).collect();
    for (what, mut took) in [
        ("claim", claims),
        ("release", releases),
        ("claim + release", both),
    ] {
        took.sort();
        println!(
            "{what:<16} over {ROUNDS} operations: median {:.2} ms, p99 {:.2} ms",
            ms(took[took.len() / 2]),
            ms(took[took.len() * 99 / 100])
        );
    }
    println!(
        "DynamoDB calls: {:.1} per claim and release",
        calls as f64 / ROUNDS as f64
    );

    // Whole commands through dispatch, as a person sends them: what each
    // costs in DynamoDB calls, and in ECS calls beside them.
    w.account.rollout_seconds(0.5);
    let mut bot = support::Bot::new(config.clone(), &w.account).await;
    let count = |names: &[&str]| {
        w.account
            .calls()
            .iter()
            .filter(|c| names.contains(&c.as_str()))
            .count()
    };
    const DYNAMODB: [&str; 5] = ["PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query"];
    for (what, command) in [
        ("deploy", "!deploy worker v42"),
        ("status", "!status worker"),
        ("lock", "!lock worker bench"),
        ("unlock", "!unlock worker"),
    ] {
        let (db, polls, all) = (
            count(&DYNAMODB),
            count(&["DescribeServices"]),
            w.account.calls().len(),
        );
        let out = bot.ask(command).await;
        assert!(!out.contains("rror"), "{command}: {out}");
        let db = count(&DYNAMODB) - db;
        let polls = count(&["DescribeServices"]) - polls;
        let aws = w.account.calls().len() - all - db;
        println!("{what:<7} DynamoDB calls {db}, other AWS calls {aws} (DescribeServices {polls})");
    }
    println!(
        "per watch poll: 0 DynamoDB calls (the watch renews its claim every {} s); the Discord gateway lease: 1 UpdateItem per replica every {} s",
        dockhand::ops::CLAIM_LEASE.as_secs() / 3,
        dockhand::adapters::lease::RENEW.as_secs()
    );
}
