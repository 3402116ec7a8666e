//! `logs` end to end: the task definition's awslogs options, FilterLogEvents
//! against the emulator's CloudWatch Logs, masking, and the answers when logs
//! cannot be read. Lines are written with PutLogEvents, so each test knows them.

use crate::support;

use serde_json::json;
use support::{SECRETS, World};

const CONFIG: &str = r#"
[aws]
region = "us-east-1"
max_attempts = 1

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

const GROUP: &str = "/dockhand/worker";

fn now_ms() -> i64 {
    dockhand::ops::now() * 1000
}

/// worker with two tasks, each with its stream in /dockhand/worker.
async fn worker_with_streams() -> (World, Vec<String>) {
    let w = World::new().await;
    w.worker(2).await;
    let tasks = w.task_ids("apps", "worker").await;
    assert_eq!(tasks.len(), 2);
    (w, tasks)
}

#[tokio::test]
async fn the_newest_lines_come_masked_and_clean_newest_last() {
    let (w, tasks) = worker_with_streams().await;
    let t = now_ms();
    let key = format!("AKIA{}", "IOSFODNN7EXAMPLE");
    let token_line = format!("calling billing with token {}", SECRETS[3]);
    let key_line = format!("s3 client with {key}");
    w.log(
        GROUP,
        &format!("worker/worker/{}", tasks[0]),
        &[
            (t - 7_200_000, "an old line from two hours ago"),
            (t - 5_000, "\u{1b}[32mINFO\u{1b}[0m Starting worker v41"),
            (t - 4_000, &token_line),
            (t - 3_000, "db at postgres://app:hunter2@db:5432/ledger"),
        ],
    )
    .await;
    w.log(
        GROUP,
        &format!("worker/worker/{}", tasks[1]),
        &[
            (t - 2_000, &key_line),
            (t - 1_000, "ERROR upstream timed out"),
        ],
    )
    .await;
    let mut bot = w.bot(CONFIG).await;

    let out = bot.ask("!logs worker").await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("worker: 5 lines from /dockhand/worker since "),
        "{out}"
    );
    assert!(
        lines.last().unwrap().ends_with("ERROR upstream timed out"),
        "newest last:\n{out}"
    );
    assert!(
        !out.contains("two hours ago"),
        "outside the default hour:\n{out}"
    );
    assert!(
        out.contains("INFO Starting worker v41") && !out.contains('\u{1b}'),
        "{out}"
    );
    assert!(
        out.contains("token ****") && out.contains("postgres://app:****@db"),
        "{out}"
    );
    assert!(
        !out.contains(&key) && out.contains("s3 client with ****"),
        "{out}"
    );
    assert!(
        out.contains(&tasks[0][..6]),
        "lines of two tasks name theirs:\n{out}"
    );

    let out = bot.ask("!logs worker 2 --since 3h").await;
    assert!(
        out.starts_with("worker: 2 lines from /dockhand/worker")
            && out.contains("(4 earlier not shown"),
        "{out}"
    );

    // Options in any order; one task's lines; a filter pattern.
    let out = bot
        .ask(&format!(
            "!logs worker --grep ERROR --task {}",
            &tasks[1][..8]
        ))
        .await;
    assert!(
        out.contains("matching `ERROR`") && out.contains(&format!("task {}", &tasks[1][..6])),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");

    let out = bot
        .ask("!logs worker --since 2d --grep \"nothing like this\"")
        .await;
    assert!(
        out.starts_with("No log lines for worker in /dockhand/worker since"),
        "{out}"
    );
}

#[tokio::test]
async fn bad_options_are_answered_before_any_call() {
    let w = World::new().await;
    w.worker(1).await;
    let mut bot = w.bot(CONFIG).await;
    let filters = || {
        w.account
            .calls()
            .iter()
            .filter(|c| *c == "FilterLogEvents")
            .count()
    };
    let before = filters();
    for (asked, said) in [
        ("!logs worker --since yesterday", "is not a valid time"),
        ("!logs worker 500", "from 1 to 100"),
        (
            "!logs worker --grep '{ $.level = 1'",
            "brackets do not pair up",
        ),
        ("!logs worker --task xyz", "is not a valid task id"),
    ] {
        let out = bot.ask(asked).await;
        assert!(out.contains(said), "{asked}: {out}");
    }
    assert_eq!(filters(), before, "no call was made");
}

#[tokio::test]
async fn logs_that_cannot_be_read_say_why_and_what_to_do() {
    let w = World::new().await;
    w.worker(1).await;
    let mut bot = w.bot(CONFIG).await;

    // The group the task definition names was never created.
    let out = bot.ask("!logs worker").await;
    assert!(
        out.contains("Log group /dockhand/worker does not exist"),
        "{out}"
    );

    w.log_group(GROUP).await;
    w.account.fault(json!({
        "kind": "error", "service": "logs", "operation": "FilterLogEvents", "status": 400,
        "code": "AccessDeniedException",
        "message": "User: arn:aws:sts::1:assumed-role/dockhand is not authorized to perform: logs:FilterLogEvents",
    }));
    let out = bot.ask("!logs worker").await;
    assert!(out.contains("AWS denied `logs:FilterLogEvents`"), "{out}");

    // Another driver, and none at all.
    for (driver, said) in [
        (
            Some("splunk"),
            "logs through the splunk driver; dockhand reads CloudWatch Logs",
        ),
        (None, "has no log configuration"),
    ] {
        use aws_sdk_ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
        let mut c = ContainerDefinition::builder()
            .name("worker")
            .image("public.ecr.aws/example/worker:v41")
            .memory(256)
            .essential(true);
        if let Some(d) = driver {
            c = c.log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::from(d))
                    .build()
                    .unwrap(),
            );
        }
        let td = w
            .ecs
            .register_task_definition()
            .family("worker")
            .container_definitions(c.build())
            .send()
            .await
            .unwrap();
        w.ecs
            .update_service()
            .cluster("apps")
            .service("worker")
            .task_definition(td.task_definition().unwrap().task_definition_arn().unwrap())
            .send()
            .await
            .unwrap();
        let out = bot.ask("!logs worker").await;
        assert!(out.contains(said), "{driver:?}: {out}");
    }
}

/// A deploy whose tasks crash brings the last task's lines into its thread,
/// with its exit code and reason: the reason is on screen without `!logs`.
#[tokio::test]
async fn a_failed_deploy_shows_what_its_last_task_logged() {
    let w = World::new().await;
    w.log_group(GROUP).await;
    w.worker(2).await;
    w.account
        .fault(json!({"kind": "rollout_fails", "service": "worker"}));
    let mut bot = w.bot(CONFIG).await;

    let out = bot.ask("!deploy worker v42").await;
    assert!(out.contains("FAILED"), "{out}");
    let at = out
        .find("stopped (exit code 1: ")
        .unwrap_or_else(|| panic!("{out}"));
    let evidence = &out[at..];
    assert!(
        evidence.contains("Its last lines, from /dockhand/worker:"),
        "{out}"
    );
    assert!(
        evidence.contains("Starting public.ecr.aws/example/worker:v42")
            && evidence.contains("Error: Essential container in task exited"),
        "the failing task's own lines, not the old tasks':\n{out}"
    );
    assert!(!evidence.contains("worker:v41"), "{out}");
}

/// `logs --follow` against the emulator: Live Tail's session brings the lines
/// written after it began, masked, into one message; `logs stop` ends it.
#[tokio::test]
async fn a_follow_tails_new_lines_live_until_stopped() {
    let (w, tasks) = worker_with_streams().await;
    w.log_group(GROUP).await;
    let stream = format!("worker/worker/{}", tasks[0]);
    w.log(GROUP, &stream, &[(now_ms() - 2_000, "before the tail")])
        .await;
    let mut bot = w.bot(CONFIG).await;

    assert_eq!(bot.send("!logs worker --follow 2m --grep ERROR"), None);
    bot.until(|t| t.contains("Following worker's logs from /dockhand/worker (Live Tail) until"))
        .await;
    let secret_line = format!("ERROR payment failed with token {}", SECRETS[3]);
    w.log(
        GROUP,
        &stream,
        &[
            (now_ms(), "INFO all well"),
            (now_ms(), &secret_line),
            (now_ms(), "ERROR upstream timed out"),
        ],
    )
    .await;
    let out = bot.until(|t| t.contains("ERROR upstream timed out")).await;
    assert!(out.contains("token ****"), "masked:\n{out}");
    assert!(
        !out.contains("before the tail") && !out.contains("all well"),
        "only new lines that match:\n{out}"
    );
    assert_eq!(
        bot.send("!logs stop worker").unwrap(),
        "Stopped following worker's logs.\n"
    );
    let out = bot.until(|t| t.contains("Followed worker's logs")).await;
    assert!(out.contains("(stopped by @alice): 2 lines"), "{out}");
    assert!(
        w.account
            .calls()
            .iter()
            .filter(|c| *c == "StartLiveTail")
            .count()
            == 1
            && !w.account.calls().iter().any(|c| c == "FilterLogEvents"),
        "one Live Tail session, no polling: {:?}",
        w.account.calls()
    );
    bot.finish().await;
}

/// Where Live Tail is refused (here: the role may not start a session), the
/// tail polls FilterLogEvents instead, and says so.
#[tokio::test]
async fn a_follow_polls_where_live_tail_is_refused() {
    let (w, tasks) = worker_with_streams().await;
    w.log_group(GROUP).await;
    w.account.fault(json!({
        "kind": "error", "service": "logs", "operation": "StartLiveTail", "status": 400,
        "code": "AccessDeniedException",
        "message": "User: arn:aws:sts::1:assumed-role/dockhand is not authorized to perform: logs:StartLiveTail",
    }));
    let mut bot = w.bot(CONFIG).await;
    assert_eq!(
        bot.send(&format!("!logs worker --follow --task {}", &tasks[1][..6])),
        None
    );
    bot.until(|t| t.contains("(polled each second) until"))
        .await;
    w.log(
        GROUP,
        &format!("worker/worker/{}", tasks[0]),
        &[(now_ms(), "from the other task")],
    )
    .await;
    w.log(
        GROUP,
        &format!("worker/worker/{}", tasks[1]),
        &[(now_ms(), "polled line one"), (now_ms(), "polled line two")],
    )
    .await;
    let out = bot.until(|t| t.contains("polled line two")).await;
    assert!(!out.contains("from the other task"), "{out}");
    assert_eq!(
        bot.send("!logs stop worker").unwrap(),
        "Stopped following worker's logs.\n"
    );
    let out = bot.until(|t| t.contains("Followed worker's logs")).await;
    // Each line once, though every poll reads the last seconds again.
    assert!(out.contains("): 2 lines"), "each line counted once:\n{out}");
    bot.finish().await;
}

/// When CloudWatch ends the Live Tail session (AWS: after three hours; here
/// after two seconds), the tail ends and says why.
#[tokio::test]
async fn a_follow_that_cloudwatch_ends_says_so() {
    let w = World::new().await;
    w.worker(1).await;
    w.log_group(GROUP).await;
    w.account.control(
        "POST",
        "/_dockhand/config",
        Some(json!({ "live_tail_seconds": 2 })),
    );
    let mut bot = w.bot(CONFIG).await;
    assert_eq!(bot.send("!logs worker --follow"), None);
    let out = bot.until(|t| t.contains("Followed worker's logs")).await;
    assert!(
        out.contains("(CloudWatch Logs ended the Live Tail session at its time limit): 0 lines.\n"),
        "{out}"
    );
    bot.finish().await;
}

/// More lines than one message holds: the message shows the newest, and every
/// line read goes in a file beside it (the shell prints the file after).
#[tokio::test]
async fn a_long_answer_comes_with_every_line_in_a_file() {
    let w = World::new().await;
    w.long_log(60).await;
    let mut bot = w.bot(CONFIG).await;
    let out = bot.ask("!logs worker 60").await;
    let (message, file) = out
        .split_once("--- worker-logs.txt ---\n")
        .unwrap_or_else(|| panic!("no file:\n{out}"));
    assert!(
        message.contains("(all 60 in worker-logs.txt):"),
        "{message}"
    );
    assert!(
        message.contains("line 59") && !message.contains("line 00"),
        "{message}"
    );
    assert_eq!(file.lines().count(), 60, "{file}");
    assert!(file.lines().next().unwrap().contains("line 00"), "{file}");
}
