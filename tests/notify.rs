//! Notifications end to end: an AWS API call from outside dockhand, the event the
//! emulator emits for it, the EventBridge rule, the SQS queue, the consumer,
//! dispatch's decision, the reply. Each test runs in its own emulator account,
//! with its own queue and rule created through CloudFormation.

use crate::support;

use dockhand::dispatch::Click;
use serde_json::json;
use support::World;

fn config(queue: &str, send: &str) -> String {
    format!(
        r#"
[aws]
region = "us-east-1"
max_attempts = 1

[watch]
poll_seconds = 0.1

[environments.prod]

[apps.worker]
environment = "prod"
cluster = "apps"
service = "worker"
container = "worker"
alarms = ["worker-5xx"]

[notifications]
queue = "{queue}"
channel = "shell:ops"
send = "{send}"

[roles]
deployers = ["shell:alice", "shell:bob"]

[[rules]]
name = "deployers"
verbs = ["deploy", "rollback", "continue", "scale", "cancel", "lock", "unlock", "mute", "unmute"]
roles = ["deployers"]
"#
    )
}

/// Deploys `image` to worker the way a pipeline would: a new revision, then
/// UpdateService, straight through the AWS API.
async fn deploy_outside(w: &World, image: &str) {
    let arn = w.revision("worker", image).await;
    w.ecs
        .update_service()
        .cluster("apps")
        .service("worker")
        .task_definition(arn)
        .send()
        .await
        .expect("update service");
}

/// How many messages were posted that say `what`: the shell prints an edit again
/// after `~ `, and a thread line after `└ `; only first posts count.
fn count(out: &str, what: &str) -> usize {
    out.lines()
        .filter(|l| !l.starts_with(' ') && l.contains(what))
        .count()
}

#[tokio::test]
async fn a_deploy_started_elsewhere_is_one_message_edited_to_its_verdict_and_ours_is_not_announced()
{
    let w = World::new().await;
    w.worker(2).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "everything")).await;
    let listening = bot.listen(&queue);

    deploy_outside(&w, "public.ecr.aws/example/worker:v42").await;
    let out = bot.until(|o| o.contains("worker v42 is live")).await;
    assert_eq!(
        count(&out, "worker v42 is being deployed to prod by"),
        1,
        "announced once:\n{out}"
    );
    assert!(out.contains("outside dockhand"), "{out}");

    // A deploy dockhand runs itself reports in its own thread, and only there.
    // prod asks for no confirmation here: the deploy starts at once.
    assert_eq!(bot.send("!deploy worker v43"), None, "started");
    let out = bot.finish().await;
    assert!(out.contains("worker v43 is live"), "{out}");
    assert_eq!(
        count(&out, "is being deployed"),
        0,
        "not announced again:\n{out}"
    );
    // The last events (the steady state) arrive after the verdict: wait for the
    // consumer to handle them before stopping it.
    for _ in 0..100 {
        if w.queued(&queue).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    listening.stopped().await;
    assert_eq!(
        w.queued(&queue).await,
        0,
        "every event was handled and deleted"
    );
}

#[tokio::test]
async fn a_crash_loop_is_one_message_that_grows_and_the_failed_deploy_its_verdict() {
    let w = World::new().await;
    w.worker(2).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "failures")).await;
    let listening = bot.listen(&queue);
    w.account
        .fault(json!({"kind": "rollout_fails", "service": "worker"}));

    deploy_outside(&w, "public.ecr.aws/example/worker:v42").await;
    let out = bot.until(|o| o.contains("FAILED")).await;
    // Failures only: the deploy is not announced until it fails.
    assert_eq!(count(&out, "is being deployed"), 1, "{out}");
    let firsts = out
        .lines()
        .filter(|l| l.starts_with("worker: ") && l.contains("stopped"))
        .count();
    assert_eq!(
        firsts, 1,
        "one message for the stopped tasks, then edits:\n{out}"
    );
    assert!(out.contains("exit code"), "{out}");
    listening.stopped().await;
}

/// A pipeline's deploy whose breaker stops it without a rollback leaves the
/// failed version running: its message offers [Roll back], and the click runs
/// `rollback worker` as bob typed it, back to the last version that worked.
#[tokio::test]
async fn a_deploy_elsewhere_that_failed_and_stayed_offers_a_rollback_that_works() {
    use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration};
    let w = World::new().await;
    w.worker(2).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "everything")).await;
    let listening = bot.listen(&queue);
    w.account
        .fault(json!({"kind": "rollout_fails", "service": "worker"}));

    let arn = w
        .revision("worker", "public.ecr.aws/example/worker:v42")
        .await;
    let no_rollback = DeploymentCircuitBreaker::builder()
        .enable(true)
        .rollback(false)
        .build();
    w.ecs
        .update_service()
        .cluster("apps")
        .service("worker")
        .task_definition(&arn)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .deployment_circuit_breaker(no_rollback)
                .build(),
        )
        .send()
        .await
        .expect("update service");
    let out = bot.until(|o| o.contains("FAILED")).await;
    assert_eq!(w.deployment_status("apps", "worker").await, "STOPPED");
    assert!(
        out.contains("without a rollback") && out.contains("[Roll back: rollback worker]"),
        "{out}"
    );
    assert_eq!(w.primary("apps", "worker").await, arn, "v42 stays in place");

    match bot.click_as("bob", "rollback worker") {
        Click::Settled(note) => assert!(note.contains("asked by bob"), "{note}"),
        other => panic!("bob's click was refused: {other:?}"),
    }
    let out = bot.until(|o| o.contains("is live")).await;
    assert!(out.contains("Rolling back worker"), "{out}");
    assert_eq!(
        w.image_of(&w.primary("apps", "worker").await).await,
        "public.ecr.aws/example/worker:v41"
    );
    listening.stopped().await;
}

#[tokio::test]
async fn unreadable_and_foreign_messages_are_dropped_and_a_missing_queue_is_not_ready() {
    let w = World::new().await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "everything")).await;
    let sqs = w.sqs().await;
    for body in [
        "not json",
        r#"{"id": "1", "source": "aws.s3", "detail-type": "Object Created", "detail": {}}"#,
        r#"{"id": "2", "source": "aws.ecs", "detail-type": "ECS Deployment State Change", "detail": {}}"#,
        r#"{"id": "3", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "time": "2026-12-03T03:12:00Z", "region": "us-east-1", "resources": [], "detail": {"alarmName": "worker-5xx", "state": {"value": "ALARM", "reason": "Threshold Crossed"}, "previousState": {"value": "OK"}}}"#,
        r#"{"id": "3", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "time": "2026-12-03T03:12:00Z", "region": "us-east-1", "resources": [], "detail": {"alarmName": "worker-5xx", "state": {"value": "ALARM", "reason": "Threshold Crossed"}, "previousState": {"value": "OK"}}}"#,
    ] {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let listening = bot.listen(&queue);
    let out = bot
        .until(|o| o.contains("alarm `worker-5xx` is in ALARM"))
        .await;
    assert_eq!(
        count(&out, "worker-5xx"),
        1,
        "the repeat is not said twice:\n{out}"
    );
    // The consumer deletes what it handled; wait for it by the queue emptying.
    for _ in 0..100 {
        if w.queued(&queue).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(w.queued(&queue).await, 0);
    assert_eq!(listening.health.failing_source(), None);

    sqs.delete_queue()
        .queue_url(&queue)
        .send()
        .await
        .expect("delete queue");
    for _ in 0..100 {
        if listening.health.failing_source().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listening.health.failing_source(), Some("notifications"));
    listening.stopped().await;
}

#[tokio::test]
async fn a_muted_app_is_silent_and_says_who_muted_it() {
    let w = World::new().await;
    w.worker(2).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "everything")).await;
    let listening = bot.listen(&queue);
    let muted = bot
        .send("!mute worker 2h noisy during the migration")
        .unwrap();
    assert!(muted.contains("muted until"), "{muted}");
    let shown = bot.send("!notifications").unwrap();
    assert!(shown.contains("worker (prod): everything"), "{shown}");
    assert!(
        shown.contains("worker is muted until")
            && shown.contains("by alice (shell:alice): noisy during the migration"),
        "{shown}"
    );
    // People allowed by a rule only.
    let refused = bot.send_as("mallory", "!unmute worker").unwrap_or_default();
    assert!(!refused.contains("go out again"), "{refused}");

    deploy_outside(&w, "public.ecr.aws/example/worker:v42").await;
    // Muted: the events are handled (deleted) and nothing is said.
    for _ in 0..200 {
        if w.queued(&queue).await == 0
            && w.deployment_status("apps", "worker").await == "SUCCESSFUL"
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let unmuted = bot.send("!unmute worker").unwrap();
    assert!(unmuted.contains("go out again"), "{unmuted}");
    deploy_outside(&w, "public.ecr.aws/example/worker:v43").await;
    let out = bot.until(|o| o.contains("worker v43 is live")).await;
    assert!(!out.contains("v42"), "nothing was said while muted:\n{out}");
    listening.stopped().await;
}

/// Confirms, as `who`, the prompt in `text` (its `confirm CODE`): the operation starts.
fn confirm_as(bot: &support::Bot, who: &str, text: &str) {
    let code: String = text
        .split("confirm ")
        .nth(1)
        .expect("a confirmation code")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert_eq!(
        bot.send_as(who, &format!("!confirm {code}")),
        None,
        "started"
    );
}

/// The same, where prod needs two people for a change.
fn two_person(queue: &str) -> String {
    config(queue, "everything").replace(
        "[environments.prod]",
        "[environments.prod]\ntwo_person = true",
    )
}

#[tokio::test]
async fn a_deployment_paused_at_a_hook_is_continued_from_its_button_by_someone_allowed() {
    let w = World::new().await;
    w.worker(2).await;
    w.pause_after_scale_up("apps", "worker", 600).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&config(&queue, "everything")).await;
    let listening = bot.listen(&queue);

    deploy_outside(&w, "public.ecr.aws/example/worker:v42").await;
    let out = bot
        .until(|o| o.contains("[Continue: continue worker]"))
        .await;
    assert!(
        out.contains("waiting for a decision; if nobody decides by")
            && out.contains("ECS rolls it back")
            && out.contains("[Roll back: rollback worker]"),
        "{out}"
    );
    // Not allowed by a rule: told alone, and the buttons stay for others.
    match bot.click_as("mallory", "continue worker") {
        Click::Refused(why) => assert!(why.contains("continue"), "{why}"),
        other => panic!("mallory's click went through: {other:?}"),
    }
    assert_eq!(w.deployment_status("apps", "worker").await, "IN_PROGRESS");
    match bot.click_as("bob", "continue worker") {
        Click::Settled(note) => assert!(note.contains("by bob"), "{note}"),
        other => panic!("bob's click was refused: {other:?}"),
    }
    let out = bot.until(|o| o.contains("worker v42 is live")).await;
    assert!(
        out.contains("Continued by @bob")
            && out.contains("goes on past its lifecycle hook in POST_SCALE_UP"),
        "{out}"
    );
    assert_eq!(
        count(&out, "is live"),
        0,
        "the verdict edits the deployment's own message:\n{out}"
    );
    assert_eq!(w.deployment_status("apps", "worker").await, "SUCCESSFUL");
    listening.stopped().await;
}

#[tokio::test]
async fn a_paused_chat_deploy_offers_the_decision_in_its_thread_and_its_deployer_may_not_take_it() {
    let w = World::new().await;
    w.worker(2).await;
    w.pause_after_scale_up("apps", "worker", 600).await;
    let (queue, _) = w.events_queue().await;
    let mut bot = w.bot(&two_person(&queue)).await;
    let listening = bot.listen(&queue);

    // Two people in prod: alice asks, bob confirms.
    // The prompt shows the plan, read from AWS: it comes as a message.
    let prompt = match bot.send("!deploy worker v42") {
        Some(reply) => reply,
        None => bot.until(|o| o.contains("confirm ")).await,
    };
    confirm_as(&bot, "bob", &prompt);
    let out = bot
        .until(|o| o.contains("[Continue: continue worker]"))
        .await;
    assert!(
        out.lines()
            .any(|l| l.starts_with("  └ ")
                && l.contains("Paused at a lifecycle hook in POST_SCALE_UP")),
        "in the deploy's thread:\n{out}"
    );
    assert!(
        !out.contains("its deployment is paused"),
        "not announced apart:\n{out}"
    );
    // The deployer cannot approve their own deployment here.
    match bot.click_as("alice", "continue worker") {
        Click::Settled(_) => {}
        other => panic!("{other:?}"),
    }
    let out = bot.until(|o| o.contains("someone else must decide")).await;
    assert!(out.contains("Nothing was changed"), "{out}");
    assert_eq!(w.deployment_status("apps", "worker").await, "IN_PROGRESS");
    // [Roll back] by bob: a change in prod, so a second person confirms it.
    let rolled = match bot.click_as("bob", "rollback worker") {
        Click::Settled(note) => note,
        other => panic!("{other:?}"),
    };
    assert!(rolled.contains("asked by bob"), "{rolled}");
    let out = bot.until(|o| o.contains("confirm ")).await;
    confirm_as(&bot, "alice", &out);
    let out = bot.finish().await;
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_SUCCESSFUL"
    );
    listening.stopped().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_stream_loses_nothing_and_says_nothing_twice() {
    let w = World::new().await;
    w.worker(2).await;
    w.account.rollout_seconds(3.0);
    let (queue, _) = w.events_queue().await;
    let cfg = config(&queue, "everything");
    let mut first = w.bot(&cfg).await;
    let listening = first.listen(&queue);
    deploy_outside(&w, "public.ecr.aws/example/worker:v42").await;
    let said = first
        .until(|o| o.contains("worker v42 is being deployed"))
        .await;
    // Stopped as SIGTERM stops it, mid-rollout: the consumer first (what it
    // received and did not finish comes back after the visibility timeout), then
    // the operation it followed (recorded on the service).
    listening.stopped().await;
    first.dispatcher.shutdown_token().cancel();
    let before = said + &first.finish().await;
    assert!(!before.contains("is live"), "{before}");

    let mut second = w.bot(&cfg).await;
    second.recover();
    let listening = second.listen(&queue);
    let after = second.until(|o| o.contains("worker v42 is live")).await;
    for _ in 0..100 {
        if w.queued(&queue).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    listening.stopped().await;
    let after = after + &second.finish().await;
    let all = format!("{before}{after}");
    assert_eq!(
        count(&all, "is being deployed"),
        1,
        "announced once:\n{all}"
    );
    assert_eq!(
        after.matches("worker v42 is live").count(),
        1,
        "one verdict:\n{after}"
    );
    assert_eq!(w.queued(&queue).await, 0, "nothing left behind");
}

#[tokio::test]
async fn a_queue_dockhand_may_not_read_makes_it_not_ready_until_it_may_again() {
    let w = World::new().await;
    let (queue, _) = w.events_queue().await;
    w.account.fault(json!({
        "kind": "error", "service": "sqs", "operation": "ReceiveMessage", "status": 403,
        "code": "AccessDenied",
        "message": "User: arn:aws:sts::1:assumed-role/dockhand is not authorized to perform: sqs:receivemessage",
    }));
    let bot = w.bot(&config(&queue, "everything")).await;
    let listening = bot.listen(&queue);
    for _ in 0..100 {
        if listening.health.failing_source().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listening.health.failing_source(), Some("notifications"));
    // The operator reads in the log what is denied and what to allow.
    let said = support::logs()
        .lines()
        .find(|l| {
            l.contains("cannot read the queue") && l.contains("AWS denied `sqs:ReceiveMessage`")
        })
        .map(str::to_string);
    assert!(
        said.as_deref()
            .is_some_and(|l| l.contains(r#""level":"ERROR""#)),
        "{said:?}"
    );
    // The fault answered once: the next receive (a second later) works again.
    for _ in 0..100 {
        if listening.health.failing_source().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listening.health.failing_source(), None, "ready again");
    listening.stopped().await;
}
