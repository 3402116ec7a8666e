//! Operations: the per-app hold, the head message edited as progress comes, AWS's
//! events in its thread, the verdict, and the record on the AWS side that lets a
//! restarted dockhand resume the watch (`Dispatcher::recover`).

use super::*;

impl<O: Ops> Dispatcher<O> {
    /// After a restart: watches again every operation recorded for this platform's
    /// channels and reports its outcome there, as the operation would have. The
    /// supervisor calls it once per running adapter.
    pub fn recover(&self, platform: crate::message::Platform, outbox: &Outbox) {
        let (d, outbox) = (self.clone(), outbox.clone());
        self.inner.tasks.spawn(async move {
            let apps: Vec<&App> = d.inner.config.apps.values().collect();
            d.resume_recorded(&apps, &[platform], &outbox, Start::Resumed)
                .await;
        });
    }

    /// With shared state: resumes the operations whose replica stopped renewing
    /// their claim (it died mid-watch), reporting in their threads. Every
    /// replica calls it now and then; the claim each resume takes lets one win.
    pub fn adopt(&self, platforms: &[crate::message::Platform], outbox: &Outbox) {
        let (d, outbox, platforms) = (self.clone(), outbox.clone(), platforms.to_vec());
        self.inner.tasks.spawn(async move {
            let lapsed = match d.inner.ops.lapsed().await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the shared table's lapsed claims");
                    return;
                }
            };
            let apps: Vec<&App> = d
                .inner
                .config
                .apps
                .values()
                .filter(|a| lapsed.iter().any(|l| l == a.name.as_str()))
                .collect();
            if !apps.is_empty() {
                d.resume_recorded(&apps, &platforms, &outbox, Start::Adopted)
                    .await;
            }
        });
    }

    /// Watches again each operation recorded on `apps` whose replies go to
    /// one of `platforms`.
    async fn resume_recorded(
        &self,
        apps: &[&App],
        platforms: &[crate::message::Platform],
        outbox: &Outbox,
        start: Start,
    ) {
        let d = self;
        {
            let apps: Vec<(App, Environment)> = apps
                .iter()
                .map(|a| ((*a).clone(), d.environment(a)))
                .collect();
            // Finding them is background work; each resumed watch is a watch.
            let recorded = Priority::Background
                .scope(d.inner.ops.operations(&apps))
                .await;
            for op in recorded {
                let Some(app) = d.inner.config.apps.get(&op.app).cloned() else {
                    continue;
                };
                let platform = op.reply_to.platform;
                if !platforms.contains(&platform) {
                    continue;
                }
                let origin = Origin {
                    platform,
                    channel: op.reply_to.channel.as_str().into(),
                    thread: op.reply_to.thread.clone().map(Into::into),
                    direct: false,
                };
                let target = Target {
                    environment: d.environment(&app),
                    app,
                    requester: op.requester.clone(),
                };
                tracing::info!(target: "dockhand::audit", app = %op.app, asked = op.asked(), channel = %format!("{}:{}", platform, op.reply_to.channel), "resumed");
                let kind = op.kind.clone();
                d.operation(
                    outbox,
                    &origin,
                    target,
                    kind,
                    start.again(),
                    move |d: Dispatcher<O>, t: Target, p| async move {
                        d.inner.ops.resume(&t, &op, p).await
                    },
                );
            }
        }
    }

    /// Spawns a describe-style job whose single reply goes to the outbox.
    pub(super) fn spawn_reply<F, Fut>(&self, outbox: &Outbox, origin: &Origin, job: F) -> Handled
    where
        F: FnOnce(Dispatcher<O>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Reply, OpsError>> + Send + 'static,
    {
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let shutdown = self.inner.shutdown.clone();
        let cmd = self.cmd(&origin);
        self.inner.tasks.spawn(async move {
            // A read starts when the shared budget allows (F10): a flood waits
            // here, in order, instead of reaching AWS all at once. Its calls
            // then go first for AWS's budget too, and the reply says how long
            // both kept the person waiting.
            let reply = tokio::select! {
                ((r, queued), waited) = Priority::Person.waited(async {
                    let asked = tokio::time::Instant::now();
                    d.inner.reads.acquire().await;
                    let queued = asked.elapsed();
                    (job(d).await, queued)
                }) => match r {
                    Ok(reply) => told_wait(reply, queued + waited),
                    Err(e) => Reply::text(error_reply(&e, &cmd)),
                },
                () = shutdown.cancelled() => return,
            };
            let _ = outbox.send(Outbound { origin, reply });
        });
        Handled::Started
    }

    /// A mutating operation: takes the app's hold (one operation per app at a
    /// time), then runs like `start_unheld`.
    pub(super) fn operation<F, Fut>(
        &self,
        outbox: &Outbox,
        origin: &Origin,
        target: Target,
        kind: OperationKind,
        start: Start,
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
                return Handled::Reply(Reply::text(self.busy_text(&name, h, origin)));
            }
            holds.insert(
                name.clone(),
                Hold {
                    who: target.requester.name.clone(),
                    what: kind.asked(&name),
                    since: ops::now(),
                },
            );
        }
        let release = HoldRelease {
            dispatcher: self.clone(),
            app: name.clone(),
        };
        // Replicas sharing state claim the app in the shared table too: the
        // map above is this process's, the claim every replica's.
        let claim = ops::Claim {
            holder: format!("{}#{}", self.inner.replica, self.next_id().0),
            who: target.requester.name.clone(),
            what: kind.asked(&name),
            since: ops::now(),
        };
        let resumed = matches!(start, Start::Resumed | Start::Adopted);
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let cmd = self.cmd(&origin);
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            let claimed = tokio::select! {
                r = d.inner.ops.claim(&target, &claim) => r,
                () = shutdown.cancelled() => return,
            };
            if let Err(e) = claimed {
                drop(release);
                // A recorded operation another replica resumed is its to report.
                if resumed {
                    tracing::info!(app = %name, error = %e, "not resumed: another replica holds it");
                } else {
                    let _ = outbox.send(Outbound {
                        origin,
                        reply: Reply::text(error_reply(&e, &cmd)),
                    });
                }
                return;
            }
            d.start_unheld(
                &outbox,
                &origin,
                target,
                kind,
                start,
                move |d: Dispatcher<O>, t: Target, p| async move {
                    let _release = release;
                    // Renews until the job ends; fenced once another replica
                    // holds the app (this claim lapsed and it adopted the
                    // operation): two watchers would report two verdicts.
                    let renewing = async {
                        let mut every = tokio::time::interval(ops::CLAIM_LEASE / 3);
                        every.tick().await;
                        loop {
                            every.tick().await;
                            match d.inner.ops.renew(&t, &claim).await {
                                Ok(()) => {}
                                Err(OpsError::Busy { .. }) => return OpsError::HandedOver,
                                Err(e) => tracing::warn!(app = %t.app.name, error = %e, "could not renew the app's claim in the shared table"),
                            }
                        }
                    };
                    let result = tokio::select! {
                        r = job(d.clone(), t.clone(), p) => r,
                        fenced = renewing => Err(fenced),
                    };
                    if let Err(e) = d.inner.ops.release(&t, &claim).await {
                        tracing::warn!(app = %t.app.name, error = %e, "could not release the app's claim; it lapses by itself");
                    }
                    result
                },
            );
        });
        Handled::Started
    }

    /// Posts the head message, runs the job, turns its progress into edits and
    /// thread posts, and ends with the verdict in the head message. Takes no hold:
    /// only `cancel` starts here directly, because it must run while the
    /// operation it cancels holds the app.
    pub(super) fn start_unheld<F, Fut>(
        &self,
        outbox: &Outbox,
        origin: &Origin,
        target: Target,
        kind: OperationKind,
        start: Start,
        job: F,
    ) -> Handled
    where
        F: FnOnce(Dispatcher<O>, Target, ops::Progress) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Outcome, OpsError>> + Send + 'static,
    {
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let id = self.next_id();
        let shutdown = self.inner.shutdown.clone();
        let cmd = self.cmd(&origin);
        let who = target.requester.identity.clone();
        let channel = origin.identity();
        // Where the replies go is recorded on the AWS side while the operation runs,
        // so a dockhand restarted mid-watch can resume it (see `recover`). A resumed
        // operation's record exists already.
        let record = match &start {
            Start::Asked | Start::Followed(_) => Some(Operation {
                app: target.app.name.clone(),
                kind: kind.clone(),
                requester: target.requester.clone(),
                reply_to: ReplyTo {
                    platform: origin.platform,
                    channel: origin.channel.to_string(),
                    thread: origin.thread.as_deref().map(str::to_string),
                },
                started_at: ops::now(),
            }),
            Start::Resumed | Start::Adopted => None,
        };
        let send = {
            let (outbox, origin) = (outbox.clone(), origin.clone());
            move |reply: Reply| {
                let _ = outbox.send(Outbound {
                    origin: origin.clone(),
                    reply,
                });
            }
        };
        let in_flight = metrics().start_operation();
        // A watch's calls go after people's, before background work.
        self.inner.tasks.spawn(Priority::Watch.scope(async move {
            let _in_flight = in_flight;
            let app = target.app.name.clone();
            let what = kind.what(&app);
            let recorded_target = target.clone();
            let started = Instant::now();
            let (tx, mut rx) = mpsc::unbounded_channel();
            let followed = matches!(start, Start::Followed(_));
            let began = match &start {
                Start::Asked => render::Began::Asked,
                Start::Resumed => render::Began::Resumed,
                Start::Adopted => render::Began::Adopted,
                Start::Followed(_) => render::Began::Followed,
            };
            let head = |current: Option<&str>| render::head(&kind, &target, began, current);
            let mut head_text = head(None);
            let delivered = match start {
                Start::Followed(delivered) => delivered,
                Start::Asked | Start::Resumed | Start::Adopted => Default::default(),
            };
            send(Reply::text(head_text.clone()).with_id(id).telling(delivered));
            if let Some(record) = &record
                && let Err(e) = d.inner.ops.record(&recorded_target, record).await
            {
                tracing::warn!(%app, error = %e, "could not record the operation for a restart; it will not be resumed");
            }
            let work = job(d.clone(), target.clone(), tx);
            tokio::pin!(work);
            let result = loop {
                tokio::select! {
                    r = &mut work => break Some(r),
                    Some(event) = rx.recv() => {
                        match &event {
                            Event::Started { current: Some(c) } => {
                                head_text = head(Some(c));
                                send(Reply::edit(id, head_text.clone()));
                            }
                            // Counts change often: they edit the head message only,
                            // so the thread keeps AWS's own events.
                            Event::Rollout { .. } => {
                                let line = render::thread_line(&event).unwrap_or_default();
                                send(Reply::edit(id, format!("{head_text}\n{line}")));
                            }
                            Event::Paused(_) => {
                                let line = render::thread_line(&event).unwrap_or_default();
                                send(render::decide_buttons(Reply::in_thread(id, line), app.as_str()));
                            }
                            _ => if let Some(post) = render::thread_post(id, &event) { send(post) },
                        }
                    }
                    () = shutdown.cancelled() => break None,
                }
            };
            // Events sent just before the verdict still belong in the thread.
            while let Ok(event) = rx.try_recv() {
                if let Some(post) = render::thread_post(id, &event) {
                    send(post);
                }
            }
            // Handed over, the record is the adopting replica's to clear.
            let finished = result.is_some() && !matches!(result, Some(Err(OpsError::HandedOver)));
            let (text, outcome) = match &result {
                Some(Ok(outcome)) => (
                    render::verdict(app.as_str(), &what, &outcome.verdict, outcome.elapsed, &cmd),
                    verdict_name(&outcome.verdict),
                ),
                Some(Err(e @ OpsError::HandedOver)) => (format!("{what}: {e}."), "handed over"),
                Some(Err(e)) => (format!("{what}: {}", error_reply(e, &cmd)), "refused by AWS"),
                None => (
                    format!(
                        "{what}: dockhand is restarting and stopped watching after {}; AWS carries on. Check {}.",
                        ops::took(started.elapsed()),
                        cmd.show(&format!("status {app}"))
                    ),
                    "unwatched",
                ),
            };
            // Unwatched, the record stays: the next dockhand resumes the watch.
            if finished
                && let Err(e) = d.inner.ops.clear(&recorded_target).await
            {
                tracing::warn!(%app, error = %e, "could not clear the operation's record; a restart would report it again");
            }
            let elapsed_ms = started.elapsed().as_millis() as u64;
            metrics().operation(kind.verb(), outcome, started.elapsed());
            tracing::info!(target: "dockhand::audit", who, channel, app = %app, asked = what, result = outcome, elapsed_ms, "outcome");
            d.post_audit(&outbox, format!("{who} in {channel}: `{what}` {outcome} after {}", ops::took(started.elapsed())));
            let mut last = Reply::edit(id, text);
            // A deploy someone else started, failed and left in place: act from here.
            if followed && let Some(Ok(o)) = &result && render::leaves_failure(&o.verdict) {
                last = last.button("Roll back", format!("rollback {app}"), crate::message::ButtonStyle::Danger);
            }
            send(last);
        }));
        Handled::Started
    }

    pub(super) fn busy_text(&self, name: &AppName, h: &Hold, origin: &Origin) -> String {
        format!(
            "{name} is busy: {} started `{}` at {}. Wait for it to finish, or {}.",
            h.who,
            h.what,
            clock(h.since),
            self.cmd(origin).show(&format!("cancel {name}"))
        )
    }
}

/// Waits shorter than this are not worth a word.
const NOTICEABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A reply that waited for AWS's budget (or chat's read budget) long enough to
/// notice says so: in the text every platform shows, after the heading of
/// verbatim lines rather than among them, and as a field too where a platform
/// draws the fields instead of the text.
fn told_wait(mut reply: Reply, waited: std::time::Duration) -> Reply {
    if waited < NOTICEABLE_WAIT {
        return reply;
    }
    let waited = format!("waited {:.1} s", waited.as_secs_f64());
    let note = format!("(AWS was busy: {waited})");
    reply.text = match reply.text.split_once('\n') {
        Some((heading, rest)) if reply.verbatim => format!("{heading} {note}\n{rest}"),
        Some(_) => format!("{}\n{note}", reply.text),
        None => format!("{} {note}", reply.text),
    };
    if !reply.fields.is_empty() {
        reply = reply.field("AWS was busy", waited);
    }
    reply
}

/// How an operation began: asked in chat now, resumed after a restart (its
/// record on the AWS side exists already), or started outside dockhand and told
/// of by an event (whose queue message waits for the head to go out).
pub(super) enum Start {
    Asked,
    Resumed,
    /// Resumed from a replica that died (its claim lapsed), by another.
    Adopted,
    Followed(crate::message::Delivered),
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

impl Start {
    /// The same start for another operation of a batch (`Followed` carries a
    /// waiter of its own, so it is never one).
    fn again(&self) -> Start {
        match self {
            Start::Adopted => Start::Adopted,
            _ => Start::Resumed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reply_that_waited_says_so_where_each_platform_shows_it() {
        let waited = Duration::from_millis(1400);
        let note = "(AWS was busy: waited 1.4 s)";
        let short = told_wait(Reply::text("ok"), Duration::from_millis(900));
        assert_eq!(short.text, "ok");
        assert_eq!(
            told_wait(Reply::text("hubot: v2"), waited).text,
            format!("hubot: v2 {note}")
        );
        assert_eq!(
            told_wait(Reply::text("a  b\nc  d"), waited).text,
            format!("a  b\nc  d\n{note}")
        );
        let logs = told_wait(Reply::verbatim("Logs of hubot", "one\ntwo"), waited);
        assert_eq!(logs.text, format!("Logs of hubot {note}\none\ntwo"));
        let fields = told_wait(Reply::text("t").field("hubot", "v2"), waited);
        let last = fields.fields.last().unwrap();
        assert_eq!(
            (last.name.as_str(), last.value.as_str()),
            ("AWS was busy", "waited 1.4 s")
        );
    }
}
