//! `logs <app> --follow` as dispatch runs it, on a fake AWS and tokio's paused
//! clock: one message kept current with a [Stop] button, ended by `logs stop`,
//! by the button, by its limit, by AWS or by shutdown, one per app per channel.
//! The AWS side (Live Tail, the poll) is tested against the emulator in logs.rs.

use crate::support;

use tokio::sync::mpsc;

use dockhand::dispatch::{Click, Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Outbound, Placement, Platform, Via};
use support::fake::FakeOps;

const CONFIG: &str = r#"
[environments.prod]

[apps.hubot]
environment = "prod"
stack = "hubot"

[apps.web]
environment = "prod"
stack = "web"

[apps.ledger]
environment = "prod"
stack = "ledger"

[limits]
follow_minutes = 5
follows = 2

[[rules]]
verbs = ["logs"]
"#;

struct Bot {
    dispatcher: Dispatcher<FakeOps>,
    outbox: mpsc::UnboundedSender<Outbound>,
    replies: mpsc::UnboundedReceiver<Outbound>,
}

fn origin(channel: &str) -> Origin {
    Origin {
        platform: Platform::Slack,
        channel: channel.into(),
        thread: None,
        direct: false,
    }
}

fn author(name: &str) -> Author {
    Author {
        external: false,
        id: name.to_uppercase().into(),
        name: name.into(),
    }
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

    fn say_in(&self, channel: &str, who: &str, text: &str) -> Option<String> {
        let (origin, author) = (origin(channel), author(who));
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

    fn say(&self, text: &str) -> Option<String> {
        self.say_in("C1", "alice", text)
    }

    fn click(&self, who: &str, command: &str) -> Click {
        dockhand::adapters::click(
            &self.dispatcher,
            &origin("C1"),
            &author(who),
            command,
            &self.outbox,
        )
    }

    /// Replies until one whose text contains `text`, that one last.
    async fn until(&mut self, text: &str) -> Vec<Outbound> {
        let mut seen = Vec::new();
        loop {
            let out = self.replies.recv().await.expect("a reply");
            let done = out.reply.text.contains(text);
            seen.push(out);
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_tail_shows_lines_as_they_come_and_ends_at_its_limit() {
    let mut bot = Bot::new();
    assert_eq!(bot.say("logs hubot --follow 30s --grep ERROR"), None);
    let head = bot.until("Following hubot's logs").await.pop().unwrap();
    let id = head.reply.id.expect("the head is edited later");
    assert!(
        head.reply
            .text
            .starts_with("Following hubot's logs from /dockhand/hubot (Live Tail) until ")
            && head.reply.text.ends_with("Lines appear here as they come."),
        "{}",
        head.reply.text
    );
    assert_eq!(head.reply.buttons.len(), 1);
    assert_eq!(head.reply.buttons[0].command, "logs stop hubot");

    bot.fake().logged(&["ERROR one", "ERROR two"]);
    let edit = bot.until("ERROR two").await.pop().unwrap();
    assert_eq!(edit.reply.placement, Placement::Edit(id));
    assert!(edit.reply.verbatim, "lines are a code block");
    assert_eq!(edit.reply.buttons.len(), 1, "the edit keeps [Stop]");
    assert!(
        edit.reply.text.contains("0a1b2c  ERROR one"),
        "{}",
        edit.reply.text
    );

    let end = bot.until("Followed hubot's logs").await.pop().unwrap();
    assert_eq!(end.reply.placement, Placement::Edit(id));
    assert!(
        end.reply.text.starts_with(
            "Followed hubot's logs from /dockhand/hubot for 30s (its time was up): 2 lines:"
        ),
        "{}",
        end.reply.text
    );
    assert!(end.reply.buttons.is_empty(), "nothing to stop any more");
    assert_eq!(
        bot.fake().calls(),
        ["tail hubot Some(\"ERROR\") None"],
        "the filter reaches AWS"
    );
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_tail_stops_by_command_by_button_and_at_shutdown() {
    let mut bot = Bot::new();
    assert_eq!(
        bot.say("logs stop hubot").unwrap(),
        "No tail of hubot's logs runs in this channel; `!logs hubot --follow` starts one."
    );

    // By command, from someone else in the channel.
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    assert_eq!(
        bot.say_in("C1", "bob", "logs stop hubot").unwrap(),
        "Stopped following hubot's logs."
    );
    let end = bot.until("Followed hubot's logs").await.pop().unwrap();
    assert!(
        end.reply.text.contains("(stopped by @bob)"),
        "{}",
        end.reply.text
    );

    // By its button: the click settles, and the head says who.
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    match bot.click("carol", "logs stop hubot") {
        Click::Settled(note) => assert!(note.starts_with("Stopped by carol"), "{note}"),
        other => panic!("the click was refused: {other:?}"),
    }
    let end = bot.until("Followed hubot's logs").await.pop().unwrap();
    assert!(
        end.reply.text.contains("(stopped by @carol)"),
        "{}",
        end.reply.text
    );
    // A second click on a tail that has ended is the clicker's to hear.
    match bot.click("carol", "logs stop hubot") {
        Click::Refused(why) => assert!(why.starts_with("No tail of hubot's logs"), "{why}"),
        other => panic!("{other:?}"),
    }

    // At shutdown, the head says so.
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    bot.dispatcher.shutdown_token().cancel();
    let end = bot.until("Followed hubot's logs").await.pop().unwrap();
    assert!(
        end.reply.text.contains("(dockhand is restarting)"),
        "{}",
        end.reply.text
    );
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
}

#[tokio::test(start_paused = true)]
async fn one_tail_per_app_per_channel_and_a_few_in_all() {
    let mut bot = Bot::new();
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    let again = bot.say_in("C1", "bob", "logs hubot --follow").unwrap();
    assert!(
        again.starts_with("@alice has followed hubot's logs here since ")
            && again.ends_with("one tail per app in a channel. `!logs stop hubot` first."),
        "{again}"
    );
    // Another channel may follow the same app; the configured two at once is all.
    assert_eq!(bot.say_in("C2", "bob", "logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    let full = bot.say("logs web --follow").unwrap();
    assert!(
        full.starts_with("dockhand follows 2 logs already"),
        "{full}"
    );

    // Longer than configured, or with a window of past lines: said before anything runs.
    bot.say("logs stop hubot");
    // Stopped, the app may be followed again at once, while the old tail ends.
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("stopped by").await;
    let long = bot.say("logs web --follow 1h").unwrap();
    assert_eq!(
        long,
        "A tail lasts 5m00s at most here (`[limits] follow_minutes`); ask for less, or leave the time out."
    );
    let since = bot.say("logs web --follow --since 1h").unwrap();
    assert!(since.contains("leave out --since"), "{since}");
    let short = bot.say("logs web --follow 2s").unwrap();
    assert!(short.contains("10 s at least"), "{short}");
    bot.dispatcher.shutdown_token().cancel();
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_flood_is_sampled_into_pages_and_counted() {
    let mut bot = Bot::new();
    assert_eq!(bot.say("logs hubot --follow 1m"), None);
    let head = bot.until("Following hubot's logs").await.pop().unwrap();
    let id = head.reply.id.unwrap();
    let long = "x".repeat(90);
    for second in 0..30 {
        let lines: Vec<String> = (0..50)
            .map(|i| format!("{second:02}-{i:02} {long}"))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        bot.fake().logged(&lines);
    }
    let seen = bot.until("Followed hubot's logs").await;
    let end = seen.last().unwrap();
    assert!(
        end.reply
            .text
            .contains("more not shown (they came faster than chat shows)")
            && end.reply.text.contains("; later lines in the thread:"),
        "{}",
        end.reply.text
    );
    let pages: Vec<&Outbound> = seen
        .iter()
        .filter(|o| o.reply.placement == Placement::Thread(id))
        .collect();
    // Lines for 30 s (the last read at 31 s), a new page at most every 5 s
    // after the head's: 7 at most.
    assert!((2..=7).contains(&pages.len()), "{} pages", pages.len());
    for p in &pages {
        assert!(p.reply.text.chars().count() < 2000, "a page fits a message");
        assert!(p.reply.id.is_some(), "a page is edited later");
    }
    // The newest line made it: the last second's last line.
    assert!(
        seen.iter().any(|o| o.reply.text.contains("29-49")),
        "the newest lines are kept"
    );
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
}

#[tokio::test(start_paused = true)]
async fn a_tail_that_aws_breaks_off_says_why() {
    let mut bot = Bot::new();
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    bot.fake().logged(&["Ready"]);
    bot.fake()
        .tail_breaks("CloudWatch Logs ended the Live Tail session");
    let end = bot.until("Followed hubot's logs").await.pop().unwrap();
    assert!(
        end.reply
            .text
            .contains("(CloudWatch Logs ended the Live Tail session): 1 line:"),
        "{}",
        end.reply.text
    );
    // The app may be followed again at once.
    assert_eq!(bot.say("logs hubot --follow"), None);
    bot.until("Following hubot's logs").await;
    bot.dispatcher.shutdown_token().cancel();
    bot.dispatcher.tasks().close();
    bot.dispatcher.tasks().wait().await;
}
