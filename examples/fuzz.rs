//! Hostile-input fuzzing of the pipeline up to the policy step: addressing, the
//! catalogue match, argument parsing, policy and the replies, through
//! `Dispatcher::handle` exactly as an adapter calls it.
//!
//! Inputs are built from real commands, then mutated: bytes flipped, pieces of
//! other commands spliced in, mention and markup syntax (`<!here>`, `@everyone`,
//! `<@U1>`), control characters, long and non-ASCII runs. Every reply must be
//! bounded and must not carry a mass mention or a raw mention back. The fuzz
//! identity holds no role and speaks in an unbound channel, so every path ends
//! before AWS (a deny, a usage line, help...), which keeps it fast.
//!
//! `cargo run --release --example fuzz -- 10000000 [seed]` (the smoke test in
//! `tests/fuzz.rs` runs a short version on every `make test`).

use std::path::Path;

use dockhand::catalog::Catalog;
use dockhand::config::Config;
use dockhand::dispatch::{Dispatcher, Handled};
use dockhand::message::{Author, Inbound, Origin, Platform, Via};
use dockhand::ops::aws::AwsOps;

const SEEDS: &[&str] = &[
    "!deploy hubot v2",
    "!deploy hubot sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "!deploy hubot v2 --plan",
    "!rollback hubot",
    "!scale hubot 3",
    "!scale hubot 0",
    "!status",
    "!status hubot",
    "!stack hubot",
    "!stacks",
    "!events hubot 20",
    "!history hubot",
    "!cancel hubot",
    "!lock hubot release freeze",
    "!unlock hubot",
    "!confirm K7Q2",
    "!abort K7Q2",
    "!help",
    "!help deploy",
    "!whoami",
    "!version",
    "!ping",
    "!runbook db",
    "!ship hubot v3",
    "dockhand: status",
    "@dockhand deploy hubot v2",
    "<@UBOT> status",
    "good morning",
    "!",
    "!!",
    "!deploy",
    "!deploy <!here> v2",
    "!lock hubot <!channel> @everyone",
];

const SPICE: &[&str] = &[
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "@everyone",
    "@here",
    "<@U024BE7LH>",
    "<@&123>",
    "<#C0123>",
    "`",
    "```",
    "*",
    "_",
    "~",
    "\u{0}",
    "\u{7}",
    "\u{1b}[31m",
    "\r\n",
    "\t",
    "\u{202e}",
    "\u{200b}",
    "\u{2066}",
    "\u{feff}",
    "\u{200d}",
    "[approved](https://evil.example)",
    "](",
    "é",
    "日本",
    "🚀",
    "--plan",
    "--",
    "-",
    "sha256:",
    ":",
    "/",
    "..",
    "{topic}",
    "{",
    "}",
    " ",
    "  ",
    "0",
    "-1",
    "99999999999999999999",
    "v2",
    "hubot",
    "deploy",
];

/// A small fast PRNG (xorshift64*): reproducible runs from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One input: a seed command with a few mutations.
pub fn input(rng: &mut Rng, buf: &mut String) {
    buf.clear();
    buf.push_str(SEEDS[rng.below(SEEDS.len())]);
    for _ in 0..rng.below(4) {
        let at = floor_char_boundary(buf, rng.below(buf.len() + 1));
        match rng.below(6) {
            0 => buf.insert_str(at, SPICE[rng.below(SPICE.len())]),
            1 => {
                let end = floor_char_boundary(buf, at + rng.below(8));
                buf.replace_range(at..end.max(at), "");
            }
            2 => buf.insert_str(at, SEEDS[rng.below(SEEDS.len())]),
            3 => buf.insert(at, char::from_u32(rng.below(0x3000) as u32).unwrap_or('?')),
            4 => {
                let n = rng.below(3000);
                buf.insert_str(at, &"x".repeat(n));
            }
            _ => buf.insert(at, ' '),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The dispatcher the fuzzer drives: apps and rules exist, but the fuzz identity
/// has no role and its channel is bound to nothing.
pub fn dispatcher() -> Dispatcher<AwsOps> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        r#"commands_dir = {:?}
[environments.prod]
protected = true
[apps.hubot]
environment = "prod"
stack = "hubot"
[roles]
deployers = ["slack:UDEPLOYER"]
[channels."slack:CDEPLOY"]
apps = ["hubot"]
[[rules]]
verbs = ["deploy", "rollback", "scale", "cancel", "lock", "unlock"]
roles = ["deployers"]
# One identity sends every input: the rate limits (tested on their own) would
# otherwise silence all but the first few.
[limits]
person_burst = 4000000000
person_per_minute = 4000000000
channel_burst = 4000000000
channel_per_minute = 4000000000
"#,
        root.join("commands")
    );
    let config =
        Config::parse("fuzz.toml", &text, &|_| None, dockhand::verbs::NAMES).expect("fuzz config");
    let mut catalog_dir = root.join("commands");
    if !catalog_dir.exists() {
        catalog_dir = root.into();
    }
    let catalog = Catalog::load(&catalog_dir).expect("catalogue");
    let ops = AwsOps::new(&config);
    let mut d = Dispatcher::new(config, catalog, ops);
    d.add_mention("<@UBOT>");
    d
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct Stats {
    pub inputs: u64,
    pub ignored: u64,
    pub replies: u64,
    pub longest_reply: usize,
}

/// Runs `n` inputs; panics (with the input) on a broken property.
pub fn run(n: u64, seed: u64) -> Stats {
    let d = dispatcher();
    let (outbox, _rx) = tokio::sync::mpsc::unbounded_channel();
    let origin = Origin {
        platform: Platform::Slack,
        channel: "CRANDOM".into(),
        thread: None,
        direct: false,
    };
    let author = Author {
        external: false,
        id: "UFUZZ".into(),
        name: "fuzz".into(),
    };
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    let mut stats = Stats::default();
    for i in 0..n {
        input(&mut rng, &mut text);
        let via = if i % 5 == 0 {
            Via::Addressed
        } else {
            Via::Message
        };
        let inbound = Inbound {
            origin: &origin,
            author: &author,
            via,
            text: &text,
        };
        stats.inputs += 1;
        match d.handle(&inbound, &outbox) {
            Handled::Ignored => stats.ignored += 1,
            Handled::Reply(reply) => {
                stats.replies += 1;
                stats.longest_reply = stats.longest_reply.max(reply.text.len());
                check(&text, &reply.text);
            }
            Handled::Started => panic!("input {text:?} reached AWS from an unbound channel"),
        }
    }
    stats
}

/// The properties every reply to hostile input keeps (also used by
/// `tests/hostile.rs` on the shell's output).
pub fn check(input: &str, reply: &str) {
    assert!(
        reply.len() <= 4000,
        "reply of {} bytes to {input:?}",
        reply.len()
    );
    for bad in [
        "<!here>",
        "<!channel>",
        "<!everyone>",
        "@everyone",
        "@here",
        "<@U024BE7LH>",
        "<@&",
    ] {
        assert!(
            !reply.contains(bad),
            "reply to {input:?} carries {bad:?}: {reply:?}"
        );
    }
    // F18: nothing invisible that could reorder or hide what is read.
    assert!(
        !reply.chars().any(dockhand::message::invisible),
        "reply to {input:?} carries an invisible character: {reply:?}"
    );
    assert!(
        !reply.chars().any(|c| c.is_control() && c != '\n'),
        "reply to {input:?} carries a control character: {reply:?}"
    );
}

#[allow(dead_code)]
fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x5eed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let started = std::time::Instant::now();
    let stats = run(n, seed);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} inputs in {secs:.1} s ({:.0}/s), seed {seed}: {} ignored, {} replies, longest reply {} bytes; no panic, every property held",
        stats.inputs,
        stats.inputs as f64 / secs,
        stats.ignored,
        stats.replies,
        stats.longest_reply
    );
}
