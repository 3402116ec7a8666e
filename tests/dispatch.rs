//! Dispatch's own behaviours on a fake AWS (`support::fake::FakeOps`), in
//! milliseconds: one operation per app, the record kept while an operation runs and
//! what recovery does with it, and commands written the way they work where a reply
//! is read. How AWS behaves is tested against the emulator (tests/aws.rs).

use crate::support;

use tokio::sync::mpsc;

use dockhand::command::value::TaskCount;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Outbound, Platform, Via};
use dockhand::ops::{Lock, Operation, OperationKind, ReplyTo, Requester};
use support::fake::FakeOps;

const CONFIG: &str = r#"
prefix = "."

[environments.prod]
[environments.live]
protected = true

[apps.web]
environment = "live"
stack = "web"

[apps.hubot]
environment = "prod"
stack = "hubot"
max = 10

[discord]
prefix_commands = false

[[rules]]
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
"#;

struct Bot {
    dispatcher: Dispatcher<FakeOps>,
    outbox: mpsc::UnboundedSender<Outbound>,
    replies: mpsc::UnboundedReceiver<Outbound>,
}

impl Bot {
    fn new() -> Bot {
        let (outbox, replies) = mpsc::unbounded_channel();
        Bot {
            dispatcher: support::fake::dispatcher(CONFIG),
            outbox,
            replies,
        }
    }

    fn fake(&self) -> &FakeOps {
        self.dispatcher.ops()
    }

    fn say(&self, platform: Platform, text: &str) -> Option<String> {
        let origin = Origin {
            platform,
            channel: "C1".into(),
            thread: None,
            direct: false,
        };
        let author = Author {
            external: false,
            id: "U1".into(),
            name: "alice".into(),
        };
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via: Via::Addressed,
            text,
        };
        match self.dispatcher.handle(&inbound, &self.outbox) {
            Handled::Reply(r) => Some(r.text),
            Handled::Started => None,
            Handled::Ignored => Some(String::new()),
        }
    }

    /// The next reply whose text contains `text` (the others are skipped).
    async fn reply_with(&mut self, text: &str) -> Outbound {
        loop {
            let out = self.replies.recv().await.expect("a reply");
            if out.reply.text.contains(text) {
                return out;
            }
        }
    }
}

#[tokio::test]
async fn one_operation_per_app_and_the_refusal_names_the_configured_prefix() {
    let mut bot = Bot::new();
    assert_eq!(bot.say(Platform::Slack, "deploy hubot v2"), None);
    bot.reply_with("Deploying hubot v2 (now v1) to prod, asked by @alice.")
        .await;

    let busy = bot.say(Platform::Slack, "scale hubot 3").unwrap();
    assert!(
        busy.starts_with("hubot is busy: @alice started `deploy hubot v2` at "),
        "{busy}"
    );
    assert!(
        busy.ends_with("Wait for it to finish, or `.cancel hubot`."),
        "{busy}"
    );
    // On Discord without prefix commands, the slash form is what works.
    let busy = bot.say(Platform::Discord, "scale hubot 3").unwrap();
    assert!(busy.ends_with("or `/dockhand cancel hubot`."), "{busy}");

    // Recorded while it runs, cleared once the verdict is out.
    let recorded = bot
        .fake()
        .record_of("hubot")
        .expect("recorded while it runs");
    assert_eq!(recorded.asked(), "deploy hubot v2");
    assert_eq!(recorded.reply_to.platform, Platform::Slack);
    bot.fake().finish(1);
    bot.reply_with("hubot v2 is live: 2/2 tasks on hubot:2")
        .await;
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
    assert_eq!(bot.fake().record_of("hubot"), None);
    assert_eq!(
        bot.fake().calls(),
        ["record hubot", "deploy hubot v2", "clear hubot"]
    );
}

#[tokio::test]
async fn a_restart_keeps_the_record_and_recovery_resumes_it_where_it_was_asked() {
    let mut bot = Bot::new();
    bot.fake().put_record(Operation {
        app: "hubot".parse().unwrap(),
        kind: OperationKind::Scale {
            count: TaskCount::parse("3").unwrap(),
        },
        requester: Requester {
            identity: "discord:101".into(),
            name: "@bob".into(),
        },
        reply_to: ReplyTo {
            platform: Platform::Discord,
            channel: "4242".into(),
            thread: None,
        },
        started_at: 0,
    });
    // Another platform's record is not this adapter's to resume.
    bot.dispatcher.recover(Platform::Slack, &bot.outbox);
    bot.dispatcher.recover(Platform::Discord, &bot.outbox);
    let head = bot.reply_with("Watching `scale hubot 3` again").await;
    assert_eq!(head.origin.platform, Platform::Discord);
    assert_eq!(&*head.origin.channel, "4242");

    // Stopping mid-watch: the record stays for the next instance.
    bot.dispatcher.shutdown_token().cancel();
    let out = bot.reply_with("dockhand is restarting").await;
    assert!(
        out.reply.text.ends_with("Check `/dockhand status hubot`."),
        "{}",
        out.reply.text
    );
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
    assert!(bot.fake().record_of("hubot").is_some());
    assert_eq!(bot.fake().calls(), ["resume scale hubot 3"]);
}

#[tokio::test]
async fn a_locked_app_says_how_to_unlock_in_the_syntax_that_works_here() {
    let mut bot = Bot::new();
    bot.fake().lock_app(
        "hubot",
        Lock {
            by: "slack:U9".into(),
            by_name: "@carol".into(),
            at: 0,
            reason: "release freeze".into(),
        },
    );
    assert_eq!(bot.say(Platform::Slack, "deploy hubot v2"), None);
    let out = bot.reply_with("locked by @carol").await;
    assert_eq!(
        out.reply.text,
        "hubot v2: hubot is locked by @carol since 00:00 UTC: release freeze. `.unlock hubot` when it is over."
    );
}

#[tokio::test]
async fn a_confirmation_whose_plan_changed_meanwhile_asks_again_instead_of_running() {
    let mut bot = Bot::new();
    assert_eq!(bot.say(Platform::Slack, "deploy web v2"), None);
    let prompt = bot.reply_with("needs a confirmation").await.reply.text;
    assert!(prompt.contains("Parameter Version: v1 -> v2"), "{prompt}");
    let code = code_in(&prompt);

    // Someone deploys v3 before the confirmation.
    bot.fake().set_current("v3");
    assert_eq!(bot.say(Platform::Slack, &format!("confirm {code}")), None);
    let again = bot.reply_with("needs a confirmation").await.reply.text;
    assert!(
        again.starts_with("`deploy web v2` needs a confirmation: the plan changed since it was asked (web now runs v3)."),
        "{again}"
    );
    assert!(again.contains("Parameter Version: v3 -> v2"), "{again}");
    assert!(
        !bot.fake().calls().iter().any(|c| c.starts_with("deploy")),
        "nothing ran"
    );

    // Confirmed against the plan as it is now, it runs.
    let code = code_in(&again);
    assert_eq!(bot.say(Platform::Slack, &format!("confirm {code}")), None);
    bot.reply_with("Deploying web v2").await;
    bot.fake().finish(1);
    bot.reply_with("web v2 is live").await;
    assert!(bot.fake().calls().contains(&"deploy web v2".to_string()));
}

#[tokio::test]
async fn a_rollback_confirmation_shows_where_it_goes_and_asks_again_if_that_changed() {
    let mut bot = Bot::new();
    assert_eq!(bot.say(Platform::Slack, "rollback web"), None);
    let prompt = bot.reply_with("needs a confirmation").await.reply.text;
    assert!(
        prompt.contains("Plan for rollback of web (now v1)")
            && prompt.contains("Back from v1 to the version before it"),
        "{prompt}"
    );
    let code = code_in(&prompt);

    // Someone deploys v3 first: rolling back now would leave v3, not v1.
    bot.fake().set_current("v3");
    assert_eq!(bot.say(Platform::Slack, &format!("confirm {code}")), None);
    let again = bot.reply_with("needs a confirmation").await.reply.text;
    assert!(
        again.starts_with("`rollback web` needs a confirmation: the plan changed since it was asked (web now runs v3)."),
        "{again}"
    );
    assert!(
        !bot.fake().calls().iter().any(|c| c.starts_with("rollback")),
        "nothing ran"
    );
    let code = code_in(&again);
    assert_eq!(bot.say(Platform::Slack, &format!("confirm {code}")), None);
    bot.reply_with("Rolling back web").await;
    assert!(bot.fake().calls().contains(&"rollback web".to_string()));
    bot.fake().finish(1);
}

fn code_in(prompt: &str) -> String {
    let at = prompt.find("confirm ").expect("a code") + "confirm ".len();
    prompt[at..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}
