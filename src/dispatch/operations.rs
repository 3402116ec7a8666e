//! Operations: the per-app hold, the head message edited as progress comes, AWS's
//! events in its thread, the verdict, and the record on the AWS side that lets a
//! restarted dockhand resume the watch (`Dispatcher::recover`).

use super::*;

impl<O: Ops> Dispatcher<O> {
    /// After a restart: watches again every operation recorded for this platform's
    /// channels and reports its outcome there, as the operation would have. An
    /// adapter calls it once it is connected and can post.
    pub fn recover(&self, platform: crate::message::Platform, outbox: &Outbox) {
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

    /// Spawns a describe-style job whose single reply goes to the outbox.
    pub(super) fn spawn_reply<F, Fut>(&self, outbox: &Outbox, origin: &Origin, job: F) -> Handled
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
    pub(super) fn operation<F, Fut>(
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
    pub(super) fn start_operation<F, Fut>(
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
            if let Some(record) = &record
                && let Err(e) = recorder.inner.ops.record_watch(&recorded_target, record).await {
                    tracing::warn!(app, error = %e, "could not record the operation for a restart; it will not be resumed");
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
            if result != "unwatched"
                && let Err(e) = recorder.inner.ops.clear_watch(&recorded_target).await {
                    tracing::warn!(app, error = %e, "could not clear the operation's record; a restart would report it again");
                }
            let elapsed_ms = started.elapsed().as_millis() as u64;
            metrics().operation(asked.split_whitespace().next().unwrap_or("-"), result, started.elapsed());
            tracing::info!(target: "dockhand::audit", who, channel, app, asked = what, result, elapsed_ms, "outcome");
            audit.post_audit(&audit_outbox, format!("{who} in {channel}: `{what}` {result} after {}", ops::took(started.elapsed())));
            send(Reply::edit(id, text));
        });
        Handled::Started
    }

    pub(super) fn busy_text(&self, name: &AppName, h: &Hold) -> String {
        format!(
            "{name} is busy: {} started `{}` at {}. Wait for it to finish, or `{}cancel {name}`.",
            h.who,
            h.what,
            clock(h.since),
            self.inner.addresser.prefix()
        )
    }
}

/// How an operation began: asked in chat now, or resumed after a restart (its
/// record on the AWS side exists already).
pub(super) enum Start {
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
pub(super) struct HoldRelease<O> {
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

/// An outcome in one word or two, for the audit trail.
pub(super) fn verdict_name(v: &ops::Verdict) -> &'static str {
    match v {
        ops::Verdict::Live { .. } => "live",
        ops::Verdict::Unchanged { .. } => "unchanged",
        ops::Verdict::Failed { .. } => "failed",
        ops::Verdict::TimedOut { .. } => "timed out",
        ops::Verdict::Cancelled { .. } => "cancelled",
    }
}
