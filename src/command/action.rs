//! The built-in actions: the closed set of verbs dockhand knows.
//!
//! `commands/*.toml` is vocabulary; this file is the code. Each action declares its
//! parameters (name, kind, required), which is what catalogue validation checks a
//! usage line against, how captured text becomes a typed `Command`, and what policy
//! needs to know about it (`mutates`, `risk`, `asked`). Adding a verb means a line in
//! the `actions!` table, and the compiler then points at every match that must
//! handle it: none has a `_ =>` arm on `Action` or `Command`.

use std::collections::HashMap;

use super::value::{AppName, Code, StackName, TaskCount, ValueError, Version, parse_limit};

/// The one table of verbs: each line is an `Action` variant and its catalogue
/// name. The enum, `Action::ALL` and the names are generated from it, so a new verb
/// is one line here, and then the compiler names every match that must handle it
/// (parameters, `Command`, policy facts below, dispatch's `run`).
macro_rules! actions {
    ($($variant:ident => $name:literal,)+) => {
        /// A built-in action, as named by `action = "..."` in a catalogue file.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }
        }
    };
}

actions! {
    Help => "help",
    Ping => "ping",
    Version => "version",
    Whoami => "whoami",
    Deploy => "deploy",
    Rollback => "rollback",
    Scale => "scale",
    Status => "status",
    Stacks => "stacks",
    Stack => "stack",
    Events => "events",
    History => "history",
    Cancel => "cancel",
    Lock => "lock",
    Unlock => "unlock",
    Confirm => "confirm",
    Abort => "abort",
}

/// What kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    App,
    Version,
    Count,
    Limit,
    Stack,
    Code,
    /// Free text (a lock reason, a help topic): kept, neutralised when echoed.
    Text,
    Flag,
}

/// One parameter of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn req(name: &'static str, kind: Kind) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: true,
    }
}
const fn opt(name: &'static str, kind: Kind) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
    }
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub fn params(self) -> &'static [ParamSpec] {
        use Kind::*;
        match self {
            Action::Help => const { &[opt("topic", Text)] },
            Action::Ping | Action::Version | Action::Whoami | Action::Stacks => &[],
            Action::Deploy => {
                const { &[req("app", App), req("version", Version), opt("plan", Flag)] }
            }
            Action::Rollback | Action::History | Action::Cancel | Action::Unlock => {
                const { &[req("app", App)] }
            }
            Action::Scale => const { &[req("app", App), req("count", Count)] },
            Action::Status => const { &[opt("app", App), opt("problems", Flag)] },
            Action::Stack => const { &[req("name", Stack)] },
            Action::Events => const { &[req("app", App), opt("n", Limit)] },
            Action::Lock => const { &[req("app", App), req("reason", Text)] },
            Action::Confirm | Action::Abort => const { &[req("code", Code)] },
        }
    }

    /// Whether the action changes anything. Every mutating action passes through
    /// the policy step's rules; read-only ones only through its channel checks.
    pub fn mutates(self) -> bool {
        match self {
            Action::Deploy
            | Action::Rollback
            | Action::Scale
            | Action::Cancel
            | Action::Lock
            | Action::Unlock => true,
            Action::Help
            | Action::Ping
            | Action::Version
            | Action::Whoami
            | Action::Status
            | Action::Stacks
            | Action::Stack
            | Action::Events
            | Action::History
            | Action::Confirm
            | Action::Abort => false,
        }
    }
}

/// A command with typed arguments: what the pipeline after matching works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help {
        topic: Option<String>,
    },
    Ping,
    Version,
    Whoami,
    Deploy {
        app: AppName,
        version: Version,
        plan: bool,
    },
    Rollback {
        app: AppName,
    },
    Scale {
        app: AppName,
        count: TaskCount,
    },
    Status {
        /// An app, or (resolved by dispatch) an environment's name.
        app: Option<AppName>,
        /// Only the apps that need attention.
        problems: bool,
        /// One environment's apps: set by dispatch when `app` names an
        /// environment, not an app (`status prod`); never by the grammar.
        environment: Option<String>,
    },
    Stacks,
    Stack {
        name: StackName,
    },
    Events {
        app: AppName,
        n: Option<u32>,
    },
    History {
        app: AppName,
    },
    Cancel {
        app: AppName,
    },
    Lock {
        app: AppName,
        reason: String,
    },
    Unlock {
        app: AppName,
    },
    Confirm {
        code: Code,
    },
    Abort {
        code: Code,
    },
}

/// Whether an allowed command asks for a confirmation first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    Never,
    /// Only in a protected environment.
    InProtected,
    /// Everywhere, for this reason.
    Always(&'static str),
}

/// Longest lock reason kept; the rest is cut so a lock note stays one line.
const MAX_TEXT: usize = 200;

impl Command {
    /// Builds the typed command from the parameters a match produced. The catalogue
    /// validated that every required parameter is mapped, so a missing one here is
    /// an optional part the person left out.
    pub fn build(action: Action, args: &HashMap<&str, String>) -> Result<Command, ValueError> {
        let text = |k: &str| {
            args.get(k)
                .map(|s| s.chars().take(MAX_TEXT).collect::<String>())
        };
        let app = || AppName::parse(args.get("app").map(String::as_str).unwrap_or_default());
        let opt_app = || args.get("app").map(|s| AppName::parse(s)).transpose();
        Ok(match action {
            Action::Help => Command::Help {
                topic: text("topic"),
            },
            Action::Ping => Command::Ping,
            Action::Version => Command::Version,
            Action::Whoami => Command::Whoami,
            Action::Deploy => Command::Deploy {
                app: app()?,
                version: Version::parse(
                    args.get("version").map(String::as_str).unwrap_or_default(),
                )?,
                plan: args.contains_key("plan"),
            },
            Action::Rollback => Command::Rollback { app: app()? },
            Action::Scale => Command::Scale {
                app: app()?,
                count: TaskCount::parse(args.get("count").map(String::as_str).unwrap_or_default())?,
            },
            Action::Status => Command::Status {
                app: opt_app()?,
                problems: args.contains_key("problems"),
                environment: None,
            },
            Action::Stacks => Command::Stacks,
            Action::Stack => Command::Stack {
                name: StackName::parse(args.get("name").map(String::as_str).unwrap_or_default())?,
            },
            Action::Events => Command::Events {
                app: app()?,
                n: args.get("n").map(|s| parse_limit(s)).transpose()?,
            },
            Action::History => Command::History { app: app()? },
            Action::Cancel => Command::Cancel { app: app()? },
            Action::Lock => Command::Lock {
                app: app()?,
                reason: text("reason").unwrap_or_default(),
            },
            Action::Unlock => Command::Unlock { app: app()? },
            Action::Confirm => Command::Confirm {
                code: Code::parse(args.get("code").map(String::as_str).unwrap_or_default())?,
            },
            Action::Abort => Command::Abort {
                code: Code::parse(args.get("code").map(String::as_str).unwrap_or_default())?,
            },
        })
    }

    pub fn action(&self) -> Action {
        match self {
            Command::Help { .. } => Action::Help,
            Command::Ping => Action::Ping,
            Command::Version => Action::Version,
            Command::Whoami => Action::Whoami,
            Command::Deploy { .. } => Action::Deploy,
            Command::Rollback { .. } => Action::Rollback,
            Command::Scale { .. } => Action::Scale,
            Command::Status { .. } => Action::Status,
            Command::Stacks => Action::Stacks,
            Command::Stack { .. } => Action::Stack,
            Command::Events { .. } => Action::Events,
            Command::History { .. } => Action::History,
            Command::Cancel { .. } => Action::Cancel,
            Command::Lock { .. } => Action::Lock,
            Command::Unlock { .. } => Action::Unlock,
            Command::Confirm { .. } => Action::Confirm,
            Command::Abort { .. } => Action::Abort,
        }
    }

    /// The command as a person would type it, for prompts, holds and audit.
    pub fn asked(&self) -> String {
        match self {
            Command::Deploy { app, version, plan } => {
                format!(
                    "deploy {app} {version}{}",
                    if *plan { " --plan" } else { "" }
                )
            }
            Command::Rollback { app } => format!("rollback {app}"),
            Command::Scale { app, count } => format!("scale {app} {count}"),
            Command::Cancel { app } => format!("cancel {app}"),
            Command::Lock { app, .. } => format!("lock {app}"),
            Command::Unlock { app } => format!("unlock {app}"),
            Command::Status { app: Some(app), .. } => format!("status {app}"),
            Command::Events { app, .. } => format!("events {app}"),
            Command::History { app } => format!("history {app}"),
            Command::Stack { name } => format!("stack {name}"),
            Command::Help { .. }
            | Command::Ping
            | Command::Version
            | Command::Whoami
            | Command::Status { app: None, .. }
            | Command::Stacks
            | Command::Confirm { .. }
            | Command::Abort { .. } => self.action().name().to_string(),
        }
    }

    /// When a command that policy allows must still be confirmed.
    pub fn risk(&self) -> Risk {
        match self {
            Command::Scale { count, .. } if count.0 == 0 => {
                Risk::Always("scaling to 0 stops every task")
            }
            Command::Cancel { .. } => Risk::Always("cancel rolls the app back"),
            Command::Deploy { .. } | Command::Rollback { .. } | Command::Scale { .. } => {
                Risk::InProtected
            }
            // A lock is how a protected environment is kept safe: never in the way.
            Command::Lock { .. } | Command::Unlock { .. } => Risk::Never,
            Command::Help { .. }
            | Command::Ping
            | Command::Version
            | Command::Whoami
            | Command::Status { .. }
            | Command::Stacks
            | Command::Stack { .. }
            | Command::Events { .. }
            | Command::History { .. }
            | Command::Confirm { .. }
            | Command::Abort { .. } => Risk::Never,
        }
    }

    /// A deploy to run now (not `--plan`): it is checked against the kinds of
    /// version the app ran before, and its confirmation prompt shows its plan.
    pub fn deploy_version(&self) -> Option<&Version> {
        match self {
            Command::Deploy {
                version,
                plan: false,
                ..
            } => Some(version),
            Command::Deploy { plan: true, .. }
            | Command::Help { .. }
            | Command::Ping
            | Command::Version
            | Command::Whoami
            | Command::Rollback { .. }
            | Command::Scale { .. }
            | Command::Status { .. }
            | Command::Stacks
            | Command::Stack { .. }
            | Command::Events { .. }
            | Command::History { .. }
            | Command::Cancel { .. }
            | Command::Lock { .. }
            | Command::Unlock { .. }
            | Command::Confirm { .. }
            | Command::Abort { .. } => None,
        }
    }

    /// The app the command is about, if any: what policy and the in-flight guard key on.
    pub fn app(&self) -> Option<&AppName> {
        match self {
            Command::Deploy { app, .. }
            | Command::Rollback { app }
            | Command::Scale { app, .. }
            | Command::Events { app, .. }
            | Command::History { app }
            | Command::Cancel { app }
            | Command::Lock { app, .. }
            | Command::Unlock { app } => Some(app),
            Command::Status { app, .. } => app.as_ref(),
            Command::Help { .. }
            | Command::Ping
            | Command::Version
            | Command::Whoami
            | Command::Stacks
            | Command::Stack { .. }
            | Command::Confirm { .. }
            | Command::Abort { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_name_round_trips() {
        for &a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("exec"), None);
    }

    #[test]
    fn typed_arguments_refuse_bad_values_before_anything_runs() {
        let args = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(
            Command::build(Action::Scale, &args(&[("app", "hubot"), ("count", "3")])).unwrap(),
            Command::Scale {
                app: AppName::parse("hubot").unwrap(),
                count: TaskCount(3)
            }
        );
        assert!(
            Command::build(Action::Scale, &args(&[("app", "hubot"), ("count", "-3")])).is_err()
        );
        assert!(
            Command::build(
                Action::Deploy,
                &args(&[("app", "hubot"), ("version", "v2;rm -rf")])
            )
            .is_err()
        );
        let d = Command::build(
            Action::Deploy,
            &args(&[("app", "hubot"), ("version", "v2"), ("plan", "--plan")]),
        )
        .unwrap();
        assert!(matches!(d, Command::Deploy { plan: true, .. }));
    }
}
