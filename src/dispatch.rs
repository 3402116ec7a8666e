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

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::{Author, Inbound, MessageId, Origin, Reply, neutralise};
use crate::command::value::AppName;
use crate::command::{Addresser, Catalog, Command, MAX_COMMAND_LEN, Match, help};
use crate::config::{App, Config, Environment};
use crate::metrics::metrics;
use crate::ops::{self, Event, Ops, OpsError, Outcome, Requester, Target, clock};
use crate::policy::{Decision, Policy, Request};
use crate::render;

/// A reply on its way to the conversation it answers.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub origin: Origin,
    pub reply: Reply,
}

/// Where spawned work sends its replies; each adapter owns the receiving end.
pub type Outbox = mpsc::UnboundedSender<Outbound>;

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
    ops: O,
    holds: Mutex<HashMap<AppName, Hold>>,
    /// Confirmations waiting for their code, by code.
    pending: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    tasks: TaskTracker,
    shutdown: CancellationToken,
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

/// A user-facing refusal or an internal error, decided in one place.
fn error_reply(e: &OpsError) -> String {
    if e.is_user_facing() {
        e.to_string()
    } else {
        let reference = format!(
            "{:04x}",
            (ops::now() as u64 ^ u64::from(std::process::id())) & 0xffff
        );
        tracing::error!(error = %e, reference, "operation failed");
        format!("Internal error (ref {reference}); the details are in dockhand's log.")
    }
}

/// What a chat adapter needs from dispatch, without knowing which `Ops` is behind
/// it: adapters hold an `Arc<dyn Handle>` and stay free of the AWS types.
pub trait Handle: Send + Sync + 'static {
    /// Runs one message through the pipeline (see [`Dispatcher::handle`]).
    fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled;
    /// Whether text is addressed to the bot at all: lets an adapter skip work
    /// (a display-name lookup) for chatter.
    fn addressed(&self, text: &str, via: crate::chat::Via) -> bool;
    /// Whether a confirmation code still waits: after a button click, the adapter
    /// updates the prompt only if the click settled it.
    fn is_pending(&self, code: &str) -> bool;
    /// Every spawned operation, to drain at shutdown.
    fn tasks(&self) -> &TaskTracker;
    /// Resumes the operations a previous instance left on this platform's channels.
    fn recover(&self, platform: crate::chat::Platform, outbox: &Outbox);
}

impl<O: Ops> Handle for Dispatcher<O> {
    fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        Dispatcher::handle(self, inbound, outbox)
    }

    fn addressed(&self, text: &str, via: crate::chat::Via) -> bool {
        self.inner.addresser.strip(text, via).is_some()
    }

    fn is_pending(&self, code: &str) -> bool {
        let pending = self.inner.pending.lock().expect("pending lock");
        pending
            .get(code)
            .is_some_and(|p| tokio::time::Instant::now() < p.expires)
    }

    fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    fn recover(&self, platform: crate::chat::Platform, outbox: &Outbox) {
        Dispatcher::recover(self, platform, outbox)
    }
}

impl<O: Ops> Dispatcher<O> {
    pub fn new(config: Config, catalog: Catalog, ops: O) -> Dispatcher<O> {
        let addresser = Addresser::new(&config.prefix, &config.bot_name);
        let policy = Policy::new(&config);
        Dispatcher {
            inner: Arc::new(Inner {
                catalog,
                addresser,
                config,
                policy,
                ops,
                holds: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                tasks: TaskTracker::new(),
                shutdown: CancellationToken::new(),
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

    /// After a restart: watches again every operation recorded for this platform's
    /// channels and reports its outcome there, as the operation would have. An
    /// adapter calls it once it is connected and can post.
    pub fn recover(&self, platform: crate::chat::Platform, outbox: &Outbox) {
        let (d, outbox) = (self.clone(), outbox.clone());
        self.inner.tasks.spawn(async move {
            let apps: Vec<(App, Environment)> = d
                .inner
                .config
                .apps
                .values()
                .map(|a| (a.clone(), d.environment(a)))
                .collect();
            for w in d.inner.ops.watched(&apps).await {
                let Some((p, channel)) = w.channel.split_once(':') else {
                    continue;
                };
                let Some(app) = d.inner.config.apps.get(&w.app).cloned() else {
                    continue;
                };
                if p != platform.name() {
                    continue;
                }
                let origin = Origin {
                    platform,
                    channel: channel.into(),
                    thread: w.thread.clone().map(Into::into),
                    direct: false,
                };
                let target = Target {
                    environment: d.environment(&app),
                    app,
                    requester: Requester {
                        identity: w.by.clone(),
                        name: w.by_name.clone(),
                    },
                };
                let head = format!(
                    "Watching `{}` again after a restart of dockhand, asked by {}.",
                    w.what, w.by_name
                );
                let what = w.what.split_once(' ').map_or(w.what.as_str(), |(_, rest)| rest).to_string();
                tracing::info!(target: "dockhand::audit", app = %w.app, asked = w.what, channel = w.channel, "resumed");
                let watched = w.clone();
                d.operation(
                    &outbox,
                    &origin,
                    target,
                    Start::Resumed(w.what.clone()),
                    head,
                    what,
                    move |d: Dispatcher<O>, t: Target, p| async move {
                        d.inner.ops.resume(&t, &watched, p).await
                    },
                );
            }
        });
    }

    /// Runs one message through the pipeline.
    pub fn handle(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        let Some(text) = self.inner.addresser.strip(inbound.text, inbound.via) else {
            return Handled::Ignored;
        };
        let prefix = self.inner.addresser.prefix();
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

        let app = match command.app() {
            Some(name) => match self.inner.config.apps.get(name) {
                Some(app) => Some(app),
                None => return Handled::Reply(Reply::text(self.unknown_app(name))),
            },
            None => None,
        };
        let environment = app.map(|a| self.inner.config.environment_of(a));
        let request = Request {
            origin: inbound.origin,
            author: inbound.author,
            command: &command,
            app,
            environment,
        };
        let decision = self.inner.policy.decide(&request);
        let asked = asked(&command);
        let verb = command.action().name();
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
                match (&command, app) {
                    (Command::Deploy { plan: false, .. }, Some(app)) => {
                        self.deploy_if_familiar(command, app.clone(), inbound, outbox, asked, rule)
                    }
                    _ => self.run(command, app.cloned(), inbound, outbox),
                }
            }
            Decision::Deny(why) => {
                self.audit(inbound, &asked, "denied", None, outbox);
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

    /// One audit event: who, where, what, the decision and the rule behind it.
    /// Always logged as a structured event (JSON with `DOCKHAND_LOG_FORMAT=json`);
    /// also posted to the audit channel when one is configured on this platform.
    fn audit(
        &self,
        inbound: &Inbound<'_>,
        asked: &str,
        decision: &str,
        rule: Option<&str>,
        outbox: &Outbox,
    ) {
        let who = inbound.author.identity(inbound.origin.platform);
        let channel = format!("{}:{}", inbound.origin.platform, inbound.origin.channel);
        tracing::info!(
            target: "dockhand::audit",
            who,
            channel,
            direct = inbound.origin.direct,
            asked,
            decision,
            rule = rule.unwrap_or("-"),
            "decision"
        );
        self.post_audit(
            outbox,
            inbound.origin.platform,
            format!(
                "{who} in {channel}: `{asked}` {decision}{}",
                rule.map(|r| format!(" (rule {r})")).unwrap_or_default()
            ),
        );
    }

    fn post_audit(&self, outbox: &Outbox, platform: crate::chat::Platform, text: String) {
        let Some((p, channel)) = self
            .inner
            .config
            .access
            .audit_channel
            .as_deref()
            .and_then(|c| c.split_once(':'))
        else {
            return;
        };
        if p == platform.name() {
            let _ = outbox.send(Outbound {
                origin: Origin {
                    platform,
                    channel: channel.into(),
                    thread: None,
                    direct: false,
                },
                // Built from ids and validated values only: nothing typed verbatim.
                reply: Reply::text(text),
            });
        }
    }

    /// Stores the command under a fresh code and asks for it; a deploy's prompt
    /// shows its plan.
    #[allow(clippy::too_many_arguments)]
    fn ask_confirmation(
        &self,
        command: Command,
        app: Option<App>,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
        asked: String,
        rule: Option<String>,
        why: String,
        other_person: bool,
    ) -> Handled {
        let ttl = self.inner.config.access.confirm_ttl;
        let code = self.new_code();
        let expires_at = ops::now() + ttl.as_secs() as i64;
        let prefix = self.inner.addresser.prefix();
        let who = if other_person {
            format!(
                "Someone other than {}",
                neutralise(&inbound.author.name, 40)
            )
        } else {
            "You".to_string()
        };
        let prompt = format!(
            "`{asked}` needs a confirmation: {why}. {who} can `{prefix}confirm {code}` until {} (UTC), or `{prefix}abort {code}`.",
            clock(expires_at)
        );
        {
            let mut pending = self.inner.pending.lock().expect("pending lock");
            let now = tokio::time::Instant::now();
            pending.retain(|_, p| p.expires > now);
            pending.insert(
                code.clone(),
                Pending {
                    command: command.clone(),
                    app: app.clone(),
                    origin: inbound.origin.clone(),
                    author: inbound.author.clone(),
                    asked,
                    rule,
                    other_person,
                    expires: now + ttl,
                    expires_at,
                },
            );
        }
        let buttons = move |r: Reply| {
            r.button(
                "Confirm",
                format!("confirm {code}"),
                crate::chat::ButtonStyle::Primary,
            )
            .button(
                "Abort",
                format!("abort {code}"),
                crate::chat::ButtonStyle::Danger,
            )
        };
        match (command, app) {
            (Command::Deploy { version, .. }, Some(app)) => {
                let target = self.target(app, inbound);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let plan = match d.inner.ops.plan(&target, &version).await {
                        Ok(p) => render::plan(target.app.name.as_str(), version.as_str(), &p).text,
                        Err(e) => format!("(No plan: {})", error_reply(&e)),
                    };
                    Ok(buttons(Reply::text(format!("{prompt}\n{plan}"))))
                })
            }
            _ => Handled::Reply(buttons(Reply::text(prompt))),
        }
    }

    fn busy_text(&self, name: &AppName, h: &Hold) -> String {
        format!(
            "{name} is busy: {} started `{}` at {}. Wait for it to finish, or `{}cancel {name}`.",
            h.who,
            h.what,
            clock(h.since),
            self.inner.addresser.prefix()
        )
    }

    /// Deploys at once when the version looks like the ones the app has run
    /// (`v42` after `v41`); an unfamiliar kind of version (`latest`, a digest where
    /// tags were used, a typo like `v2.O`) asks for a confirmation first. Reads
    /// the app's history from AWS, so it runs as a task.
    fn deploy_if_familiar(
        &self,
        command: Command,
        app: App,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
        asked: String,
        rule: Option<String>,
    ) -> Handled {
        let Command::Deploy { version, .. } = &command else {
            unreachable!("only deploys are checked")
        };
        // Refuse a busy app at once; the hold itself is taken when the deploy starts.
        if let Some(h) = self.inner.holds.lock().expect("holds lock").get(&app.name) {
            return Handled::Reply(Reply::text(self.busy_text(&app.name, h)));
        }
        let version = version.to_string();
        let (d, outbox2) = (self.clone(), outbox.clone());
        let (origin, author, via, text) = (
            inbound.origin.clone(),
            inbound.author.clone(),
            inbound.via,
            inbound.text.to_string(),
        );
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            let env = d.environment(&app);
            let history = tokio::select! {
                h = d.inner.ops.history(&app, &env) => h,
                () = shutdown.cancelled() => return,
            };
            let inbound = Inbound {
                origin: &origin,
                author: &author,
                via,
                text: &text,
            };
            let unfamiliar = match &history {
                // Nothing to compare with (a new app): no reason to stop.
                Ok(h) if h.is_empty() => None,
                Ok(h) => {
                    let shapes: Vec<String> = h.iter().map(|e| version_shape(&e.version)).collect();
                    (!shapes.contains(&version_shape(&version))).then(|| {
                        let seen: Vec<&str> =
                            h.iter().take(3).map(|e| e.version.as_str()).collect();
                        format!(
                            "`{version}` does not look like the versions {} ran before ({})",
                            app.name,
                            seen.join(", ")
                        )
                    })
                }
                // The deploy itself will report what is wrong with AWS.
                Err(_) => None,
            };
            let handled = match unfamiliar {
                Some(why) => d.ask_confirmation(
                    command,
                    Some(app),
                    &inbound,
                    &outbox2,
                    asked,
                    rule,
                    why,
                    false,
                ),
                None => d.run(command, Some(app), &inbound, &outbox2),
            };
            if let Handled::Reply(reply) = handled {
                let _ = outbox2.send(Outbound {
                    origin: origin.clone(),
                    reply,
                });
            }
        });
        Handled::Started
    }

    /// A short code that is easy to read and type on a phone (no 0/O, 1/I).
    fn new_code(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let pending = self.inner.pending.lock().expect("pending lock");
        let mut seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default()
            ^ self
                .inner
                .next_id
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        loop {
            let mut code = String::with_capacity(4);
            for _ in 0..4 {
                // xorshift: codes need to be distinct, not secret (only the
                // requester, in the same channel, can use one).
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                code.push(ALPHABET[(seed % ALPHABET.len() as u64) as usize] as char);
            }
            if !pending.contains_key(&code) {
                return code;
            }
        }
    }

    fn confirm(&self, code: &str, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        let reply = |t: String| Handled::Reply(Reply::text(t));
        let found = {
            let mut pending = self.inner.pending.lock().expect("pending lock");
            let Some(p) = pending.get(code).cloned() else {
                return reply(format!(
                    "No confirmation is waiting with code `{code}`; it was used, aborted, or never given."
                ));
            };
            if tokio::time::Instant::now() >= p.expires {
                pending.remove(code);
                return reply(format!(
                    "Code `{code}` expired at {} (UTC); ask again.",
                    clock(p.expires_at)
                ));
            }
            if p.origin.platform != inbound.origin.platform
                || p.origin.channel != inbound.origin.channel
            {
                return reply(format!(
                    "Code `{code}` was given in another channel; confirm it there."
                ));
            }
            let same = p.author.id == inbound.author.id;
            if p.other_person && same {
                return reply(format!(
                    "`{}` needs a second person: someone other than you must confirm `{code}`.",
                    p.asked
                ));
            }
            if !p.other_person && !same {
                return reply(format!(
                    "Only {} can confirm `{code}`.",
                    neutralise(&p.author.name, 40)
                ));
            }
            if p.other_person {
                // The approver must be allowed to do it too.
                let request = Request {
                    origin: inbound.origin,
                    author: inbound.author,
                    command: &p.command,
                    app: p.app.as_ref(),
                    environment: p.app.as_ref().map(|a| self.inner.config.environment_of(a)),
                };
                if let Decision::Deny(why) = self.inner.policy.decide(&request) {
                    return reply(why);
                }
            }
            pending.remove(code);
            p
        };
        let approver = inbound.author.identity(inbound.origin.platform);
        self.audit(
            inbound,
            &found.asked,
            "confirmed",
            found.rule.as_deref(),
            outbox,
        );
        tracing::info!(target: "dockhand::audit", code, approver, asked = found.asked, "confirmation");
        // The operation runs as the person who asked for it.
        let original = Inbound {
            origin: &found.origin,
            author: &found.author,
            via: inbound.via,
            text: inbound.text,
        };
        self.run(found.command, found.app, &original, outbox)
    }

    fn abort(&self, code: &str, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        let mut pending = self.inner.pending.lock().expect("pending lock");
        let text = match pending.get(code) {
            None => format!("No confirmation is waiting with code `{code}`; nothing to abort."),
            Some(p)
                if p.origin.channel != inbound.origin.channel
                    || p.origin.platform != inbound.origin.platform =>
            {
                format!("Code `{code}` was given in another channel; abort it there.")
            }
            Some(p) if p.author.id != inbound.author.id && !p.other_person => {
                format!(
                    "Only {} can abort `{code}`.",
                    neutralise(&p.author.name, 40)
                )
            }
            Some(_) => {
                let p = pending.remove(code).expect("present");
                drop(pending);
                self.audit(inbound, &p.asked, "aborted", p.rule.as_deref(), outbox);
                return Handled::Reply(Reply::text(format!(
                    "Aborted `{}`; nothing changed.",
                    p.asked
                )));
            }
        };
        Handled::Reply(Reply::text(text))
    }

    fn unknown_app(&self, name: &AppName) -> String {
        let names: Vec<&str> = self.inner.config.apps.keys().map(AppName::as_str).collect();
        let shown = neutralise(name.as_str(), 40);
        match closest(name.as_str(), &names) {
            Some(c) => format!("Unknown app `{shown}`. Did you mean `{c}`? `!status` lists apps."),
            None if names.is_empty() => format!(
                "Unknown app `{shown}`: no apps are configured yet (see `[apps]` in dockhand.toml)."
            ),
            None => format!("Unknown app `{shown}`. Known apps: {}.", names.join(", ")),
        }
    }

    fn run(
        &self,
        command: Command,
        app: Option<App>,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
    ) -> Handled {
        let prefix = self.inner.addresser.prefix();
        let reply = |text: String| Handled::Reply(Reply::text(text));
        match command {
            Command::Help { topic: None } => reply(help::list(&self.inner.catalog, prefix)),
            Command::Help { topic: Some(topic) } => {
                match self.inner.catalog.find(topic.trim_start_matches(prefix)) {
                    Some(entry) => reply(help::command(entry, prefix)),
                    None => {
                        let hint = self
                            .inner
                            .catalog
                            .closest(&topic)
                            .map(|s| format!(" Did you mean `{s}`?"))
                            .unwrap_or_default();
                        reply(format!(
                            "No command `{}`.{hint} `{prefix}help` lists commands.",
                            neutralise(&topic, 30)
                        ))
                    }
                }
            }
            Command::Ping => reply("pong".into()),
            Command::Version => reply(format!("dockhand {}", env!("CARGO_PKG_VERSION"))),
            Command::Whoami => reply(self.whoami(inbound.origin, inbound.author)),
            Command::Confirm { code } => self.confirm(code.as_str(), inbound, outbox),
            Command::Abort { code } => self.abort(code.as_str(), inbound, outbox),
            Command::Deploy {
                app: _,
                version,
                plan: true,
            } => {
                let target = self.target(app.expect("resolved"), inbound);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let p = d.inner.ops.plan(&target, &version).await?;
                    Ok(render::plan(target.app.name.as_str(), version.as_str(), &p))
                })
            }
            Command::Deploy {
                app: _,
                version,
                plan: false,
            } => {
                let target = self.target(app.expect("resolved"), inbound);
                let what = format!("{} {version}", target.app.name);
                let head = format!(
                    "Deploying {what}{{now}} to {}, asked by {}.",
                    target.app.environment, target.requester.name
                );
                self.operation(
                    outbox,
                    inbound.origin,
                    target,
                    Start::Asked(format!("deploy {what}")),
                    head,
                    what,
                    move |d: Dispatcher<O>, t: Target, p| async move {
                        d.inner.ops.deploy(&t, &version, p).await
                    },
                )
            }
            Command::Rollback { .. } => {
                let target = self.target(app.expect("resolved"), inbound);
                let what = format!("{} rollback", target.app.name);
                let head = format!(
                    "Rolling back {}{{now}} in {}, asked by {}.",
                    target.app.name, target.app.environment, target.requester.name
                );
                let asked = Start::Asked(format!("rollback {}", target.app.name));
                self.operation(
                    outbox,
                    inbound.origin,
                    target,
                    asked,
                    head,
                    what,
                    move |d: Dispatcher<O>, t: Target, p| async move {
                        d.inner.ops.rollback(&t, p).await
                    },
                )
            }
            Command::Scale { count, .. } => {
                let app = app.expect("resolved");
                if count.0 < app.min || count.0 > app.max {
                    return reply(format!(
                        "{} scales from {} to {} tasks; {} is outside that.",
                        app.name, app.min, app.max, count
                    ));
                }
                let target = self.target(app, inbound);
                let what = format!("{} scale to {count}", target.app.name);
                let head = format!(
                    "Scaling {} to {count}{{now}} in {}, asked by {}.",
                    target.app.name, target.app.environment, target.requester.name
                );
                let asked = Start::Asked(format!("scale {} {count}", target.app.name));
                self.operation(
                    outbox,
                    inbound.origin,
                    target,
                    asked,
                    head,
                    what,
                    move |d: Dispatcher<O>, t: Target, p| async move {
                        d.inner.ops.scale(&t, count, p).await
                    },
                )
            }
            Command::Cancel { .. } => {
                let target = self.target(app.expect("resolved"), inbound);
                let name = target.app.name.clone();
                let head = format!(
                    "Cancelling the rollout of {name}, asked by {}.",
                    target.requester.name
                );
                let what = format!("{name} cancel");
                let asked = Start::Asked(format!("cancel {name}"));
                self.start_operation(outbox, inbound.origin, target, asked, head, what, move |d: Dispatcher<O>, t: Target, p| async move {
                    d.inner.ops.cancel(&t, p).await
                })
            }
            Command::Lock { reason, .. } => {
                let target = self.target(app.expect("resolved"), inbound);
                let reason = neutralise(&reason, 200);
                let prefix = prefix.to_string();
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let lock = d.inner.ops.lock(&target, &reason).await?;
                    let name = &target.app.name;
                    Ok(Reply::text(format!(
                        "{name} is locked: {}. Deploys, rollbacks and scaling are refused until `{prefix}unlock {name}`.",
                        lock.reason
                    )))
                })
            }
            Command::Unlock { .. } => {
                let app = app.expect("resolved");
                let request = Request {
                    origin: inbound.origin,
                    author: inbound.author,
                    command: &command,
                    app: Some(&app),
                    environment: Some(self.inner.config.environment_of(&app)),
                };
                let may_break = self.inner.policy.may_break_locks(&request);
                let target = self.target(app, inbound);
                let (who, channel) = (
                    inbound.author.identity(inbound.origin.platform),
                    format!("{}:{}", inbound.origin.platform, inbound.origin.channel),
                );
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let name = &target.app.name;
                    Ok(Reply::text(match d.inner.ops.unlock(&target, may_break).await? {
                        None => format!("{name} was not locked."),
                        Some(lock) => {
                            if lock.by != who {
                                tracing::info!(target: "dockhand::audit", who, channel, app = %name, locked_by = lock.by, "broke a lock");
                            }
                            format!("{name} is unlocked (locked by {} for: {}).", lock.by_name, lock.reason)
                        }
                    }))
                })
            }
            Command::Status { app: Some(_) } => {
                let app = app.expect("resolved");
                let env = self.environment(&app);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    Ok(render::status(&d.inner.ops.status(&[(app, env)]).await))
                })
            }
            Command::Status { app: None } => {
                let apps: Vec<(App, Environment)> = self
                    .inner
                    .config
                    .apps
                    .values()
                    .map(|a| (a.clone(), self.environment(a)))
                    .collect();
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    Ok(render::status(&d.inner.ops.status(&apps).await))
                })
            }
            Command::Stacks => {
                let envs = self.environments();
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    Ok(render::stacks(&d.inner.ops.stacks(&envs).await?))
                })
            }
            Command::Stack { name } => {
                // A stack-managed app's stack lives in its environment; any other
                // name is looked up in the default one.
                let env = self
                    .inner
                    .config
                    .apps
                    .values()
                    .find(|a| matches!(&a.target, crate::config::Target::Stack { stack, .. } if *stack == name))
                    .map(|a| self.environment(a))
                    .unwrap_or_else(|| self.environments().remove(0));
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    Ok(render::stack(&d.inner.ops.stack(&env, &name).await?))
                })
            }
            Command::Events { n, .. } => {
                let app = app.expect("resolved");
                let env = self.environment(&app);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let events = d
                        .inner
                        .ops
                        .events(&app, &env, n.unwrap_or(10) as usize)
                        .await?;
                    Ok(if events.is_empty() {
                        Reply::text(format!("No events for {}.", app.name))
                    } else {
                        Reply::text(render::event_lines(&events))
                    })
                })
            }
            Command::History { .. } => {
                let app = app.expect("resolved");
                let env = self.environment(&app);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    Ok(render::history(
                        app.name.as_str(),
                        &d.inner.ops.history(&app, &env).await?,
                    ))
                })
            }
        }
    }

    fn whoami(&self, origin: &Origin, author: &Author) -> String {
        let where_ = if origin.direct {
            "a direct message".to_string()
        } else {
            format!("channel {}", origin.channel)
        };
        let identity = author.identity(origin.platform);
        let policy = &self.inner.policy;
        let roles = policy.roles_of(&identity);
        let roles = if roles.is_empty() {
            "no roles".to_string()
        } else {
            format!("roles: {}", roles.join(", "))
        };
        let apps: Vec<&App> = self.inner.config.apps.values().collect();
        let may = policy.allowed_here(origin, author, &apps);
        let may = if may.is_empty() {
            "Here you may change nothing; read-only commands are open where the app's channel allows them.".to_string()
        } else {
            format!("Here you may {}.", may.join("; "))
        };
        format!(
            "You are {} ({identity}; {roles}), in {where_} ({}:{}). {may}",
            neutralise(&author.name, 40),
            origin.platform,
            origin.channel,
        )
    }

    fn environment(&self, app: &App) -> Environment {
        self.inner.config.environment_of(app).clone()
    }

    /// The environments to look at for account-wide commands (`stacks`): every
    /// configured one, or the default region when none is.
    fn environments(&self) -> Vec<Environment> {
        let mut envs: Vec<Environment> = self.inner.config.environments.values().cloned().collect();
        if envs.is_empty() {
            envs.push(Environment {
                name: "default".into(),
                region: None,
                role_arn: None,
                protected: false,
                two_person: false,
            });
        }
        envs
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

    /// Spawns a describe-style job whose single reply goes to the outbox.
    fn spawn_reply<F, Fut>(&self, outbox: &Outbox, origin: &Origin, job: F) -> Handled
    where
        F: FnOnce(Dispatcher<O>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Reply, OpsError>> + Send + 'static,
    {
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            let reply = tokio::select! {
                r = job(d) => r.unwrap_or_else(|e| Reply::text(error_reply(&e))),
                () = shutdown.cancelled() => return,
            };
            let _ = outbox.send(Outbound { origin, reply });
        });
        Handled::Started
    }

    /// A mutating operation: takes the app's hold, then runs like `start_operation`.
    #[allow(clippy::too_many_arguments)]
    fn operation<F, Fut>(
        &self,
        outbox: &Outbox,
        origin: &Origin,
        target: Target,
        start: Start,
        head: String,
        what: String,
        job: F,
    ) -> Handled
    where
        F: FnOnce(Dispatcher<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        let name = target.app.name.clone();
        {
            let mut holds = self.inner.holds.lock().expect("holds lock");
            if let Some(h) = holds.get(&name) {
                return Handled::Reply(Reply::text(self.busy_text(&name, h)));
            }
            holds.insert(
                name.clone(),
                Hold {
                    who: target.requester.name.clone(),
                    what: start.asked().to_string(),
                    since: ops::now(),
                },
            );
        }
        let release = HoldRelease {
            dispatcher: self.clone(),
            app: name,
        };
        self.start_operation(
            outbox,
            origin,
            target,
            start,
            head,
            what,
            move |d: Dispatcher<O>, t: Target, p| async move {
                let _release = release;
                job(d, t, p).await
            },
        )
    }

    /// Posts the head message, runs the job, turns its progress into edits and
    /// thread posts, and ends with the verdict in the head message.
    #[allow(clippy::too_many_arguments)]
    fn start_operation<F, Fut>(
        &self,
        outbox: &Outbox,
        origin: &Origin,
        target: Target,
        start: Start,
        head: String,
        what: String,
        job: F,
    ) -> Handled
    where
        F: FnOnce(Dispatcher<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let id = self.next_id();
        let shutdown = self.inner.shutdown.clone();
        let (audit, audit_outbox) = (self.clone(), outbox.clone());
        let who = target.requester.identity.clone();
        let channel = format!("{}:{}", origin.platform, origin.channel);
        let (recorder, recorded_target) = (self.clone(), target.clone());
        // Where the replies go is recorded on the AWS side while the operation runs,
        // so a dockhand restarted mid-watch can resume it (see `recover`).
        let (asked, record) = match start {
            Start::Asked(asked) => {
                let record = ops::Watched {
                    app: target.app.name.clone(),
                    what: asked.clone(),
                    by: target.requester.identity.clone(),
                    by_name: target.requester.name.clone(),
                    channel: channel.clone(),
                    thread: origin.thread.as_deref().map(str::to_string),
                    at: ops::now(),
                };
                (asked, Some(record))
            }
            Start::Resumed(asked) => (asked, None),
        };
        let platform = origin.platform;
        let send = move |reply: Reply| {
            let _ = outbox.send(Outbound {
                origin: origin.clone(),
                reply,
            });
        };
        let in_flight = metrics().start_operation();
        self.inner.tasks.spawn(async move {
            let _in_flight = in_flight;
            let app = target.app.name.to_string();
            let started = Instant::now();
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut head_text = head.replace("{now}", "");
            send(Reply::text(head_text.clone()).with_id(id));
            if let Some(record) = &record {
                if let Err(e) = recorder.inner.ops.record_watch(&recorded_target, record).await {
                    tracing::warn!(app, error = %e, "could not record the operation for a restart; it will not be resumed");
                }
            }
            let work = job(d, target, tx);
            tokio::pin!(work);
            let result = loop {
                tokio::select! {
                    r = &mut work => break Some(r),
                    Some(event) = rx.recv() => {
                        match &event {
                            Event::Started { current: Some(c) } => {
                                head_text = head.replace("{now}", &format!(" (now {c})"));
                                send(Reply::edit(id, head_text.clone()));
                            }
                            // Counts change often: they edit the head message only,
                            // so the thread keeps AWS's own events.
                            Event::Rollout { .. } => {
                                let line = render::thread_line(&event).unwrap_or_default();
                                send(Reply::edit(id, format!("{head_text}\n{line}")));
                            }
                            _ => if let Some(line) = render::thread_line(&event) { send(Reply::in_thread(id, line)) },
                        }
                    }
                    () = shutdown.cancelled() => break None,
                }
            };
            // Events sent just before the verdict still belong in the thread.
            while let Ok(event) = rx.try_recv() {
                if let Some(line) = render::thread_line(&event) {
                    send(Reply::in_thread(id, line));
                }
            }
            let (text, result) = match result {
                Some(Ok(outcome)) => (
                    render::verdict(&app, &what, &outcome.verdict, outcome.elapsed),
                    verdict_name(&outcome.verdict),
                ),
                Some(Err(e)) => (format!("{what}: {}", error_reply(&e)), "refused by AWS"),
                None => (format!("{what}: dockhand is restarting and stopped watching after {}; AWS carries on. Check `!status {app}`.", ops::took(started.elapsed())), "unwatched"),
            };
            if result != "unwatched" {
                if let Err(e) = recorder.inner.ops.clear_watch(&recorded_target).await {
                    tracing::warn!(app, error = %e, "could not clear the operation's record; a restart would report it again");
                }
            }
            let elapsed_ms = started.elapsed().as_millis() as u64;
            metrics().operation(asked.split_whitespace().next().unwrap_or("-"), result, started.elapsed());
            tracing::info!(target: "dockhand::audit", who, channel, app, asked = what, result, elapsed_ms, "outcome");
            audit.post_audit(&audit_outbox, platform, format!("{who} in {channel}: `{what}` {result} after {}", ops::took(started.elapsed())));
            send(Reply::edit(id, text));
        });
        Handled::Started
    }
}

/// How an operation began: asked in chat now, or resumed after a restart (its
/// record on the AWS side exists already).
enum Start {
    Asked(String),
    Resumed(String),
}

impl Start {
    fn asked(&self) -> &str {
        match self {
            Start::Asked(a) | Start::Resumed(a) => a,
        }
    }
}

/// Releases an app's hold when the operation ends, however it ends.
struct HoldRelease<O> {
    dispatcher: Dispatcher<O>,
    app: AppName,
}

impl<O> Drop for HoldRelease<O> {
    fn drop(&mut self) {
        if let Ok(mut holds) = self.dispatcher.inner.holds.lock() {
            holds.remove(&self.app);
        }
    }
}

/// The kind of a version: digit runs become `9`, letter runs `a`, so `v41` and
/// `v42` share a shape (`a9`) that `latest` (`a`) and `v2.O` (`a9.a`) do not.
fn version_shape(version: &str) -> String {
    let mut shape = String::new();
    for c in version.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_ascii_alphabetic() {
            'a'
        } else {
            c
        };
        if !(shape.ends_with(class) && (class == '9' || class == 'a')) {
            shape.push(class);
        }
    }
    // A digest is a digest and a commit id a commit id, whatever their hex spells.
    if version.starts_with("sha256:") {
        return "sha256:digest".into();
    }
    if version.len() >= 7 && version.chars().all(|c| c.is_ascii_hexdigit()) {
        return format!("hex{}", version.len());
    }
    shape
}

/// An outcome in one word or two, for the audit trail.
fn verdict_name(v: &ops::Verdict) -> &'static str {
    match v {
        ops::Verdict::Live { .. } => "live",
        ops::Verdict::Unchanged { .. } => "unchanged",
        ops::Verdict::Failed { .. } => "failed",
        ops::Verdict::TimedOut { .. } => "timed out",
        ops::Verdict::Cancelled { .. } => "cancelled",
    }
}

/// The command as a person would type it, for prompts, holds and audit.
fn asked(command: &Command) -> String {
    match command {
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
        other => other.action().name().to_string(),
    }
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
    crate::command::catalog::edit_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::version_shape;

    #[test]
    fn versions_of_the_same_kind_share_a_shape() {
        let same = [
            ("v41", "v42"),
            ("1.2.3", "10.0.12"),
            ("3f2a9c1", "a0b1c2d"),
            ("2024-11-23", "2025-01-02"),
        ];
        for (a, b) in same {
            assert_eq!(version_shape(a), version_shape(b), "{a} vs {b}");
        }
        let different = [
            ("v41", "latest"),
            ("v41", "v2.O"),
            ("1.2.3", "1.2"),
            ("v41", "sha256:0123"),
        ];
        for (a, b) in different {
            assert_ne!(version_shape(a), version_shape(b), "{a} vs {b}");
        }
    }
}
