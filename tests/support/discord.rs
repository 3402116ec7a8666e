//! A local server that speaks Discord's protocol, for the adapter's protocol tests.
//!
//! REST on `http://127.0.0.1:PORT/api/v10/...` (what serenity calls for the adapter:
//! `GET /gateway`, `GET /users/@me`, `PUT` application commands, `POST`/`PATCH`
//! channel messages, `POST .../threads`, `POST /interactions/{id}/{token}/callback`,
//! `PATCH /webhooks/{app}/{token}/messages/@original`), and the gateway websocket on
//! `/gw`: HELLO on connect, IDENTIFY -> READY, RESUME -> RESUMED, heartbeats
//! acknowledged, dispatches pushed by the test, and dropped connections on demand.
//! A request without the bot token the server was started with is answered 401.
//!
//! serenity 0.12's model structs are `#[non_exhaustive]`, so they cannot be built
//! outside serenity. Payloads are therefore written here as JSON following
//! Discord's documentation, and every one is parsed into serenity's own model type
//! (`Message`, `Interaction`, `Ready`, `CurrentUser`, `GuildChannel`, `Command`) and
//! serialized back from it before it is sent: a payload that does not have the
//! shape serenity reads fails the test here, not somewhere inside the client.
//! Interactions are the exception (see `checked`): parsed, then sent as written.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serenity::all::{Command, CurrentUser, GuildChannel, Interaction, Message, Ready};
use tokio::sync::{Notify, mpsc};

pub const BOT: u64 = 900_000_000_000_000_001;
pub const APP: u64 = 900_000_000_000_000_002;
pub const GUILD: u64 = 900_000_000_000_000_003;

/// One REST call as the server received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The id the server gave a created message or thread.
    pub id: Option<u64>,
}

impl Call {
    pub fn content(&self) -> String {
        self.body["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

enum Push {
    Frame(String),
    Close,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    identifies: Vec<Value>,
    resumes: usize,
    sockets: Vec<(u64, mpsc::UnboundedSender<Push>)>,
    next_socket: u64,
    /// Dispatches sent while no session was up: Discord replays them on resume.
    queued: VecDeque<Value>,
    seq: u64,
    next_id: u64,
    /// Servers the bot is in besides `GUILD`, as READY lists them.
    other_guilds: Vec<u64>,
    /// Where events come from: `Some(GUILD)` unless a test says otherwise, `None`
    /// for a direct message.
    guild: Option<u64>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub base: String,
    /// The bot token the server accepts; any other is answered 401, as Discord does.
    token: Arc<str>,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

/// `value` parsed as serenity's `T` and written back: the shape serenity reads.
fn through<T: DeserializeOwned + Serialize>(value: Value) -> Value {
    let text = value.to_string();
    let model: T = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} rejects {text}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(model).unwrap();
    // What serenity writes it must read again: that is what the client gets.
    if let Err(e) = serde_json::from_value::<T>(back.clone()) {
        panic!(
            "{} does not read its own {back}: {e}",
            std::any::type_name::<T>()
        );
    }
    back
}

/// `value` checked to parse as serenity's `T`, and sent as written. For
/// `Interaction`: serenity 0.12.5 serializes an interaction into JSON it cannot read
/// back (a `type` goes missing), so the written form, checked, is what Discord sends.
fn checked<T: DeserializeOwned>(value: Value) -> Value {
    if let Err(e) = serde_json::from_value::<T>(value.clone()) {
        panic!("{} rejects {value}: {e}", std::any::type_name::<T>());
    }
    value
}

fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "global_name": null,
           "discriminator": "0", "avatar": null, "bot": bot})
}

fn member(id: u64, name: &str) -> Value {
    json!({"user": user(id, name, false), "roles": [], "joined_at": "2024-01-01T00:00:00Z",
           "deaf": false, "mute": false, "flags": 0})
}

impl FakeDiscord {
    /// A server on a free port that accepts the bot token `token`.
    pub async fn start(token: &str) -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let discord = FakeDiscord {
            base,
            token: token.into(),
            inner: Arc::new(Mutex::new(Inner {
                next_id: 1_000,
                guild: Some(GUILD),
                ..Inner::default()
            })),
            changed: Arc::default(),
        };
        let router = Router::new()
            .route("/api/v10/{*path}", any(api))
            .route("/gw", any(gateway))
            .with_state(discord.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        discord
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Calls whose `METHOD path` starts with `prefix` (ids included, e.g.
    /// `POST /channels/42/messages`).
    pub fn calls_of(&self, prefix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| format!("{} {}", c.method, c.path).starts_with(prefix))
            .collect()
    }

    pub fn identifies(&self) -> Vec<Value> {
        self.inner.lock().unwrap().identifies.clone()
    }

    /// Sessions started: identifies plus resumes.
    pub fn sessions(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner.identifies.len() + inner.resumes
    }

    pub fn resumes(&self) -> usize {
        self.inner.lock().unwrap().resumes
    }

    /// Waits until `done` holds (re-checked whenever a call or session arrives),
    /// or panics after `secs` with what was seen.
    pub async fn until<T>(
        &self,
        secs: u64,
        what: &str,
        mut done: impl FnMut(&FakeDiscord) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.changed.notified();
            if let Some(t) = done(self) {
                return t;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let seen: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| format!("{} {} {}", c.method, c.path, c.body))
                    .collect();
                panic!(
                    "timed out waiting for {what}; calls seen:\n{}",
                    seen.join("\n")
                );
            }
        }
    }

    fn next_id(&self) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        inner.next_id
    }

    fn record(&self, call: Call) {
        self.inner.lock().unwrap().calls.push(call);
        self.changed.notify_waiters();
    }

    /// Sends a dispatch on the open session, or holds it until the next one.
    fn dispatch(&self, kind: &str, d: Value) {
        let mut inner = self.inner.lock().unwrap();
        let event = json!({"op": 0, "t": kind, "d": d});
        if !send_dispatch(&mut inner, event.clone()) {
            inner.queued.push_back(event);
        }
    }

    /// The bot is also in `guild` (READY lists it), e.g. one it was invited to
    /// by someone else.
    pub fn also_in(&self, guild: u64) {
        self.inner.lock().unwrap().other_guilds.push(guild);
    }

    /// Events from now on come from `guild` (`None`: a direct message).
    pub fn events_from(&self, guild: Option<u64>) {
        self.inner.lock().unwrap().guild = guild;
    }

    fn guild(&self) -> Option<u64> {
        self.inner.lock().unwrap().guild
    }

    /// A message as Discord's MESSAGE_CREATE carries it.
    fn message_json(&self, id: u64, channel: u64, author: Value, content: &str) -> Value {
        json!({
            "id": id.to_string(), "channel_id": channel.to_string(),
            "guild_id": self.guild().map(|g| g.to_string()),
            "author": author, "content": content, "timestamp": "2024-01-01T00:00:00Z",
            "edited_timestamp": null, "tts": false, "mention_everyone": false,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0,
        })
    }

    /// A person's message in a guild channel.
    pub fn message(&self, channel: u64, user_id: u64, name: &str, text: &str) {
        let mut m = self.message_json(self.next_id(), channel, user(user_id, name, false), text);
        if self.guild().is_some() {
            m["member"] = json!({"roles": [], "joined_at": "2024-01-01T00:00:00Z",
                                 "deaf": false, "mute": false, "flags": 0});
        }
        self.dispatch("MESSAGE_CREATE", through::<Message>(m));
    }

    /// Another bot's message.
    pub fn bot_message(&self, channel: u64, text: &str) {
        let m = self.message_json(self.next_id(), channel, user(77, "otherbot", true), text);
        self.dispatch("MESSAGE_CREATE", through::<Message>(m));
    }

    /// The bot's own message, as the gateway echoes it.
    pub fn own_message(&self, channel: u64, text: &str) {
        let m = self.message_json(self.next_id(), channel, user(BOT, "dockhand", true), text);
        self.dispatch("MESSAGE_CREATE", through::<Message>(m));
    }

    /// In a server, the person comes as `member` and the context is 0 (GUILD); in
    /// a direct message with the bot, as `user` and the context is 1 (BOT_DM).
    fn interaction(&self, kind: u8, channel: u64, user_id: u64, name: &str, data: Value) -> Value {
        let id = self.next_id();
        let mut i = json!({
            "id": id.to_string(), "application_id": APP.to_string(), "type": kind,
            "data": data, "channel_id": channel.to_string(),
            "token": format!("token-{id}"), "version": 1,
            "locale": "en-US", "app_permissions": "0", "entitlements": [],
            "attachment_size_limit": 26_214_400, "authorizing_integration_owners": {},
        });
        match self.guild() {
            Some(g) => {
                i["guild_id"] = json!(g.to_string());
                i["member"] = member(user_id, name);
                i["context"] = json!(0);
            }
            None => {
                i["user"] = user(user_id, name, false);
                i["context"] = json!(1);
            }
        }
        i
    }

    /// `/dockhand <sub> option:value ...`; returns the interaction token.
    pub fn slash(
        &self,
        channel: u64,
        user_id: u64,
        name: &str,
        sub: &str,
        options: &[(&str, Value)],
    ) -> String {
        let options: Vec<Value> = options
            .iter()
            .map(|(n, v)| {
                let kind = if v.is_boolean() { 5 } else { 3 };
                json!({"name": n, "type": kind, "value": v})
            })
            .collect();
        self.command_interaction(2, channel, user_id, name, sub, options)
    }

    /// Typing `typed` into the string option `option` of `/dockhand <sub>`
    /// (APPLICATION_COMMAND_AUTOCOMPLETE); returns the interaction token.
    pub fn autocomplete(
        &self,
        channel: u64,
        user_id: u64,
        name: &str,
        sub: &str,
        option: &str,
        typed: &str,
    ) -> String {
        let focused = json!({"name": option, "type": 3, "value": typed, "focused": true});
        self.command_interaction(4, channel, user_id, name, sub, vec![focused])
    }

    /// An interaction of `kind` on `/dockhand <sub>` with `options`; returns its token.
    fn command_interaction(
        &self,
        kind: u8,
        channel: u64,
        user_id: u64,
        name: &str,
        sub: &str,
        options: Vec<Value>,
    ) -> String {
        let data = json!({"id": "555", "name": "dockhand", "type": 1,
            "options": [{"name": sub, "type": 1, "options": options}]});
        let i = self.interaction(kind, channel, user_id, name, data);
        let token = i["token"].as_str().unwrap().to_string();
        self.dispatch("INTERACTION_CREATE", checked::<Interaction>(i));
        token
    }

    /// A click on a button of the bot's message `message` (content `prompt`);
    /// returns the interaction token.
    pub fn click(
        &self,
        channel: u64,
        user_id: u64,
        name: &str,
        message: u64,
        prompt: &str,
        custom_id: &str,
    ) -> String {
        let data = json!({"custom_id": custom_id, "component_type": 2});
        let mut i = self.interaction(3, channel, user_id, name, data);
        i["message"] = self.message_json(message, channel, user(BOT, "dockhand", true), prompt);
        let token = i["token"].as_str().unwrap().to_string();
        self.dispatch("INTERACTION_CREATE", checked::<Interaction>(i));
        token
    }

    /// Drops every open gateway connection without a close frame.
    pub fn drop_connections(&self) {
        let mut inner = self.inner.lock().unwrap();
        for (_, tx) in inner.sockets.drain(..) {
            let _ = tx.send(Push::Close);
        }
    }
}

/// Sends on the newest socket that has a session; false when there is none.
fn send_dispatch(inner: &mut Inner, mut event: Value) -> bool {
    let Some((_, tx)) = inner.sockets.last() else {
        return false;
    };
    let tx = tx.clone();
    inner.seq += 1;
    event["s"] = json!(inner.seq);
    tx.send(Push::Frame(event.to_string())).is_ok()
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn api(
    State(discord): State<FakeDiscord>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let parts: Vec<&str> = path.split('/').collect();
    let mut created = None;
    let ok = StatusCode::OK;
    let signed = headers
        .get(AUTHORIZATION)
        .is_some_and(|h| h.as_bytes() == format!("Bot {}", discord.token).as_bytes());
    let response = match (method.as_str(), parts.as_slice()) {
        _ if !signed => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "401: Unauthorized", "code": 0}),
        ),
        ("GET", ["gateway"]) | ("GET", ["gateway", "bot"]) => json_response(
            ok,
            json!({"url": format!("{}/gw", discord.base.replace("http://", "ws://")),
                   "shards": 1,
                   "session_start_limit": {"total": 1000, "remaining": 1000,
                                           "reset_after": 0, "max_concurrency": 1}}),
        ),
        ("GET", ["users", "@me"]) => {
            let mut me = user(BOT, "dockhand", true);
            me["verified"] = json!(true);
            me["mfa_enabled"] = json!(false);
            json_response(ok, through::<CurrentUser>(me))
        }
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(discord.next_id().to_string());
                    c["application_id"] = json!(APP.to_string());
                    c["version"] = json!("1");
                    c["type"] = json!(1);
                    c
                })
                .collect();
            json_response(ok, through::<Vec<Command>>(json!(commands)))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let id = discord.next_id();
            created = Some(id);
            json_response(ok, bot_message(&discord, id, channel, &body))
        }
        ("PATCH", ["channels", channel, "messages", message]) => {
            let id = message.parse().unwrap_or(0);
            json_response(ok, bot_message(&discord, id, channel, &body))
        }
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            // A thread started from a message has the message's id.
            let id: u64 = message.parse().unwrap_or(0);
            created = Some(id);
            let thread = json!({
                "id": id.to_string(), "type": 11, "guild_id": GUILD.to_string(),
                "name": body["name"], "parent_id": channel, "owner_id": BOT.to_string(),
                "position": 0, "permission_overwrites": [], "nsfw": false,
                "thread_metadata": {"archived": false, "auto_archive_duration": 1440,
                                    "archive_timestamp": "2024-01-01T00:00:00Z", "locked": false},
            });
            json_response(ok, through::<GuildChannel>(thread))
        }
        ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        ("DELETE", ["users", "@me", "guilds", _]) => StatusCode::NO_CONTENT.into_response(),
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
            let id = discord.next_id();
            json_response(ok, bot_message(&discord, id, "1", &body))
        }
        ("POST", ["webhooks", _, _]) => {
            let id = discord.next_id();
            json_response(ok, bot_message(&discord, id, "1", &body))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "404: Not Found", "code": 0}),
        ),
    };
    discord.record(Call {
        method: method.to_string(),
        path: format!("/{path}"),
        body,
        id: created,
    });
    response
}

/// The message the bot posted, as Discord returns it.
fn bot_message(discord: &FakeDiscord, id: u64, channel: &str, body: &Value) -> Value {
    let channel = channel.parse().unwrap_or(1);
    let mut m = discord.message_json(
        id,
        channel,
        user(BOT, "dockhand", true),
        body["content"].as_str().unwrap_or_default(),
    );
    m["embeds"] = body.get("embeds").cloned().unwrap_or(json!([]));
    m["components"] = body.get("components").cloned().unwrap_or(json!([]));
    through::<Message>(m)
}

async fn gateway(State(discord): State<FakeDiscord>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| connection(discord, socket))
}

fn ready(discord: &FakeDiscord) -> Value {
    let mut me = user(BOT, "dockhand", true);
    me["verified"] = json!(true);
    me["mfa_enabled"] = json!(false);
    let mut guilds = vec![GUILD];
    guilds.extend(discord.inner.lock().unwrap().other_guilds.iter().copied());
    let guilds: Vec<Value> = guilds
        .iter()
        .map(|g| json!({"id": g.to_string(), "unavailable": true}))
        .collect();
    through::<Ready>(json!({
        "v": 10, "user": me, "guilds": guilds,
        "session_id": "session-1",
        "resume_gateway_url": format!("{}/gw", discord.base.replace("http://", "ws://")),
        "shard": [0, 1], "application": {"id": APP.to_string(), "flags": 0},
    }))
}

async fn connection(discord: FakeDiscord, mut socket: WebSocket) {
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null});
    if socket
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut inner = discord.inner.lock().unwrap();
        inner.next_socket += 1;
        inner.next_socket
    };
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Frame(f)) => {
                    if socket.send(WsMessage::Text(f.into())).await.is_err() { break; }
                }
                // Dropped without a close frame: what a network failure looks like.
                Some(Push::Close) | None => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(WsMessage::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                    let session = match v["op"].as_u64() {
                        Some(1) => {
                            let ack = json!({"op": 11, "d": null, "s": null, "t": null});
                            if socket.send(WsMessage::Text(ack.to_string().into())).await.is_err() { break; }
                            None
                        }
                        Some(2) => Some((json!({"op": 0, "t": "READY", "d": ready(&discord)}), Some(v["d"].clone()))),
                        Some(6) => Some((json!({"op": 0, "t": "RESUMED", "d": {}}), None)),
                        _ => None,
                    };
                    if let Some((event, identify)) = session {
                        let mut inner = discord.inner.lock().unwrap();
                        match identify {
                            Some(d) => inner.identifies.push(d),
                            None => inner.resumes += 1,
                        }
                        inner.sockets.push((id, tx.clone()));
                        send_dispatch(&mut inner, event);
                        let queued: Vec<Value> = inner.queued.drain(..).collect();
                        for e in queued {
                            send_dispatch(&mut inner, e);
                        }
                        drop(inner);
                        discord.changed.notify_waiters();
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    discord
        .inner
        .lock()
        .unwrap()
        .sockets
        .retain(|(i, _)| *i != id);
}
