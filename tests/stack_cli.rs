//! `dockhand stack up | plan | delete` as a person runs it: the binary, against the
//! local emulator, with the bundled templates (the seeds' two-stack pattern: the
//! service stack filled from the cluster stack's outputs).
//!
//! Run with `make test` (or `scripts/with-emulator.sh cargo test --test tests stack_cli::`).

use crate::support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{Account, World, root};

fn dockhand(account: &Account, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(args)
        .current_dir(root())
        .env("AWS_ENDPOINT_URL", &account.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("DOCKHAND_EMULATOR_ACCOUNT", &account.id)
        .env("DOCKHAND_WATCH_POLL_SECONDS", "0.2")
        .env_remove("DOCKHAND_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn stack_up_creates_fills_from_parents_updates_and_finds_no_changes() {
    let w = World::new().await;
    let a = &w.account;

    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "cluster",
            "--template",
            "deploy/cluster.yaml",
            "--param",
            "ClusterName=apps",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("cluster: CREATE_COMPLETE."),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("CREATE_COMPLETE"),
        "events are shown: {}",
        text(&out)
    );

    // ClusterName and LogGroupName come from the cluster stack's outputs.
    let up = [
        "stack",
        "up",
        "--stack",
        "hubot",
        "--template",
        "deploy/service.yaml",
        "--parent",
        "cluster",
        "--param",
        "ServiceName=hubot",
        "--param",
        "Image=public.ecr.aws/example/hubot",
        "--param",
        "Version=v1",
        "--tag",
        "team=platform",
    ];
    let out = dockhand(a, &up, "");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.stack_parameter("hubot", "ClusterName").await, "apps");
    assert!(
        w.stack_parameter("hubot", "LogGroupName")
            .await
            .contains("apps")
    );
    w.settle("apps", "hubot").await;

    // The same again: no changes is success.
    let out = dockhand(a, &up, "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("hubot: no changes."), "{}", text(&out));

    // A plan shows the change and changes nothing.
    let out = dockhand(
        a,
        &[
            "stack",
            "plan",
            "--stack",
            "hubot",
            "--template",
            "deploy/service.yaml",
            "--param",
            "Version=v2",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Parameter Version: v1 -> v2"),
        "{}",
        text(&out)
    );
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");

    // An update keeps what it is not given (UsePreviousValue).
    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "hubot",
            "--template",
            "deploy/service.yaml",
            "--param",
            "Version=v2",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("hubot: UPDATE_COMPLETE."),
        "{}",
        text(&out)
    );
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v2");
    assert_eq!(w.stack_parameter("hubot", "ServiceName").await, "hubot");

    // The third bundled stack, dockhand's own, from the same cluster's outputs.
    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "dockhand",
            "--template",
            "deploy/dockhand.yaml",
            "--parent",
            "cluster",
            "--param",
            "Image=public.ecr.aws/example/dockhand",
            "--param",
            "Version=v1",
            "--param",
            "SlackSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:dockhand/slack-AbCdEf",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(w.stack_parameter("dockhand", "ClusterName").await, "apps");
    let subnets = w.stack_parameter("dockhand", "SubnetIds").await;
    assert!(subnets.starts_with("subnet-"), "{subnets}");
}

#[tokio::test]
async fn stack_up_lists_every_missing_parameter_and_changes_nothing() {
    let w = World::new().await;
    let a = &w.account;
    a.forget_calls();

    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "hubot",
            "--template",
            "deploy/service.yaml",
            "--param",
            "Version=v1",
        ],
        "",
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains(
            "missing parameters for stack `hubot`: ServiceName, ClusterName, Image, LogGroupName"
        ),
        "{t}"
    );
    assert!(
        !a.calls().iter().any(|c| c == "CreateStack"),
        "{:?}",
        a.calls()
    );

    // A parameter the template does not declare is named, with what it does
    // declare; neither this nor a file that is no template reaches AWS.
    a.forget_calls();
    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "hubot",
            "--template",
            "deploy/service.yaml",
            "--param",
            "Versoin=v1",
        ],
        "",
    );
    assert!(
        text(&out).contains("the template declares no parameter Versoin"),
        "{}",
        text(&out)
    );
    // Not a template at all.
    let out = dockhand(
        a,
        &["stack", "up", "--stack", "x", "--template", "README.md"],
        "",
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("error: the template"), "{}", text(&out));
    assert!(
        a.calls().is_empty(),
        "no AWS call for bad input: {:?}",
        a.calls()
    );
}

#[tokio::test]
async fn stack_delete_asks_first_unless_told_yes() {
    let w = World::new().await;
    let a = &w.account;
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("logs.json");
    std::fs::write(
        &template,
        r#"{"Parameters": {"Name": {"Type": "String"}},
            "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Ref": "Name"}}}}}"#,
    )
    .unwrap();
    let template = template.to_str().unwrap();
    let out = dockhand(
        a,
        &[
            "stack",
            "up",
            "--stack",
            "logs",
            "--template",
            template,
            "--param",
            "Name=/x",
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = dockhand(a, &["stack", "delete", "--stack", "logs"], "n\n");
    assert!(out.status.success());
    assert!(
        text(&out).contains("logs: left as it is."),
        "{}",
        text(&out)
    );
    assert_eq!(a.count("DeleteStack"), 0);

    let out = dockhand(a, &["stack", "delete", "--stack", "logs", "--yes"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("logs: deleted."), "{}", text(&out));
    let out = dockhand(a, &["stack", "delete", "--stack", "logs", "--yes"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
}
