//! The shipped catalogue and catalogue validation: grammar tables per command,
//! every kind of validation error, and help against a golden file.

use std::path::{Path, PathBuf};

use dockhand::catalog::Problem;
use dockhand::catalog::{Catalog, Match, help};
use dockhand::command::value::{AppName, Code, FilterPattern, StackName, TaskCount, Version};
use dockhand::verbs::{
    Command, abort, cancel, confirm, deploy, events, help as help_verb, history, lock,
    logs as logs_verb, ping, rollback, scale, stack, stacks, status, unlock, version, whoami,
};

fn shipped() -> Catalog {
    Catalog::load(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("commands")
            .as_path(),
    )
    .expect("the shipped catalogue is valid")
}

fn app(s: &str) -> AppName {
    AppName::parse(s).unwrap()
}

fn logs_of(name: &str) -> logs_verb::Logs {
    logs_verb::Logs {
        app: app(name),
        n: None,
        since: None,
        grep: None,
        task: None,
        follow: None,
        stop: false,
    }
}

/// What a text resolves to, in a comparable form.
#[derive(Debug, PartialEq)]
enum Got {
    Cmd(Command),
    Reply(String),
    Usage(String),
    BadValue(String),
    Unknown(Option<String>),
}

fn resolve(c: &Catalog, text: &str) -> Got {
    match c.matches(text, |s| s.to_string()) {
        Match::Action(_, Ok(cmd)) => Got::Cmd(cmd),
        Match::Action(e, Err(_)) => Got::BadValue(e.name.clone()),
        Match::Reply(_, r) => Got::Reply(r),
        Match::Usage(e) => Got::Usage(e.name.clone()),
        Match::Unknown { suggestion, .. } => Got::Unknown(suggestion.map(str::to_string)),
    }
}

#[test]
fn every_command_of_the_product_table_parses_as_documented() {
    let c = shipped();
    let v2 = Version::parse("v2").unwrap();
    let digest = format!("sha256:{}", "ab".repeat(32));
    let table: Vec<(&str, Got)> = vec![
        (
            "deploy hubot v2",
            Got::Cmd(Command::Deploy(deploy::Deploy {
                app: app("hubot"),
                version: v2.clone(),
                plan: false,
            })),
        ),
        (
            "Deploy hubot v2 --plan",
            Got::Cmd(Command::Deploy(deploy::Deploy {
                app: app("hubot"),
                version: v2.clone(),
                plan: true,
            })),
        ),
        (
            "ship hubot v2",
            Got::Cmd(Command::Deploy(deploy::Deploy {
                app: app("hubot"),
                version: v2.clone(),
                plan: false,
            })),
        ),
        ("deploy hubot", Got::Usage("deploy".into())),
        ("deploy hubot --plan", Got::Usage("deploy".into())),
        ("deploy hubot v2 extra", Got::Usage("deploy".into())),
        ("deploy hubot v2;reboot", Got::BadValue("deploy".into())),
        (
            "rollback hubot",
            Got::Cmd(Command::Rollback(rollback::Rollback { app: app("hubot") })),
        ),
        ("rollback", Got::Usage("rollback".into())),
        (
            "scale hubot 3",
            Got::Cmd(Command::Scale(scale::Scale {
                app: app("hubot"),
                count: TaskCount(3),
            })),
        ),
        ("scale hubot three", Got::BadValue("scale".into())),
        ("scale hubot", Got::Usage("scale".into())),
        (
            "status",
            Got::Cmd(Command::Status(status::Status {
                app: None,
                problems: false,
            })),
        ),
        (
            "status --problems",
            Got::Cmd(Command::Status(status::Status {
                app: None,
                problems: true,
            })),
        ),
        (
            "status hubot",
            Got::Cmd(Command::Status(status::Status {
                app: Some(app("hubot")),
                problems: false,
            })),
        ),
        (
            "st hubot",
            Got::Cmd(Command::Status(status::Status {
                app: Some(app("hubot")),
                problems: false,
            })),
        ),
        (
            "stack hubot",
            Got::Cmd(Command::Stack(stack::Stack {
                name: StackName::parse("hubot").unwrap(),
            })),
        ),
        ("stack 1hubot", Got::BadValue("stack".into())),
        ("stacks", Got::Cmd(Command::Stacks(stacks::Stacks))),
        (
            "events hubot",
            Got::Cmd(Command::Events(events::Events {
                app: app("hubot"),
                n: None,
            })),
        ),
        (
            "events hubot 20",
            Got::Cmd(Command::Events(events::Events {
                app: app("hubot"),
                n: Some(20),
            })),
        ),
        ("events hubot 500", Got::BadValue("events".into())),
        (
            "history hubot",
            Got::Cmd(Command::History(history::History { app: app("hubot") })),
        ),
        (
            "cancel hubot",
            Got::Cmd(Command::Cancel(cancel::Cancel { app: app("hubot") })),
        ),
        (
            "lock hubot release freeze",
            Got::Cmd(Command::Lock(lock::Lock {
                app: app("hubot"),
                reason: "release freeze".into(),
            })),
        ),
        ("lock hubot", Got::Usage("lock".into())),
        (
            "unlock hubot",
            Got::Cmd(Command::Unlock(unlock::Unlock { app: app("hubot") })),
        ),
        (
            "confirm k7q2",
            Got::Cmd(Command::Confirm(confirm::Confirm {
                code: Code::parse("K7Q2").unwrap(),
            })),
        ),
        (
            "abort K7Q2",
            Got::Cmd(Command::Abort(abort::Abort {
                code: Code::parse("K7Q2").unwrap(),
            })),
        ),
        (
            "help",
            Got::Cmd(Command::Help(help_verb::Help { topic: None })),
        ),
        (
            "help deploy",
            Got::Cmd(Command::Help(help_verb::Help {
                topic: Some("deploy".into()),
            })),
        ),
        (
            "commands",
            Got::Cmd(Command::Help(help_verb::Help { topic: None })),
        ),
        ("whoami", Got::Cmd(Command::Whoami(whoami::Whoami))),
        ("version", Got::Cmd(Command::Version(version::Version))),
        ("ping", Got::Cmd(Command::Ping(ping::Ping))),
        ("ping pong", Got::Usage("ping".into())),
        (
            "runbook db",
            Got::Reply("Runbook for db: https://runbooks.example.com/db".into()),
        ),
        (
            "logs hubot --follow",
            Got::Cmd(Command::Logs(logs_verb::Logs {
                follow: Some(None),
                ..logs_of("hubot")
            })),
        ),
        (
            "logs hubot --grep ERROR --follow 2m",
            Got::Cmd(Command::Logs(logs_verb::Logs {
                follow: Some(Some(120)),
                grep: Some(FilterPattern::parse("ERROR").unwrap()),
                ..logs_of("hubot")
            })),
        ),
        // A sub-command: `logs stop <app>`, not the logs of an app named stop.
        (
            "Logs stop hubot",
            Got::Cmd(Command::Logs(logs_verb::Logs {
                stop: true,
                ..logs_of("hubot")
            })),
        ),
        ("logs stop", Got::Usage("logs stop".into())),
        ("logs stop hubot now", Got::Usage("logs stop".into())),
        ("logs hubot --follow 1s", Got::BadValue("logs".into())),
        (
            "help logs stop",
            Got::Cmd(Command::Help(help_verb::Help {
                topic: Some("logs stop".into()),
            })),
        ),
        ("depoy hubot v2", Got::Unknown(Some("deploy".into()))),
        ("satus", Got::Unknown(Some("status".into()))),
        ("xyzzy", Got::Unknown(None)),
    ];
    for (text, want) in table {
        assert_eq!(resolve(&c, text), want, "{text:?}");
    }
    let deploy_digest = resolve(&c, &format!("deploy hubot {digest}"));
    assert!(
        matches!(deploy_digest, Got::Cmd(Command::Deploy(deploy::Deploy { version, .. })) if version.is_digest())
    );
}

#[test]
fn help_lists_every_command_as_the_golden_file_shows() {
    let got = help::list(&shipped(), "!");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("tests/golden/help.txt (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(got, want);
}

#[test]
fn help_for_one_command_shows_usage_examples_and_aliases() {
    let c = shipped();
    let got = help::command(c.find("ship").unwrap(), "!");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/help-deploy.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    assert_eq!(got, std::fs::read_to_string(&path).unwrap());
}

fn problems(files: &[(&str, &str)]) -> Vec<(String, Problem)> {
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(f, t)| (PathBuf::from(format!("commands/{f}")), t.to_string()))
        .collect();
    match Catalog::from_sources(&sources) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| (e.file.display().to_string(), e.problem))
            .collect(),
    }
}

fn one_problem(files: &[(&str, &str)]) -> (String, Problem, String) {
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(f, t)| (PathBuf::from(format!("commands/{f}")), t.to_string()))
        .collect();
    let errors = Catalog::from_sources(&sources).expect_err("a problem");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors.into_iter().next().unwrap();
    let shown = e.to_string();
    (e.file.display().to_string(), e.problem, shown)
}

const PING: &str = "usage = \"ping\"\nsummary = \"Liveness.\"\naction = \"ping\"\n";

#[test]
fn every_validation_error_names_the_file_and_says_what_to_fix() {
    struct Case {
        files: Vec<(&'static str, &'static str)>,
        file: &'static str,
        kind: fn(&Problem) -> bool,
        says: &'static str,
    }
    let cases = vec![
        Case {
            files: vec![(
                "logs-stop.toml",
                "usage = \"logs stop <app>\"\nsummary = \"x\"\naction = \"logs\"\naliases = [\"halt\"]\n[params]\nstop = \"yes\"\n",
            )],
            file: "commands/logs-stop.toml",
            kind: |p| matches!(p, Problem::SubcommandAlias(_)),
            says: "`logs stop` is a sub-command: it takes no aliases",
        },
        Case {
            files: vec![(
                "stop.toml",
                "usage = \"logs stop <app>\"\nsummary = \"x\"\naction = \"logs\"\n[params]\nstop = \"yes\"\n",
            )],
            file: "commands/stop.toml",
            kind: |p| matches!(p, Problem::FileName { .. }),
            says: "the usage starts with `logs stop`, so the file must be named `logs-stop.toml`",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"x\"\naction = \"ping\"\nalias = [\"p\"]\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::Syntax(_)),
            says: "unknown field `alias`",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"x\"\naction = \"reboot\"\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::UnknownAction(..)),
            says: "unknown action `reboot`; the built-in actions are: help, ping",
        },
        Case {
            files: vec![(
                "deploy.toml",
                "usage = \"deploy <app> <tag>\"\nsummary = \"x\"\naction = \"deploy\"\n",
            )],
            file: "commands/deploy.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "action `deploy` needs `version`: add `<version>` to `usage` or set it under `[params]`",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping <target>\"\nsummary = \"x\"\naction = \"ping\"\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "`target` in the usage is not used",
        },
        Case {
            files: vec![(
                "deploy.toml",
                "usage = \"deploy <app> [<version>]\"\nsummary = \"x\"\naction = \"deploy\"\n",
            )],
            file: "commands/deploy.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "take it out of `[...]`",
        },
        Case {
            files: vec![(
                "deploy.toml",
                "usage = \"deploy <app> <version> [<plan>]\"\nsummary = \"x\"\naction = \"deploy\"\n",
            )],
            file: "commands/deploy.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "`plan` is a flag of `deploy`: write `--plan` in the usage",
        },
        Case {
            files: vec![(
                "ship.toml",
                "usage = \"ship <version>\"\nsummary = \"x\"\naction = \"deploy\"\n[params]\napp = \"web\"\nversion = \"{version}\"\nteam = \"x\"\n",
            )],
            file: "commands/ship.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "`team` in `[params]` is not a parameter of action `deploy`",
        },
        Case {
            files: vec![(
                "runbook.toml",
                "usage = \"runbook <topic>\"\nsummary = \"x\"\nreply = \"see {page}\"\n",
            )],
            file: "commands/runbook.toml",
            kind: |p| matches!(p, Problem::Params(_)),
            says: "`{page}` in `reply` is not a placeholder of the usage line",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"x\"\naction = \"ping\"\nreply = \"pong\"\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::ActionOrReply),
            says: "set exactly one of",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping [\"\nsummary = \"x\"\naction = \"ping\"\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::Grammar(_)),
            says: "is never closed",
        },
        Case {
            files: vec![("pong.toml", PING)],
            file: "commands/pong.toml",
            kind: |p| matches!(p, Problem::FileName { .. }),
            says: "must be named `ping.toml`",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"  \"\naction = \"ping\"\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::NoSummary),
            says: "`summary` is empty",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"x\"\naction = \"ping\"\naliases = [\"p p\"]\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::BadAlias(_)),
            says: "alias `p p` is not a word",
        },
        Case {
            files: vec![(
                "ping.toml",
                "usage = \"ping\"\nsummary = \"x\"\naction = \"ping\"\nexamples = [\"ping now\"]\n",
            )],
            file: "commands/ping.toml",
            kind: |p| matches!(p, Problem::Example(_)),
            says: "example `ping now` does not match the usage line",
        },
        Case {
            files: vec![
                ("ping.toml", PING),
                (
                    "pong.toml",
                    "usage = \"pong\"\nsummary = \"x\"\naction = \"ping\"\naliases = [\"PING\"]\n",
                ),
            ],
            file: "commands/pong.toml",
            kind: |p| matches!(p, Problem::Duplicate { .. }),
            says: "`ping` is already the name or an alias of commands/ping.toml",
        },
        Case {
            files: vec![
                (
                    "runbook.toml",
                    "usage = \"runbook <topic>\"\nsummary = \"x\"\nreply = \"see {topic}\"\n",
                ),
                (
                    "status.toml",
                    "usage = \"status [<app>]\"\nsummary = \"x\"\naction = \"status\"\naliases = [\"runbook\"]\n",
                ),
            ],
            file: "commands/status.toml",
            kind: |p| matches!(p, Problem::Duplicate { .. }),
            says: "so both would match the same text",
        },
    ];
    for case in cases {
        let (file, problem, shown) = one_problem(&case.files);
        assert_eq!(file, case.file, "{shown}");
        assert!((case.kind)(&problem), "wrong kind: {shown}");
        assert!(
            shown.contains(case.says),
            "{shown:?} should say {:?}",
            case.says
        );
        assert!(
            shown.starts_with(case.file),
            "{shown} should start with the file"
        );
    }
}

#[test]
fn every_problem_in_the_catalogue_is_reported_at_once() {
    let p = problems(&[
        (
            "ping.toml",
            "usage = \"ping\"\nsummary = \"x\"\naction = \"reboot\"\n",
        ),
        ("pong.toml", PING),
        ("zap.toml", "usage = \"zap\"\nsumary = \"x\"\n"),
    ]);
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn an_unreadable_catalogue_directory_says_so() {
    let e = Catalog::load(Path::new("/nonexistent/commands")).unwrap_err();
    assert!(matches!(e[0].problem, Problem::Unreadable(_)));
}

#[test]
fn an_alias_command_binds_literal_parameters() {
    let sources = vec![(
        PathBuf::from("commands/ship.toml"),
        "usage = \"ship <version>\"\nsummary = \"Deploy web.\"\naction = \"deploy\"\n[params]\napp = \"web\"\nversion = \"{version}\"\n".to_string(),
    )];
    let c = Catalog::from_sources(&sources).unwrap();
    assert_eq!(
        resolve(&c, "ship v7"),
        Got::Cmd(Command::Deploy(deploy::Deploy {
            app: app("web"),
            version: Version::parse("v7").unwrap(),
            plan: false
        }))
    );
}

/// `n` reply commands `cmd0000`... in `dir`, each taking `placeholders` values:
/// every one fine alone, the lot as large as the author makes it.
fn generated(dir: &Path, n: usize, placeholders: usize) {
    let usage: Vec<String> = (0..placeholders).map(|p| format!("<p{p}>")).collect();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("cmd{i:04}.toml")),
            format!(
                "usage = \"cmd{i:04} {}\"\nsummary = \"Generated.\"\nreply = \"{{p0}}\"\n",
                usage.join(" ")
            ),
        )
        .unwrap();
    }
}

#[test]
fn a_catalogue_too_large_to_compile_is_a_problem_saying_what_to_do() {
    use dockhand::catalog::GRAMMAR_SIZE_LIMIT;

    // Each grammar of 8 placeholders compiles to some tens of KB: 400 of them
    // together are past GRAMMAR_SIZE_LIMIT (10 MiB), while a few are not.
    let small = tempfile::tempdir().unwrap();
    generated(small.path(), 3, 8);
    assert_eq!(Catalog::load(small.path()).unwrap().entries().len(), 3);

    let dir = tempfile::tempdir().unwrap();
    generated(dir.path(), 400, 8);
    std::fs::write(
        dir.path().join("zap.toml"),
        "usage = \"zap\"\nsummary = \"\"\nreply = \"x\"\n",
    )
    .unwrap();
    let errors = Catalog::load(dir.path()).expect_err("too large to compile");
    // Collected with the other problems: the empty summary is reported too.
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        matches!(errors[0].problem, Problem::NoSummary),
        "{errors:?}"
    );
    let e = &errors[1];
    assert!(matches!(e.problem, Problem::TooLarge { .. }), "{e:?}");
    assert_eq!(e.file, dir.path(), "the catalogue as a whole");
    let shown = e.to_string();
    assert!(
        shown.contains(
            "the 400 commands together compile to a matcher larger than dockhand allows (10 MiB)"
        ) && shown.contains("use fewer commands, or fewer or shorter aliases and placeholders"),
        "{shown}"
    );
    assert_eq!(GRAMMAR_SIZE_LIMIT, 10 << 20, "the limit the message states");

    // One command too large alone is named by its own file.
    let one = tempfile::tempdir().unwrap();
    generated(one.path(), 1, 4000);
    let errors = Catalog::load(one.path()).expect_err("too large to compile");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].file, one.path().join("cmd0000.toml"));
    assert!(
        errors[0]
            .to_string()
            .contains("this command's usage line and aliases compile to a matcher larger"),
        "{}",
        errors[0]
    );

    // `dockhand check` lists it and exits 2 instead of panicking.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dockhand"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "--config", "dockhand.example.toml", "--commands"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the 400 commands together compile"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
