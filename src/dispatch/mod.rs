//! Inbound -> replies: the pipeline's spine, and the one place errors become chat text.
//!
//! ```text
//! Inbound --addressing--> text --catalogue--> Command --policy--> Decision --run--> Reply...
//! ```
//!
//! `handle` is synchronous up to the decision: chatter is turned away by the
//! addresser, and help, canned replies and refusals are answered in place. Work that
//! needs AWS is spawned on the dispatcher's task tracker and reports through the
//! adapter's `Outbox`: one message edited as progress changes, plus thread posts.
//! A second mutating command on an app with an operation in flight is refused,
//! saying who started what and when.
//!
//! Here: the types, `handle`, and `Run`, the `verbs::Ctx` a verb runs against
//! (each verb's own file says what it does). `confirm.rs` holds the
//! confirmations, `operations.rs` the long operations and their recovery after a
//! restart, `audit.rs` the audit events.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::{Catalog, Match, help};
use crate::command::value::AppName;
use crate::command::{Addresser, MAX_COMMAND_LEN};
use crate::config::{App, Config, Environment};
use crate::message::{Author, Inbound, MessageId, Origin, Outbound, Outbox, Reply, neutralise};
use crate::metrics::metrics;
use crate::ops::Priority;
use crate::ops::{
    self, Event, Operation, OperationKind, Ops, OpsError, Outcome, ReplyTo, Requester, Target,
    clock,
};
use crate::policy::{Change, Decision, Policy, Request};
use crate::render;
use crate::verbs::{Command, Ctx};

mod audit;
mod confirm;
pub mod limits;
mod notices;
mod operations;
mod tails;

use operations::Start;

/// What `handle` did with a message.
#[derive(Debug)]
pub enum Handled {
    /// Not addressed to the bot: nothing happens, nothing is logged.
    Ignored,
    /// Answered at once.
    Reply(Reply),
    /// Work was spawned; its replies arrive on the outbox.
    Started,
}

/// A command waiting for `confirm <code>`: who asked, where, and until when.
#[derive(Debug, Clone)]
struct Pending {
    command: Command,
    app: Option<App>,
    origin: Origin,
    author: Author,
    asked: String,
    rule: Option<String>,
    other_person: bool,
    /// On tokio's clock, so expiry is testable with a paused clock.
    expires: tokio::time::Instant,
    /// The same moment as shown in chat.
    expires_at: i64,
    /// For a deploy: the plan its prompt showed, once AWS answered. It is asked
    /// again at `confirm`, and a different answer (someone deployed meanwhile)
    /// asks again rather than running what nobody saw.
    plan: Option<ops::Plan>,
}

/// Who holds an app: the one-operation-in-flight guard.
#[derive(Debug, Clone)]
struct Hold {
    who: String,
    what: String,
    since: i64,
}

struct Inner<O> {
    catalog: Catalog,
    addresser: Addresser,
    config: Config,
    policy: Policy,
    ops: Arc<O>,
    holds: Mutex<HashMap<AppName, Hold>>,
    /// Confirmations waiting for their code, by code.
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    /// Commands per person and per channel (F10).
    people: limits::Buckets,
    channels: limits::Buckets,
    /// AWS reads chat may start, shared by every channel.
    reads: limits::Budget,
    /// Denials waiting to be posted to the audit channel as one batch.
    denials: Mutex<Vec<String>>,
    /// What notifications remember: events seen, bursts, mutes.
    notices: notices::State,
    /// Live tails running, by channel and app.
    tails: Mutex<HashMap<tails::TailKey, Arc<tails::Tailing>>>,
    /// This process among replicas: its claims in the shared table name it.
    replica: String,
}

/// The pipeline. Cheap to clone; every clone shares tasks, holds and ids.
pub struct Dispatcher<O> {
    inner: Arc<Inner<O>>,
}

impl<O> Clone for Dispatcher<O> {
    fn clone(&self) -> Self {
        Dispatcher {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A user-facing refusal or an internal error, decided in one place. `cmd` writes
/// the commands a refusal suggests the way they work where it is read.
fn error_reply(e: &OpsError, cmd: &render::Cmd) -> String {
    if !e.is_user_facing() {
        let reference = format!(
            "{:04x}",
            (ops::now() as u64 ^ u64::from(std::process::id())) & 0xffff
        );
        tracing::error!(error = %e, reference, "operation failed");
        return format!("Internal error (ref {reference}); the details are in dockhand's log.");
    }
    match e {
        OpsError::Busy { app, .. } => {
            format!(
                "{e} Wait for it, or {}.",
                cmd.show(&format!("cancel {app}"))
            )
        }
        OpsError::Locked { app, .. } => {
            format!(
                "{e} {} when it is over.",
                cmd.show(&format!("unlock {app}"))
            )
        }
        _ => e.to_string(),
    }
}

/// What a chat adapter needs from dispatch, without knowing which `Ops` is behind
/// it: adapters hold an `Arc<dyn Handle>` and stay free of the AWS types.
pub trait Handle: Send + Sync + 'static {
    /// Runs one message through the pipeline (see [`Dispatcher::handle`]).
    fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled;
    /// Whether text is addressed to the bot at all: lets an adapter skip work
    /// (a display-name lookup) for chatter.
    fn addressed(&self, text: &str, via: crate::message::Via) -> bool;
    /// Every spawned operation, to drain at shutdown.
    fn tasks(&self) -> &TaskTracker;
    /// Resumes the operations a previous instance left on this platform's channels.
    fn recover(&self, platform: crate::message::Platform, outbox: &Outbox);

    /// A Confirm/Abort button click: `inbound.text` is the button's command. The
    /// outcome is decided here, once, for every adapter.
    fn click(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Click;

    /// The apps this person may read about here, for a platform that offers
    /// names while typing (Discord's autocomplete).
    fn apps_seen(&self, origin: &Origin, author: &crate::message::Author) -> Vec<String>;
}

/// What a button click did.
#[derive(Debug, PartialEq, Eq)]
pub enum Click {
    /// The prompt still waits for the right person: why, for the clicker alone.
    Refused(String),
    /// The prompt is settled: the note that replaces its buttons.
    Settled(String),
}

impl<O: Ops> Handle for Dispatcher<O> {
    fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        Dispatcher::handle(self, inbound, outbox)
    }

    fn addressed(&self, text: &str, via: crate::message::Via) -> bool {
        self.inner.addresser.strip(text, via).is_some()
    }

    fn click(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Click {
        Dispatcher::click(self, inbound, outbox)
    }

    fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    fn recover(&self, platform: crate::message::Platform, outbox: &Outbox) {
        Dispatcher::recover(self, platform, outbox)
    }

    fn apps_seen(&self, origin: &Origin, author: &crate::message::Author) -> Vec<String> {
        self.inner
            .policy
            .visible(origin, author, "status")
            .map(|a| a.name.to_string())
            .collect()
    }
}

/// Leases and seen keys for adapters, over the same store dispatch uses.
impl<O: Ops> crate::adapters::lease::Replicas for Dispatcher<O> {
    fn shared(&self) -> bool {
        self.inner.ops.shares_state()
    }

    fn first_seen(&self, key: String) -> futures::future::BoxFuture<'static, bool> {
        let ops = self.ops_handle();
        Box::pin(async move {
            ops.first_seen(&key).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, key, "could not ask the shared state whether another replica took this; taking it");
                true
            })
        })
    }

    fn take(
        &self,
        name: &str,
        holder: &str,
        term: std::time::Duration,
    ) -> futures::future::BoxFuture<'static, crate::ops::OpsResult<crate::ops::Taken>> {
        let (ops, name, holder) = (self.ops_handle(), name.to_string(), holder.to_string());
        Box::pin(async move { ops.take_lease(&name, &holder, term).await })
    }

    fn keep(
        &self,
        lease: &crate::ops::Lease,
        term: std::time::Duration,
    ) -> futures::future::BoxFuture<'static, crate::ops::OpsResult<bool>> {
        let (ops, lease) = (self.ops_handle(), lease.clone());
        Box::pin(async move { ops.keep_lease(&lease, term).await })
    }

    fn give(
        &self,
        lease: &crate::ops::Lease,
    ) -> futures::future::BoxFuture<'static, crate::ops::OpsResult<()>> {
        let (ops, lease) = (self.ops_handle(), lease.clone());
        Box::pin(async move { ops.give_lease(&lease).await })
    }
}

impl<O: Ops> Dispatcher<O> {
    pub fn new(config: Config, catalog: Catalog, ops: O) -> Dispatcher<O> {
        let addresser = Addresser::new(&config.prefix, &config.bot_name);
        let policy = Policy::new(&config);
        let notices = notices::State::new(&config);
        let l = config.limits;
        let rate = |burst: u32, per_minute: u32| limits::Rate {
            burst: f64::from(burst),
            per_second: f64::from(per_minute) / 60.0,
        };
        Dispatcher {
            inner: Arc::new(Inner {
                catalog,
                addresser,
                config,
                policy,
                ops: Arc::new(ops),
                holds: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                people: limits::Buckets::new(rate(l.person_burst, l.person_per_minute)),
                channels: limits::Buckets::new(rate(l.channel_burst, l.channel_per_minute)),
                reads: limits::Budget::new(limits::Rate {
                    burst: f64::from(l.aws_reads_per_second),
                    per_second: f64::from(l.aws_reads_per_second),
                }),
                denials: Mutex::default(),
                notices,
                tails: Mutex::default(),
                replica: replica_id(),
            }),
        }
    }

    /// Adds a platform mention token (`<@U0BOT>`) an adapter learnt at connect.
    /// Only before the dispatcher is shared.
    pub fn add_mention(&mut self, token: &str) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.addresser.add_mention(token);
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn ops(&self) -> &O {
        &self.inner.ops
    }

    /// The AWS side, owned, for a task (and for the notifications queue, which
    /// builds its client from it).
    pub fn ops_handle(&self) -> Arc<O> {
        Arc::clone(&self.inner.ops)
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Every spawned operation; close and wait on it to drain at exit.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Cancelled when the bot shuts down: operations stop watching and say so.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Runs one message through the pipeline.
    pub fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        let Some(text) = self.inner.addresser.strip(inbound.text, inbound.via) else {
            return Handled::Ignored;
        };
        if let Some(refused) = self.over_limits(inbound) {
            return refused;
        }
        let cmd = self.cmd(inbound.origin);
        let prefix = cmd.lead();
        if text.len() > MAX_COMMAND_LEN {
            return Handled::Reply(Reply::text(format!(
                "That is too long for a command ({} characters; the limit is {MAX_COMMAND_LEN}).",
                text.len()
            )));
        }
        if text.is_empty() {
            return Handled::Reply(Reply::text(help::list(&self.inner.catalog, prefix)));
        }
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Handled::Reply(Reply::text(
                "That command contains control characters; type it again as plain text.",
            ));
        }
        let command = match self.inner.catalog.matches(text, |s| neutralise(s, 100)) {
            Match::Reply(entry, text) => {
                metrics().command(&entry.name, "answered");
                return Handled::Reply(Reply::text(text));
            }
            Match::Unknown { word, suggestion } => {
                metrics().command("unknown", "unknown_command");
                let word = neutralise(&word, 30);
                let hint = suggestion
                    .map(|s| format!(" Did you mean `{s}`?"))
                    .unwrap_or_default();
                return Handled::Reply(Reply::text(format!(
                    "Unknown command `{word}`.{hint} `{prefix}help` lists commands."
                )));
            }
            Match::Usage(entry) => {
                metrics().command(&entry.name, "bad_arguments");
                return Handled::Reply(Reply::text(format!(
                    "Usage: `{}` (`{prefix}help {}` for examples).",
                    entry.usage_line(prefix),
                    entry.name
                )));
            }
            Match::Action(entry, Err(e)) => {
                metrics().command(&entry.name, "bad_arguments");
                return Handled::Reply(Reply::text(format!(
                    "{e}. Usage: `{}`",
                    entry.usage_line(prefix)
                )));
            }
            Match::Action(_, Ok(command)) => command,
        };
        tracing::debug!(action = command.action().name(), channel = %inbound.origin.channel, "command");

        let config = &self.inner.config;
        let facts = command.facts(config);
        let app = match facts.app {
            Some(name) => match config.apps.get(name) {
                Some(app) => Some(app),
                None => {
                    let verb = command.action().name();
                    return Handled::Reply(Reply::text(self.unknown_app(name, inbound, verb)));
                }
            },
            None => None,
        };
        let verb = command.action().name();
        let checks_version = matches!(facts.change, Change::Deploy(_));
        let request = Request {
            origin: inbound.origin,
            author: inbound.author,
            verb,
            facts,
            app,
            environment: app.map(|a| config.environment_of(a)),
        };
        let decision = self.inner.policy.decide(&request);
        let asked = command.asked();
        metrics().command(
            verb,
            match &decision {
                Decision::Allow { .. } => "allowed",
                Decision::Deny(_) => "denied",
                Decision::Confirm { .. } => "confirmation_asked",
            },
        );
        match decision {
            Decision::Allow { rule } => {
                if command.action().mutates() {
                    self.audit(inbound, &asked, "allowed", rule.as_deref(), outbox);
                }
                match (checks_version, app) {
                    (true, Some(app)) => {
                        self.deploy_if_familiar(command, app.clone(), inbound, outbox, asked, rule)
                    }
                    (false, _) | (true, None) => self.run(command, app.cloned(), inbound, outbox),
                }
            }
            Decision::Deny(why) => {
                self.audit_denial(inbound, &asked, outbox);
                Handled::Reply(Reply::text(why))
            }
            Decision::Confirm {
                rule,
                why,
                other_person,
            } => {
                self.audit(
                    inbound,
                    &asked,
                    "confirmation asked",
                    rule.as_deref(),
                    outbox,
                );
                self.ask_confirmation(
                    command,
                    app.cloned(),
                    inbound,
                    outbox,
                    asked,
                    rule,
                    why,
                    other_person,
                )
            }
        }
    }

    /// A person, then their channel, may send so many commands: over either
    /// limit, one "slow down" per window, then silence (F10). The shell is one
    /// person at their own terminal, piping what they choose: not limited.
    fn over_limits(&self, inbound: &Inbound<'_>) -> Option<Handled> {
        use limits::Admit;
        let origin = inbound.origin;
        if origin.platform == crate::message::Platform::Shell {
            return None;
        }
        let person = inbound.author.identity(origin.platform);
        let (admit, whose) = match self.inner.people.take(&person) {
            Admit::Go => (
                self.inner.channels.take(&origin.identity()),
                "this channel is",
            ),
            other => (other, "you are"),
        };
        match admit {
            Admit::Go => None,
            Admit::Quiet => {
                metrics().command("limited", "quiet");
                Some(Handled::Ignored)
            }
            Admit::SlowDown(secs) => {
                metrics().command("limited", "slow_down");
                tracing::info!(target: "dockhand::audit", who = person, channel = %origin.channel, "rate limited");
                Some(Handled::Reply(Reply::text(format!(
                    "Slow down: {whose} sending commands faster than dockhand takes them; try again in {secs} s."
                ))))
            }
        }
    }

    /// How commands are written in replies to `origin`: with the prefix, or as
    /// the slash command where prefix commands are off.
    pub(super) fn cmd(&self, origin: &Origin) -> render::Cmd {
        let prefix = self.inner.addresser.prefix();
        let prefix_works = match origin.platform {
            crate::message::Platform::Discord => self.inner.config.discord.prefix_commands,
            crate::message::Platform::Slack | crate::message::Platform::Shell => true,
        };
        if prefix_works && !prefix.is_empty() {
            render::Cmd::prefixed(prefix)
        } else {
            render::Cmd::slash(crate::command::SLASH_COMMAND)
        }
    }

    /// Suggestions come only from the apps this person may read about here, so
    /// an unknown name does not list what the channel may not see.
    fn unknown_app(&self, name: &AppName, inbound: &Inbound<'_>, verb: &str) -> String {
        let origin = inbound.origin;
        let config = &self.inner.config;
        let names: Vec<&str> = self
            .inner
            .policy
            .visible(origin, inbound.author, verb)
            .map(|a| a.name.as_str())
            .collect();
        let shown = neutralise(name.as_str(), 40);
        match closest(name.as_str(), &names) {
            Some(c) => format!(
                "Unknown app `{shown}`. Did you mean `{c}`? {} lists apps.",
                self.cmd(origin).show("status")
            ),
            None if config.apps.is_empty() => format!(
                "Unknown app `{shown}`: no apps are configured yet (see `[apps]` in dockhand.toml)."
            ),
            None if names.is_empty() => format!("Unknown app `{shown}`."),
            None => format!("Unknown app `{shown}`. Known apps: {}.", names.join(", ")),
        }
    }

    /// Runs an allowed (and, if it had to be, confirmed) command: the verb's own
    /// `run`, against this message's `Ctx`.
    fn run(
        &self,
        command: Command,
        app: Option<App>,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
    ) -> Handled {
        command.run(&Run {
            d: self,
            app,
            inbound,
            outbox,
        })
    }

    fn environment(&self, app: &App) -> Environment {
        self.inner.config.environment_of(app).clone()
    }

    fn target(&self, app: App, inbound: &Inbound<'_>) -> Target {
        let environment = self.environment(&app);
        Target {
            app,
            environment,
            requester: Requester {
                identity: inbound.author.identity(inbound.origin.platform),
                name: format!("@{}", neutralise(&inbound.author.name, 40)),
            },
        }
    }

    fn next_id(&self) -> MessageId {
        MessageId(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }
}

/// This dispatcher among replicas: its process, its start to the nanosecond,
/// and a count (two dispatchers in one process, as tests run them, differ).
fn replica_id() -> String {
    static MADE: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos:x}-{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed)
    )
}

/// The closest of `names` to `word` if it is close enough to be a typo.
fn closest<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    names
        .iter()
        .map(|n| (strsim(word, n), *n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

fn strsim(a: &str, b: &str) -> usize {
    crate::catalog::edit_distance(a, b)
}

/// One allowed command's view of the pipeline: what its verb runs against.
struct Run<'a, O> {
    d: &'a Dispatcher<O>,
    app: Option<App>,
    inbound: &'a Inbound<'a>,
    outbox: &'a Outbox,
}

impl<O: Ops> Run<'_, O> {
    /// A long operation asked here, holding the app (`held`) or not.
    fn operate<F, Fut>(&self, kind: OperationKind, held: bool, job: F) -> Handled
    where
        F: FnOnce(Arc<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        let job = move |d: Dispatcher<O>, t, p| job(d.ops_handle(), t, p);
        let (outbox, origin, target) = (self.outbox, self.inbound.origin, self.target());
        if held {
            self.d
                .operation(outbox, origin, target, kind, Start::Asked, job)
        } else {
            self.d
                .start_unheld(outbox, origin, target, kind, Start::Asked, job)
        }
    }
}

impl<O: Ops> Ctx for Run<'_, O> {
    type Ops = O;
    type Done = Handled;

    fn watched(&self) -> bool {
        self.app.as_ref().is_some_and(|a| {
            self.d
                .inner
                .holds
                .lock()
                .expect("holds lock")
                .contains_key(&a.name)
        })
    }

    fn config(&self) -> &Config {
        &self.d.inner.config
    }

    fn policy(&self) -> &Policy {
        &self.d.inner.policy
    }

    fn origin(&self) -> &Origin {
        self.inbound.origin
    }

    fn author(&self) -> &Author {
        self.inbound.author
    }

    fn cmd(&self) -> render::Cmd {
        self.d.cmd(self.inbound.origin)
    }

    fn help(&self, topic: Option<&str>) -> String {
        let catalog = &self.d.inner.catalog;
        let cmd = self.cmd();
        let prefix = cmd.lead();
        let Some(topic) = topic else {
            return help::list(catalog, prefix);
        };
        let typed = self.d.inner.addresser.prefix();
        match catalog.find(topic.trim_start_matches(typed)) {
            Some(entry) => help::command(entry, prefix),
            None => {
                let hint = catalog
                    .closest(topic)
                    .map(|s| format!(" Did you mean `{s}`?"))
                    .unwrap_or_default();
                format!(
                    "No command `{}`.{hint} `{prefix}help` lists commands.",
                    neutralise(topic, 30)
                )
            }
        }
    }

    fn app(&self) -> &App {
        self.app
            .as_ref()
            .expect("dispatch resolves the app a verb's facts name before it runs")
    }

    fn target(&self) -> Target {
        self.d.target(self.app().clone(), self.inbound)
    }

    fn reply(&self, reply: Reply) -> Handled {
        Handled::Reply(reply)
    }

    fn spawn_reply<F, Fut>(&self, job: F) -> Handled
    where
        F: FnOnce(Arc<O>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Reply, OpsError>> + Send + 'static,
    {
        self.d
            .spawn_reply(self.outbox, self.inbound.origin, move |d| {
                job(d.ops_handle())
            })
    }

    fn operation<F, Fut>(&self, kind: OperationKind, job: F) -> Handled
    where
        F: FnOnce(Arc<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        self.operate(kind, true, job)
    }

    fn operation_unheld<F, Fut>(&self, kind: OperationKind, job: F) -> Handled
    where
        F: FnOnce(Arc<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        self.operate(kind, false, job)
    }

    fn settle(&self, code: &str, confirm: bool) -> Handled {
        if confirm {
            self.d.confirm(code, self.inbound, self.outbox)
        } else {
            self.d.abort(code, self.inbound, self.outbox)
        }
    }

    fn mute(&self, app: &AppName, mute: Option<ops::Mute>) -> Option<ops::Mute> {
        let notices = &self.d.inner.notices;
        match mute {
            Some(m) => {
                let before = notices.mute_of(app, ops::now());
                notices.mute(app, m);
                before
            }
            None => notices.unmute(app),
        }
    }

    fn mutes(&self) -> Vec<(AppName, ops::Mute)> {
        self.d.inner.notices.mutes(ops::now())
    }

    fn follow(&self, query: ops::TailQuery, limit: std::time::Duration) -> Handled {
        self.d.follow(
            self.outbox,
            self.inbound.origin,
            self.target(),
            query,
            limit,
        )
    }

    fn unfollow(&self) -> Handled {
        let by = self.target().requester.name;
        Handled::Reply(self.d.unfollow(self.inbound.origin, &self.app().name, &by))
    }
}
