//! Replies out to Slack: each channel in order, the channels side by side, all
//! within Slack's limits.
//!
//! The deliverer (driven by `edits::deliver`) maps dispatch's `MessageId`s to
//! where their messages are (a `Slot`: the channel's lane, then the `ts`), so an
//! edit becomes `chat.update` and a thread post gets its `thread_ts`, and hands
//! every reply to the lane of its channel: a task per channel with something to
//! send, which sends it in order, each call in its turn (`pace`). Slack limits
//! posts per channel, so fifty answers queued in one channel, at its one a
//! second, hold up no answer in another, and a 429 holds only the gate it was
//! counted against. In a lane, answers (posts, a settled prompt, a refusal) go
//! first and progress edits after them; a message's edits and thread posts go in
//! its lane, behind it. A lane idle for a minute ends; at shutdown, every lane
//! sends what it holds before the deliverer returns.
//!
//! Progress edits are coalesced on their way in (`edits`): a message is updated
//! at most once per `edits::EDIT_INTERVAL`, and an edit superseded before its
//! turn is never sent; one still waiting in a lane is replaced by a newer one. A
//! busy deploy thus stays within `chat.update`'s tier while the final verdict
//! still lands within a second. What still fails is logged, and where a person
//! is waiting on a new message, the failure is said where it can be: a progress
//! message Slack refuses to update gets its news as thread posts instead, at
//! most one per `edits::SLOW_INTERVAL`, the last text always among them.
//!
//! A reply's file (`Reply::attachment`: every line of a `!logs` answer whose
//! message shows only the newest) goes into the thread of the message it came
//! with, once the message is posted, through Slack's external upload flow (scope
//! `files:write`): `files.getUploadURLExternal` -> the bytes to its `upload_url`
//! -> `files.completeUploadExternal` into the channel and thread. An edit uploads
//! only a file it carries itself. An upload that fails never holds the message
//! back: it is logged with Slack's error code, and the thread gets one line
//! saying the file could not be attached and why.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::blocks;
use super::pace::{self, Gate, Queue, Session, Workspace};
use super::{Client, ts_of};
use crate::adapters::edits::{Outgoing, Sink};
use crate::message::Outbound;
use crate::message::{Attachment, MessageId, Origin, Placement, Reply};

/// How long a lane with nothing to send waits for more before it ends.
const IDLE: Duration = Duration::from_secs(60);

/// What the adapter itself (not dispatch) asks to be delivered.
#[derive(Debug)]
pub enum Direct {
    /// Only `user` sees it: a refused button click.
    Ephemeral {
        channel: String,
        user: String,
        thread: Option<String>,
        text: String,
    },
    /// A confirmation prompt whose click settled it: buttons gone, who clicked shown.
    Settle {
        channel: String,
        ts: String,
        prompt: String,
        note: String,
    },
}

/// Where a posted message lives.
#[derive(Debug, Clone)]
pub struct Posted {
    channel: String,
    ts: String,
    /// The thread its own thread posts go in: its `ts`, or the thread it is in.
    thread_root: String,
}

/// Where a message is, or will be once its lane has posted it.
#[derive(Debug)]
pub struct Slot {
    lane: Arc<str>,
    /// Set once the post was sent: `None` when it failed.
    posted: OnceLock<Option<Posted>>,
}

impl Slot {
    fn posted(&self) -> Option<&Posted> {
        self.posted.get().and_then(Option::as_ref)
    }
}

/// What every lane shares.
struct Common {
    /// The adapter's client, for a slash command's response URL: limited per URL,
    /// not per channel, it is left to slack-morphism's retries.
    client: Arc<Client>,
    /// The Web API calls the lanes make: paced and retried by `pace`.
    api: Client,
    token: SlackApiToken,
    answer_urls: super::AnswerUrls,
    workspace: Workspace,
    /// Messages Slack refused to update, for the deliverer to pace slower.
    refused: UnboundedSender<MessageId>,
}

pub struct Deliverer {
    common: Arc<Common>,
    out: Outgoing<Arc<Slot>>,
    lanes: HashMap<Arc<str>, LaneHandle>,
    tasks: TaskTracker,
    refused: UnboundedReceiver<MessageId>,
}

struct LaneHandle {
    work: UnboundedSender<Work>,
    task: JoinHandle<()>,
}

/// What a lane is handed.
enum Work {
    Answer(Answer),
    Edit(MessageId, Edit),
}

/// What someone in the channel waits for.
struct Answer {
    said: Said,
    /// How often Slack answered 429 to it so far.
    retried: u32,
}

enum Said {
    Post(Post),
    Direct(Direct),
}

impl Answer {
    fn new(said: Said) -> Answer {
        Answer { said, retried: 0 }
    }
}

struct Post {
    origin: Origin,
    /// With its waiters: told once it is posted (or failed).
    reply: Reply,
    thread: Thread,
    /// Where its later edits and thread posts will find it.
    slot: Option<Arc<Slot>>,
}

enum Thread {
    /// Where the command came from: the channel, or a thread of it.
    Given(Option<Arc<str>>),
    /// The thread of an earlier reply, known once that is posted (before this, in
    /// the same lane).
    Of(Arc<Slot>),
}

struct Edit {
    reply: Reply,
    slot: Arc<Slot>,
    retried: u32,
}

impl Deliverer {
    pub(crate) fn new(
        client: Arc<Client>,
        token: SlackApiToken,
        answer_urls: super::AnswerUrls,
    ) -> Deliverer {
        let (refused_tx, refused) = unbounded_channel();
        Deliverer {
            common: Arc::new(Common {
                api: pace::unretried(&client),
                client,
                token,
                answer_urls,
                workspace: Workspace::default(),
                refused: refused_tx,
            }),
            out: Outgoing::default(),
            lanes: HashMap::new(),
            tasks: TaskTracker::new(),
            refused,
        }
    }

    /// Hands `work` to the lane of `channel`, starting one when there is none or
    /// it ended (idle). A new lane starts sending once the one before it in the
    /// channel has sent what it held, so the channel's order holds.
    fn send(&mut self, channel: Arc<str>, work: Work) {
        let work = match self.lanes.get(&channel) {
            Some(lane) => match lane.work.send(work) {
                Ok(()) => return,
                Err(ended) => ended.0,
            },
            None => work,
        };
        let before = self.lanes.remove(&channel).map(|l| l.task);
        self.lanes.retain(|_, l| !l.task.is_finished());
        let (tx, rx) = unbounded_channel();
        let _ = tx.send(work);
        let lane = Lane {
            common: Arc::clone(&self.common),
            pace: Gate::new(pace::POST),
        };
        let task = self.tasks.spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            lane.run(rx).await
        });
        self.lanes.insert(channel, LaneHandle { work: tx, task });
    }
}

/// One channel's sender.
struct Lane {
    common: Arc<Common>,
    /// `chat.postMessage` in this channel.
    pace: Gate,
}

impl Lane {
    /// Sends what it is handed until the deliverer lets go of it (or it was idle
    /// for `IDLE`) and nothing is left: an answer as soon as its turn has come,
    /// and meanwhile an edit of a message already posted, once the workspace's
    /// `chat.update` budget has a turn beyond the one kept for answers (a
    /// settled prompt).
    async fn run(self, mut work: UnboundedReceiver<Work>) {
        let mut queue = Queue::default();
        let posted = |e: &Edit| e.slot.posted.get().is_some();
        let mut open = true;
        loop {
            while let Ok(w) = work.try_recv() {
                take(&mut queue, w);
            }
            let answer_at = match queue.front_answer() {
                Some(a) => match self.gate(&a.said).try_take(0) {
                    Ok(()) => {
                        if let Some(answer) = queue.next_answer()
                            && let Some(again) = self.answer(answer).await
                        {
                            queue.retry_answer(again);
                        }
                        continue;
                    }
                    Err(at) => Some(at),
                },
                None => None,
            };
            let edit_at = if queue.has_edit(posted) {
                match self.common.workspace.update.try_take(1) {
                    Ok(()) => {
                        if let Some((id, edit)) = queue.next_edit(posted)
                            && let Some(again) = self.edit(id, edit).await
                        {
                            queue.retry_edit(id, again);
                        }
                        continue;
                    }
                    Err(at) => Some(at),
                }
            } else {
                None
            };
            let turn = answer_at.into_iter().chain(edit_at).min();
            if !open && turn.is_none() {
                // Empty: an edit waits only behind its post, an answer here.
                return;
            }
            // Nothing to send now: wait for more, for the next turn, or, idle,
            // stop taking work (what is already handed over still goes).
            let idle = self.pace.rested_at().max(Instant::now()) + IDLE;
            tokio::select! {
                w = work.recv(), if open => match w {
                    Some(w) => take(&mut queue, w),
                    None => open = false,
                },
                () = tokio::time::sleep_until(turn.unwrap_or(idle)) => {
                    if turn.is_none() {
                        work.close();
                    }
                }
            }
        }
    }

    /// The gate an answer takes its turn at.
    fn gate(&self, said: &Said) -> &Gate {
        let workspace = &self.common.workspace;
        match said {
            Said::Post(_) => &self.pace,
            Said::Direct(Direct::Ephemeral { .. }) => &workspace.ephemeral,
            Said::Direct(Direct::Settle { .. }) => &workspace.update,
        }
    }

    fn session(&self) -> Session<'_> {
        self.common.api.open_session(&self.common.token)
    }

    /// Sends an answer, once, in the turn `run` took for it. A 429 holds that
    /// turn's gate and hands the answer back, to go first again in a later turn
    /// (up to `pace::RETRIES` times).
    async fn answer(&self, answer: Answer) -> Option<Answer> {
        let Answer { said, retried } = answer;
        let gate = self.gate(&said);
        let sent = match &said {
            Said::Post(post) => self.send_post(post).await.map(Some),
            Said::Direct(d) => self.direct(d).await.map(|()| None),
        };
        if let Err(SlackClientError::RateLimitError(limited)) = &sent {
            gate.hold(limited.retry_after);
            if retried < pace::RETRIES {
                let retried = retried + 1;
                tracing::debug!(
                    retried,
                    "slack: rate limited; the answer goes again in its turn"
                );
                return Some(Answer { said, retried });
            }
        }
        match (said, sent) {
            (Said::Post(post), sent) => self.conclude(post, sent).await,
            (Said::Direct(_), Ok(_)) => {}
            (Said::Direct(_), Err(e)) => {
                tracing::warn!(error = %e, "slack: a direct message failed")
            }
        }
        None
    }

    /// One `chat.postMessage`, in its thread: the origin's, or the one of the
    /// reply it threads under (posted before it, in this lane).
    async fn send_post(&self, post: &Post) -> Result<Posted, SlackClientError> {
        let thread = match &post.thread {
            Thread::Given(t) => t.as_deref().map(str::to_string),
            Thread::Of(parent) => parent.posted().map(|p| p.thread_root.clone()),
        };
        let mut req = SlackApiChatPostMessageRequest::new(
            post.origin.channel.to_string().into(),
            blocks::content(&post.reply),
        );
        if let Some(t) = &thread {
            req = req.with_thread_ts(t.clone().into());
        }
        let res = pace::post_message(&self.session(), &req).await?;
        let ts = res.ts.to_string();
        Ok(Posted {
            channel: res.channel.to_string(),
            thread_root: thread.unwrap_or_else(|| ts.clone()),
            ts,
        })
    }

    /// After a post's last attempt: its file, where its later replies find it,
    /// and its waiters told.
    async fn conclude(&self, post: Post, sent: Result<Option<Posted>, SlackClientError>) {
        let Post {
            origin,
            mut reply,
            slot,
            ..
        } = post;
        let posted = match sent {
            Ok(posted) => posted,
            Err(e) => {
                // Said through the response URL instead, the file stays behind:
                // Slack would not share it in a channel the bot is not in either.
                if !self.answer_instead(&origin, &reply, &e.to_string()).await {
                    tracing::warn!(
                        channel = %origin.channel,
                        error = %e,
                        "slack: chat.postMessage failed; the reply is lost (is the bot a member of the channel?)"
                    );
                }
                None
            }
        };
        if let Some(posted) = &posted
            && let Some(file) = &reply.attachment
        {
            self.attach(posted, file).await;
        }
        if let Some(slot) = slot {
            let _ = slot.posted.set(posted);
        }
        reply.delivered.done();
    }

    /// A reply Slack would not post in a channel the bot is not in: said to
    /// whoever used `/dockhand` there, through the command's response URL, with
    /// what to do. True when it was.
    async fn answer_instead(&self, origin: &Origin, reply: &Reply, error: &str) -> bool {
        let not_member = ["not_in_channel", "channel_not_found"]
            .iter()
            .any(|code| error.contains(code));
        let Some(url) = self
            .common
            .answer_urls
            .get(&origin.channel)
            .filter(|_| not_member)
        else {
            return false;
        };
        let text = format!(
            "{}\n_(dockhand is not a member of this channel, so only you see this and what follows is not posted here: `/invite @dockhand` to follow along in the channel.)_",
            reply.text
        );
        let req =
            SlackApiPostWebhookMessageRequest::new(SlackMessageContent::new().with_text(text));
        match self.common.client.respond_to_event(&url, &req).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(channel = %origin.channel, error = %e, "slack: the response URL refused the answer too");
                false
            }
        }
    }

    /// Uploads `file` into the thread of the message at `posted`; when Slack
    /// refuses it, logs why and says so in one line in that thread. The message
    /// itself is already there either way.
    async fn attach(&self, posted: &Posted, file: &Attachment) {
        if file.text.is_empty() {
            // Slack refuses a file of no bytes (missing_argument); there is nothing to miss.
            return;
        }
        let session = self.session();
        let Err((step, e)) = upload(&session, &self.common.workspace.files, posted, file).await
        else {
            tracing::debug!(channel = %posted.channel, file = %file.name, "slack: file attached");
            return;
        };
        let code = short_error(&e);
        tracing::warn!(
            channel = %posted.channel,
            file = %file.name,
            step,
            error = %code,
            "slack: the file could not be attached; its message went without it"
        );
        let why = match needed_scope(&e) {
            Some(scope) => format!("the Slack app lacks the `{scope}` scope"),
            None => format!("Slack said {code}"),
        };
        let note = Reply::text(format!("({} could not be attached: {why}.)", file.name));
        let req = SlackApiChatPostMessageRequest::new(
            posted.channel.clone().into(),
            blocks::content(&note),
        )
        .with_thread_ts(posted.thread_root.clone().into());
        if let Err(e) = pace::send(&self.pace, || pace::post_message(&session, &req)).await {
            tracing::warn!(channel = %posted.channel, error = %short_error(&e), "slack: the note about the file failed too");
        }
    }

    /// Sends an edit in the turn `run` took for it. A 429 holds the workspace's
    /// `chat.update` gate and gives the edit back, to go again in a later turn
    /// (up to `pace::RETRIES` times), answers going first meanwhile.
    async fn edit(&self, id: MessageId, edit: Edit) -> Option<Edit> {
        let Some(posted) = edit.slot.posted().cloned() else {
            tracing::warn!(
                ?id,
                platform = "slack",
                "an edit for a message that was never posted is dropped"
            );
            return None;
        };
        let req = SlackApiChatUpdateRequest::new(
            posted.channel.clone().into(),
            blocks::content(&edit.reply),
            posted.ts.clone().into(),
        );
        let shown = match self.session().chat_update(&req).await {
            Ok(_) => true,
            Err(SlackClientError::RateLimitError(limited)) if edit.retried < pace::RETRIES => {
                self.common.workspace.update.hold(limited.retry_after);
                return Some(Edit {
                    retried: edit.retried + 1,
                    ..edit
                });
            }
            Err(e) => self.edit_refused(id, &posted, &edit.reply, e).await,
        };
        // Only a file the edit carries itself: one an earlier version of the
        // message brought is in the thread already.
        if shown && let Some(file) = &edit.reply.attachment {
            self.attach(&posted, file).await;
        }
        None
    }

    /// A refused `chat.update`: logged, and (unless rate limited) its text goes in
    /// the thread instead. True when it got there.
    async fn edit_refused(
        &self,
        id: MessageId,
        posted: &Posted,
        reply: &Reply,
        e: SlackClientError,
    ) -> bool {
        tracing::warn!(channel = %posted.channel, error = %e, "slack: chat.update failed");
        // Someone is waiting on this message: when it cannot change (deleted,
        // edited too often, too long), the news goes in its thread instead.
        // Not after a rate limit already retried: that would add load.
        if let SlackClientError::RateLimitError(limited) = &e {
            self.common.workspace.update.hold(limited.retry_after);
            return false;
        }
        // Each later edit of it would be one more thread post: they are
        // paced at `edits::SLOW_INTERVAL` from now on, the newest text
        // winning, and the last one is still sent (a held edit always is).
        let _ = self.common.refused.send(id);
        let note = Reply::text(format!(
            "(Slack refused to update the message above: {}.)\n{}",
            short_error(&e),
            reply.text
        ));
        let thread = SlackApiChatPostMessageRequest::new(
            posted.channel.clone().into(),
            blocks::content(&note),
        )
        .with_thread_ts(posted.thread_root.clone().into());
        let session = self.session();
        match pace::send(&self.pace, || pace::post_message(&session, &thread)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "slack: the fallback post failed too");
                false
            }
        }
    }

    /// One call for what the adapter asked to say itself.
    async fn direct(&self, d: &Direct) -> Result<(), SlackClientError> {
        let session = self.session();
        match d {
            Direct::Ephemeral {
                channel,
                user,
                thread,
                text,
            } => {
                let mut req = SlackApiChatPostEphemeralRequest::new(
                    channel.clone().into(),
                    user.clone().into(),
                    SlackMessageContent::new().with_text(blocks::escape(text)),
                );
                if let Some(t) = thread {
                    req = req.with_thread_ts(t.clone().into());
                }
                session.chat_post_ephemeral(&req).await.map(|_| ())
            }
            Direct::Settle {
                channel,
                ts,
                prompt,
                note,
            } => {
                let req = SlackApiChatUpdateRequest::new(
                    channel.clone().into(),
                    blocks::settled(prompt, note),
                    ts_of(ts),
                );
                session.chat_update(&req).await.map(|_| ())
            }
        }
    }
}

fn take(queue: &mut Queue<Answer, Edit>, work: Work) {
    match work {
        Work::Answer(a) => queue.answer(a),
        Work::Edit(id, e) => queue.edit(id, e),
    }
}

/// Slack's external upload: a URL for `file.name` and its length, the bytes
/// POSTed there as they are (slack-morphism sends the raw body, not a form),
/// then the file shared into the channel and thread of `posted`, each step in its
/// turn at `gate`. On failure, the step that failed, and why.
async fn upload(
    session: &Session<'_>,
    gate: &Gate,
    posted: &Posted,
    file: &Attachment,
) -> Result<(), (&'static str, SlackClientError)> {
    let ask = SlackApiFilesGetUploadUrlExternalRequest::new(file.name.clone(), file.text.len());
    let ticket = pace::send(gate, || session.get_upload_url_external(&ask))
        .await
        .map_err(|e| ("files.getUploadURLExternal", e))?;
    let bytes = SlackApiFilesUploadViaUrlRequest::new(
        ticket.upload_url,
        file.text.as_bytes().to_vec(),
        "text/plain; charset=utf-8".into(),
    );
    pace::send(gate, || session.files_upload_via_url(&bytes))
        .await
        .map_err(|e| ("upload_url", e))?;
    // `thread_ts` is the thread's parent, never a reply's ts, as Slack asks.
    let complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![
        SlackApiFilesComplete::new(ticket.file_id).with_title(file.name.clone()),
    ])
    .with_channel_id(posted.channel.clone().into())
    .with_thread_ts(posted.thread_root.clone().into());
    pace::send(gate, || session.files_complete_upload_external(&complete))
        .await
        .map_err(|e| ("files.completeUploadExternal", e))?;
    Ok(())
}

/// The scope Slack says is missing (`missing_scope` names it in `needed`).
fn needed_scope(e: &SlackClientError) -> Option<String> {
    let SlackClientError::ApiError(api) = e else {
        return None;
    };
    if api.code != "missing_scope" {
        return None;
    }
    let needed = api
        .http_response_body
        .as_deref()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v["needed"].as_str().map(str::to_string))
        // Said in the channel: only what a scope list is made of.
        .filter(|n| {
            !n.is_empty()
                && n.len() < 100
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || ":._,-".contains(c))
        });
    Some(needed.unwrap_or_else(|| "files:write".into()))
}

/// Slack's own error code (`message_not_found`, `msg_too_long`) when there is one:
/// short, and free of request details.
fn short_error(e: &SlackClientError) -> String {
    use SlackClientError as E;
    match e {
        E::ApiError(api) => api.code.clone(),
        E::HttpError(http) => format!("HTTP {}", http.status_code.as_u16()),
        E::RateLimitError(_) => "ratelimited".into(),
        _ => "an error".into(),
    }
}

impl Sink for Deliverer {
    type Direct = Direct;
    type Posted = Arc<Slot>;

    /// Also takes in the lanes' word of messages Slack refused to update: the
    /// loop asks for this before every decision about an edit, so such a
    /// message's next edit is already paced slower.
    fn outgoing(&mut self) -> &mut Outgoing<Arc<Slot>> {
        while let Ok(id) = self.refused.try_recv() {
            self.out.edits.slow_down(id);
        }
        &mut self.out
    }

    /// Queues the post in its lane, its waiters with it.
    async fn post(&mut self, out: Outbound) {
        let Outbound { origin, reply } = out;
        let (lane, thread) = match reply.placement {
            // Edits are `deliver`'s: they come back as `edit`.
            Placement::Edit(_) => return,
            Placement::New => (
                Arc::clone(&origin.channel),
                Thread::Given(origin.thread.clone()),
            ),
            // Behind the message it threads under, in that message's lane.
            Placement::Thread(id) => match self.out.get(id) {
                Some(parent) => (Arc::clone(&parent.lane), Thread::Of(Arc::clone(parent))),
                None => (Arc::clone(&origin.channel), Thread::Given(None)),
            },
        };
        let slot = reply.id.map(|id| {
            let slot = Arc::new(Slot {
                lane: Arc::clone(&lane),
                posted: OnceLock::new(),
            });
            self.out.posted(id, Arc::clone(&slot));
            slot
        });
        let post = Post {
            origin,
            reply,
            thread,
            slot,
        };
        self.send(lane, Work::Answer(Answer::new(Said::Post(post))));
    }

    /// The lane tells the waiters once it has posted the reply, not now.
    async fn hand(&mut self, out: Outbound) {
        self.post(out).await
    }

    async fn edit(&mut self, id: MessageId) {
        let Some((reply, slot)) = self.out.take_edit(id, "slack") else {
            return;
        };
        let slot = Arc::clone(slot);
        let lane = Arc::clone(&slot.lane);
        let edit = Edit {
            reply,
            slot,
            retried: 0,
        };
        self.send(lane, Work::Edit(id, edit));
    }

    async fn direct(&mut self, d: Direct) {
        let (Direct::Ephemeral { channel, .. } | Direct::Settle { channel, .. }) = &d;
        let channel: Arc<str> = channel.as_str().into();
        self.send(channel, Work::Answer(Answer::new(Said::Direct(d))));
    }

    /// Lets go of every lane: each sends what it holds, then ends.
    async fn finish(&mut self) {
        self.lanes.clear();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
