//! Guardrails without AWS: the authorisation matrix, confirmations and their expiry.
//! Everything here is decided before any AWS call, so no emulator is needed.

use std::time::Duration;

use dockhand::catalog::{Catalog, Match};
use dockhand::config::Config;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Outbound, Platform, Via};
use dockhand::ops::aws::AwsOps;
use dockhand::policy::{Decision, Policy, Request};

use crate::support::fake::FakeOps;

const CONFIG: &str = r#"
[environments.prod]
protected = true
[environments.staging]
[environments.bank]
two_person = true

[apps.hubot]
environment = "prod"
stack = "hubot"
max = 20
[apps.web]
environment = "staging"
cluster = "staging"
service = "web"
container = "web"
max = 20
[apps.ledger]
environment = "bank"
stack = "ledger"

[roles]
deployers = ["slack:UDEP", "shell:dep"]
admins = ["slack:UADM"]

[channels."slack:CDEPLOY"]
environments = ["prod", "staging", "bank"]
[channels."slack:CWEB"]
apps = ["web"]

# Anyone may change staging, anywhere.
[[rules]]
name = "staging-open"
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
environments = ["staging"]

# Only deployers change prod and bank, and only in #deploy.
[[rules]]
name = "prod-deployers"
verbs = ["deploy", "rollback", "cancel", "lock", "unlock"]
environments = ["prod", "bank"]
channels = ["slack:CDEPLOY"]
roles = ["deployers", "admins"]

# Deployers scale prod up to 6; admins without a limit.
[[rules]]
name = "prod-scale"
verbs = ["scale"]
environments = ["prod"]
channels = ["slack:CDEPLOY"]
roles = ["deployers"]
max_count = 6
[[rules]]
name = "admin-scale"
verbs = ["scale"]
roles = ["admins"]
"#;

fn config(extra: &str) -> Config {
    let text = format!(
        "commands_dir = {:?}\n{CONFIG}{extra}",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("commands")
    );
    Config::parse("test.toml", &text, &|_| None, dockhand::verbs::NAMES)
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn catalog(config: &Config) -> Catalog {
    Catalog::load(&config.commands_dir).unwrap()
}

fn origin(channel: &str) -> Origin {
    let (platform, id) = channel.split_once(':').unwrap();
    Origin {
        platform: match platform {
            "slack" => Platform::Slack,
            "discord" => Platform::Discord,
            _ => Platform::Shell,
        },
        channel: id.into(),
        thread: None,
        direct: id.starts_with('D'),
    }
}

fn author(id: &str) -> Author {
    Author {
        external: false,
        id: id.into(),
        name: id.to_lowercase().into(),
    }
}

/// A short name for a decision, for the matrix.
fn kind(d: &Decision) -> &'static str {
    match d {
        Decision::Allow { .. } => "allow",
        Decision::Confirm { .. } => "confirm",
        Decision::Deny(_) => "deny",
    }
}

/// What policy decides about `text` by `user` in `channel` (`slack:C1`).
fn decide(
    policy: &Policy,
    config: &Config,
    catalog: &Catalog,
    text: &str,
    user: &str,
    channel: &str,
) -> Decision {
    let command = match catalog.matches(text, |s| s.to_string()) {
        Match::Action(_, Ok(c)) => c,
        other => panic!("{text}: {other:?}"),
    };
    let facts = command.facts(config);
    let app = facts.app.and_then(|a| config.apps.get(a));
    let (origin, author) = (origin(channel), author(user));
    policy.decide(&Request {
        origin: &origin,
        author: &author,
        verb: command.action().name(),
        facts,
        app,
        environment: app.map(|a| config.environment_of(a)),
    })
}

#[test]
fn authorisation_matrix() {
    let config = config("");
    let catalog = catalog(&config);
    let policy = Policy::new(&config);
    // (command, user, channel, expected)
    let matrix: &[(&str, &str, &str, &str)] = &[
        // staging: anyone, anywhere (not in a DM)
        ("deploy web v2", "UANY", "slack:CRANDOM", "allow"),
        ("deploy web v2", "UDEP", "slack:CDEPLOY", "allow"),
        ("deploy web v2", "UANY", "slack:DDIRECT", "deny"),
        ("rollback web", "UANY", "slack:CWEB", "allow"),
        ("scale web 3", "UANY", "slack:CWEB", "allow"),
        ("scale web 0", "UANY", "slack:CWEB", "confirm"),
        ("cancel web", "UANY", "slack:CWEB", "confirm"),
        ("lock web freeze", "UANY", "slack:CWEB", "allow"),
        // prod: deployers in #deploy, with a confirmation (protected)
        ("deploy hubot v2", "UDEP", "slack:CDEPLOY", "confirm"),
        ("deploy hubot v2", "UADM", "slack:CDEPLOY", "confirm"),
        ("deploy hubot v2", "UANY", "slack:CDEPLOY", "deny"),
        ("deploy hubot v2", "UDEP", "slack:CWEB", "deny"),
        ("deploy hubot v2", "UDEP", "slack:DDIRECT", "deny"),
        ("deploy hubot v2", "UDEP", "discord:CDEPLOY", "deny"),
        ("rollback hubot", "UDEP", "slack:CDEPLOY", "confirm"),
        ("lock hubot release", "UDEP", "slack:CDEPLOY", "allow"),
        ("lock hubot release", "UANY", "slack:CDEPLOY", "deny"),
        // prod scale: deployers up to 6, admins any count anywhere
        ("scale hubot 6", "UDEP", "slack:CDEPLOY", "confirm"),
        ("scale hubot 7", "UDEP", "slack:CDEPLOY", "deny"),
        ("scale hubot 12", "UADM", "slack:CRANDOM", "confirm"),
        ("scale hubot 2", "UANY", "slack:CDEPLOY", "deny"),
        // bank: two-person rule
        ("deploy ledger v9", "UDEP", "slack:CDEPLOY", "confirm"),
        ("scale ledger 2", "UADM", "slack:CDEPLOY", "confirm"),
        ("lock ledger audit", "UDEP", "slack:CDEPLOY", "allow"),
        // reading: bound channels see their apps; others are pointed to them
        ("status hubot", "UANY", "slack:CDEPLOY", "allow"),
        ("status web", "UANY", "slack:CWEB", "allow"),
        ("status hubot", "UANY", "slack:CWEB", "deny"),
        ("status hubot", "UANY", "slack:CRANDOM", "deny"),
        ("events web", "UANY", "slack:CWEB", "allow"),
        ("history hubot", "UANY", "slack:CWEB", "deny"),
        ("deploy hubot v2 --plan", "UANY", "slack:CDEPLOY", "allow"),
        ("deploy hubot v2 --plan", "UANY", "slack:CWEB", "deny"),
        ("status", "UANY", "slack:CWEB", "allow"),
        ("status", "UANY", "slack:CRANDOM", "deny"),
        // always open
        ("help", "UANY", "slack:CRANDOM", "allow"),
        ("whoami", "UANY", "slack:DDIRECT", "allow"),
        ("ping", "UANY", "discord:C1", "allow"),
    ];
    assert_cells(&policy, &config, &catalog, matrix.iter().copied());
}

/// Decides every (command, user, channel, expected) cell and names the wrong ones.
fn assert_cells<'a>(
    policy: &Policy,
    config: &Config,
    catalog: &Catalog,
    cells: impl Iterator<Item = (&'a str, &'a str, &'a str, &'a str)>,
) {
    let mut wrong = Vec::new();
    for (text, user, channel, expected) in cells {
        let decision = decide(policy, config, catalog, text, user, channel);
        if kind(&decision) != expected {
            wrong.push(format!(
                "{text} by {user} in {channel}: expected {expected}, got {decision:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Each read verb in each kind of place: the channel bound to the app, a
/// channel bound to another app, a channel bound to nothing, a direct message
/// (with `direct_messages = true`, which opens changes to rules, not reads),
/// and a direct message from someone a rule grants reads. The cells marked F4,
/// F6 and F15 answered `allow` before channel bindings bounded every read.
#[test]
fn reads_are_bounded_by_channel_bindings_everywhere() {
    let config = config(
        r#"
[access]
direct_messages = true
[[rules]]
name = "deployers-read"
verbs = ["status", "stack", "stacks", "events", "history"]
roles = ["deployers"]
"#,
    );
    let catalog = catalog(&config);
    let policy = Policy::new(&config);
    // (command, [bound to it, bound to another, unbound, DM, DM of a deployer])
    let matrix: &[(&str, [&str; 5])] = &[
        ("status hubot", ["allow", "deny", "deny", "deny", "allow"]),
        // A listing is allowed where any app may be seen; it shows only those.
        ("status", ["allow", "allow", "deny", "deny", "allow"]),
        ("status prod", ["allow", "allow", "deny", "deny", "allow"]),
        ("stacks", ["allow", "allow", "deny", "deny", "allow"]),
        // F4: `stack` of a managed app's stack is read as that app.
        ("stack hubot", ["allow", "deny", "deny", "deny", "allow"]),
        // A stack that is no app's: only a rule naming no app reads it.
        (
            "stack dockhand-cluster",
            ["deny", "deny", "deny", "deny", "allow"],
        ),
        ("events hubot", ["allow", "deny", "deny", "deny", "allow"]),
        ("history hubot", ["allow", "deny", "deny", "deny", "allow"]),
        // Logs: the channel bound to the app; no rule names `logs` here, so no DM.
        ("logs hubot", ["allow", "deny", "deny", "deny", "deny"]),
        (
            "deploy hubot v2 --plan",
            ["allow", "deny", "deny", "deny", "deny"],
        ),
        ("whoami", ["allow", "allow", "allow", "allow", "allow"]),
    ];
    let places = [
        ("UANY", "slack:CDEPLOY"),
        ("UANY", "slack:CWEB"),
        ("UANY", "slack:CRANDOM"),
        ("UANY", "slack:DDIRECT"),
        ("UDEP", "slack:DDIRECT"),
    ];
    let cells = matrix.iter().flat_map(|(text, expected)| {
        places
            .iter()
            .zip(expected)
            .map(move |((user, channel), expected)| (*text, *user, *channel, *expected))
    });
    assert_cells(&policy, &config, &catalog, cells);
}

/// Until a channel is bound, every read is open everywhere, as documented.
#[test]
fn with_nothing_bound_every_read_is_open() {
    let text = format!(
        "commands_dir = {:?}\n[environments.prod]\n[apps.hubot]\nenvironment = \"prod\"\nstack = \"hubot\"\n",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("commands")
    );
    let config = Config::parse("open.toml", &text, &|_| None, dockhand::verbs::NAMES).unwrap();
    let catalog = catalog(&config);
    let policy = Policy::new(&config);
    for text in [
        "status",
        "status hubot",
        "stacks",
        "stack anything",
        "history hubot",
    ] {
        for channel in ["slack:CANY", "slack:DDIRECT", "discord:1"] {
            let decision = decide(&policy, &config, &catalog, text, "UANY", channel);
            assert_eq!(kind(&decision), "allow", "{text} in {channel}");
        }
    }
    // All but logs, which can carry secrets: in chat only a bound channel or a
    // rule reads them; the shell is the operator's own terminal.
    for channel in ["slack:CANY", "slack:DDIRECT", "discord:1"] {
        match decide(&policy, &config, &catalog, "logs hubot", "UANY", channel) {
            Decision::Deny(why) => assert!(
                why.contains("`logs` can show secrets") && why.contains("[channels]"),
                "{why}"
            ),
            other => panic!("logs in {channel}: {other:?}"),
        }
    }
    let shell = decide(
        &policy,
        &config,
        &catalog,
        "logs hubot",
        "me",
        "shell:local",
    );
    assert_eq!(kind(&shell), "allow");
    let ruled = Config::parse(
        "open.toml",
        &format!("{text}[roles]\noncall = [\"slack:UONE\"]\n[[rules]]\nname = \"oncall-logs\"\nverbs = [\"logs\"]\nroles = [\"oncall\"]\n"),
        &|_| None,
        dockhand::verbs::NAMES,
    )
    .unwrap();
    let policy = Policy::new(&ruled);
    for channel in ["slack:CANY", "slack:DDIRECT"] {
        let d = decide(&policy, &ruled, &catalog, "logs hubot", "UONE", channel);
        assert_eq!(kind(&d), "allow", "a rule naming logs, in {channel}");
    }
}

/// What a bound channel's listings show, and what an unknown name suggests
/// (F4, F15): only the apps the channel may see.
#[tokio::test]
async fn listings_and_suggestions_show_only_what_the_channel_may_see() {
    let bot = Bot::new(config(""));
    let status = bot.ask("UANY", "slack:CWEB", "!status").await;
    assert!(status.contains("web"), "{status}");
    assert!(
        !status.contains("hubot") && !status.contains("ledger"),
        "{status}"
    );
    assert_eq!(bot.asked_aws(), ["status web"]);

    assert_eq!(
        bot.ask("UANY", "slack:CWEB", "!status prod").await,
        "No app in prod is bound to this channel; `!status` lists the ones that are."
    );
    assert_eq!(bot.asked_aws(), Vec::<String>::new());

    // #deploy sees prod, staging and bank: hubot and ledger have stacks.
    let stacks = bot.ask("UANY", "slack:CDEPLOY", "!stacks").await;
    assert!(
        stacks.contains("hubot") && stacks.contains("ledger"),
        "{stacks}"
    );
    assert!(!stacks.contains("dockhand-cluster"), "{stacks}");
    assert_eq!(bot.asked_aws(), ["stacks prod,bank"]);
    // #web's app has no stack: nothing to list, and no stack of another app.
    assert_eq!(
        bot.ask("UANY", "slack:CWEB", "!stacks").await,
        "No stacks found."
    );

    // Stacks of other apps, and unknown names (which suggest only what the
    // channel may see): answered before any AWS call.
    let answers = [
        (
            "UANY",
            "slack:CWEB",
            "!stack hubot",
            "Ask about hubot in slack:CDEPLOY.",
        ),
        (
            "UANY",
            "slack:CDEPLOY",
            "!stack dockhand-cluster",
            "Only the stacks of apps bound to a channel can be read there; ask in slack:CDEPLOY or slack:CWEB.",
        ),
        (
            "UANY",
            "slack:CWEB",
            "!status hubbot",
            "Unknown app `hubbot`. Known apps: web.",
        ),
        (
            "UANY",
            "slack:CDEPLOY",
            "!status hubbot",
            "Unknown app `hubbot`. Did you mean `hubot`? `!status` lists apps.",
        ),
        (
            "UANY",
            "slack:CWEB",
            "!status wib",
            "Unknown app `wib`. Did you mean `web`? `!status` lists apps.",
        ),
        (
            "UANY",
            "slack:DDIRECT",
            "!status hubot",
            "A direct message shows only what a rule grants you. Ask about hubot in slack:CDEPLOY.",
        ),
    ];
    for (user, channel, text, want) in answers {
        assert_eq!(
            bot.ask(user, channel, text).await,
            want,
            "{text} in {channel}"
        );
    }
    assert_eq!(bot.asked_aws(), Vec::<String>::new());
}

#[test]
fn a_denial_names_the_role_or_channel_needed_and_nothing_else() {
    let config = config("");
    let bot = Bot::new(config);
    assert_eq!(
        bot.say("UANY", "slack:CDEPLOY", "!deploy hubot v2"),
        "You may not deploy hubot (prod): that needs the role admins or deployers."
    );
    assert_eq!(
        bot.say("UDEP", "slack:CWEB", "!deploy hubot v2"),
        "deploy hubot (prod) is done in slack:CDEPLOY only."
    );
    assert_eq!(
        bot.say("UDEP", "slack:CDEPLOY", "!scale hubot 9"),
        "You may scale hubot (prod) up to 6 tasks; more needs someone with a higher limit."
    );
    assert_eq!(
        bot.say("UANY", "slack:CRANDOM", "!status hubot"),
        "Ask about hubot in slack:CDEPLOY."
    );
    assert_eq!(
        bot.say("UDEP", "slack:DDIRECT", "!deploy hubot v2"),
        "Changes are not made from direct messages here; ask in the app's channel."
    );
}

#[test]
fn whoami_shows_identity_roles_and_what_one_may_change_here() {
    let bot = Bot::new(config(""));
    let out = bot.say("UDEP", "slack:CDEPLOY", "!whoami");
    assert!(
        out.starts_with(
            "You are udep (slack:UDEP; roles: deployers), in channel CDEPLOY (slack:CDEPLOY)."
        ),
        "{out}"
    );
    assert!(out.contains("deploy: hubot, ledger, web"), "{out}");
    assert!(out.contains("scale: hubot, web"), "{out}");
}

#[test]
fn config_mistakes_in_rules_are_named() {
    let text = format!(
        "{CONFIG}\n[[rules]]\nverbs = [\"deplyo\"]\nroles = [\"nobody\"]\napps = [\"ghost\"]\nchannels = [\"#general\"]\n"
    );
    let errors = Config::parse("bad.toml", &text, &|_| None, dockhand::verbs::NAMES).unwrap_err();
    let all = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for wanted in [
        "`deplyo` is not a verb",
        "`nobody` is not declared under `[roles]`",
        "`ghost` is not an app",
        "`#general` is not a channel",
    ] {
        assert!(all.contains(wanted), "{wanted} missing from:\n{all}");
    }
}

/// The dispatcher over the fake AWS: what reads were asked of it, and their
/// replies, show what a channel may see.
struct Bot {
    dispatcher: Dispatcher<FakeOps>,
    outbox: dockhand::message::Outbox,
    replies: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Outbound>>,
}

impl Bot {
    fn new(config: Config) -> Bot {
        let catalog = catalog(&config);
        let (outbox, rx) = tokio::sync::mpsc::unbounded_channel();
        Bot {
            dispatcher: Dispatcher::new(config, catalog, FakeOps::new()),
            outbox,
            replies: tokio::sync::Mutex::new(rx),
        }
    }

    /// Like `say`, and a read that went to AWS is answered by its reply.
    async fn ask(&self, user: &str, channel: &str, text: &str) -> String {
        match self.say(user, channel, text).as_str() {
            "(started)" => {
                let out = self.replies.lock().await.recv().await.expect("a reply");
                out.reply.text
            }
            answer => answer.to_string(),
        }
    }

    /// What the fake AWS was asked, since the last call.
    fn asked_aws(&self) -> Vec<String> {
        self.dispatcher.ops().take_calls()
    }

    fn say(&self, user: &str, channel: &str, text: &str) -> String {
        let (origin, author) = (origin(channel), author(user));
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via: Via::Message,
            text,
        };
        match self.dispatcher.handle(&inbound, &self.outbox) {
            Handled::Reply(r) => {
                let mut t = r.text;
                for b in r.buttons {
                    t.push_str(&format!(" [{}: {}]", b.label, b.command));
                }
                t
            }
            Handled::Started => "(started)".into(),
            Handled::Ignored => String::new(),
        }
    }
}

fn code_in(prompt: &str) -> String {
    let at = prompt.find("confirm ").expect("a code in the prompt") + "confirm ".len();
    prompt[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_confirmation_expires_and_then_is_refused() {
    let bot = Bot::new(config(""));
    let prompt = bot.say("UANY", "slack:CWEB", "!scale web 0");
    assert!(
        prompt.starts_with(
            "`scale web 0` needs a confirmation: scaling to 0 stops every task. You can `!confirm "
        ),
        "{prompt}"
    );
    assert!(
        prompt.contains("[Confirm: confirm ") && prompt.contains("[Abort: abort "),
        "{prompt}"
    );
    let code = code_in(&prompt);

    tokio::time::advance(Duration::from_secs(121)).await;

    let late = bot.say("UANY", "slack:CWEB", &format!("!confirm {code}"));
    assert!(
        late.starts_with(&format!("Code `{code}` expired at ")),
        "{late}"
    );
    // Gone for good: a second try finds nothing.
    let again = bot.say("UANY", "slack:CWEB", &format!("!confirm {code}"));
    assert!(again.starts_with("No confirmation is waiting"), "{again}");
}

#[tokio::test(start_paused = true)]
async fn only_the_requester_in_the_same_channel_may_confirm_or_abort() {
    let bot = Bot::new(config(""));
    let code = code_in(&bot.say("UANY", "slack:CWEB", "!cancel web"));

    assert_eq!(
        bot.say("UOTHER", "slack:CWEB", &format!("!confirm {code}")),
        "Only uany (slack:UANY) can confirm `{code}`.".replace("{code}", &code)
    );
    assert_eq!(
        bot.say("UOTHER", "slack:CWEB", &format!("!abort {code}")),
        format!("Only uany (slack:UANY) can abort `{code}`.")
    );
    // From another channel, a waiting code answers like one never given: no
    // oracle for which codes wait where (F16).
    assert_eq!(
        bot.say("UANY", "slack:CRANDOM", &format!("!confirm {code}")),
        format!(
            "No confirmation is waiting with code `{code}`; it was used, aborted, or never given."
        )
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        bot.say("UANY", "slack:CWEB", &format!("!abort {code}")),
        "Aborted `cancel web`; nothing changed."
    );
    assert!(
        bot.say("UANY", "slack:CWEB", &format!("!confirm {code}"))
            .starts_with("No confirmation is waiting")
    );
}

#[tokio::test(start_paused = true)]
async fn the_two_person_rule_needs_a_second_allowed_person() {
    let bot = Bot::new(config(""));
    // A two-person environment: the requester cannot confirm their own change.
    let prompt = bot.say("UDEP", "slack:CDEPLOY", "!cancel ledger");
    assert!(
        prompt.contains("Someone other than udep (slack:UDEP) can `!confirm"),
        "{prompt}"
    );
    let code = code_in(&prompt);
    assert_eq!(
        bot.say("UDEP", "slack:CDEPLOY", &format!("!confirm {code}")),
        format!(
            "`cancel ledger` needs a second person: someone other than you must confirm `{code}`."
        )
    );
    // The second person must be allowed to do it themselves.
    assert!(
        bot.say("UANY", "slack:CDEPLOY", &format!("!confirm {code}"))
            .starts_with("You may not cancel ledger")
    );
    // Nor may someone without the rights abort it: stopping a change takes the
    // same rights as making it (F17).
    assert!(
        bot.say("UANY", "slack:CDEPLOY", &format!("!abort {code}"))
            .starts_with("You may not cancel ledger")
    );
    // An admin may: the operation starts (and would reach AWS).
    assert_eq!(
        bot.say("UADM", "slack:CDEPLOY", &format!("!confirm {code}")),
        "(started)"
    );
    bot.dispatcher.shutdown_token().cancel();
}

#[tokio::test(start_paused = true)]
async fn buttons_work_whatever_the_prefix_and_say_how_they_settled() {
    use dockhand::dispatch::Click;
    // `c` is a prefix of `confirm`: a button's command must not go through it.
    let env = |k: &str| (k == "DOCKHAND_PREFIX").then(|| "c".to_string());
    let text = format!(
        "commands_dir = {:?}\n{CONFIG}",
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("commands")
    );
    let bot = Bot::new(Config::parse("test.toml", &text, &env, dockhand::verbs::NAMES).unwrap());
    let code = code_in(&bot.say("UANY", "slack:CWEB", "cscale web 0"));
    let click = |user: &str, command: &str| {
        let (origin, author) = (origin("slack:CWEB"), author(user));
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via: Via::Addressed,
            text: command,
        };
        bot.dispatcher.click(&inbound, &bot.outbox)
    };
    assert_eq!(
        click("UOTHER", &format!("abort {code}")),
        Click::Refused(format!("Only uany (slack:UANY) can abort `{code}`."))
    );
    assert_eq!(
        click("UANY", &format!("abort {code}")),
        Click::Settled("Aborted by uany (slack:UANY); nothing changed.".into())
    );
    // A dead prompt's button answers the clicker alone; the prompt stays as it
    // was settled (F17).
    assert_eq!(
        click("UANY", &format!("confirm {code}")),
        Click::Refused(format!(
            "No confirmation is waiting with code `{code}`; it was used, aborted, or never given."
        ))
    );
}

/// F10: a flood from one person costs a burst of answers, one "slow down",
/// then silence, and reaches AWS only for the burst; someone else in the same
/// channel is still answered; the window passes and the person is heard again.
#[tokio::test(start_paused = true)]
async fn a_flood_is_bounded_and_others_are_still_answered() {
    let bot = Bot::new(config(""));
    let mut answers = Vec::new();
    for _ in 0..10_000 {
        answers.push(bot.say("UANY", "slack:CDEPLOY", "!status hubot"));
    }
    let started = answers.iter().filter(|a| *a == "(started)").count();
    let slow: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("Slow down"))
        .collect();
    assert_eq!(started, 10, "the default burst");
    assert_eq!(
        slow,
        ["Slow down: you are sending commands faster than dockhand takes them; try again in 2 s."]
    );
    assert_eq!(answers.iter().filter(|a| a.is_empty()).count(), 10_000 - 11);
    // Someone else is answered at once.
    assert_eq!(bot.ask("UDEP", "slack:CDEPLOY", "!ping").await, "pong");
    tokio::time::sleep(Duration::from_secs(2)).await;
    while bot.replies.lock().await.try_recv().is_ok() {}
    assert_eq!(bot.asked_aws().len(), 10, "only the burst reached AWS");
    assert_eq!(bot.say("UANY", "slack:CDEPLOY", "!ping"), "pong");
}

#[tokio::test(start_paused = true)]
async fn decisions_are_posted_to_the_audit_channel() {
    let config = config("[access]\naudit_channel = \"slack:CAUDIT\"\n");
    let catalog = catalog(&config);
    let dispatcher = Dispatcher::new(
        config,
        catalog,
        AwsOps::new(
            &dockhand::config::Config::parse("x", "", &|_| None, dockhand::verbs::NAMES).unwrap(),
        ),
    );
    let (outbox, mut audit) = tokio::sync::mpsc::unbounded_channel();
    let (origin, author) = (origin("slack:CDEPLOY"), author("UANY"));
    let inbound = Inbound {
        origin: &origin,
        author: &author,
        via: Via::Message,
        text: "!deploy hubot v2",
    };
    dispatcher.handle(&inbound, &outbox);
    // A decision on Discord reaches the Slack audit channel too.
    let (d_origin, d_author) = (self::origin("discord:4242"), self::author("101"));
    let from_discord = Inbound {
        origin: &d_origin,
        author: &d_author,
        ..inbound
    };
    dispatcher.handle(&from_discord, &outbox);
    // Denials gather for a minute and are posted as one message (F10).
    assert!(audit.try_recv().is_err(), "not one post per denial");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let posted = audit.recv().await.expect("the batch");
    assert_eq!(posted.origin.platform, Platform::Slack);
    assert_eq!(&*posted.origin.channel, "CAUDIT");
    assert_eq!(
        posted.reply.text,
        "2 denials in the last minute:\n\
         slack:UANY in slack:CDEPLOY: `deploy hubot v2` denied\n\
         discord:101 in discord:4242: `deploy hubot v2` denied"
    );
    // Reading is not a decision worth a post; chatter is not even seen.
    let inbound = Inbound {
        text: "!help",
        ..inbound
    };
    dispatcher.handle(&inbound, &outbox);
    assert!(audit.try_recv().is_err());
}
