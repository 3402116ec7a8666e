//! `logs <app> [n] [--since 15m] [--grep text] [--task id]`: the app's last log
//! lines from CloudWatch Logs, cleaned and masked, as a code block. With
//! `--follow [10m]`, its lines as they come, in one message kept current
//! (`dispatch::tails`); `logs stop <app>` (or the tail's [Stop] button) ends it.
//!
//! Logs are a read that can carry what no channel should see, so policy treats
//! them apart from the other reads (`Facts::sensitive`): a channel bound to the
//! app, or a rule naming `logs`.

use super::*;
use crate::command::value::{AppName, FilterPattern, Since, parse_task_id};
use crate::ops::{Inspect, LogQuery};

/// Lines shown when the person names no number, and at most.
const DEFAULT_LINES: u32 = 20;
const MAX_LINES: u32 = 100;
/// The window read when `--since` is not given.
const DEFAULT_SINCE: Since = Since::Ago(3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logs {
    pub app: AppName,
    pub n: Option<u32>,
    pub since: Option<Since>,
    pub grep: Option<FilterPattern>,
    pub task: Option<String>,
    /// `--follow [for]`: tail, for this long (`None`: the configured most).
    pub follow: Option<Option<u64>>,
    /// `logs stop <app>`: end this channel's tail of the app.
    pub stop: bool,
}

/// The shortest tail worth starting, and the longest anyone may ask for (the
/// configured `follow_minutes` bounds it further).
const SHORTEST_FOLLOW: i64 = 10;
const LONGEST_FOLLOW: i64 = 86_400;

fn parse_follow(s: &str) -> Result<u64, ValueError> {
    match crate::command::value::seconds(s) {
        Some(secs) if (SHORTEST_FOLLOW..=LONGEST_FOLLOW).contains(&secs) => Ok(secs as u64),
        _ => Err(ValueError::new(
            "tail duration",
            s,
            "write how long to follow, such as `5m` or `30s` (10 s at least)",
        )),
    }
}

/// How many lines: 1 to `MAX_LINES`.
fn parse_lines(s: &str) -> Result<u32, ValueError> {
    match s.parse::<u32>() {
        Ok(n) if (1..=MAX_LINES).contains(&n) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ValueError::new(
            "number of lines",
            s,
            "write a whole number from 1 to 100",
        )),
    }
}

impl Verb for Logs {
    const PARAMS: &'static [ParamSpec] = &[
        req("app", Kind::App),
        opt("n", Kind::Limit),
        opt("since", Kind::Text),
        opt("grep", Kind::Text),
        opt("task", Kind::Text),
        opt("follow", Kind::Flag),
        opt("for", Kind::Text),
        opt("stop", Kind::Flag),
    ];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Logs {
            app: AppName::parse(arg(args, "app"))?,
            n: args.get("n").map(|s| parse_lines(s)).transpose()?,
            since: args.get("since").map(|s| Since::parse(s)).transpose()?,
            grep: args
                .get("grep")
                .map(|s| FilterPattern::parse(s))
                .transpose()?,
            task: args.get("task").map(|s| parse_task_id(s)).transpose()?,
            follow: match (args.contains_key("follow"), args.get("for")) {
                (_, Some(d)) => Some(Some(parse_follow(d)?)),
                (true, None) => Some(None),
                (false, None) => None,
            },
            stop: args.contains_key("stop"),
        })
        .and_then(|logs| {
            // A tail shows what comes from now on: a window or a count of past
            // lines would be ignored, so they are refused instead.
            match (&logs.follow, &logs.n, &logs.since) {
                (Some(_), Some(_), _) => Err(ValueError::new(
                    "number of lines",
                    args.get("n").map_or("", |v| v),
                    "--follow shows lines as they come; leave the number out",
                )),
                (Some(_), _, Some(_)) => Err(ValueError::new(
                    "time",
                    args.get("since").map_or("", |v| v),
                    "--follow shows lines from now on; leave out --since",
                )),
                _ => Ok(logs),
            }
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        Facts {
            sensitive: true,
            ..reads(Some(&self.app))
        }
    }

    fn asked(&self) -> String {
        format!("logs {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        if self.stop {
            return cx.unfollow();
        }
        if let Some(asked) = self.follow {
            let most = u64::from(cx.config().limits.follow_minutes) * 60;
            let secs = asked.unwrap_or(most);
            if secs > most {
                return cx.reply(Reply::text(format!(
                    "A tail lasts {} at most here (`[limits] follow_minutes`); ask for less, or leave the time out.",
                    ops::took(std::time::Duration::from_secs(most))
                )));
            }
            let query = ops::TailQuery {
                grep: self.grep.map(|g| g.as_str().to_string()),
                task: self.task,
            };
            return cx.follow(query, std::time::Duration::from_secs(secs));
        }
        let app = cx.app().clone();
        let env = super::environment(cx.config(), &app);
        let cmd = cx.cmd();
        let query = LogQuery {
            lines: self.n.unwrap_or(DEFAULT_LINES) as usize,
            since_ms: self.since.unwrap_or(DEFAULT_SINCE).epoch_ms(ops::now()),
            grep: self.grep.map(|g| g.as_str().to_string()),
            task: self.task,
        };
        cx.spawn_reply(move |ops| async move {
            let page = ops.logs(&app, &env, &query).await?;
            Ok(render::logs(app.name.as_str(), &page, &query, &cmd))
        })
    }
}
