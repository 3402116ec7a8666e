//! Notifications: what dispatch makes of an event from AWS (see `notify`).
//!
//! An event names something; dispatch finds the configured app it is about,
//! where that app's news goes (`[notifications]`), whether the channel takes
//! it now (what it is sent, quiet hours, its hourly limit, a mute), and then:
//!
//! - a deployment started outside dockhand becomes an operation like one asked
//!   in chat: one message edited to ECS's verdict, AWS's events in its thread,
//!   recorded so a restarted dockhand resumes it. A deployment dockhand runs
//!   itself (the app is held here, or recorded by another dockhand) is not
//!   announced again.
//! - stopped tasks of an app within the window are one message, edited as it grows;
//! - a stack's end state, an alarm's change and ECS's service actions are one line.
//!
//! Every decision is in memory, per process: a restart forgets which events it
//! saw, so an event redelivered across a restart may be said again (the
//! deployment's own record on the service still keeps its thread single).

use std::collections::{BTreeMap, HashMap};

use futures::future::BoxFuture;

use super::*;
use crate::config::{Class, Route};
use crate::notify::{AwsEvent, Kind, Notice, Noticed, Phase, StoppedTask};
use crate::ops::{Epoch, Mute, OpsResult, Requester};

type Seen = crate::message::Recent<String>;

/// Stopped tasks of one app within the window: one message.
#[derive(Debug, Clone)]
struct Burst {
    id: MessageId,
    first: Epoch,
    last: Epoch,
    count: u32,
    /// Exit codes (or stop codes when none) and how often.
    causes: BTreeMap<String, u32>,
    reason: String,
}

#[derive(Debug)]
pub(super) struct State {
    events: Mutex<Seen>,
    deployments: Mutex<Seen>,
    /// The last thing said per key (an alarm's state, a service action's time).
    said: Mutex<HashMap<String, (String, Epoch)>>,
    bursts: Mutex<HashMap<AppName, Burst>>,
    mutes: Mutex<BTreeMap<AppName, Mute>>,
    channels: limits::Buckets,
    /// Notifications a channel's limit held back since its last one.
    held: Mutex<HashMap<String, u32>>,
}

impl State {
    pub(super) fn new(config: &Config) -> State {
        let per_hour = f64::from(config.notifications.per_hour);
        State {
            events: Mutex::default(),
            deployments: Mutex::default(),
            said: Mutex::default(),
            bursts: Mutex::default(),
            mutes: Mutex::default(),
            // A quarter of the hour's allowance at once, then the rest spread out.
            channels: limits::Buckets::new(limits::Rate {
                burst: (per_hour / 4.0).max(1.0),
                per_second: per_hour / 3600.0,
            }),
            held: Mutex::default(),
        }
    }

    /// The mute on `app` now, if any (expired ones are forgotten).
    pub(super) fn mute_of(&self, app: &AppName, now: Epoch) -> Option<Mute> {
        let mut mutes = self.mutes.lock().expect("mutes lock");
        match mutes.get(app) {
            Some(m) if m.until > now => Some(m.clone()),
            Some(_) => {
                mutes.remove(app);
                None
            }
            None => None,
        }
    }

    pub(super) fn mute(&self, app: &AppName, mute: Mute) {
        self.mutes
            .lock()
            .expect("mutes lock")
            .insert(app.clone(), mute);
    }

    pub(super) fn unmute(&self, app: &AppName) -> Option<Mute> {
        self.mutes.lock().expect("mutes lock").remove(app)
    }

    pub(super) fn mutes(&self, now: Epoch) -> Vec<(AppName, Mute)> {
        let mut mutes = self.mutes.lock().expect("mutes lock");
        mutes.retain(|_, m| m.until > now);
        mutes.iter().map(|(a, m)| (a.clone(), m.clone())).collect()
    }
}

fn cause_of(t: &StoppedTask) -> String {
    match t.exit_code {
        Some(c) => format!(
            "exit code {c}{}",
            render::exit_meaning(c, t.container_reason.as_deref())
        ),
        None => t.stop_code.clone().unwrap_or_else(|| "stopped".into()),
    }
}

impl Burst {
    fn text(&self, app: &AppName, cmd: &render::Cmd) -> String {
        let causes: Vec<String> = self
            .causes
            .iter()
            .map(|(c, n)| {
                if self.count > 1 && *n > 1 {
                    format!("{c} ×{n}")
                } else {
                    c.clone()
                }
            })
            .collect();
        let head = if self.count == 1 {
            format!(
                "{app}: a task stopped at {}, {}",
                clock(self.last),
                causes.join(", ")
            )
        } else {
            format!(
                "{app}: {} tasks stopped in {}, {}; last at {}",
                self.count,
                ops::took(std::time::Duration::from_secs(
                    (self.last - self.first).max(0) as u64
                )),
                causes.join(", "),
                clock(self.last)
            )
        };
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", self.reason)
        };
        format!(
            "{head}{reason}. See {}.",
            cmd.show(&format!("events {app}"))
        )
    }
}

/// The short name of an IAM principal, with the ARN: `pipeline (arn:…:role/pipeline)`.
fn principal(arn: &str) -> String {
    let name = arn.rsplit(['/', ':']).next().unwrap_or(arn);
    if name == arn {
        arn.to_string()
    } else {
        format!("{name} ({arn})")
    }
}

/// ECS's name for a service action, in words.
fn action_words(name: &str) -> Option<(&'static str, Class)> {
    Some(match name {
        "SERVICE_STEADY_STATE"
        | "TASKSET_STEADY_STATE"
        | "CAPACITY_PROVIDER_STEADY_STATE"
        | "SERVICE_DESIRED_COUNT_UPDATED" => return None,
        "SERVICE_TASK_PLACEMENT_FAILURE" => ("ECS cannot place its tasks", Class::Failure),
        "SERVICE_TASK_START_IMPAIRED" => ("its tasks keep failing to start", Class::Failure),
        "SERVICE_TASK_CONFIGURATION_FAILURE" => {
            ("ECS cannot start its tasks as configured", Class::Failure)
        }
        "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED" => (
            "a daemon task breaks its placement constraints",
            Class::Failure,
        ),
        "SERVICE_DISCOVERY_INSTANCE_UNHEALTHY" | "VPC_LATTICE_TARGET_UNHEALTHY" => (
            "a task is unhealthy behind service discovery",
            Class::Failure,
        ),
        "ECS_OPERATION_THROTTLED" | "SERVICE_DISCOVERY_OPERATION_THROTTLED" => {
            ("ECS is throttled acting on it", Class::Failure)
        }
        n if n.contains("REBALANC") => (
            "ECS is rebalancing its tasks across Availability Zones (not an outage)",
            Class::Info,
        ),
        _ => return None,
    })
}

impl<O: Ops> Notice for Dispatcher<O> {
    fn notice(&self, event: AwsEvent, outbox: &Outbox) -> BoxFuture<'static, Noticed> {
        let (d, outbox) = (self.clone(), outbox.clone());
        // Nobody waits on an event's reads: they go after people and watches.
        // A deployment it starts following is a watch of its own (`start_unheld`).
        Box::pin(Priority::Background.scope(async move { d.noticed(event, &outbox).await }))
    }
}

/// The conversation a route names.
fn origin_of(route: &Route) -> Origin {
    Origin {
        platform: route.channel.platform,
        channel: route.channel.id.as_str().into(),
        thread: None,
        direct: false,
    }
}

/// Where a notification goes, once the channel takes it.
struct Destination {
    origin: Origin,
    route: Route,
}

impl<O: Ops> Dispatcher<O> {
    fn notices(&self) -> &State {
        &self.inner.notices
    }

    async fn noticed(&self, event: AwsEvent, outbox: &Outbox) -> Noticed {
        if !self
            .notices()
            .events
            .lock()
            .expect("seen lock")
            .first(&event.id)
        {
            return Noticed::Dropped("a repeat of an event already handled");
        }
        // Replicas consume one queue: SQS gives a message to one of them, and
        // again (to any) if its delete is late; the shared table says who has it.
        match self
            .inner
            .ops
            .first_seen(&format!("event/{}", event.id))
            .await
        {
            Ok(true) => {}
            Ok(false) => return Noticed::Dropped("another replica handled the event"),
            Err(e) => return Noticed::Retry(e.to_string()),
        }
        let app = match self.app_of(&event).await {
            Ok(Some(app)) => app,
            Ok(None) => return Noticed::Dropped("not about a configured app"),
            Err(e) => return Noticed::Retry(e.to_string()),
        };
        let held = self
            .inner
            .holds
            .lock()
            .expect("holds lock")
            .contains_key(&app.name);
        match event.kind.clone() {
            Kind::Deployment {
                deployment, phase, ..
            } => {
                self.deployment(&event, app, &deployment, phase, held, outbox)
                    .await
            }
            Kind::TaskStopped(task) => {
                if held {
                    return Noticed::Dropped("its operation's thread reports it");
                }
                if !task.abnormal() {
                    return Noticed::Dropped("a task stopped cleanly");
                }
                self.stopped(&event, &app, &task, outbox)
            }
            Kind::ServiceAction {
                name,
                reason,
                service,
                ..
            } => {
                let Some((words, class)) = action_words(&name) else {
                    return Noticed::Dropped("not news");
                };
                if held {
                    return Noticed::Dropped("its operation's thread reports it");
                }
                // One line per service and action within the window.
                let key = format!("action {service} {name}");
                if self.said_within(&key, &name, event.at) {
                    return Noticed::Dropped("said within the window");
                }
                let reason = reason
                    .map(|r| format!(": {}", neutralise(&crate::ops::mask::text(&r), 300)))
                    .unwrap_or_default();
                let text = format!("{}: {words}{reason}.", app.name);
                self.post(&app, class, event.at, Reply::text(text), outbox)
            }
            Kind::Stack {
                stack,
                status,
                reason,
            } => {
                self.stack(&event, &app, &stack, &status, reason, held, outbox)
                    .await
            }
            Kind::Alarm {
                name,
                state,
                reason,
                ..
            } => {
                let key = format!("alarm {name}");
                {
                    let mut said = self.notices().said.lock().expect("said lock");
                    if said.get(&key).is_some_and(|(s, _)| *s == state) {
                        return Noticed::Dropped("the alarm was already in that state");
                    }
                    said.insert(key, (state.clone(), event.at));
                }
                let (class, text) = match state.as_str() {
                    "ALARM" => (
                        Class::Failure,
                        format!(
                            "{}: alarm `{name}` is in ALARM{}",
                            app.name,
                            reason
                                .map(|r| format!(": {}", neutralise(&r, 300)))
                                .unwrap_or_default()
                        ),
                    ),
                    "OK" => (
                        Class::Info,
                        format!("{}: alarm `{name}` is OK again.", app.name),
                    ),
                    other => (
                        Class::Info,
                        format!("{}: alarm `{name}` is {other}.", app.name),
                    ),
                };
                self.post(&app, class, event.at, Reply::text(text), outbox)
            }
            Kind::Hook {
                name,
                hook_id,
                stage,
                expires,
                timeout_action,
                ..
            } => {
                if name != "HOOK_AWAITING_ACTION" {
                    return Noticed::Dropped("a hook state that needs nobody");
                }
                if held {
                    // dockhand's own operation offers the decision in its thread.
                    return Noticed::Dropped("its operation's thread asks for the decision");
                }
                let pause = crate::ops::watch::Pause {
                    hook_id: hook_id.unwrap_or_default(),
                    stage,
                    expires,
                    timeout_action,
                };
                let cmd = self.cmd_for(&app);
                let text = format!(
                    "{}: its deployment is {} Decide with the buttons, or {} / {}.",
                    app.name,
                    render::paused(&pause).replacen("Paused", "paused", 1),
                    cmd.show(&format!("continue {}", app.name)),
                    cmd.show(&format!("rollback {}", app.name)),
                );
                let reply = render::decide_buttons(Reply::text(text), app.name.as_str());
                self.post(&app, Class::Failure, event.at, reply, outbox)
            }
        }
    }

    /// The configured app an event is about.
    async fn app_of(&self, event: &AwsEvent) -> OpsResult<Option<App>> {
        let config = &self.inner.config;
        let in_region = |app: &App| {
            let env = config.environment_of(app);
            let region = env.region.as_deref().or(config.aws.region.as_deref());
            event.region.is_empty() || region.is_none_or(|r| r == event.region)
        };
        let by_service = |cluster: &str, service: &str| {
            let (cluster, service) = (cluster.to_string(), service.to_string());
            async move {
                for app in config.apps.values().filter(|a| in_region(a)) {
                    let (c, s) = match &app.target {
                        crate::config::Target::Service {
                            cluster, service, ..
                        } => (cluster.clone(), service.clone()),
                        crate::config::Target::Stack { .. } => {
                            match self
                                .inner
                                .ops
                                .service_name(app, config.environment_of(app))
                                .await
                            {
                                Ok(found) => found,
                                Err(e) if e.is_user_facing() => continue,
                                Err(e) => return Err(e),
                            }
                        }
                    };
                    let c = crate::notify::event::last_part(&c);
                    if s == service && (cluster.is_empty() || c == cluster) {
                        return Ok(Some(app.clone()));
                    }
                }
                Ok(None)
            }
        };
        match &event.kind {
            Kind::Deployment { cluster, service, .. }
            | Kind::ServiceAction { cluster, service, .. }
            | Kind::Hook { cluster, service, .. } => by_service(cluster, service).await,
            Kind::TaskStopped(t) => match &t.service {
                Some(service) => by_service(&t.cluster, service).await,
                None => Ok(None),
            },
            Kind::Stack { stack, .. } => Ok(config
                .apps
                .values()
                .filter(|a| in_region(a))
                .find(|a| matches!(&a.target, crate::config::Target::Stack { stack: s, .. } if s.as_str() == stack))
                .cloned()),
            Kind::Alarm { name, .. } => Ok(config
                .apps
                .values()
                .find(|a| a.alarms.iter().any(|n| n == name))
                .cloned()),
        }
    }

    /// How commands are written in `app`'s notifications: as they work where
    /// those are read.
    fn cmd_for(&self, app: &App) -> render::Cmd {
        match self
            .inner
            .config
            .notifications
            .route(&app.name, &app.environment)
        {
            Some(route) => self.cmd(&origin_of(route)),
            None => render::Cmd::prefixed(self.inner.addresser.prefix()),
        }
    }

    /// Whether `key` was said as `what` within the window; remembers it if not.
    fn said_within(&self, key: &str, what: &str, at: Epoch) -> bool {
        let window = self.inner.config.notifications.window.as_secs() as i64;
        let mut said = self.notices().said.lock().expect("said lock");
        if said
            .get(key)
            .is_some_and(|(w, when)| w == what && at - when < window)
        {
            return true;
        }
        said.insert(key.to_string(), (what.to_string(), at));
        false
    }

    /// Where `app`'s news of `class` goes now, or why it goes nowhere.
    fn destination(&self, app: &App, class: Class, at: Epoch) -> Result<Destination, &'static str> {
        let n = &self.inner.config.notifications;
        let route = n
            .route(&app.name, &app.environment)
            .ok_or("no channel is routed for the app")?;
        if !route.send.takes(class) {
            return Err("the channel does not take this kind");
        }
        if self.notices().mute_of(&app.name, ops::now()).is_some() {
            return Err("the app is muted");
        }
        if class != Class::Failure && n.quiet_hours.is_some_and(|q| q.contains(at)) {
            return Err("quiet hours");
        }
        Ok(Destination {
            origin: origin_of(route),
            route: route.clone(),
        })
    }

    /// Whether the channel's hourly limit lets a new message through; the count
    /// held back is said with the next one that goes.
    fn admitted(&self, d: &Destination) -> Result<String, &'static str> {
        let key = d.route.channel.to_string();
        match self.notices().channels.take(&key) {
            limits::Admit::Go => {
                let held = self
                    .notices()
                    .held
                    .lock()
                    .expect("held lock")
                    .remove(&key)
                    .unwrap_or(0);
                Ok(if held > 0 {
                    format!("\n({held} more notifications were held back by this channel's limit.)")
                } else {
                    String::new()
                })
            }
            _ => {
                *self
                    .notices()
                    .held
                    .lock()
                    .expect("held lock")
                    .entry(key)
                    .or_default() += 1;
                Err("over the channel's hourly limit")
            }
        }
    }

    /// Posts one new notification, if the channel takes it.
    fn post(&self, app: &App, class: Class, at: Epoch, reply: Reply, outbox: &Outbox) -> Noticed {
        let d = match self.destination(app, class, at) {
            Ok(d) => d,
            Err(why) => return Noticed::Dropped(why),
        };
        let note = match self.admitted(&d) {
            Ok(note) => note,
            Err(why) => return Noticed::Dropped(why),
        };
        let (delivered, told) = crate::message::Delivered::waiter();
        let mut reply = reply.telling(delivered);
        reply.text.push_str(&note);
        let _ = outbox.send(Outbound {
            origin: d.origin,
            reply,
        });
        Noticed::Posted(vec![told])
    }

    async fn deployment(
        &self,
        event: &AwsEvent,
        app: App,
        id: &str,
        phase: Phase,
        held: bool,
        outbox: &Outbox,
    ) -> Noticed {
        let key = format!("{}/{id}", app.name);
        {
            let mut seen = self.notices().deployments.lock().expect("seen lock");
            if seen.contains(&key) {
                return Noticed::Dropped("the deployment is reported already");
            }
            if held || phase == Phase::Completed {
                seen.first(&key);
                return Noticed::Dropped(if held {
                    "dockhand's own operation reports it"
                } else {
                    "it finished before dockhand saw it start"
                });
            }
        }
        let class = if phase == Phase::Failed {
            Class::Failure
        } else {
            Class::Deploy
        };
        // Not marked seen when the channel does not take it: a channel that takes
        // failures only must still hear of this deployment when it fails.
        let d = match self.destination(&app, class, event.at) {
            Ok(d) => d,
            Err(why) => return Noticed::Dropped(why),
        };
        let environment = self.environment(&app);
        // Another dockhand (or this one before a restart) records what it watches.
        let pair = [(app.clone(), environment.clone())];
        if self
            .inner
            .ops
            .operations(&pair)
            .await
            .iter()
            .any(|op| op.app == app.name)
        {
            self.notices()
                .deployments
                .lock()
                .expect("seen lock")
                .first(&key);
            return Noticed::Dropped("another dockhand reports it");
        }
        let probe = Target {
            app: app.clone(),
            environment: environment.clone(),
            requester: Requester {
                identity: "aws".into(),
                name: "AWS".into(),
            },
        };
        let deployment = match self.inner.ops.deployment(&probe, id).await {
            Ok(dep) => dep,
            Err(e) if e.is_user_facing() => {
                tracing::warn!(app = %app.name, error = %e, "notifications: cannot read the deployment");
                return Noticed::Dropped("the deployment cannot be read");
            }
            Err(e) => return Noticed::Retry(e.to_string()),
        };
        // Each replica may hear of the deployment (its events come apart): one
        // follows it.
        match self
            .inner
            .ops
            .first_seen(&format!("deployment/{key}"))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                self.notices()
                    .deployments
                    .lock()
                    .expect("seen lock")
                    .first(&key);
                return Noticed::Dropped("another replica reports the deployment");
            }
            Err(e) => return Noticed::Retry(e.to_string()),
        }
        let note = match self.admitted(&d) {
            Ok(note) => note,
            Err(why) => return Noticed::Dropped(why),
        };
        if !note.is_empty() {
            tracing::info!(channel = %d.route.channel, "{}", note.trim());
        }
        self.notices()
            .deployments
            .lock()
            .expect("seen lock")
            .first(&key);
        let by = deployment
            .registered_by
            .as_deref()
            .map(principal)
            .or_else(|| deployment.by_dockhand.clone())
            .unwrap_or_else(|| "someone outside dockhand".into());
        let target = Target {
            app: app.clone(),
            environment,
            requester: Requester {
                identity: format!(
                    "aws:{}",
                    deployment.registered_by.as_deref().unwrap_or("unknown")
                ),
                name: by,
            },
        };
        let version = deployment
            .version
            .as_deref()
            .and_then(|v| crate::command::value::Version::parse(v).ok())
            .unwrap_or_else(|| crate::command::value::Version::parse("latest").expect("a tag"));
        let (delivered, told) = crate::message::Delivered::waiter();
        let handled = self.operation(
            outbox,
            &d.origin,
            target,
            OperationKind::Deploy { version },
            Start::Followed(delivered),
            move |d: Dispatcher<O>, t: Target, p| async move {
                d.inner.ops.follow(&t, &deployment, p).await
            },
        );
        match handled {
            Handled::Started => Noticed::Posted(vec![told]),
            // Taken by an operation between the look above and now: its thread reports.
            _ => Noticed::Dropped("dockhand's own operation reports it"),
        }
    }

    fn stopped(&self, event: &AwsEvent, app: &App, task: &StoppedTask, outbox: &Outbox) -> Noticed {
        let window = self.inner.config.notifications.window.as_secs() as i64;
        let cause = cause_of(task);
        let reason = task
            .container_reason
            .as_deref()
            .or(task.reason.as_deref())
            .map(|r| neutralise(&crate::ops::mask::text(r), 200))
            .unwrap_or_default();
        let cmd = self.cmd_for(app);
        let mut bursts = self.notices().bursts.lock().expect("bursts lock");
        if let Some(b) = bursts.get_mut(&app.name)
            && event.at - b.first < window
        {
            // The same message, grown: an edit, which the channel's limit does not count.
            b.count += 1;
            b.last = b.last.max(event.at);
            *b.causes.entry(cause).or_default() += 1;
            b.reason = reason;
            let (delivered, told) = crate::message::Delivered::waiter();
            let Ok(d) = self.destination(app, Class::Failure, event.at) else {
                return Noticed::Dropped("the channel no longer takes it");
            };
            let _ = outbox.send(Outbound {
                origin: d.origin,
                reply: Reply::edit(b.id, b.text(&app.name, &cmd)).telling(delivered),
            });
            return Noticed::Posted(vec![told]);
        }
        let burst = Burst {
            id: self.next_id(),
            first: event.at,
            last: event.at,
            count: 1,
            causes: BTreeMap::from([(cause, 1)]),
            reason,
        };
        let reply = Reply::text(burst.text(&app.name, &cmd)).with_id(burst.id);
        let noticed = self.post(app, Class::Failure, event.at, reply, outbox);
        if matches!(noticed, Noticed::Posted(_)) {
            bursts.insert(app.name.clone(), burst);
        }
        noticed
    }

    #[allow(clippy::too_many_arguments)]
    async fn stack(
        &self,
        event: &AwsEvent,
        app: &App,
        stack: &str,
        status: &str,
        reason: Option<String>,
        held: bool,
        outbox: &Outbox,
    ) -> Noticed {
        if held {
            return Noticed::Dropped("its operation's thread reports it");
        }
        if status.ends_with("_IN_PROGRESS") {
            return Noticed::Dropped("the stack has not settled");
        }
        let failed = status.contains("FAILED") || status.contains("ROLLBACK");
        let class = if failed { Class::Failure } else { Class::Info };
        if let Err(why) = self.destination(app, class, event.at) {
            return Noticed::Dropped(why);
        }
        // The stack as it is now: the event may be behind it.
        let environment = self.environment(app);
        let name = match crate::command::value::StackName::parse(stack) {
            Ok(n) => n,
            Err(_) => return Noticed::Dropped("not a stack name"),
        };
        let rules = match &app.target {
            crate::config::Target::Stack { outputs, .. } => outputs.clone(),
            crate::config::Target::Service { .. } => Default::default(),
        };
        let detail = match self.inner.ops.stack(&environment, &name, &rules).await {
            Ok(s) => s,
            Err(e) if e.is_user_facing() => {
                tracing::warn!(stack, error = %e, "notifications: cannot read the stack");
                return Noticed::Dropped("the stack cannot be read");
            }
            Err(e) => return Noticed::Retry(e.to_string()),
        };
        if detail.status != status && detail.status.ends_with("_IN_PROGRESS") {
            return Noticed::Dropped("the stack has moved on");
        }
        let why = detail
            .events
            .iter()
            .find(|e| e.text.contains("FAILED"))
            .map(|e| e.text.clone())
            .or(detail.reason.clone())
            .or(reason)
            .filter(|_| failed)
            .map(|r| format!(": {}", neutralise(&crate::ops::mask::text(&r), 300)))
            .unwrap_or_default();
        let text = format!("Stack {stack} ({}): {}{why}", app.name, detail.status);
        self.post(app, class, event.at, Reply::text(text), outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_says_how_many_why_and_when() {
        let app = AppName::parse("hubot").unwrap();
        let b = Burst {
            id: MessageId(1),
            first: 3 * 3600 + 2 * 60,
            last: 3 * 3600 + 12 * 60,
            count: 7,
            causes: BTreeMap::from([("exit code 137 (out of memory)".to_string(), 7)]),
            reason: "OutOfMemoryError: Container killed due to memory usage".into(),
        };
        assert_eq!(
            b.text(&app, &render::Cmd::prefixed("!")),
            "hubot: 7 tasks stopped in 10m00s, exit code 137 (out of memory) ×7; last at 03:12: OutOfMemoryError: Container killed due to memory usage. See `!events hubot`."
        );
    }

    #[test]
    fn a_mute_holds_until_its_time_and_is_forgotten_after() {
        let no_env = |_: &str| None;
        let config = Config::parse("t", "", &no_env, crate::verbs::NAMES).unwrap();
        let state = State::new(&config);
        let app = AppName::parse("hubot").unwrap();
        let mute = Mute {
            until: 1_000,
            by: "alice".into(),
            reason: "load test".into(),
        };
        state.mute(&app, mute.clone());
        assert_eq!(state.mute_of(&app, 999), Some(mute));
        assert_eq!(state.mutes(999).len(), 1);
        assert_eq!(state.mute_of(&app, 1_000), None, "expired at its time");
        assert!(state.mutes(999).is_empty(), "and forgotten");
    }

    #[test]
    fn seen_forgets_the_oldest_past_its_bound() {
        let mut s = Seen::default();
        assert!(s.first(&"a".into()) && !s.first(&"a".into()));
        for i in 0..Seen::MAX {
            s.first(&i.to_string());
        }
        assert!(!s.contains(&"a".into()) && s.contains(&"1".into()));
    }

    #[test]
    fn a_principal_is_named_short_with_its_arn() {
        assert_eq!(
            principal("arn:aws:iam::123456789012:role/pipeline"),
            "pipeline (arn:aws:iam::123456789012:role/pipeline)"
        );
        assert_eq!(principal("ecs-agent"), "ecs-agent");
    }
}
