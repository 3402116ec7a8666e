//! Deploy, rollback, scale, cancel and the describe verbs, end to end: chat text into
//! the dispatcher, the AWS SDK over HTTP into the local emulator (moto plus our
//! rollout layer), replies out. Each test runs in its own emulator account.
//!
//! Run with `make test` (or `scripts/with-emulator.sh cargo test --test tests aws::`).

use crate::support;

use serde_json::json;
use support::World;

/// Two apps: `hubot` (stack-managed, deploy/service.yaml) and `worker`
/// (service-managed, in cluster `apps`). Polls fast: the emulator rolls out in 0.6 s.
const APPS: &str = r#"
[aws]
region = "us-east-1"
max_attempts = 1

[watch]
poll_seconds = 0.1

[environments.prod]

[apps.hubot]
environment = "prod"
stack = "hubot"
# deploy/service.yaml has IAM roles: updates acknowledge them.
capabilities = ["CAPABILITY_IAM"]
min = 0
max = 10

[apps.worker]
environment = "prod"
cluster = "apps"
service = "worker"
container = "worker"
min = 1
max = 10

[roles]
deployers = ["shell:alice", "shell:bob"]

[[rules]]
name = "deployers"
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
roles = ["deployers"]
"#;

const WORKER_V41: &str = "public.ecr.aws/example/worker:v41";

/// A world with both apps running and settled: hubot v1 x2, worker v41 x3.
async fn both_apps() -> World {
    let w = World::new().await;
    w.stack("hubot", "v1", 2).await;
    w.cluster("apps").await;
    w.service("apps", "worker", WORKER_V41, 3).await;
    w.settle("hubot-cluster", "hubot").await;
    w.settle("apps", "worker").await;
    w
}

fn assert_has(out: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(out.contains(w), "expected {w:?} in:\n{out}");
    }
}

#[tokio::test]
async fn deploy_of_a_stack_managed_app_goes_live_and_names_the_requester() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;

    assert_has(
        &out,
        &[
            "Deploying hubot v2 (now v1) to prod, asked by @alice.",
            "hubot v2 is live: 2/2 tasks on hubot:",
        ],
    );
    // The stack's own events reach the thread, each once.
    assert_has(
        &out,
        &[
            "  └ ",
            "UPDATE_IN_PROGRESS TaskDefinition",
            "UPDATE_COMPLETE Service",
        ],
    );
    assert_eq!(out.matches("UPDATE_COMPLETE Service").count(), 1, "{out}");
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v2");
    let primary = w.primary("hubot-cluster", "hubot").await;
    assert_eq!(
        w.image_of(&primary).await,
        "public.ecr.aws/example/hubot:v2"
    );
    // Every other parameter kept its value, and CloudFormation knows who asked.
    assert_eq!(w.stack_parameter("hubot", "DesiredCount").await, "2");
    let events = w
        .cfn
        .describe_stack_events()
        .stack_name("hubot")
        .send()
        .await
        .unwrap();
    assert!(
        events.stack_events().iter().any(|e| e
            .client_request_token()
            .is_some_and(|t| t.starts_with("dockhand-deploy-shell-alice-"))),
        "no stack event carries the requester's token"
    );
}

#[tokio::test]
async fn deploy_of_a_service_managed_app_replaces_only_the_image_tag() {
    let w = both_apps().await;
    let old = w.primary("apps", "worker").await;
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;

    assert_has(
        &out,
        &[
            "Deploying worker v42 (now v41)",
            "worker v42 is live: 3/3 tasks on worker:2",
            "has reached a steady state",
        ],
    );
    let new = w.primary("apps", "worker").await;
    assert_ne!(new, old);
    let td = w
        .ecs
        .describe_task_definition()
        .task_definition(&new)
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let container = &td.task_definition().unwrap().container_definitions()[0];
    assert_eq!(container.image(), Some("public.ecr.aws/example/worker:v42"));
    assert_eq!(
        container.environment()[0].value(),
        Some("info"),
        "the rest of the definition is copied"
    );
    let tag = |k: &str| {
        td.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("dockhand:requested-by").as_deref(), Some("shell:alice"));
    assert_eq!(tag("dockhand:version").as_deref(), Some("v42"));
    assert_eq!(tag("dockhand:outcome").as_deref(), Some("live"));
    // The revision that was running stays registered: rollback needs it.
    let old_td = w
        .ecs
        .describe_task_definition()
        .task_definition(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old_td
            .task_definition()
            .unwrap()
            .status()
            .map(|s| s.as_str()),
        Some("ACTIVE")
    );
}

#[tokio::test]
async fn a_circuit_breaker_rollback_is_a_failure_with_both_reasons() {
    let w = both_apps().await;
    let old = w.primary("apps", "worker").await;
    w.account.fault(json!({"kind": "rollout_fails", "service": "worker", "reason": "Essential container in task exited"}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;

    assert_has(
        &out,
        &[
            "worker v42 FAILED after",
            "ECS rolled back to worker:1",
            "circuit breaker",
            "Last stopped task: \"Essential container in task exited\"",
            "See `!events worker`.",
        ],
    );
    w.settle("apps", "worker").await;
    assert_eq!(w.primary("apps", "worker").await, old);
    // `history` shows the failure, recorded on the revision itself.
    let history = bot.ask("!history worker").await;
    assert_has(&history, &["v42", "failed", "@alice"]);
}

/// hubot's next stack update fails on its TaskDefinition, and rolls back.
fn task_definition_update_fails(w: &World) {
    w.account.fault(json!({"kind": "stack_update_fails", "stack": "hubot", "resource": "TaskDefinition",
        "reason": "Resource handler returned message: \"Invalid request provided: memory too low\""}));
}

#[tokio::test]
async fn a_failed_stack_update_names_the_resource_and_its_reason() {
    let w = both_apps().await;
    task_definition_update_fails(&w);
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;

    assert_has(
        &out,
        &[
            "hubot v2 FAILED after",
            "CloudFormation rolled back hubot (UPDATE_ROLLBACK_COMPLETE)",
            "TaskDefinition UPDATE_FAILED: Resource handler returned message",
            "memory too low",
        ],
    );
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
}

#[tokio::test]
async fn a_stack_failure_is_found_under_more_events_than_one_page_holds() {
    // Pages of 3 events: by the time the stack has rolled back, the failure that
    // caused it is pages deep, as on AWS for a large stack (100 a page).
    let w = both_apps().await;
    w.account.control(
        "POST",
        "/_dockhand/config",
        Some(json!({"stack_events_page": 3})),
    );
    task_definition_update_fails(&w);
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;

    // The verdict's reason, not the thread's event line ("UPDATE_FAILED TaskDefinition").
    assert_has(
        &out,
        &[
            "hubot v2 FAILED after",
            "Reason: TaskDefinition UPDATE_FAILED: Resource handler returned message",
        ],
    );
    assert!(w.account.count("DescribeStackEvents") > 1);
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
}

#[tokio::test]
async fn a_stack_update_that_completes_while_ecs_rolls_back_is_a_failure() {
    // The stack's Service resource does not wait for the rollout: the stack says
    // UPDATE_COMPLETE on v2 while the circuit breaker puts the service back on v1.
    let w = both_apps().await;
    let old = w.primary("hubot-cluster", "hubot").await;
    w.account
        .fault(json!({"kind": "service_does_not_wait", "stack": "hubot"}));
    w.account
        .fault(json!({"kind": "rollout_fails", "service": "hubot"}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;

    assert!(!out.contains("is live"), "a rollback called live:\n{out}");
    assert_has(
        &out,
        &["hubot v2 FAILED after", "ECS rolled back to hubot:1"],
    );
    w.settle("hubot-cluster", "hubot").await;
    assert_eq!(w.primary("hubot-cluster", "hubot").await, old);
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v2");
}

#[tokio::test]
async fn a_stack_stuck_in_update_rollback_failed_is_said_and_not_deployed_again() {
    let w = both_apps().await;
    w.account.fault(
        json!({"kind": "stack_update_fails", "stack": "hubot", "resource": "TaskRole",
        "reason": "Resource handler returned message: \"role is being modified\""}),
    );
    w.account
        .fault(json!({"kind": "stack_rollback_fails", "stack": "hubot"}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;
    assert_has(
        &out,
        &[
            "hubot v2 FAILED after",
            "stack hubot is stuck in UPDATE_ROLLBACK_FAILED",
            "aws cloudformation continue-update-rollback --stack-name hubot",
            // The cause is the update's first failure, not the rollback's.
            "TaskRole UPDATE_FAILED: Resource handler returned message",
        ],
    );
    w.account.forget_calls();
    let again = bot.ask("!deploy hubot v3").await;
    assert_has(&again, &["stack hubot is stuck in UPDATE_ROLLBACK_FAILED"]);
    assert_eq!(
        w.account.count("UpdateStack"),
        0,
        "dockhand does not pretend"
    );
}

#[tokio::test]
async fn deploying_the_running_version_changes_nothing() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;
    let before = w.primary("apps", "worker").await;

    assert_has(
        &bot.ask("!deploy hubot v1").await,
        &["hubot already runs v1."],
    );
    assert_has(
        &bot.ask("!deploy worker v41").await,
        &["worker already runs v41."],
    );
    assert_eq!(w.primary("apps", "worker").await, before);
    assert_eq!(
        w.account.count("RegisterTaskDefinition"),
        1,
        "only the setup registered a revision"
    );
}

#[tokio::test]
async fn plan_shows_the_change_and_leaves_nothing_behind() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;

    let stack_plan = bot.ask("!deploy hubot v2 --plan").await;
    assert_has(&stack_plan, &["Version: v1 -> v2", "TaskDefinition"]);
    let service_plan = bot.ask("!deploy worker v42 --plan").await;
    assert_has(
        &service_plan,
        &["worker:v41 -> public.ecr.aws/example/worker:v42"],
    );

    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
    let sets = w
        .cfn
        .list_change_sets()
        .stack_name("hubot")
        .send()
        .await
        .unwrap();
    assert!(
        sets.summaries().is_empty(),
        "the plan's change set was deleted"
    );
    assert_eq!(
        w.account.count("UpdateStack")
            + w.account.count("UpdateService")
            + w.account.count("RegisterTaskDefinition"),
        1
    );
}

#[tokio::test]
async fn rollback_returns_to_the_last_version_that_went_live() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;
    assert_has(
        &bot.ask("!deploy worker v42").await,
        &["worker v42 is live"],
    );
    assert_has(&bot.ask("!deploy hubot v2").await, &["hubot v2 is live"]);

    let out = bot.ask("!rollback worker").await;
    assert_has(
        &out,
        &[
            "Rolling back worker (now v42)",
            "is live: 3/3 tasks on worker:1",
        ],
    );
    assert_eq!(
        w.image_of(&w.primary("apps", "worker").await).await,
        WORKER_V41
    );

    let out = bot.ask("!rollback hubot").await;
    assert_has(&out, &["Rolling back hubot (now v2)", "is live"]);
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");

    // In a protected environment the prompt says where a rollback goes, read from
    // AWS, on both paths; nothing changes until it is confirmed.
    let protected = APPS.replace(
        "[environments.prod]\n",
        "[environments.prod]\nprotected = true\n",
    );
    let mut bot = w.bot(&protected).await;
    let asked = bot.ask("!deploy worker v43").await;
    let code: String = asked[asked.find("confirm ").expect("a code") + "confirm ".len()..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(bot.send(&format!("!confirm {code}")).is_none());
    assert_has(&bot.finish().await, &["worker v43 is live"]);
    w.account.forget_calls();
    let prompt = bot.ask("!rollback worker").await;
    assert_has(
        &prompt,
        &[
            "`rollback worker` needs a confirmation: prod is a protected environment",
            "Plan for rollback of worker (now v43), nothing changed yet:",
            "Service worker: UpdateService back to worker:2 (v42)",
        ],
    );
    let prompt = bot.ask("!rollback hubot").await;
    assert_has(
        &prompt,
        &[
            "Plan for rollback of hubot (now v1)",
            "Stack hubot: parameter Version -> v2",
        ],
    );
    assert_eq!(w.account.count("UpdateService"), 0);
    assert_eq!(w.account.count("UpdateStack"), 0);
}

#[tokio::test]
async fn scale_moves_the_count_through_the_stack_or_the_service_within_bounds() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;

    assert_has(
        &bot.ask("!scale hubot 4").await,
        &["Scaling hubot to 4", "4/4 tasks"],
    );
    assert_eq!(
        w.stack_parameter("hubot", "DesiredCount").await,
        "4",
        "the stack owns the count"
    );
    assert_has(
        &bot.ask("!scale worker 5").await,
        &["Scaling worker to 5", "5/5 tasks"],
    );

    w.account.forget_calls();
    assert_has(
        &bot.ask("!scale worker 50").await,
        &["worker scales from 1 to 10 tasks; 50 is outside that."],
    );
    assert!(
        w.account.calls().is_empty(),
        "a refused scale makes no AWS call"
    );
}

#[tokio::test]
async fn status_of_fifty_apps_batches_describe_services_per_cluster() {
    let w = World::new().await;
    w.cluster("apps").await;
    w.cluster("batch").await;
    let mut config =
        String::from("[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[environments.prod]\n");
    for i in 0..50 {
        let (cluster, name) = if i < 45 {
            ("apps", format!("svc{i:02}"))
        } else {
            ("batch", format!("job{i:02}"))
        };
        w.service(
            cluster,
            &name,
            &format!("public.ecr.aws/example/{name}:v{i}"),
            1,
        )
        .await;
        config.push_str(&format!(
            "[apps.{name}]\nenvironment = \"prod\"\ncluster = \"{cluster}\"\nservice = \"{name}\"\ncontainer = \"{name}\"\n"
        ));
    }
    let mut bot = w.bot(&config).await;
    w.account.forget_calls();

    let out = bot.ask("!status").await;

    // 45 services in `apps` take 5 calls of 10, 5 in `batch` take one.
    assert_eq!(
        w.account.count("DescribeServices"),
        6,
        "{:?}",
        w.account.calls()
    );
    // Apps still rolling out need attention and are never cut; the cut falls among
    // the healthy ones only, and says how to see them.
    // (A service whose first deployment has not started yet reads PENDING.)
    let rolling = out.matches("IN_PROGRESS").count() + out.matches("PENDING").count();
    let shown = out.lines().filter(|l| l.contains("  prod  ")).count();
    assert_eq!(shown, rolling.clamp(20, 50), "{out}");
    if shown < 50 {
        assert_has(
            &out,
            &[&format!("... and {} more, all healthy", 50 - shown)],
        );
    }
}

/// Twelve deploys at once in one cluster share their looks at ECS: each poll
/// interval, one round describes every watched service, 10 per DescribeServices,
/// where a watch each would make twelve calls.
#[tokio::test]
async fn watches_in_one_cluster_share_one_describe_services_per_ten_services() {
    const N: usize = 12;
    const POLL: f64 = 0.1;
    // What each deploy describes on its own, outside its watch (about 4 here): the
    // service before updating it, its lock, its operation record written and cleared.
    const OUTSIDE_THE_WATCH: usize = 5;
    let w = World::new().await;
    w.cluster("apps").await;
    let mut config = format!(
        "[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n[watch]\npoll_seconds = {POLL}\n[environments.prod]\n"
    );
    for i in 0..N {
        let name = format!("svc{i:02}");
        w.service(
            "apps",
            &name,
            &format!("public.ecr.aws/example/{name}:v1"),
            1,
        )
        .await;
        config.push_str(&format!(
            "[apps.{name}]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"{name}\"\ncontainer = \"{name}\"\n"
        ));
    }
    for i in 0..N {
        w.settle("apps", &format!("svc{i:02}")).await;
    }
    config.push_str("[roles]\ndeployers = [\"shell:alice\"]\n[[rules]]\nname = \"deployers\"\nverbs = [\"deploy\"]\nroles = [\"deployers\"]\n[limits]\nperson_burst = 20\nchannel_burst = 20\n");
    w.account.rollout_seconds(1.5);
    let mut bot = w.bot(&config).await;
    w.account.forget_calls();

    let started = std::time::Instant::now();
    for i in 0..N {
        assert!(bot.send(&format!("!deploy svc{i:02} v2")).is_none());
    }
    let out = bot.finish().await;
    let elapsed = started.elapsed().as_secs_f64();

    for i in 0..N {
        assert_has(&out, &[&format!("svc{i:02} v2 is live")]);
    }
    // Rounds begin at least one interval apart, so however slow this machine is,
    // there were at most elapsed / POLL + 1 of them, each of at most 2 calls here.
    let rounds = (elapsed / POLL).floor() as usize + 1;
    let described = w.account.count("DescribeServices");
    let bound = 2 * rounds + N * OUTSIDE_THE_WATCH;
    assert!(
        described <= bound,
        "{described} DescribeServices in {elapsed:.2} s: more than {bound}, as if each watch polled alone"
    );
}

#[tokio::test]
async fn status_of_one_app_and_the_describe_verbs() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;
    bot.ask("!deploy worker v42").await;

    assert_has(
        &bot.ask("!status worker").await,
        &["worker  prod  v42  3/3  SUCCESSFUL  by @alice"],
    );
    // A record that ended never changes: the next status reads it from memory.
    w.account.forget_calls();
    assert_has(&bot.ask("!status worker").await, &["SUCCESSFUL"]);
    assert_eq!(w.account.count("DescribeServiceDeployments"), 0);
    // An environment's name shows its apps; --problems only those in trouble.
    let prod = bot.ask("!status prod").await;
    assert_has(&prod, &["hubot   prod  v1", "worker  prod  v42"]);
    assert_eq!(
        bot.ask("!status --problems").await.trim_end(),
        "All 2 apps are healthy."
    );
    assert_has(&bot.ask("!stacks").await, &["hubot", "CREATE_COMPLETE"]);
    let stack = bot.ask("!stack hubot").await;
    assert_has(
        &stack,
        &[
            "hubot: CREATE_COMPLETE",
            "Parameters:",
            "Version = v1",
            "Outputs:",
            "Latest events:",
        ],
    );
    let events = bot.ask("!events worker 5").await;
    assert_has(&events, &["has reached a steady state"]);
    assert!(events.lines().count() <= 5, "{events}");
    assert_has(
        &bot.ask("!history worker").await,
        &["v42  worker:2  by @alice", "running now", "v41  worker:1"],
    );
}

#[tokio::test]
async fn cancel_of_a_stack_update_rolls_it_back() {
    let w = both_apps().await;
    w.account.rollout_seconds(3.0);
    let mut bot = w.bot(APPS).await;

    assert!(bot.send("!deploy hubot v2").is_none());
    wait_for_stack(&w, "hubot", "UPDATE_IN_PROGRESS").await;
    bot.confirmed("!cancel hubot");
    let out = bot.finish().await;

    assert_has(
        &out,
        &[
            "Cancelling the rollout of hubot, asked by @alice.",
            "hubot cancel: hubot is back on hubot:1 (UPDATE_ROLLBACK_COMPLETE), after",
        ],
    );
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
    assert!(w.account.count("CancelUpdateStack") == 1);
}

#[tokio::test]
async fn cancel_of_a_service_rollout_returns_to_the_previous_revision() {
    let w = both_apps().await;
    let old = w.primary("apps", "worker").await;
    w.account.rollout_seconds(3.0);
    let mut bot = w.bot(APPS).await;

    assert!(bot.send("!deploy worker v42").is_none());
    wait_for_deployments(&w, "apps", "worker", 2).await;
    bot.confirmed("!cancel worker");
    let out = bot.finish().await;

    // A stop with rollback (StopServiceDeployment), not a redeploy of an older
    // revision: the deploy ends cancelled, not FAILED with a stopped task's reason.
    assert_has(
        &out,
        &[
            "Cancelling the rollout of worker",
            "worker v42: cancelled by @alice; ECS stopped the deployment and rolled back to worker:1 (v41)",
            "worker cancel: cancelled by @alice; ECS stopped the deployment and rolled back to worker:1 (v41)",
        ],
    );
    assert!(!out.contains("FAILED"), "{out}");
    assert_eq!(w.account.count("StopServiceDeployment"), 1);
    assert_eq!(
        w.account.count("UpdateService"),
        1,
        "only the deploy updated the service"
    );
    w.settle("apps", "worker").await;
    assert_eq!(w.primary("apps", "worker").await, old);
    let status = w.deployment_status("apps", "worker").await;
    assert_eq!(status, "ROLLBACK_SUCCESSFUL");

    // Nothing in flight: said so, nothing changed.
    w.account.forget_calls();
    bot.confirmed("!cancel worker");
    let again = bot.finish().await;
    assert_has(
        &again,
        &["worker has no rollout in progress to cancel; nothing was changed."],
    );
    assert_eq!(w.account.count("StopServiceDeployment"), 0);
    assert_eq!(w.account.count("UpdateService"), 0);
}

#[tokio::test]
async fn deploys_of_two_apps_run_together_and_a_second_deploy_of_one_is_refused() {
    let w = both_apps().await;
    w.account.rollout_seconds(2.0);
    let mut bot = w.bot(APPS).await;

    assert!(bot.send("!deploy hubot v2").is_none());
    assert!(bot.send("!deploy worker v42").is_none());
    wait_for_deployments(&w, "apps", "worker", 2).await;
    let refused = bot
        .send_as("bob", "!deploy worker v43")
        .expect("answered at once");
    assert!(
        refused.starts_with("worker is busy: @alice started `deploy worker v42` at "),
        "{refused}"
    );
    // Reading is never blocked by an operation in flight.
    assert!(bot.send_as("bob", "!status worker").is_none());
    let out = bot.finish().await;

    assert_has(&out, &["hubot v2 is live", "worker v42 is live"]);
}

#[tokio::test]
async fn access_denied_names_the_action() {
    let w = both_apps().await;
    w.account.fault(json!({"kind": "error", "operation": "UpdateService", "code": "AccessDeniedException",
        "message": "User: arn:aws:sts::123:assumed-role/dockhand is not authorized to perform: ecs:UpdateService", "status": 400}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;
    assert_has(
        &out,
        &["AWS denied `ecs:UpdateService` to dockhand's role. Ask the platform team to allow it."],
    );
    assert!(
        !out.contains("arn:aws:sts"),
        "AWS's message stays in the log: {out}"
    );
}

#[tokio::test]
async fn throttling_the_sdk_gave_up_on_is_reported_as_such() {
    let w = both_apps().await;
    w.account.fault(
        json!({"kind": "error", "operation": "DescribeServices", "code": "ThrottlingException",
        "message": "Rate exceeded", "status": 400, "count": 5}),
    );
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;
    assert_has(
        &out,
        &["AWS kept throttling `ecs:DescribeServices`; try again in a minute."],
    );
}

#[tokio::test]
async fn a_stack_busy_with_another_update_is_refused_with_its_state() {
    let w = both_apps().await;
    w.account.rollout_seconds(30.0);
    // Someone else's update, outside dockhand.
    use aws_sdk_cloudformation::types::Parameter;
    let keep = |k: &str| {
        Parameter::builder()
            .parameter_key(k)
            .use_previous_value(true)
            .build()
    };
    w.cfn
        .update_stack()
        .stack_name("hubot")
        .use_previous_template(true)
        .parameters(
            Parameter::builder()
                .parameter_key("Version")
                .parameter_value("v9")
                .build(),
        )
        .parameters(keep("ServiceName"))
        .parameters(keep("ClusterName"))
        .parameters(keep("Image"))
        .parameters(keep("DesiredCount"))
        .parameters(keep("ContainerPort"))
        .parameters(keep("LogGroupName"))
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .send()
        .await
        .unwrap();
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;
    assert_has(
        &out,
        &[
            "hubot v2: hubot is busy: UPDATE_IN_PROGRESS since ",
            "Wait for it, or `!cancel hubot`.",
        ],
    );
}

#[tokio::test]
async fn missing_things_are_named() {
    let w = both_apps().await;
    let config = format!(
        "{APPS}\n[apps.ghost]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"ghost\"\ncontainer = \"ghost\"\n\n[apps.nostack]\nenvironment = \"prod\"\nstack = \"nostack\"\n"
    );
    let mut bot = w.bot(&config).await;

    assert_has(&bot.ask("!deploy ghost v2").await, &["ghost"]);
    assert_has(
        &bot.ask("!deploy nostack v2").await,
        &["nostack", "does not exist"],
    );
    assert_has(
        &bot.ask("!deploy hubbot v2").await,
        &["Unknown app `hubbot`. Did you mean `hubot`?"],
    );
    // `status` still answers for the apps that exist.
    let status = bot.ask("!status").await;
    assert_has(
        &status,
        &[
            "worker   prod  v41  3/3",
            "hubot    prod  v1   2/2",
            "nostack  prod  Stack with id nostack does not exist",
        ],
    );
}

#[tokio::test]
async fn aws_validation_errors_are_passed_on_in_aws_words() {
    let w = both_apps().await;
    w.account.fault(json!({"kind": "error", "operation": "UpdateStack", "code": "ValidationError",
        "message": "Template error: Unresolved resource dependencies [Missing] in the Resources block of the template", "status": 400}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy hubot v2").await;
    assert_has(
        &out,
        &["AWS refused it: Template error: Unresolved resource dependencies [Missing]"],
    );
}

#[tokio::test]
async fn a_rollout_that_never_settles_times_out_with_its_state() {
    let w = both_apps().await;
    w.account
        .fault(json!({"kind": "rollout_stalls", "service": "worker"}));
    let mut bot = w.bot(APPS).await;
    let mut config = bot.dispatcher.config().clone();
    config
        .apps
        .values_mut()
        .for_each(|a| a.timeout = std::time::Duration::from_secs(2));
    bot = support::Bot::new(config, &w.account).await;

    let out = bot.ask("!deploy worker v42").await;
    assert_has(
        &out,
        &[
            "worker v42: no outcome after",
            "AWS says",
            "It carries on in AWS; check `!status worker`.",
        ],
    );
}

async fn wait_for_stack(w: &World, stack: &str, status: &str) {
    for _ in 0..200 {
        let out = w
            .cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        if out.stacks()[0].stack_status().map(|s| s.as_str()) == Some(status) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{stack} never reached {status}");
}

async fn wait_for_deployments(w: &World, cluster: &str, service: &str, n: usize) {
    for _ in 0..200 {
        let out = w
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap();
        if out.services()[0].deployments().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{service} never had {n} deployments");
}

#[tokio::test]
async fn a_lock_lives_in_aws_survives_a_restart_and_stops_deploys() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;
    assert_has(
        &bot.ask("!lock hubot release freeze <!channel>").await,
        &["hubot is locked: release freeze", "`!unlock hubot`"],
    );
    drop(bot);

    // A new dockhand (a restart, or a second instance) sees the lock.
    let mut bot = w.bot(APPS).await;
    let refused = bot.ask("!deploy hubot v2").await;
    assert_has(
        &refused,
        &[
            "hubot is locked by @alice since",
            "release freeze",
            "`!unlock hubot` when it is over.",
        ],
    );
    assert!(!refused.contains("<!channel>"), "{refused}");
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
    assert_has(
        &bot.ask("!scale hubot 3").await,
        &["hubot is locked by @alice"],
    );

    // Someone else may not lift it without a rule that lets them break locks.
    assert_has(
        &bot.send_as("bob", "!unlock hubot")
            .map_or(bot.finish().await, |r| r),
        &["@alice locked hubot (release freeze channel); only they"],
    );
    assert_has(
        &bot.ask("!unlock hubot").await,
        &["hubot is unlocked (locked by @alice for: release freeze channel)."],
    );
    assert_has(&bot.ask("!deploy hubot v2").await, &["hubot v2 is live"]);
}

/// F12: a chat-driven change acknowledges only the capabilities the app's
/// config names. deploy/service.yaml has IAM roles, so without
/// `capabilities` CloudFormation refuses (as AWS does; the emulator checks it
/// too), and the refusal says which line to add.
#[tokio::test]
async fn a_stack_with_iam_resources_changes_only_when_the_config_acknowledges_them() {
    let w = both_apps().await;
    let bare = APPS.replace("capabilities = [\"CAPABILITY_IAM\"]\n", "");
    assert_ne!(bare, APPS);
    let mut bot = w.bot(&bare).await;
    let refusal = "Stack `hubot` has IAM resources, so CloudFormation wants CAPABILITY_IAM acknowledged. \
                   If they are meant to be there, add `capabilities = [\"CAPABILITY_IAM\"]` to the app";
    assert_has(&bot.ask("!deploy hubot v2 --plan").await, &[refusal]);
    assert_has(&bot.ask("!deploy hubot v2").await, &[refusal]);
    assert_eq!(w.stack_parameter("hubot", "Version").await, "v1");
    // With the line, the same deploy goes through.
    let mut bot = w.bot(APPS).await;
    assert_has(&bot.ask("!deploy hubot v2").await, &["hubot v2 is live"]);
}

#[tokio::test]
async fn no_secret_reaches_the_channel() {
    use aws_sdk_cloudformation::types::Parameter;
    let w = both_apps().await;
    let template = r#"
Parameters:
  DbPassword: {Type: String, NoEcho: true}
  ApiKeyValue: {Type: String}
  Owner: {Type: String}
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {LogGroupName: !Sub "/ledger/${Owner}"}
Outputs:
  LogGroup: {Value: !Ref Logs}
  ApiKeyEcho: {Value: !Ref ApiKeyValue}
  DatabaseUrl: {Value: !Sub "postgres://ledger:${DbPassword}@db.internal:5432/ledger"}
  AlertsHook: {Value: !Sub "https://hooks.slack.com/services/T0/B0/${ApiKeyValue}"}
  PublicKeyUrl: {Value: "https://example.com/ledger.pub"}
  Docs: {Value: "https://example.com/ledger"}
"#;
    let p = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    w.cfn
        .create_stack()
        .stack_name("ledger")
        .template_body(template)
        .parameters(p("DbPassword", support::SECRETS[4]))
        .parameters(p("ApiKeyValue", support::SECRETS[3]))
        .parameters(p("Owner", "payments"))
        .send()
        .await
        .unwrap();
    // The team hides one output and shows one whose name looks secret (KEY).
    let ledger = "[apps.ledger]\nenvironment = \"prod\"\nstack = \"ledger\"\n\
                  hide_outputs = [\"LogGroup\"]\nshow_outputs = [\"PublicKeyUrl\"]\n";
    let mut bot = w.bot(&format!("{APPS}{ledger}")).await;

    // Every reply is scanned by the harness; these name what is shown instead.
    // Secrets under innocent names (a password in a URL, a webhook) are masked
    // by their shape (F5).
    assert_has(
        &bot.ask("!stack ledger").await,
        &[
            "DbPassword = ****",
            "ApiKeyValue = ****",
            "ApiKeyEcho = ****",
            "Owner = payments",
            "DatabaseUrl = ****",
            "AlertsHook = ****",
            "LogGroup = ****",
            "PublicKeyUrl = https://example.com/ledger.pub",
            "Docs = https://example.com/ledger",
        ],
    );
    bot.ask("!deploy worker v42 --plan").await;
    bot.ask("!deploy worker v42").await;
    bot.ask("!status").await;
    bot.ask("!history worker").await;
    bot.ask("!events worker").await;
    bot.ask("!whoami").await;
    // The copied task definition still carries its secrets, unchanged, to ECS.
    let td = w
        .ecs
        .describe_task_definition()
        .task_definition(w.primary("apps", "worker").await)
        .send()
        .await
        .unwrap();
    let c = &td.task_definition().unwrap().container_definitions()[0];
    assert_eq!(
        c.secrets()[0].value_from(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:worker-db"
    );
}

#[tokio::test]
async fn an_unfamiliar_kind_of_version_asks_first() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;

    let prompt = bot.ask("!deploy worker latest").await;
    assert_has(
        &prompt,
        &[
            "`deploy worker latest` needs a confirmation: `latest` does not look like the versions worker ran before (v41)",
            "[Confirm: confirm ",
        ],
    );
    assert_eq!(
        w.account.count("RegisterTaskDefinition"),
        1,
        "nothing deployed yet"
    );
    // A version like the ones before goes straight through.
    assert_has(
        &bot.ask("!deploy worker v42").await,
        &["worker v42 is live"],
    );
}

#[tokio::test]
async fn an_operation_cut_off_by_a_restart_is_watched_again_and_reported_where_it_was_asked() {
    let w = both_apps().await;
    w.account.rollout_seconds(3.0);
    let mut first = w.bot(APPS).await;
    assert_eq!(first.send("!deploy worker v42"), None);
    // Wait until the rollout is under way, then stop the bot as SIGTERM would.
    for _ in 0..200 {
        if w.account.count("UpdateService") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    first.dispatcher.shutdown_token().cancel();
    let out = first.finish().await;
    assert_has(
        &out,
        &[
            "worker v42: dockhand is restarting and stopped watching",
            "AWS carries on",
        ],
    );

    // A new instance finds the operation recorded on the service and reports to
    // the same channel.
    let mut second = w.bot(APPS).await;
    second.recover();
    let out = second.finish().await;
    assert_has(
        &out,
        &[
            "Watching `deploy worker v42` again after a restart of dockhand, asked by @alice.",
            "worker v42 is live: 3/3 tasks on worker:2",
        ],
    );
    // Reported once: the record is gone, a third instance has nothing to resume.
    let mut third = w.bot(APPS).await;
    third.recover();
    assert_eq!(third.finish().await, "");
}

/// F19: whoever may tag a managed service (app teams usually may) cannot make
/// the next dockhand post into a channel of their choosing: a record it did not
/// sign is not resumed, and one it signed stops verifying once changed.
#[tokio::test]
async fn a_record_dockhand_did_not_write_is_not_resumed() {
    use aws_sdk_ecs::types::Tag;
    let w = both_apps().await;
    let arn = w
        .ecs
        .describe_services()
        .cluster("apps")
        .services("worker")
        .send()
        .await
        .unwrap()
        .services()[0]
        .service_arn()
        .unwrap()
        .to_string();
    let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    w.ecs
        .tag_resource()
        .resource_arn(&arn)
        .tags(t("dockhand:watch-what", "deploy worker v99"))
        .tags(t("dockhand:watch-kind", "deploy"))
        .tags(t("dockhand:watch-arg", "v99"))
        .tags(t("dockhand:watch-by", "shell:alice"))
        .tags(t("dockhand:watch-by-name", "alice"))
        .tags(t("dockhand:watch-channel", "shell:elsewhere"))
        .tags(t("dockhand:watch-at", "1700000000"))
        .tags(t("dockhand:watch-sig", &"ab".repeat(32)))
        .send()
        .await
        .unwrap();
    let mut bot = w.bot(APPS).await;
    bot.recover();
    assert_eq!(bot.finish().await, "", "nothing is posted anywhere");
    assert_eq!(w.account.count("UpdateService"), 0);
}

#[tokio::test]
async fn a_rollback_that_happened_while_no_dockhand_watched_is_reported_as_a_failure() {
    // Blue/green with an alarm in the bake: the deploy's watch is cut off by a
    // restart, ECS rolls back while no dockhand runs, and the next one must not
    // judge the service (stable, on the old revision) as the deploy gone live.
    let w = both_apps().await;
    blue_green_failing_in_the_bake(&w).await;
    let mut first = w.bot(APPS).await;
    assert_eq!(first.send("!deploy worker v42"), None);
    for _ in 0..200 {
        if w.account.count("UpdateService") > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    first.dispatcher.shutdown_token().cancel();
    assert_has(&first.finish().await, &["dockhand is restarting"]);
    for _ in 0..300 {
        if w.deployment_status("apps", "worker").await == "ROLLBACK_SUCCESSFUL" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_SUCCESSFUL"
    );

    let mut second = w.bot(APPS).await;
    second.recover();
    let out = second.finish().await;
    assert_has(
        &out,
        &[
            "Watching `deploy worker v42` again after a restart of dockhand",
            "worker v42 FAILED after",
            "ECS rolled back to worker:1 (v41)",
            "alarm worker-5xx",
        ],
    );
    assert!(!out.contains("is live"), "{out}");
}

#[tokio::test]
async fn a_finished_operation_leaves_no_record_behind() {
    let w = both_apps().await;
    let mut bot = w.bot(APPS).await;
    assert_has(&bot.ask("!deploy hubot v2").await, &["hubot v2 is live"]);
    let mut restarted = w.bot(APPS).await;
    restarted.recover();
    assert_eq!(restarted.finish().await, "");
}

/// Gives `worker` a deployment strategy (the emulator merges it into the service's
/// configuration; no deployment starts).
async fn strategy(w: &World, config: aws_sdk_ecs::types::DeploymentConfiguration) {
    w.deployment_configuration("apps", "worker", config).await;
}

/// `worker` deploys blue/green, and its next deployment trips alarm `worker-5xx`
/// during the bake.
async fn blue_green_failing_in_the_bake(w: &World) {
    strategy(w, staged(aws_sdk_ecs::types::DeploymentStrategy::BlueGreen)).await;
    w.account.fault(
        json!({"kind": "deployment_fails", "service": "worker", "stage": "BAKE_TIME",
        "by": "alarm", "alarm": "worker-5xx"}),
    );
}

fn staged(
    kind: aws_sdk_ecs::types::DeploymentStrategy,
) -> aws_sdk_ecs::types::DeploymentConfiguration {
    use aws_sdk_ecs::types::{CanaryConfiguration, DeploymentConfiguration, LinearConfiguration};
    DeploymentConfiguration::builder()
        .strategy(kind)
        .bake_time_in_minutes(4)
        .linear_configuration(
            LinearConfiguration::builder()
                .step_percent(50.0)
                .step_bake_time_in_minutes(2)
                .build(),
        )
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(10.0)
                .canary_bake_time_in_minutes(3)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn every_strategy_goes_live_only_when_ecs_says_successful_and_reports_in_its_terms() {
    use aws_sdk_ecs::types::DeploymentStrategy;
    let w = both_apps().await;
    // Stages of 0.2 s and bake minutes of 0.1 s: each one outlasts a poll (0.1 s).
    w.account.rollout_seconds(2.0);
    w.account.control(
        "POST",
        "/_dockhand/config",
        Some(json!({"minute_seconds": 0.1})),
    );
    let mut bot = w.bot(APPS).await;

    strategy(&w, staged(DeploymentStrategy::BlueGreen)).await;
    let out = bot.ask("!deploy worker v42").await;
    assert_has(
        &out,
        &[
            "ECS deployment: blue/green: production traffic 100% on worker:2 (v42)",
            "ECS deployment: blue/green: production traffic on worker:2 (v42), bake 0/4 min",
            "worker v42 is live: 3/3 tasks on worker:2",
        ],
    );
    assert_eq!(w.deployment_status("apps", "worker").await, "SUCCESSFUL");

    strategy(&w, staged(DeploymentStrategy::Linear)).await;
    let out = bot.ask("!deploy worker v43").await;
    assert_has(
        &out,
        &[
            "ECS deployment: linear 50% → bake 0/2 min",
            "worker v43 is live: 3/3 tasks on worker:3",
        ],
    );
    assert_eq!(
        out.matches("linear 50% → bake").count(),
        1,
        "each step once:\n{out}"
    );

    strategy(&w, staged(DeploymentStrategy::Canary)).await;
    let out = bot.ask("!deploy worker v44").await;
    assert_has(
        &out,
        &[
            "ECS deployment: canary 10% → bake 0/3 min",
            "ECS deployment: canary: production traffic on worker:4 (v44), bake 0/4 min",
            "worker v44 is live: 3/3 tasks on worker:4",
        ],
    );
    assert_eq!(w.deployment_status("apps", "worker").await, "SUCCESSFUL");
    assert_eq!(
        w.image_of(&w.primary("apps", "worker").await).await,
        "public.ecr.aws/example/worker:v44"
    );
}

#[tokio::test]
async fn an_alarm_rollback_names_the_alarm_and_says_so_while_ecs_rolls_back() {
    let w = both_apps().await;
    let old = w.primary("apps", "worker").await;
    blue_green_failing_in_the_bake(&w).await;
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;

    assert_has(
        &out,
        &[
            "FAILED: ECS is rolling back to worker:1 (v41): alarm worker-5xx triggered.",
            "The rollback finished: ECS is back on worker:1 (v41).",
            "worker v42 FAILED after",
            "ECS rolled back to worker:1 (v41).",
            "Reason: alarm worker-5xx triggered.",
        ],
    );
    assert!(!out.contains("is live"), "{out}");
    assert!(
        !out.contains("Last stopped task"),
        "an alarm, not a task:\n{out}"
    );
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_SUCCESSFUL"
    );
    w.settle("apps", "worker").await;
    assert_eq!(w.primary("apps", "worker").await, old);
    // On v41 with every task running, and still a problem: ECS rolled the deploy
    // back (the deployments array alone would call it COMPLETED).
    let problems = bot.ask("!status --problems").await;
    assert_has(&problems, &["worker  prod  v41  3/3  ROLLBACK_SUCCESSFUL "]);
    assert!(!problems.contains("hubot"), "{problems}");
}

#[tokio::test]
async fn a_failed_lifecycle_hook_is_named_with_its_stage() {
    let w = both_apps().await;
    strategy(&w, staged(aws_sdk_ecs::types::DeploymentStrategy::Canary)).await;
    let hook = "arn:aws:lambda:us-east-1:123456789012:function:worker-smoke";
    w.account
        .fault(json!({"kind": "deployment_fails", "service": "worker",
        "stage": "POST_TEST_TRAFFIC_SHIFT", "by": "hook", "hook": hook}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;

    assert_has(
        &out,
        &[
            "worker v42 FAILED after",
            "ECS rolled back to worker:1 (v41)",
            "function:worker-smoke failed in POST_TEST_TRAFFIC_SHIFT",
        ],
    );
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_SUCCESSFUL"
    );
}

#[tokio::test]
async fn a_rollback_that_fails_says_the_service_may_be_on_neither_version() {
    let w = both_apps().await;
    w.account.fault(json!({"kind": "deployment_fails", "service": "worker", "stage": "SCALE_UP", "by": "breaker"}));
    w.account
        .fault(json!({"kind": "rollback_fails", "service": "worker"}));
    let mut bot = w.bot(APPS).await;

    let out = bot.ask("!deploy worker v42").await;

    assert_has(
        &out,
        &[
            "FAILED: ECS is rolling back to worker:1 (v41)",
            "The rollback FAILED",
            "worker v42 FAILED after",
            "ECS could not roll back to worker:1 (v41): the service may be on neither worker:2 (v42) nor worker:1 (v41)",
            "deploy a version known to work",
        ],
    );
    assert!(!out.contains("is live"), "{out}");
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_FAILED"
    );
}

#[tokio::test]
async fn throttling_and_5xx_in_the_middle_of_a_watch_do_not_end_it() {
    let w = both_apps().await;
    w.account.rollout_seconds(1.5);
    let mut bot = w.bot(APPS).await;

    assert!(bot.send("!deploy worker v42").is_none());
    wait_for_deployments(&w, "apps", "worker", 2).await;
    w.account.fault(
        json!({"kind": "error", "operation": "DescribeServices", "code": "ThrottlingException",
        "message": "Rate exceeded", "status": 400, "count": 3}),
    );
    w.account.fault(
        json!({"kind": "error", "operation": "DescribeServiceDeployments",
        "code": "ServerException", "message": "internal", "status": 500, "count": 2}),
    );
    let out = bot.finish().await;

    assert_has(&out, &["worker v42 is live: 3/3 tasks on worker:2"]);
    assert!(!out.contains("throttl"), "{out}");
    assert_eq!(w.deployment_status("apps", "worker").await, "SUCCESSFUL");
    let faults = w.account.control("GET", "/_dockhand/faults", None);
    assert_eq!(
        faults,
        json!([]),
        "every injected error was met and polled through"
    );
}

#[tokio::test]
async fn a_codedeploy_service_is_refused_before_anything_changes() {
    use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
    let w = both_apps().await;
    let first = w
        .revision("legacy", "public.ecr.aws/example/legacy:v1")
        .await;
    w.ecs
        .create_service()
        .cluster("apps")
        .service_name("legacy")
        .task_definition(&first)
        .desired_count(1)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create a CodeDeploy service");
    w.settle("apps", "legacy").await;
    let config = format!(
        "{APPS}\n[apps.legacy]\nenvironment = \"prod\"\ncluster = \"apps\"\nservice = \"legacy\"\ncontainer = \"legacy\"\n"
    );
    let mut bot = w.bot(&config).await;

    for asked in ["!deploy legacy v2", "!rollback legacy"] {
        let out = bot.ask(asked).await;
        assert_has(
            &out,
            &[
                "legacy uses the CODE_DEPLOY deployment controller",
                "CodeDeploy",
                "nothing was changed",
            ],
        );
        assert!(!out.contains("is live"), "{out}");
    }
    // No revision registered for a deploy that cannot run, and the service as it was.
    let revisions = w
        .ecs
        .list_task_definitions()
        .family_prefix("legacy")
        .send()
        .await
        .unwrap();
    assert_eq!(revisions.task_definition_arns(), [first.to_string()]);
    assert_eq!(w.primary("apps", "legacy").await, first);
}

/// Waits until `worker`'s newest service deployment is in lifecycle stage `stage`.
async fn wait_for_stage(w: &World, stage: &str) {
    for _ in 0..400 {
        let d = w.newest_deployment("apps", "worker").await;
        if d.and_then(|d| d.lifecycle_stage().map(|s| s.as_str().to_string()))
            .as_deref()
            == Some(stage)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("worker's deployment never reached {stage}");
}

/// Strategies with bakes long enough to act in: a bake minute is 0.5 s.
fn slow_bakes(w: &World) {
    w.account.rollout_seconds(2.0);
    w.account.control(
        "POST",
        "/_dockhand/config",
        Some(json!({"minute_seconds": 0.5})),
    );
}

#[tokio::test]
async fn cancel_in_the_bake_of_a_blue_green_deploy_stops_it_and_ecs_rolls_back() {
    let w = both_apps().await;
    let old = w.primary("apps", "worker").await;
    slow_bakes(&w);
    strategy(
        &w,
        staged(aws_sdk_ecs::types::DeploymentStrategy::BlueGreen),
    )
    .await;
    let mut bot = w.bot(APPS).await;

    assert!(bot.send("!deploy worker v42").is_none());
    wait_for_stage(&w, "BAKE_TIME").await;
    bot.confirmed("!cancel worker");
    let out = bot.finish().await;

    assert_has(
        &out,
        &[
            "worker v42: cancelled by @alice; ECS stopped the deployment and rolled back to worker:1 (v41)",
        ],
    );
    assert!(!out.contains("FAILED"), "{out}");
    assert!(!out.contains("is live"), "{out}");
    assert_eq!(w.account.count("StopServiceDeployment"), 1);
    assert_eq!(
        w.deployment_status("apps", "worker").await,
        "ROLLBACK_SUCCESSFUL"
    );
    w.settle("apps", "worker").await;
    assert_eq!(w.primary("apps", "worker").await, old);
}

#[tokio::test]
async fn a_restart_in_the_bake_of_a_canary_resumes_the_watch_and_reports_it_live() {
    let w = both_apps().await;
    slow_bakes(&w);
    strategy(&w, staged(aws_sdk_ecs::types::DeploymentStrategy::Canary)).await;
    let mut first = w.bot(APPS).await;
    assert!(first.send("!deploy worker v42").is_none());
    wait_for_stage(&w, "BAKE_TIME").await;
    first.dispatcher.shutdown_token().cancel();
    assert_has(
        &first.finish().await,
        &["worker v42: dockhand is restarting and stopped watching"],
    );

    let mut second = w.bot(APPS).await;
    second.recover();
    let out = second.finish().await;
    assert_has(
        &out,
        &[
            "Watching `deploy worker v42` again after a restart of dockhand",
            "worker v42 is live: 3/3 tasks on worker:2",
        ],
    );
    assert_eq!(w.deployment_status("apps", "worker").await, "SUCCESSFUL");
}
