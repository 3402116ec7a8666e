//! Two or more replicas sharing state (`[state] table`, DynamoDB in the
//! emulator): an app's operation runs on one replica, whichever receives the
//! command, and a replica that dies frees its apps when its claim lapses.
//! Each "replica" here is its own dispatcher and AWS client over one account.

use crate::support;

use aws_sdk_dynamodb::types::AttributeValue;
use support::World;

const CONFIG: &str = r#"
[aws]
region = "us-east-1"
max_attempts = 1

[state]
table = "dockhand-state"

[environments.prod]

[apps.worker]
environment = "prod"
cluster = "apps"
service = "worker"
container = "worker"

[[rules]]
name = "anyone"
verbs = ["deploy"]
"#;

async fn world() -> World {
    let w = World::new().await;
    w.state_table("dockhand-state").await;
    w.worker(2).await;
    w
}

#[tokio::test]
async fn two_deploys_of_one_app_through_two_replicas_one_runs_one_is_told_who_holds_it() {
    let w = world().await;
    let mut a = w.bot(CONFIG).await;
    let mut b = w.bot(CONFIG).await;

    assert_eq!(a.send("!deploy worker v42"), None);
    assert_eq!(b.send_as("bob", "!deploy worker v43"), None);
    let (out_a, out_b) = tokio::join!(a.finish(), b.finish());
    let (ran, refused) = if out_a.contains("is live") {
        (out_a, out_b)
    } else {
        (out_b, out_a)
    };
    assert!(ran.contains("is live"), "one ran:\n{ran}");
    assert!(
        !refused.contains("is live") && !refused.contains("Deploying"),
        "{refused}"
    );
    let who = if ran.contains("v42") {
        "@alice started `deploy worker v42`"
    } else {
        "@bob started `deploy worker v43`"
    };
    assert!(
        refused.contains(&format!(
            "worker is busy: {who} (on another dockhand) since "
        )) && refused.contains("Wait for it, or `!cancel worker`."),
        "the other is told who holds it:\n{refused}"
    );

    // Once it is over, the app is free on every replica.
    let other = if ran.contains("v42") { &mut b } else { &mut a };
    let out = other.ask("!deploy worker v44").await;
    assert!(out.contains("worker v44 is live"), "{out}");
    let held = w
        .dynamodb()
        .await
        .get_item()
        .table_name("dockhand-state")
        .key("pk", AttributeValue::S("hold".into()))
        .key("sk", AttributeValue::S("worker".into()))
        .send()
        .await
        .unwrap();
    assert!(held.item().is_none(), "released: {:?}", held.item());
}

#[tokio::test]
async fn a_claim_left_by_a_replica_that_died_holds_until_it_lapses() {
    let w = world().await;
    let db = w.dynamodb().await;
    let claim = |expires: i64| {
        db.put_item()
            .table_name("dockhand-state")
            .item("pk", AttributeValue::S("hold".into()))
            .item("sk", AttributeValue::S("worker".into()))
            .item("holder", AttributeValue::S("gone-1#7".into()))
            .item("who", AttributeValue::S("@carol".into()))
            .item("what", AttributeValue::S("deploy worker v9".into()))
            .item("since", AttributeValue::N(dockhand::ops::now().to_string()))
            .item("expires", AttributeValue::N(expires.to_string()))
            .send()
    };
    let mut bot = w.bot(CONFIG).await;

    // Within its lease the claim holds: the replica may only be slow.
    claim(dockhand::ops::now() + 60).await.unwrap();
    let out = bot.ask("!deploy worker v42").await;
    assert!(
        out.contains("worker is busy: @carol started `deploy worker v9` (on another dockhand)"),
        "{out}"
    );

    // Past it (DynamoDB's TTL deletes it only eventually), the app is free.
    claim(dockhand::ops::now() - 1).await.unwrap();
    let out = bot.ask("!deploy worker v42").await;
    assert!(out.contains("worker v42 is live"), "{out}");
}

/// Where the environment is protected: `!deploy` answered by one replica and
/// `!confirm` delivered to the other (as Slack's Socket Mode may hand it) runs
/// once, for the person who asked, with the same checks.
#[tokio::test]
async fn a_confirmation_given_by_one_replica_is_settled_by_the_other_once() {
    let w = world().await;
    let config = CONFIG.replace(
        "[environments.prod]",
        "[environments.prod]\nprotected = true",
    );
    let mut a = w.bot(&config).await;
    let mut b = w.bot(&config).await;

    let prompt = a.ask("!deploy worker v42").await;
    let at = prompt
        .find("!confirm ")
        .unwrap_or_else(|| panic!("a prompt: {prompt}"))
        + "!confirm ".len();
    let code: String = prompt[at..].chars().take(6).collect();
    assert!(
        prompt.contains("Parameter") || prompt.contains("Plan"),
        "the plan is shown: {prompt}"
    );

    let out = b.ask_as("bob", &format!("!confirm {code}")).await;
    assert!(
        out.contains("Only alice") && out.contains(&format!("can confirm `{code}`")),
        "{out}"
    );
    let out = b.ask(&format!("!confirm {code}")).await;
    assert!(
        out.contains("worker v42 is live"),
        "run on the other replica:\n{out}"
    );
    assert!(
        out.contains("asked by @alice"),
        "as the person who asked:\n{out}"
    );
    let again = a.ask(&format!("!confirm {code}")).await;
    assert!(
        again.contains(&format!("No confirmation is waiting with code `{code}`")),
        "and not again on the first:\n{again}"
    );
}

/// Both replicas consume the notification queue, and SQS gives a message
/// again (to either) when its delete is late: an event, and a deployment
/// followed from it, is marked seen in the table by one conditional write, so
/// exactly one replica reports it; a mark past its TTL counts as absent.
#[tokio::test]
async fn an_event_is_taken_by_one_replica_whichever_gets_it() {
    use dockhand::ops::Store;
    let w = world().await;
    let config =
        dockhand::config::Config::parse("replica.toml", CONFIG, &|_| None, dockhand::verbs::NAMES)
            .unwrap();
    let replica = || {
        let (config, w) = (&config, &w);
        async move {
            dockhand::ops::aws::AwsOps::from_sdk_config(
                config,
                w.account.sdk().await,
                Some(w.account.id.clone()),
            )
        }
    };
    let (a, b) = (replica().await, replica().await);
    let (first_a, first_b) = tokio::join!(a.first_seen("event/e-1"), b.first_seen("event/e-1"));
    let (first_a, first_b) = (first_a.unwrap(), first_b.unwrap());
    assert!(
        first_a != first_b,
        "exactly one takes it: {first_a} {first_b}"
    );
    assert!(!a.first_seen("event/e-1").await.unwrap(), "and not again");
    assert!(
        b.first_seen("deployment/worker/ecs-svc/1").await.unwrap(),
        "another key is its own"
    );

    // DynamoDB deletes expired items only eventually: a mark past `expires` is no mark.
    expire(&w, "seen", "event/e-1").await;
    assert!(b.first_seen("event/e-1").await.unwrap());
}

/// Sets an item's `expires` to a second ago: what the clock does to a lease.
async fn expire(w: &World, pk: &str, sk: &str) {
    w.dynamodb()
        .await
        .update_item()
        .table_name("dockhand-state")
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .update_expression("SET expires = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((dockhand::ops::now() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
}

/// A replica killed in the middle of a deploy: once its claim lapses, another
/// replica resumes the watch from the operation's record and reports the
/// verdict where the deploy was asked.
#[tokio::test]
async fn a_replica_that_dies_mid_deploy_is_taken_over_and_its_verdict_reported() {
    let w = world().await;
    w.account.rollout_seconds(3.0);
    let mut a = w.bot(CONFIG).await;
    let mut b = w.bot(CONFIG).await;

    assert_eq!(a.send("!deploy worker v42"), None);
    // It dies once the rollout is under way: the watch ends without its
    // verdict, and the claim is not given up.
    for _ in 0..200 {
        if w.account.count("UpdateService") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    a.dispatcher.shutdown_token().cancel();
    let out = a.finish().await;
    assert!(out.contains("stopped watching"), "{out}");
    assert!(!out.contains("is live"), "{out}");

    // While the claim holds, nobody takes over (the replica may only be slow).
    b.adopt();
    assert!(
        b.finish().await.is_empty(),
        "nothing adopted within the lease"
    );
    // Its lease runs out (60 s on the clock; here the item's `expires`).
    expire(&w, "hold", "worker").await;
    b.adopt();
    let out = b.finish().await;
    assert!(
        out.contains(
            "Watching `deploy worker v42` again: the dockhand replica that watched it stopped."
        ) && out.contains("worker v42 is live: 2/2 tasks on worker:2"),
        "the other replica reports the verdict:\n{out}"
    );
}

/// A replica that dies before its deploy reached ECS leaves a record of it
/// and the old revision running: whoever resumes the watch must not call that
/// revision the deploy's (a false green); it says the deploy did not happen.
#[tokio::test]
async fn a_deploy_cut_off_before_it_reached_ecs_is_not_called_live_when_resumed() {
    let w = world().await;
    let mut a = w.bot(CONFIG).await;
    let mut b = w.bot(CONFIG).await;
    assert_eq!(a.send("!deploy worker v42"), None);
    a.until(|o| o.contains("Deploying worker v42")).await;
    a.dispatcher.shutdown_token().cancel();
    a.finish().await;
    w.dynamodb()
        .await
        .delete_item()
        .table_name("dockhand-state")
        .key("pk", AttributeValue::S("hold".into()))
        .key("sk", AttributeValue::S("worker".into()))
        .send()
        .await
        .unwrap();
    b.recover();
    let out = b.finish().await;
    assert!(
        !out.contains("worker v42 is live: 2/2 tasks on worker:1"),
        "the old revision called the deploy:\n{out}"
    );
    if w.account.count("UpdateService") == 0 {
        assert!(
            out.contains("worker still runs its previous version (worker:1): the deploy of v42 did not reach ECS"),
            "{out}"
        );
    } else {
        assert!(
            out.contains("worker v42 is live: 2/2 tasks on worker:2"),
            "{out}"
        );
    }
}

/// A replica that is alive but lost its claim (it could not renew in time,
/// and another replica adopted the operation) is fenced at its next renewal:
/// it stops watching and says who reports, and exactly one verdict is posted.
#[tokio::test]
async fn a_replica_whose_claim_was_taken_over_stops_watching_and_one_verdict_is_posted() {
    let w = world().await;
    // Long enough that the first replica renews (every 20 s) mid-rollout.
    w.account.rollout_seconds(24.0);
    let mut a = w.bot(CONFIG).await;
    let mut b = w.bot(CONFIG).await;

    assert_eq!(a.send("!deploy worker v42"), None);
    for _ in 0..200 {
        if w.account.count("UpdateService") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Its claim lapses while it still watches; the other adopts the deploy.
    expire(&w, "hold", "worker").await;
    b.adopt();
    let (out_a, out_b) = tokio::join!(a.finish(), b.finish());
    assert!(
        out_a.contains(
            "worker v42: another dockhand replica watches it now (this one could not renew its claim in time); its verdict follows here."
        ) && !out_a.contains("is live"),
        "the first is fenced:\n{out_a}"
    );
    assert!(
        out_b.contains("Watching `deploy worker v42` again")
            && out_b.contains("worker v42 is live: 2/2 tasks on worker:2"),
        "the adopter reports the verdict:\n{out_b}"
    );
}

/// Locks live in the shared table: two people locking one app through two
/// replicas at once, one lock is taken and the other is told whose it is; a
/// deploy through either replica is refused while it holds; unlocked, the
/// app moves again. Nothing is written to the service's tags.
#[tokio::test]
async fn a_lock_taken_through_one_replica_holds_on_every_replica() {
    let w = world().await;
    let config = CONFIG.replace(
        "verbs = [\"deploy\"]",
        "verbs = [\"deploy\", \"lock\", \"unlock\"]",
    );
    let mut a = w.bot(&config).await;
    let mut b = w.bot(&config).await;

    let (out_a, out_b) = tokio::join!(
        a.ask("!lock worker release freeze"),
        b.ask_as("bob", "!lock worker db migration")
    );
    let locked = |o: &str| o.contains("worker is locked: ");
    assert!(
        locked(&out_a) != locked(&out_b),
        "one lock taken:\n{out_a}\n---\n{out_b}"
    );
    let (holder, other) = if locked(&out_a) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let out = other.ask_as("carol", "!deploy worker v42").await;
    assert!(out.contains("worker is locked by"), "{out}");
    let out = holder.ask_as("carol", "!deploy worker v42").await;
    assert!(out.contains("worker is locked by"), "{out}");

    let who = if locked(&out_a) { "alice" } else { "bob" };
    let out = other.ask_as(who, "!unlock worker").await;
    assert!(out.contains("worker is unlocked (locked by"), "{out}");
    let out = holder.ask_as("carol", "!deploy worker v42").await;
    assert!(out.contains("worker v42 is live"), "{out}");
    // The one tag written is the deploy's attribution on its revision; the
    // lock and the operation's record went to the table.
    assert_eq!(
        (
            w.account.count("TagResource"),
            w.account.count("UntagResource")
        ),
        (1, 0),
        "{:?}",
        w.account.calls()
    );
}
