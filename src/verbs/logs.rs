//! `logs <app> [n] [--since 15m] [--grep text] [--task id]`: the app's last log
//! lines from CloudWatch Logs, cleaned and masked, as a code block.
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
