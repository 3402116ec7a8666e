//! The built-in verbs: one file each, and the one table that lists them.
//!
//! `commands/*.toml` is vocabulary; these files are the code. Each verb's file
//! holds everything about it: its parameters (what catalogue validation checks a
//! usage line against), its typed arguments and how captured text becomes them,
//! what policy needs to know (`Facts`: does it change anything, which app, what
//! makes it risky), and how it runs, against the pipeline's [`Ctx`].
//!
//! Adding a verb is its file, a `mod` line and a table line below, its
//! `commands/` file, and a test. The table generates `Action`, `Command` and
//! every per-verb match; the `Verb` trait has no default methods, so the compiler
//! names everything a new verb must say.
//!
//! Sits above `ops` and `render` (a verb's run calls AWS and draws its reply)
//! and below the catalogue and dispatch, which reach a verb only through this
//! table.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use crate::command::value::ValueError;
use crate::config::{App, Config, Environment};
use crate::message::{Author, Origin, Reply};
use crate::ops::{self, OperationKind, Ops, OpsError, Outcome, Target};
use crate::policy::{Facts, Policy, Request};
use crate::render;

pub mod abort;
pub mod cancel;
pub mod confirm;
#[path = "continue.rs"]
pub mod continue_;
pub mod deploy;
pub mod events;
pub mod help;
pub mod history;
pub mod lock;
pub mod logs;
pub mod mute;
pub mod notifications;
pub mod ping;
pub mod rollback;
pub mod scale;
pub mod stack;
pub mod stacks;
pub mod status;
pub mod unlock;
pub mod unmute;
pub mod version;
pub mod whoami;

/// The one table of verbs: each line is a variant, its catalogue name, and the
/// type in its file that implements [`Verb`]. The enums and every per-verb match
/// are generated from it.
macro_rules! verbs {
    ($($variant:ident => $name:literal => $ty:ty,)+) => {
        /// A built-in action, as named by `action = "..."` in a catalogue file and
        /// by `verbs = [...]` in a rule.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)+
        }

        /// Every verb's name, for config to check rules against.
        pub const NAMES: &[&str] = &[$($name,)+];

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }

            pub fn params(self) -> &'static [ParamSpec] {
                match self {
                    $(Action::$variant => <$ty as Verb>::PARAMS,)+
                }
            }

            /// Whether the verb can change anything: rules govern it, and `whoami`
            /// lists it.
            pub fn mutates(self) -> bool {
                match self {
                    $(Action::$variant => <$ty as Verb>::MUTATES,)+
                }
            }
        }

        /// A command with typed arguments: what the pipeline after matching works with.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Command {
            $($variant($ty),)+
        }

        impl Command {
            /// Builds the typed command from the parameters a match produced. The
            /// catalogue validated that every required parameter is mapped, so a
            /// missing one here is an optional part the person left out.
            pub fn build(action: Action, args: &Args<'_>) -> Result<Command, ValueError> {
                Ok(match action {
                    $(Action::$variant => Command::$variant(<$ty as Verb>::build(args)?),)+
                })
            }

            pub fn action(&self) -> Action {
                match self {
                    $(Command::$variant(_) => Action::$variant,)+
                }
            }

            /// What policy (and dispatch) need to know about this command.
            pub fn facts<'a>(&'a self, config: &'a Config) -> Facts<'a> {
                match self {
                    $(Command::$variant(v) => v.facts(config),)+
                }
            }

            /// The command as a person would type it, for prompts, holds and audit.
            pub fn asked(&self) -> String {
                match self {
                    $(Command::$variant(v) => v.asked(),)+
                }
            }

            /// Runs the command; policy has allowed it (and it was confirmed if
            /// it had to be).
            pub fn run<C: Ctx>(self, cx: &C) -> C::Done {
                match self {
                    $(Command::$variant(v) => v.run(cx),)+
                }
            }
        }
    };
}

verbs! {
    Help => "help" => help::Help,
    Ping => "ping" => ping::Ping,
    Version => "version" => version::Version,
    Whoami => "whoami" => whoami::Whoami,
    Deploy => "deploy" => deploy::Deploy,
    Rollback => "rollback" => rollback::Rollback,
    Scale => "scale" => scale::Scale,
    Status => "status" => status::Status,
    Stacks => "stacks" => stacks::Stacks,
    Stack => "stack" => stack::Stack,
    Events => "events" => events::Events,
    Logs => "logs" => logs::Logs,
    History => "history" => history::History,
    Cancel => "cancel" => cancel::Cancel,
    Continue => "continue" => continue_::Continue,
    Lock => "lock" => lock::Lock,
    Unlock => "unlock" => unlock::Unlock,
    Notifications => "notifications" => notifications::Notifications,
    Mute => "mute" => mute::Mute,
    Unmute => "unmute" => unmute::Unmute,
    Confirm => "confirm" => confirm::Confirm,
    Abort => "abort" => abort::Abort,
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// One verb. No method has a default: a new verb states each.
pub trait Verb: Sized {
    /// Its parameters, which catalogue validation checks a usage line against.
    const PARAMS: &'static [ParamSpec];
    /// Whether it can change anything (see [`Action::mutates`]).
    const MUTATES: bool;
    /// The typed arguments from the parameters a match captured.
    fn build(args: &Args<'_>) -> Result<Self, ValueError>;
    /// What policy needs to know about it, in this config.
    fn facts<'a>(&'a self, config: &'a Config) -> Facts<'a>;
    /// As a person would type it: `deploy hubot v2`.
    fn asked(&self) -> String;
    /// Runs it against the pipeline.
    fn run<C: Ctx>(self, cx: &C) -> C::Done;
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

/// One parameter of a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const fn req(name: &'static str, kind: Kind) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: true,
    }
}

pub const fn opt(name: &'static str, kind: Kind) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required: false,
    }
}

/// The parameters a catalogue match produced, by parameter name.
pub type Args<'a> = HashMap<&'a str, String>;

/// Longest free text kept (a lock reason, a help topic); the rest is cut so it
/// stays one line.
const MAX_TEXT: usize = 200;

/// A parameter's text, or empty when the person left an optional part out.
fn arg<'a>(args: &'a Args<'_>, name: &str) -> &'a str {
    args.get(name).map(String::as_str).unwrap_or_default()
}

/// A free-text parameter, cut to `MAX_TEXT` characters.
fn text(args: &Args<'_>, name: &str) -> Option<String> {
    args.get(name).map(|s| s.chars().take(MAX_TEXT).collect())
}

/// The facts of a verb that touches nothing and is answered anywhere.
fn open<'a>() -> Facts<'a> {
    Facts {
        app: None,
        mutates: false,
        open: true,
        unmanaged: false,
        risk: crate::policy::Risk::Never,
        count: None,
        change: crate::policy::Change::Nothing,
        sensitive: false,
    }
}

/// The facts of a read-only verb about one app (or none).
fn reads(app: Option<&crate::command::value::AppName>) -> Facts<'_> {
    Facts {
        app,
        mutates: false,
        open: false,
        unmanaged: false,
        risk: crate::policy::Risk::Never,
        count: None,
        change: crate::policy::Change::Nothing,
        sensitive: false,
    }
}

/// The facts of a verb that changes `app`, with this risk.
fn changes(app: &crate::command::value::AppName, risk: crate::policy::Risk) -> Facts<'_> {
    Facts {
        app: Some(app),
        mutates: true,
        open: false,
        unmanaged: false,
        risk,
        count: None,
        change: crate::policy::Change::Nothing,
        sensitive: false,
    }
}

/// What a verb can ask of the pipeline while it runs. Dispatch implements it for
/// one allowed command; `Done` is what dispatch makes of the answer.
pub trait Ctx {
    type Ops: Ops;
    type Done;

    fn config(&self) -> &Config;
    fn policy(&self) -> &Policy;
    /// Whether an operation of this dockhand watches the command's app now (its
    /// thread reports what happens to it).
    fn watched(&self) -> bool;
    fn origin(&self) -> &Origin;
    fn author(&self) -> &Author;
    /// How commands are written in replies here (prefix or slash form).
    fn cmd(&self) -> render::Cmd;
    /// The help text for `topic` (or the list), from the catalogue.
    fn help(&self, topic: Option<&str>) -> String;
    /// The app this command's facts named, resolved from config. Only for verbs
    /// whose facts name one: dispatch refused an unknown app before running.
    fn app(&self) -> &App;
    /// The app with its environment and the person asking, for AWS.
    fn target(&self) -> Target;

    /// Answers at once.
    fn reply(&self, reply: Reply) -> Self::Done;
    /// Answers once AWS has: `job` runs as a task, and its error is turned into
    /// chat text in one place.
    fn spawn_reply<F, Fut>(&self, job: F) -> Self::Done
    where
        F: FnOnce(Arc<Self::Ops>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Reply, OpsError>> + Send + 'static;
    /// A long operation on the app: takes its hold (one operation per app), posts
    /// the head message, reports progress, ends with the verdict.
    fn operation<F, Fut>(&self, kind: OperationKind, job: F) -> Self::Done
    where
        F: FnOnce(Arc<Self::Ops>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static;
    /// Like `operation`, without the hold: for `cancel`, which must run while the
    /// operation it cancels holds the app.
    fn operation_unheld<F, Fut>(&self, kind: OperationKind, job: F) -> Self::Done
    where
        F: FnOnce(Arc<Self::Ops>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static;
    /// Confirms (runs) or aborts the command waiting under `code`.
    fn settle(&self, code: &str, confirm: bool) -> Self::Done;
    /// Mutes an app's notifications (`Some`), or lifts its mute (`None`);
    /// returns the mute it replaced or lifted.
    fn mute(
        &self,
        app: &crate::command::value::AppName,
        mute: Option<ops::Mute>,
    ) -> Option<ops::Mute>;
    /// The mutes in force.
    fn mutes(&self) -> Vec<(crate::command::value::AppName, ops::Mute)>;
    /// Tails the app's logs into this channel for `limit`: one message kept
    /// current, bounded, with a [Stop] button (`dispatch::tails`).
    fn follow(&self, query: ops::TailQuery, limit: std::time::Duration) -> Self::Done;
    /// Stops the app's tail in this channel, saying who did.
    fn unfollow(&self) -> Self::Done;
}

/// The request policy decided for a command of `action` with these facts, here:
/// what a verb needs to ask policy a further question (`unlock`: may it break
/// someone else's lock?).
fn request<'a, C: Ctx>(cx: &'a C, action: Action, facts: Facts<'a>) -> Request<'a> {
    let app = facts.app.and_then(|name| cx.config().apps.get(name));
    Request {
        origin: cx.origin(),
        author: cx.author(),
        verb: action.name(),
        facts,
        app,
        environment: app.map(|a| cx.config().environment_of(a)),
    }
}

/// Whether the person asking may read `action` about `app` here (`None`: about
/// something that is not a configured app): listings show only what it allows.
fn sees<C: Ctx>(cx: &C, action: Action, app: Option<&App>) -> bool {
    cx.policy()
        .sees(cx.origin(), cx.author(), action.name(), app)
}

/// The configured apps the person asking may read `action` about here.
fn visible<C: Ctx>(cx: &C, action: Action) -> impl Iterator<Item = &App> {
    cx.policy().visible(cx.origin(), cx.author(), action.name())
}

/// An app's environment, owned, for a task.
fn environment(config: &Config, app: &App) -> Environment {
    config.environment_of(app).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::value::{AppName, TaskCount};

    #[test]
    fn every_action_name_round_trips() {
        for &a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
        }
        assert_eq!(Action::from_name("exec"), None);
        assert_eq!(NAMES.len(), Action::ALL.len());
    }

    #[test]
    fn typed_arguments_refuse_bad_values_before_anything_runs() {
        let args = |pairs: &[(&'static str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect::<Args<'_>>()
        };
        assert_eq!(
            Command::build(Action::Scale, &args(&[("app", "hubot"), ("count", "3")])).unwrap(),
            Command::Scale(scale::Scale {
                app: AppName::parse("hubot").unwrap(),
                count: TaskCount(3)
            })
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
        assert!(matches!(
            d,
            Command::Deploy(deploy::Deploy { plan: true, .. })
        ));
    }
}
