//! Replies out to Discord, in order, within its limits.
//!
//! One task owns posting: it maps dispatch's `MessageId`s to Discord's channel and
//! message ids (an edit becomes `PATCH /channels/{c}/messages/{m}`, a thread post
//! goes to the thread started from the head message), and coalesces progress
//! edits as the Slack deliverer does: a message is edited at most once per
//! `edits::EDIT_INTERVAL`, and an edit superseded before its turn is never sent. 429s are
//! serenity's ratelimiter's business (it waits out each route's bucket).
//!
//! The progress head of a long operation is always a normal channel message, never
//! an interaction response: an interaction token lives 15 minutes, a rollout may
//! take longer, and the bot's own messages can be edited for as long as they exist.
//! Interaction answers (a deferred slash command, a button click) are `Direct`.
//!
//! A reply's file goes with its message (see embeds.rs): attached to a post, and
//! on an edit or a slash command's answer it replaces whatever file the message
//! had (an edit without one leaves none). Where Discord refuses the file (no
//! Attach Files, 403; too large, 413) the message is sent again without it.

use std::sync::Arc;

use serenity::all::{
    ChannelId, CommandInteraction, ComponentInteraction, CreateInteractionResponse, CreateThread,
    Http, HttpError, MessageId as DiscordMessageId,
};

use super::embeds::{self, Drawn};
use crate::adapters::edits::{Outgoing, Sink};
use crate::message::Outbound;
use crate::message::{MessageId, Origin, Placement, Reply};

/// Interaction answers the adapter itself (not dispatch) asks for.
#[derive(Debug)]
pub enum Direct {
    /// The reply to a deferred slash command: its original response, edited.
    Answer {
        interaction: Box<CommandInteraction>,
        reply: Reply,
    },
    /// A refused click: only the clicker sees why (an ephemeral response).
    Refuse {
        interaction: Box<ComponentInteraction>,
        text: String,
    },
    /// A click that settled the prompt: the message updated, buttons gone.
    Settle {
        interaction: Box<ComponentInteraction>,
        prompt: String,
        note: String,
    },
}

/// Where a posted message lives.
#[derive(Debug, Clone)]
pub struct Posted {
    channel: ChannelId,
    message: DiscordMessageId,
    /// Where its thread lines go: the thread started from it once it has one, or
    /// the thread (or DM) it is in, where no thread can be started.
    thread: Option<ChannelId>,
    /// The name a thread started from it gets: its first line when posted.
    name: String,
}

pub struct Deliverer {
    http: Arc<Http>,
    out: Outgoing<Posted>,
}

impl Deliverer {
    pub fn new(http: Arc<Http>) -> Deliverer {
        Deliverer {
            http,
            out: Outgoing::default(),
        }
    }

    /// The thread of a posted message, started from it on first use.
    async fn thread_of(&mut self, id: MessageId, origin: &Origin) -> Option<ChannelId> {
        let Some(posted) = self.out.get(id).cloned() else {
            tracing::warn!(
                ?id,
                "discord: a thread line for a message never posted goes to the channel"
            );
            return channel_of(origin);
        };
        if let Some(t) = posted.thread {
            return Some(t);
        }
        let name = posted.name.clone();
        let thread = match posted
            .channel
            .create_thread_from_message(&*self.http, posted.message, CreateThread::new(name))
            .await
        {
            Ok(t) => t.id,
            Err(e) => {
                // Without Create Public Threads the lines go under the head instead.
                tracing::warn!(error = %e, "discord: cannot start a thread (permission Create Public Threads?); posting in the channel");
                posted.channel
            }
        };
        if let Some(p) = self.out.get_mut(id) {
            p.thread = Some(thread);
        }
        Some(thread)
    }

    async fn send_post(&mut self, channel: ChannelId, reply: Reply, thread: Option<ChannelId>) {
        let id = reply.id;
        let http = &*self.http;
        let post = move |d: Drawn| channel.send_message(http, d.post());
        match sending(embeds::draw(&reply), post).await {
            Ok(message) => {
                if let Some(id) = id {
                    self.out.posted(
                        id,
                        Posted {
                            channel,
                            message: message.id,
                            thread,
                            name: thread_name(&reply.text),
                        },
                    );
                }
            }
            Err(e) => tracing::warn!(
                %channel,
                error = %e,
                "discord: posting failed; the reply is lost (can the bot Send Messages there?)"
            ),
        }
    }

    async fn send_edit(&mut self, id: MessageId) {
        let Some((reply, posted)) = self.out.take_edit(id, "discord") else {
            return;
        };
        let (channel, message) = (posted.channel, posted.message);
        let http = &*self.http;
        let edit = move |d: Drawn| channel.edit_message(http, message, d.edit());
        if let Err(e) = sending(embeds::draw(&reply), edit).await {
            tracing::warn!(%channel, error = %e, "discord: editing a message failed");
        }
    }
}

/// Sends `drawn` with `send`; when Discord refuses its file, again without it:
/// the message matters more than its file.
async fn sending<T, F>(drawn: Drawn, send: impl Fn(Drawn) -> F) -> serenity::Result<T>
where
    F: std::future::Future<Output = serenity::Result<T>>,
{
    if drawn.file.is_none() {
        return send(drawn).await;
    }
    match send(drawn.clone()).await {
        Err(e) if file_refused(&e) => {
            tracing::warn!(
                error = %e,
                "discord: the file was refused (can the bot Attach Files there?); sending without it"
            );
            send(drawn.without_file()).await
        }
        sent => sent,
    }
}

/// Discord refused a message for its file: no Attach Files permission (403),
/// or a file over the server's limit (413). Anything else would fail again.
fn file_refused(e: &serenity::Error) -> bool {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            matches!(r.status_code.as_u16(), 403 | 413)
        }
        _ => false,
    }
}

/// The channel a conversation's new messages go to: its thread when it has one.
fn channel_of(origin: &Origin) -> Option<ChannelId> {
    let id = origin.thread.as_deref().unwrap_or(&origin.channel);
    match id.parse::<u64>() {
        Ok(n) if n != 0 => Some(ChannelId::new(n)),
        _ => {
            tracing::warn!(id, "discord: not a channel id; the reply is dropped");
            None
        }
    }
}

/// A thread's name: the head's first line, within Discord's 100 characters.
fn thread_name(head: &str) -> String {
    let line = head.lines().next().unwrap_or_default().trim();
    let name: String = line.chars().take(100).collect();
    if name.is_empty() {
        "dockhand".into()
    } else {
        name
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
                // A thread is a channel of its own on Discord.
                let in_thread = out.origin.thread.is_some();
                let Some(channel) = channel_of(&out.origin) else {
                    return;
                };
                let thread = (in_thread || out.origin.direct).then_some(channel);
                self.send_post(channel, out.reply, thread).await
            }
            Placement::Thread(id) => {
                let Some(channel) = self.thread_of(id, &out.origin).await else {
                    return;
                };
                self.send_post(channel, out.reply, Some(channel)).await
            }
        }
    }

    async fn edit(&mut self, id: MessageId) {
        self.send_edit(id).await
    }

    async fn direct(&mut self, d: Direct) {
        let http = &*self.http;
        let result = match d {
            Direct::Answer { interaction, reply } => {
                let answer = |d: Drawn| interaction.edit_response(http, d.answer());
                sending(embeds::draw(&reply), answer).await.map(|_| ())
            }
            Direct::Refuse { interaction, text } => {
                let message = Drawn {
                    content: crate::message::cut(&text, embeds::CONTENT_MAX),
                    embeds: Vec::new(),
                    components: Vec::new(),
                    file: None,
                }
                .respond()
                .ephemeral(true);
                interaction
                    .create_response(http, CreateInteractionResponse::Message(message))
                    .await
            }
            Direct::Settle {
                interaction,
                prompt,
                note,
            } => {
                let update = embeds::settled(&prompt, &note).respond();
                interaction
                    .create_response(http, CreateInteractionResponse::UpdateMessage(update))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "discord: an interaction answer failed");
        }
    }
}
