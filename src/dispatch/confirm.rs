//! Confirmations: protected environments, risky arguments and unfamiliar versions
//! wait for `confirm <code>` (or a button) from the right person, in the same
//! channel, before the code expires; `abort <code>` drops them.

use super::*;

impl<O: Ops> Dispatcher<O> {
    /// Stores the command under a fresh code and asks for it; a deploy's prompt
    /// shows its plan.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn ask_confirmation(
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
        let expires_at = ops::now() + ttl.as_secs() as i64;
        let cmd = self.cmd(inbound.origin);
        let who = if other_person {
            format!(
                "Someone other than {}",
                inbound.author.named(inbound.origin.platform)
            )
        } else {
            "You".to_string()
        };
        let text = self
            .inner
            .addresser
            .strip(inbound.text, inbound.via)
            .unwrap_or(inbound.text)
            .to_string();
        // The code is drawn and stored under one lock: two prompts at once never
        // get the same code, so one never replaces the other's command.
        let rule_shared = rule.clone();
        let code = {
            let mut pending = self.inner.pending.lock().expect("pending lock");
            let now = tokio::time::Instant::now();
            pending.retain(|_, p| p.expires > now);
            let code = new_code(&pending);
            pending.insert(
                code.clone(),
                Pending {
                    command: command.clone(),
                    app: app.clone(),
                    origin: inbound.origin.clone(),
                    author: inbound.author.clone(),
                    asked: asked.clone(),
                    rule,
                    other_person,
                    expires: now + ttl,
                    expires_at,
                    plan: None,
                },
            );
            code
        };
        // Shared, the code works on every replica (whichever the answer reaches).
        if self.inner.ops.shares_state() {
            let waiting = ops::Waiting {
                code: code.clone(),
                text,
                platform: inbound.origin.platform,
                channel: inbound.origin.channel.to_string(),
                thread: inbound.origin.thread.as_deref().map(str::to_string),
                direct: inbound.origin.direct,
                author_id: inbound.author.id.to_string(),
                author_name: inbound.author.name.to_string(),
                external: inbound.author.external,
                asked: asked.clone(),
                rule: rule_shared,
                other_person,
                expires_at,
                plan: None,
            };
            let d = self.clone();
            self.inner.tasks.spawn(async move {
                if let Err(e) = d.inner.ops.offer(&waiting).await {
                    tracing::warn!(code = waiting.code, error = %e, "could not share the confirmation; only this replica can settle it");
                }
            });
        }
        let prompt = format!(
            "`{asked}` needs a confirmation: {why}. {who} can {} until {} (UTC), or {}.",
            cmd.show(&format!("confirm {code}")),
            clock(expires_at),
            cmd.show(&format!("abort {code}"))
        );
        let waiting_code = code.clone();
        let buttons = move |r: Reply| {
            r.button(
                "Confirm",
                format!("confirm {code}"),
                crate::message::ButtonStyle::Primary,
            )
            .button(
                "Abort",
                format!("abort {code}"),
                crate::message::ButtonStyle::Danger,
            )
        };
        match (Preview::of(command.facts(&self.inner.config).change), app) {
            (Some(preview), Some(app)) => {
                let target = self.target(app, inbound);
                self.spawn_reply(outbox, inbound.origin, move |d: Dispatcher<O>| async move {
                    let plan = match preview.plan(&*d.inner.ops, &target).await {
                        Ok(p) => {
                            let text = preview.draw(target.app.name.as_str(), &p);
                            if d.inner.ops.shares_state()
                                && let Err(e) = d.inner.ops.planned(&waiting_code, &p).await
                            {
                                tracing::warn!(error = %e, "could not share the confirmation's plan");
                            }
                            if let Some(waiting) = d
                                .inner
                                .pending
                                .lock()
                                .expect("pending lock")
                                .get_mut(&waiting_code)
                            {
                                waiting.plan = Some(p);
                            }
                            text
                        }
                        Err(e) => format!("(No plan: {})", error_reply(&e, &cmd)),
                    };
                    Ok(buttons(Reply::text(format!("{prompt}\n{plan}"))))
                })
            }
            (None, _) | (Some(_), None) => Handled::Reply(buttons(Reply::text(prompt))),
        }
    }

    /// Deploys at once when the version looks like the ones the app has run
    /// (`v42` after `v41`); an unfamiliar kind of version (`latest`, a digest where
    /// tags were used, a typo like `v2.O`) asks for a confirmation first. Reads
    /// the app's history from AWS, so it runs as a task.
    pub(super) fn deploy_if_familiar(
        &self,
        command: Command,
        app: App,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
        asked: String,
        rule: Option<String>,
    ) -> Handled {
        let Change::Deploy(version) = command.facts(&self.inner.config).change else {
            unreachable!("only deploys are checked")
        };
        // Refuse a busy app at once; the hold itself is taken when the deploy starts.
        if let Some(h) = self.inner.holds.lock().expect("holds lock").get(&app.name) {
            return Handled::Reply(Reply::text(self.busy_text(&app.name, h, inbound.origin)));
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

    /// `confirm <code>` typed as a command.
    pub(super) fn confirm(&self, code: &str, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        match self.settle(code, true, inbound, outbox) {
            Settle::Ran(handled) => handled,
            Settle::Refused(text) | Settle::Gone(text) => Handled::Reply(Reply::text(text)),
        }
    }

    /// `abort <code>` typed as a command.
    pub(super) fn abort(&self, code: &str, inbound: &Inbound<'_>, outbox: &Outbox) -> Handled {
        match self.settle(code, false, inbound, outbox) {
            Settle::Ran(handled) => handled,
            Settle::Refused(text) | Settle::Gone(text) => Handled::Reply(Reply::text(text)),
        }
    }

    /// A Confirm/Abort button. Its command was written by `ask_confirmation`, so it
    /// is parsed here directly, never through the prefix (a prefix such as `c`
    /// would eat the first letter of `confirm`).
    pub fn click(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Click {
        let (verb, code) = inbound.text.trim().split_once(' ').unwrap_or_default();
        let confirm = match verb {
            "confirm" => true,
            "abort" => false,
            "continue" | "rollback" => return self.act(inbound, outbox),
            "logs" => return self.stop_clicked(inbound, outbox),
            _ => return Click::Refused("That button is not one of dockhand's.".into()),
        };
        let name = inbound.author.named(inbound.origin.platform);
        match self.settle(code.trim(), confirm, inbound, outbox) {
            Settle::Refused(text) => Click::Refused(text),
            // Expired or settled already: said to the clicker alone, and the
            // prompt as it stands is not rewritten.
            Settle::Gone(text) => Click::Refused(text),
            Settle::Ran(_) if !confirm => {
                Click::Settled(format!("Aborted by {name}; nothing changed."))
            }
            Settle::Ran(Handled::Reply(r)) => {
                Click::Settled(format!("Confirmed by {name}: {}", r.text))
            }
            Settle::Ran(_) => Click::Settled(format!("Confirmed by {name}.")),
        }
    }

    /// An action button on a notification or a thread ([Continue], [Roll back]):
    /// its command runs as if the clicker had typed it, so the same rules, limits
    /// and confirmations apply. What it started, or the prompt it asks, is said
    /// to everyone; a refusal only to the clicker, and the buttons stay.
    fn act(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Click {
        let name = inbound.author.named(inbound.origin.platform);
        let asked = inbound.text.trim();
        match self.handle(inbound, outbox) {
            // An operation, or an answer that reads AWS first (a confirmation
            // prompt with its plan among them): it comes as a message.
            Handled::Started => Click::Settled(format!(
                "`{asked}` asked by {name}; dockhand answers below."
            )),
            // A confirmation prompt (it has buttons of its own): posted beside.
            Handled::Reply(prompt) if !prompt.buttons.is_empty() => {
                let _ = outbox.send(Outbound {
                    origin: inbound.origin.clone(),
                    reply: prompt,
                });
                Click::Settled(format!(
                    "`{asked}` asked by {name}; it waits for a confirmation below."
                ))
            }
            Handled::Reply(refused) => Click::Refused(refused.text),
            Handled::Ignored => Click::Refused("That button is not one of dockhand's.".into()),
        }
    }

    /// A tail's [Stop] (`logs stop <app>`): run as typed, so the same rules
    /// apply. The tail's own message then says who stopped it; a refusal, or a
    /// tail that had ended already, is said to the clicker alone.
    fn stop_clicked(&self, inbound: &Inbound<'_>, outbox: &Outbox) -> Click {
        let app = inbound
            .text
            .split_whitespace()
            .nth(2)
            .and_then(|a| AppName::parse(a).ok());
        let running = |d: &Self| {
            app.as_ref()
                .is_some_and(|a| d.tail_running(inbound.origin, a))
        };
        let before = running(self);
        match self.handle(inbound, outbox) {
            Handled::Reply(_) if before && !running(self) => Click::Settled(format!(
                "Stopped by {}.",
                inbound.author.named(inbound.origin.platform)
            )),
            Handled::Reply(r) => Click::Refused(r.text),
            _ => Click::Refused("That button is not one of dockhand's.".into()),
        }
    }

    /// Confirms (runs) or aborts (drops) the command waiting under `code`, if this
    /// person, here, may. With shared state the code may have been given by
    /// another replica, and only one replica may settle it: that is decided in
    /// the table, as a task (`settle_shared`).
    fn settle(&self, code: &str, confirm: bool, inbound: &Inbound<'_>, outbox: &Outbox) -> Settle {
        if self.inner.ops.shares_state() {
            return Settle::Ran(self.settle_shared(code, confirm, inbound, outbox));
        }
        let found = {
            let mut pending = self.inner.pending.lock().expect("pending lock");
            let Some(p) = pending.get(code).cloned() else {
                return Settle::Gone(unknown_code(code, confirm));
            };
            if let Err(refused) = self.may_settle(&p, code, confirm, inbound) {
                if tokio::time::Instant::now() >= p.expires {
                    pending.remove(code);
                }
                return refused.into();
            }
            pending.remove(code);
            p
        };
        self.settled(found, code, confirm, inbound, outbox)
    }

    /// `settle` where replicas share state: the confirmation is read from the
    /// table (this replica's own copy, when it gave the code, holds the command
    /// as parsed), checked as here, and taken from the table by one conditional
    /// delete, so that of two replicas asked at once only one runs it.
    fn settle_shared(
        &self,
        code: &str,
        confirm: bool,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
    ) -> Handled {
        let (d, outbox) = (self.clone(), outbox.clone());
        let (origin, author, via, text) = (
            inbound.origin.clone(),
            inbound.author.clone(),
            inbound.via,
            inbound.text.to_string(),
        );
        let code = code.to_string();
        let cmd = self.cmd(&origin);
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            let inbound = Inbound {
                origin: &origin,
                author: &author,
                via,
                text: &text,
            };
            let local = d
                .inner
                .pending
                .lock()
                .expect("pending lock")
                .get(&code)
                .cloned();
            let shared = tokio::select! {
                w = d.inner.ops.waiting(&code) => w,
                () = shutdown.cancelled() => return,
            };
            let found = match (local, shared) {
                (_, Err(e)) => Err(error_reply(&e, &cmd)),
                (Some(p), Ok(Some(_))) => Ok(p),
                (None, Ok(Some(w))) => d.rebuild(w).ok_or_else(|| unknown_code(&code, confirm)),
                // Taken by another replica, aborted, or expired.
                (_, Ok(None)) => {
                    d.inner.pending.lock().expect("pending lock").remove(&code);
                    Err(unknown_code(&code, confirm))
                }
            };
            let reply = match found.map(|p| (d.may_settle(&p, &code, confirm, &inbound), p)) {
                Err(text) => Some(Reply::text(text)),
                Ok((Err(Refusal::Refused(t) | Refusal::Gone(t)), _)) => Some(Reply::text(t)),
                Ok((Ok(()), p)) => match d.inner.ops.take(&code).await {
                    Ok(true) => {
                        d.inner.pending.lock().expect("pending lock").remove(&code);
                        match d.settled(p, &code, confirm, &inbound, &outbox) {
                            Settle::Ran(Handled::Reply(r)) => Some(r),
                            Settle::Refused(t) | Settle::Gone(t) => Some(Reply::text(t)),
                            Settle::Ran(_) => None,
                        }
                    }
                    Ok(false) => Some(Reply::text(unknown_code(&code, confirm))),
                    Err(e) => Some(Reply::text(error_reply(&e, &cmd))),
                },
            };
            if let Some(reply) = reply {
                let _ = outbox.send(Outbound {
                    origin: origin.clone(),
                    reply,
                });
            }
        });
        Handled::Started
    }

    /// A confirmation another replica gave, as this one would have kept it: its
    /// command parsed again from the text the person typed.
    fn rebuild(&self, w: ops::Waiting) -> Option<Pending> {
        let command = match self.inner.catalog.matches(&w.text, |s| s.to_string()) {
            Match::Action(_, Ok(command)) => command,
            _ => return None,
        };
        let config = &self.inner.config;
        let app = command
            .facts(config)
            .app
            .and_then(|n| config.apps.get(n))
            .cloned();
        let left = u64::try_from(w.expires_at - ops::now()).unwrap_or(0);
        Some(Pending {
            command,
            app,
            origin: Origin {
                platform: w.platform,
                channel: w.channel.into(),
                thread: w.thread.map(Into::into),
                direct: w.direct,
            },
            author: Author {
                id: w.author_id.into(),
                name: w.author_name.into(),
                external: w.external,
            },
            asked: w.asked,
            rule: w.rule,
            other_person: w.other_person,
            expires: tokio::time::Instant::now() + std::time::Duration::from_secs(left),
            expires_at: w.expires_at,
            plan: w.plan,
        })
    }

    /// Whether this person, here, may settle `p` now: the refusal if not.
    fn may_settle(
        &self,
        p: &Pending,
        code: &str,
        confirm: bool,
        inbound: &Inbound<'_>,
    ) -> Result<(), Refusal> {
        let verb = if confirm { "confirm" } else { "abort" };
        if tokio::time::Instant::now() >= p.expires {
            return Err(Refusal::Gone(format!(
                "Code `{code}` expired at {} (UTC); ask again.",
                clock(p.expires_at)
            )));
        }
        // A code from another channel answers like one never given: no
        // oracle for which codes wait where (F16).
        if p.origin.platform != inbound.origin.platform
            || p.origin.channel != inbound.origin.channel
        {
            return Err(Refusal::Gone(unknown_code(code, confirm)));
        }
        let same = p.author.id == inbound.author.id;
        if confirm && p.other_person && same {
            return Err(Refusal::Refused(format!(
                "`{}` needs a second person: someone other than you must confirm `{code}`.",
                p.asked
            )));
        }
        if !p.other_person && !same {
            return Err(Refusal::Refused(format!(
                "Only {} can {verb} `{code}`.",
                p.author.named(p.origin.platform)
            )));
        }
        if p.other_person && (confirm || !same) {
            // The approver must be allowed to do it too, and so must anyone
            // but the requester who aborts it: stopping a change takes the
            // same rights as making it (F17).
            let request = Request {
                origin: inbound.origin,
                author: inbound.author,
                verb: p.command.action().name(),
                facts: p.command.facts(&self.inner.config),
                app: p.app.as_ref(),
                environment: p.app.as_ref().map(|a| self.inner.config.environment_of(a)),
            };
            if let Decision::Deny(why) = self.inner.policy.decide(&request) {
                return Err(Refusal::Refused(why));
            }
        }
        Ok(())
    }

    /// Runs (or drops) a confirmation this replica has taken.
    fn settled(
        &self,
        found: Pending,
        code: &str,
        confirm: bool,
        inbound: &Inbound<'_>,
        outbox: &Outbox,
    ) -> Settle {
        if !confirm {
            self.audit(
                inbound,
                &found.asked,
                "aborted",
                found.rule.as_deref(),
                outbox,
            );
            return Settle::Ran(Handled::Reply(Reply::text(format!(
                "Aborted `{}`; nothing changed.",
                found.asked
            ))));
        }
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
        match (
            found.plan.clone(),
            Preview::of(found.command.facts(&self.inner.config).change),
            found.app.clone(),
        ) {
            (Some(shown), Some(preview), Some(app)) => {
                Settle::Ran(self.run_if_plan_holds(found, shown, preview, app, outbox))
            }
            (None, _, _) | (Some(_), None, _) | (Some(_), Some(_), None) => {
                Settle::Ran(self.run(found.command, found.app, &original, outbox))
            }
        }
    }

    /// Runs a confirmed deploy or rollback only if AWS still plans what the prompt
    /// showed; otherwise (someone deployed, the stack changed) shows the new plan
    /// and asks again, under a new code (F8).
    fn run_if_plan_holds(
        &self,
        found: Pending,
        shown: ops::Plan,
        preview: Preview,
        app: App,
        outbox: &Outbox,
    ) -> Handled {
        let (d, outbox) = (self.clone(), outbox.clone());
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            let original = Inbound {
                origin: &found.origin,
                author: &found.author,
                via: crate::message::Via::Addressed,
                text: "",
            };
            let target = d.target(app.clone(), &original);
            let now = tokio::select! {
                p = preview.plan(&*d.inner.ops, &target) => p,
                () = shutdown.cancelled() => return,
            };
            let handled = match now {
                // The deploy reports AWS's own errors.
                Err(_) => d.run(found.command, Some(app), &original, &outbox),
                Ok(plan) if plan == shown => d.run(found.command, Some(app), &original, &outbox),
                Ok(plan) => {
                    let why = format!(
                        "the plan changed since it was asked ({}{})",
                        plan.current
                            .as_deref()
                            .map(|c| format!("{} now runs {c}", app.name))
                            .unwrap_or_else(|| format!("{} changed", app.name)),
                        if plan.changes.is_empty() {
                            "; nothing left to change"
                        } else {
                            ""
                        }
                    );
                    d.ask_confirmation(
                        found.command,
                        Some(app),
                        &original,
                        &outbox,
                        found.asked,
                        found.rule,
                        why,
                        found.other_person,
                    )
                }
            };
            if let Handled::Reply(reply) = handled {
                let _ = outbox.send(Outbound {
                    origin: found.origin.clone(),
                    reply,
                });
            }
        });
        Handled::Started
    }
}

/// What an unknown (used, aborted, never given, or another channel's) code is told.
fn unknown_code(code: &str, confirm: bool) -> String {
    if confirm {
        format!(
            "No confirmation is waiting with code `{code}`; it was used, aborted, or never given."
        )
    } else {
        format!("No confirmation is waiting with code `{code}`; nothing to abort.")
    }
}

/// Letters and digits easy to read and type on a phone (no 0/O, 1/I): 32 of them,
/// five bits each.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 6;

/// A fresh confirmation code, from the OS's CSPRNG (ring's SystemRandom), not in
/// `pending`. Six symbols of 32 are 2^30 codes. A code works only for the person
/// and channel it was given to, where it is on screen anyway; elsewhere it answers
/// like an unknown code. Even so, a guesser at one try a second for the longest
/// TTL (60 minutes) has 3,600 tries against 2^30: about 1 in 300,000, and 1 in 9
/// million within the default 2 minutes.
fn new_code<V>(pending: &HashMap<String, V>) -> String {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    loop {
        let mut bytes = [0u8; CODE_LEN];
        rng.fill(&mut bytes)
            .expect("the operating system's random source answers");
        // 32 symbols: the low five bits of a uniform byte are uniform.
        let code: String = bytes
            .iter()
            .map(|b| CODE_ALPHABET[usize::from(b & 31)] as char)
            .collect();
        if !pending.contains_key(&code) {
            return code;
        }
    }
}

/// What a confirmation prompt asks AWS to plan, and asks again at confirm.
#[derive(Debug, Clone)]
pub(super) enum Preview {
    Deploy(crate::command::value::Version),
    Rollback,
}

impl Preview {
    fn of(change: Change<'_>) -> Option<Preview> {
        match change {
            Change::Deploy(v) => Some(Preview::Deploy(v.clone())),
            Change::Rollback => Some(Preview::Rollback),
            Change::Nothing => None,
        }
    }

    async fn plan<O: Ops>(&self, ops: &O, target: &Target) -> Result<ops::Plan, OpsError> {
        match self {
            Preview::Deploy(v) => ops.plan(target, v).await,
            Preview::Rollback => ops.rollback_plan(target).await,
        }
    }

    fn draw(&self, app: &str, plan: &ops::Plan) -> String {
        match self {
            Preview::Deploy(v) => render::plan(app, v.as_str(), plan).text,
            Preview::Rollback => render::rollback_plan(app, plan).text,
        }
    }
}

/// Why a confirmation cannot be settled by this person, here, now.
enum Refusal {
    /// Not this person: the prompt still waits.
    Refused(String),
    /// Expired, or not this channel's: as if no such code waited.
    Gone(String),
}

impl From<Refusal> for Settle {
    fn from(r: Refusal) -> Settle {
        match r {
            Refusal::Refused(t) => Settle::Refused(t),
            Refusal::Gone(t) => Settle::Gone(t),
        }
    }
}

/// What answering a confirmation code did.
enum Settle {
    /// Confirmed and run, or aborted: the prompt is settled.
    Ran(Handled),
    /// Not this person, or not here: the prompt still waits.
    Refused(String),
    /// No such code waits (used, aborted, expired): the prompt is dead.
    Gone(String),
}

/// The kind of a version: digit runs become `9`, letter runs `a`, so `v41` and
/// `v42` share a shape (`a9`) that `latest` (`a`) and `v2.O` (`a9.a`) do not.
pub(super) fn version_shape(version: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{CODE_ALPHABET, CODE_LEN, new_code, version_shape};

    #[test]
    fn codes_are_six_symbols_of_the_phone_alphabet_and_never_collide() {
        let mut pending = HashMap::new();
        for _ in 0..2000 {
            let code = new_code(&pending);
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
            assert!(!pending.contains_key(&code));
            pending.insert(code, ());
        }
    }

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
