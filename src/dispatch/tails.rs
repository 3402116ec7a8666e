//! Live tails, `logs <app> --follow`: an app's lines as they arrive, in one
//! message edited in place and, when it fills, pages in its thread.
//!
//! Bounded every way chat needs: one tail per app per channel, `[limits]
//! follows` at once in all, `follow_minutes` long at most, one edit a second,
//! a new page at most every `PAGE_EVERY` and `MAX_PAGES` in all. What comes
//! faster than that is left out and counted, and the tail says so. It ends by
//! `logs stop <app>` or its [Stop] button, at its limit, when AWS ends it, or
//! when dockhand shuts down; each end is said in the head message.
//!
//! The tail is a task on the dispatcher's tracker that owns the AWS reader:
//! ending the task drops the reader, which ends the Live Tail session.

use std::collections::VecDeque;
use std::time::Duration;

use super::*;
use crate::message::{ButtonStyle, Placement};
use crate::ops::{LogTail, OpsResult, TailBatch, TailQuery};
use crate::render::{TAIL_CHARS, TailEnd, Tailed};

/// How often the messages are brought up to date: the edit pace platforms allow.
const TICK: Duration = Duration::from_secs(1);
/// A new page (a thread post) at most this often: a tail stays far under
/// Slack's message a second per channel, and a reader can keep up.
const PAGE_EVERY: Duration = Duration::from_secs(5);
/// Messages one tail writes at most, its head among them.
const MAX_PAGES: usize = 20;

/// A running tail, as `logs stop` and a second `--follow` see it.
pub(super) struct Tailing {
    stop: CancellationToken,
    /// Who stopped it, once someone has.
    by: Mutex<Option<String>>,
    who: String,
    since: i64,
}

/// One tail per app per channel.
pub(super) type TailKey = (String, AppName);

/// Removes a tail from the running ones however its task ends (unless a new
/// tail of the app took its place while it was ending).
struct TailRelease<O> {
    dispatcher: Dispatcher<O>,
    key: TailKey,
    tailing: Arc<Tailing>,
}

impl<O> Drop for TailRelease<O> {
    fn drop(&mut self) {
        if let Ok(mut tails) = self.dispatcher.inner.tails.lock()
            && tails
                .get(&self.key)
                .is_some_and(|t| Arc::ptr_eq(t, &self.tailing))
        {
            tails.remove(&self.key);
        }
    }
}

impl<O: Ops> Dispatcher<O> {
    /// Starts tailing `target`'s app here for `limit`, or says why not.
    pub(super) fn follow(
        &self,
        outbox: &Outbox,
        origin: &Origin,
        target: Target,
        query: TailQuery,
        limit: Duration,
    ) -> Handled {
        let app = target.app.name.clone();
        let cmd = self.cmd(origin);
        let key = (origin.identity(), app.clone());
        let tailing = {
            let mut tails = self.inner.tails.lock().expect("tails lock");
            // One told to stop is ending: it is replaced, and does not count.
            if let Some(t) = tails.get(&key).filter(|t| !t.stop.is_cancelled()) {
                return Handled::Reply(Reply::text(format!(
                    "{} has followed {app}'s logs here since {} UTC; one tail per app in a channel. {} first.",
                    t.who,
                    clock(t.since),
                    cmd.show(&format!("logs stop {app}"))
                )));
            }
            let most = self.inner.config.limits.follows as usize;
            if tails.values().filter(|t| !t.stop.is_cancelled()).count() >= most {
                return Handled::Reply(Reply::text(format!(
                    "dockhand follows {most} logs already, the most it follows at once (`[limits] follows`); \
                     stop one with {} or wait for one to end.",
                    cmd.show("logs stop <app>")
                )));
            }
            let t = Arc::new(Tailing {
                stop: CancellationToken::new(),
                by: Mutex::new(None),
                who: target.requester.name.clone(),
                since: ops::now(),
            });
            tails.insert(key.clone(), Arc::clone(&t));
            t
        };
        let release = TailRelease {
            dispatcher: self.clone(),
            key,
            tailing: Arc::clone(&tailing),
        };
        let (d, outbox, origin) = (self.clone(), outbox.clone(), origin.clone());
        let shutdown = self.inner.shutdown.clone();
        let who = target.requester.identity.clone();
        self.inner.tasks.spawn(async move {
            let _release = release;
            let send = |reply: Reply| {
                let _ = outbox.send(Outbound {
                    origin: origin.clone(),
                    reply,
                });
            };
            let start = async {
                d.inner.reads.acquire().await;
                d.inner
                    .ops
                    .tail(&target.app, &target.environment, &query)
                    .await
            };
            let tail = tokio::select! {
                t = start => t,
                () = shutdown.cancelled() => return,
                () = tailing.stop.cancelled() => {
                    send(Reply::text(format!("Stopped following {app}'s logs before they began.")));
                    return;
                }
            };
            let tail = match tail {
                Ok(t) => t,
                Err(e) => {
                    send(Reply::text(error_reply(&e, &cmd)));
                    return;
                }
            };
            let channel = origin.identity();
            tracing::info!(target: "dockhand::audit", who, channel, app = %app, live = tail.live(), "following logs");
            let head = d.next_id();
            let (end, tailed, took) =
                run(&d, tail, head, &app, limit, &tailing, &shutdown, &cmd, &send).await;
            tracing::info!(target: "dockhand::audit", who, channel, app = %app, shown = tailed.shown, skipped = tailed.skipped, elapsed_ms = took.as_millis() as u64, end = ?end, "followed logs");
        });
        Handled::Started
    }

    /// Stops the app's tail here, saying who did: the reply.
    pub(super) fn unfollow(&self, origin: &Origin, app: &AppName, by: &str) -> Reply {
        let cmd = self.cmd(origin);
        let tails = self.inner.tails.lock().expect("tails lock");
        match tails.get(&(origin.identity(), app.clone())) {
            Some(t) if !t.stop.is_cancelled() => {
                *t.by.lock().expect("tail lock") = Some(by.to_string());
                t.stop.cancel();
                Reply::text(format!("Stopped following {app}'s logs."))
            }
            _ => Reply::text(format!(
                "No tail of {app}'s logs runs in this channel; {} starts one.",
                cmd.show(&format!("logs {app} --follow"))
            )),
        }
    }

    /// Whether a tail of `app` runs here and has not been told to stop.
    pub(super) fn tail_running(&self, origin: &Origin, app: &AppName) -> bool {
        self.inner
            .tails
            .lock()
            .expect("tails lock")
            .get(&(origin.identity(), app.clone()))
            .is_some_and(|t| !t.stop.is_cancelled())
    }
}

/// Reads the tail and keeps its messages current until it ends: why it ended,
/// what it showed, and for how long.
#[allow(clippy::too_many_arguments)] // one task's parts, named where they are made
async fn run<O: Ops, T: LogTail>(
    d: &Dispatcher<O>,
    mut tail: T,
    head: MessageId,
    app: &AppName,
    limit: Duration,
    tailing: &Tailing,
    shutdown: &CancellationToken,
    cmd: &render::Cmd,
    send: &impl Fn(Reply),
) -> (TailEnd, Tailed, Duration) {
    let source = tail.source().to_string();
    let live = tail.live();
    let started = tokio::time::Instant::now();
    let until = ops::now() + limit.as_secs() as i64;
    let mut pages = Pages::new(head, started);
    let stop_button = |r: Reply| r.button("Stop", format!("logs stop {app}"), ButtonStyle::Danger);
    send(stop_button(render::tail_head(&view(app, &source, &pages), live, until)).with_id(head));

    // The reader: one AWS read after another, each sent on. A polling read
    // takes from the AWS read budget every chat read shares.
    let (tx, mut rx) = mpsc::channel::<OpsResult<TailBatch>>(2);
    let reader = async {
        loop {
            if !tail.live() {
                d.inner.reads.acquire().await;
            }
            let batch = tail.next().await;
            let failed = batch.is_err();
            if tx.send(batch).await.is_err() || failed {
                break;
            }
        }
        std::future::pending::<()>().await
    };
    let presenter = async {
        let deadline = started + limit;
        let mut tick = tokio::time::interval_at(started + TICK, TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = tailing.stop.cancelled() => {
                    let by = tailing.by.lock().expect("tail lock").clone();
                    break TailEnd::Stopped(by.unwrap_or_else(|| "someone".into()));
                }
                () = shutdown.cancelled() => break TailEnd::Shutdown,
                () = tokio::time::sleep_until(deadline) => break TailEnd::Limit,
                batch = rx.recv() => match batch {
                    Some(Ok(b)) => pages.take(b),
                    Some(Err(e)) => break TailEnd::Failed(error_reply(&e, cmd)),
                    None => break TailEnd::Failed("the log reader stopped".into()),
                },
                _ = tick.tick() => {
                    let full = pages.flush(tokio::time::Instant::now(), || d.next_id());
                    for change in pages.changes() {
                        send(match change {
                            Change::Head => as_edit(
                                stop_button(render::tail_head(&view(app, &source, &pages), live, until)),
                                head,
                            ),
                            change => page_reply(change, &pages),
                        });
                    }
                    if full {
                        break TailEnd::TooMuch;
                    }
                }
            }
        }
    };
    let end = tokio::select! {
        () = reader => unreachable!("the reader waits once it is done"),
        end = presenter => end,
    };
    // What had arrived is shown where it fits; then the head says how it ended.
    pages.flush(tokio::time::Instant::now(), || d.next_id());
    for change in pages.changes() {
        if change != Change::Head {
            send(page_reply(change, &pages));
        }
    }
    let took = started.elapsed();
    let text = render::tail_ended(&view(app, &source, &pages), took, &end, &pages.tailed, cmd);
    send(as_edit(text, head));
    (end, pages.tailed.clone(), took)
}

/// The head message's part of the pages.
fn view<'a>(app: &'a AppName, source: &'a str, pages: &'a Pages) -> render::TailView<'a> {
    render::TailView {
        app: app.as_str(),
        source,
        lines: pages.head_lines(),
        more_in_thread: pages.more(),
    }
}

/// A thread page, as the post that starts it (carrying its id, so its later
/// edits find it) or an edit of it.
fn page_reply(change: Change, pages: &Pages) -> Reply {
    match change {
        Change::Head => unreachable!("the head is drawn by its caller"),
        Change::New(i) => {
            let mut r = render::tail_page(&pages.pages[i].lines).with_id(pages.pages[i].id);
            r.placement = Placement::Thread(pages.pages[0].id);
            r
        }
        Change::Edit(i) => as_edit(render::tail_page(&pages.pages[i].lines), pages.pages[i].id),
    }
}

fn as_edit(mut reply: Reply, id: MessageId) -> Reply {
    reply.placement = Placement::Edit(id);
    reply
}

/// What changed in a tail's messages since they were last sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// The head message (page 0).
    Head,
    /// A new page, to post in the head's thread.
    New(usize),
    /// A page posted before, to edit.
    Edit(usize),
}

/// A tail's lines laid out in messages: pure, so its pacing is tested without
/// chat or AWS.
struct Pages {
    pages: Vec<Page>,
    /// Arrived, not yet on a page: at most a page's worth, the newest kept.
    waiting: VecDeque<String>,
    waiting_chars: usize,
    tailed: Tailed,
    /// The head must say that later lines are in the thread.
    head_stale: bool,
}

struct Page {
    id: MessageId,
    lines: Vec<String>,
    chars: usize,
    began: tokio::time::Instant,
    /// Changed since it was last sent.
    dirty: bool,
    /// Not yet posted (the head is posted when the tail starts).
    new: bool,
}

impl Page {
    fn fits(&self, line: &str) -> bool {
        self.lines.is_empty() || self.chars + line.chars().count() < TAIL_CHARS
    }
}

impl Pages {
    fn new(head: MessageId, at: tokio::time::Instant) -> Pages {
        Pages {
            pages: vec![Page {
                id: head,
                lines: Vec::new(),
                chars: 0,
                began: at,
                dirty: false,
                new: false,
            }],
            waiting: VecDeque::new(),
            waiting_chars: 0,
            tailed: Tailed::default(),
            head_stale: false,
        }
    }

    /// Lines that arrived: they wait for the next flush. More than a page's
    /// worth waiting drops the oldest, counted.
    fn take(&mut self, batch: TailBatch) {
        self.tailed.sampled |= batch.sampled;
        for l in &batch.lines {
            let line = render::log_line(l, true);
            self.waiting_chars += line.chars().count() + 1;
            self.waiting.push_back(line);
        }
        while self.waiting_chars > TAIL_CHARS && self.waiting.len() > 1 {
            let dropped = self.waiting.pop_front().expect("more than one waits");
            self.waiting_chars -= dropped.chars().count() + 1;
            self.tailed.skipped += 1;
        }
    }

    /// Puts what waits on the last page, and on a new one when that is full
    /// and a new page may start. True when the tail has written all the pages
    /// it may and more still waits.
    fn flush(&mut self, now: tokio::time::Instant, mut next_id: impl FnMut() -> MessageId) -> bool {
        loop {
            let page = self.pages.last_mut().expect("the head page");
            while let Some(line) = self.waiting.front() {
                if !page.fits(line) {
                    break;
                }
                let line = self.waiting.pop_front().expect("front exists");
                self.waiting_chars -= line.chars().count() + 1;
                page.chars += line.chars().count() + 1;
                page.lines.push(line);
                page.dirty = true;
                self.tailed.shown += 1;
            }
            let began = page.began;
            if self.waiting.is_empty() {
                return false;
            }
            if self.pages.len() == MAX_PAGES {
                return true;
            }
            if now.duration_since(began) < PAGE_EVERY {
                return false; // the rest waits for the next page's turn
            }
            if self.pages.len() == 1 {
                self.head_stale = true;
            }
            self.pages.push(Page {
                id: next_id(),
                lines: Vec::new(),
                chars: 0,
                began: now,
                dirty: false,
                new: true,
            });
        }
    }

    /// What to send since the last call, marking it sent.
    fn changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.head_stale) {
            self.pages[0].dirty = true;
        }
        for (i, p) in self.pages.iter_mut().enumerate() {
            if !std::mem::take(&mut p.dirty) {
                continue;
            }
            out.push(match (i, std::mem::take(&mut p.new)) {
                (0, _) => Change::Head,
                (i, true) => Change::New(i),
                (i, false) => Change::Edit(i),
            });
        }
        out
    }

    fn head_lines(&self) -> &[String] {
        &self.pages[0].lines
    }

    /// Later lines are in the thread.
    fn more(&self) -> bool {
        self.pages.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::LogLine;

    fn batch(n: usize, width: usize) -> TailBatch {
        TailBatch {
            lines: (0..n)
                .map(|i| LogLine {
                    at_ms: 1_000,
                    task: "0a1b2c3d".into(),
                    text: format!("{i:0width$}"),
                })
                .collect(),
            sampled: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lines_fill_the_head_then_pages_in_the_thread_no_faster_than_one_each_five_seconds() {
        let t0 = tokio::time::Instant::now();
        let mut ids = 100;
        let mut next = || {
            ids += 1;
            MessageId(ids)
        };
        let mut p = Pages::new(MessageId(1), t0);
        p.take(batch(3, 10));
        assert!(!p.flush(t0, &mut next));
        assert_eq!(p.changes(), vec![Change::Head]);
        assert_eq!(p.changes(), vec![], "nothing new, nothing sent");
        // Lines of ~100 characters: 17 fill a page.
        p.take(batch(40, 80));
        assert!(!p.flush(t0 + Duration::from_secs(1), &mut next));
        assert_eq!(p.changes(), vec![Change::Head], "too soon for a page");
        assert!(
            p.tailed.skipped > 0,
            "more than a page waited: the oldest went"
        );
        p.take(batch(5, 80));
        assert!(!p.flush(t0 + PAGE_EVERY, &mut next));
        assert_eq!(
            p.changes(),
            vec![Change::Head, Change::New(1)],
            "the head says the thread has more"
        );
        p.take(batch(1, 10));
        assert!(!p.flush(t0 + PAGE_EVERY + TICK, &mut next));
        assert_eq!(p.changes(), vec![Change::Edit(1)]);
        assert_eq!(
            p.tailed.shown + p.tailed.skipped,
            49,
            "every line is shown or counted"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_tail_that_fills_its_pages_says_so() {
        let t0 = tokio::time::Instant::now();
        let mut ids = 100;
        let mut p = Pages::new(MessageId(1), t0);
        let mut full = false;
        for s in 0..(MAX_PAGES as u64 * 6) {
            p.take(batch(40, 80));
            full = p.flush(t0 + Duration::from_secs(s), || {
                ids += 1;
                MessageId(ids)
            });
            p.changes();
            if full {
                break;
            }
        }
        assert!(full, "a firehose ends the tail");
        assert_eq!(p.pages.len(), MAX_PAGES);
    }
}
