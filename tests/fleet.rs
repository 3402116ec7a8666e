//! Two or three `dockhand run` processes sharing state (`[state] table`, on the
//! emulator's DynamoDB) against one local Slack and one local Discord: what ECS
//! running the service with `DesiredCount: 2` looks like from the chat side.
//! Every message is answered once, whichever replica it reached, and one
//! replica dying (or being replaced) loses nothing.

use std::time::Duration;

use crate::support;
use crate::support::discord::{FakeDiscord, GUILD};
use crate::support::process::Running;
use crate::support::slack::FakeSlack;
use support::{SECRETS, World, root};

const TABLE: &str = "dockhand-state";
const ALICE: &str = "U0ALICE";
const OPS: &str = "C0OPS";
const DISCORD_OPS: u64 = 4242;

async fn world() -> World {
    let w = World::new().await;
    w.state_table(TABLE).await;
    w
}

/// A replica's config: shared state, and the adapters' local servers.
fn config(slack: Option<&FakeSlack>) -> String {
    let mut c = format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\n[state]\ntable = \"{TABLE}\"\n\
         [limits]\nperson_burst = 1000\nchannel_burst = 1000\n[discord]\nguilds = [{GUILD}]\n",
        root().join("commands")
    );
    if let Some(slack) = slack {
        c.push_str(&format!("[slack]\napi_url = {:?}\n", slack.api_url));
    }
    c
}

fn slack_replica(w: &World, slack: &FakeSlack) -> Running {
    Running::start(
        &config(Some(slack)),
        &[
            ("SLACK_BOT_TOKEN", SECRETS[0]),
            ("SLACK_APP_TOKEN", SECRETS[1]),
            ("DOCKHAND_EMULATOR_ACCOUNT", w.account.id.as_str()),
        ],
    )
}

fn discord_replica(w: &World, discord: &FakeDiscord) -> Running {
    Running::start(
        &config(None),
        &[
            ("DISCORD_TOKEN", SECRETS[2]),
            ("DISCORD_API_URL", discord.base.as_str()),
            ("DOCKHAND_EMULATOR_ACCOUNT", w.account.id.as_str()),
        ],
    )
}

fn pongs(slack: &FakeSlack) -> usize {
    slack
        .calls_of("chat.postMessage")
        .iter()
        .filter(|c| c.body["text"] == "pong")
        .count()
}

/// Waits until `bot` answers /readyz with 200 (its health server comes up
/// after it signed in).
async fn ready(bot: &Running) {
    for _ in 0..300 {
        if bot
            .try_get("/readyz")
            .await
            .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not ready within 30 s");
}

/// Whether `bot` says, on /metrics, whether it holds the Discord gateway.
async fn holds_gateway(bot: &Running) -> bool {
    let metrics = bot.get("/metrics").await;
    metrics
        .lines()
        .any(|l| l == "dockhand_lease_held{lease=\"discord-gateway\"} 1")
}

/// Both replicas open Socket Mode connections and Slack hands each event to
/// one of them: every command is answered exactly once, and a redelivery of
/// an event to the other replica (Slack's retry when it saw no
/// acknowledgement in time) does not run it again.
#[tokio::test]
async fn two_replicas_over_slack_answer_every_command_exactly_once() {
    let w = world().await;
    let slack = FakeSlack::start().await;
    let a = slack_replica(&w, &slack);
    let b = slack_replica(&w, &slack);
    slack
        .until(30, "both replicas' Socket Mode connections", |s| {
            (s.connections() == 2).then_some(())
        })
        .await;

    // 200 commands from 20 people over 10 channels (one person's burst would
    // meet `[limits]`, which is not what this is about).
    const N: usize = 200;
    for i in 0..N {
        let (channel, person) = (format!("C0OPS{}", i % 10), format!("U0P{}", i % 20));
        slack.message(&channel, &person, "!ping", None);
    }
    // Slack's retry of one event, delivered to the other connection.
    let ts = "1700000000.424242";
    slack.message_at(OPS, ALICE, "!help ping", None, ts);
    slack.message_at(OPS, ALICE, "!help ping", None, ts);
    slack
        .until(240, "every command answered", |s| {
            (pongs(s) >= N).then_some(())
        })
        .await;
    // Stopping drains each replica's replies: whatever either still held is
    // posted before it exits, so the count below is final.
    a.stop().await;
    b.stop().await;
    let handed = slack.handed();
    assert_eq!(handed.len(), 2, "both replicas took events: {handed:?}");
    assert!(handed.iter().all(|n| *n >= N / 3), "{handed:?}");
    assert_eq!(pongs(&slack), N, "each command answered exactly once");
    let help = slack
        .calls_of("chat.postMessage")
        .iter()
        .filter(|c| {
            c.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("`!ping"))
        })
        .count();
    assert_eq!(help, 1, "the redelivered event ran once");
}

/// Discord sends every event to every connected session, so one replica
/// holds the gateway (a lease in the table) and the other stands by, still
/// healthy. Stopped, the holder gives the lease back and the other connects at
/// once; killed, its lease lapses and another takes over within 30 s. Never
/// are two connected at once, and every message is answered once.
#[tokio::test]
async fn one_replica_holds_the_discord_gateway_and_another_takes_over_when_it_goes() {
    let w = world().await;
    let discord = FakeDiscord::start(SECRETS[2]).await;
    let a = discord_replica(&w, &discord);
    discord
        .until(30, "the first replica's IDENTIFY", |d| {
            (d.identifies().len() == 1).then_some(())
        })
        .await;
    let b = discord_replica(&w, &discord);
    // The standby signs in, posts nothing, and says it is healthy.
    ready(&b).await;
    assert!(holds_gateway(&a).await);
    assert!(!holds_gateway(&b).await);
    assert_eq!(discord.connections(), 1);

    let answered = |d: &FakeDiscord, text: &str| {
        d.calls_of(&format!("POST /channels/{}/messages", DISCORD_OPS))
            .iter()
            .filter(|c| c.content() == text)
            .count()
    };
    discord.message(DISCORD_OPS, 101, "alice", "!ping");
    discord
        .until(15, "pong", |d| (answered(d, "pong") == 1).then_some(()))
        .await;

    // A deploy of dockhand: ECS stops the old task (SIGTERM). It gives the
    // lease back and the standby connects within its next ask (5 s).
    let log = a.stop().await;
    assert!(
        log.contains("discord: the gateway: this replica holds it"),
        "{log}"
    );
    discord
        .until(15, "the standby's IDENTIFY", |d| {
            (d.identifies().len() == 2).then_some(())
        })
        .await;
    assert_eq!(discord.connections(), 1);
    discord.message(DISCORD_OPS, 101, "alice", "!ping");
    discord
        .until(15, "pong from the new holder", |d| {
            (answered(d, "pong") == 2).then_some(())
        })
        .await;

    // A third replica stands by; the holder is killed outright (a host
    // lost): its lease lapses and the third takes over within 30 s.
    let c = discord_replica(&w, &discord);
    ready(&c).await;
    assert!(!holds_gateway(&c).await);
    let killed = tokio::time::Instant::now();
    b.kill().await;
    discord
        .until(40, "the third replica's IDENTIFY", |d| {
            (d.identifies().len() == 3).then_some(())
        })
        .await;
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "{:?}",
        killed.elapsed()
    );
    discord.message(DISCORD_OPS, 101, "alice", "!ping");
    discord
        .until(15, "pong from the third", |d| {
            (answered(d, "pong") == 3).then_some(())
        })
        .await;
    assert_eq!(discord.connections(), 1);
    let log = c.stop().await;
    assert!(
        log.contains("another replica holds it; this one posts and stands by"),
        "{log}"
    );
    assert_eq!(answered(&discord, "pong"), 3, "no message answered twice");
}

/// The ECS task metadata endpoint (v4) of one task: what the ECS agent serves
/// every container at `ECS_CONTAINER_METADATA_URI_V4`, trimmed to the fields
/// dockhand reads. Returns the endpoint's base URL.
async fn task_metadata(cluster: &str, task_arn: &str) -> String {
    let body = serde_json::json!({
        "Cluster": cluster,
        "TaskARN": task_arn,
        "Family": "dockhand",
        "Revision": "1",
        "DesiredStatus": "RUNNING",
        "KnownStatus": "RUNNING",
        "LaunchType": "FARGATE",
        "Containers": [],
    });
    let app = axum::Router::new().route(
        "/v4/abc/task",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v4/abc")
}

/// Whether `bot` has made `n` successful calls of `operation`, on /metrics.
async fn called(bot: &Running, operation: &str, n: usize) -> bool {
    let line = format!("dockhand_aws_calls_total{{operation=\"{operation}\",outcome=\"ok\"}} {n}");
    bot.try_get("/metrics")
        .await
        .is_some_and(|m| m.lines().any(|l| l == line))
}

/// Without `[state] table`, two tasks of one ECS service would answer twice:
/// the younger stands by (no chat connection, and says why) while the older
/// runs, and starts once the older task is gone.
#[tokio::test]
async fn without_shared_state_a_second_task_stands_by_until_the_older_is_gone() {
    use aws_sdk_ecs::types::DesiredStatus;
    let w = World::new().await;
    // The service's two tasks stand for dockhand's own.
    w.worker(2).await;
    let arns = w
        .ecs
        .list_tasks()
        .cluster("apps")
        .service_name("worker")
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .unwrap()
        .task_arns()
        .to_vec();
    let tasks = w
        .ecs
        .describe_tasks()
        .cluster("apps")
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    let mut by_age: Vec<_> = tasks
        .tasks()
        .iter()
        .map(|t| {
            (
                t.created_at().unwrap().as_nanos(),
                t.task_arn().unwrap().to_string(),
            )
        })
        .collect();
    by_age.sort();
    let (elder, younger) = (by_age[0].1.clone(), by_age[1].1.clone());

    let slack = FakeSlack::start().await;
    let config = format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\n[slack]\napi_url = {:?}\n",
        root().join("commands"),
        slack.api_url
    );
    let replica = |metadata: &str| {
        Running::start(
            &config,
            &[
                ("SLACK_BOT_TOKEN", SECRETS[0]),
                ("SLACK_APP_TOKEN", SECRETS[1]),
                ("DOCKHAND_EMULATOR_ACCOUNT", w.account.id.as_str()),
                ("ECS_CONTAINER_METADATA_URI_V4", metadata),
            ],
        )
    };
    let a = replica(&task_metadata("apps", &elder).await);
    slack
        .until(30, "the older task's connection", |s| {
            (s.connections() == 1).then_some(())
        })
        .await;
    let b = replica(&task_metadata("apps", &younger).await);
    // It has looked (ListTasks of its service) and connected nowhere.
    for _ in 0..300 {
        if called(&b, "ecs:ListTasks", 1).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(called(&b, "ecs:ListTasks", 1).await);
    assert!(b.get("/healthz").await.starts_with("HTTP/1.1 200"), "alive");
    assert_eq!((slack.hellos(), slack.connections()), (1, 1));
    slack.message(OPS, ALICE, "!ping", None);
    slack
        .until(15, "pong", |s| (pongs(s) == 1).then_some(()))
        .await;

    // The older task goes (ECS replaces it with a newer one): the one
    // standing by starts within its next look.
    a.kill().await;
    w.ecs
        .stop_task()
        .cluster("apps")
        .task(&elder)
        .reason("host retired")
        .send()
        .await
        .unwrap();
    slack
        .until(30, "the younger task's connection", |s| {
            (s.hellos() == 2 && s.connections() == 1).then_some(())
        })
        .await;
    slack.message(OPS, ALICE, "!ping", None);
    slack
        .until(15, "pong", |s| (pongs(s) == 2).then_some(()))
        .await;
    let log = b.stop().await;
    assert!(
        log.contains("this ECS service runs more than one dockhand task without `[state] table`"),
        "{log}"
    );
    assert!(
        log.contains("the older dockhand task is gone; this one starts"),
        "{log}"
    );
}

/// dockhand deploying itself with two replicas, as the template's deployment
/// configuration does it (MaximumPercent 200, MinimumHealthyPercent 50): a new
/// task starts, an old one is stopped (SIGTERM), and again. People keep typing
/// throughout; every command is answered exactly once, none waits over 5 s.
#[tokio::test]
async fn dockhand_replaces_its_two_replicas_while_people_type_and_loses_nothing() {
    let w = world().await;
    let slack = FakeSlack::start().await;
    let a = slack_replica(&w, &slack);
    let b = slack_replica(&w, &slack);
    slack
        .until(30, "both replicas' connections", |s| {
            (s.connections() == 2).then_some(())
        })
        .await;

    // A command every 200 ms over five channels, each answerable by name.
    const N: usize = 100;
    let typing = {
        let slack = slack.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..N {
                let channel = format!("C0OPS{}", i % 5);
                sent.push(tokio::time::Instant::now());
                slack.message(
                    &channel,
                    &format!("U0P{}", i % 20),
                    &format!("!help p{i}"),
                    None,
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            sent
        })
    };
    let replace = |old: Running| async {
        let new = slack_replica(&w, &slack);
        slack
            .until(30, "the new task's connection", |s| {
                (s.connections() == 3).then_some(())
            })
            .await;
        old.stop().await;
        new
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = replace(a).await;
    let d = replace(b).await;
    let sent = typing.await.unwrap();
    let answer = |i: usize| format!("No command `p{i}`.");
    slack
        .until(60, "every command answered", |s| {
            let posted = s.calls_of("chat.postMessage");
            (0..N)
                .all(|i| {
                    posted.iter().any(|c| {
                        c.body["text"]
                            .as_str()
                            .is_some_and(|t| t.starts_with(&answer(i)))
                    })
                })
                .then_some(())
        })
        .await;
    c.stop().await;
    d.stop().await;
    let timed = slack.timed_calls();
    for (i, at) in sent.iter().enumerate() {
        let answers: Vec<_> = timed
            .iter()
            .filter(|(_, c)| {
                c.method == "chat.postMessage"
                    && c.body["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(&answer(i)))
            })
            .collect();
        assert_eq!(answers.len(), 1, "p{i} answered once: {answers:?}");
        let waited = answers[0].0 - *at;
        assert!(waited < Duration::from_secs(5), "p{i} waited {waited:?}");
    }
}
