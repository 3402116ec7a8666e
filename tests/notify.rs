//! Notifications end to end: an AWS API call from outside dockhand, the event the
//! emulator emits for it, the EventBridge rule, the SQS queue, the consumer,
//! dispatch's decision, the reply. Each test runs in its own emulator account,
//! with its own queue and rule created through CloudFormation.

use crate::support;

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
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock", "mute", "unmute"]
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
