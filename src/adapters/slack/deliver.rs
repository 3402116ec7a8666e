//! Replies out to Slack, in order, within its limits.
//!
//! One task owns the Web API session for posting: it maps dispatch's `MessageId`s
//! to Slack's `ts` (so an edit becomes `chat.update` and a thread post gets its
//! `thread_ts`), and coalesces progress edits: a message is updated at most once
//! per `edits::EDIT_INTERVAL`, and an edit superseded before its turn is never sent. A
//! busy deploy thus stays within `chat.update`'s tier (about 50 a minute) while the
//! final verdict still lands within a second. 429s and their `Retry-After` are
//! honoured by the client's rate control; what still fails is logged, and where a
//! person is waiting on a new message, the failure is said where it can be: a
//! progress message Slack refuses to update gets its news as thread posts instead,
//! at most one per `edits::SLOW_INTERVAL`, the last text always among them.
//!
//! A reply's file (`Reply::attachment`: every line of a `!logs` answer whose
//! message shows only the newest) goes into the thread of the message it came
//! with, once the message is posted, through Slack's external upload flow (scope
//! `files:write`): `files.getUploadURLExternal` -> the bytes to its `upload_url`
//! -> `files.completeUploadExternal` into the channel and thread. An edit uploads
//! only a file it carries itself. An upload that fails never holds the message
//! back: it is logged with Slack's error code, and the thread gets one line
//! saying the file could not be attached and why.

use std::sync::Arc;

use slack_morphism::prelude::*;

use super::blocks;
use super::{Client, ts_of};
use crate::adapters::edits::{Outgoing, Sink};
use crate::message::Outbound;
use crate::message::{Attachment, MessageId, Origin, Placement, Reply};

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

pub struct Deliverer {
    client: Arc<Client>,
    token: SlackApiToken,
    out: Outgoing<Posted>,
    answer_urls: super::AnswerUrls,
}

impl Deliverer {
    pub(crate) fn new(
        client: Arc<Client>,
        token: SlackApiToken,
        answer_urls: super::AnswerUrls,
    ) -> Deliverer {
        Deliverer {
            client,
            token,
            out: Outgoing::default(),
            answer_urls,
        }
    }

    /// A reply Slack would not post in a channel the bot is not in: said to
    /// whoever used `/dockhand` there, through the command's response URL, with
    /// what to do. True when it was.
    async fn answer_instead(&self, origin: &Origin, reply: &Reply, error: &str) -> bool {
        let not_member = ["not_in_channel", "channel_not_found"]
            .iter()
            .any(|code| error.contains(code));
        let Some(url) = self.answer_urls.get(&origin.channel).filter(|_| not_member) else {
            return false;
        };
        let text = format!(
            "{}\n_(dockhand is not a member of this channel, so only you see this and what follows is not posted here: `/invite @dockhand` to follow along in the channel.)_",
            reply.text
        );
        let req =
            SlackApiPostWebhookMessageRequest::new(SlackMessageContent::new().with_text(text));
        match self.client.respond_to_event(&url, &req).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(channel = %origin.channel, error = %e, "slack: the response URL refused the answer too");
                false
            }
        }
    }

    async fn send_post(&mut self, origin: &Origin, reply: Reply, thread: Option<String>) {
        let mut req = SlackApiChatPostMessageRequest::new(
            origin.channel.to_string().into(),
            blocks::content(&reply),
        );
        if let Some(t) = &thread {
            req = req.with_thread_ts(t.clone().into());
        }
        let session = self.client.open_session(&self.token);
        match session.chat_post_message(&req).await {
            Ok(res) => {
                let ts = res.ts.to_string();
                let posted = Posted {
                    channel: res.channel.to_string(),
                    thread_root: thread.unwrap_or_else(|| ts.clone()),
                    ts,
                };
                if let Some(file) = &reply.attachment {
                    self.attach(&posted, file).await;
                }
                if let Some(id) = reply.id {
                    self.out.posted(id, posted);
                }
            }
            Err(e) => {
                // Said through the response URL instead, the file stays behind:
                // Slack would not share it in a channel the bot is not in either.
                if !self.answer_instead(origin, &reply, &e.to_string()).await {
                    tracing::warn!(
                        channel = %origin.channel,
                        error = %e,
                        "slack: chat.postMessage failed; the reply is lost (is the bot a member of the channel?)"
                    );
                }
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
        let session = self.client.open_session(&self.token);
        let Err((step, e)) = upload(&session, posted, file).await else {
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
        if let Err(e) = session.chat_post_message(&req).await {
            tracing::warn!(channel = %posted.channel, error = %short_error(&e), "slack: the note about the file failed too");
        }
    }

    async fn send_edit(&mut self, id: MessageId) {
        let Some((reply, posted)) = self.out.take_edit(id, "slack") else {
            return;
        };
        let posted = posted.clone();
        let req = SlackApiChatUpdateRequest::new(
            posted.channel.clone().into(),
            blocks::content(&reply),
            posted.ts.clone().into(),
        );
        let session = self.client.open_session(&self.token);
        let shown = match session.chat_update(&req).await {
            Ok(_) => true,
            Err(e) => self.edit_refused(id, &posted, &reply, e).await,
        };
        // Only a file the edit carries itself: one an earlier version of the
        // message brought is in the thread already.
        if shown && let Some(file) = &reply.attachment {
            self.attach(&posted, file).await;
        }
    }

    /// A refused `chat.update`: logged, and (unless rate limited) its text goes in
    /// the thread instead. True when it got there.
    async fn edit_refused(
        &mut self,
        id: MessageId,
        posted: &Posted,
        reply: &Reply,
        e: slack_morphism::errors::SlackClientError,
    ) -> bool {
        tracing::warn!(channel = %posted.channel, error = %e, "slack: chat.update failed");
        // Someone is waiting on this message: when it cannot change (deleted,
        // edited too often, too long), the news goes in its thread instead.
        // Not after a rate limit the client already retried: that would add load.
        if matches!(
            e,
            slack_morphism::errors::SlackClientError::RateLimitError(_)
        ) {
            return false;
        }
        // Each later edit of it would be one more thread post: they are
        // paced at `edits::SLOW_INTERVAL` from now on, the newest text
        // winning, and the last one is still sent (a held edit always is).
        self.out.edits.slow_down(id);
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
        let session = self.client.open_session(&self.token);
        match session.chat_post_message(&thread).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "slack: the fallback post failed too");
                false
            }
        }
    }
}

/// Slack's external upload: a URL for `file.name` and its length, the bytes
/// POSTed there as they are (slack-morphism sends the raw body, not a form),
/// then the file shared into the channel and thread of `posted`. On failure,
/// the step that failed, and why.
async fn upload<C: SlackClientHttpConnector + Send + Sync>(
    session: &SlackClientSession<'_, C>,
    posted: &Posted,
    file: &Attachment,
) -> Result<(), (&'static str, slack_morphism::errors::SlackClientError)> {
    let ticket = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            file.name.clone(),
            file.text.len(),
        ))
        .await
        .map_err(|e| ("files.getUploadURLExternal", e))?;
    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            ticket.upload_url,
            file.text.as_bytes().to_vec(),
            "text/plain; charset=utf-8".into(),
        ))
        .await
        .map_err(|e| ("upload_url", e))?;
    // `thread_ts` is the thread's parent, never a reply's ts, as Slack asks.
    let complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![
        SlackApiFilesComplete::new(ticket.file_id).with_title(file.name.clone()),
    ])
    .with_channel_id(posted.channel.clone().into())
    .with_thread_ts(posted.thread_root.clone().into());
    session
        .files_complete_upload_external(&complete)
        .await
        .map_err(|e| ("files.completeUploadExternal", e))?;
    Ok(())
}

/// The scope Slack says is missing (`missing_scope` names it in `needed`).
fn needed_scope(e: &slack_morphism::errors::SlackClientError) -> Option<String> {
    let slack_morphism::errors::SlackClientError::ApiError(api) = e else {
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
fn short_error(e: &slack_morphism::errors::SlackClientError) -> String {
    use slack_morphism::errors::SlackClientError as E;
    match e {
        E::ApiError(api) => api.code.clone(),
        E::HttpError(http) => format!("HTTP {}", http.status_code.as_u16()),
        E::RateLimitError(_) => "ratelimited".into(),
        _ => "an error".into(),
    }
}

impl Sink for Deliverer {
    type Direct = Direct;
    type Posted = Posted;

    fn outgoing(&mut self) -> &mut Outgoing<Posted> {
        &mut self.out
    }

    async fn post(&mut self, out: Outbound) {
        match out.reply.placement {
            // Edits are `deliver`'s: they come back as `edit`.
            Placement::Edit(_) => {}
            Placement::New => {
                let thread = out.origin.thread.as_deref().map(str::to_string);
                self.send_post(&out.origin, out.reply, thread).await
            }
            Placement::Thread(id) => {
                let thread = self.out.get(id).map(|p| p.thread_root.clone());
                self.send_post(&out.origin, out.reply, thread).await
            }
        }
    }

    async fn edit(&mut self, id: MessageId) {
        self.send_edit(id).await
    }

    async fn direct(&mut self, d: Direct) {
        let session = self.client.open_session(&self.token);
        let result = match d {
            Direct::Ephemeral {
                channel,
                user,
                thread,
                text,
            } => {
                let mut req = SlackApiChatPostEphemeralRequest::new(
                    channel.into(),
                    user.into(),
                    SlackMessageContent::new().with_text(blocks::escape(&text)),
                );
                if let Some(t) = thread {
                    req = req.with_thread_ts(t.into());
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
                    channel.into(),
                    blocks::settled(&prompt, &note),
                    ts_of(&ts),
                );
                session.chat_update(&req).await.map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "slack: a direct message failed");
        }
    }
}
