//! The Slack adapter at the protocol level: the real adapter (slack-morphism's
//! client and Socket Mode listener, pointed at a local server that speaks Slack's
//! Web API and Socket Mode websocket) and the real pipeline behind it, with AWS
//! calls going to the local emulator.
//!
//! Run with `make test` (or `scripts/with-emulator.sh cargo test --test tests slack::`).

use crate::support;
use crate::support::process;
use crate::support::slack as slack_server;

use hmac::{Hmac, Mac};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use dockhand::adapters::edits::{EDIT_INTERVAL, SLOW_INTERVAL};
use dockhand::adapters::slack::{self, SlackError};
use dockhand::config::Config;
use dockhand::message::{MessageId, Origin, Outbound, Outbox, Platform, Reply};
use process::{Running, healthcheck};
use slack_server::{BOT_USER, Call, FakeSlack};
use support::{Bot, SECRETS, World, assert_no_secret, root};

const ALICE: &str = "U0ALICE";
const BOB: &str = "U0BOB";
const OPS: &str = "C0OPS";
const OTHER: &str = "C0OTHER";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// `hubot` in protected prod (deploys ask for a confirmation), `worker` in staging.
const APPS: &str = r#"
[aws]
region = "us-east-1"
max_attempts = 1

[watch]
poll_seconds = 0.1

[environments.prod]
protected = true

[environments.staging]

[apps.hubot]
environment = "prod"
stack = "hubot"
# deploy/service.yaml has IAM roles: updates acknowledge them.
capabilities = ["CAPABILITY_IAM"]
min = 0
max = 10

[apps.worker]
environment = "staging"
cluster = "apps"
service = "worker"
container = "worker"
min = 0
max = 10

[roles]
deployers = ["slack:U0ALICE", "slack:U0BOB"]

[[rules]]
name = "deployers"
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
roles = ["deployers"]

# Anyone may lock staging: the rule names no role.
[[rules]]
name = "anyone-locks-staging"
verbs = ["lock"]
environments = ["staging"]
"#;

struct Harness {
    slack: FakeSlack,
    world: World,
    stop: CancellationToken,
    adapter: tokio::task::JoinHandle<Result<(), SlackError>>,
    /// Into the adapter's router, as dispatch sends: for replies a test makes itself.
    outbox: Outbox,
    _bot: Bot,
}

impl Harness {
    async fn start(slack_section: &str) -> Harness {
        let slack = FakeSlack::start().await;
        slack.name(ALICE, "alice");
        slack.name(BOB, "bob");
        let world = World::new().await;
        let text = format!(
            "commands_dir = {:?}\n{APPS}\n[slack]\napi_url = {:?}\n{slack_section}",
            root().join("commands"),
            slack.api_url
        );
        let env = |name: &str| match name {
            "SLACK_BOT_TOKEN" => Some(SECRETS[0].to_string()),
            "SLACK_APP_TOKEN" => Some(SECRETS[1].to_string()),
            "SLACK_SIGNING_SECRET" => Some(SIGNING_SECRET.to_string()),
            _ => None,
        };
        let config = Config::parse("slack-test.toml", &text, &env, dockhand::verbs::NAMES)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let bot = Bot::new(config, &world.account).await;
        let settings = bot.dispatcher.config().slack.clone();
        let stop = CancellationToken::new();
        let wiring = bot.wiring(Platform::Slack, stop.clone());
        let outbox = wiring.outbox.clone();
        let adapter = tokio::spawn(async move { slack::run(&settings, wiring).await });
        Harness {
            slack,
            world,
            stop,
            adapter,
            outbox,
            _bot: bot,
        }
    }

    async fn connected(self, hellos: usize) -> Harness {
        self.slack
            .until(10, "a Socket Mode connection", |s| {
                (s.hellos() >= hellos).then_some(())
            })
            .await;
        self
    }

    /// The first `chat.postMessage` whose text contains `text`.
    async fn post(&self, text: &str) -> Call {
        let text = text.to_string();
        self.slack
            .until(20, &format!("a post with {text:?}"), |s| {
                s.calls_of("chat.postMessage")
                    .into_iter()
                    .find(|c| text_of(c).contains(&text))
            })
            .await
    }

    /// The first `chat.postMessage` in `channel` whose text contains `text`.
    async fn post_in(&self, channel: &str, text: &str) -> Call {
        let (channel, text) = (channel.to_string(), text.to_string());
        self.slack
            .until(20, &format!("a post in {channel} with {text:?}"), |s| {
                s.calls_of("chat.postMessage")
                    .into_iter()
                    .find(|c| c.body["channel"] == channel.as_str() && text_of(c).contains(&text))
            })
            .await
    }

    async fn update(&self, ts: &str, text: &str) -> Call {
        let (ts, text) = (ts.to_string(), text.to_string());
        self.slack
            .until(30, &format!("an update of {ts} with {text:?}"), |s| {
                s.calls_of("chat.update")
                    .into_iter()
                    .find(|c| c.body["ts"] == ts.as_str() && text_of(c).contains(&text))
            })
            .await
    }

    async fn stop(self) {
        // The deliverer drains once every sender is gone, this one included.
        drop(self.outbox);
        self.stop.cancel();
        self.adapter.await.unwrap().unwrap();
        // Nothing the adapter sent carries a secret, and every call used the bot
        // token (a response URL takes none: it is its own credential).
        // Uploaded files too, as they reached the upload URL.
        for file in self.slack.uploads() {
            assert_no_secret(&file.name);
            assert_no_secret(&file.text());
        }
        for call in self.slack.calls() {
            assert_no_secret(&call.body.to_string());
            if call.method != "apps.connections.open" && call.method != "respond" {
                assert_eq!(call.token.as_deref(), Some(SECRETS[0]), "{}", call.method);
            }
        }
        support::scan_logs();
    }
}

fn text_of(call: &Call) -> String {
    call.body["text"].as_str().unwrap_or_default().to_string()
}

/// F1: `/dockhand` works in a channel the bot was never invited to, but
/// chat.postMessage there answers not_in_channel. The answer then goes to the
/// person through the command's response_url, saying how to invite the bot,
/// instead of being lost.
#[tokio::test]
async fn a_slash_command_where_the_bot_is_not_a_member_is_answered_through_its_response_url() {
    let h = Harness::start("").await.connected(1).await;
    let s = &h.slack;
    s.absent_from("C0NOTIN");
    s.slash("C0NOTIN", BOB, "ping");
    let answer = s
        .until(10, "the answer on the response URL", |s| {
            s.calls_of("respond").into_iter().next()
        })
        .await;
    let text = text_of(&answer);
    assert!(text.starts_with("pong\n"), "{text}");
    assert!(text.contains("`/invite @dockhand`"), "{text}");
    assert_eq!(s.calls_of("chat.postMessage (not_in_channel)").len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn messages_mentions_slash_commands_and_dms_are_answered_once_each() {
    let h = Harness::start("").await.connected(1).await;
    let s = &h.slack;

    let chatter = s.message(OPS, ALICE, "deploying after lunch, ping me", None);
    let other_bot = s.bot_message(OPS, "!version");
    let own = s.message(OPS, BOT_USER, "!version", None);
    let prefixed = s.message(OPS, ALICE, "!ping", None);
    s.mention(OPS, ALICE, "help ping");
    let slash = s.slash(OPS, BOB, "version");
    s.message(OPS, ALICE, "!whoami", Some("1700000000.000001"));
    s.message("D0ALICE", ALICE, "whoami", None);

    h.post("pong").await;
    h.post("Check that the bot is alive").await;
    let version = h.post("dockhand ").await;
    // Channels are answered side by side: the DM's whoami may come first.
    let threaded = h.post_in(OPS, "slack:U0ALICE").await;
    let dm = h
        .slack
        .until(10, "the DM's answer", |s| {
            s.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| c.body["channel"] == "D0ALICE")
        })
        .await;
    // Every envelope is acknowledged, the ignored ones too.
    for id in [&chatter, &other_bot, &own, &prefixed, &slash] {
        let id = id.clone();
        s.until(5, "an ack", |s| s.acked(&id).then_some(())).await;
    }

    assert_eq!(version.body["channel"], OPS);
    assert_eq!(
        threaded.body["thread_ts"], "1700000000.000001",
        "the reply stays in the thread"
    );
    assert!(text_of(&dm).contains("slack:U0ALICE"), "{}", dm.body);
    // Exactly five answers: chatter, the other bot, the bot's own message and the
    // message copy of the mention got none.
    let posts = s.calls_of("chat.postMessage");
    assert_eq!(
        posts.len(),
        5,
        "{:#?}",
        posts.iter().map(text_of).collect::<Vec<_>>()
    );
    h.stop().await;
}

/// F3: a bot user's mention is not a command while `allow_bots = false`
/// (Slack's app_mention does not say it came from a bot; users.info does).
/// F1: someone of another organisation in a shared channel (Slack Connect) may
/// read what the channel may, and changes nothing, even where a rule that names
/// no role would let anyone.
#[tokio::test]
async fn bots_mentions_are_ignored_and_other_organisations_change_nothing() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(1).await;
    let s = &h.slack;
    s.is_bot("U0SOMEBOT");
    s.mention(OPS, "U0SOMEBOT", "version");
    s.in_team("U0PARTNER", "T0PARTNER");
    s.mention(OPS, "U0PARTNER", "ping");
    s.mention(OPS, "U0PARTNER", "lock worker mine now");
    let refused = h
        .post("Changes are made by people of this workspace only")
        .await;
    assert_eq!(refused.body["channel"], OPS);
    // The ping was answered; the bot's `version` got nothing.
    let posts: Vec<String> = s.calls_of("chat.postMessage").iter().map(text_of).collect();
    assert!(posts.iter().any(|p| p == "pong"), "{posts:?}");
    assert!(
        !posts.iter().any(|p| p.starts_with("dockhand ")),
        "{posts:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_message_runs_once_and_only_when_the_mention_leads_it() {
    let h = Harness::start("").await.connected(1).await;
    let s = &h.slack;

    // A mention that does not lead (a cc, a quote): Slack still sends an
    // app_mention, and what follows the mention would read as a command.
    let talk = format!("cc <@{BOT_USER}> ping");
    s.app_mention(OPS, ALICE, &talk, "1700000100.000100");
    // One mention and one message, each delivered twice (Slack retries an event it
    // thinks was not acknowledged in time).
    let lead = format!("<@{BOT_USER}> ping");
    s.app_mention(OPS, ALICE, &lead, "1700000100.000200");
    s.app_mention(OPS, ALICE, &lead, "1700000100.000200");
    s.message_at(OPS, BOB, "!ping", None, "1700000100.000300");
    s.message_at(OPS, BOB, "!ping", None, "1700000100.000300");
    // The worker takes events in order: once this is answered, so is every one above.
    s.message(OPS, ALICE, "!version", None);
    h.post("dockhand ").await;

    let pongs = s
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| text_of(c) == "pong")
        .count();
    assert_eq!(
        pongs,
        2,
        "{:#?}",
        s.calls_of("chat.postMessage")
            .iter()
            .map(text_of)
            .collect::<Vec<_>>()
    );
    h.stop().await;
}

#[tokio::test]
async fn a_deploy_edits_one_message_and_threads_aws_events() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(2).await;
    // The first progress edit is rate limited: the client waits Retry-After and retries.
    h.slack.rate_limit("chat.update", 1);

    h.slack.message(OPS, ALICE, "!deploy worker v42", None);

    let head = h.post("Deploying worker v42").await;
    assert!(text_of(&head).contains("asked by @alice"), "{}", head.body);
    let head_ts = head.ts.clone().unwrap();
    let done = h.update(&head_ts, "worker v42 is live").await;
    assert!(text_of(&done).contains("2/2 tasks"), "{}", done.body);
    let thread: Vec<Call> = h
        .slack
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["thread_ts"] == head_ts.as_str())
        .collect();
    assert!(
        thread
            .iter()
            .any(|c| text_of(c).contains("(service worker)")),
        "AWS's events go in the head's thread: {thread:#?}"
    );
    // (That each event is posted once is dispatch's part, checked in tests/aws.rs.)
    assert!(
        !h.slack.calls_of("chat.update (429)").is_empty(),
        "the rate limit was hit"
    );
    // Every update is of the head message.
    assert!(
        h.slack
            .calls_of("chat.update")
            .iter()
            .all(|c| c.body["ts"] == head_ts.as_str())
    );
    h.stop().await;
}

fn buttons(call: &Call) -> Vec<(String, String)> {
    call.body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["text"]["text"].as_str().unwrap_or_default().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn buttons_confirm_and_abort_through_the_same_path_and_settle_the_prompt() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(1).await;
    h.world.stack("hubot", "v1", 1).await;
    h.world.settle("hubot-cluster", "hubot").await;

    h.slack.message(OPS, ALICE, "!deploy hubot v2", None);
    let prompt = h.post("needs a confirmation").await;
    let b = buttons(&prompt);
    assert_eq!(b.len(), 2, "{}", prompt.body);
    assert!(
        b[0].0 == "Confirm" && b[0].1.starts_with("confirm "),
        "{b:?}"
    );
    let prompt_ts = prompt.ts.clone().unwrap();

    // Bob's click is refused, to Bob alone; the buttons stay for Alice.
    h.slack
        .click(OPS, BOB, &prompt_ts, &text_of(&prompt), &b[0].1);
    let refusal = h
        .slack
        .until(10, "an ephemeral refusal", |s| {
            s.calls_of("chat.postEphemeral").into_iter().next()
        })
        .await;
    assert_eq!(refusal.body["user"], BOB);
    assert!(
        text_of(&refusal).contains("Only alice (slack:U0ALICE) can confirm"),
        "{}",
        refusal.body
    );

    h.slack
        .click(OPS, ALICE, &prompt_ts, &text_of(&prompt), &b[0].1);
    let settled = h
        .update(&prompt_ts, "Confirmed by alice (slack:U0ALICE)")
        .await;
    assert!(
        buttons(&settled).is_empty(),
        "no buttons left: {}",
        settled.body
    );
    let head = h.post("Deploying hubot v2").await;
    let head_ts = head.ts.clone().unwrap();
    h.update(&head_ts, "hubot v2 is live").await;

    // Scale to zero asks too; Abort settles it and changes nothing.
    h.slack.message(OPS, ALICE, "!scale worker 0", None);
    let prompt = h.post("`scale worker 0` needs a confirmation").await;
    let b = buttons(&prompt);
    let prompt_ts = prompt.ts.clone().unwrap();
    h.slack
        .click(OPS, ALICE, &prompt_ts, &text_of(&prompt), &b[1].1);
    h.update(
        &prompt_ts,
        "Aborted by alice (slack:U0ALICE); nothing changed.",
    )
    .await;
    assert!(
        h.slack
            .calls_of("chat.postMessage")
            .iter()
            .all(|c| !text_of(c).contains("Scaling worker"))
    );
    h.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_the_next_command_is_answered() {
    let h = Harness::start("").await.connected(1).await;

    h.slack.drop_connections();
    // Sent while no socket is open: Slack holds it until the client is back.
    h.slack.message(OPS, ALICE, "!ping", None);
    let h = h.connected(2).await;
    h.post("pong").await;

    // Slack asks for a refresh: the client reconnects by itself.
    h.slack.refresh();
    let h = h.connected(3).await;
    h.slack.message(OPS, ALICE, "!version", None);
    h.post("dockhand ").await;
    h.stop().await;
}

// --- HTTP mode -------------------------------------------------------------

fn sign(ts: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_http(
    addr: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        slack::http::PATH,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn http_mode_accepts_signed_events_and_refuses_the_rest() {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let h = Harness::start(&format!("mode = \"http\"\nlisten = {addr:?}\n")).await;
    // Wait for the listener.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let event = json!({
        "type": "event_callback", "team_id": "T0TEAM", "api_app_id": "A0DOCKHAND",
        "event_id": "Ev1", "event_time": now(),
        "event": {"type": "message", "channel": OPS, "user": ALICE, "text": "!ping", "ts": "1700000001.000100"}
    })
    .to_string();
    let ts = now().to_string();
    let json_type = "application/json";

    // Unsigned, wrongly signed, and a replay of a signature 6 minutes old: refused.
    let (status, _) = post_http(&addr, json_type, &[], &event).await;
    assert_eq!(status, 401);
    let bad = vec![
        ("x-slack-request-timestamp", ts.clone()),
        ("x-slack-signature", sign(&ts, "something else")),
    ];
    assert_eq!(post_http(&addr, json_type, &bad, &event).await.0, 401);
    let old = (now() - 360).to_string();
    let stale = vec![
        ("x-slack-request-timestamp", old.clone()),
        ("x-slack-signature", sign(&old, &event)),
    ];
    assert_eq!(post_http(&addr, json_type, &stale, &event).await.0, 401);

    // Signed: the URL check is answered, the message reaches dispatch.
    let challenge =
        json!({"type": "url_verification", "token": "x", "challenge": "c-123"}).to_string();
    let signed = |body: &str| {
        vec![
            ("x-slack-request-timestamp", ts.clone()),
            ("x-slack-signature", sign(&ts, body)),
        ]
    };
    let (status, body) = post_http(&addr, json_type, &signed(&challenge), &challenge).await;
    assert_eq!((status, body.as_str()), (200, "c-123"));
    assert_eq!(
        post_http(&addr, json_type, &signed(&event), &event).await.0,
        200
    );
    h.post("pong").await;
    // A slash command arrives as a form.
    let form = format!(
        "team_id=T0TEAM&channel_id={OPS}&user_id={BOB}&command=%2Fdockhand&text=version&response_url=http%3A%2F%2F127.0.0.1%2Fr&trigger_id=t"
    );
    let form_type = "application/x-www-form-urlencoded";
    assert_eq!(
        post_http(&addr, form_type, &signed(&form), &form).await.0,
        200
    );
    h.post("dockhand ").await;
    // F14: the same signed requests replayed within the five minutes, and the
    // event as Slack retries it, run nothing again...
    post_http(&addr, json_type, &signed(&event), &event).await;
    post_http(&addr, form_type, &signed(&form), &form).await;
    let mut retried = signed(&event);
    retried.push(("x-slack-retry-num", "1".to_string()));
    post_http(&addr, json_type, &retried, &event).await;
    // ...while a retry of an event that never arrived (a restart's gap) runs.
    let missed = json!({
        "type": "event_callback", "team_id": "T0TEAM", "api_app_id": "A0DOCKHAND",
        "event_id": "Ev2", "event_time": now(),
        "event": {"type": "message", "channel": OPS, "user": ALICE, "text": "!help ping", "ts": "1700000002.000100"}
    })
    .to_string();
    let mut retry = signed(&missed);
    retry.push(("x-slack-retry-num", "2".to_string()));
    assert_eq!(post_http(&addr, json_type, &retry, &missed).await.0, 200);
    h.post("Check that the bot is alive").await;
    // The refused and replayed requests reached nothing: one answer each for the
    // three accepted.
    assert_eq!(h.slack.calls_of("chat.postMessage").len(), 3);
    h.stop().await;
}

#[test]
fn the_app_manifest_asks_for_what_the_adapter_uses_and_no_more() {
    let manifest = std::fs::read_to_string(root().join("deploy/slack-app-manifest.yaml")).unwrap();
    let section = |from: &str, to: &str| {
        let start = manifest
            .find(from)
            .unwrap_or_else(|| panic!("{from} in the manifest"));
        let end = manifest[start..]
            .find(to)
            .map_or(manifest.len(), |e| start + e);
        manifest[start..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let scopes = section("    bot:", "settings:");
    assert_eq!(
        scopes,
        [
            "app_mentions:read",
            "commands",
            "chat:write",
            "files:write",
            "users:read",
            "im:history",
            "channels:history",
            "groups:history"
        ]
    );
    let events = section("bot_events:", "interactivity:");
    assert_eq!(
        events,
        [
            "app_mention",
            "message.im",
            "message.channels",
            "message.groups"
        ]
    );
    assert!(manifest.contains("socket_mode_enabled: true"));
    assert!(manifest.contains("command: /dockhand"));
    assert!(manifest.contains("interactivity:\n    is_enabled: true"));
}

#[tokio::test]
async fn dockhand_run_connects_answers_serves_health_and_stops_cleanly_on_sigterm() {
    let slack = FakeSlack::start().await;
    let config = format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\n[slack]\napi_url = {:?}\n",
        root().join("commands"),
        slack.api_url
    );
    let bot = Running::start(
        &config,
        &[
            ("SLACK_BOT_TOKEN", SECRETS[0]),
            ("SLACK_APP_TOKEN", SECRETS[1]),
        ],
    );
    slack
        .until(20, "the binary's Socket Mode connection", |s| {
            (s.hellos() >= 1).then_some(())
        })
        .await;
    slack.message(OPS, ALICE, "!ping", None);
    slack
        .until(10, "pong", |s| {
            s.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| text_of(c) == "pong")
        })
        .await;

    // Health and metrics: alive, ready (Slack connected, AWS answers), counted.
    assert!(bot.get("/healthz").await.starts_with("HTTP/1.1 200"));
    let ready = bot.get("/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    bot.assert_metrics(&[
        "dockhand_commands_total{verb=\"ping\",outcome=\"allowed\"} 1",
        "dockhand_adapter_connected{adapter=\"slack\"} 1",
        "dockhand_aws_calls_total{operation=\"ecs:ListClusters\",outcome=\"ok\"} 1",
        "dockhand_operations_in_flight 0",
    ])
    .await;
    let metrics_addr = bot.metrics_addr.clone();
    assert!(healthcheck(&metrics_addr).status.success());

    let log = bot.stop().await;
    assert!(log.contains("slack: signed in"), "{log}");
    // Nothing answers any more: the health check says so.
    let check = healthcheck(&metrics_addr);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("unhealthy: nothing answers"));
}

/// `dockhand run` as ECS runs it, for one app in a fresh emulator account.
fn run_bot(slack: &FakeSlack, config: &std::path::Path, account: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("SLACK_BOT_TOKEN", SECRETS[0])
        .env("SLACK_APP_TOKEN", SECRETS[1])
        .env("SLACK_API_URL", &slack.api_url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", support::emulator_url())
        .env("DOCKHAND_EMULATOR_ACCOUNT", account)
        .env("DOCKHAND_METRICS_ADDR", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_restart_mid_deploy_hands_over_quickly_and_the_next_instance_reports_the_outcome() {
    let slack = FakeSlack::start().await;
    slack.name(ALICE, "alice");
    let w = World::new().await;
    w.worker(2).await;
    w.account.rollout_seconds(4.0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockhand.toml");
    std::fs::write(
        &config,
        format!(
            "commands_dir = {:?}\n{APPS}\n[watch]\npoll_seconds = 0.2\n",
            root().join("commands")
        )
        .replace("[watch]\npoll_seconds = 0.1\n", ""),
    )
    .unwrap();

    let first = run_bot(&slack, &config, &w.account.id);
    slack
        .until(20, "the first instance", |s| {
            (s.hellos() >= 1).then_some(())
        })
        .await;
    slack.message(OPS, ALICE, "!deploy worker v42", None);
    let head = slack
        .until(20, "the deploy's head message", |s| {
            s.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| text_of(c).starts_with("Deploying worker v42"))
        })
        .await;
    let head_ts = head.ts.clone().unwrap();
    slack
        .until(20, "the rollout under way", |s| {
            s.calls_of("chat.update")
                .into_iter()
                .find(|c| text_of(c).contains("rollout worker:2"))
        })
        .await;

    // SIGTERM mid-rollout: the head message says the bot is restarting and AWS
    // carries on, and the process is gone well within ECS's stop timeout.
    let pid = first.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(25), first.wait_with_output())
        .await
        .expect("stopped within 25 s")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let handover = slack
        .until(5, "the handover note", |s| {
            s.calls_of("chat.update").into_iter().find(|c| {
                c.body["ts"] == head_ts.as_str() && text_of(c).contains("dockhand is restarting")
            })
        })
        .await;
    assert!(
        text_of(&handover).contains("AWS carries on"),
        "{}",
        handover.body
    );

    // The next instance watches the same deploy again and reports in the channel.
    let second = run_bot(&slack, &config, &w.account.id);
    let resumed = slack
        .until(30, "the resumed watch", |s| {
            s.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| text_of(c).contains("Watching `deploy worker v42` again after a restart"))
        })
        .await;
    assert_eq!(resumed.body["channel"], OPS);
    let ts = resumed.ts.clone().unwrap();
    slack
        .until(30, "the outcome", |s| {
            s.calls_of("chat.update")
                .into_iter()
                .find(|c| c.body["ts"] == ts.as_str() && text_of(c).contains("worker v42 is live"))
        })
        .await;
    let pid = second.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = second.wait_with_output().await.unwrap();
    assert!(out.status.success());
    assert_no_secret(&String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn when_slack_refuses_an_update_the_news_goes_in_the_thread() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(1).await;
    // Someone deleted the head message: every update of it fails.
    h.slack.fail("chat.update", "message_not_found");

    h.slack.message(OPS, ALICE, "!deploy worker v42", None);
    let head = h.post("Deploying worker v42").await;
    let head_ts = head.ts.clone().unwrap();
    let last = h
        .slack
        .until(30, "the verdict in the thread", |s| {
            s.calls_of("chat.postMessage").into_iter().find(|c| {
                c.body["thread_ts"] == head_ts.as_str() && text_of(c).contains("worker v42 is live")
            })
        })
        .await;
    assert!(
        text_of(&last)
            .starts_with("(Slack refused to update the message above: message_not_found.)"),
        "{}",
        last.body
    );
    h.stop().await;
}

/// A message Slack refuses to update gets its news in its thread, but not one post
/// per edit: the first refusal is said at once, later edits wait `SLOW_INTERVAL`
/// (the newest text winning), and the last text still arrives when the deliverer
/// drains. The edits come further apart than `EDIT_INTERVAL`, so unpaced, each would
/// be one more refused update and one more thread post.
#[tokio::test]
async fn refused_updates_reach_the_thread_paced_and_the_last_text_lands() {
    let h = Harness::start("").await.connected(1).await;
    let origin = Origin {
        platform: Platform::Slack,
        channel: OPS.into(),
        thread: None,
        direct: false,
    };
    let send = |reply: Reply| {
        h.outbox
            .send(Outbound {
                origin: origin.clone(),
                reply,
            })
            .unwrap()
    };
    // No command is sent, so dispatch hands out no id: this one is the test's.
    let id = MessageId(1 << 40);
    send(Reply::text("Deploying worker v42 to staging, asked by alice.").with_id(id));
    let head_ts = h.post("Deploying worker v42").await.ts.unwrap();
    // Someone deleted the head message: every update of it fails.
    h.slack.fail("chat.update", "message_not_found");

    const EDITS: usize = 4;
    let started = tokio::time::Instant::now();
    for i in 1..=EDITS {
        send(Reply::edit(
            id,
            format!("Deploying worker v42 to staging.\nrollout 2 {i}/{EDITS} running"),
        ));
        if i < EDITS {
            tokio::time::sleep(EDIT_INTERVAL + std::time::Duration::from_millis(200)).await;
        }
    }
    let elapsed = started.elapsed();
    let slack = h.slack.clone();
    // Stopping drains the deliverer: the held edit is sent then.
    h.stop().await;

    let fallbacks: Vec<String> = slack
        .calls_of("chat.postMessage")
        .iter()
        .filter(|c| c.body["thread_ts"] == head_ts.as_str())
        .map(text_of)
        .collect();
    let seen = fallbacks.join("\n---\n");
    for text in &fallbacks {
        assert!(
            text.starts_with("(Slack refused to update the message above: message_not_found.)"),
            "{seen}"
        );
    }
    // Each post follows one refused update: the updates are paced too.
    assert_eq!(
        slack.calls_of("chat.update (message_not_found)").len(),
        fallbacks.len(),
        "{seen}"
    );
    // The first at once, then at most one per SLOW_INTERVAL, then the drained last.
    let allowed = 2 + (elapsed.as_secs_f64() / SLOW_INTERVAL.as_secs_f64()) as usize;
    assert!(
        fallbacks.len() <= allowed && fallbacks.len() < EDITS,
        "{} thread posts for {EDITS} edits over {elapsed:?} (at most {allowed}):\n{seen}",
        fallbacks.len()
    );
    assert!(
        fallbacks[0].ends_with(&format!("1/{EDITS} running")),
        "{seen}"
    );
    assert!(
        fallbacks
            .last()
            .unwrap()
            .ends_with(&format!("{EDITS}/{EDITS} running")),
        "{seen}"
    );
}

// --- Files -----------------------------------------------------------------

/// Appended to the `[slack]` section: anyone may read logs (no channel is bound).
const ANYONE_READS_LOGS: &str = "[[rules]]\nname = \"anyone-reads-logs\"\nverbs = [\"logs\"]\n";

/// A test's own replies into `#ops` (or a thread of it), as dispatch sends them.
fn sender<'a>(h: &'a Harness, thread: Option<&str>) -> impl Fn(Reply) + 'a {
    let origin = Origin {
        platform: Platform::Slack,
        channel: OPS.into(),
        thread: thread.map(Into::into),
        direct: false,
    };
    move |reply| {
        h.outbox
            .send(Outbound {
                origin: origin.clone(),
                reply,
            })
            .unwrap()
    }
}

/// A `!logs` answer longer than a message: the message shows the newest lines and
/// names the file, and every line goes up as that file into the message's thread,
/// once the message is posted, through Slack's external upload. A secret in a line
/// is masked in the file as in the message (`stop` scans the uploaded bytes).
#[tokio::test]
async fn a_long_logs_answer_uploads_every_line_as_a_file_into_its_thread() {
    let h = Harness::start(ANYONE_READS_LOGS).await.connected(1).await;
    h.world.long_log(60).await;

    h.slack.message(OPS, ALICE, "!logs worker 60", None);
    let message = h.post("(all 60 in worker-logs.txt)").await;
    let ts = message.ts.clone().unwrap();
    assert!(text_of(&message).contains("line 59"), "{}", message.body);
    let file = h
        .slack
        .until(20, "the shared file", |s| s.files().into_iter().next())
        .await;
    assert_eq!(file.name, "worker-logs.txt");
    assert_eq!(file.title.as_deref(), Some("worker-logs.txt"));
    assert_eq!(file.channel.as_deref(), Some(OPS));
    assert_eq!(
        file.thread.as_deref(),
        Some(ts.as_str()),
        "in the message's thread"
    );
    let text = file.text();
    assert_eq!(
        file.length,
        text.len(),
        "the length announced is the bytes sent"
    );
    assert_eq!(text.lines().count(), 60, "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.contains("line 00") && first.contains("token ****"),
        "{first}"
    );
    assert!(text.lines().last().unwrap().contains("line 59"), "{text}");

    // In the order Slack needs: the message, then the three steps of the upload,
    // each with the bot token; no note, since nothing failed.
    let calls = h.slack.calls();
    let at = |method: &str| {
        calls
            .iter()
            .position(|c| {
                c.method == method && (method != "chat.postMessage" || c.ts.as_deref() == Some(&ts))
            })
            .unwrap_or_else(|| panic!("no {method}"))
    };
    let steps = [
        at("chat.postMessage"),
        at("files.getUploadURLExternal"),
        at("upload"),
        at("files.completeUploadExternal"),
    ];
    assert!(steps.is_sorted(), "{steps:?}");
    assert_eq!(calls[steps[1]].body["filename"], "worker-logs.txt");
    assert_eq!(h.slack.calls_of("chat.postMessage").len(), 1);
    h.stop().await;
}

/// A reply in a thread gets its file in that thread (Slack wants the thread's
/// parent as `thread_ts`, never a reply's ts). An edit of the message uploads a
/// file only when it carries one itself.
#[tokio::test]
async fn files_go_into_the_replys_thread_and_an_edit_uploads_only_its_own() {
    let h = Harness::start("").await.connected(1).await;
    let parent = "1700000000.000001";
    let send = sender(&h, Some(parent));
    let id = MessageId(1 << 41);
    send(
        Reply::verbatim("worker: 2 lines (all 3 in worker-logs.txt):", "b\nc")
            .with_id(id)
            .attach("worker-logs.txt", "a\nb\nc\n"),
    );
    let message = h.post("(all 3 in worker-logs.txt)").await;
    assert_eq!(message.body["thread_ts"], parent);
    let ts = message.ts.clone().unwrap();
    let first = h
        .slack
        .until(10, "the file", |s| s.files().into_iter().next())
        .await;
    assert_eq!(first.thread.as_deref(), Some(parent));
    assert_eq!(first.channel.as_deref(), Some(OPS));
    assert_eq!(first.text(), "a\nb\nc\n");

    send(Reply::edit(id, "worker: edited, no file"));
    h.update(&ts, "worker: edited, no file").await;
    send(Reply::edit(id, "worker: edited with a file").attach("worker-logs-2.txt", "d\n"));
    h.update(&ts, "worker: edited with a file").await;
    let second = h
        .slack
        .until(10, "the edit's file", |s| s.files().into_iter().nth(1))
        .await;
    assert_eq!(second.name, "worker-logs-2.txt");
    assert_eq!(second.thread.as_deref(), Some(parent));
    assert_eq!(second.text(), "d\n");
    let slack = h.slack.clone();
    drop(send);
    h.stop().await;
    assert_eq!(slack.uploads().len(), 2, "{:?}", slack.uploads());
}

/// An app installed without `files:write` (Slack: `missing_scope`): the message
/// lands all the same, the log warns with Slack's code, and its thread gets one
/// line saying the file could not be attached and why.
#[tokio::test]
async fn without_files_write_the_message_lands_and_its_thread_says_why_the_file_did_not() {
    let h = Harness::start("").await.connected(1).await;
    h.slack.without_scope("files:write");
    let send = sender(&h, None);
    send(
        Reply::verbatim("worker: 2 lines (all 3 in scopeless-logs.txt):", "b\nc")
            .attach("scopeless-logs.txt", "a\nb\nc\n"),
    );
    let message = h.post("(all 3 in scopeless-logs.txt)").await;
    let ts = message.ts.clone().unwrap();
    let note = h
        .slack
        .until(10, "the note in the thread", |s| {
            s.calls_of("chat.postMessage")
                .into_iter()
                .find(|c| c.body["thread_ts"] == ts.as_str())
        })
        .await;
    assert_eq!(
        text_of(&note),
        "(scopeless-logs.txt could not be attached: the Slack app lacks the `files:write` scope.)"
    );
    assert_eq!(
        h.slack
            .calls_of("files.getUploadURLExternal (missing_scope)")
            .len(),
        1
    );
    assert!(h.slack.uploads().is_empty());
    let logs = support::logs();
    let warned = logs
        .lines()
        .find(|l| l.contains("scopeless-logs.txt") && l.contains("could not be attached"))
        .unwrap_or_else(|| panic!("no warning about the file in the log"));
    assert!(
        warned.contains(r#""level":"WARN""#)
            && warned.contains(r#""error":"missing_scope""#)
            && warned.contains("files.getUploadURLExternal"),
        "{warned}"
    );
    drop(send);
    h.stop().await;
}

// --- Pacing -----------------------------------------------------------------

/// Appended to the `[slack]` section: a person may send a burst of 100 commands.
const ROOMY_LIMITS: &str = "[limits]\nperson_burst = 100\nchannel_burst = 100\n";

/// Where each call was, in the order the server took them.
fn position(calls: &[Call], what: &str, pred: impl Fn(&Call) -> bool) -> usize {
    calls
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no call {what}"))
}

fn posted_in(c: &Call, channel: &str) -> bool {
    c.method == "chat.postMessage" && c.body["channel"] == channel
}

/// Slack limits posts per channel (about one a second, short bursts allowed), not
/// per workspace: a burst of answers in one channel goes out at that pace, and an
/// answer in a quiet channel goes out beside it, not behind it.
#[tokio::test]
async fn a_burst_in_one_channel_does_not_hold_up_an_answer_in_another() {
    const BURST: usize = 30;
    let h = Harness::start(ROOMY_LIMITS).await.connected(1).await;
    let s = &h.slack;
    for _ in 0..BURST {
        s.message(OPS, ALICE, "!ping", None);
    }
    s.message(OTHER, BOB, "!ping", None);

    h.post_in(OTHER, "pong").await;
    let posts = s.calls_of("chat.postMessage");
    let before = posts
        .iter()
        .take_while(|c| !posted_in(c, OTHER))
        .filter(|c| posted_in(c, OPS))
        .count();
    assert!(
        before < 10,
        "{before} of the burst's answers were posted before the quiet channel's"
    );
    // The burst keeps to Slack's pace: three at once, then one a second, so its
    // tenth answer comes 7 s after its first (a slower machine only adds to that).
    let tenth = s
        .until(30, "the burst's tenth answer", |s| {
            let at: Vec<_> = s
                .timed_calls()
                .into_iter()
                .filter(|(_, c)| posted_in(c, OPS))
                .map(|(at, _)| at)
                .collect();
            (at.len() >= 10).then(|| at[9] - at[0])
        })
        .await;
    assert!(
        tenth >= std::time::Duration::from_millis(6500),
        "ten posts in one channel within {tenth:?}"
    );
    // The rest of the burst would take 20 s more; that stopping sends what is
    // queued is `replies_in_a_channel_keep_their_order_and_stopping_sends_what_is_queued`.
}

/// A 429 on posts in one channel holds that channel for its Retry-After, and its
/// answer is sent again and lands; an answer in another channel goes at once.
#[tokio::test]
async fn a_rate_limit_in_one_channel_slows_only_that_channel() {
    let h = Harness::start("").await.connected(1).await;
    let s = &h.slack;
    s.rate_limit_in("chat.postMessage", OPS, 2, 2);

    s.message(OPS, ALICE, "!ping", None);
    s.message(OTHER, BOB, "!version", None);
    h.post_in(OPS, "pong").await;

    let timed = s.timed_calls();
    let calls: Vec<Call> = timed.iter().map(|(_, c)| c.clone()).collect();
    let limited = position(&calls, "limited", |c| c.method == "chat.postMessage (429)");
    let other = position(&calls, "in #other", |c| posted_in(c, OTHER));
    let pong = position(&calls, "pong in #ops", |c| posted_in(c, OPS));
    assert!(
        other < pong,
        "the answer in #other waited for #ops's rate limit"
    );
    assert_eq!(s.calls_of("chat.postMessage (429)").len(), 2);
    // Each Retry-After (2 s) was waited out before #ops's post went again.
    let waited = timed[pong].0 - timed[limited].0;
    assert!(
        waited >= std::time::Duration::from_secs(4),
        "sent again after {waited:?}"
    );
    h.stop().await;
}

/// An answer does not queue behind progress edits: while Slack holds
/// `chat.update` back (429), an answer in the channel still goes, and the edit
/// lands after it, in its turn.
#[tokio::test]
async fn answers_do_not_wait_behind_a_rate_limited_progress_edit() {
    let h = Harness::start("").await.connected(1).await;
    let send = sender(&h, None);
    let id = MessageId(1 << 43);
    send(Reply::text("Deploying worker v42 to staging.").with_id(id));
    let ts = h.post("Deploying worker v42").await.ts.unwrap();
    h.slack.rate_limit_in("chat.update", OPS, 2, 2);

    send(Reply::edit(
        id,
        "Deploying worker v42 to staging.\nrollout 1/2",
    ));
    h.slack
        .until(10, "the edit rate limited", |s| {
            s.calls_of("chat.update (429)").first().map(|_| ())
        })
        .await;
    h.slack.message(OPS, ALICE, "!ping", None);
    h.update(&ts, "rollout 1/2").await;

    let calls = h.slack.calls();
    let pong = position(&calls, "pong", |c| {
        posted_in(c, OPS) && text_of(c) == "pong"
    });
    let update = position(&calls, "the edit", |c| c.method == "chat.update");
    assert!(pong < update, "the answer waited for the rate-limited edit");
    drop(send);
    h.stop().await;
}

/// Within a channel, replies keep the order they were sent in, a message's edit
/// and its thread post come after it, and stopping sends everything still queued
/// before the adapter returns.
#[tokio::test]
async fn replies_in_a_channel_keep_their_order_and_stopping_sends_what_is_queued() {
    const N: u64 = 5;
    let h = Harness::start("").await.connected(1).await;
    let send = sender(&h, None);
    let id = |i| MessageId((1 << 42) + i);
    let mut sent = Vec::new();
    for i in 0..N {
        send(Reply::text(format!("reply {i}")).with_id(id(i)));
        send(Reply::edit(id(i), format!("reply {i}, edited")));
        send(Reply::in_thread(id(i), format!("thread {i}")));
        sent.extend([format!("reply {i}"), format!("thread {i}")]);
    }
    let slack = h.slack.clone();
    drop(send);
    // At Slack's pace, most of it is still queued now.
    h.stop().await;

    let calls = slack.calls();
    let posts: Vec<String> = calls
        .iter()
        .filter(|c| posted_in(c, OPS))
        .map(text_of)
        .collect();
    assert_eq!(posts, sent, "posts in the order they were sent");
    for i in 0..N {
        let post = position(&calls, "the post", |c| {
            posted_in(c, OPS) && text_of(c) == format!("reply {i}")
        });
        let ts = calls[post].ts.clone().unwrap();
        let edit = position(&calls, "the edit", |c| {
            c.method == "chat.update" && c.body["ts"] == ts.as_str()
        });
        let thread = position(&calls, "the thread post", |c| {
            text_of(c) == format!("thread {i}")
        });
        assert!(post < edit, "reply {i} was edited before it was posted");
        assert!(
            text_of(&calls[edit]).ends_with("edited"),
            "{}",
            calls[edit].body
        );
        assert_eq!(calls[thread].body["thread_ts"], ts.as_str());
    }
}
