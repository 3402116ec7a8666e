//! `notifications`: what this channel is sent of what happens in AWS, and the
//! mutes in force.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifications;

impl Verb for Notifications {
    const PARAMS: &'static [ParamSpec] = &[];
    const MUTATES: bool = false;

    fn build(_: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Notifications)
    }

    /// Routing is configuration, not an app's state: answered anywhere.
    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "notifications".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let n = &cx.config().notifications;
        let origin = cx.origin();
        let here = |r: &crate::config::Route| {
            r.channel.platform == origin.platform && *r.channel.id == *origin.channel
        };
        let Some(_) = &n.queue else {
            return cx.reply(Reply::text(
                "Notifications are off: dockhand speaks only when spoken to. Set `[notifications] queue` (deploy/dockhand.yaml creates the queue).",
            ));
        };
        // What reaches this channel: each app, by the route that decides it.
        let mut lines = Vec::new();
        for app in cx.config().apps.values() {
            if let Some(r) = n.route(&app.name, &app.environment).filter(|r| here(r)) {
                lines.push(format!(
                    "{} ({}): {}",
                    app.name,
                    app.environment,
                    r.send.name()
                ));
            }
        }
        let mut text = if lines.is_empty() {
            "This channel is sent no notifications.".to_string()
        } else {
            format!("This channel is sent:\n{}", lines.join("\n"))
        };
        if let Some(q) = n.quiet_hours {
            text.push_str(&format!(
                "\nQuiet hours {:02}:{:02}-{:02}:{:02} UTC: failures only.",
                q.from / 60,
                q.from % 60,
                q.to / 60,
                q.to % 60
            ));
        }
        let mutes = cx.mutes();
        for (app, m) in &mutes {
            text.push_str(&format!(
                "\n{app} is muted until {} UTC by {}: {}.",
                ops::clock(m.until),
                m.by,
                m.reason
            ));
        }
        cx.reply(Reply::text(text))
    }
}
