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
//! Files come as Discord takes them ("Uploading Files" in its reference): a
//! `multipart/form-data` body of a `payload_json` part (the JSON body) and one
//! `files[n]` part per file, each named by the `attachments` entry whose id is
//! `n`. The form is parsed exactly as serenity (reqwest) writes it (see
//! `multipart`); the server keeps each message's attachments with their bytes,
//! answers with `attachments: [{id, filename, size, url, proxy_url, ...}]`, and
//! keeps Discord's limits (10 files a message, 8 MiB a file). An edit with an
//! `attachments` list keeps the listed ones and adds its uploads; one without
//! leaves the message's files as they were.
//!
//! serenity 0.12's model structs are `#[non_exhaustive]`, so they cannot be built
//! outside serenity. Payloads are therefore written here as JSON following
//! Discord's documentation, and every one is parsed into serenity's own model type
//! (`Message`, `Interaction`, `Ready`, `CurrentUser`, `GuildChannel`, `Command`) and
//! serialized back from it before it is sent: a payload that does not have the
//! shape serenity reads fails the test here, not somewhere inside the client.
//! Interactions are the exception (see `checked`): parsed, then sent as written.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
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

/// Files in one message: Discord's limit.
pub const FILES_MAX: usize = 10;
/// Bytes in one file: what Discord takes from a bot in any server.
pub const FILE_MAX: usize = 8 * 1024 * 1024;

/// One REST call as the server received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The JSON body; of a `multipart/form-data` request, its `payload_json`.
    pub body: Value,
    /// The files uploaded with it (`files[n]` parts), in order: with the ids
    /// the message's attachments got, or id 0 where the request was refused.
    pub files: Vec<File>,
    /// The id the server gave a created message or thread.
    pub id: Option<u64>,
    /// The status it was answered with.
    pub status: u16,
    /// Why it was refused, when it was (a malformed form, a file over a limit).
    pub refused: Option<String>,
}

impl Call {
    pub fn content(&self) -> String {
        self.body["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Everything it said, as text for the secret scan: the body, then each
    /// file's bytes (lossily, as UTF-8).
    pub fn texts(&self) -> Vec<String> {
        let mut texts = vec![self.body.to_string()];
        texts.extend(
            self.files
                .iter()
                .map(|f| String::from_utf8_lossy(&f.bytes).into_owned()),
        );
        texts
    }
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The attachment id the server gave it.
    pub id: u64,
    pub filename: String,
    /// The part's `Content-Type`, when it had one.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

impl File {
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("a text file")
    }

    /// The attachment object of a message, as Discord answers it.
    fn json(&self, channel: u64) -> Value {
        let path = format!("attachments/{channel}/{}/{}", self.id, self.filename);
        let mut a = json!({
            "id": self.id.to_string(), "filename": self.filename, "size": self.bytes.len(),
            "url": format!("https://cdn.discordapp.com/{path}"),
            "proxy_url": format!("https://media.discordapp.net/{path}"),
        });
        if let Some(t) = &self.content_type {
            a["content_type"] = json!(t);
        }
        a
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
    /// The files of each message the bot posted, by message id.
    attachments: HashMap<u64, Vec<File>>,
    /// The message id of each interaction's original response, by token.
    originals: HashMap<String, u64>,
    /// Uploads are refused as in a channel where the bot lacks Attach Files.
    refuse_files: bool,
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
            // axum's 2 MB default would refuse a file Discord takes.
            .layer(DefaultBodyLimit::max(FILES_MAX * FILE_MAX + (1 << 20)))
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
                    .map(|c| {
                        let files: Vec<String> = c
                            .files
                            .iter()
                            .map(|f| format!("{} ({} bytes)", f.filename, f.bytes.len()))
                            .collect();
                        format!(
                            "{} {} {} {} files {files:?} refused {:?}",
                            c.status, c.method, c.path, c.body, c.refused
                        )
                    })
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

    /// The files message `message` has now.
    pub fn attachments(&self, message: u64) -> Vec<File> {
        let inner = self.inner.lock().unwrap();
        inner.attachments.get(&message).cloned().unwrap_or_default()
    }

    /// From now on a request with files is refused (403, Missing Permissions),
    /// as Discord does where the bot lacks Attach Files.
    pub fn refuse_files(&self) {
        self.inner.lock().unwrap().refuse_files = true;
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

    /// The gateway sessions open now.
    pub fn connections(&self) -> usize {
        self.inner.lock().unwrap().sockets.len()
    }

    /// Drops every open gateway connection without a close frame.
    pub fn drop_connections(&self) {
        let mut inner = self.inner.lock().unwrap();
        for (_, tx) in inner.sockets.drain(..) {
            let _ = tx.send(Push::Close);
        }
    }
}

/// Sends to every socket that has a session, as Discord sends an unsharded
/// bot's events to each of its sessions (two connected replicas both get
/// every message); false when there is none.
fn send_dispatch(inner: &mut Inner, mut event: Value) -> bool {
    if inner.sockets.is_empty() {
        return false;
    }
    inner.seq += 1;
    event["s"] = json!(inner.seq);
    let frame = event.to_string();
    let mut sent = false;
    for (_, tx) in &inner.sockets {
        sent |= tx.send(Push::Frame(frame.clone())).is_ok();
    }
    sent
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        json!({"message": "401: Unauthorized", "code": 0}),
    )
}

/// A request the server refuses as Discord would: status, Discord's error code,
/// and why.
struct Refusal(StatusCode, u32, String);

impl Refusal {
    fn form(why: String) -> Refusal {
        Refusal(StatusCode::BAD_REQUEST, 50035, why)
    }

    fn response(&self) -> Response {
        let message = match self.1 {
            50013 => "Missing Permissions".to_string(),
            40005 => "Request entity too large".to_string(),
            _ => format!("Invalid Form Body ({})", self.2),
        };
        json_response(self.0, json!({"message": message, "code": self.1}))
    }
}

/// A `files[n]` part: `n`, and the file as sent.
struct Upload {
    index: u64,
    filename: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// The JSON body and the uploads of a request: a `multipart/form-data` form of
/// `payload_json` and `files[n]` parts, or a JSON body (anything else is `null`).
fn request(headers: &HeaderMap, raw: &[u8]) -> Result<(Value, Vec<Upload>), String> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(boundary) = multipart::boundary(content_type)? else {
        return Ok((
            serde_json::from_slice(raw).unwrap_or(Value::Null),
            Vec::new(),
        ));
    };
    let mut payload = None;
    let mut uploads: Vec<Upload> = Vec::new();
    for part in multipart::parse(raw, &boundary)? {
        if part.name == "payload_json" {
            if part.filename.is_some() || payload.is_some() {
                return Err("payload_json: one text part".into());
            }
            let v: Value = serde_json::from_slice(&part.data)
                .map_err(|e| format!("payload_json is not JSON: {e}"))?;
            payload = Some(v);
        } else if let Some(n) = part
            .name
            .strip_prefix("files[")
            .and_then(|r| r.strip_suffix(']'))
        {
            let index: u64 = n
                .parse()
                .map_err(|_| format!("{}: not files[<number>]", part.name))?;
            let filename = part
                .filename
                .filter(|f| !f.is_empty())
                .ok_or_else(|| format!("{}: a file part has a filename", part.name))?;
            if uploads.iter().any(|u| u.index == index) {
                return Err(format!("{} twice", part.name));
            }
            uploads.push(Upload {
                index,
                filename,
                content_type: part.content_type,
                bytes: part.data,
            });
        } else {
            return Err(format!("unexpected part {:?}", part.name));
        }
    }
    let payload = payload.ok_or("no payload_json part")?;
    Ok((payload, uploads))
}

/// A message's files once `body` and `uploads` are applied to `before` (its files
/// until now): `None` when the request leaves them as they were.
fn attach(
    discord: &FakeDiscord,
    body: &Value,
    uploads: Vec<Upload>,
    before: &[File],
) -> Result<Option<Vec<File>>, Refusal> {
    if !uploads.is_empty() && discord.inner.lock().unwrap().refuse_files {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            50013,
            "no Attach Files".into(),
        ));
    }
    if uploads.len() > FILES_MAX {
        return Err(Refusal::form(format!("more than {FILES_MAX} files")));
    }
    if let Some(u) = uploads.iter().find(|u| u.bytes.len() > FILE_MAX) {
        return Err(Refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            40005,
            format!("{} is over {FILE_MAX} bytes", u.filename),
        ));
    }
    let new = |u: &Upload, filename: Option<&str>| File {
        id: discord.next_id(),
        filename: filename.unwrap_or(&u.filename).to_string(),
        content_type: u.content_type.clone(),
        bytes: u.bytes.clone(),
    };
    let Some(listed) = body.get("attachments") else {
        // Without a list, every upload is added to what the message has.
        if uploads.is_empty() {
            return Ok(None);
        }
        let mut files = before.to_vec();
        files.extend(uploads.iter().map(|u| new(u, None)));
        return Ok(Some(files));
    };
    let listed = listed
        .as_array()
        .ok_or_else(|| Refusal::form("attachments is not a list".into()))?;
    let mut used = vec![false; uploads.len()];
    let mut files = Vec::new();
    for (i, entry) in listed.iter().enumerate() {
        let id = entry["id"]
            .as_u64()
            .or_else(|| entry["id"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| Refusal::form(format!("attachments.{i}.id")))?;
        if let Some(at) = uploads.iter().position(|u| u.index == id) {
            used[at] = true;
            files.push(new(&uploads[at], entry["filename"].as_str()));
        } else if let Some(kept) = before.iter().find(|f| f.id == id) {
            files.push(kept.clone());
        } else {
            return Err(Refusal::form(format!(
                "attachments.{i}: ATTACHMENT_NOT_FOUND ({id})"
            )));
        }
    }
    if let Some(at) = used.iter().position(|u| !u) {
        return Err(Refusal::form(format!(
            "files[{}] is in no attachments entry",
            uploads[at].index
        )));
    }
    if files.len() > FILES_MAX {
        return Err(Refusal::form(format!("more than {FILES_MAX} attachments")));
    }
    Ok(Some(files))
}

async fn api(
    State(discord): State<FakeDiscord>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let mut call = Call {
        method: method.to_string(),
        path: format!("/{path}"),
        body: Value::Null,
        files: Vec::new(),
        id: None,
        status: 0,
        refused: None,
    };
    let signed = headers
        .get(AUTHORIZATION)
        .is_some_and(|h| h.as_bytes() == format!("Bot {}", discord.token).as_bytes());
    let response = match request(&headers, &raw) {
        Ok((body, _)) if !signed => {
            call.body = body;
            Ok(unauthorized())
        }
        _ if !signed => Ok(unauthorized()),
        Err(why) => Err(Refusal::form(why)),
        Ok((body, uploads)) => {
            call.body = body;
            // As received; the ones attached get their ids below. Refused files
            // are recorded too: their bytes went over the wire all the same.
            call.files = uploads
                .iter()
                .map(|u| File {
                    id: 0,
                    filename: u.filename.clone(),
                    content_type: u.content_type.clone(),
                    bytes: u.bytes.clone(),
                })
                .collect();
            route(&discord, &method, &parts, uploads, &mut call)
        }
    }
    .unwrap_or_else(|refusal| {
        call.refused = Some(refusal.2.clone());
        refusal.response()
    });
    call.status = response.status().as_u16();
    discord.record(call);
    response
}

/// The answer to a signed, well-formed request; `call` gets its body's effects
/// (a created id, the files attached).
fn route(
    discord: &FakeDiscord,
    method: &Method,
    parts: &[&str],
    uploads: Vec<Upload>,
    call: &mut Call,
) -> Result<Response, Refusal> {
    let ok = StatusCode::OK;
    let body = call.body.clone();
    // A message posted or edited: its files applied, then the message as Discord
    // answers it.
    let mut message = |id: u64, channel: &str, uploads: Vec<Upload>| {
        let before = discord.attachments(id);
        let files = attach(discord, &body, uploads, &before)?;
        if let Some(files) = &files {
            call.files = files
                .iter()
                .filter(|f| !before.iter().any(|b| b.id == f.id))
                .cloned()
                .collect();
            let mut inner = discord.inner.lock().unwrap();
            inner.attachments.insert(id, files.clone());
        }
        let files = files.unwrap_or(before);
        Ok(json_response(
            ok,
            bot_message(discord, id, channel, &body, &files),
        ))
    };
    let response = match (method.as_str(), parts) {
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
            let answer = message(id, channel, uploads)?;
            call.id = Some(id);
            answer
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            message(id.parse().unwrap_or(0), channel, uploads)?
        }
        ("POST", ["channels", channel, "messages", message, "threads"]) => {
            // A thread started from a message has the message's id.
            let id: u64 = message.parse().unwrap_or(0);
            call.id = Some(id);
            let thread = json!({
                "id": id.to_string(), "type": 11, "guild_id": GUILD.to_string(),
                "name": body["name"], "parent_id": channel, "owner_id": BOT.to_string(),
                "position": 0, "permission_overwrites": [], "nsfw": false,
                "thread_metadata": {"archived": false, "auto_archive_duration": 1440,
                                    "archive_timestamp": "2024-01-01T00:00:00Z", "locked": false},
            });
            json_response(ok, through::<GuildChannel>(thread))
        }
        ("POST", ["interactions", _, _, "callback"]) => {
            // The response message's files (none is sent today) are checked and recorded.
            let data = body.get("data").cloned().unwrap_or(Value::Null);
            if let Some(files) = attach(discord, &data, uploads, &[])? {
                call.files = files;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("DELETE", ["users", "@me", "guilds", _]) => StatusCode::NO_CONTENT.into_response(),
        ("PATCH", ["webhooks", _, token, "messages", "@original"]) => {
            // The original response is one message, whichever edit made it.
            let id = {
                let original = discord.inner.lock().unwrap().originals.get(*token).copied();
                original.unwrap_or_else(|| {
                    let id = discord.next_id();
                    let mut inner = discord.inner.lock().unwrap();
                    inner.originals.insert(token.to_string(), id);
                    id
                })
            };
            message(id, "1", uploads)?
        }
        ("POST", ["webhooks", _, _]) => message(discord.next_id(), "1", uploads)?,
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "404: Not Found", "code": 0}),
        ),
    };
    Ok(response)
}

/// The message the bot posted, as Discord returns it.
fn bot_message(
    discord: &FakeDiscord,
    id: u64,
    channel: &str,
    body: &Value,
    files: &[File],
) -> Value {
    let channel = channel.parse().unwrap_or(1);
    let mut m = discord.message_json(
        id,
        channel,
        user(BOT, "dockhand", true),
        body["content"].as_str().unwrap_or_default(),
    );
    m["embeds"] = body.get("embeds").cloned().unwrap_or(json!([]));
    m["components"] = body.get("components").cloned().unwrap_or(json!([]));
    m["attachments"] = json!(files.iter().map(|f| f.json(channel)).collect::<Vec<_>>());
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
                        // READY or RESUMED is this session's alone.
                        inner.seq += 1;
                        let mut event = event;
                        event["s"] = json!(inner.seq);
                        let _ = tx.send(Push::Frame(event.to_string()));
                        inner.sockets.push((id, tx.clone()));
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

/// `multipart/form-data` (RFC 7578) as reqwest writes it for serenity: a
/// `--BOUNDARY\r\n` before each part, `\r\n--BOUNDARY--\r\n` after the last; each
/// part's headers (`Content-Disposition: form-data; name="files[0]";
/// filename="x.txt"`, and a `Content-Type` for a file) end in a blank line, and
/// its bytes run to the `\r\n` before the next boundary.
pub mod multipart {
    /// One part of a form.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Part {
        pub name: String,
        pub filename: Option<String>,
        pub content_type: Option<String>,
        pub data: Vec<u8>,
    }

    /// The boundary of a `multipart/form-data` content type; `None` for any other
    /// type, an error for a form without a usable boundary.
    pub fn boundary(content_type: &str) -> Result<Option<String>, String> {
        let mut params = content_type.split(';');
        let essence = params.next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("multipart/form-data") {
            return Ok(None);
        }
        for p in params {
            let Some((key, value)) = p.split_once('=') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("boundary") {
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                // RFC 2046: 1 to 70 characters, not ending in a space.
                if value.is_empty() || value.len() > 70 || value.ends_with(' ') {
                    return Err(format!("a bad boundary {value:?}"));
                }
                return Ok(Some(value.to_string()));
            }
        }
        Err("multipart/form-data without a boundary".into())
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    /// The parts of `body`, in order.
    pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
        let first = format!("--{boundary}");
        let next = format!("\r\n--{boundary}");
        let mut rest = body
            .strip_prefix(first.as_bytes())
            .ok_or("the body does not start with its boundary")?;
        let mut parts = Vec::new();
        loop {
            if let Some(epilogue) = rest.strip_prefix(b"--") {
                if !epilogue.is_empty() && epilogue != b"\r\n" {
                    return Err("bytes after the closing boundary".into());
                }
                if parts.is_empty() {
                    return Err("a form without parts".into());
                }
                return Ok(parts);
            }
            rest = rest
                .strip_prefix(b"\r\n")
                .ok_or("a boundary not followed by CRLF")?;
            let end = find(rest, next.as_bytes()).ok_or("a part without a boundary after it")?;
            parts.push(part(&rest[..end])?);
            rest = &rest[end + next.len()..];
        }
    }

    fn part(raw: &[u8]) -> Result<Part, String> {
        let split =
            find(raw, b"\r\n\r\n").ok_or("a part without a blank line after its headers")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| "part headers not UTF-8")?;
        let mut disposition = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| format!("a bad part header {line:?}"))?;
            let value = value.trim().to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "content-disposition" if disposition.is_none() => disposition = Some(value),
                "content-type" if content_type.is_none() => content_type = Some(value),
                "content-disposition" | "content-type" => {
                    return Err(format!("{key} twice in a part"));
                }
                _ => {}
            }
        }
        let disposition = disposition.ok_or("a part without Content-Disposition")?;
        let (name, filename) = form_data(&disposition)?;
        Ok(Part {
            name,
            filename,
            content_type,
            data: raw[split + 4..].to_vec(),
        })
    }

    /// `form-data; name="..."[; filename="..."]`: the name and the filename. A
    /// quoted value may escape `"` and `\` with `\`; a name reqwest had to
    /// percent-encode comes as `name*=utf-8''...`.
    fn form_data(value: &str) -> Result<(String, Option<String>), String> {
        let rest = value
            .strip_prefix("form-data")
            .ok_or_else(|| format!("not form-data: {value:?}"))?;
        let mut chars = rest.chars().peekable();
        let (mut name, mut filename) = (None, None);
        loop {
            while chars.next_if(|c| *c == ' ').is_some() {}
            match chars.next() {
                None => break,
                Some(';') => {}
                Some(c) => return Err(format!("{c:?} where `;` belongs in {value:?}")),
            }
            while chars.next_if(|c| *c == ' ').is_some() {}
            let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
            if chars.next() != Some('=') {
                return Err(format!("a parameter without a value in {value:?}"));
            }
            let v = if chars.next_if_eq(&'"').is_some() {
                let mut v = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => v.push(chars.next().ok_or("a dangling `\\`")?),
                        Some(c) => v.push(c),
                        None => return Err(format!("an unclosed quote in {value:?}")),
                    }
                }
                v
            } else {
                std::iter::from_fn(|| chars.next_if(|c| *c != ';' && *c != ' ')).collect()
            };
            let slot = match key.trim().to_ascii_lowercase().as_str() {
                "name" => &mut name,
                "name*" => {
                    let encoded = v
                        .strip_prefix("utf-8''")
                        .ok_or_else(|| format!("name* not utf-8'': {v:?}"))?;
                    name.replace(percent_decoded(encoded)?);
                    continue;
                }
                "filename" => &mut filename,
                other => return Err(format!("an unexpected parameter {other:?} in {value:?}")),
            };
            if slot.replace(v).is_some() {
                return Err(format!("{key} twice in {value:?}"));
            }
        }
        Ok((name.ok_or("form-data without a name")?, filename))
    }

    fn percent_decoded(s: &str) -> Result<String, String> {
        let mut out = Vec::new();
        let mut bytes = s.bytes();
        while let Some(b) = bytes.next() {
            if b == b'%' {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).map_err(|_| "bad percent escape")?;
                let byte = u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or("bad percent escape")?;
                out.push(byte);
            } else {
                out.push(b);
            }
        }
        String::from_utf8(out).map_err(|_| "a percent-encoded name not UTF-8".into())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A form byte for byte as reqwest 0.12 writes serenity's: the files first,
        /// then `payload_json`, then the closing boundary.
        const FORM: &[u8] = b"--a1-b2\r\n\
            Content-Disposition: form-data; name=\"files[0]\"; filename=\"worker-logs.txt\"\r\n\
            Content-Type: text/plain\r\n\r\n\
            line 1\r\n--not the boundary\nline 2\n\r\n\
            --a1-b2\r\n\
            Content-Disposition: form-data; name=\"payload_json\"\r\n\r\n\
            {\"content\":\"x\"}\r\n\
            --a1-b2--\r\n";

        #[test]
        fn a_serenity_form_is_read_part_by_part() {
            let ct = "multipart/form-data; boundary=a1-b2";
            assert_eq!(boundary(ct).unwrap().as_deref(), Some("a1-b2"));
            assert_eq!(boundary("application/json").unwrap(), None);
            let parts = parse(FORM, "a1-b2").unwrap();
            assert_eq!(parts.len(), 2);
            assert_eq!(parts[0].name, "files[0]");
            assert_eq!(parts[0].filename.as_deref(), Some("worker-logs.txt"));
            assert_eq!(parts[0].content_type.as_deref(), Some("text/plain"));
            // CRLF and a look-alike boundary inside the data are data.
            assert_eq!(parts[0].data, b"line 1\r\n--not the boundary\nline 2\n");
            assert_eq!(parts[1].name, "payload_json");
            assert_eq!(parts[1].filename, None);
            assert_eq!(parts[1].data, b"{\"content\":\"x\"}");
        }

        #[test]
        fn escaped_and_encoded_names_are_read_as_reqwest_writes_them() {
            let (name, file) =
                form_data(r#"form-data; name="files[1]"; filename="a \"b\" c\\d.txt""#).unwrap();
            assert_eq!(
                (name.as_str(), file.as_deref()),
                ("files[1]", Some(r#"a "b" c\d.txt"#))
            );
            let (name, _) = form_data("form-data; name*=utf-8''caf%C3%A9%20x").unwrap();
            assert_eq!(name, "café x");
        }

        #[test]
        fn malformed_forms_are_refused() {
            for (body, why) in [
                (&b"--a1-b2--\r\n"[..], "no parts"),
                (
                    b"--a1-b2\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated",
                    "no end",
                ),
                (
                    b"--a1-b2\r\nContent-Type: text/plain\r\n\r\nx\r\n--a1-b2--",
                    "no disposition",
                ),
                (
                    b"--zz\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n--zz--",
                    "other boundary",
                ),
                (
                    b"--a1-b2\r\nContent-Disposition: form-data; name=\"x\r\n\r\nx\r\n--a1-b2--",
                    "open quote",
                ),
                (
                    b"--a1-b2\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nx\r\n--a1-b2--",
                    "not form-data",
                ),
            ] {
                assert!(parse(body, "a1-b2").is_err(), "{why}");
            }
            assert!(boundary("multipart/form-data").is_err());
        }
    }
}
