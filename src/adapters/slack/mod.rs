//! The Slack adapter: Slack events in as `Inbound`, `Reply`s out as messages.
//!
//! ```text
//! Socket Mode (or HTTP) --callback--> Incoming --worker--> Dispatcher::handle
//!                           ack now                          |  replies, progress
//!                                                            v
//!                         chat.postMessage / chat.update <-- Deliverer
//! ```
//!
//! Callbacks only translate an envelope and queue it, so Slack gets its
//! acknowledgement within milliseconds, before any slow work (a name lookup, a
//! policy decision, AWS) starts. One worker turns queued events into dispatch
//! calls, in arrival order; one deliverer posts and edits (see `deliver.rs`).

pub mod blocks;
mod deliver;
pub mod http;
mod pace;

use std::collections::HashMap;
use std::sync::Arc;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::adapters::Wiring;
use crate::config::{self, SlackMode};
use crate::dispatch::{Click, Handle};
use crate::health::Health;
use crate::message::Outbound;
use crate::message::{Author, Origin, Platform, Via};
use deliver::{Deliverer, Direct};

pub use blocks::BUTTON_ACTION;

pub type Client = SlackClient<SlackClientHyperConnector<HttpsConnector<HttpConnector>>>;

/// Why the Slack adapter could not start; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack needs {0}; set it in the environment (see the README's Slack section)")]
    Missing(&'static str),
    #[error("Slack refused the bot token at auth.test ({0}); check SLACK_BOT_TOKEN (xoxb-...)")]
    Auth(String),
    #[error(
        "Socket Mode could not start ({0}); check SLACK_APP_TOKEN (xapp-..., scope connections:write)"
    )]
    Socket(String),
    #[error("cannot build an HTTP client for Slack: {0}")]
    Client(String),
    #[error("cannot listen for Slack events on {addr}: {error}")]
    Listen { addr: String, error: String },
}

pub(crate) fn ts_of(ts: &str) -> SlackTs {
    SlackTs(ts.to_string())
}

/// An event taken from Slack, owned, waiting for the worker.
#[derive(Debug)]
pub(crate) enum Incoming {
    Message {
        /// What names this delivery across replicas: Slack may deliver an
        /// event again to another replica's connection (see `work`).
        key: String,
        channel: String,
        user: String,
        text: String,
        thread: Option<String>,
        direct: bool,
        via: Via,
    },
    /// A button: its value is the command, sent as if its presser typed it.
    Click {
        key: String,
        channel: String,
        user: String,
        name: Option<String>,
        message_ts: String,
        thread: Option<String>,
        prompt: String,
        command: String,
    },
}

/// What the callbacks need: who the bot is, and where to queue events.
pub(crate) struct Shared {
    bot_user: String,
    bot_id: Option<String>,
    allow_bots: bool,
    inbox: crate::adapters::Inbox<Incoming>,
    health: Health,
    /// Messages already taken, by channel and timestamp (F2).
    /// Messages taken, by channel and timestamp (and event and trigger ids):
    /// Slack delivers an event again when it thinks the first delivery was not
    /// acknowledged in time (Socket Mode and HTTP mode alike); a command must not
    /// run twice for it.
    seen: std::sync::Mutex<crate::message::Recent<(String, String)>>,
    /// The latest slash command's response URL per channel, for the deliverer.
    answer_urls: AnswerUrls,
}

/// Where a channel's latest `/dockhand` can still be answered when the bot may
/// not post there (it is not a member): Slack's `response_url`, valid for 30
/// minutes. Without it, a slash command from such a channel would run and its
/// every reply be lost (F1).
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerUrls(
    Arc<std::sync::Mutex<HashMap<String, (SlackResponseUrl, tokio::time::Instant)>>>,
);

impl AnswerUrls {
    /// How long Slack accepts answers on a response URL.
    const VALID: std::time::Duration = std::time::Duration::from_secs(30 * 60);

    fn remember(&self, channel: &str, url: SlackResponseUrl) {
        let mut urls = self.0.lock().expect("answer urls lock");
        let now = tokio::time::Instant::now();
        urls.retain(|_, (_, at)| now.duration_since(*at) < Self::VALID);
        urls.insert(channel.to_string(), (url, now));
    }

    pub(crate) fn get(&self, channel: &str) -> Option<SlackResponseUrl> {
        let urls = self.0.lock().expect("answer urls lock");
        urls.get(channel)
            .filter(|(_, at)| at.elapsed() < Self::VALID)
            .map(|(url, _)| url.clone())
    }
}

impl Shared {
    /// Whether `key` (a message's timestamp, an event or trigger id) is new in
    /// `scope` (its channel, or `event`/`trigger`); remembers it.
    fn first(&self, scope: &str, key: &str) -> bool {
        self.seen
            .lock()
            .expect("seen lock")
            .first(&(scope.to_string(), key.to_string()))
    }

    /// A message event as a command, or `None` for everything the bot must ignore:
    /// its own messages, other bots' (unless allowed), edits and joins, and mentions
    /// (they come again as `app_mention`, answered once there).
    fn message(&self, ev: &SlackMessageEvent) -> Option<Incoming> {
        // Edits (`message_changed`), joins and the like are not commands: an
        // edited message never runs again (F2).
        if ev.subtype.is_some() {
            return None;
        }
        let user = ev.sender.user.as_ref()?.to_string();
        if user == self.bot_user {
            return None;
        }
        if let Some(bot) = &ev.sender.bot_id
            && (Some(bot.to_string()) == self.bot_id || !self.allow_bots)
        {
            return None;
        }
        let text = ev.content.as_ref()?.text.clone()?;
        let channel = ev.origin.channel.as_ref()?.to_string();
        let direct = matches!(ev.origin.channel_type, Some(ref t) if t.0 == "im");
        let mention = format!("<@{}>", self.bot_user);
        let (text, via) = if direct {
            (
                after_mention(&text, &mention).unwrap_or(&text).to_string(),
                Via::Addressed,
            )
        } else if text.trim_start().starts_with(&mention) {
            return None;
        } else {
            (text, Via::Message)
        };
        if !self.first(&channel, ev.origin.ts.as_ref()) {
            return None;
        }
        Some(Incoming::Message {
            key: format!("slack/{channel}/{}", ev.origin.ts),
            channel,
            user,
            text,
            thread: ev.origin.thread_ts.as_ref().map(|t| t.to_string()),
            direct,
            via,
        })
    }

    /// An `app_mention` as a command, only when the mention leads the message (as
    /// on Discord): Slack sends one for a mention anywhere, and "ask <@bot> to
    /// deploy hubot v2 later" is talk about the bot, not a command (F3). An edited
    /// message's mention and a redelivered one are dropped too.
    fn mention(&self, ev: &SlackAppMentionEvent) -> Option<Incoming> {
        let user = ev.user.to_string();
        if user == self.bot_user || ev.edited.is_some() {
            return None;
        }
        let text = ev.content.text.clone().unwrap_or_default();
        let mention = format!("<@{}>", self.bot_user);
        let command = after_mention(&text, &mention)?.to_string();
        let channel = ev.channel.to_string();
        if !self.first(&channel, ev.origin.ts.as_ref()) {
            return None;
        }
        Some(Incoming::Message {
            key: format!("slack/{channel}/{}", ev.origin.ts),
            channel,
            user,
            text: command,
            thread: ev.origin.thread_ts.as_ref().map(|t| t.to_string()),
            direct: false,
            via: Via::Addressed,
        })
    }

    fn command(&self, ev: &SlackCommandEvent) -> Incoming {
        let channel = ev.channel_id.to_string();
        Incoming::Message {
            key: format!("slack/trigger/{}", ev.trigger_id),
            direct: channel.starts_with('D'),
            channel,
            user: ev.user_id.to_string(),
            text: ev.text.clone().unwrap_or_default(),
            thread: None,
            via: Via::Addressed,
        }
    }

    fn click(&self, ev: &SlackInteractionBlockActionsEvent) -> Option<Incoming> {
        let action = ev
            .actions
            .as_ref()?
            .iter()
            .find(|a| a.action_id.0 == BUTTON_ACTION)?;
        let SlackInteractionActionContainer::Message(container) = &ev.container else {
            return None;
        };
        let user = ev.user.as_ref()?;
        let channel = ev
            .channel
            .as_ref()
            .map(|c| c.id.to_string())
            .or_else(|| container.channel_id.as_ref().map(|c| c.to_string()))?;
        let message = ev.message.as_ref();
        Some(Incoming::Click {
            key: format!("slack/trigger/{}", ev.trigger_id),
            channel,
            user: user.id.to_string(),
            name: user.username.clone().or_else(|| user.name.clone()),
            message_ts: container.message_ts.to_string(),
            thread: message.and_then(|m| m.origin.thread_ts.as_ref().map(|t| t.to_string())),
            prompt: message
                .and_then(|m| m.content.text.clone())
                .unwrap_or_default(),
            command: action.value.clone()?,
        })
    }

    fn queue(&self, incoming: Option<Incoming>) {
        if let Some(i) = incoming {
            self.inbox.offer(i);
        }
    }

    /// Takes any Events API callback: the same for Socket Mode and HTTP mode.
    /// An event id seen before (Slack's retry, or a captured request replayed
    /// within the signature's five minutes, F14) is dropped.
    pub(crate) fn push(&self, event: &SlackPushEventCallback) {
        if !self.first("event", event.event_id.as_ref()) {
            return;
        }
        match &event.event {
            SlackEventCallbackBody::Message(m) => self.queue(self.message(m)),
            SlackEventCallbackBody::AppMention(m) => self.queue(self.mention(m)),
            _ => {}
        }
    }

    /// A click, once per trigger id (a replayed request is dropped).
    pub(crate) fn interaction(&self, event: &SlackInteractionEvent) {
        if let SlackInteractionEvent::BlockActions(b) = event
            && self.first("trigger", b.trigger_id.as_ref())
        {
            self.queue(self.click(b));
        }
    }

    /// A slash command, once per trigger id (a replayed request is dropped).
    pub(crate) fn slash(&self, event: &SlackCommandEvent) {
        if self.first("trigger", event.trigger_id.as_ref()) {
            self.answer_urls
                .remember(event.channel_id.as_ref(), event.response_url.clone());
            self.queue(Some(self.command(event)));
        }
    }
}

/// The text after the bot's mention (`<@U0BOT> deploy x` -> `deploy x`).
/// The text after a mention that leads it, or `None` when it does not lead.
fn after_mention<'a>(text: &'a str, mention: &str) -> Option<&'a str> {
    text.trim_start()
        .strip_prefix(mention)
        .map(|rest| rest.trim_start())
}

/// Builds the Web API client: https for Slack, plain http allowed for a local
/// server (tests point `api_url` at one).
pub fn client(api_url: &str) -> Result<Arc<Client>, SlackError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| SlackError::Client(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    // The adapter's own calls (auth.test, users.info, apps.connections.open, a
    // response URL) wait out a 429's Retry-After and go again, up to 3 times. No
    // tier paces them (slack-morphism would count tiers per team only, and a bot
    // token names none). Replies do not go through this rate control: it holds
    // chat.postMessage to one a second for all channels together, and sleeps out
    // a 429 inside the call, where no answer can overtake it. The deliverer
    // paces and retries them itself, per channel and per method (`pace`), on a
    // copy of this connector.
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url)
        .with_rate_control(
            SlackApiRateControlConfig::new()
                .with_max_retries(3)
                .with_tiers_limits(HashMap::new()),
        );
    Ok(Arc::new(SlackClient::new(connector)))
}

/// Runs the Slack adapter until `wiring.stop` is cancelled, then stops listening and
/// returns once its deliverer has drained (see `adapters`).
pub async fn run(config: &config::Slack, wiring: Wiring) -> Result<(), SlackError> {
    let Wiring {
        handler,
        outbox,
        replies,
        health,
        stop: shutdown,
        replicas,
    } = wiring;
    let bot_token = config
        .bot_token
        .as_ref()
        .ok_or(SlackError::Missing("SLACK_BOT_TOKEN (xoxb-...)"))?;
    let token = SlackApiToken::new(bot_token.expose().into());
    let client = client(&config.api_url)?;
    let me = client
        .open_session(&token)
        .auth_test()
        .await
        .map_err(|e| SlackError::Auth(e.to_string()))?;
    tracing::info!(user = %me.user_id, team = %me.team, "slack: signed in");

    let (inbox_tx, inbox_rx) = crate::adapters::Inbox::new("slack");
    let answer_urls = AnswerUrls::default();
    let shared = Arc::new(Shared {
        bot_user: me.user_id.to_string(),
        bot_id: me.bot_id.as_ref().map(|b| b.to_string()),
        allow_bots: config.allow_bots,
        inbox: inbox_tx,
        health: health.clone(),
        seen: Default::default(),
        answer_urls: answer_urls.clone(),
    });
    let (direct_tx, direct_rx) = mpsc::unbounded_channel::<Direct>();
    let deliverer = tokio::spawn(crate::adapters::edits::deliver(
        Deliverer::new(Arc::clone(&client), token.clone(), answer_urls),
        replies,
        direct_rx,
    ));
    let worker = Worker {
        handler,
        replicas,
        names: Names {
            client: Arc::clone(&client),
            token,
            team: me.team_id.to_string(),
            known: HashMap::new(),
        },
        allow_bots: config.allow_bots,
    };
    let worker = tokio::spawn(work(inbox_rx, worker, outbox, direct_tx));

    let listened = match &config.mode {
        SlackMode::Socket => socket_mode(config, &client, Arc::clone(&shared), &shutdown).await,
        SlackMode::Http { listen } => {
            let secret = config
                .signing_secret
                .as_ref()
                .ok_or(SlackError::Missing("SLACK_SIGNING_SECRET (HTTP mode)"))?;
            http::serve(listen, secret, Arc::clone(&shared), &shutdown).await
        }
    };
    // No more events: the worker ends once its queue is empty, and the deliverer
    // once every operation the worker started has sent its last reply.
    drop(shared);
    let _ = worker.await;
    let _ = deliverer.await;
    listened
}

async fn socket_mode(
    config: &config::Slack,
    client: &Arc<Client>,
    shared: Arc<Shared>,
    shutdown: &CancellationToken,
) -> Result<(), SlackError> {
    let app_token = config.app_token.as_ref().ok_or(SlackError::Missing(
        "SLACK_APP_TOKEN (xapp-...) for Socket Mode",
    ))?;
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_hello_events(on_hello)
        .with_push_events(on_push)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let health = shared.health.clone();
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(Arc::clone(client))
            .with_error_handler(on_error)
            .with_user_state(shared),
    );
    // One connection, reconnecting after 2 s: a dropped socket costs seconds, not
    // the library's default 30.
    let socket_config = SlackClientSocketModeConfig::new()
        .with_max_connections_count(1)
        .with_reconnect_timeout_in_seconds(2);
    let listener = SlackClientSocketModeListener::new(&socket_config, environment, callbacks);
    listener
        .listen_for(&SlackApiToken::new(app_token.expose().into()))
        .await
        .map_err(|e| SlackError::Socket(e.to_string()))?;
    listener.start().await;
    tracing::info!("slack: listening over Socket Mode");
    shutdown.cancelled().await;
    listener.shutdown().await;
    health.report("slack", false);
    Ok(())
}

/// Socket Mode's `hello`: connected (again). Generic because slack-morphism does not
/// export the event's type.
async fn on_hello<E: Send + 'static>(
    _event: E,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) {
    if let Some(s) = shared(&states).await {
        s.health.report("slack", true);
    }
}

async fn shared(states: &SlackClientEventsUserState) -> Option<Arc<Shared>> {
    states.read().await.get_user_state::<Arc<Shared>>().cloned()
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(s) = shared(&states).await {
        s.push(&event);
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if let Some(s) = shared(&states).await {
        s.slash(&event);
    }
    // The answer follows as a message; the acknowledgement carries none, so Slack
    // shows nothing twice.
    Ok(SlackCommandEventResponse::new(SlackMessageContent::new()))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(s) = shared(&states).await {
        s.interaction(&event);
    }
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<Client>,
    states: SlackClientEventsUserState,
) -> HttpStatusCode {
    tracing::warn!(error = %err, "slack: event error");
    // A socket error ends that connection; the next `hello` marks it up again.
    if let Some(slack_morphism::errors::SlackClientError::SocketModeProtocolError(_)) =
        err.downcast_ref::<slack_morphism::errors::SlackClientError>()
    {
        // Called outside async code: a state that is being written is skipped (the
        // next hello or error reports again).
        if let Some(s) = states
            .try_read()
            .ok()
            .and_then(|st| st.get_user_state::<Arc<Shared>>().cloned())
        {
            s.health.report("slack", false);
        }
    }
    HttpStatusCode::OK
}

/// What `users.info` says about someone who addressed the bot.
#[derive(Debug, Clone)]
struct Person {
    /// A display name, so "asked by @alice" reads as a name; the identity used
    /// for rules and audit stays the id.
    name: Arc<str>,
    /// A bot user: `allow_bots = false` holds for its mentions too (F3), which
    /// Slack's app_mention event does not mark.
    bot: bool,
    /// From another team than the installed one (Slack Connect, F1).
    external: bool,
}

/// People by user id, looked up once.
struct Names {
    client: Arc<Client>,
    token: SlackApiToken,
    /// The installed team (auth.test).
    team: String,
    known: HashMap<String, Person>,
}

impl Names {
    async fn of(&mut self, user: &str) -> Person {
        if let Some(p) = self.known.get(user) {
            return p.clone();
        }
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.to_string()));
        let person = match self.client.open_session(&self.token).users_info(&req).await {
            Ok(res) => {
                let u = res.user;
                let profile = u.profile.as_ref();
                Person {
                    name: profile
                        .and_then(|p| p.display_name.clone().filter(|n| !n.is_empty()))
                        .or_else(|| u.name.clone())
                        .or_else(|| profile.and_then(|p| p.real_name.clone()))
                        .unwrap_or_else(|| user.to_string())
                        .into(),
                    bot: u.flags.is_bot == Some(true),
                    external: u.team_id.as_ref().is_some_and(|t| t.as_ref() != self.team),
                }
            }
            Err(e) => {
                tracing::debug!(user, error = %e, "slack: users.info failed; the id stands in");
                Person {
                    name: user.into(),
                    bot: false,
                    external: false,
                }
            }
        };
        if self.known.len() > 10_000 {
            self.known.clear();
        }
        self.known.insert(user.to_string(), person.clone());
        person
    }
}

/// What the worker needs besides its queues.
struct Worker {
    handler: Arc<dyn Handle>,
    replicas: Arc<dyn crate::adapters::lease::Replicas>,
    names: Names,
    allow_bots: bool,
}

/// Whether another replica already took this delivery. Slack sends an event
/// again when it saw no acknowledgement in time, over HTTP to whichever
/// replica the load balancer picks and over Socket Mode to any of the app's
/// connections; each replica's own memory of what it took cannot see the
/// other's. Asked only for commands, so chatter costs no write.
async fn taken_elsewhere(replicas: &dyn crate::adapters::lease::Replicas, key: String) -> bool {
    replicas.shared() && !replicas.first_seen(key).await
}

async fn work(
    mut inbox: mpsc::Receiver<Incoming>,
    worker: Worker,
    outbox: mpsc::UnboundedSender<Outbound>,
    direct: mpsc::UnboundedSender<Direct>,
) {
    let Worker {
        handler,
        replicas,
        mut names,
        allow_bots,
    } = worker;
    while let Some(incoming) = inbox.recv().await {
        match incoming {
            Incoming::Message {
                key,
                channel,
                user,
                text,
                thread,
                direct: dm,
                via,
            } => {
                let origin = Origin {
                    platform: Platform::Slack,
                    channel: channel.into(),
                    thread: thread.map(Into::into),
                    direct: dm,
                };
                // Chatter is turned away before any lookup.
                if !handler.addressed(&text, via) || taken_elsewhere(&*replicas, key).await {
                    continue;
                }
                let person = names.of(&user).await;
                if person.bot && !allow_bots {
                    continue;
                }
                let author = Author {
                    external: person.external,
                    id: user.into(),
                    name: person.name,
                };
                crate::adapters::answer(&*handler, origin, &author, via, &text, &outbox);
            }
            Incoming::Click {
                key,
                channel,
                user,
                name,
                message_ts,
                thread,
                prompt,
                command,
            } => {
                if taken_elsewhere(&*replicas, key).await {
                    continue;
                }
                let person = names.of(&user).await;
                let name: Arc<str> = match name {
                    Some(n) => n.into(),
                    None => person.name,
                };
                let origin = Origin {
                    platform: Platform::Slack,
                    channel: channel.as_str().into(),
                    thread: thread.as_deref().map(Into::into),
                    direct: channel.starts_with('D'),
                };
                let author = Author {
                    external: person.external,
                    id: user.as_str().into(),
                    name: Arc::clone(&name),
                };
                let note =
                    match crate::adapters::click(&*handler, &origin, &author, &command, &outbox) {
                        Click::Settled(note) => note,
                        Click::Refused(text) => {
                            // Only the clicker hears why; the buttons stay for the right person.
                            let _ = direct.send(Direct::Ephemeral {
                                channel,
                                user,
                                thread,
                                text,
                            });
                            continue;
                        }
                    };
                let _ = direct.send(Direct::Settle {
                    channel,
                    ts: message_ts,
                    prompt,
                    note,
                });
            }
        }
    }
}
