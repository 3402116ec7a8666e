//! The Discord adapter at the protocol level: the real adapter (serenity's HTTP
//! client and gateway shard, pointed at a local server that speaks Discord's REST
//! API and gateway websocket) and the real pipeline behind it, with AWS calls going
//! to the local emulator.
//!
//! Run with `make test` (or `scripts/with-emulator.sh cargo test --test tests discord::`).

use crate::support;
use crate::support::discord as discord_server;
use crate::support::process;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use discord_server::{APP, BOT, Call, FakeDiscord, GUILD};
use dockhand::adapters::discord::{self, DiscordError};
use dockhand::config::Config;
use dockhand::message::Platform;
use process::Running;
use support::{Bot, SECRETS, World, assert_no_secret, root};

const ALICE: u64 = 101;
const BOB: u64 = 102;
const OPS: u64 = 4242;
/// MESSAGE_CONTENT, the privileged intent `!` commands need.
const MESSAGE_CONTENT: u64 = 1 << 15;

const APPS: &str = r#"
[aws]
region = "us-east-1"
max_attempts = 1

[watch]
poll_seconds = 0.1

[environments.staging]

[apps.worker]
environment = "staging"
cluster = "apps"
service = "worker"
container = "worker"
min = 0
max = 10

[apps.web]
environment = "staging"
cluster = "apps"
service = "web"
container = "web"

[apps.website]
environment = "staging"
cluster = "apps"
service = "website"
container = "website"

[roles]
deployers = ["discord:101", "discord:102"]

[[rules]]
name = "deployers"
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
roles = ["deployers"]
"#;

struct Harness {
    discord: FakeDiscord,
    world: World,
    stop: CancellationToken,
    adapter: tokio::task::JoinHandle<Result<(), DiscordError>>,
    _bot: Bot,
}

impl Harness {
    async fn start(section: &str) -> Harness {
        Harness::start_with(section, |_| {}).await
    }

    /// Like `start`, with the server prepared before the adapter connects.
    async fn start_with(section: &str, prepare: impl FnOnce(&FakeDiscord)) -> Harness {
        let discord = FakeDiscord::start(SECRETS[2]).await;
        prepare(&discord);
        let world = World::new().await;
        let text = format!(
            "commands_dir = {:?}\n{APPS}\n[discord]\napi_url = {:?}\nguilds = [{GUILD}]\n{section}",
            root().join("commands"),
            discord.base
        );
        let env = |name: &str| (name == "DISCORD_TOKEN").then(|| SECRETS[2].to_string());
        let config = Config::parse("discord-test.toml", &text, &env, dockhand::verbs::NAMES)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let bot = Bot::new(config, &world.account).await;
        let settings = bot.dispatcher.config().discord.clone();
        let direct_messages = bot.dispatcher.config().access.direct_messages;
        let dispatcher = bot.dispatcher.clone();
        let stop = CancellationToken::new();
        let wiring = bot.wiring(Platform::Discord, stop.clone());
        let adapter = tokio::spawn(async move {
            discord::run(&settings, dispatcher.catalog(), direct_messages, wiring).await
        });
        Harness {
            discord,
            world,
            stop,
            adapter,
            _bot: bot,
        }
    }

    async fn connected(self, sessions: usize) -> Harness {
        self.discord
            .until(15, "a gateway session", |d| {
                (d.sessions() >= sessions).then_some(())
            })
            .await;
        self
    }

    /// The first message posted in `channel` whose content contains `text`.
    async fn post(&self, channel: u64, text: &str) -> Call {
        let (prefix, text) = (
            format!("POST /channels/{channel}/messages"),
            text.to_string(),
        );
        self.discord
            .until(20, &format!("a post with {text:?}"), |d| {
                d.calls_of(&prefix)
                    .into_iter()
                    .find(|c| !c.path.ends_with("threads") && c.content().contains(&text))
            })
            .await
    }

    async fn edit(&self, channel: u64, message: u64, text: &str) -> Call {
        let (prefix, text) = (
            format!("PATCH /channels/{channel}/messages/{message}"),
            text.to_string(),
        );
        self.discord
            .until(30, &format!("an edit with {text:?}"), |d| {
                d.calls_of(&prefix)
                    .into_iter()
                    .find(|c| c.content().contains(&text))
            })
            .await
    }

    /// The interaction callback for `token` whose body satisfies `want`.
    async fn callback(&self, token: &str, what: &str, want: impl Fn(&Value) -> bool) -> Call {
        let suffix = format!("/{token}/callback");
        self.discord
            .until(10, what, |d| {
                d.calls_of("POST /interactions/")
                    .into_iter()
                    .find(|c| c.path.ends_with(&suffix) && want(&c.body))
            })
            .await
    }

    async fn stop(self) {
        self.stop.cancel();
        self.adapter.await.unwrap().unwrap();
        // What reached Discord, files included, says no secret.
        for call in self.discord.calls() {
            for text in call.texts() {
                assert_no_secret(&text);
            }
        }
        support::scan_logs();
    }
}

fn posts(d: &FakeDiscord, channel: u64) -> Vec<String> {
    d.calls_of(&format!("POST /channels/{channel}/messages"))
        .iter()
        .filter(|c| !c.path.ends_with("threads"))
        .map(Call::content)
        .collect()
}

#[tokio::test]
async fn prefix_mention_and_slash_commands_are_answered_once_each() {
    let h = Harness::start("").await.connected(1).await;
    let d = &h.discord;
    let intents = h.discord.identifies()[0]["intents"].as_u64().unwrap();
    assert_ne!(intents & MESSAGE_CONTENT, 0, "prefix commands need it");

    // `/dockhand` is registered in the configured guild, generated from the catalogue.
    let registered = d
        .until(10, "the guild command", |d| {
            d.calls_of(&format!("PUT /applications/{APP}/guilds/{GUILD}/commands"))
                .into_iter()
                .next()
        })
        .await;
    let subs = registered.body[0]["options"].as_array().unwrap();
    let deploy = subs.iter().find(|s| s["name"] == "deploy").unwrap();
    assert_eq!(deploy["options"][0]["name"], "app");
    assert_eq!(deploy["options"][0]["autocomplete"], true);
    assert_eq!(deploy["options"][2]["type"], 5, "--plan is a boolean");

    d.message(OPS, ALICE, "alice", "deploying after lunch, ping me");
    d.bot_message(OPS, "!version");
    d.own_message(OPS, "!version");
    d.message(OPS, ALICE, "alice", "!ping");
    d.message(OPS, BOB, "bob", &format!("<@{BOT}> help ping"));
    let token = d.slash(OPS, BOB, "bob", "version", &[]);

    h.post(OPS, "pong").await;
    h.post(OPS, "Check that the bot is alive").await;
    // The slash command is deferred at once, then its original response is edited.
    h.callback(&token, "the deferral", |b| b["type"] == 5).await;
    let answer = d
        .until(10, "the slash answer", |d| {
            d.calls_of(&format!("PATCH /webhooks/{APP}/{token}/messages/@original"))
                .into_iter()
                .next()
        })
        .await;
    assert!(answer.content().starts_with("dockhand "), "{}", answer.body);
    assert_eq!(answer.body["allowed_mentions"]["parse"], json!([]));

    // Exactly two channel posts: chatter, the other bot and the bot's own message got none.
    assert_eq!(posts(d, OPS).len(), 2, "{:#?}", posts(d, OPS));
    h.stop().await;
}

#[tokio::test]
async fn without_prefix_commands_no_privileged_intent_is_asked() {
    let h = Harness::start("prefix_commands = false\n")
        .await
        .connected(1)
        .await;
    let intents = h.discord.identifies()[0]["intents"].as_u64().unwrap();
    // GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES, nothing privileged.
    assert_eq!(intents, 1 | (1 << 9) | (1 << 12));
    // Registered in the configured server; the global list is emptied, so no
    // command works in DMs or other servers (F1).
    h.discord
        .until(10, "the guild command", |d| {
            d.calls_of(&format!("PUT /applications/{APP}/guilds/{GUILD}/commands"))
                .into_iter()
                .next()
        })
        .await;
    let global = h
        .discord
        .until(10, "the global list", |d| {
            d.calls_of(&format!("PUT /applications/{APP}/commands"))
                .into_iter()
                .next()
        })
        .await;
    assert_eq!(global.body, json!([]));
    h.stop().await;
}

#[tokio::test]
async fn a_deploy_edits_one_message_and_threads_aws_events() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(2).await;

    h.discord.message(OPS, ALICE, "alice", "!deploy worker v42");

    let head = h.post(OPS, "Deploying worker v42").await;
    assert!(head.content().contains("asked by @alice"), "{}", head.body);
    let head_id = head.id.unwrap();
    let done = h.edit(OPS, head_id, "worker v42 is live").await;
    assert!(done.content().contains("2/2 tasks"), "{}", done.body);
    // A thread is started from the head, once; AWS's events go in it.
    let threads = h
        .discord
        .calls_of(&format!("POST /channels/{OPS}/messages/{head_id}/threads"));
    assert_eq!(threads.len(), 1, "{threads:#?}");
    assert!(
        threads[0].body["name"]
            .as_str()
            .unwrap()
            .starts_with("Deploying worker v42")
    );
    let thread = posts(&h.discord, head_id);
    assert!(
        thread.iter().any(|t| t.contains("(service worker)")),
        "AWS's events go in the head's thread: {thread:#?}"
    );
    // Every edit is of the head, at most one a second.
    let edits = h.discord.calls_of("PATCH /channels/");
    assert!(edits.iter().all(|c| c.path.ends_with(&head_id.to_string())));
    h.stop().await;
}

fn buttons(call: &Call) -> Vec<(String, String)> {
    call.body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["label"].as_str().unwrap_or_default().to_string(),
                b["custom_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn buttons_confirm_and_abort_through_the_same_path_and_settle_the_prompt() {
    let h = Harness::start("").await.connected(1).await;
    h.world.worker(1).await;
    let d = &h.discord;

    d.message(OPS, ALICE, "alice", "!scale worker 0");
    let prompt = h.post(OPS, "`scale worker 0` needs a confirmation").await;
    let b = buttons(&prompt);
    assert_eq!(b.len(), 2, "{}", prompt.body);
    assert!(
        b[0].0 == "Confirm" && b[0].1.starts_with("confirm "),
        "{b:?}"
    );
    let prompt_id = prompt.id.unwrap();

    // Bob's click is refused, to Bob alone (ephemeral); the buttons stay for Alice.
    let token = d.click(OPS, BOB, "bob", prompt_id, &prompt.content(), &b[0].1);
    let refusal = h
        .callback(&token, "an ephemeral refusal", |b| b["type"] == 4)
        .await;
    assert_eq!(refusal.body["data"]["flags"], 64, "{}", refusal.body);
    let text = refusal.body["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("Only alice (discord:101) can confirm"),
        "{text}"
    );

    // Alice aborts: the prompt is updated in place, buttons gone.
    let token = d.click(OPS, ALICE, "alice", prompt_id, &prompt.content(), &b[1].1);
    let settled = h
        .callback(&token, "the prompt updated", |b| b["type"] == 7)
        .await;
    let text = settled.body["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("Aborted by alice (discord:101); nothing changed."),
        "{text}"
    );
    assert_eq!(settled.body["data"]["components"], json!([]));

    // Asked again, Alice confirms: the scale runs and is reported.
    d.message(OPS, ALICE, "alice", "!scale worker 0");
    let again = h
        .discord
        .until(10, "a second prompt", |d| {
            d.calls_of(&format!("POST /channels/{OPS}/messages"))
                .into_iter()
                .filter(|c| c.content().contains("needs a confirmation"))
                .nth(1)
        })
        .await;
    let b = buttons(&again);
    let token = d.click(
        OPS,
        ALICE,
        "alice",
        again.id.unwrap(),
        &again.content(),
        &b[0].1,
    );
    let settled = h
        .callback(&token, "the prompt confirmed", |b| b["type"] == 7)
        .await;
    let text = settled.body["data"]["content"].as_str().unwrap();
    assert!(text.contains("Confirmed by alice (discord:101)"), "{text}");
    h.post(OPS, "Scaling worker").await;
    h.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_resumes_and_the_next_command_is_answered() {
    let h = Harness::start("").await.connected(1).await;

    h.discord.drop_connections();
    // Sent while the connection is down: Discord replays it after RESUME.
    h.discord.message(OPS, ALICE, "alice", "!ping");
    let h = h.connected(2).await;
    h.post(OPS, "pong").await;
    assert_eq!(
        h.discord.resumes(),
        1,
        "the session resumed, not re-identified"
    );
    assert_eq!(h.discord.identifies().len(), 1);
    h.stop().await;
}

/// The choices offered while `typed` is in `/dockhand deploy app:`.
async fn offered(h: &Harness, typed: &str) -> Vec<String> {
    let token = h
        .discord
        .autocomplete(OPS, ALICE, "alice", "deploy", "app", typed);
    let answer = h
        .callback(&token, "the autocomplete answer", |b| b["type"] == 8)
        .await;
    let choices = answer.body["data"]["choices"].as_array().unwrap();
    choices
        .iter()
        .map(|c| {
            assert_eq!(c["name"], c["value"], "{}", answer.body);
            c["value"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn autocomplete_offers_the_configured_apps_that_start_with_what_was_typed() {
    let h = Harness::start("").await.connected(1).await;
    assert_eq!(offered(&h, "we").await, ["web", "website"]);
    assert_eq!(
        offered(&h, "WO").await,
        ["worker"],
        "typed text is lowercased"
    );
    assert_eq!(offered(&h, "").await, ["web", "website", "worker"]);
    assert!(offered(&h, "x").await.is_empty());
    // Nothing was run: autocompletion only offers.
    assert!(posts(&h.discord, OPS).is_empty());
    h.stop().await;
}

/// F1: a Discord bot is public by default, so anyone may invite it to a server
/// of theirs. Nothing from a server not in `guilds` is answered (messages,
/// slash commands, clicks, autocomplete), the bot leaves such a server, and
/// `/dockhand` in a DM is ignored unless `direct_messages` allows it.
#[tokio::test]
async fn only_the_configured_servers_reach_the_bot() {
    const FOREIGN: u64 = 900_000_000_000_000_777;
    const THEIRS: u64 = 7777;
    let h = Harness::start_with("", |d| d.also_in(FOREIGN))
        .await
        .connected(1)
        .await;
    let d = &h.discord;
    d.until(10, "leaving the foreign server", |d| {
        d.calls_of(&format!("DELETE /users/@me/guilds/{FOREIGN}"))
            .into_iter()
            .next()
    })
    .await;
    assert!(
        d.calls_of(&format!("DELETE /users/@me/guilds/{GUILD}"))
            .is_empty()
    );

    d.events_from(Some(FOREIGN));
    d.message(THEIRS, ALICE, "mallory", "!status");
    d.message(
        THEIRS,
        ALICE,
        "mallory",
        &format!("<@{BOT}> deploy worker v9"),
    );
    let slash = d.slash(THEIRS, ALICE, "mallory", "status", &[]);
    let typing = d.autocomplete(THEIRS, ALICE, "mallory", "deploy", "app", "");
    let click = d.click(THEIRS, ALICE, "mallory", 1, "prompt", "confirm ABC234");
    // From a DM, `/dockhand` is not answered either: direct_messages is off.
    d.events_from(None);
    let dm_slash = d.slash(THEIRS + 1, ALICE, "alice", "version", &[]);
    // The configured server is answered, after all of the above.
    d.events_from(Some(GUILD));
    d.message(OPS, ALICE, "alice", "!ping");
    h.post(OPS, "pong").await;

    assert!(posts(d, THEIRS).is_empty(), "{:#?}", posts(d, THEIRS));
    for token in [slash, typing, click, dm_slash] {
        let answered = d.calls_of("POST /interactions/");
        assert!(
            !answered
                .iter()
                .any(|c| c.path.contains(&format!("/{token}/"))),
            "{token} was answered: {answered:#?}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn with_direct_messages_on_dockhand_is_registered_for_the_bots_dms_only() {
    let h = Harness::start("[access]\ndirect_messages = true\n")
        .await
        .connected(1)
        .await;
    let global = h
        .discord
        .until(10, "the global command", |d| {
            d.calls_of(&format!("PUT /applications/{APP}/commands"))
                .into_iter()
                .next()
        })
        .await;
    // Contexts: BOT_DM (1) only; installs: GUILD_INSTALL (0) only.
    assert_eq!(global.body[0]["contexts"], json!([1]), "{}", global.body);
    assert_eq!(global.body[0]["integration_types"], json!([0]));
    h.discord.events_from(None);
    let token = h.discord.slash(OPS + 1, ALICE, "alice", "version", &[]);
    h.callback(&token, "the deferral", |b| b["type"] == 5).await;
    h.stop().await;
}

#[tokio::test]
async fn autocomplete_offers_only_the_apps_the_channel_may_see() {
    let h = Harness::start(&format!(
        "[channels.\"discord:{OPS}\"]\napps = [\"worker\"]\n"
    ))
    .await
    .connected(1)
    .await;
    assert_eq!(offered(&h, "").await, ["worker"]);
    h.stop().await;
}

/// A config for `dockhand run` with the Discord adapter only; its URL and token
/// come from the environment, as in a container.
fn run_config() -> String {
    format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\n[discord]\nguilds = [{GUILD}]\n",
        root().join("commands")
    )
}

/// `dockhand run` against a local Discord, with `env` added, once it has
/// answered a `!ping`.
async fn running(env: &[(&str, &str)]) -> (FakeDiscord, Running) {
    let discord = FakeDiscord::start(SECRETS[2]).await;
    let mut all = vec![
        ("DISCORD_TOKEN", SECRETS[2]),
        ("DISCORD_API_URL", discord.base.as_str()),
    ];
    all.extend_from_slice(env);
    let bot = Running::start(&run_config(), &all);
    discord
        .until(20, "the binary's IDENTIFY", |d| {
            (!d.identifies().is_empty()).then_some(())
        })
        .await;
    discord.message(OPS, ALICE, "alice", "!ping");
    discord
        .until(10, "pong", |d| {
            posts(d, OPS).into_iter().find(|p| p == "pong")
        })
        .await;
    (discord, bot)
}

#[tokio::test]
async fn dockhand_run_connects_to_discord_answers_and_stops_cleanly_on_sigterm() {
    let (_discord, bot) = running(&[]).await;
    let ready = bot.get("/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    bot.assert_metrics(&[
        "dockhand_adapter_connected{adapter=\"discord\"} 1",
        "dockhand_commands_total{verb=\"ping\",outcome=\"allowed\"} 1",
    ])
    .await;

    let log = bot.stop().await;
    assert!(log.contains("discord: signed in"), "{log}");
}

/// F20: the probes say up or down and nothing more, and `/metrics` can be
/// taken off their port.
#[tokio::test]
async fn probes_say_only_up_or_down_and_metrics_can_be_off() {
    let (_discord, bot) = running(&[("DOCKHAND_METRICS_ENDPOINT", "off")]).await;
    let metrics = bot.get("/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 404"), "{metrics}");
    let ready = bot.get("/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.ends_with("\r\n\r\nready\n"), "{ready:?}");
    let log = bot.stop().await;
    assert!(log.contains("serving /healthz, /readyz"), "{log}");
    assert!(
        !log.contains("serving /healthz, /readyz, /metrics"),
        "{log}"
    );
}

#[tokio::test]
async fn an_unreachable_discord_and_a_refused_token_are_told_apart_at_start() {
    // Nothing listens on a port just freed: connection refused.
    let port = support::free_port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let bot = Running::start(
        &run_config(),
        &[
            ("DISCORD_TOKEN", SECRETS[2]),
            ("DISCORD_API_URL", nowhere.as_str()),
        ],
    );
    let (status, log) = bot.exited().await;
    assert!(!status.success(), "{log}");
    let said = format!("Discord could not be reached at {nowhere}");
    assert!(log.contains(&said), "{said} in:\n{log}");
    assert!(log.contains("DISCORD_API_URL"), "{log}");
    assert!(!log.contains("token"), "not a token problem:\n{log}");

    // Reached, with a token Discord does not know: 401, and only then the token.
    let discord = FakeDiscord::start(SECRETS[2]).await;
    let revoked = "revoked.bot.token";
    let bot = Running::start(
        &run_config(),
        &[
            ("DISCORD_TOKEN", revoked),
            ("DISCORD_API_URL", discord.base.as_str()),
        ],
    );
    let (status, log) = bot.exited().await;
    assert!(!status.success(), "{log}");
    assert!(log.contains("Discord refused the bot token"), "{log}");
    assert!(log.contains("401"), "{log}");
    assert!(log.contains("check DISCORD_TOKEN"), "{log}");
    assert!(!log.contains(revoked), "the token is not logged:\n{log}");
    assert!(discord.identifies().is_empty(), "no gateway session");
}

/// `OPS` bound to worker, where `logs worker` may be read.
const BOUND: &str = "[channels.\"discord:4242\"]\napps = [\"worker\"]\n";

/// worker with one task whose stream holds `n` lines written a minute ago,
/// oldest first; the first carries the API token (it must come masked, in the
/// file too). Returns the lines as written.
async fn worker_logs(h: &Harness, n: usize) -> Vec<String> {
    h.world.long_log(n).await
}

/// A long `logs` answer as Discord got it: the heading, the newest lines in a
/// code block, and every line read in `worker-logs.txt`, masked, the block's
/// lines the file's last ones.
fn assert_logs_with_file(call: &Call, texts: &[String]) {
    let content = call.content();
    let (heading, block) = content
        .split_once('\n')
        .unwrap_or_else(|| panic!("no lines: {}", call.body));
    assert!(
        heading.starts_with("worker: ") && heading.ends_with("(all 60 in worker-logs.txt):"),
        "{content}"
    );
    let shown = block
        .strip_prefix("```\n")
        .and_then(|b| b.strip_suffix("\n```"))
        .unwrap_or_else(|| panic!("not a code block: {content}"));
    assert!(
        shown.contains("line 59") && !shown.contains("line 00"),
        "{shown}"
    );

    assert_eq!(call.files.len(), 1, "one file: {:?}", call.files);
    let file = &call.files[0];
    assert_eq!(file.filename, "worker-logs.txt");
    assert_eq!(file.content_type.as_deref(), Some("text/plain"));
    let text = file.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 60, "{text}");
    assert!(text.ends_with('\n'));
    assert!(
        lines[0].ends_with("line 00 calling billing with token ****"),
        "masked in the file too: {}",
        lines[0]
    );
    for (line, written) in lines.iter().zip(texts).skip(1) {
        assert!(
            line.ends_with(written.trim_end()),
            "{line:?} for {written:?}"
        );
    }
    assert!(
        text.ends_with(&format!("{shown}\n")),
        "{shown}\nis not the end of\n{text}"
    );
}

#[tokio::test]
async fn a_long_logs_answer_is_one_message_with_every_line_attached() {
    let h = Harness::start(BOUND).await.connected(1).await;
    let texts = worker_logs(&h, 60).await;
    let d = &h.discord;

    d.message(OPS, ALICE, "alice", "!logs worker 60");
    let post = h.post(OPS, "(all 60 in worker-logs.txt)").await;
    assert_logs_with_file(&post, &texts);
    assert_eq!(posts(d, OPS).len(), 1, "one message: {:#?}", posts(d, OPS));
    // Sent as Discord's form: `files[0]` named by the `attachments` entry of id 0.
    assert_eq!(post.body["attachments"][0]["id"], 0, "{}", post.body);
    assert_eq!(post.body["attachments"][0]["filename"], "worker-logs.txt");
    // The message has the file, as uploaded.
    assert_eq!(d.attachments(post.id.unwrap()), post.files);
    h.stop().await;
}

/// `/dockhand logs` is answered "on it" at once; the answer, read from AWS, is a
/// channel message with its file, as for `!logs`.
#[tokio::test]
async fn a_long_logs_slash_command_posts_its_answer_with_the_file() {
    let h = Harness::start(BOUND).await.connected(1).await;
    let texts = worker_logs(&h, 60).await;
    let d = &h.discord;

    let options = [("app", json!("worker")), ("n", json!("60"))];
    let token = d.slash(OPS, ALICE, "alice", "logs", &options);
    h.callback(&token, "the deferral", |b| b["type"] == 5).await;
    let post = h.post(OPS, "(all 60 in worker-logs.txt)").await;
    assert_logs_with_file(&post, &texts);
    let original = d.calls_of(&format!("PATCH /webhooks/{APP}/{token}/messages/@original"));
    assert_eq!(original.len(), 1, "{original:#?}");
    assert!(
        original[0].content().contains("on it"),
        "{}",
        original[0].body
    );
    assert!(original[0].files.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn where_discord_refuses_the_file_the_message_goes_without_it() {
    let h = Harness::start_with(BOUND, |d| d.refuse_files())
        .await
        .connected(1)
        .await;
    worker_logs(&h, 60).await;
    let d = &h.discord;

    d.message(OPS, ALICE, "alice", "!logs worker 60");
    let sent = h
        .post(
            OPS,
            "worker-logs.txt could not be attached: the bot needs Attach Files here.",
        )
        .await;
    assert_eq!(sent.status, 200);
    assert!(sent.files.is_empty());
    assert!(sent.content().contains("line 59"), "{}", sent.body);
    let tried = d.calls_of(&format!("POST /channels/{OPS}/messages"));
    assert_eq!(tried.len(), 2, "{tried:#?}");
    assert_eq!(tried[0].status, 403);
    assert_eq!(tried[0].files[0].filename, "worker-logs.txt");
    h.stop().await;
}

/// The bot's own builders through serenity's HTTP client to the local server: an
/// edit with a file replaces the message's file, an edit without one leaves
/// none, and serenity reads every answer's attachments.
#[tokio::test]
async fn an_edit_replaces_the_file_or_removes_it_as_the_reply_says() {
    use dockhand::adapters::discord::embeds::draw;
    use dockhand::message::Reply;
    use serenity::all::{ChannelId, HttpBuilder};

    let d = FakeDiscord::start(SECRETS[2]).await;
    let http = HttpBuilder::new(SECRETS[2])
        .proxy(d.base.as_str())
        .ratelimiter_disabled(true)
        .build();
    let channel = ChannelId::new(OPS);
    let reply = |all: &str| {
        Reply::verbatim("worker: 2 lines (all 3 in worker-logs.txt):", "b\nc")
            .attach("worker-logs.txt", all)
    };

    let posted = channel
        .send_message(&http, draw(&reply("a\nb\nc\n")).post())
        .await
        .unwrap();
    assert_eq!(posted.attachments.len(), 1);
    assert_eq!(posted.attachments[0].filename, "worker-logs.txt");
    assert_eq!(posted.attachments[0].size, 6);
    let first = d.attachments(posted.id.get());
    assert_eq!(first[0].bytes, b"a\nb\nc\n");

    let edited = channel
        .edit_message(&http, posted.id, draw(&reply("a\nb\nc\nd\n")).edit())
        .await
        .unwrap();
    let now = d.attachments(posted.id.get());
    assert_eq!(now.len(), 1, "replaced, not added: {now:?}");
    assert_eq!(now[0].bytes, b"a\nb\nc\nd\n");
    assert_ne!(now[0].id, first[0].id);
    assert_eq!(edited.attachments[0].id.get(), now[0].id);

    let edited = channel
        .edit_message(&http, posted.id, draw(&Reply::text("done")).edit())
        .await
        .unwrap();
    assert!(edited.attachments.is_empty());
    assert!(d.attachments(posted.id.get()).is_empty());
    let patches = d.calls_of(&format!("PATCH /channels/{OPS}/messages/"));
    assert_eq!(
        patches[1].body["attachments"],
        json!([]),
        "{}",
        patches[1].body
    );
    for call in d.calls() {
        assert_eq!(call.status, 200, "{call:?}");
    }
}
