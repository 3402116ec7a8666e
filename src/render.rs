//! Ops results as platform-neutral replies: what a person sees.
//!
//! Short lines that read on a phone: one line per app in `status`, the stack's
//! essentials as fields, outcomes as one sentence with the reason. Anything that
//! could grow (events, parameters, apps) is bounded ("... and 40 more").

use std::time::Duration;

use crate::message::{ButtonStyle, Reply, neutralise};
use crate::ops::{
    AppStatus, Event, EventLine, HistoryEntry, Left, Plan, StackDetail, StackSummary, Verdict,
    clock, took,
};
use crate::ops::{LogPage, LogQuery, OperationKind, Target};

/// Longest list shown in one reply; the rest is summarised.
pub const MAX_LINES: usize = 20;

/// Cuts a list to `MAX_LINES`, adding "... and N more".
pub fn bounded(lines: Vec<String>) -> String {
    let total = lines.len();
    let mut out: Vec<String> = lines.into_iter().take(MAX_LINES).collect();
    if total > MAX_LINES {
        out.push(format!("... and {} more", total - MAX_LINES));
    }
    out.join("\n")
}

/// Pads columns so `status` lines align in a monospace block.
fn table(rows: Vec<Vec<String>>) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    // A row's last cell is never padded, so it does not widen its column: a long
    // problem ("Stack with id x does not exist") stays on its own line's end.
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter(|r| c + 1 < r.len())
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.into_iter()
        .map(|r| {
            let last = r.len().saturating_sub(1);
            r.iter()
                .enumerate()
                .map(|(i, s)| {
                    if i == last {
                        s.clone()
                    } else {
                        format!("{s:<w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Whether on-call should look at an app first: unreadable, failed or rolling back,
/// rolling out, or fewer tasks running than desired.
pub fn needs_attention(s: &AppStatus) -> bool {
    s.problem.is_some()
        || s.running < s.desired
        || ["FAILED", "ROLLBACK", "IN_PROGRESS", "PENDING", "STOP"]
            .iter()
            .any(|w| s.rollout.contains(w))
}

/// `status`: problems first, then the rest grouped by environment. A long list
/// is cut among the healthy apps only, never hiding one that needs attention, and
/// says how to see the rest (`cmd` writes the commands).
pub fn status(lines: &[AppStatus], cmd: &Cmd) -> Reply {
    if lines.is_empty() {
        return Reply::text("No apps are configured. Add them under `[apps]` in dockhand.toml.");
    }
    let (mut problems, mut healthy): (Vec<&AppStatus>, Vec<&AppStatus>) =
        lines.iter().partition(|s| needs_attention(s));
    problems.sort_by(|a, b| (&a.environment, &a.app).cmp(&(&b.environment, &b.app)));
    healthy.sort_by(|a, b| (&a.environment, &a.app).cmp(&(&b.environment, &b.app)));
    let room = MAX_LINES.saturating_sub(problems.len());
    let hidden = healthy.len().saturating_sub(room);
    healthy.truncate(room);
    let rows: Vec<Vec<String>> = problems
        .iter()
        .chain(healthy.iter())
        .map(|s| status_row(s))
        .collect();
    // Chat adapters draw one field per app (a section or embed field reads better on
    // a phone than a wide table); the text keeps the aligned table.
    let mut text = table(rows.clone());
    let more = (hidden > 0).then(|| {
        format!(
            "... and {hidden} more, all healthy: {} for one environment, {} for problems only.",
            cmd.show("status <environment>"),
            cmd.show("status --problems")
        )
    });
    text.extend(more.clone());
    let mut reply = Reply::text(text.join("\n"));
    for row in &rows {
        let (name, rest) = row.split_at(2.min(row.len()));
        let value: Vec<&str> = rest
            .iter()
            .map(String::as_str)
            .filter(|c| !c.is_empty())
            .collect();
        reply = reply.field(name.join(" · "), value.join(" · "));
    }
    if let Some(more) = more {
        reply = reply.field("…", more);
    }
    reply
}

fn status_row(s: &AppStatus) -> Vec<String> {
    if let Some(problem) = &s.problem {
        return vec![s.app.clone(), s.environment.clone(), problem.clone()];
    }
    let mut rollout = s.rollout.clone();
    if s.pending > 0 {
        rollout.push_str(&format!(" ({} pending)", s.pending));
    }
    let by = match (&s.deployed_by, s.deployed_at) {
        (Some(by), Some(at)) => format!("by {by} {}", clock(at)),
        (Some(by), None) => format!("by {by}"),
        (None, Some(at)) => clock(at),
        (None, None) => String::new(),
    };
    vec![
        s.app.clone(),
        s.environment.clone(),
        s.version.clone().unwrap_or_else(|| "?".into()),
        format!("{}/{}", s.running, s.desired),
        rollout,
        by,
    ]
}

pub fn stacks(list: &[StackSummary]) -> Reply {
    if list.is_empty() {
        return Reply::text("No stacks found.");
    }
    let rows = list
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.status.clone(),
                s.updated.map(clock).unwrap_or_default(),
            ]
        })
        .collect();
    Reply::text(bounded(table(rows)))
}

pub fn stack(d: &StackDetail) -> Reply {
    let mut text = format!("{}: {}", d.name, d.status);
    if let Some(r) = &d.reason {
        text.push_str(&format!(" ({r})"));
    }
    // An empty value reads as a broken line on a phone; say it is empty.
    let pairs = |kv: &[(String, String)]| {
        bounded(
            kv.iter()
                .map(|(k, v)| match v.as_str() {
                    "" => format!("{k} (empty)"),
                    v => format!("{k} = {v}"),
                })
                .collect(),
        )
    };
    let mut reply = Reply::text(String::new()).titled(format!("{} {}", d.name, d.status));
    if !d.parameters.is_empty() {
        text.push_str(&format!("\nParameters:\n{}", indent(&pairs(&d.parameters))));
        reply = reply.field("Parameters", pairs(&d.parameters));
    }
    if !d.outputs.is_empty() {
        text.push_str(&format!("\nOutputs:\n{}", indent(&pairs(&d.outputs))));
        reply = reply.field("Outputs", pairs(&d.outputs));
    }
    if !d.events.is_empty() {
        let ev = event_lines(&d.events);
        text.push_str(&format!("\nLatest events:\n{}", indent(&ev)));
        reply = reply.field("Latest events", ev);
    }
    reply.text = text;
    reply
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn event_lines(events: &[EventLine]) -> String {
    bounded(
        events
            .iter()
            .map(|e| format!("{} {}", clock(e.at), e.text))
            .collect(),
    )
}

/// Characters of log lines one reply shows: what fits a Discord message (2,000)
/// with its heading, and reads on a phone. The newest lines are kept.
const LOG_CHARS: usize = 1700;

/// `logs`: a heading that says what was read, then the lines as written, each
/// `HH:MM:SS task  text`, oldest first so the newest is where the eye ends.
pub fn logs(app: &str, page: &LogPage, query: &LogQuery, cmd: &Cmd) -> Reply {
    let since = clock(query.since_ms.div_euclid(1000));
    let grep = query
        .grep
        .as_deref()
        .map(|g| format!(" matching `{}`", neutralise(g, 60)))
        .unwrap_or_default();
    let task = query
        .task
        .as_deref()
        .map(|t| format!(" of task {t}"))
        .unwrap_or_default();
    if page.lines.is_empty() {
        return Reply::text(format!(
            "No log lines{task} for {app} in {} since {since} UTC{grep}. Try a longer window: {}.",
            page.source,
            cmd.show(&format!("logs {app} --since 1d"))
        ));
    }
    let tasks: std::collections::BTreeSet<&str> =
        page.lines.iter().map(|l| l.task.as_str()).collect();
    let mut shown: Vec<String> = Vec::new();
    let mut used = 0;
    for l in page.lines.iter().rev() {
        let line = log_line(l, tasks.len() > 1);
        used += line.chars().count() + 1;
        if used > LOG_CHARS && !shown.is_empty() {
            break;
        }
        shown.push(line);
    }
    shown.reverse();
    let cut = page.lines.len() - shown.len();
    let earlier = page.earlier + cut;
    let one_task = match tasks.iter().next() {
        Some(t) if tasks.len() == 1 => format!(", task {}", t.chars().take(6).collect::<String>()),
        _ => String::new(),
    };
    let mut heading = format!(
        "{app}: {} line{} from {}{one_task} since {since} UTC{grep}",
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        page.source
    );
    let file = format!("{app}-logs.txt");
    if cut > 0 {
        heading.push_str(&format!(" (all {} in {file})", page.lines.len()));
    } else if earlier > 0 {
        heading.push_str(&format!(
            " ({earlier} earlier not shown: narrow with `--since` or `--grep`)"
        ));
    }
    if page.cut_short {
        heading.push_str(
            " (the window holds more than dockhand reads at once; these may not be the newest)",
        );
    }
    heading.push(':');
    let reply = Reply::verbatim(heading, &shown.join("\n"));
    if cut == 0 {
        return reply;
    }
    // More than a message holds: every line read goes in a file beside it.
    let all: Vec<String> = page
        .lines
        .iter()
        .map(|l| log_line(l, tasks.len() > 1))
        .collect();
    reply.attach(file, all.join("\n") + "\n")
}

/// One log line as shown: `HH:MM:SS task  text`, the task's id cut to 6 (left
/// out when every line is one task's), and a long line cut at 400 characters
/// rather than crowding out every other.
pub fn log_line(l: &crate::ops::LogLine, task: bool) -> String {
    let time = clock_seconds(l.at_ms.div_euclid(1000));
    let line = if task {
        format!(
            "{time} {}  {}",
            l.task.chars().take(6).collect::<String>(),
            l.text
        )
    } else {
        format!("{time}  {}", l.text)
    };
    if line.chars().count() > 400 {
        line.chars().take(399).chain(std::iter::once('…')).collect()
    } else {
        line
    }
}

/// Characters of log lines one message of a live tail holds (as `logs`).
pub const TAIL_CHARS: usize = LOG_CHARS;

/// How a live tail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailEnd {
    /// `logs stop`, or its [Stop] button: by whom.
    Stopped(String),
    /// Its time was up.
    Limit,
    /// dockhand is shutting down.
    Shutdown,
    /// The app logs more than a thread should hold.
    TooMuch,
    /// AWS ended it, or refused a read: what to say.
    Failed(String),
}

/// What a live tail has shown so far, for its messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tailed {
    pub shown: usize,
    /// Lines dockhand left out: more came than chat can show.
    pub skipped: usize,
    /// CloudWatch itself sampled (Live Tail past 500 lines a second).
    pub sampled: bool,
}

/// What a live tail's head message shows: whose logs, from where, and its
/// first page of lines (later pages go in its thread).
pub struct TailView<'a> {
    pub app: &'a str,
    pub source: &'a str,
    pub lines: &'a [String],
    pub more_in_thread: bool,
}

/// The head message of `logs <app> --follow` while it runs: what it follows,
/// how, until when, and its first page.
pub fn tail_head(view: &TailView<'_>, live: bool, until: crate::ops::Epoch) -> Reply {
    let how = if live {
        "Live Tail"
    } else {
        "polled each second"
    };
    let heading = format!(
        "Following {}'s logs from {} ({how}) until {} UTC",
        view.app,
        view.source,
        clock(until)
    );
    tail_message(heading, view, "Lines appear here as they come.")
}

/// The head message once the tail has ended: for how long, why, and what it
/// showed, above its first page of lines.
pub fn tail_ended(
    view: &TailView<'_>,
    elapsed: Duration,
    end: &TailEnd,
    tailed: &Tailed,
    cmd: &Cmd,
) -> Reply {
    let app = view.app;
    let why = match end {
        TailEnd::Stopped(by) => format!("stopped by {by}"),
        TailEnd::Limit => "its time was up".to_string(),
        TailEnd::Shutdown => "dockhand is restarting".to_string(),
        TailEnd::TooMuch => format!(
            "{app} logs more than a chat thread should hold; narrow it with {}",
            cmd.show(&format!("logs {app} --follow --grep ERROR"))
        ),
        TailEnd::Failed(e) => e.clone(),
    };
    let mut heading = format!(
        "Followed {app}'s logs from {} for {} ({why}): {} line{}",
        view.source,
        took(elapsed),
        tailed.shown,
        if tailed.shown == 1 { "" } else { "s" }
    );
    if tailed.skipped > 0 {
        heading.push_str(&format!(
            ", {} more not shown (they came faster than chat shows)",
            tailed.skipped
        ));
    }
    if tailed.sampled {
        heading.push_str(", sampled by CloudWatch (over 500 lines a second)");
    }
    tail_message(heading, view, "")
}

/// A later page of a live tail, in the head message's thread.
pub fn tail_page(lines: &[String]) -> Reply {
    Reply::verbatim("More lines:", &lines.join("\n"))
}

/// The heading above the first page; with no lines yet, `none` after it.
fn tail_message(heading: String, view: &TailView<'_>, none: &str) -> Reply {
    if view.lines.is_empty() {
        return Reply::text(format!("{heading}. {none}").trim_end().to_string());
    }
    let tail = if view.more_in_thread {
        "; later lines in the thread:"
    } else {
        ":"
    };
    Reply::verbatim(format!("{heading}{tail}"), &view.lines.join("\n"))
}

/// `HH:MM:SS` UTC, for log lines (seconds matter there).
fn clock_seconds(at: crate::ops::Epoch) -> String {
    let s = at.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

pub fn history(app: &str, entries: &[HistoryEntry]) -> Reply {
    if entries.is_empty() {
        return Reply::text(format!("No deploys of {app} found."));
    }
    let rows = entries
        .iter()
        .map(|h| {
            vec![
                h.version.clone(),
                h.revision.clone(),
                h.by.clone().map(|b| format!("by {b}")).unwrap_or_default(),
                h.at.map(clock).unwrap_or_default(),
                h.outcome.clone(),
            ]
        })
        .collect();
    Reply::text(bounded(table(rows)))
}

pub fn plan(app: &str, version: &str, p: &Plan) -> Reply {
    let now = p
        .current
        .as_deref()
        .map(|c| format!(" (now {c})"))
        .unwrap_or_default();
    if p.changes.is_empty() {
        return Reply::text(format!(
            "Plan for {app} {version}{now}: no changes; {app} already runs {version}."
        ));
    }
    Reply::text(format!(
        "Plan for {app} {version}{now}, nothing changed yet:\n{}",
        bounded(p.changes.iter().map(|c| format!("  {c}")).collect())
    ))
}

/// Where a rollback would go, before it is confirmed.
pub fn rollback_plan(app: &str, p: &Plan) -> Reply {
    let now = p
        .current
        .as_deref()
        .map(|c| format!(" (now {c})"))
        .unwrap_or_default();
    Reply::text(format!(
        "Plan for rollback of {app}{now}, nothing changed yet:\n{}",
        bounded(p.changes.iter().map(|c| format!("  {c}")).collect())
    ))
}

/// A progress event as a thread post (`None` for events shown only as edits).
pub fn thread_line(event: &Event) -> Option<String> {
    match event {
        Event::Started { .. } => None,
        Event::StackEvent {
            at,
            resource,
            status,
            reason,
        } => Some(match reason {
            Some(r) if !r.is_empty() => {
                format!("{} {status} {resource} {}", clock(*at), neutralise(r, 200))
            }
            _ => format!("{} {status} {resource}", clock(*at)),
        }),
        Event::ServiceEvent { at, message } => {
            Some(format!("{} {}", clock(*at), neutralise(message, 200)))
        }
        Event::Rollout {
            revision,
            running,
            desired,
            pending,
            failed,
        } => Some(rollout(revision, *running, *desired, *pending, *failed)),
        Event::Paused(p) => Some(paused(p)),
        // A post of its own (`thread_post`).
        Event::Evidence(_) => None,
    }
}

/// An event as a post in the operation's thread (`id`): one line, or a failed
/// task's last log lines as written.
pub fn thread_post(id: crate::message::MessageId, event: &Event) -> Option<Reply> {
    let Event::Evidence(e) = event else {
        return thread_line(event).map(|line| Reply::in_thread(id, line));
    };
    let task: String = e.task.chars().take(8).collect();
    let why = match (e.exit_code, e.reason.as_deref()) {
        (Some(c), r) => format!(
            "exit code {c}{}{}",
            exit_meaning(c.into(), r),
            r.map(|r| format!(": {}", neutralise(r, 200)))
                .unwrap_or_default()
        ),
        (None, Some(r)) => neutralise(r, 200),
        (None, None) => "no reason given".into(),
    };
    let reply = match (&e.source, e.lines.is_empty(), &e.unread) {
        (Some(source), false, _) => {
            let lines: Vec<String> = e
                .lines
                .iter()
                .map(|l| format!("{}  {}", clock_seconds(l.at_ms.div_euclid(1000)), l.text))
                .collect();
            Reply::verbatim(
                format!("Task {task} stopped ({why}). Its last lines, from {source}:"),
                &crate::message::cut(&lines.join("\n"), LOG_CHARS),
            )
        }
        (Some(source), true, _) => Reply::text(format!(
            "Task {task} stopped ({why}); it logged nothing to {source}."
        )),
        (None, _, unread) => Reply::text(format!(
            "Task {task} stopped ({why}). Its logs could not be read: {}",
            unread
                .as_deref()
                .map(|u| neutralise(u, 300))
                .unwrap_or_default()
        )),
    };
    Some(Reply {
        placement: crate::message::Placement::Thread(id),
        ..reply
    })
}

/// What an exit code usually means, for the people reading it at 3 a.m.
pub fn exit_meaning(code: i64, reason: Option<&str>) -> &'static str {
    match code {
        137 if reason.is_some_and(|r| r.contains("OutOfMemory")) => " (out of memory)",
        137 => " (killed)",
        139 => " (segmentation fault)",
        143 => " (terminated)",
        _ => "",
    }
}

/// A deployment held at a PAUSE hook: where, until when, and what happens then.
pub fn paused(p: &crate::ops::watch::Pause) -> String {
    let at = p
        .stage
        .as_deref()
        .map(|s| format!(" in {s}"))
        .unwrap_or_default();
    let then = match (p.expires, p.timeout_action.as_deref()) {
        (Some(t), Some("CONTINUE")) => {
            format!("; if nobody decides by {} UTC, ECS goes on", clock(t))
        }
        (Some(t), _) => format!("; if nobody decides by {} UTC, ECS rolls it back", clock(t)),
        (None, _) => String::new(),
    };
    format!("Paused at a lifecycle hook{at}, waiting for a decision{then}.")
}

/// The buttons that decide a paused deployment of `app`: the same commands a
/// person could type, so policy and confirmations apply as to typed ones.
pub fn decide_buttons(reply: Reply, app: &str) -> Reply {
    reply
        .button("Continue", format!("continue {app}"), ButtonStyle::Primary)
        .button("Roll back", format!("rollback {app}"), ButtonStyle::Danger)
}

/// Whether a verdict leaves a failed version in place, where [Roll back] helps:
/// ECS stopped it without a rollback, or its rollback failed. One ECS rolled
/// back, or another deployment replaced, needs none.
pub fn leaves_failure(verdict: &Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Failed {
            left: Left::Failure,
            ..
        }
    )
}

pub fn rollout(revision: &str, running: i32, desired: i32, pending: i32, failed: i32) -> String {
    let mut s = format!("rollout {revision} {running}/{desired} running");
    if pending > 0 {
        s.push_str(&format!(", {pending} pending"));
    }
    if failed > 0 {
        s.push_str(&format!(", {failed} failed"));
    }
    s
}

/// How a command is written where a reply is read: `!status hubot` with the
/// configured prefix, or `/dockhand status hubot` where prefix commands are off
/// (Discord without the message-content intent). Replies never hard-code `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd(String);

impl Cmd {
    pub fn prefixed(prefix: &str) -> Cmd {
        Cmd(prefix.to_string())
    }

    pub fn slash(bot_name: &str) -> Cmd {
        Cmd(format!("/{bot_name} "))
    }

    /// What a command starts with here: `!`, or `/dockhand `.
    pub fn lead(&self) -> &str {
        &self.0
    }

    /// `command` as code: `` `!status hubot` ``.
    pub fn show(&self, command: &str) -> String {
        format!("`{}{command}`", self.0)
    }
}

/// How an operation began, for its head message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Began {
    /// Asked in chat now.
    Asked,
    /// Watched again after a restart.
    Resumed,
    /// Watched by another replica after the one watching it stopped.
    Adopted,
    /// Started outside dockhand; an event told of it.
    Followed,
}

/// The head message of an operation, edited once the current version is known
/// (`current`): "Deploying hubot v2 (now v1) to prod, asked by @alice."; after a
/// restart (`resumed`), that dockhand watches it again.
pub fn head(kind: &OperationKind, target: &Target, began: Began, current: Option<&str>) -> String {
    let app = &target.app.name;
    let (env, by) = (&target.app.environment, &target.requester.name);
    let now = current.map(|c| format!(" (now {c})")).unwrap_or_default();
    match (began, kind) {
        (Began::Resumed, _) => {
            return format!(
                "Watching `{}` again after a restart of dockhand, asked by {by}.",
                kind.asked(app)
            );
        }
        (Began::Adopted, _) => {
            return format!(
                "Watching `{}` again: the dockhand replica that watched it stopped. Asked by {by}.",
                kind.asked(app)
            );
        }
        (Began::Followed, OperationKind::Deploy { version }) => {
            return format!(
                "{app} {version} is being deployed to {env} by {by}, outside dockhand."
            );
        }
        _ => {}
    }
    match kind {
        OperationKind::Deploy { version } => {
            format!("Deploying {app} {version}{now} to {env}, asked by {by}.")
        }
        OperationKind::Rollback => format!("Rolling back {app}{now} in {env}, asked by {by}."),
        OperationKind::Scale { count } => {
            format!("Scaling {app} to {count}{now} in {env}, asked by {by}.")
        }
        OperationKind::Cancel => format!("Cancelling the rollout of {app}, asked by {by}."),
        OperationKind::Continue => format!(
            "Continuing the deployment of {app}{now} in {env} past its lifecycle hook, decided by {by}."
        ),
    }
}

/// The final text of an operation's message. `what` names it: "hubot v2",
/// "hubot rollback", "hubot scale to 3".
pub fn verdict(app: &str, what: &str, verdict: &Verdict, elapsed: Duration, cmd: &Cmd) -> String {
    let took = took(elapsed);
    match verdict {
        Verdict::Live {
            version,
            revision,
            running,
            desired,
        } => {
            let shown = version
                .as_deref()
                .map(|v| format!("{app} {v}"))
                .unwrap_or_else(|| what.to_string());
            format!("{shown} is live: {running}/{desired} tasks on {revision}, {took}.")
        }
        Verdict::Unchanged { detail } => format!("{app} {detail}."),
        Verdict::Failed {
            summary,
            reason,
            stopped_reason,
            ..
        } => {
            let mut s = format!("{what} FAILED after {took}: {summary}.");
            if let Some(r) = reason {
                s.push_str(&format!(
                    "\nReason: {}.",
                    neutralise(r.trim_end_matches('.'), 300)
                ));
            }
            if let Some(t) = stopped_reason {
                s.push_str(&format!(" Last stopped task: \"{}\".", neutralise(t, 200)));
            }
            s.push_str(&format!(" See {}.", cmd.show(&format!("events {app}"))));
            s
        }
        Verdict::TimedOut { state } => {
            format!(
                "{what}: no outcome after {took}; AWS says {state}. It carries on in AWS; check {}.",
                cmd.show(&format!("status {app}"))
            )
        }
        // The state says who cancelled and where the app is now; "cancel cancelled"
        // read badly for the cancel's own message.
        Verdict::Cancelled { state } => format!("{what}: {state}, after {took}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_bounded() {
        let s = bounded((0..60).map(|i| i.to_string()).collect());
        assert_eq!(s.lines().count(), MAX_LINES + 1);
        assert!(s.ends_with("... and 40 more"));
    }

    #[test]
    fn status_lines_align() {
        let line = |app: &str, v: &str| AppStatus {
            app: app.into(),
            environment: "prod".into(),
            version: Some(v.into()),
            running: 2,
            desired: 2,
            pending: 0,
            rollout: "COMPLETED".into(),
            deployed_by: Some("@alice".into()),
            deployed_at: Some(14 * 3600 + 120),
            problem: None,
        };
        let r = status(
            &[line("hubot", "v2"), line("worker", "v41")],
            &Cmd::prefixed("!"),
        );
        assert_eq!(
            r.text,
            "hubot   prod  v2   2/2  COMPLETED  by @alice 14:02\nworker  prod  v41  2/2  COMPLETED  by @alice 14:02"
        );
    }

    #[test]
    fn problems_come_first_and_a_long_list_never_hides_one() {
        let app = |name: String, env: &str, running: i32, rollout: &str| AppStatus {
            app: name,
            environment: env.into(),
            version: Some("v1".into()),
            running,
            desired: 2,
            pending: 0,
            rollout: rollout.into(),
            deployed_by: None,
            deployed_at: None,
            problem: None,
        };
        // 30 healthy apps in two environments, and two in trouble at the end.
        let mut lines: Vec<AppStatus> = (0..30)
            .map(|i| {
                app(
                    format!("app{i:02}"),
                    if i % 2 == 0 { "staging" } else { "prod" },
                    2,
                    "COMPLETED",
                )
            })
            .collect();
        lines.push(app("zz-failing".into(), "prod", 0, "FAILED"));
        lines.push(app("zz-short".into(), "staging", 1, "COMPLETED"));
        let r = status(&lines, &Cmd::prefixed("."));
        let shown: Vec<&str> = r.text.lines().collect();
        assert!(shown[0].starts_with("zz-failing"), "{}", r.text);
        assert!(shown[1].starts_with("zz-short"), "{}", r.text);
        // Then grouped by environment: prod's healthy apps before staging's.
        assert!(shown[2].contains(" prod "), "{}", r.text);
        assert_eq!(shown.len(), MAX_LINES + 1);
        assert_eq!(
            *shown.last().unwrap(),
            "... and 12 more, all healthy: `.status <environment>` for one environment, `.status --problems` for problems only."
        );
        // However many problems, every one is shown.
        let many: Vec<AppStatus> = (0..25)
            .map(|i| app(format!("bad{i:02}"), "prod", 0, "FAILED"))
            .collect();
        assert_eq!(status(&many, &Cmd::prefixed("!")).text.lines().count(), 25);
    }
}
