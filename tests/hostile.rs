//! The hostile-input suite (issue 14, point 11), through `dockhand shell` as a
//! process: mass and role mentions, right-to-left overrides and zero-width
//! characters, a 100 KB message, 10,000 lines at once, NUL bytes and invalid
//! UTF-8 on stdin. Each ends in a clear answer or silence, never a crash, never
//! an AWS call (AWS points at a port nothing listens on, so a call would show as
//! an error in a reply), and no secret anywhere. The same inputs through the
//! Slack and Discord servers are in `slack.rs` and `discord.rs` (foreign guilds,
//! edited and replayed events, forged button values); the fuzzer
//! (`examples/fuzz.rs`) mutates them by the million.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{self, SECRETS, assert_no_secret};

/// The shell over `input` bytes, with channels bound so that the shell's own
/// channel sees no app: every read is refused before AWS.
fn shell(input: &[u8]) -> (String, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockhand.toml");
    std::fs::write(
        &config,
        format!(
            "commands_dir = {:?}\n[environments.prod]\n[apps.hubot]\nenvironment = \"prod\"\nstack = \"hubot\"\n\
             [channels.\"shell:deploys\"]\napps = [\"hubot\"]\n",
            support::root().join("commands")
        ),
    )
    .unwrap();
    let nowhere = format!("http://127.0.0.1:{}", support::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .args(["shell", "--config"])
        .arg(&config)
        .args(["--user", "mallory", "--channel", "random"])
        .env("AWS_ENDPOINT_URL", &nowhere)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRETS[3])
        .env("AWS_REGION", "us-east-1")
        .env("SLACK_BOT_TOKEN", SECRETS[0])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dockhand shell");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: the shell answers while it reads, and a full
    // stdout pipe would otherwise stop both.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// What no reply may carry: a ping of many, a raw mention, markup that breaks
/// out, an invisible character, a sign of an AWS call, a secret.
fn assert_clean(out: &str) {
    // The fuzzer's properties, line by line (its length bound is per reply)...
    for line in out.lines() {
        crate::fuzz::harness::check("(the shell's input)", line);
    }
    // ...and what only a whole process could show.
    for bad in ["<@U", "](http", "AWS", "panicked"] {
        assert!(!out.contains(bad), "{bad:?} in:\n{out}");
    }
    assert_no_secret(out);
}

#[test]
fn mentions_overrides_and_markup_are_answered_inert() {
    let input = [
        "!status <!channel>",
        "!lock hubot @everyone <!here> <@&123> <@U024BE7LH>",
        "!help \u{202e}yolped",
        "!deploy hubot v2\u{202e}",
        "!stack hub\u{200b}ot",
        "!runbook [approved](https://evil.example)",
        "!status hubot",
        "!stacks",
        "@dockhand deploy hubot v9",
        "!confirm K7Q2XM",
        "!abort ABC234",
    ]
    .join("\n");
    let (out, err, code) = shell(format!("{input}\n").as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_clean(&out);
    assert_clean(&err);
    // Each command got its one clear answer (the chatter-shaped mention none).
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 10, "{out}");
    assert!(
        out.contains("Ask about hubot in shell:deploys."),
        "reads are refused where hubot is not bound:\n{out}"
    );
}

#[test]
fn huge_binary_and_flooding_input_ends_in_answers_or_silence() {
    let mut input: Vec<u8> = Vec::new();
    // A 100 KB message, NUL bytes, invalid UTF-8, a bare carriage return.
    input.extend_from_slice(format!("!ping {}\n", "x".repeat(100_000)).as_bytes());
    input.extend_from_slice(b"!pi\0ng\n\0\0\0\n");
    input.extend_from_slice(b"\xff\xfe\xfd!ping\n!ping \xc3\x28\n\r\n");
    // 10,000 lines at once.
    for i in 0..10_000 {
        input.extend_from_slice(if i % 2 == 0 { b"!ping\n" } else { b"hello\n" });
    }
    let (out, err, code) = shell(&input);
    assert_eq!(code, 0, "{err}");
    assert_clean(&out);
    assert_clean(&err);
    assert!(
        out.contains("That is too long for a command"),
        "the 100 KB line is refused:\n{}",
        &out[..out.len().min(500)]
    );
    assert!(
        out.contains("That command contains control characters"),
        "NUL bytes are refused"
    );
    // Every `!ping` of the flood is answered, and nothing else is.
    assert!(
        out.matches("pong").count() >= 5_000,
        "{}",
        out.matches("pong").count()
    );
    assert!(
        out.len() < 200_000,
        "replies stay bounded: {} bytes",
        out.len()
    );
}
