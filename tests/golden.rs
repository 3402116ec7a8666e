//! What a person sees, per platform: a fixed set of replies (a status table, a
//! deploy's head message, its progress, a thread post and its verdicts, a
//! confirmation prompt with buttons, a stack's fields, an error) drawn as Slack
//! Block Kit, as a Discord message (content, embeds, components) and as shell
//! lines, against the files in `tests/golden/replies/`.
//!
//! A change in how a reply looks shows up in review as a diff of those files:
//! `UPDATE_GOLDEN=1 cargo test --test tests golden::` rewrites them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dockhand::adapters::discord::embeds;
use dockhand::adapters::shell;
use dockhand::adapters::slack::blocks;
use dockhand::message::{ButtonStyle, MessageId, Reply};
use dockhand::ops::{AppStatus, Event, EventLine, Plan, StackDetail, Verdict};
use dockhand::render;

/// 14:02:00 UTC on 2023-11-14.
const AT: i64 = 1_699_970_520;

/// The deploy's head message, as dispatch numbers it.
const HEAD: MessageId = MessageId(1);

fn head_text() -> String {
    "Deploying hubot v2 (now v1) to prod, asked by alice.".to_string()
}

/// The replies, by golden file name.
fn replies() -> Vec<(&'static str, Reply)> {
    let hubot = AppStatus {
        app: "hubot".into(),
        environment: "prod".into(),
        version: Some("v2".into()),
        running: 2,
        desired: 2,
        pending: 0,
        rollout: "COMPLETED".into(),
        deployed_by: Some("alice".into()),
        deployed_at: Some(AT),
        problem: None,
    };
    let worker = AppStatus {
        app: "worker".into(),
        environment: "staging".into(),
        version: Some("v41".into()),
        running: 1,
        desired: 3,
        pending: 2,
        rollout: "IN_PROGRESS".into(),
        deployed_by: None,
        deployed_at: Some(AT - 300),
        problem: None,
    };
    let plan = Plan {
        current: Some("v1".into()),
        changes: vec![
            "Parameter Version: v1 -> v2".into(),
            "Modify TaskDefinition (replace)".into(),
        ],
    };
    let prompt = format!(
        "`deploy hubot v2` needs a confirmation: prod is a protected environment. You can `!confirm K7Q2` until 14:12 (UTC), or `!abort K7Q2`.\n{}",
        render::plan("hubot", "v2", &plan).text
    );
    let stack = StackDetail {
        name: "hubot".into(),
        status: "UPDATE_COMPLETE".into(),
        reason: None,
        parameters: vec![
            ("Version".into(), "v2".into()),
            ("DesiredCount".into(), "2".into()),
            ("ApiKey".into(), "****".into()),
        ],
        outputs: vec![("Url".into(), "https://hubot.example.com".into())],
        events: vec![
            EventLine {
                at: AT - 60,
                text: "UPDATE_IN_PROGRESS hubot User Initiated".into(),
            },
            EventLine {
                at: AT,
                text: "UPDATE_COMPLETE hubot".into(),
            },
        ],
    };
    let rollout = render::thread_line(&Event::Rollout {
        revision: "hubot:2".into(),
        running: 1,
        desired: 2,
        pending: 1,
        failed: 0,
    })
    .unwrap();
    let service_event = render::thread_line(&Event::ServiceEvent {
        at: AT,
        message: "(service hubot) has reached a steady state.".into(),
    })
    .unwrap();
    let live = Verdict::Live {
        version: Some("v2".into()),
        revision: "hubot:2".into(),
        running: 2,
        desired: 2,
    };
    let failed = Verdict::Failed {
        summary: "the deployment circuit breaker rolled hubot back to hubot:1".into(),
        reason: Some("tasks failed to start.".into()),
        stopped_reason: Some("Essential container in task exited".into()),
        left: dockhand::ops::Left::Restored,
    };
    let log = |at_ms: i64, task: &str, text: &str| dockhand::ops::LogLine {
        at_ms,
        task: task.into(),
        text: text.into(),
    };
    let logs = dockhand::ops::LogPage {
        source: "/dockhand/hubot".into(),
        lines: vec![
            log(
                AT * 1000,
                "0a1b2c3d",
                "Starting public.ecr.aws/example/hubot:v2",
            ),
            log(
                AT * 1000 + 1500,
                "0a1b2c3d",
                "db at postgres://app:****@db:5432/hubot",
            ),
            log(
                AT * 1000 + 2000,
                "9f8e7d6c",
                "ERROR <html> `upstream` timed out & retried",
            ),
        ],
        earlier: 17,
        cut_short: false,
    };
    let logs_query = dockhand::ops::LogQuery {
        lines: 3,
        since_ms: (AT - 900) * 1000,
        grep: None,
        task: None,
    };
    vec![
        (
            "status",
            render::status(&[hubot, worker], &render::Cmd::prefixed("!")),
        ),
        (
            "logs",
            render::logs("hubot", &logs, &logs_query, &render::Cmd::prefixed("!")),
        ),
        (
            "logs-follow",
            render::tail_head(
                &render::TailView {
                    app: "hubot",
                    source: "/dockhand/hubot",
                    lines: &logs
                        .lines
                        .iter()
                        .map(|l| render::log_line(l, true))
                        .collect::<Vec<_>>(),
                    more_in_thread: true,
                },
                true,
                AT + 600,
            )
            .button("Stop", "logs stop hubot", ButtonStyle::Danger)
            .with_id(HEAD),
        ),
        ("deploy-head", Reply::text(head_text()).with_id(HEAD)),
        (
            "deploy-progress",
            Reply::edit(HEAD, format!("{}\n{rollout}", head_text())),
        ),
        ("deploy-thread", Reply::in_thread(HEAD, service_event)),
        (
            "deploy-live",
            Reply::edit(
                HEAD,
                render::verdict(
                    "hubot",
                    "hubot v2",
                    &live,
                    Duration::from_secs(192),
                    &render::Cmd::prefixed("!"),
                ),
            ),
        ),
        (
            "deploy-failed",
            Reply::edit(
                HEAD,
                render::verdict(
                    "hubot",
                    "hubot v2",
                    &failed,
                    Duration::from_secs(75),
                    &render::Cmd::prefixed("!"),
                ),
            ),
        ),
        (
            "confirm",
            Reply::text(prompt)
                .button("Confirm", "confirm K7Q2", ButtonStyle::Primary)
                .button("Abort", "abort K7Q2", ButtonStyle::Danger),
        ),
        ("stack", render::stack(&stack)),
        (
            "error",
            Reply::text("Usage: `!deploy <app> <version> [--plan]` (`!help deploy` for examples)."),
        ),
    ]
}

fn pretty(v: impl serde::Serialize) -> String {
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// Each platform's drawing of one reply: (file suffix, contents).
fn drawn(reply: &Reply) -> [(&'static str, String); 3] {
    let mut text = Vec::new();
    shell::draw(reply, &mut text).unwrap();
    [
        ("slack.json", pretty(blocks::content(reply))),
        ("discord.json", pretty(embeds::draw(reply).post())),
        ("shell.txt", String::from_utf8(text).unwrap()),
    ]
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/replies")
}

#[test]
fn every_platform_draws_the_replies_as_the_golden_files_show() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let dir = dir();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut expected = Vec::new();
    let mut differ = Vec::new();
    for (name, reply) in replies() {
        for (suffix, got) in drawn(&reply) {
            let file = format!("{name}.{suffix}");
            let path = dir.join(&file);
            if update {
                std::fs::write(&path, &got).unwrap();
            }
            let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!("tests/golden/replies/{file} is missing (UPDATE_GOLDEN=1 writes it)")
            });
            if got != want {
                differ.push(format!(
                    "--- {file} (want)\n{want}\n+++ {file} (got)\n{got}"
                ));
            }
            expected.push(file);
        }
    }
    assert!(
        differ.is_empty(),
        "drawn replies differ from tests/golden/replies (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        differ.join("\n")
    );
    // No file is left over from a reply the test no longer draws.
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "files in tests/golden/replies");
}

/// The golden files are only worth reviewing if they show what matters: a few
/// facts each platform must keep, whatever else changes.
#[test]
fn the_golden_replies_keep_what_each_platform_needs() {
    let all = replies();
    let get = |name: &str| &all.iter().find(|(n, _)| *n == name).unwrap().1;

    // Slack: usage lines escaped for mrkdwn, buttons carry their command, a status
    // gets one section per app.
    let error = serde_json::to_value(blocks::content(get("error"))).unwrap();
    assert!(
        error["text"].as_str().unwrap().contains("&lt;app&gt;"),
        "{error}"
    );
    let confirm = serde_json::to_value(blocks::content(get("confirm"))).unwrap();
    let buttons = &confirm["blocks"].as_array().unwrap().last().unwrap()["elements"];
    assert_eq!(buttons[0]["value"], "confirm K7Q2");
    assert_eq!(buttons[1]["style"], "danger");
    let status = serde_json::to_value(blocks::content(get("status"))).unwrap();
    assert_eq!(status["blocks"].as_array().unwrap().len(), 2, "{status}");

    // Discord: a status is an embed of one field per app, and no reply pings anyone.
    let status = serde_json::to_value(embeds::draw(get("status")).post()).unwrap();
    assert_eq!(status["embeds"][0]["fields"].as_array().unwrap().len(), 2);
    for (_, reply) in &all {
        let v = serde_json::to_value(embeds::draw(reply).post()).unwrap();
        assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]), "{v}");
    }

    // Shell: edits and thread posts are marked under their message.
    let mut out = Vec::new();
    shell::draw(get("deploy-live"), &mut out).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .starts_with("  ~ hubot v2 is live")
    );
}
