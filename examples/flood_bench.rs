//! A flood from one person against the real pipeline and the local emulator:
//! 10,000 `!status worker` in 10 s from one identity, then what it cost. Run
//! through `make bench` (which starts the emulator):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --example flood_bench
//! ```
//!
//! Prints the AWS calls the flood made (the default limits let a burst of 10
//! through), how many answers it got, resident memory before and after, and how
//! long another person's `!status worker` took while the flood went on.

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::time::{Duration, Instant};

use dockhand::catalog::Catalog;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Platform, Via};
use dockhand::ops::aws::AwsOps;

const FLOOD: usize = 10_000;
const OVER: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.cluster("apps").await;
    w.service("apps", "worker", "public.ecr.aws/example/worker:v1", 1)
        .await;
    let text = format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n\
         [apps.worker]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"worker\"\ncontainer = \"worker\"\n",
        support::root().join("commands")
    );
    let config =
        dockhand::config::Config::parse("bench.toml", &text, &|_| None, dockhand::verbs::NAMES)
            .expect("config");
    let catalog = Catalog::load(&config.commands_dir).expect("catalogue");
    let ops = AwsOps::from_sdk_config(&config, w.account.sdk().await, Some(w.account.id.clone()));
    let dispatcher = Dispatcher::new(config, catalog, ops);
    let (outbox, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let origin = Origin {
        platform: Platform::Slack,
        channel: "C0FLOOD".into(),
        thread: None,
        direct: false,
    };
    let person = |id: &str| Author {
        external: false,
        id: id.into(),
        name: id.to_lowercase().into(),
    };
    let (mallory, bob) = (person("UMALLORY"), person("UBOB"));
    // Bob asks in the channel next door, so his answers are told apart.
    let next_door = Origin {
        channel: "C0OTHER".into(),
        ..origin.clone()
    };
    let say = |author: &Author, text: &str| {
        let origin = if author.id.as_ref() == "UBOB" {
            &next_door
        } else {
            &origin
        };
        dispatcher.handle(
            &Inbound {
                origin,
                author,
                via: Via::Message,
                text,
            },
            &outbox,
        )
    };

    w.account.forget_calls();
    let before = support::proc_kib("VmRSS");
    let started = Instant::now();
    let (mut answered, mut started_reads, mut bob_waits) = (0, 0, Vec::new());
    for i in 0..FLOOD {
        match say(&mallory, "!status worker") {
            Handled::Reply(_) => answered += 1,
            Handled::Started => started_reads += 1,
            Handled::Ignored => {}
        }
        // Every 1,000 messages, someone else asks and waits for the answer.
        if i % 1000 == 500 {
            let asked = Instant::now();
            assert!(matches!(say(&bob, "!status worker"), Handled::Started));
            while let Some(out) = replies.recv().await {
                if &*out.origin.channel == "C0OTHER" {
                    break;
                }
            }
            bob_waits.push(asked.elapsed());
        }
        // Spread over ten seconds, as a script in a channel would send them.
        let due = OVER.mul_f64((i + 1) as f64 / FLOOD as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    dispatcher.tasks().close();
    dispatcher.tasks().wait().await;
    let after = support::proc_kib("VmRSS");
    let calls = w.account.calls();
    bob_waits.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "flood: {FLOOD} `!status worker` from one person in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  reads started {started_reads}, answers {answered} (the slow-down notices), the rest ignored"
    );
    let reads = started_reads + bob_waits.len();
    println!(
        "  AWS calls made: {} for {reads} reads ({started_reads} the flood's, {} another person's)",
        calls.len(),
        bob_waits.len()
    );
    println!(
        "  another person's `!status worker` answered in: median {:.1} ms, max {:.1} ms",
        ms(bob_waits[bob_waits.len() / 2]),
        ms(*bob_waits.last().unwrap())
    );
    println!("  resident memory: {before} KiB before, {after} KiB after");
}
