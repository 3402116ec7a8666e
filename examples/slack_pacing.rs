//! Slack replies paced per channel: the real Slack adapter (slack-morphism's client
//! and Socket Mode listener) against the local Slack server of the tests, with the
//! real dispatcher behind it. Run through `make bench` (which starts the emulator
//! dispatch reads its state from):
//!
//! ```sh
//! scripts/with-emulator.sh cargo run --release --quiet --example slack_pacing
//! ```
//!
//! Sends a burst of 50 `!ping` in one channel and then one `!ping` in a quiet
//! channel, and prints how long the quiet channel's answer took from its message,
//! how many of the burst's answers went before it, and how long the burst took to
//! be answered, with the most posts it had in any one second (Slack allows about
//! one a second per channel, short bursts above that).

#[path = "../tests/support/slack.rs"]
#[allow(dead_code)] // ... and the Slack server's messages and call log
mod slack_server;
#[path = "../tests/support/aws.rs"]
#[allow(dead_code)] // the bench uses the harness's bot and emulator account only
mod support;

use std::time::Duration;

use dockhand::adapters::slack;
use dockhand::config::Config;
use dockhand::message::Platform;
use slack_server::{Call, FakeSlack};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const BURST: usize = 50;
const BUSY: &str = "C0BUSY";
const QUIET: &str = "C0QUIET";

fn posted_in(c: &Call, channel: &str) -> bool {
    c.method == "chat.postMessage" && c.body["channel"] == channel
}

#[tokio::main]
async fn main() {
    let server = FakeSlack::start().await;
    server.name("U0ALICE", "alice");
    server.name("U0BOB", "bob");
    let world = support::World::new().await;
    // A person may send the whole burst: the limits are not what is measured.
    let text = format!(
        "commands_dir = {:?}\n[aws]\nregion = \"us-east-1\"\nmax_attempts = 1\n\
         [slack]\napi_url = {:?}\n[limits]\nperson_burst = 100\nchannel_burst = 100\n",
        support::root().join("commands"),
        server.api_url
    );
    let env = |name: &str| match name {
        "SLACK_BOT_TOKEN" => Some(support::SECRETS[0].to_string()),
        "SLACK_APP_TOKEN" => Some(support::SECRETS[1].to_string()),
        _ => None,
    };
    let config = Config::parse("bench.toml", &text, &env, dockhand::verbs::NAMES).expect("config");
    let bot = support::Bot::new(config, &world.account).await;
    let settings = bot.dispatcher.config().slack.clone();
    let stop = CancellationToken::new();
    let wiring = bot.wiring(Platform::Slack, stop.clone());
    let adapter = tokio::spawn(async move { slack::run(&settings, wiring).await });
    server
        .until(20, "a Socket Mode connection", |s| {
            (s.hellos() >= 1).then_some(())
        })
        .await;

    let started = Instant::now();
    for _ in 0..BURST {
        server.message(BUSY, "U0ALICE", "!ping", None);
    }
    let asked = Instant::now();
    server.message(QUIET, "U0BOB", "!ping", None);
    let posts = server
        .until(120, "every answer", |s| {
            let posts: Vec<(Instant, Call)> = s
                .timed_calls()
                .into_iter()
                .filter(|(_, c)| c.method == "chat.postMessage")
                .collect();
            (posts.len() > BURST).then_some(posts)
        })
        .await;
    stop.cancel();
    adapter
        .await
        .expect("the adapter")
        .expect("the adapter ran");

    let quiet = posts
        .iter()
        .position(|(_, c)| posted_in(c, QUIET))
        .expect("the quiet channel's answer");
    let burst: Vec<Instant> = posts
        .iter()
        .filter(|(_, c)| posted_in(c, BUSY))
        .map(|(at, _)| *at)
        .collect();
    let in_a_second = burst
        .iter()
        .enumerate()
        .map(|(i, t)| {
            burst[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "slack pacing: {BURST} `!ping` in one channel, then one in a quiet channel, against the local Slack server"
    );
    println!(
        "  quiet channel: answered {:.1} ms after its message, before {} of the burst's {BURST} answers",
        ms(posts[quiet].0 - asked),
        BURST - quiet
    );
    println!(
        "  burst        : {} answers in {:.1} s from the first message, first after {:.1} ms, at most {in_a_second} in any second",
        burst.len(),
        (*burst.last().expect("the burst's answers") - started).as_secs_f64(),
        ms(burst[0] - started),
    );
}
