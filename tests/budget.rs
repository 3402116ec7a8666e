//! The AWS call budget (`ops::aws::budget`) end to end: with a tiny budget, a
//! burst of commands waits its turn instead of failing, AWS sees no more calls
//! than the budget allows, and a reply that waited says so.
//!
//! Run with `scripts/with-emulator.sh cargo test --test tests budget::`.

use std::time::Instant;

use crate::support;

use support::World;

/// Twelve service-managed apps in one cluster, and an ECS budget of 6 calls a
/// second (bursts of 24). A call may wait 30 s, far beyond what these wait, so
/// none goes without budget and the count below is exact.
async fn twelve_apps() -> (World, String) {
    let w = World::new().await;
    w.cluster("apps").await;
    let mut config = String::from(
        "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\ncall_timeout_seconds = 60\n\
         [aws.budget]\necs = 6\n[environments.prod]\n",
    );
    for i in 0..12 {
        let name = format!("svc{i:02}");
        w.service(
            "apps",
            &name,
            &format!("public.ecr.aws/example/{name}:v{i}"),
            1,
        )
        .await;
        config.push_str(&format!(
            "[apps.{name}]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"{name}\"\ncontainer = \"{name}\"\n"
        ));
    }
    (w, config)
}

/// The ECS calls the account made since its log was last forgotten.
fn ecs_calls(w: &World) -> usize {
    let calls = w.account.control("GET", "/_dockhand/calls", None);
    calls
        .as_array()
        .expect("a list of calls")
        .iter()
        .filter(|c| c["service"] == "ecs")
        .count()
}

#[tokio::test]
async fn a_burst_of_status_under_a_tiny_budget_waits_its_turn_and_says_so() {
    let (w, config) = twelve_apps().await;
    let mut bot = w.bot(&config).await;
    w.account.forget_calls();

    let started = Instant::now();
    for _ in 0..3 {
        assert!(bot.send("!status").is_none(), "status is spawned");
    }
    let out = bot.finish().await;
    let elapsed = started.elapsed().as_secs_f64();

    // Every status answered in full; none failed or was throttled.
    assert_eq!(out.matches("svc11  prod  v11").count(), 3, "{out}");
    for bad in ["Internal error", "throttl", "Throttl", "Rate exceeded"] {
        assert!(!out.contains(bad), "{bad:?} in:\n{out}");
    }
    // The budget bit: more calls than a burst...
    let calls = ecs_calls(&w);
    let (burst, rate) = (24.0, 6.0);
    assert!(
        calls as f64 > burst + rate,
        "{calls} ECS calls: too few to wait"
    );
    // ...and AWS saw no more than the budget allows in the time they took (a
    // slower machine only makes the bound looser), because the rest waited.
    assert!(
        calls as f64 <= burst + rate * elapsed + 1.0,
        "{calls} ECS calls in {elapsed:.1} s"
    );
    assert!(elapsed >= (calls as f64 - burst) / rate - 0.1);
    // A reply that waited says so.
    assert!(out.contains("(AWS was busy: waited "), "{out}");
}
