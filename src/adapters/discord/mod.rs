//! The Discord adapter: gateway events in as `Inbound`, `Reply`s out as messages.
//!
//! ```text
//! gateway --EventHandler--> Incoming --worker--> Handle::handle
//!   (serenity: heartbeats,    defer now            |  replies, progress
//!    resume, reconnect)                            v
//!          POST/PATCH messages, threads, interaction answers <-- Deliverer
//! ```
//!
//! serenity keeps the gateway connection (identify, heartbeat, resume after a drop,
//! re-identify when the session is gone). Event callbacks only translate an event
//! and queue it; a slash command is deferred first, so Discord's 3-second deadline
//! is met before any work starts. One worker turns queued events into dispatch
//! calls in arrival order; one deliverer posts and edits (see `deliver.rs`).
//!
//! Commands arrive three ways, all reaching the same `Handle::handle`: `!deploy ...`
//! in a channel (needs the privileged Message Content intent, `prefix_commands`),
//! a mention `@dockhand deploy ...` or a direct message (Discord sends their text
//! without that intent), and `/dockhand deploy app:hubot version:v2`, whose
//! subcommands are generated from the catalogue and turned back into the text a
//! person would type (`deploy hubot v2`).

mod deliver;
pub mod embeds;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serenity::all::{
    ClientBuilder, CommandDataOption, CommandDataOptionValue, CommandInteraction,
    CommandOptionType, ComponentInteraction, ConnectionStage, Context, CreateAutocompleteResponse,
    CreateCommand, CreateCommandOption, CreateInteractionResponse, EventHandler, GatewayError,
    GatewayIntents, Guild, GuildId, HttpBuilder, InstallationContext, Interaction,
    InteractionContext, Message, Ready, ResumedEvent, ShardStageUpdateEvent, User, UserId,
};
use serenity::async_trait;
use tokio::sync::mpsc;

use crate::adapters::Wiring;
use crate::catalog::Catalog;
use crate::command::grammar::{Element, Usage, flag_param};
use crate::config;
use crate::dispatch::{Click, Handle, Handled};
use crate::health::Health;
use crate::message::Outbound;
use crate::message::{Author, Inbound, Origin, Platform, Via};
use deliver::{Deliverer, Direct};

/// The application command every invocation goes through.
pub const COMMAND: &str = crate::command::SLASH_COMMAND;

/// Why the Discord adapter could not start or stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord needs DISCORD_TOKEN (the bot token); see the README's Discord section")]
    Missing,
    #[error(
        "Discord could not be reached at {url} ({reason}); check the network and DISCORD_API_URL"
    )]
    Unreachable { url: String, reason: String },
    #[error("Discord refused the bot token at /users/@me ({0}); check DISCORD_TOKEN")]
    Auth(String),
    #[error("Discord at {url} answered /users/@me with {reason}; try again later")]
    SignIn { url: String, reason: String },
    #[error(
        "Discord refused the Message Content intent; enable it under Bot -> Privileged Gateway Intents, \
         or set `[discord] prefix_commands = false` to use only mentions and /dockhand"
    )]
    Intents,
    #[error("the Discord gateway connection failed: {0}")]
    Gateway(String),
}

/// The gateway intents the adapter asks for: guild and channel metadata (threads),
/// messages in guilds and DMs, and the privileged Message Content only when `!`
/// commands are read.
pub fn intents(prefix_commands: bool) -> GatewayIntents {
    let base =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES;
    if prefix_commands {
        base | GatewayIntents::MESSAGE_CONTENT
    } else {
        base
    }
}

/// An event taken from Discord, owned, waiting for the worker.
#[derive(Debug)]
enum Incoming {
    Message {
        origin: Origin,
        author: Author,
        text: String,
        via: Via,
    },
    /// `/dockhand ...`, already deferred; answered by editing its original response.
    Slash {
        origin: Origin,
        author: Author,
        text: String,
        interaction: Box<CommandInteraction>,
    },
    /// A button: its custom id is the command, sent as if its presser typed it.
    Click {
        origin: Origin,
        author: Author,
        interaction: Box<ComponentInteraction>,
    },
}

/// What the event callbacks need.
struct Shared {
    bot: UserId,
    allow_bots: bool,
    /// The servers dockhand serves (`[discord] guilds`): `/dockhand` is
    /// registered in each, and anything from another server is ignored.
    guilds: Vec<GuildId>,
    /// Whether `/dockhand` also works in a direct message with the bot
    /// (`[access] direct_messages`).
    direct_messages: bool,
    /// Servers an event came from that are not configured, each logged once.
    foreign: Mutex<HashSet<GuildId>>,
    /// The `/dockhand` command, generated once from the catalogue.
    command: CreateCommand,
    /// Each subcommand's usage, to turn options back into typed text.
    usages: Vec<(String, Usage)>,
    /// Dispatch: autocomplete offers the apps the person may see there.
    handler: Arc<dyn Handle>,
    registered: AtomicBool,
    inbox: crate::adapters::Inbox<Incoming>,
    health: Health,
    /// The deliverer's client: each gateway session has a client of its own,
    /// and only READY says the application id that interaction answers need.
    posting: Arc<serenity::http::Http>,
}

/// A person's name to address them by: the server nickname, the display name,
/// then the account name. The identity used for rules stays the id.
fn name_of(user: &User, nick: Option<&str>) -> Arc<str> {
    nick.or(user.global_name.as_deref())
        .unwrap_or(&user.name)
        .into()
}

impl Shared {
    fn is_from_bot(&self, user: &User) -> bool {
        user.id == self.bot || (user.bot && !self.allow_bots)
    }

    /// Whether an event from `guild` may reach dispatch: a configured server,
    /// or no server at all (a direct message, which policy bounds). A Discord
    /// application is public by default: anyone who can see the bot can invite
    /// it to a server of theirs (F1). Such a server is logged once, never
    /// answered.
    fn serves(&self, guild: Option<GuildId>) -> bool {
        let Some(g) = guild else { return true };
        if self.guilds.contains(&g) {
            return true;
        }
        if self.foreign.lock().unwrap().insert(g) {
            tracing::warn!(
                guild = %g,
                "discord: ignoring a server that is not in `[discord] guilds`; turn \"Public Bot\" off in the developer portal"
            );
        }
        false
    }

    /// Whether an interaction may reach dispatch: from a configured server, or
    /// from a direct message with the bot where `direct_messages` allows it. A
    /// user-installed command used elsewhere (another server, someone else's
    /// DM) is neither.
    fn serves_interaction(
        &self,
        guild: Option<GuildId>,
        context: Option<InteractionContext>,
    ) -> bool {
        match guild {
            Some(_) => self.serves(guild),
            None => self.direct_messages && context == Some(InteractionContext::BotDm),
        }
    }

    /// Leaves a server that is not configured (at connect, and when invited).
    async fn leave_unless_served(&self, ctx: &Context, guild: GuildId) {
        if self.guilds.contains(&guild) {
            return;
        }
        match guild.leave(&ctx.http).await {
            Ok(()) => {
                tracing::warn!(%guild, "discord: left a server that is not in `[discord] guilds`")
            }
            Err(e) => {
                tracing::warn!(%guild, error = %e, "discord: could not leave a server that is not configured")
            }
        }
    }

    /// A channel message as a command, or `None` for what the bot ignores: its
    /// own messages, other bots' (unless allowed), and messages without text.
    fn message(&self, ctx: &Context, msg: &Message) -> Option<Incoming> {
        if self.is_from_bot(&msg.author)
            || msg.content.trim().is_empty()
            || !self.serves(msg.guild_id)
        {
            return None;
        }
        let direct = msg.guild_id.is_none();
        let text = msg.content.trim_start();
        let mentioned = [format!("<@{}>", self.bot), format!("<@!{}>", self.bot)]
            .into_iter()
            .find_map(|m| text.strip_prefix(&m).map(str::trim_start));
        let (text, via) = match mentioned {
            Some(rest) => (rest, Via::Addressed),
            None if direct => (text, Via::Addressed),
            None => (text, Via::Message),
        };
        let nick = msg.member.as_ref().and_then(|m| m.nick.as_deref());
        Some(Incoming::Message {
            origin: origin(ctx, msg.guild_id, msg.channel_id.get()),
            author: Author {
                external: false,
                id: msg.author.id.to_string().into(),
                name: name_of(&msg.author, nick),
            },
            text: text.to_string(),
            via,
        })
    }

    fn queue(&self, incoming: Option<Incoming>) {
        if let Some(i) = incoming {
            self.inbox.offer(i);
        }
    }

    /// The typed text a slash invocation stands for, or `None` for an unknown one.
    fn slash_text(&self, cmd: &CommandInteraction) -> Option<String> {
        let sub = cmd.data.options.first()?;
        let CommandDataOptionValue::SubCommand(options) = &sub.value else {
            return None;
        };
        let (_, usage) = self.usages.iter().find(|(name, _)| *name == sub.name)?;
        Some(typed(usage, options))
    }

    /// `/dockhand` in each configured server (guild commands show at once).
    /// Globally, it exists only for direct messages with the bot, and only when
    /// `direct_messages` allows them; otherwise the global list is emptied, so a
    /// command an older version registered globally stops working in DMs and in
    /// other servers.
    async fn register(&self, ctx: &Context) {
        if self.registered.swap(true, Ordering::SeqCst) {
            return; // A re-identify sends READY again; the command is already there.
        }
        let mut result = Ok(());
        for g in &self.guilds {
            if let Err(e) = g.set_commands(&ctx.http, vec![self.command.clone()]).await {
                result = Err(e);
            }
        }
        let global = if self.direct_messages {
            vec![
                self.command
                    .clone()
                    .contexts(vec![InteractionContext::BotDm])
                    .integration_types(vec![InstallationContext::Guild]),
            ]
        } else {
            Vec::new()
        };
        if let Err(e) = serenity::all::Command::set_global_commands(&ctx.http, global).await {
            result = Err(e);
        }
        match result {
            Ok(()) => tracing::info!(
                guilds = self.guilds.len(),
                direct_messages = self.direct_messages,
                "discord: /{COMMAND} registered"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "discord: /{COMMAND} could not be registered (was the bot invited with the applications.commands scope?)"
            ),
        }
    }

    async fn autocomplete(&self, ctx: &Context, cmd: &CommandInteraction) {
        let Some(focused) = cmd.data.autocomplete() else {
            return;
        };
        let typed = focused.value.to_ascii_lowercase();
        let mut choices = CreateAutocompleteResponse::new();
        if focused.name == "app" {
            let origin = origin(ctx, cmd.guild_id, cmd.channel_id.get());
            let author = Author {
                external: false,
                id: cmd.user.id.to_string().into(),
                name: cmd.user.name.as_str().into(),
            };
            let apps = self.handler.apps_seen(&origin, &author);
            for app in apps.iter().filter(|a| a.starts_with(&typed)).take(25) {
                choices = choices.add_string_choice(app, app);
            }
        }
        let response = CreateInteractionResponse::Autocomplete(choices);
        if let Err(e) = cmd.create_response(&ctx.http, response).await {
            tracing::debug!(error = %e, "discord: autocomplete answer failed");
        }
    }
}

/// Where a message was: a thread known to the cache is a conversation in its
/// parent channel (channel bindings name the parent), anything else its own.
fn origin(ctx: &Context, guild: Option<GuildId>, channel: u64) -> Origin {
    let parent = guild.and_then(|g| {
        let guild = ctx.cache.guild(g)?;
        guild
            .threads
            .iter()
            .find(|t| t.id.get() == channel)
            .and_then(|t| t.parent_id)
    });
    let channel = channel.to_string();
    match parent {
        Some(p) => Origin {
            platform: Platform::Discord,
            channel: p.to_string().into(),
            thread: Some(channel.into()),
            direct: false,
        },
        None => Origin {
            platform: Platform::Discord,
            channel: channel.into(),
            thread: None,
            direct: guild.is_none(),
        },
    }
}

/// Options back into typed text, walking the usage so the words come in its order;
/// an optional group is written only when one of its values was given.
fn typed(usage: &Usage, options: &[CommandDataOption]) -> String {
    fn value(options: &[CommandDataOption], name: &str) -> Option<String> {
        let o = options.iter().find(|o| o.name == option_name(name))?;
        match &o.value {
            CommandDataOptionValue::String(s) => Some(s.trim().to_string()),
            CommandDataOptionValue::Integer(n) => Some(n.to_string()),
            CommandDataOptionValue::Boolean(b) => b.then(String::new),
            _ => None,
        }
    }
    fn walk(elements: &[Element], options: &[CommandDataOption], out: &mut Vec<String>) -> bool {
        let mut given = false;
        for e in elements {
            match e {
                Element::Word(w) => out.push(w.clone()),
                Element::Placeholder { name, .. } => {
                    if let Some(v) = value(options, name).filter(|v| !v.is_empty()) {
                        out.push(v);
                        given = true;
                    }
                }
                Element::Flag(f) => {
                    if value(options, f).is_some() {
                        out.push(format!("--{f}"));
                        given = true;
                    }
                }
                Element::Option(f) => {
                    if let Some(v) = value(options, &flag_param(f)).filter(|v| !v.is_empty()) {
                        out.push(format!("--{f}"));
                        out.push(quoted(v));
                        given = true;
                    }
                }
                Element::Optional(inner) => {
                    let mut group = Vec::new();
                    if walk(inner, options, &mut group) {
                        out.extend(group);
                        given = true;
                    }
                }
            }
        }
        given
    }
    let mut out = Vec::new();
    walk(&usage.elements, options, &mut out);
    out.join(" ")
}

/// A value typed back as one word: Discord's option may hold spaces, which the
/// grammar reads as one value only in quotes. Single quotes only group (a verb
/// drops them); a value already quoted stays as given.
fn quoted(v: String) -> String {
    let is_quoted = |q: char| v.len() > 1 && v.starts_with(q) && v.ends_with(q);
    if v.contains(char::is_whitespace) && !is_quoted('"') && !is_quoted('\'') {
        format!("'{v}'")
    } else {
        v
    }
}

/// An option name Discord accepts: lowercase letters, digits, `-` and `_`, 1–32
/// (a sub-command `logs stop` is `logs-stop`).
fn option_name(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c == ' ' { '-' } else { c })
        .take(32)
        .collect()
}

/// A description Discord accepts: 1–100 characters.
fn description(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let short: String = line.chars().take(100).collect();
    if short.is_empty() { "-".into() } else { short }
}

/// `/dockhand` with one subcommand per catalogue entry (Discord allows 25),
/// an option per placeholder and flag, and autocomplete on `app`.
fn slash_command(catalog: &Catalog) -> (CreateCommand, Vec<(String, Usage)>) {
    let entries = catalog.entries();
    if entries.len() > 25 {
        tracing::warn!(
            commands = entries.len(),
            "discord: /{COMMAND} shows the first 25 commands (Discord's limit); the rest work as `!` commands"
        );
    }
    let mut command =
        CreateCommand::new(COMMAND).description("ChatOps for AWS ECS and CloudFormation");
    let mut usages = Vec::new();
    for entry in entries.iter().take(25) {
        let mut sub = CreateCommandOption::new(
            CommandOptionType::SubCommand,
            option_name(&entry.name),
            description(&entry.summary),
        );
        let mut options = Vec::new();
        collect_options(&entry.usage.elements, false, &mut options);
        // Discord wants required options before optional ones.
        options.sort_by_key(|(_, required)| !*required);
        for (option, _) in options.into_iter().take(25) {
            sub = sub.add_sub_option(option);
        }
        command = command.add_option(sub);
        usages.push((option_name(&entry.name), entry.usage.clone()));
    }
    (command, usages)
}

fn collect_options(
    elements: &[Element],
    optional: bool,
    out: &mut Vec<(CreateCommandOption, bool)>,
) {
    for e in elements {
        match e {
            Element::Word(_) => {}
            Element::Placeholder { name, rest } => {
                let what = if *rest {
                    "the rest of the command"
                } else {
                    name.as_str()
                };
                let option = CreateCommandOption::new(
                    CommandOptionType::String,
                    option_name(name),
                    description(what),
                )
                .required(!optional)
                .set_autocomplete(name == "app");
                out.push((option, !optional));
            }
            Element::Flag(f) => out.push((
                CreateCommandOption::new(
                    CommandOptionType::Boolean,
                    option_name(f),
                    description(&format!("--{f}")),
                ),
                false,
            )),
            Element::Option(f) => out.push((
                CreateCommandOption::new(
                    CommandOptionType::String,
                    option_name(&flag_param(f)),
                    description(&format!("--{f} <{}>", flag_param(f))),
                ),
                false,
            )),
            Element::Optional(inner) => collect_options(inner, true, out),
        }
    }
}

struct Events(Arc<Shared>);

#[async_trait]
impl EventHandler for Events {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, id = %ready.user.id, "discord: connected");
        self.0.posting.set_application_id(ready.application.id);
        self.0.health.report("discord", true);
        self.0.register(&ctx).await;
        for g in &ready.guilds {
            self.0.leave_unless_served(&ctx, g.id).await;
        }
    }

    /// Sent for each server at connect and when the bot is invited to one.
    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        self.0.leave_unless_served(&ctx, guild.id).await;
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        tracing::info!("discord: session resumed");
        self.0.health.report("discord", true);
    }

    /// Any stage but connected (a drop, a resume or re-identify under way) is down
    /// until the next READY or RESUMED.
    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        if event.new != ConnectionStage::Connected {
            tracing::info!(stage = %event.new, "discord: gateway not connected");
            self.0.health.report("discord", false);
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.0.queue(self.0.message(&ctx, &msg));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let shared = &self.0;
        match interaction {
            Interaction::Command(cmd) => {
                if shared.is_from_bot(&cmd.user)
                    || !shared.serves_interaction(cmd.guild_id, cmd.context)
                {
                    return;
                }
                // Acknowledged before anything else: Discord allows 3 seconds.
                if let Err(e) = cmd.defer(&ctx.http).await {
                    tracing::warn!(error = %e, "discord: deferring a slash command failed");
                    return;
                }
                let text = shared.slash_text(&cmd).unwrap_or_else(|| "help".into());
                let nick = cmd.member.as_ref().and_then(|m| m.nick.as_deref());
                shared.queue(Some(Incoming::Slash {
                    origin: origin(&ctx, cmd.guild_id, cmd.channel_id.get()),
                    author: Author {
                        external: false,
                        id: cmd.user.id.to_string().into(),
                        name: name_of(&cmd.user, nick),
                    },
                    text,
                    interaction: Box::new(cmd),
                }));
            }
            Interaction::Autocomplete(cmd)
                if shared.serves_interaction(cmd.guild_id, cmd.context) =>
            {
                shared.autocomplete(&ctx, &cmd).await;
            }
            Interaction::Component(click) => {
                if shared.is_from_bot(&click.user)
                    || !shared.serves_interaction(click.guild_id, click.context)
                {
                    return;
                }
                let nick = click.member.as_ref().and_then(|m| m.nick.as_deref());
                shared.queue(Some(Incoming::Click {
                    origin: origin(&ctx, click.guild_id, click.channel_id.get()),
                    author: Author {
                        external: false,
                        id: click.user.id.to_string().into(),
                        name: name_of(&click.user, nick),
                    },
                    interaction: Box::new(click),
                }));
            }
            _ => {}
        }
    }
}

/// Where serenity sends requests unless `api_url` (DISCORD_API_URL) says otherwise.
const API_URL: &str = "https://discord.com";

/// The first request's failure, told apart: nothing answered (network, DNS, a
/// wrong DISCORD_API_URL), the token was refused (401), or Discord failed otherwise.
fn sign_in_error(url: &str, error: serenity::Error) -> DiscordError {
    use serenity::http::HttpError;
    let url = url.to_string();
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let reason = format!("{} {}", response.status_code, response.error.message);
            if response.status_code.as_u16() == 401 {
                DiscordError::Auth(reason)
            } else {
                DiscordError::SignIn { url, reason }
            }
        }
        serenity::Error::Http(HttpError::Request(e)) => DiscordError::Unreachable {
            url,
            reason: causes(&e),
        },
        other => DiscordError::SignIn {
            url,
            reason: other.to_string(),
        },
    }
}

/// An error and its sources on one line: reqwest's own message alone says only
/// that sending failed, the cause (refused, DNS) is further down.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let line = e.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = e.source();
    }
    text
}

/// The lease a replica holds while it is connected to the gateway.
pub const GATEWAY: &str = "discord-gateway";

/// A client for Discord's HTTP API, at `api_url` when set.
fn http(config: &config::Discord) -> Result<serenity::http::Http, DiscordError> {
    let token = config.token.as_ref().ok_or(DiscordError::Missing)?;
    let mut http = HttpBuilder::new(token.expose());
    if let Some(url) = &config.api_url {
        // A local server (tests) takes requests as they are; serenity's
        // ratelimiter would bypass the proxy, so it is off there only.
        http = http.proxy(url.as_str()).ratelimiter_disabled(true);
    }
    Ok(http.build())
}

/// Runs the Discord adapter until `wiring.stop` is cancelled, then closes the
/// gateway and returns once its deliverer has drained (see `adapters`).
///
/// Replies go out over HTTP from every replica; the gateway, which hands every
/// event to every connection, is held by one replica at a time (`lease`): the
/// others post what their operations say and stand by to take it over.
pub async fn run(
    config: &config::Discord,
    catalog: &Catalog,
    direct_messages: bool,
    wiring: Wiring,
) -> Result<(), DiscordError> {
    let Wiring {
        handler,
        outbox,
        replies,
        health,
        stop: shutdown,
        replicas,
    } = wiring;
    let http = Arc::new(http(config)?);
    let me = http
        .get_current_user()
        .await
        .map_err(|e| sign_in_error(config.api_url.as_deref().unwrap_or(API_URL), e))?;
    tracing::info!(user = %me.name, id = %me.id, "discord: signed in");

    let (command, usages) = slash_command(catalog);
    let (inbox_tx, inbox_rx) = crate::adapters::Inbox::new("discord");
    let shared = Arc::new(Shared {
        bot: me.id,
        allow_bots: config.allow_bots,
        guilds: config.guilds.iter().map(|g| GuildId::new(*g)).collect(),
        direct_messages,
        foreign: Mutex::default(),
        command,
        usages,
        handler: Arc::clone(&handler),
        registered: AtomicBool::new(false),
        inbox: inbox_tx,
        health: health.clone(),
        posting: Arc::clone(&http),
    });

    let (direct_tx, direct_rx) = mpsc::unbounded_channel::<Direct>();
    let deliverer = tokio::spawn(crate::adapters::edits::deliver(
        Deliverer::new(Arc::clone(&http)),
        replies,
        direct_rx,
    ));
    let worker = tokio::spawn(work(inbox_rx, handler, outbox, direct_tx));

    let intents = intents(config.prefix_commands);
    let result = crate::adapters::lease::hold(
        replicas,
        GATEWAY,
        "discord: the gateway",
        shutdown,
        // A replica standing by answers: it posts, and takes over the gateway.
        || health.report("discord", true),
        |end| gateway(config, Arc::clone(&shared), intents, end),
    )
    .await;
    health.report("discord", false);
    // No more events: the worker ends once its queue is empty, and the deliverer
    // once every operation the worker started has sent its last reply.
    drop(shared);
    let _ = worker.await;
    let _ = deliverer.await;
    result
}

/// One gateway session: connects (within Discord's daily IDENTIFY budget),
/// takes events until `end`, then closes the connection.
async fn gateway(
    config: &config::Discord,
    shared: Arc<Shared>,
    intents: GatewayIntents,
    end: tokio_util::sync::CancellationToken,
) -> Result<(), DiscordError> {
    let http = http(config)?;
    match http.get_bot_gateway().await {
        Ok(gateway) => {
            let limit = &gateway.session_start_limit;
            let wait = identify_wait(
                limit.remaining,
                limit.total,
                std::time::Duration::from_millis(limit.reset_after),
            );
            if !wait.is_zero() {
                tracing::warn!(
                    remaining = limit.remaining,
                    total = limit.total,
                    wait_s = wait.as_secs(),
                    "discord: most of today's gateway sessions are used (Discord's IDENTIFY budget); waiting before connecting"
                );
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = end.cancelled() => return Ok(()),
                }
            }
        }
        // The gateway itself says more than this would: connect and see.
        Err(e) => tracing::warn!(error = %e, "discord: could not read the session budget"),
    }
    let health = shared.health.clone();
    let mut client = ClientBuilder::new_with_http(http, intents)
        .event_handler(Events(shared))
        .await
        .map_err(|e| DiscordError::Gateway(e.to_string()))?;
    let shards = Arc::clone(&client.shard_manager);
    let stopper = tokio::spawn(async move {
        end.cancelled().await;
        shards.shutdown_all().await;
    });
    let result = client.start().await.map_err(|e| match e {
        serenity::Error::Gateway(
            GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
        ) => DiscordError::Intents,
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
            DiscordError::Auth("the gateway said the token is invalid".into())
        }
        other => DiscordError::Gateway(other.to_string()),
    });
    stopper.abort();
    health.report("discord", false);
    result
}

/// How long to wait before identifying, given Discord's session budget
/// (`session_start_limit`: 1000 a day for most bots). Half the budget is
/// free; past that, what is left is spread over the time until it resets, so
/// a crash loop slows to a pace the budget sustains instead of spending it
/// and locking the bot out for the rest of the day.
fn identify_wait(
    remaining: u64,
    total: u64,
    reset_after: std::time::Duration,
) -> std::time::Duration {
    if remaining.saturating_mul(2) > total {
        std::time::Duration::ZERO
    } else if remaining == 0 {
        reset_after
    } else {
        reset_after / u32::try_from(remaining).unwrap_or(u32::MAX)
    }
}

async fn work(
    mut inbox: mpsc::Receiver<Incoming>,
    handler: Arc<dyn Handle>,
    outbox: mpsc::UnboundedSender<Outbound>,
    direct: mpsc::UnboundedSender<Direct>,
) {
    while let Some(incoming) = inbox.recv().await {
        match incoming {
            Incoming::Message {
                origin,
                author,
                text,
                via,
            } => crate::adapters::answer(&*handler, origin, &author, via, &text, &outbox),
            Incoming::Slash {
                origin,
                author,
                text,
                interaction,
            } => {
                let inbound = Inbound {
                    origin: &origin,
                    author: &author,
                    via: Via::Addressed,
                    text: &text,
                };
                // The deferred answer always gets the first reply, or says where the
                // work went: progress lives in channel messages (see deliver.rs).
                // Echoed option text is what someone typed: a backtick in it
                // must not break out of the code span (F18).
                let shown = crate::message::neutralise(&text, 100);
                let reply = match handler.handle(&inbound, &outbox) {
                    Handled::Reply(reply) if reply.id.is_none() => reply,
                    Handled::Reply(reply) => {
                        let _ = outbox.send(Outbound { origin, reply });
                        crate::message::Reply::text(format!("`{shown}`: see below."))
                    }
                    Handled::Started => crate::message::Reply::text(format!(
                        "`{shown}`: on it, progress follows below."
                    )),
                    Handled::Ignored => crate::message::Reply::text(format!(
                        "Nothing to do for `{shown}`; try `/{COMMAND} help`."
                    )),
                };
                let _ = direct.send(Direct::Answer { interaction, reply });
            }
            Incoming::Click {
                origin,
                author,
                interaction,
            } => {
                let command = interaction.data.custom_id.clone();
                let note =
                    match crate::adapters::click(&*handler, &origin, &author, &command, &outbox) {
                        Click::Settled(note) => note,
                        Click::Refused(text) => {
                            // Only the clicker hears why; the buttons stay for the right person.
                            let _ = direct.send(Direct::Refuse { interaction, text });
                            continue;
                        }
                    };
                let prompt = interaction.message.content.clone();
                let _ = direct.send(Direct::Settle {
                    interaction,
                    prompt,
                    note,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifying_slows_once_half_the_daily_budget_is_spent() {
        use std::time::Duration;
        let day = Duration::from_secs(86_400);
        assert_eq!(identify_wait(1000, 1000, day), Duration::ZERO);
        assert_eq!(identify_wait(501, 1000, day), Duration::ZERO);
        // 500 left for the day: one every 172.8 s, the rate the budget sustains.
        assert_eq!(identify_wait(500, 1000, day), day / 500);
        assert_eq!(
            identify_wait(1, 1000, Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(
            identify_wait(0, 1000, Duration::from_secs(90)),
            Duration::from_secs(90)
        );
    }

    #[test]
    fn intents_ask_for_message_content_only_for_prefix_commands() {
        assert!(intents(true).contains(GatewayIntents::MESSAGE_CONTENT));
        let without = intents(false);
        assert!(!without.intersects(GatewayIntents::privileged()));
        assert!(without.contains(GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES));
    }

    fn options(json: serde_json::Value) -> Vec<CommandDataOption> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn slash_options_become_the_text_a_person_would_type() {
        let usage = Usage::parse("deploy <app> <version> [--plan]").unwrap();
        let given = options(serde_json::json!([
            {"name": "version", "type": 3, "value": "v2"},
            {"name": "app", "type": 3, "value": "hubot"},
        ]));
        assert_eq!(typed(&usage, &given), "deploy hubot v2");
        let planned = options(serde_json::json!([
            {"name": "app", "type": 3, "value": "hubot"},
            {"name": "version", "type": 3, "value": "v2"},
            {"name": "plan", "type": 5, "value": true},
        ]));
        assert_eq!(typed(&usage, &planned), "deploy hubot v2 --plan");
        let status = Usage::parse("status [<app>]").unwrap();
        assert_eq!(typed(&status, &[]), "status");
    }
}
