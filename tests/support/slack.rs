//! A local server that speaks Slack's protocol, for the adapter's protocol tests.
//!
//! Web API on `http://127.0.0.1:PORT/api/<method>` (what the adapter calls:
//! `auth.test`, `apps.connections.open`, `users.info`, `chat.postMessage`,
//! `chat.update`, `chat.postEphemeral`, and the file upload flow:
//! `files.getUploadURLExternal`, whose `upload_url` is `/upload/v1/<file id>` on
//! this server, then `files.completeUploadExternal`), and Socket Mode's websocket on `/link`:
//! `hello` on connect, envelopes pushed by the test, acknowledgements recorded,
//! `disconnect` (refresh) and dropped connections on demand. Every payload either
//! way is a slack-morphism model type, so it has Slack's shape; requests the
//! adapter sends are parsed back into the request models they claim to be. The
//! Socket Mode envelope itself (`type`, `envelope_id`, `accepts_response_payload`
//! around the payload) is written here: slack-morphism keeps those types private.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};
use slack_morphism::prelude::*;
use tokio::sync::{Notify, mpsc};

pub const BOT_USER: &str = "U0DOCKHAND";
pub const BOT_ID: &str = "B0DOCKHAND";
pub const TEAM: &str = "T0TEAM";
pub const APP: &str = "A0DOCKHAND";

/// The bot's scopes as the app manifest grants them: a method whose scope was
/// taken away (`without_scope`) answers `missing_scope` as Slack does.
const GRANTED: [&str; 8] = [
    "app_mentions:read",
    "commands",
    "chat:write",
    "files:write",
    "users:read",
    "im:history",
    "channels:history",
    "groups:history",
];

/// The bot scope a Web API method needs.
fn scope_of(method: &str) -> Option<&'static str> {
    match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => Some("chat:write"),
        "users.info" => Some("users:read"),
        "files.getUploadURLExternal" | "files.completeUploadExternal" => Some("files:write"),
        _ => None,
    }
}

/// A file as the upload flow left it: reserved by `files.getUploadURLExternal`,
/// its bytes POSTed to the upload URL, shared by `files.completeUploadExternal`.
#[derive(Debug, Clone, Default)]
pub struct File {
    pub id: String,
    /// `filename` and `length` as `files.getUploadURLExternal` was told them.
    pub name: String,
    pub length: usize,
    /// What reached the upload URL, and its content type.
    pub bytes: Option<Vec<u8>>,
    pub content_type: Option<String>,
    /// Where `files.completeUploadExternal` shared it, and its title.
    pub channel: Option<String>,
    pub thread: Option<String>,
    pub title: Option<String>,
    pub shared: bool,
}

impl File {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes.as_deref().unwrap_or_default()).into_owned()
    }
}

/// One Web API call as the server received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub token: Option<String>,
    pub body: Value,
    /// The ts the server gave a posted message.
    pub ts: Option<String>,
}

enum Push {
    Frame(String),
    Close,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    acks: Vec<Value>,
    hellos: usize,
    sockets: Vec<(u64, mpsc::UnboundedSender<Push>)>,
    next_socket: u64,
    /// Where the next envelope goes: Slack hands each event to one of the
    /// app's open connections, so replicas share them.
    turn: usize,
    /// Socket id -> how many envelopes it was handed.
    handed: HashMap<u64, usize>,
    /// Socket id -> the envelopes it was handed and has not acknowledged:
    /// when it closes they go again to another connection, as Slack retries
    /// an event nobody acknowledged.
    unacked: HashMap<u64, Vec<(String, Value)>>,
    /// Envelopes sent while no socket was open: Slack holds them, so do we.
    queued: VecDeque<String>,
    /// Method -> how many of its next calls answer 429 with Retry-After: 1.
    limited: HashMap<String, usize>,
    /// (method, channel) -> how many of its next calls there answer 429, and
    /// the Retry-After they say (Slack limits posts per channel).
    limited_in: HashMap<(String, String), (usize, u64)>,
    /// When each of `calls` arrived, by the same index.
    times: Vec<tokio::time::Instant>,
    /// Method -> the Slack error code its calls answer with (`ok: false`).
    failing: HashMap<String, String>,
    ts: u64,
    names: HashMap<String, String>,
    /// Channels the bot is not a member of: posts there answer not_in_channel.
    absent: std::collections::HashSet<String>,
    /// Users of another team (Slack Connect), by id -> their team.
    teams: HashMap<String, String>,
    /// Users that are bots (users.info says `is_bot`).
    bots: std::collections::HashSet<String>,
    /// Scopes the app was installed without.
    missing_scopes: std::collections::HashSet<String>,
    /// Files, in the order their uploads began.
    files: Vec<File>,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub api_url: String,
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let slack = FakeSlack {
            api_url: format!("{base}/api"),
            base,
            inner: Arc::default(),
            changed: Arc::default(),
        };
        let router = Router::new()
            .route("/api/{method}", any(api))
            .route("/link", any(link))
            .route("/respond", any(respond))
            .route("/upload/v1/{id}", any(upload))
            .with_state(slack.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        slack
    }

    /// A display name `users.info` returns for a user id.
    pub fn name(&self, user: &str, name: &str) {
        self.inner
            .lock()
            .unwrap()
            .names
            .insert(user.into(), name.into());
    }

    /// `user` belongs to another organisation's team (a Slack Connect channel).
    pub fn in_team(&self, user: &str, team: &str) {
        self.inner
            .lock()
            .unwrap()
            .teams
            .insert(user.into(), team.into());
    }

    /// `user` is a bot user (its messages and mentions come like a person's).
    pub fn is_bot(&self, user: &str) {
        self.inner.lock().unwrap().bots.insert(user.into());
    }

    /// The bot is not a member of `channel`, as when someone uses `/dockhand`
    /// in a channel nobody invited it to.
    pub fn absent_from(&self, channel: &str) {
        self.inner.lock().unwrap().absent.insert(channel.into());
    }

    /// The next `n` calls of `method` are rate limited (429, Retry-After: 1).
    pub fn rate_limit(&self, method: &str, n: usize) {
        self.inner.lock().unwrap().limited.insert(method.into(), n);
    }

    /// The next `n` calls of `method` in `channel` are rate limited (429, with
    /// `Retry-After: retry_after`); calls elsewhere are not.
    pub fn rate_limit_in(&self, method: &str, channel: &str, n: usize, retry_after: u64) {
        self.inner
            .lock()
            .unwrap()
            .limited_in
            .insert((method.into(), channel.into()), (n, retry_after));
    }

    /// Every call with when it arrived, in the order they arrived.
    pub fn timed_calls(&self) -> Vec<(tokio::time::Instant, Call)> {
        let inner = self.inner.lock().unwrap();
        inner
            .times
            .iter()
            .copied()
            .zip(inner.calls.clone())
            .collect()
    }

    /// Every later call of `method` fails with Slack's error `code`.
    pub fn fail(&self, method: &str, code: &str) {
        self.inner
            .lock()
            .unwrap()
            .failing
            .insert(method.into(), code.into());
    }

    /// The app was installed without `scope`: every method that needs it answers
    /// `missing_scope`, naming it in `needed`.
    pub fn without_scope(&self, scope: &str) {
        self.inner
            .lock()
            .unwrap()
            .missing_scopes
            .insert(scope.into());
    }

    /// Every file whose upload began, shared or not.
    pub fn uploads(&self) -> Vec<File> {
        self.inner.lock().unwrap().files.clone()
    }

    /// The files `files.completeUploadExternal` shared.
    pub fn files(&self) -> Vec<File> {
        self.uploads().into_iter().filter(|f| f.shared).collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    pub fn hellos(&self) -> usize {
        self.inner.lock().unwrap().hellos
    }

    pub fn acked(&self, envelope: &str) -> bool {
        self.inner
            .lock()
            .unwrap()
            .acks
            .iter()
            .any(|a| a["envelope_id"] == envelope)
    }

    /// Waits until `done` holds (re-checked whenever a call, ack or connection
    /// arrives), or panics after `secs` with what was seen.
    pub async fn until<T>(
        &self,
        secs: u64,
        what: &str,
        mut done: impl FnMut(&FakeSlack) -> Option<T>,
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
                    .map(|c| format!("{} {}", c.method, c.body))
                    .collect();
                panic!(
                    "timed out waiting for {what}; calls seen:\n{}",
                    seen.join("\n")
                );
            }
        }
    }

    /// Wraps a payload in a Socket Mode envelope, sends it, returns its id.
    fn envelope(&self, kind: &str, payload: impl serde::Serialize) -> String {
        let n = {
            let mut inner = self.inner.lock().unwrap();
            inner.ts += 1;
            inner.ts
        };
        let id = format!("{kind}-{n}");
        self.hand(json!({
            "type": kind,
            "envelope_id": id,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }));
        id
    }

    /// Hands an envelope to one open connection after another, as Slack spreads
    /// events over an app's connections (each event reaches exactly one), or
    /// holds it until one opens.
    fn hand(&self, envelope: Value) {
        let frame = envelope.to_string();
        let id = envelope["envelope_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut inner = self.inner.lock().unwrap();
        let open = inner.sockets.len();
        for k in 0..open {
            let i = (inner.turn + k) % open;
            let (socket, tx) = &inner.sockets[i];
            if tx.send(Push::Frame(frame.clone())).is_ok() {
                let socket = *socket;
                inner.turn = i + 1;
                *inner.handed.entry(socket).or_default() += 1;
                inner
                    .unacked
                    .entry(socket)
                    .or_default()
                    .push((id, envelope));
                return;
            }
        }
        inner.queued.push_back(frame);
    }

    /// What a connection that closed had not acknowledged, handed again with
    /// `retry_attempt` counted up (Slack's retry of an unacknowledged event).
    fn redeliver(&self, socket: u64) {
        let lost = self
            .inner
            .lock()
            .unwrap()
            .unacked
            .remove(&socket)
            .unwrap_or_default();
        for (_, mut envelope) in lost {
            let attempt = envelope["retry_attempt"].as_u64().unwrap_or(0) + 1;
            envelope["retry_attempt"] = json!(attempt);
            envelope["retry_reason"] = json!("timeout");
            self.hand(envelope);
        }
    }

    /// How many envelopes each connection was handed, by the order they opened.
    pub fn handed(&self) -> Vec<usize> {
        let inner = self.inner.lock().unwrap();
        let mut by: Vec<_> = inner.handed.iter().map(|(s, n)| (*s, *n)).collect();
        by.sort();
        by.into_iter().map(|(_, n)| n).collect()
    }

    /// The connections open now.
    pub fn connections(&self) -> usize {
        self.inner.lock().unwrap().sockets.len()
    }

    /// A frame for the newest connection (a `disconnect` is for one connection).
    fn push(&self, event: &Value) {
        let frame = event.to_string();
        let mut inner = self.inner.lock().unwrap();
        let sent = inner
            .sockets
            .last()
            .is_some_and(|(_, tx)| tx.send(Push::Frame(frame.clone())).is_ok());
        if !sent {
            inner.queued.push_back(frame);
        }
    }

    /// A message in a channel (or a thread, or a DM when `channel` starts with D).
    pub fn message(&self, channel: &str, user: &str, text: &str, thread: Option<&str>) -> String {
        let ts = self.next_ts();
        self.message_at(channel, user, text, thread, &ts)
    }

    /// A message with a given timestamp: the same `ts` twice is Slack delivering
    /// one message again.
    pub fn message_at(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        thread: Option<&str>,
        ts: &str,
    ) -> String {
        let mut origin = SlackMessageOrigin::new(ts.into())
            .with_channel(channel.into())
            .with_channel_type(SlackChannelType(
                if channel.starts_with('D') {
                    "im"
                } else {
                    "channel"
                }
                .into(),
            ));
        if let Some(t) = thread {
            origin = origin.with_thread_ts(t.into());
        }
        let event =
            SlackMessageEvent::new(origin, SlackMessageSender::new().with_user(user.into()))
                .with_content(SlackMessageContent::new().with_text(text.into()));
        self.event(SlackEventCallbackBody::Message(event))
    }

    /// A message from another bot (a bot_id on the sender).
    pub fn bot_message(&self, channel: &str, text: &str) -> String {
        let origin = SlackMessageOrigin::new(self.next_ts().into()).with_channel(channel.into());
        let event = SlackMessageEvent::new(
            origin,
            SlackMessageSender::new()
                .with_user("U0OTHERBOT".into())
                .with_bot_id("B0OTHER".into()),
        )
        .with_content(SlackMessageContent::new().with_text(text.into()));
        self.event(SlackEventCallbackBody::Message(event))
    }

    /// `@dockhand <text>`: Slack sends both a message and an app_mention event.
    pub fn mention(&self, channel: &str, user: &str, text: &str) -> String {
        let full = format!("<@{BOT_USER}> {text}");
        self.message(channel, user, &full, None);
        let event = SlackAppMentionEvent::new(
            user.into(),
            channel.into(),
            SlackMessageContent::new().with_text(full),
            SlackMessageOrigin::new(self.next_ts().into()).with_channel(channel.into()),
        );
        self.event(SlackEventCallbackBody::AppMention(event))
    }

    /// Only the app_mention event Slack sends for a message that mentions the bot
    /// anywhere in `text`, with a given timestamp.
    pub fn app_mention(&self, channel: &str, user: &str, text: &str, ts: &str) -> String {
        let event = SlackAppMentionEvent::new(
            user.into(),
            channel.into(),
            SlackMessageContent::new().with_text(text.into()),
            SlackMessageOrigin::new(ts.into()).with_channel(channel.into()),
        );
        self.event(SlackEventCallbackBody::AppMention(event))
    }

    fn event(&self, body: SlackEventCallbackBody) -> String {
        let callback = SlackPushEventCallback::new(
            TEAM.into(),
            APP.into(),
            body,
            SlackEventId(format!("Ev{}", self.next_ts().replace('.', ""))),
            SlackDateTime::now(),
        );
        self.envelope("events_api", callback)
    }

    /// `/dockhand <text>` in a channel.
    pub fn slash(&self, channel: &str, user: &str, text: &str) -> String {
        let command = SlackCommandEvent::new(
            TEAM.into(),
            channel.into(),
            user.into(),
            SlackCommandId("/dockhand".into()),
            SlackResponseUrl(format!("{}/respond", self.base).parse().unwrap()),
            // Unique per interaction, as Slack makes them.
            SlackTriggerId(format!("trigger-{}", self.next_ts())),
        )
        .with_text(text.into());
        self.envelope("slash_commands", command)
    }

    /// A click on a button of the bot's message `message_ts`, whose text was `prompt`.
    pub fn click(
        &self,
        channel: &str,
        user: &str,
        message_ts: &str,
        prompt: &str,
        value: &str,
    ) -> String {
        let action = SlackInteractionActionInfo::new(
            SlackActionType("button".into()),
            "dockhand:command".into(),
        )
        .with_value(value.into());
        let message = SlackHistoryMessage::new(
            SlackMessageOrigin::new(message_ts.into()).with_channel(channel.into()),
            SlackMessageContent::new().with_text(prompt.into()),
            SlackMessageSender::new().with_user(BOT_USER.into()),
            SlackParentMessageParams::new(),
        );
        let event = SlackInteractionBlockActionsEvent::new(
            SlackBasicTeamInfo::new(TEAM.into()),
            APP.into(),
            SlackInteractionActionContainer::Message(
                SlackInteractionActionMessageContainer::new(message_ts.into())
                    .with_channel_id(channel.into()),
            ),
            // Unique per interaction, as Slack makes them.
            SlackTriggerId(format!("trigger-{}", self.next_ts())),
        )
        .with_user(SlackBasicUserInfo::new(user.into()))
        .with_channel(SlackBasicChannelInfo::new(channel.into()))
        .with_message(message)
        .with_actions(vec![action]);
        self.envelope("interactive", SlackInteractionEvent::BlockActions(event))
    }

    /// Slack asks the client to reconnect (`disconnect`, reason `refresh_requested`).
    pub fn refresh(&self) {
        self.push(&json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "local"},
        }));
    }

    /// Drops every open socket without a goodbye.
    pub fn drop_connections(&self) {
        let mut inner = self.inner.lock().unwrap();
        for (_, tx) in inner.sockets.drain(..) {
            let _ = tx.send(Push::Close);
        }
    }

    fn next_ts(&self) -> String {
        let mut inner = self.inner.lock().unwrap();
        inner.ts += 1;
        format!("1700000000.{:06}", inner.ts)
    }

    fn record(&self, call: Call) {
        let mut inner = self.inner.lock().unwrap();
        inner.times.push(tokio::time::Instant::now());
        inner.calls.push(call);
        drop(inner);
        self.changed.notify_waiters();
    }
}

fn ok(model: impl serde::Serialize) -> Response {
    let mut v = serde_json::to_value(model).unwrap();
    v["ok"] = json!(true);
    axum::Json(v).into_response()
}

/// A slash command's `response_url`: what is posted there is recorded as the
/// call `respond`.
async fn respond(State(slack): State<FakeSlack>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    slack.record(Call {
        method: "respond".into(),
        token: None,
        body,
        ts: None,
    });
    axum::Json(json!({"ok": true})).into_response()
}

async fn api(
    State(slack): State<FakeSlack>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    // Slack takes a method's arguments as a query, a form or JSON alike.
    let body: Value = if body.is_empty() {
        json!(query)
    } else if form {
        json!(serde_urlencoded::from_bytes::<HashMap<String, String>>(&body).unwrap_or_default())
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)))
    };
    {
        let mut inner = slack.inner.lock().unwrap();
        if let Some(n) = inner.limited.get_mut(&method).filter(|n| **n > 0) {
            *n -= 1;
            drop(inner);
            slack.record(Call {
                method: format!("{method} (429)"),
                token,
                body,
                ts: None,
            });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    let limited_here = {
        let mut inner = slack.inner.lock().unwrap();
        inner
            .limited_in
            .get_mut(&(method.clone(), channel))
            .filter(|(n, _)| *n > 0)
            .map(|(n, retry_after)| {
                *n -= 1;
                *retry_after
            })
    };
    if let Some(retry_after) = limited_here {
        slack.record(Call {
            method: format!("{method} (429)"),
            token,
            body,
            ts: None,
        });
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after.to_string())],
            axum::Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
    }
    let (failing, lacking) = {
        let inner = slack.inner.lock().unwrap();
        let lacking = scope_of(&method).filter(|s| inner.missing_scopes.contains(*s));
        let provided: Vec<&str> = GRANTED
            .into_iter()
            .filter(|s| !inner.missing_scopes.contains(*s))
            .collect();
        (
            inner.failing.get(&method).cloned(),
            lacking.map(|needed| (needed, provided.join(","))),
        )
    };
    if let Some((needed, provided)) = lacking {
        slack.record(Call {
            method: format!("{method} (missing_scope)"),
            token,
            body,
            ts: None,
        });
        return axum::Json(json!({
            "ok": false,
            "error": "missing_scope",
            "needed": needed,
            "provided": provided,
        }))
        .into_response();
    }
    if let Some(code) = failing {
        slack.record(Call {
            method: format!("{method} ({code})"),
            token,
            body,
            ts: None,
        });
        return axum::Json(json!({"ok": false, "error": code})).into_response();
    }
    let absent = body["channel"]
        .as_str()
        .is_some_and(|c| slack.inner.lock().unwrap().absent.contains(c));
    if method == "chat.postMessage" && absent {
        slack.record(Call {
            method: format!("{method} (not_in_channel)"),
            token,
            body,
            ts: None,
        });
        return axum::Json(json!({"ok": false, "error": "not_in_channel"})).into_response();
    }
    let mut posted = None;
    let response = match method.as_str() {
        "auth.test" => ok(SlackApiAuthTestResponse::new(
            BOT_USER.into(),
            TEAM.into(),
            "local".into(),
            SlackTeamUrl("https://local.slack.com/".parse().unwrap()),
        )
        .with_bot_id(BOT_ID.into())),
        "apps.connections.open" => {
            let ws = slack.base.replace("http://", "ws://");
            ok(SlackApiAppsConnectionOpenResponse::new(SlackWebSocketsUrl(
                format!("{ws}/link?ticket=local").parse().unwrap(),
            )))
        }
        "users.info" => {
            let user = body["user"].as_str().unwrap_or_default().to_string();
            let (name, team, bot) = {
                let inner = slack.inner.lock().unwrap();
                (
                    inner.names.get(&user).cloned(),
                    inner
                        .teams
                        .get(&user)
                        .cloned()
                        .unwrap_or_else(|| TEAM.into()),
                    inner.bots.contains(&user),
                )
            };
            let profile =
                SlackUserProfile::new().with_display_name(name.clone().unwrap_or_default());
            ok(SlackApiUsersInfoResponse::new(
                SlackUser::new(user.clone().into(), SlackUserFlags::new().with_is_bot(bot))
                    .with_name(user)
                    .with_team_id(team.into())
                    .with_profile(profile),
            ))
        }
        "chat.postMessage" => {
            let req: SlackApiChatPostMessageRequest =
                serde_json::from_value(body.clone()).expect("chat.postMessage request");
            let ts = slack.next_ts();
            posted = Some(ts.clone());
            let mut origin =
                SlackMessageOrigin::new(ts.clone().into()).with_channel(req.channel.clone());
            if let Some(t) = &req.thread_ts {
                origin = origin.with_thread_ts(t.clone());
            }
            ok(SlackApiChatPostMessageResponse::new(
                req.channel.clone(),
                ts.into(),
                SlackMessage::new(
                    origin,
                    req.content.clone(),
                    SlackMessageSender::new().with_bot_id(BOT_ID.into()),
                    SlackParentMessageParams::new(),
                ),
            ))
        }
        "chat.update" => {
            let req: SlackApiChatUpdateRequest =
                serde_json::from_value(body.clone()).expect("chat.update request");
            ok(SlackApiChatUpdateResponse::new(
                req.channel.clone(),
                req.ts.clone(),
                SlackUpdatedMessage::new(
                    SlackMessageSender::new().with_bot_id(BOT_ID.into()),
                    req.content.clone(),
                ),
            ))
        }
        "chat.postEphemeral" => {
            let _: SlackApiChatPostEphemeralRequest =
                serde_json::from_value(body.clone()).expect("chat.postEphemeral request");
            ok(json!({"message_ts": slack.next_ts()}))
        }
        "files.getUploadURLExternal" => {
            let name = body["filename"].as_str().unwrap_or_default().to_string();
            // A query or a form carries the length as text, JSON as a number.
            let length = body["length"]
                .as_u64()
                .or_else(|| body["length"].as_str().and_then(|l| l.parse().ok()))
                .unwrap_or(0) as usize;
            if name.is_empty() || length == 0 {
                axum::Json(json!({"ok": false, "error": "missing_argument"})).into_response()
            } else {
                let id = {
                    let mut inner = slack.inner.lock().unwrap();
                    inner.ts += 1;
                    format!("F0FILE{:06}", inner.ts)
                };
                slack.inner.lock().unwrap().files.push(File {
                    id: id.clone(),
                    name,
                    length,
                    ..File::default()
                });
                ok(SlackApiFilesGetUploadUrlExternalResponse::new(
                    SlackFileUploadUrl(format!("{}/upload/v1/{id}", slack.base).parse().unwrap()),
                    SlackFileId(id),
                ))
            }
        }
        "files.completeUploadExternal" => {
            // A form carries `files` as JSON text.
            let mut json = body.clone();
            if let Some(files) = body["files"].as_str() {
                json["files"] = serde_json::from_str(files).unwrap_or(Value::Null);
            }
            let req: SlackApiFilesCompleteUploadExternalRequest =
                serde_json::from_value(json).expect("files.completeUploadExternal request");
            complete(&slack, &req)
        }
        _ => axum::Json(json!({"ok": false, "error": "unknown_method"})).into_response(),
    };
    slack.record(Call {
        method,
        token,
        body,
        ts: posted,
    });
    response
}

/// Shares uploaded files into a channel (and thread). A file whose bytes never
/// arrived is refused (`file_not_found` is this server's word for it), as is a
/// channel the bot is not in.
fn complete(slack: &FakeSlack, req: &SlackApiFilesCompleteUploadExternalRequest) -> Response {
    let mut inner = slack.inner.lock().unwrap();
    let channel = req.channel_id.as_ref().map(|c| c.to_string());
    if channel.as_ref().is_some_and(|c| inner.absent.contains(c)) {
        return axum::Json(json!({"ok": false, "error": "not_in_channel"})).into_response();
    }
    let mut shared = Vec::new();
    for f in &req.files {
        let Some(file) = inner
            .files
            .iter_mut()
            .find(|x| x.id == f.id.0 && x.bytes.is_some())
        else {
            return axum::Json(json!({"ok": false, "error": "file_not_found"})).into_response();
        };
        file.channel = channel.clone();
        file.thread = req.thread_ts.as_ref().map(|t| t.to_string());
        file.title = f.title.clone();
        file.shared = true;
        shared.push(
            SlackFile::new(f.id.clone(), SlackFileFlags::new())
                .with_name(file.name.clone())
                .opt_title(f.title.clone()),
        );
    }
    ok(SlackApiFilesCompleteUploadExternalResponse::new(shared))
}

/// The upload URL of a file: slack-morphism POSTs the bytes as the raw body (with
/// the content type it was given, and the bot token), not as a multipart form.
/// Slack takes either; this server takes only the raw body, and only the length
/// `files.getUploadURLExternal` was told, so a change in either shows. Slack
/// answers `OK - <length>` as text.
async fn upload(
    State(slack): State<FakeSlack>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let refused = {
        let mut inner = slack.inner.lock().unwrap();
        match inner.files.iter_mut().find(|f| f.id == id) {
            None => Some((StatusCode::NOT_FOUND, "no such upload".to_string())),
            Some(_)
                if content_type
                    .as_deref()
                    .is_some_and(|t| t.starts_with("multipart/")) =>
            {
                Some((StatusCode::BAD_REQUEST, "expected the raw bytes".into()))
            }
            Some(f) if f.length != body.len() => Some((
                StatusCode::BAD_REQUEST,
                format!("{} bytes, {} announced", body.len(), f.length),
            )),
            Some(f) => {
                f.bytes = Some(body.to_vec());
                f.content_type = content_type.clone();
                None
            }
        }
    };
    // Recorded like every call, so the secret scan of call bodies reads the file too.
    slack.record(Call {
        method: match &refused {
            Some((status, _)) => format!("upload ({})", status.as_u16()),
            None => "upload".into(),
        },
        token,
        body: json!({
            "file_id": id,
            "content_type": content_type,
            "text": String::from_utf8_lossy(&body),
        }),
        ts: None,
    });
    match refused {
        Some((status, why)) => (status, why).into_response(),
        None => format!("OK - {}", body.len()).into_response(),
    }
}

async fn link(State(slack): State<FakeSlack>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| connection(slack, socket))
}

async fn connection(slack: FakeSlack, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "connection_info": {"app_id": APP},
        "debug_info": {"host": "local"},
    });
    if socket
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let id = {
        let mut inner = slack.inner.lock().unwrap();
        inner.hellos += 1;
        inner.next_socket += 1;
        let id = inner.next_socket;
        inner.sockets.push((id, tx.clone()));
        for frame in inner.queued.drain(..) {
            let _ = tx.send(Push::Frame(frame));
        }
        id
    };
    slack.changed.notify_waiters();
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(Push::Frame(f)) => {
                    if socket.send(Message::Text(f.into())).await.is_err() { break; }
                }
                // Dropped without a close frame: what a network failure looks like.
                Some(Push::Close) | None => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        let mut inner = slack.inner.lock().unwrap();
                        if let Some(waiting) = inner.unacked.get_mut(&id) {
                            waiting.retain(|(e, _)| v["envelope_id"] != e.as_str());
                        }
                        inner.acks.push(v);
                        drop(inner);
                        slack.changed.notify_waiters();
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    slack
        .inner
        .lock()
        .unwrap()
        .sockets
        .retain(|(i, _)| *i != id);
    slack.redeliver(id);
}
