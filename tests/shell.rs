//! `dockhand shell` as a process: lines in on stdin, replies out on stdout.

use std::io::Write;
use std::process::{Command, Stdio};

use dockhand::adapters::shell::{ERASE_LINE, draw, draw_over};
use dockhand::message::{MessageId, Reply};

fn shell(args: &[&str], input: &str) -> (String, String, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["shell"])
        .args(args)
        .env_remove("DOCKHAND_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dockhand shell");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn chatter_gets_no_reply_and_commands_get_one_each() {
    let (out, err, code) = shell(
        &[],
        "good morning\n!ping\nlunch at noon?\n!runbook db\n!version\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "pong\nRunbook for db: https://runbooks.example.com/db\ndockhand {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn mistakes_get_a_pointer_to_the_fix() {
    let (out, _, code) = shell(
        &[],
        "!depoy hubot v2\n!deploy hubot\n!scale hubot lots\n!help depoy\n",
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "Unknown command `depoy`. Did you mean `deploy`? `!help` lists commands.",
            "Usage: `!deploy <app> <version> [--plan]` (`!help deploy` for examples).",
            "`lots` is not a valid task count: write a whole number from 0 to 1000. Usage: `!scale <app> <count>`",
            "No command `depoy`. Did you mean `deploy`? `!help` lists commands.",
        ]
    );
}

#[test]
fn user_and_channel_set_who_speaks_and_where() {
    let (out, _, _) = shell(&["--user", "U024BE7LH", "--channel", "C0OPS"], "!whoami\n");
    assert!(
        out.starts_with(
            "You are U024BE7LH (shell:U024BE7LH; no roles), in channel C0OPS (shell:C0OPS)."
        ),
        "{out}"
    );
}

#[test]
fn mentions_and_a_custom_prefix_address_the_bot() {
    let (out, _, _) = shell(&[], "@dockhand ping\ndockhand: ping\n.ping\n");
    assert_eq!(out, "pong\npong\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["shell"])
        .env("DOCKHAND_PREFIX", ".")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b".ping\n!ping\n")
        .unwrap();
    assert_eq!(
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap(),
        "pong\n"
    );
}

#[test]
fn hostile_echoes_are_neutralised() {
    let (out, _, _) = shell(&[], "!runbook <!channel>\n!@everyone\n");
    assert!(
        !out.contains("<!channel>") && !out.contains("@everyone"),
        "{out}"
    );
}

#[test]
fn the_shell_refuses_to_start_on_a_broken_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ping.toml"),
        "usage = \"ping\"\nsummary = \"x\"\naction = \"reboot\"\n",
    )
    .unwrap();
    let (out, err, code) = shell(&["--commands", dir.path().to_str().unwrap()], "!ping\n");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("ping.toml: unknown action `reboot`"), "{err}");
    assert!(err.contains("dockhand cannot start"), "{err}");
}

#[test]
fn check_validates_catalogue_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockhand.toml");
    std::fs::write(
        &config,
        "[apps.hubot]\nenvironment = \"prod\"\nstack = \"hubot\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("apps.hubot.environment: `prod` is not declared; add `[environments.prod]`"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--config", "dockhand.example.toml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One command per file of the shipped catalogue, however many it has.
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/commands"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with(&format!("ok: {shipped} commands")),
        "{stdout}"
    );
}

/// A reply that arrives while the prompt waits (the writer task's, on a terminal)
/// erases the prompt line, prints, and draws the prompt again; with no prompt
/// showing (a pipe) the bytes are exactly `draw`'s.
#[test]
fn a_reply_over_a_waiting_prompt_erases_it_and_draws_it_again() {
    let prompt = "alice@ops> ";
    let replies = [
        Reply::edit(MessageId(7), "hubot v2 is live: 2/2 tasks on hubot:2, 41s."),
        Reply::in_thread(
            MessageId(7),
            "14:02 service hubot has reached a steady state.\nsecond line",
        ),
        Reply::text("pong"),
    ];
    for reply in &replies {
        let mut plain = Vec::new();
        draw(reply, &mut plain).unwrap();
        let mut got = Vec::new();
        draw_over(reply, Some(prompt), &mut got).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!(
                "{ERASE_LINE}{}{prompt}",
                String::from_utf8(plain.clone()).unwrap()
            )
        );
        let mut piped = Vec::new();
        draw_over(reply, None, &mut piped).unwrap();
        assert_eq!(piped, plain);
    }
    let mut got = Vec::new();
    draw_over(&replies[0], Some(prompt), &mut got).unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "\r\x1b[2K  ~ hubot v2 is live: 2/2 tasks on hubot:2, 41s.\nalice@ops> "
    );
}
