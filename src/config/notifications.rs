//! `[notifications]`: where what happens in AWS is told, and how much of it.
//!
//! One channel per app: the first route that names the app, else the first that
//! names its environment, else the default channel. One channel keeps "one
//! thread per deployment" true; a team that wants a copy elsewhere points a second
//! dockhand (or an audit channel) there.

use std::time::Duration;

use serde::Deserialize;

use super::{Declared, Named, Problems, identity_forms, is_identity};
use crate::command::value::AppName;
use crate::message::Platform;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    pub queue: Option<String>,
    pub channel: Option<String>,
    pub send: Option<String>,
    pub window_minutes: Option<u64>,
    pub per_hour: Option<u32>,
    pub quiet_hours: Option<String>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[serde(default)]
    pub apps: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    pub channel: String,
    pub send: Option<String>,
}

/// What a channel is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// Deploys, failures, and the rest (stack updates completing, alarms back to OK).
    Everything,
    /// What needs someone: failed deploys and stacks, crash loops, alarms, placement.
    Failures,
    /// Deploys started outside dockhand, to their verdicts, and their failures.
    Deploys,
}

impl Send {
    pub fn name(self) -> &'static str {
        match self {
            Send::Everything => "everything",
            Send::Failures => "failures only",
            Send::Deploys => "deploys only",
        }
    }
}

/// What kind of news a notification is, for `Send` and quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A deployment's announcement and its progress.
    Deploy,
    /// Something failed or needs a decision (a failed deploy, a paused one).
    Failure,
    /// Good news nobody waits for.
    Info,
}

impl Send {
    pub fn takes(self, class: Class) -> bool {
        match self {
            Send::Everything => true,
            Send::Failures => class == Class::Failure,
            Send::Deploys => class != Class::Info,
        }
    }
}

/// A channel as `platform:id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub platform: Platform,
    pub id: String,
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub apps: Vec<AppName>,
    pub environments: Vec<String>,
    pub channel: Channel,
    pub send: Send,
}

/// `HH:MM-HH:MM` in UTC; it may wrap midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: u32,
    pub to: u32,
}

impl QuietHours {
    /// Whether `at` (seconds since the epoch) falls in them.
    pub fn contains(self, at: i64) -> bool {
        let minute = (at.rem_euclid(86_400) / 60) as u32;
        if self.from <= self.to {
            (self.from..self.to).contains(&minute)
        } else {
            minute >= self.from || minute < self.to
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications {
    /// The SQS queue URL; `None`: dockhand speaks only when spoken to.
    pub queue: Option<String>,
    pub routes: Vec<Route>,
    /// For apps no route names.
    pub default: Option<Route>,
    /// Stopped tasks of an app within this window are one message.
    pub window: Duration,
    /// Notifications one channel is sent an hour, at most.
    pub per_hour: u32,
    /// During these, only failures are sent.
    pub quiet_hours: Option<QuietHours>,
}

impl Default for Notifications {
    fn default() -> Notifications {
        Notifications {
            queue: None,
            routes: Vec::new(),
            default: None,
            window: Duration::from_secs(600),
            per_hour: 60,
            quiet_hours: None,
        }
    }
}

impl Notifications {
    /// Where an app's notifications go, and what that channel takes.
    pub fn route(&self, app: &AppName, environment: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.apps.contains(app))
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|r| r.apps.is_empty() && r.environments.iter().any(|e| e == environment))
            })
            .or(self.default.as_ref())
    }
}

fn parse_send(key: &str, send: Option<&str>, p: &mut Problems) -> Send {
    match send {
        None | Some("everything") => Send::Everything,
        Some("failures") => Send::Failures,
        Some("deploys") => Send::Deploys,
        Some(other) => {
            p.problem(
                key,
                format!(
                    "`{other}` is not a choice: write \"everything\", \"failures\" or \"deploys\""
                ),
            );
            Send::Everything
        }
    }
}

fn parse_channel(key: &str, channel: &str, p: &mut Problems) -> Option<Channel> {
    if !is_identity(channel) {
        let forms = identity_forms(&Platform::ALL, Named::Channel);
        p.problem(key, format!("`{channel}` is not a channel: write {forms}"));
        return None;
    }
    let (platform, id) = channel.split_once(':')?;
    Some(Channel {
        platform: Platform::from_name(platform)?,
        id: id.to_string(),
    })
}

fn parse_quiet_hours(text: &str, p: &mut Problems) -> Option<QuietHours> {
    let minute = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let parsed = text
        .split_once('-')
        .and_then(|(a, b)| Some((minute(a)?, minute(b)?)));
    match parsed {
        Some((from, to)) if from != to => Some(QuietHours { from, to }),
        _ => {
            p.problem(
                "notifications.quiet_hours",
                format!("`{text}` is not a span of hours: write \"22:00-07:00\" (UTC)"),
            );
            None
        }
    }
}

pub(super) fn parse_notifications(
    raw: RawNotifications,
    declared: &Declared<'_>,
    p: &mut Problems,
) -> Notifications {
    let defaults = Notifications::default();
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let key = format!("notifications.routes[{i}]");
        if r.apps.is_empty() && r.environments.is_empty() {
            p.problem(
                &key,
                "a route names `apps` or `environments`; for everything else, set `notifications.channel`",
            );
        }
        let apps = declared.apps(&format!("{key}.apps"), &r.apps, p);
        declared.check_environments(&format!("{key}.environments"), &r.environments, p);
        let send = parse_send(&format!("{key}.send"), r.send.as_deref(), p);
        if let Some(channel) = parse_channel(&format!("{key}.channel"), &r.channel, p) {
            routes.push(Route {
                apps,
                environments: r.environments,
                channel,
                send,
            });
        }
    }
    let send = parse_send("notifications.send", raw.send.as_deref(), p);
    let default = raw.channel.as_deref().and_then(|c| {
        Some(Route {
            apps: Vec::new(),
            environments: Vec::new(),
            channel: parse_channel("notifications.channel", c, p)?,
            send,
        })
    });
    let queue = raw.queue.filter(|q| !q.trim().is_empty());
    if let Some(q) = &queue
        && !(q.starts_with("https://") || q.starts_with("http://"))
    {
        p.problem(
            "notifications.queue",
            format!("`{q}` is not a queue URL: write the queue's URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"),
        );
    }
    if queue.is_some() && routes.is_empty() && default.is_none() {
        p.problem(
            "notifications.channel",
            "events would have nowhere to go: set a default `channel` or add `[[notifications.routes]]`",
        );
    }
    let window = match raw.window_minutes {
        Some(0) => {
            p.problem("notifications.window_minutes", "must be 1 or more");
            defaults.window
        }
        Some(m) => Duration::from_secs(m * 60),
        None => defaults.window,
    };
    Notifications {
        queue,
        routes,
        default,
        window,
        per_hour: raw.per_hour.unwrap_or(defaults.per_hour).max(1),
        quiet_hours: raw
            .quiet_hours
            .as_deref()
            .and_then(|q| parse_quiet_hours(q, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_may_wrap_midnight() {
        let q = QuietHours {
            from: 22 * 60,
            to: 7 * 60,
        };
        let at = |h: i64, m: i64| h * 3600 + m * 60;
        assert!(q.contains(at(23, 0)) && q.contains(at(3, 12)) && q.contains(at(22, 0)));
        assert!(!q.contains(at(7, 0)) && !q.contains(at(12, 0)));
        let day = QuietHours {
            from: 9 * 60,
            to: 17 * 60,
        };
        assert!(day.contains(at(9, 30)) && !day.contains(at(17, 0)));
    }

    #[test]
    fn each_choice_takes_its_classes() {
        assert!(Send::Failures.takes(Class::Failure) && !Send::Failures.takes(Class::Deploy));
        assert!(Send::Deploys.takes(Class::Deploy) && !Send::Deploys.takes(Class::Info));
        assert!(Send::Everything.takes(Class::Info));
    }
}
