//! `mute <app> <duration> [reason]`: silence an app's notifications for a while,
//! recorded with who and why (`notifications` shows it).

use super::*;
use crate::command::value::AppName;
use crate::message::neutralise;
use crate::policy::Risk;

/// The longest mute: a week. A longer silence is a routing change, not a mute.
const LONGEST: i64 = 7 * 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mute {
    pub app: AppName,
    /// Seconds.
    pub seconds: i64,
    pub reason: String,
}

/// `30m`, `2h`, `1d`, `90s`: a duration of at most `LONGEST`.
pub fn parse_duration(text: &str) -> Result<i64, ValueError> {
    let bad = || {
        ValueError::new(
            "duration",
            text,
            "write a number and a unit, such as `30m`, `2h` or `1d` (a week at most)",
        )
    };
    match crate::command::value::seconds(text.trim()) {
        Some(seconds) if seconds > 0 && seconds <= LONGEST => Ok(seconds),
        _ => Err(bad()),
    }
}

impl Verb for Mute {
    const PARAMS: &'static [ParamSpec] = &[
        req("app", Kind::App),
        req("duration", Kind::Text),
        opt("reason", Kind::Text),
    ];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Mute {
            app: AppName::parse(arg(args, "app"))?,
            seconds: parse_duration(arg(args, "duration"))?,
            reason: text(args, "reason").unwrap_or_default(),
        })
    }

    /// Silencing news changes nothing in AWS: never in the way.
    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Never)
    }

    fn asked(&self) -> String {
        format!(
            "mute {} {}",
            self.app,
            ops::took(std::time::Duration::from_secs(self.seconds as u64))
        )
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let (origin, author) = (cx.origin(), cx.author());
        let reason = match neutralise(&self.reason, 200) {
            r if r.trim().is_empty() => "no reason given".to_string(),
            r => r,
        };
        let until = ops::now() + self.seconds;
        let mute = ops::Mute {
            until,
            by: author.named(origin.platform),
            reason: reason.clone(),
        };
        tracing::info!(target: "dockhand::audit", who = author.identity(origin.platform), channel = origin.identity(), app = %self.app, until, reason, "muted");
        cx.mute(&self.app, Some(mute));
        cx.reply(Reply::text(format!(
            "{} notifications are muted until {} UTC ({reason}). {} lifts it sooner.",
            self.app,
            ops::clock(until),
            cx.cmd().show(&format!("unmute {}", self.app))
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_are_short_numbers_with_a_unit() {
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        for bad in [
            "",
            "m",
            "30",
            "0m",
            "8d",
            "-1h",
            "1y",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
