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

use std::sync::Arc;

use slack_morphism::prelude::*;

use super::blocks;
use super::{Client, ts_of};
use crate::adapters::edits::{Outgoing, Sink};
use crate::message::Outbound;
use crate::message::{MessageId, Origin, Placement, Reply};

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
                if let Some(id) = reply.id {
                    let ts = res.ts.to_string();
                    self.out.posted(
                        id,
                        Posted {
                            channel: res.channel.to_string(),
                            thread_root: thread.unwrap_or_else(|| ts.clone()),
                            ts,
                        },
                    );
                }
            }
            Err(e) => {
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
        if let Err(e) = session.chat_update(&req).await {
            tracing::warn!(channel = %posted.channel, error = %e, "slack: chat.update failed");
            // Someone is waiting on this message: when it cannot change (deleted,
            // edited too often, too long), the news goes in its thread instead.
            // Not after a rate limit the client already retried: that would add load.
            if !matches!(
                e,
                slack_morphism::errors::SlackClientError::RateLimitError(_)
            ) {
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
                if let Err(e) = session.chat_post_message(&thread).await {
                    tracing::warn!(error = %e, "slack: the fallback post failed too");
                }
            }
        }
    }
}

/// Slack's own error code (`message_not_found`, `msg_too_long`) when there is one:
/// short, and free of request details.
fn short_error(e: &slack_morphism::errors::SlackClientError) -> String {
    match e {
        slack_morphism::errors::SlackClientError::ApiError(api) => api.code.clone(),
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
