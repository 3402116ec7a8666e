//! Notifications against the real chain and the local emulator: SQS (long polled),
//! the consumer, dispatch, the outbound reply. Run through `make bench`:
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --quiet --example notify_bench
//! ```
//!
//! Prints: from a message's SendMessage to its post, the median and p99 over 200
//! events sent one at a time; a burst of 1,000 events sent as fast as the queue
//! takes them (time until the queue is empty, how many messages they became, peak
//! memory); and the SQS calls per minute of an idle consumer.

#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's AWS part only
mod support;

use std::time::{Duration, Instant};

use dockhand::message::Placement;

/// An `ECS Task State Change` of a worker task that crashed (exit code 137).
fn stopped(n: usize) -> String {
    let arn = "arn:aws:ecs:us-east-1:123456789012";
    serde_json::json!({
        "version": "0", "id": format!("bench-{n}"), "detail-type": "ECS Task State Change",
        "source": "aws.ecs", "account": "123456789012", "time": "2026-12-04T03:12:00Z",
        "region": "us-east-1", "resources": [format!("{arn}:task/apps/{n:032x}")],
        "detail": {
            "clusterArn": format!("{arn}:cluster/apps"), "taskArn": format!("{arn}:task/apps/{n:032x}"),
            "taskDefinitionArn": format!("{arn}:task-definition/worker:1"), "group": "service:worker",
            "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "worker", "exitCode": 137, "reason": "OutOfMemoryError: Container killed"}]
        }
    })
    .to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let w = support::World::new().await;
    w.worker(1).await;
    let (queue, _) = w.events_queue().await;
    let config = format!(
        "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n\
         [apps.worker]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"worker\"\ncontainer = \"worker\"\n\
         [notifications]\nqueue = \"{queue}\"\nchannel = \"shell:ops\"\nsend = \"everything\"\nper_hour = 100000\n"
    );
    let mut bot = w.bot(&config).await;
    let listening = bot.listen(&queue);
    let sqs = w.sqs().await;

    // Latency: one event at a time, each waited for.
    let mut took = Vec::new();
    for n in 0..200 {
        let sent = Instant::now();
        sqs.send_message()
            .queue_url(&queue)
            .message_body(stopped(n))
            .send()
            .await
            .expect("send");
        if bot.recv(Duration::from_secs(30)).await.is_none() {
            panic!("event {n} was not posted within 30 s");
        }
        took.push(sent.elapsed());
    }
    took.sort();
    println!(
        "queue to post, 200 events one at a time: median {:.1} ms, p99 {:.1} ms",
        percentile(&took, 0.5).as_secs_f64() * 1000.0,
        percentile(&took, 0.99).as_secs_f64() * 1000.0
    );

    // A burst of 1,000, sent in batches of 10 as fast as SQS takes them.
    let before_kib = support::proc_kib("VmHWM");
    let started = Instant::now();
    for batch in 0..100 {
        let entries = (0..10).map(|i| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(stopped(10_000 + batch * 10 + i))
                .build()
                .expect("an entry")
        });
        sqs.send_message_batch()
            .queue_url(&queue)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .expect("send batch");
    }
    let sent_in = started.elapsed();
    let (mut new, mut edits) = (0, 0);
    loop {
        while let Some(o) = bot.recv(Duration::from_millis(20)).await {
            match o.reply.placement {
                Placement::New => new += 1,
                _ => edits += 1,
            }
        }
        if w.queued(&queue).await == 0 || started.elapsed() > Duration::from_secs(300) {
            break;
        }
    }
    while let Some(o) = bot.recv(Duration::from_millis(200)).await {
        match o.reply.placement {
            Placement::New => new += 1,
            _ => edits += 1,
        }
    }
    println!(
        "burst of 1,000 events (sent in {:.2} s): queue empty after {:.2} s; {new} new messages, {edits} edits handed to the platform; peak memory {} -> {} KiB",
        sent_in.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        before_kib,
        support::proc_kib("VmHWM")
    );

    // Idle: the SQS calls of a consumer with nothing to read.
    let idle = Duration::from_secs(60);
    let before = w
        .account
        .calls()
        .iter()
        .filter(|c| *c == "ReceiveMessage")
        .count();
    tokio::time::sleep(idle).await;
    let receives = w
        .account
        .calls()
        .iter()
        .filter(|c| *c == "ReceiveMessage")
        .count()
        - before;
    println!(
        "idle for {} s: {receives} ReceiveMessage calls (long poll 20 s)",
        idle.as_secs()
    );
    listening.stopped().await;
}
