//! `dockhand.toml` plus environment overrides, validated into `Config`.
//!
//! The file is read once at start; every problem is collected and reported with
//! the key that has it, and the bot refuses to start on any. Tokens never live in
//! the file: they come from the environment or from files the config names (the
//! way ECS mounts Secrets Manager values), and `Secret`'s `Debug` never shows them.
//! See `dockhand.example.toml` for the annotated reference.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::command::value::{AppName, StackName};
use crate::message::Platform;

mod notifications;
pub use notifications::{Channel, Class, Notifications, QuietHours, Route, Send};

/// A token or other secret. Printing it with `{:?}` shows `Secret(<redacted>)`;
/// the only way to the value is `expose`, named so every use stands out.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    prefix: Option<String>,
    bot_name: Option<String>,
    commands_dir: Option<PathBuf>,
    metrics_addr: Option<String>,
    metrics_endpoint: Option<String>,
    #[serde(default)]
    aws: RawAws,
    #[serde(default)]
    watch: RawWatch,
    #[serde(default)]
    environments: BTreeMap<String, RawEnvironment>,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    discord: RawDiscord,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    notifications: notifications::RawNotifications,
    #[serde(default)]
    state: RawState,
    secret_names: Option<Vec<String>>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    channels: BTreeMap<String, RawBinding>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    table: Option<String>,
}

/// `[state]`: where replicas share what one process would keep in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The DynamoDB table (in `aws.region`) that holds the apps' holds, so two
    /// or more replicas run one operation per app between them. `None`: one
    /// replica, its own memory (and ECS tags for locks and records).
    pub table: Option<String>,
}

/// A DynamoDB table name: 3 to 255 of letters, digits, `_`, `-` and `.`.
fn parse_state(raw: RawState, p: &mut Problems) -> State {
    let table = raw.table.filter(|t| {
        let ok = (3..=255).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok {
            p.problem(
                "state.table",
                "must be a DynamoDB table name: 3 to 255 letters, digits, `_`, `-` or `.`",
            );
        }
        ok
    });
    State { table }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    person_burst: Option<u32>,
    person_per_minute: Option<u32>,
    channel_burst: Option<u32>,
    channel_per_minute: Option<u32>,
    aws_reads_per_second: Option<u32>,
    follow_minutes: Option<u32>,
    follows: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    #[serde(default)]
    direct_messages: bool,
    #[serde(default)]
    external_users: bool,
    confirm_minutes: Option<u64>,
    audit_channel: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBinding {
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    environments: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    verbs: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    max_count: Option<u32>,
    #[serde(default)]
    break_locks: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    max_attempts: Option<u32>,
    call_timeout_seconds: Option<u64>,
    #[serde(default)]
    budget: RawBudget,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    ecs: Option<f64>,
    cloudformation: Option<f64>,
    logs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    poll_seconds: Option<f64>,
    timeout_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    region: Option<String>,
    role_arn: Option<String>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    two_person: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    environment: String,
    stack: Option<String>,
    version_parameter: Option<String>,
    count_parameter: Option<String>,
    cluster: Option<String>,
    service: Option<String>,
    container: Option<String>,
    min: Option<u32>,
    max: Option<u32>,
    timeout_minutes: Option<u64>,
    hide_outputs: Option<Vec<String>>,
    show_outputs: Option<Vec<String>>,
    capabilities: Option<Vec<String>>,
    alarms: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    app_token_file: Option<PathBuf>,
    bot_token_file: Option<PathBuf>,
    signing_secret_file: Option<PathBuf>,
    api_url: Option<String>,
    mode: Option<String>,
    listen: Option<String>,
    allow_bots: Option<bool>,
    // Set from the environment only: `skip` also keeps tokens out of the file.
    #[serde(skip)]
    app_token: Option<Secret>,
    #[serde(skip)]
    bot_token: Option<Secret>,
    #[serde(skip)]
    signing_secret: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    token_file: Option<PathBuf>,
    api_url: Option<String>,
    allow_bots: Option<bool>,
    guilds: Option<Vec<u64>>,
    prefix_commands: Option<bool>,
    #[serde(skip)]
    token: Option<Secret>,
}

/// A deployment environment: where its apps live in AWS and how carefully to treat them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Overrides the default region for this environment's apps.
    pub region: Option<String>,
    /// A role to assume for this environment (multi-account set-ups).
    pub role_arn: Option<String>,
    /// Mutations here ask the requester for a confirmation first.
    pub protected: bool,
    /// The confirmation must come from someone other than the requester.
    pub two_person: bool,
}

/// How an app is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A CloudFormation stack whose parameters set the image tag and the task count;
    /// its ECS service is found from the stack's `AWS::ECS::Service` resource.
    Stack {
        stack: StackName,
        version_parameter: String,
        count_parameter: String,
        /// Which outputs `stack` shows (`hide_outputs`, `show_outputs`).
        outputs: OutputRules,
        /// What a change acknowledges (`capabilities`): nothing unless the
        /// config says the stack needs it, so a parameter that drives IAM
        /// changes fails instead of passing unseen (F12).
        capabilities: Vec<Capability>,
    },
    /// An ECS service whose task definition is copied with `container`'s image tag replaced.
    Service {
        cluster: String,
        service: String,
        container: String,
    },
}

/// An app dockhand manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: AppName,
    pub environment: String,
    pub target: Target,
    pub min: u32,
    pub max: u32,
    pub timeout: Duration,
    /// CloudWatch alarms whose state changes are this app's notifications.
    pub alarms: Vec<String>,
}

impl App {
    /// The container dockhand reads the version from, when config names one
    /// (service-managed apps; a stack-managed app's is found in its revision).
    pub fn container(&self) -> Option<&str> {
        match &self.target {
            Target::Service { container, .. } => Some(container),
            Target::Stack { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aws {
    /// Default region; `AWS_REGION` and the profile apply when unset.
    pub region: Option<String>,
    pub max_attempts: u32,
    pub call_timeout: Duration,
    pub budget: Budget,
}

/// `[aws.budget]`: sustained AWS calls per second dockhand allows itself per
/// service, account and region, with bursts of four times that for ECS and twice
/// that for the others (`ops::aws::budget`).
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub ecs: f64,
    pub cloudformation: f64,
    pub logs: f64,
}

impl Default for Budget {
    /// Below what AWS throttles at, with room for the other tools in the account
    /// (CI, the console, Terraform) that share its buckets:
    /// - ECS: 10/s (bursts of 40). Its read categories refill at 20/s with
    ///   buckets of 50-100 (DescribeServices, DescribeServiceDeployments,
    ///   DescribeTaskDefinition...); UpdateService refills at 5/s from 50 and
    ///   RegisterTaskDefinition at 1/s from 20, which a bot's rare writes stay
    ///   within. <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html>
    /// - CloudFormation: 4/s (bursts of 8). AWS publishes no rates for its API
    ///   (<https://docs.aws.amazon.com/general/latest/gr/cfn.html> lists only
    ///   counts); "Rate exceeded" on DescribeStacks is a known failure of
    ///   pipelines that poll it, and AWS's advice is to poll less
    ///   (<https://repost.aws/knowledge-center/cloudformation-rate-exceeded-error>).
    /// - CloudWatch Logs: 2.5/s (bursts of 5): FilterLogEvents is the tightest
    ///   at 5 per second per account and region.
    ///   <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html>
    fn default() -> Budget {
        Budget {
            ecs: 10.0,
            cloudformation: 4.0,
            logs: 2.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub poll: Duration,
    pub timeout: Duration,
}

/// `[slack]`: tokens (from the environment or files) and how to connect.
#[derive(Debug, Clone)]
pub struct Slack {
    /// `xapp-...`: Socket Mode's connection token.
    pub app_token: Option<Secret>,
    /// `xoxb-...`: the Web API token replies are posted with.
    pub bot_token: Option<Secret>,
    /// The Events API's signing secret (HTTP mode only).
    pub signing_secret: Option<Secret>,
    /// The Web API's base URL; only tests and proxies change it.
    pub api_url: String,
    pub mode: SlackMode,
    /// Whether other bots' messages are commands (the bot's own never are).
    pub allow_bots: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackMode {
    /// A websocket dockhand opens: no public endpoint, the default.
    Socket,
    /// Slack POSTs events to `listen` (behind a load balancer).
    Http { listen: String },
}

pub const SLACK_API_URL: &str = "https://slack.com/api";

/// `[discord]`: the bot token and how the bot is addressed there.
#[derive(Debug, Clone)]
pub struct Discord {
    pub token: Option<Secret>,
    /// Where the REST API is (requests go to `{api_url}/api/v10/...`); only tests
    /// and proxies set it, and then the gateway is whatever that API names.
    pub api_url: Option<String>,
    /// Whether other bots' messages are commands (the bot's own never are).
    pub allow_bots: bool,
    /// The servers (guild ids) dockhand serves, required when Discord is on:
    /// `/dockhand` is registered in each, events from any other are ignored, and
    /// the bot leaves servers not listed.
    pub guilds: Vec<u64>,
    /// Whether `!deploy ...` messages are read. They need the privileged
    /// MESSAGE_CONTENT intent; without it, only mentions and `/dockhand` work.
    pub prefix_commands: bool,
}

/// Which of a stack's outputs chat shows. Names that look secret and values that
/// look like credentials are hidden anyway (see `ops::mask`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputRules {
    /// Output names never shown; `"*"` hides every output.
    pub hide: Vec<String>,
    /// Output names shown although their name looks secret.
    pub show: Vec<String>,
}

/// A CloudFormation capability a stack's updates acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Iam,
    NamedIam,
    AutoExpand,
}

impl Capability {
    pub const ALL: [Capability; 3] = [
        Capability::Iam,
        Capability::NamedIam,
        Capability::AutoExpand,
    ];

    /// CloudFormation's name for it, as the config writes it too.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Iam => "CAPABILITY_IAM",
            Capability::NamedIam => "CAPABILITY_NAMED_IAM",
            Capability::AutoExpand => "CAPABILITY_AUTO_EXPAND",
        }
    }
}

/// Where `/metrics` is served (`metrics_endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// With the probes, on `metrics_addr` (the default).
    WithHealth,
    Off,
    /// On an address of its own (`127.0.0.1:9103`), so the probes' port can be
    /// open to a load balancer while metrics stay local.
    At(String),
}

/// `[limits]`: how fast commands are taken (F10). A person may send a burst of
/// `person_burst` commands, then `person_per_minute`; a channel likewise; and
/// the reads chat starts (`status`, `stack`, ...) share `aws_reads_per_second`,
/// well below ECS's and CloudFormation's own limits. Operations' watches are not
/// counted against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub person_burst: u32,
    pub person_per_minute: u32,
    pub channel_burst: u32,
    pub channel_per_minute: u32,
    pub aws_reads_per_second: u32,
    /// How long `logs --follow` tails when no duration is given, and at most.
    pub follow_minutes: u32,
    /// Live tails running at once, in every channel together.
    pub follows: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            person_burst: 10,
            person_per_minute: 30,
            channel_burst: 30,
            channel_per_minute: 120,
            aws_reads_per_second: 10,
            follow_minutes: 10,
            follows: 5,
        }
    }
}

fn parse_limits(raw: RawLimits, p: &mut Problems) -> Limits {
    let d = Limits::default();
    let mut positive = |key: &str, v: Option<u32>, default: u32| match v {
        Some(0) => {
            p.problem(format!("limits.{key}"), "must be at least 1");
            default
        }
        Some(n) => n,
        None => default,
    };
    let mut limits = Limits {
        person_burst: positive("person_burst", raw.person_burst, d.person_burst),
        person_per_minute: positive(
            "person_per_minute",
            raw.person_per_minute,
            d.person_per_minute,
        ),
        channel_burst: positive("channel_burst", raw.channel_burst, d.channel_burst),
        channel_per_minute: positive(
            "channel_per_minute",
            raw.channel_per_minute,
            d.channel_per_minute,
        ),
        aws_reads_per_second: positive(
            "aws_reads_per_second",
            raw.aws_reads_per_second,
            d.aws_reads_per_second,
        ),
        follow_minutes: positive("follow_minutes", raw.follow_minutes, d.follow_minutes),
        follows: positive("follows", raw.follows, d.follows),
    };
    if limits.follow_minutes > 24 * 60 {
        p.problem(
            "limits.follow_minutes",
            "must be at most 1440 (a day): a tail is for watching, not for keeping",
        );
        limits.follow_minutes = d.follow_minutes;
    }
    limits
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub prefix: String,
    pub bot_name: String,
    pub commands_dir: PathBuf,
    /// Where `dockhand run` serves `/healthz`, `/readyz` (and `/metrics`, unless
    /// `metrics` says otherwise).
    pub metrics_addr: String,
    /// Where `/metrics` is served.
    pub metrics: MetricsEndpoint,
    pub aws: Aws,
    pub watch: Watch,
    pub environments: BTreeMap<String, Environment>,
    pub apps: BTreeMap<AppName, App>,
    pub slack: Slack,
    pub discord: Discord,
    pub access: Access,
    pub limits: Limits,
    pub notifications: Notifications,
    pub state: State,
    /// Parameter, output and environment names whose values are never shown
    /// (case-insensitive substrings).
    pub secret_names: Vec<String>,
}

impl Config {
    /// Whether a name (a parameter, an output, an environment variable) looks
    /// like it holds a secret.
    pub fn looks_secret(&self, name: &str) -> bool {
        let upper = name.to_ascii_uppercase();
        self.secret_names.iter().any(|s| upper.contains(s.as_str()))
    }
}

/// Who may do what where: `[access]`, `[roles]`, `[channels]` and `[[rules]]`.
/// `policy` decides with it; see `dockhand.example.toml` for the reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Role name -> identities (`slack:U024BE7LH`, `discord:80351110224678912`).
    pub roles: BTreeMap<String, Vec<String>>,
    /// Channel identity (`slack:C0DEPLOY`) -> the apps and environments it is for.
    pub channels: BTreeMap<String, Binding>,
    pub rules: Vec<Rule>,
    /// Whether a rule can allow a mutation asked in a direct message at all.
    pub direct_messages: bool,
    /// Whether a rule can allow a mutation asked by someone from another
    /// organisation (Slack Connect) at all.
    pub external_users: bool,
    /// How long a confirmation code stays valid.
    pub confirm_ttl: Duration,
    /// Where audit events are also posted (`slack:C0AUDIT`), besides the log.
    pub audit_channel: Option<String>,
}

/// The apps and environments a channel is bound to: read-only verbs on them are
/// allowed there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub apps: Vec<AppName>,
    pub environments: Vec<String>,
}

/// One rule: these verbs, on these apps or environments, in these channels, for
/// these roles (an empty list means any), optionally bounded by the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// Verb names, each one dockhand knows (checked at load).
    pub verbs: Vec<String>,
    pub apps: Vec<AppName>,
    pub environments: Vec<String>,
    pub channels: Vec<String>,
    pub roles: Vec<String>,
    /// For `scale`: the highest count this rule allows.
    pub max_count: Option<u32>,
    /// With `unlock`: may remove a lock someone else took.
    pub break_locks: bool,
}

impl Rule {
    /// Whether the rule names this verb.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9102";
pub const DEFAULT_CONFIRM_MINUTES: u64 = 2;
pub const DEFAULT_SECRET_NAMES: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"];

/// One configuration problem: where it is and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {problem}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

/// Where environment overrides come from; a trait object so tests pass a map
/// instead of mutating the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// An environment variable that overrides one config key. `ENVIRONMENT` lists
/// every one, so `Config::parse` applies them all the same way and
/// `dockhand check` can show them: adding an override is adding a row.
pub struct EnvVar {
    pub name: &'static str,
    /// The key it overrides, as `dockhand.toml` spells it.
    pub key: &'static str,
    /// One line on what it is for.
    pub about: &'static str,
    parse: Parse,
}

impl EnvVar {
    /// Whether the value is a secret (a token): listed by name only, never shown.
    pub fn is_secret(&self) -> bool {
        matches!(self.parse, Parse::Secret(_))
    }
}

/// How a variable's text becomes a value, and which raw field it replaces
/// (a function, so each row names its field once and the compiler checks it).
#[derive(Clone, Copy)]
enum Parse {
    /// The whole config text: `load_from_env` reads it before there is a file.
    Document,
    Text(fn(&mut RawConfig) -> &mut Option<String>),
    Path(fn(&mut RawConfig) -> &mut Option<PathBuf>),
    /// A number of seconds, fractions allowed.
    Seconds(fn(&mut RawConfig) -> &mut Option<f64>),
    /// A token. Empty counts as unset, so the key's `_file` still applies.
    Secret(fn(&mut RawConfig) -> &mut Option<Secret>),
}

const CONFIG_TOML: &str = "DOCKHAND_CONFIG_TOML";

const fn var(name: &'static str, key: &'static str, about: &'static str, parse: Parse) -> EnvVar {
    EnvVar {
        name,
        key,
        about,
        parse,
    }
}

/// Every variable the config reads, in the order `dockhand check` lists them.
const ENVIRONMENT: &[EnvVar] = &[
    var(
        CONFIG_TOML,
        "(file)",
        "the whole config when no file is named (ECS passes it from SSM)",
        Parse::Document,
    ),
    var(
        "DOCKHAND_PREFIX",
        "prefix",
        "what starts a command in a channel, e.g. `!`",
        Parse::Text(|r| &mut r.prefix),
    ),
    var(
        "DOCKHAND_BOT_NAME",
        "bot_name",
        "the name the bot answers to",
        Parse::Text(|r| &mut r.bot_name),
    ),
    var(
        "DOCKHAND_COMMANDS",
        "commands_dir",
        "the command catalogue directory",
        Parse::Path(|r| &mut r.commands_dir),
    ),
    var(
        "DOCKHAND_METRICS_ADDR",
        "metrics_addr",
        "where `run` serves /healthz, /readyz and /metrics",
        Parse::Text(|r| &mut r.metrics_addr),
    ),
    var(
        "DOCKHAND_METRICS_ENDPOINT",
        "metrics_endpoint",
        "`/metrics` with the probes (\"with_health\", the default), \"off\", or on an address of its own",
        Parse::Text(|r| &mut r.metrics_endpoint),
    ),
    var(
        "DOCKHAND_WATCH_POLL_SECONDS",
        "watch.poll_seconds",
        "how often AWS is polled per operation",
        Parse::Seconds(|r| &mut r.watch.poll_seconds),
    ),
    var(
        "DOCKHAND_AWS_REGION",
        "aws.region",
        "the default AWS region",
        Parse::Text(|r| &mut r.aws.region),
    ),
    var(
        "DOCKHAND_NOTIFICATIONS_QUEUE",
        "notifications.queue",
        "the SQS queue AWS's events arrive on (deploy/dockhand.yaml sets it)",
        Parse::Text(|r| &mut r.notifications.queue),
    ),
    var(
        "DOCKHAND_STATE_TABLE",
        "state.table",
        "the DynamoDB table replicas share (deploy/dockhand.yaml sets it)",
        Parse::Text(|r| &mut r.state.table),
    ),
    var(
        "SLACK_APP_TOKEN",
        "slack.app_token",
        "Socket Mode's `xapp-` token (else slack.app_token_file)",
        Parse::Secret(|r| &mut r.slack.app_token),
    ),
    var(
        "SLACK_BOT_TOKEN",
        "slack.bot_token",
        "the `xoxb-` token replies are posted with (else slack.bot_token_file)",
        Parse::Secret(|r| &mut r.slack.bot_token),
    ),
    var(
        "SLACK_SIGNING_SECRET",
        "slack.signing_secret",
        "HTTP mode's signing secret (else slack.signing_secret_file)",
        Parse::Secret(|r| &mut r.slack.signing_secret),
    ),
    var(
        "SLACK_API_URL",
        "slack.api_url",
        "Slack's Web API base URL (tests and proxies)",
        Parse::Text(|r| &mut r.slack.api_url),
    ),
    var(
        "DISCORD_TOKEN",
        "discord.token",
        "the Discord bot token (else discord.token_file)",
        Parse::Secret(|r| &mut r.discord.token),
    ),
    var(
        "DISCORD_API_URL",
        "discord.api_url",
        "Discord's REST API base URL (tests and proxies)",
        Parse::Text(|r| &mut r.discord.api_url),
    ),
];

/// The environment variables the config reads.
pub fn environment_variables() -> &'static [EnvVar] {
    ENVIRONMENT
}

/// The table as `dockhand check` prints it: name, key, what it is for. It
/// shows no values, so no secret can leak through it; secrets are marked.
pub fn environment_help() -> String {
    use std::fmt::Write;
    let name_width = ENVIRONMENT.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let key_width = ENVIRONMENT.iter().map(|v| v.key.len()).max().unwrap_or(0);
    let mut out = String::from("environment variables (each replaces the key it names):\n");
    for v in ENVIRONMENT {
        let secret = if v.is_secret() { " [secret]" } else { "" };
        let (name, key, about) = (v.name, v.key, v.about);
        let _ = writeln!(
            out,
            "  {name:name_width$}  {key:key_width$}  {about}{secret}"
        );
    }
    out
}

/// Puts the environment's values over the file's before anything is validated,
/// so each check sees one value and reports one key.
fn apply_environment(raw: &mut RawConfig, env: EnvLookup<'_>, p: &mut Problems) {
    for var in ENVIRONMENT {
        if let Some(value) = env(var.name) {
            var.parse.apply(var.name, value, raw, p);
        }
    }
}

impl Parse {
    fn apply(self, name: &str, value: String, raw: &mut RawConfig, p: &mut Problems) {
        match self {
            Parse::Document => {}
            Parse::Text(field) => *field(raw) = Some(value),
            Parse::Path(field) => *field(raw) = Some(PathBuf::from(value)),
            Parse::Seconds(field) => {
                // A bad value is named by its variable (the file has no such
                // line), and the file's value does not quietly stand in for it.
                *field(raw) = value.parse().ok();
                if field(raw).is_none() {
                    p.problem(name, format!("`{value}` is not a number of seconds"));
                }
            }
            Parse::Secret(_) if value.is_empty() => {}
            Parse::Secret(field) => *field(raw) = Some(Secret(value)),
        }
    }
}

/// Collects every problem in a config, so all are reported at once, each with
/// the key that has it, rather than one per attempt to start.
struct Problems {
    file: String,
    found: Vec<ConfigError>,
}

impl Problems {
    fn new(file: &str) -> Problems {
        Problems {
            file: file.to_string(),
            found: Vec::new(),
        }
    }

    fn problem(&mut self, key: impl Into<String>, text: impl Into<String>) {
        self.found.push(ConfigError {
            file: self.file.clone(),
            key: key.into(),
            problem: text.into(),
        });
    }

    /// Everything found, if anything was.
    fn finish(self) -> Result<(), Vec<ConfigError>> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(self.found)
        }
    }
}

pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT_MINUTES: u64 = 30;

impl Config {
    /// Reads `path` (when given) and applies the environment. Without a file the
    /// defaults apply: no apps, so only the commands that need no AWS are useful.
    pub fn load(
        path: Option<&Path>,
        env: EnvLookup<'_>,
        verbs: &[&str],
    ) -> Result<Config, Vec<ConfigError>> {
        let (file, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    vec![ConfigError {
                        file: p.display().to_string(),
                        key: "(file)".into(),
                        problem: format!("cannot read it: {e}"),
                    }]
                })?;
                (p.display().to_string(), text)
            }
            None => ("(defaults)".to_string(), String::new()),
        };
        Self::parse(&file, &text, env, verbs)
    }

    /// Like `load`, but the config's text may come from `DOCKHAND_CONFIG_TOML`
    /// (how ECS hands it over, from an SSM parameter): a file named on the command
    /// line or in `DOCKHAND_CONFIG` wins over it.
    pub fn load_from_env(
        path: Option<&Path>,
        env: EnvLookup<'_>,
        verbs: &[&str],
    ) -> Result<Config, Vec<ConfigError>> {
        match (path, env(CONFIG_TOML)) {
            (None, Some(text)) => Self::parse(CONFIG_TOML, &text, env, verbs),
            _ => Self::load(path, env, verbs),
        }
    }

    /// Validates `text` (named `file` in problems) with the environment over it.
    /// Each section is checked by its own function below, in the order its
    /// problems are listed; all of them run, so every problem is reported at once.
    /// `verbs` are the verbs rules may name (`dockhand::verbs::NAMES`): config
    /// sits below the verbs, so it is told them.
    pub fn parse(
        file: &str,
        text: &str,
        env: EnvLookup<'_>,
        verbs: &[&str],
    ) -> Result<Config, Vec<ConfigError>> {
        let mut raw = read_toml(file, text)?;
        let mut p = Problems::new(file);
        apply_environment(&mut raw, env, &mut p);
        let prefix = parse_prefix(raw.prefix, &mut p);
        let bot_name = parse_bot_name(raw.bot_name, &mut p);
        let watch = parse_watch(&raw.watch, &mut p);
        let environments = parse_environments(raw.environments, &mut p);
        let apps = parse_apps(raw.apps, &environments, watch.timeout, &mut p);
        let slack = parse_slack(raw.slack, &mut p);
        let discord = parse_discord(raw.discord, &mut p);
        let limits = parse_limits(raw.limits, &mut p);
        let sections = RawAccessSections {
            access: raw.access,
            roles: raw.roles,
            channels: raw.channels,
            rules: raw.rules,
        };
        let access = parse_access(sections, &environments, &apps, verbs, &mut p);
        let declared = Declared {
            environments: &environments,
            apps: &apps,
            roles: &access.roles,
            verbs,
        };
        let notifications =
            notifications::parse_notifications(raw.notifications, &declared, &mut p);
        let state = parse_state(raw.state, &mut p);
        let aws = parse_aws(raw.aws, &mut p);
        p.finish()?;
        Ok(Config {
            prefix,
            bot_name,
            commands_dir: raw
                .commands_dir
                .unwrap_or_else(|| PathBuf::from("commands")),
            metrics_addr: raw
                .metrics_addr
                .unwrap_or_else(|| DEFAULT_METRICS_ADDR.into()),
            metrics: match raw.metrics_endpoint.as_deref() {
                None | Some("with_health") => MetricsEndpoint::WithHealth,
                Some("off") => MetricsEndpoint::Off,
                Some(addr) => MetricsEndpoint::At(addr.to_string()),
            },
            aws,
            watch,
            environments,
            apps,
            slack,
            discord,
            access,
            limits,
            notifications,
            state,
            secret_names: secret_names(raw.secret_names),
        })
    }

    /// The environment of an app (validated to exist at load).
    pub fn environment_of(&self, app: &App) -> &Environment {
        &self.environments[&app.environment]
    }

    /// The environments to look at for account-wide commands (`stacks`): every
    /// configured one, or the default region when none is.
    pub fn environments_or_default(&self) -> Vec<Environment> {
        let mut envs: Vec<Environment> = self.environments.values().cloned().collect();
        if envs.is_empty() {
            envs.push(Environment {
                name: "default".into(),
                region: None,
                role_arn: None,
                protected: false,
                two_person: false,
            });
        }
        envs
    }
}

/// The TOML itself. A syntax error or an unknown key stops here, as the one
/// problem: nothing after it could be trusted.
fn read_toml(file: &str, text: &str) -> Result<RawConfig, Vec<ConfigError>> {
    toml::from_str(text).map_err(|e| {
        let key = e.span().map(|s| {
            let line = text[..s.start].matches('\n').count() + 1;
            format!("line {line}")
        });
        vec![ConfigError {
            file: file.into(),
            key: key.unwrap_or_else(|| "(file)".into()),
            problem: e.message().to_string(),
        }]
    })
}

fn parse_prefix(prefix: Option<String>, p: &mut Problems) -> String {
    let prefix = prefix.unwrap_or_else(|| "!".into());
    if prefix.is_empty() || prefix.len() > 3 || prefix.chars().any(char::is_whitespace) {
        p.problem(
            "prefix",
            "use one to three characters without spaces, e.g. `!`",
        );
    }
    prefix
}

fn parse_bot_name(name: Option<String>, p: &mut Problems) -> String {
    let name = name.unwrap_or_else(|| "dockhand".into());
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || !name.chars().all(word) {
        p.problem("bot_name", "use letters, digits, `-` and `_`");
    }
    name
}

fn parse_watch(raw: &RawWatch, p: &mut Problems) -> Watch {
    let poll = match raw.poll_seconds {
        Some(s) if (0.05..=300.0).contains(&s) => Duration::from_secs_f64(s),
        Some(_) => {
            p.problem(
                "watch.poll_seconds",
                "use a value from 0.05 to 300 (AWS is polled this often per operation)",
            );
            DEFAULT_POLL
        }
        None => DEFAULT_POLL,
    };
    let minutes = raw.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    Watch {
        poll,
        timeout: Duration::from_secs(minutes * 60),
    }
}

fn parse_aws(raw: RawAws, p: &mut Problems) -> Aws {
    Aws {
        region: raw.region,
        max_attempts: raw.max_attempts.unwrap_or(3).clamp(1, 10),
        call_timeout: Duration::from_secs(raw.call_timeout_seconds.unwrap_or(20)),
        budget: parse_budget(&raw.budget, p),
    }
}

fn parse_budget(raw: &RawBudget, p: &mut Problems) -> Budget {
    let d = Budget::default();
    let mut rate = |key: &str, value: Option<f64>, default: f64| match value {
        None => default,
        Some(v) if (0.1..=1000.0).contains(&v) => v,
        Some(_) => {
            p.problem(
                format!("aws.budget.{key}"),
                format!(
                    "use calls per second from 0.1 to 1000 (the default, {default}, is below AWS's own limit)"
                ),
            );
            default
        }
    };
    Budget {
        ecs: rate("ecs", raw.ecs, d.ecs),
        cloudformation: rate("cloudformation", raw.cloudformation, d.cloudformation),
        logs: rate("logs", raw.logs, d.logs),
    }
}

fn parse_environments(
    raw: BTreeMap<String, RawEnvironment>,
    p: &mut Problems,
) -> BTreeMap<String, Environment> {
    let mut environments = BTreeMap::new();
    for (name, e) in raw {
        if let Some(role) = &e.role_arn
            && !role.starts_with("arn:aws")
        {
            p.problem(
                format!("environments.{name}.role_arn"),
                "write the role's full ARN, `arn:aws:iam::<account>:role/<name>`",
            );
        }
        let environment = Environment {
            name: name.clone(),
            region: e.region,
            role_arn: e.role_arn,
            // Two-person confirmation is a kind of confirmation.
            protected: e.protected || e.two_person,
            two_person: e.two_person,
        };
        environments.insert(name, environment);
    }
    environments
}

/// `[apps]`: an app with a problem is left out, after every problem it has
/// is reported.
fn parse_apps(
    raw: BTreeMap<String, RawApp>,
    environments: &BTreeMap<String, Environment>,
    default_timeout: Duration,
    p: &mut Problems,
) -> BTreeMap<AppName, App> {
    raw.into_iter()
        .filter_map(|(name, a)| parse_app(&name, a, environments, default_timeout, p))
        .map(|app| (app.name.clone(), app))
        .collect()
}

fn parse_app(
    name: &str,
    a: RawApp,
    environments: &BTreeMap<String, Environment>,
    default_timeout: Duration,
    p: &mut Problems,
) -> Option<App> {
    let key = format!("apps.{name}");
    let name = AppName::parse(name)
        .map_err(|e| p.problem(&key, e.to_string()))
        .ok()?;
    check_app_environment(&key, &a.environment, environments, p);
    let target = parse_target(&key, &a, p)?;
    let (min, max) = (a.min.unwrap_or(0), a.max.unwrap_or(10));
    if min > max {
        p.problem(
            format!("{key}.min"),
            format!("min ({min}) is above max ({max})"),
        );
    }
    Some(App {
        name,
        environment: a.environment,
        target,
        min,
        max,
        timeout: a
            .timeout_minutes
            .map_or(default_timeout, |m| Duration::from_secs(m * 60)),
        alarms: a.alarms.unwrap_or_default(),
    })
}

/// `capabilities = ["CAPABILITY_IAM", ...]`, each named as CloudFormation does.
fn capabilities(key: &str, names: &[String], p: &mut Problems) -> Vec<Capability> {
    names
        .iter()
        .filter_map(|n| {
            let found = Capability::ALL.into_iter().find(|c| c.name() == n);
            if found.is_none() {
                let all: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                p.problem(
                    format!("{key}.capabilities"),
                    format!("`{n}` is not a capability: write one of {}", all.join(", ")),
                );
            }
            found
        })
        .collect()
}

/// An app's environment must be declared; the hint names the ones that are.
fn check_app_environment(
    key: &str,
    environment: &str,
    environments: &BTreeMap<String, Environment>,
    p: &mut Problems,
) {
    if environments.contains_key(environment) {
        return;
    }
    let known: Vec<&str> = environments.keys().map(String::as_str).collect();
    let or_known = if known.is_empty() {
        String::new()
    } else {
        format!(" or use one of: {}", known.join(", "))
    };
    p.problem(
        format!("{key}.environment"),
        format!("`{environment}` is not declared; add `[environments.{environment}]`{or_known}"),
    );
}

/// `stack` alone (a stack-managed app), or all of `cluster`, `service` and
/// `container` (a service-managed one); `None` once anything else is reported.
fn parse_target(key: &str, a: &RawApp, p: &mut Problems) -> Option<Target> {
    match (&a.stack, &a.cluster, &a.service, &a.container) {
        (Some(stack), None, None, None) => match StackName::parse(stack) {
            Ok(stack) => Some(Target::Stack {
                stack,
                version_parameter: a
                    .version_parameter
                    .clone()
                    .unwrap_or_else(|| "Version".into()),
                count_parameter: a
                    .count_parameter
                    .clone()
                    .unwrap_or_else(|| "DesiredCount".into()),
                outputs: OutputRules {
                    hide: a.hide_outputs.clone().unwrap_or_default(),
                    show: a.show_outputs.clone().unwrap_or_default(),
                },
                capabilities: capabilities(key, a.capabilities.as_deref().unwrap_or_default(), p),
            }),
            Err(e) => {
                p.problem(format!("{key}.stack"), e.to_string());
                None
            }
        },
        (None, Some(cluster), Some(service), Some(container)) => {
            if a.version_parameter.is_some()
                || a.count_parameter.is_some()
                || a.hide_outputs.is_some()
                || a.show_outputs.is_some()
                || a.capabilities.is_some()
            {
                p.problem(key, "`version_parameter`, `count_parameter`, `hide_outputs`, `show_outputs` and `capabilities` apply to stack-managed apps only; remove them");
            }
            check_ecs_names(
                key,
                [
                    ("cluster", cluster),
                    ("service", service),
                    ("container", container),
                ],
                p,
            );
            Some(Target::Service {
                cluster: cluster.clone(),
                service: service.clone(),
                container: container.clone(),
            })
        }
        _ => {
            p.problem(key, "set either `stack` (a stack-managed app) or all of `cluster`, `service` and `container` (a service-managed app)");
            None
        }
    }
}

/// AWS's naming rules for clusters, services and container names: checked
/// here so a typo is a config problem, not a failed deploy.
fn check_ecs_names(key: &str, names: [(&str, &String); 3], p: &mut Problems) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for (field, value) in names {
        if !(1..=255).contains(&value.len()) || !value.chars().all(allowed) {
            p.problem(
                format!("{key}.{field}"),
                format!("`{value}` is not a valid ECS name: use letters, digits, `-` and `_` (up to 255)"),
            );
        }
    }
}

fn parse_slack(raw: RawSlack, p: &mut Problems) -> Slack {
    let mode = parse_slack_mode(raw.mode.as_deref(), raw.listen, p);
    Slack {
        app_token: token(raw.app_token, "slack.app_token_file", raw.app_token_file, p),
        bot_token: token(raw.bot_token, "slack.bot_token_file", raw.bot_token_file, p),
        signing_secret: token(
            raw.signing_secret,
            "slack.signing_secret_file",
            raw.signing_secret_file,
            p,
        ),
        api_url: raw
            .api_url
            .unwrap_or_else(|| SLACK_API_URL.into())
            .trim_end_matches('/')
            .to_string(),
        mode,
        allow_bots: raw.allow_bots.unwrap_or(false),
    }
}

fn parse_slack_mode(mode: Option<&str>, listen: Option<String>, p: &mut Problems) -> SlackMode {
    match mode {
        None | Some("socket") => SlackMode::Socket,
        Some("http") => SlackMode::Http {
            listen: listen.unwrap_or_else(|| "0.0.0.0:3000".into()),
        },
        Some(other) => {
            p.problem(
                "slack.mode",
                format!("`{other}` is not a mode: write \"socket\" (the default) or \"http\""),
            );
            SlackMode::Socket
        }
    }
}

fn parse_discord(raw: RawDiscord, p: &mut Problems) -> Discord {
    let token = token(raw.token, "discord.token_file", raw.token_file, p);
    let guilds: Vec<u64> = raw.guilds.unwrap_or_default();
    // A Discord bot is public by default: without a list, any server it is
    // invited to could command it.
    if token.is_some() && guilds.is_empty() {
        p.problem(
            "discord.guilds",
            "Discord is on, so list the servers dockhand serves: `guilds = [81384788765712384]` \
             (Server Settings -> Widget, or Copy Server ID); others are ignored and left",
        );
    }
    if guilds.contains(&0) {
        p.problem("discord.guilds", "0 is not a server id");
    }
    Discord {
        token,
        api_url: raw.api_url.map(|u| u.trim_end_matches('/').to_string()),
        allow_bots: raw.allow_bots.unwrap_or(false),
        guilds,
        prefix_commands: raw.prefix_commands.unwrap_or(true),
    }
}

/// A token from the environment, else from the file `path` names (how ECS
/// mounts Secrets Manager values); a file that cannot be read is a problem.
fn token(
    from_env: Option<Secret>,
    file_key: &str,
    path: Option<PathBuf>,
    p: &mut Problems,
) -> Option<Secret> {
    if from_env.is_some() {
        return from_env;
    }
    let path = path?;
    match std::fs::read_to_string(&path) {
        Ok(v) => Some(Secret(v.trim().to_string())),
        Err(e) => {
            p.problem(file_key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// Upper-cased, as `looks_secret` upper-cases the name it checks: case never matters.
fn secret_names(names: Option<Vec<String>>) -> Vec<String> {
    names
        .unwrap_or_else(|| DEFAULT_SECRET_NAMES.iter().map(|s| s.to_string()).collect())
        .into_iter()
        .map(|s| s.to_ascii_uppercase())
        .collect()
}

/// The sections that say who may do what: validated together, after `[apps]`
/// and `[environments]`, which they refer to.
struct RawAccessSections {
    access: RawAccess,
    roles: BTreeMap<String, Vec<String>>,
    channels: BTreeMap<String, RawBinding>,
    rules: Vec<RawRule>,
}

/// What the access sections may refer to.
struct Declared<'a> {
    environments: &'a BTreeMap<String, Environment>,
    apps: &'a BTreeMap<AppName, App>,
    roles: &'a BTreeMap<String, Vec<String>>,
    verbs: &'a [&'a str],
}

impl Declared<'_> {
    /// The apps of `list` that `[apps]` declares; each other one is a problem.
    fn apps(&self, key: &str, list: &[String], p: &mut Problems) -> Vec<AppName> {
        let known = |a: &String| AppName::parse(a).ok().filter(|n| self.apps.contains_key(n));
        let mut found = Vec::new();
        for a in list {
            match known(a) {
                Some(n) => found.push(n),
                None => p.problem(key, format!("`{a}` is not an app under `[apps]`")),
            }
        }
        found
    }

    fn check_environments(&self, key: &str, list: &[String], p: &mut Problems) {
        for e in list.iter().filter(|e| !self.environments.contains_key(*e)) {
            p.problem(key, format!("`{e}` is not declared under `[environments]`"));
        }
    }
}

/// `[access]`, `[roles]`, `[channels]` and `[[rules]]`, checked against the
/// declared environments and apps.
fn parse_access(
    raw: RawAccessSections,
    environments: &BTreeMap<String, Environment>,
    apps: &BTreeMap<AppName, App>,
    verbs: &[&str],
    p: &mut Problems,
) -> Access {
    check_roles(&raw.roles, p);
    let declared = Declared {
        environments,
        apps,
        roles: &raw.roles,
        verbs,
    };
    let channels = parse_channels(raw.channels, &declared, p);
    let rules = (raw.rules.into_iter().enumerate())
        .map(|(i, r)| parse_rule(i, r, &declared, p))
        .collect();
    let confirm_ttl = parse_confirm_minutes(raw.access.confirm_minutes, p);
    check_audit_channel(raw.access.audit_channel.as_deref(), p);
    Access {
        audit_channel: raw.access.audit_channel,
        roles: raw.roles,
        channels,
        rules,
        direct_messages: raw.access.direct_messages,
        external_users: raw.access.external_users,
        confirm_ttl,
    }
}

/// Whom an identity names, which decides how its hint reads.
#[derive(Clone, Copy)]
enum Named {
    User,
    Channel,
}

/// `platform:id`, the platform one of `Platform::ALL`: a stable id, so a
/// renamed user or channel keeps its rights (display names are never used).
fn is_identity(s: &str) -> bool {
    s.split_once(':').is_some_and(|(platform, id)| {
        Platform::from_name(platform).is_some()
            && !id.is_empty()
            && !id.contains(char::is_whitespace)
    })
}

/// How to write an identity on each of `platforms`, for a hint:
/// "`slack:<user id>`, `discord:<user id>` or `shell:<user>`".
fn identity_forms(platforms: &[Platform], named: Named) -> String {
    let form = |p: &Platform| {
        let id = match (p, named) {
            (Platform::Shell, Named::User) => "<user>",
            (Platform::Shell, Named::Channel) => "<name>",
            (_, Named::User) => "<user id>",
            (_, Named::Channel) => "<channel id>",
        };
        format!("`{p}:{id}`")
    };
    let forms: Vec<String> = platforms.iter().map(form).collect();
    match forms.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => forms.concat(),
    }
}

fn check_roles(roles: &BTreeMap<String, Vec<String>>, p: &mut Problems) {
    for (role, members) in roles {
        for m in members.iter().filter(|m| !is_identity(m)) {
            p.problem(
                format!("roles.{role}"),
                format!(
                    "`{m}` is not an identity: write {} (ids, never display names)",
                    identity_forms(&Platform::ALL, Named::User)
                ),
            );
        }
    }
}

fn parse_channels(
    raw: BTreeMap<String, RawBinding>,
    declared: &Declared<'_>,
    p: &mut Problems,
) -> BTreeMap<String, Binding> {
    let mut bound = BTreeMap::new();
    for (channel, b) in raw {
        let key = format!("channels.\"{channel}\"");
        if !is_identity(&channel) {
            let forms = identity_forms(&Platform::ALL, Named::Channel);
            p.problem(&key, format!("write the channel as {forms}"));
        }
        declared.check_environments(&key, &b.environments, p);
        let apps = declared.apps(&key, &b.apps, p);
        let binding = Binding {
            apps,
            environments: b.environments,
        };
        bound.insert(channel, binding);
    }
    bound
}

/// One `[[rules]]` entry, keyed `rules[i]` (its `name` is only for people).
fn parse_rule(i: usize, r: RawRule, declared: &Declared<'_>, p: &mut Problems) -> Rule {
    let key = format!("rules[{i}]");
    let verbs = parse_verbs(&key, &r.verbs, declared.verbs, p);
    for role in r.roles.iter().filter(|x| !declared.roles.contains_key(*x)) {
        p.problem(
            format!("{key}.roles"),
            format!("`{role}` is not declared under `[roles]`"),
        );
    }
    for c in r.channels.iter().filter(|c| !is_identity(c)) {
        let forms = identity_forms(&Platform::ALL, Named::Channel);
        p.problem(
            format!("{key}.channels"),
            format!("`{c}` is not a channel: write {forms}"),
        );
    }
    declared.check_environments(&format!("{key}.environments"), &r.environments, p);
    let apps = declared.apps(&format!("{key}.apps"), &r.apps, p);
    if r.max_count.is_some() && verbs != ["scale"] {
        p.problem(
            format!("{key}.max_count"),
            "`max_count` bounds `scale`; put it in a rule whose verbs are only `[\"scale\"]`",
        );
    }
    Rule {
        name: r.name.unwrap_or_else(|| key.clone()),
        verbs,
        apps,
        environments: r.environments,
        channels: r.channels,
        roles: r.roles,
        max_count: r.max_count,
        break_locks: r.break_locks,
    }
}

/// A rule's verbs: names of verbs dockhand knows (`known`), at least one.
fn parse_verbs(key: &str, verbs: &[String], known: &[&str], p: &mut Problems) -> Vec<String> {
    let mut actions = Vec::new();
    for v in verbs {
        if known.contains(&v.as_str()) {
            actions.push(v.clone());
        } else {
            p.problem(
                format!("{key}.verbs"),
                format!("`{v}` is not a verb; use the action names, e.g. deploy, rollback, scale, cancel, lock, unlock, status"),
            );
        }
    }
    if verbs.is_empty() {
        p.problem(
            format!("{key}.verbs"),
            "list the verbs this rule allows, e.g. `verbs = [\"deploy\"]`",
        );
    }
    actions
}

fn parse_confirm_minutes(minutes: Option<u64>, p: &mut Problems) -> Duration {
    let minutes = minutes.unwrap_or(DEFAULT_CONFIRM_MINUTES);
    if !(1..=60).contains(&minutes) {
        p.problem("access.confirm_minutes", "use 1 to 60 minutes");
    }
    Duration::from_secs(minutes * 60)
}

fn check_audit_channel(channel: Option<&str>, p: &mut Problems) {
    let Some(c) = channel.filter(|c| !is_identity(c)) else {
        return;
    };
    // Any identity is accepted, but the hint names only the chat platforms:
    // audit events are for people to read there.
    let chat: Vec<Platform> = (Platform::ALL.into_iter())
        .filter(|p| *p != Platform::Shell)
        .collect();
    p.problem(
        "access.audit_channel",
        format!(
            "`{c}` is not a channel: write {}",
            identity_forms(&chat, Named::Channel)
        ),
    );
}

/// The process environment, for `Config::load`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// The verbs these tests' rules name (config is told the real ones).
    const VERBS: &[&str] = &["deploy", "rollback", "scale", "status", "lock", "unlock"];

    #[test]
    fn defaults_without_a_file() {
        let c = Config::parse("x", "", &no_env, VERBS).unwrap();
        assert_eq!((c.prefix.as_str(), c.bot_name.as_str()), ("!", "dockhand"));
        assert_eq!(c.watch.poll, DEFAULT_POLL);
        assert!(c.apps.is_empty());
    }

    #[test]
    fn apps_resolve_to_a_stack_or_a_service() {
        let text = r#"
            [environments.prod]
            protected = true
            [apps.hubot]
            environment = "prod"
            stack = "hubot"
            max = 4
            [apps.worker]
            environment = "prod"
            cluster = "main"
            service = "worker"
            container = "app"
        "#;
        let c = Config::parse("x", text, &no_env, VERBS).unwrap();
        let hubot = &c.apps[&AppName::parse("hubot").unwrap()];
        assert!(
            matches!(&hubot.target, Target::Stack { version_parameter, count_parameter, .. } if version_parameter == "Version" && count_parameter == "DesiredCount")
        );
        assert_eq!((hubot.min, hubot.max), (0, 4));
        assert!(c.environment_of(hubot).protected);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
            prefix = ""
            [apps.a]
            environment = "prod"
            stack = "a"
            cluster = "c"
            [apps.b]
            environment = "nowhere"
            stack = "1bad"
            [apps.c]
            environment = "nowhere"
            stack = "c"
            min = 5
            max = 2
        "#;
        let errors = Config::parse("dockhand.toml", text, &no_env, VERBS).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "prefix",
                "apps.a.environment",
                "apps.a",
                "apps.b.environment",
                "apps.b.stack",
                "apps.c.environment",
                "apps.c.min"
            ]
        );
        assert!(errors[0].to_string().starts_with("dockhand.toml: prefix: "));
    }

    #[test]
    fn ecs_names_follow_aws_rules() {
        let text = r#"
            [environments.prod]
            [apps.worker]
            environment = "prod"
            cluster = "apps;rm -rf"
            service = "worker"
            container = "<!here>"
        "#;
        let e = Config::parse("f", text, &no_env, VERBS).unwrap_err();
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["apps.worker.cluster", "apps.worker.container"],
            "{e:?}"
        );
    }

    #[test]
    fn the_aws_budget_defaults_below_aws_and_refuses_what_cannot_pace() {
        let c = Config::parse("f", "", &no_env, VERBS).unwrap();
        assert_eq!(c.aws.budget, Budget::default());
        let c = Config::parse("f", "[aws.budget]\necs = 2\nlogs = 0.5", &no_env, VERBS).unwrap();
        assert_eq!((c.aws.budget.ecs, c.aws.budget.logs), (2.0, 0.5));
        let text = "[aws.budget]\necs = 0\ncloudformation = -1\nlogs = 5000";
        let e = Config::parse("f", text, &no_env, VERBS).unwrap_err();
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "aws.budget.ecs",
                "aws.budget.cloudformation",
                "aws.budget.logs"
            ]
        );
        assert!(e[0].problem.contains("calls per second"), "{e:?}");
        let e = Config::parse("f", "[aws.budget]\nsqs = 1", &no_env, VERBS).unwrap_err();
        assert!(e[0].problem.contains("sqs"), "{e:?}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::parse("f", "prefx = \"!\"", &no_env, VERBS).unwrap_err();
        assert!(e[0].problem.contains("prefx"), "{e:?}");
    }

    #[test]
    fn tokens_come_from_the_environment_and_never_print() {
        let env =
            |k: &str| (k == "SLACK_BOT_TOKEN").then(|| "slack-bot-token-for-a-test".to_string());
        let c = Config::parse("f", "", &env, VERBS).unwrap();
        assert_eq!(
            c.slack.bot_token.as_ref().unwrap().expose(),
            "slack-bot-token-for-a-test"
        );
        assert!(!format!("{c:?}").contains("xoxb"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| (k == "DOCKHAND_PREFIX").then(|| ".".to_string());
        assert_eq!(
            Config::parse("f", "prefix = \"?\"", &env, VERBS)
                .unwrap()
                .prefix,
            "."
        );
    }

    /// The value a table row's key ended up with, for the table tests. A new row
    /// fails `every_environment_variable_is_applied` until its key is read here.
    fn value_at(c: &Config, key: &str) -> Option<String> {
        let secret = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_string());
        match key {
            // The sample document sets the prefix.
            "(file)" | "prefix" => Some(c.prefix.clone()),
            "bot_name" => Some(c.bot_name.clone()),
            "commands_dir" => Some(c.commands_dir.display().to_string()),
            "metrics_addr" => Some(c.metrics_addr.clone()),
            "metrics_endpoint" => match &c.metrics {
                MetricsEndpoint::At(a) => Some(a.clone()),
                other => Some(format!("{other:?}")),
            },
            "watch.poll_seconds" => Some(c.watch.poll.as_secs_f64().to_string()),
            "aws.region" => c.aws.region.clone(),
            "slack.app_token" => secret(&c.slack.app_token),
            "slack.bot_token" => secret(&c.slack.bot_token),
            "slack.signing_secret" => secret(&c.slack.signing_secret),
            "slack.api_url" => Some(c.slack.api_url.clone()),
            "discord.token" => secret(&c.discord.token),
            "discord.api_url" => c.discord.api_url.clone(),
            "notifications.queue" => c.notifications.queue.clone(),
            "state.table" => c.state.table.clone(),
            other => panic!("`{other}` has no reader in value_at: add one"),
        }
    }

    #[test]
    fn a_state_table_must_be_a_dynamodb_table_name() {
        let ok = Config::parse(
            "f",
            "[state]\ntable = \"dockhand-state\"\n",
            &|_| None,
            VERBS,
        )
        .unwrap();
        assert_eq!(ok.state.table.as_deref(), Some("dockhand-state"));
        let e =
            Config::parse("f", "[state]\ntable = \"my table\"\n", &|_| None, VERBS).unwrap_err();
        assert_eq!(e[0].key, "state.table");
        assert!(e[0].problem.contains("DynamoDB table name"), "{e:?}");
        assert_eq!(
            Config::parse("f", "", &|_| None, VERBS)
                .unwrap()
                .state
                .table,
            None
        );
    }

    #[test]
    fn every_environment_variable_is_applied() {
        for var in environment_variables() {
            // `7` is valid for every key but the queue (a URL) and the table
            // (3 characters at least), and no key's default.
            let (value, expected) = match (var.parse, var.name) {
                (Parse::Document, _) => ("prefix = \"7\"", "7"),
                (_, "DOCKHAND_NOTIFICATIONS_QUEUE") => ("http://7", "http://7"),
                (_, "DOCKHAND_STATE_TABLE") => ("t-7", "t-7"),
                _ => ("7", "7"),
            };
            // Discord with a token needs its servers, and a queue a channel,
            // from the document.
            let servers = match var.name {
                "DISCORD_TOKEN" => Some("[discord]\nguilds = [1]".to_string()),
                "DOCKHAND_NOTIFICATIONS_QUEUE" => {
                    Some("[notifications]\nchannel = \"shell:ops\"".to_string())
                }
                _ => None,
            };
            let env = |k: &str| match k {
                _ if k == var.name => Some(value.to_string()),
                "DOCKHAND_CONFIG_TOML" => servers.clone(),
                _ => None,
            };
            let c = Config::load_from_env(None, &env, VERBS)
                .unwrap_or_else(|e| panic!("{}={value}: {e:?}", var.name));
            assert_eq!(
                value_at(&c, var.key).as_deref(),
                Some(expected),
                "{} does not reach `{}`",
                var.name,
                var.key
            );
        }
    }

    #[test]
    fn an_unparsable_variable_is_reported_by_its_name() {
        let numeric = environment_variables()
            .iter()
            .filter(|v| matches!(v.parse, Parse::Seconds(_)));
        for var in numeric {
            let env = |k: &str| (k == var.name).then(|| "abc".to_string());
            let e = Config::parse("f", "[watch]\npoll_seconds = 1\n", &env, VERBS).unwrap_err();
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].key, var.name);
            assert!(e[0].problem.contains("`abc`"), "{e:?}");
        }
        let env = |k: &str| (k == "DOCKHAND_WATCH_POLL_SECONDS").then(|| "abc".to_string());
        let e = Config::parse("f", "", &env, VERBS).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "f: DOCKHAND_WATCH_POLL_SECONDS: `abc` is not a number of seconds"
        );
    }

    #[test]
    fn discord_needs_its_servers_listed() {
        let token = |k: &str| (k == "DISCORD_TOKEN").then(|| "t".to_string());
        let e = Config::parse("f", "", &token, VERBS).unwrap_err();
        assert_eq!(e[0].key, "discord.guilds", "{e:?}");
        assert!(e[0].problem.contains("guilds = ["), "{e:?}");
        let ok = Config::parse("f", "[discord]\nguilds = [42]\n", &token, VERBS).unwrap();
        assert_eq!(ok.discord.guilds, [42]);
        // Without Discord, no list is needed.
        assert!(Config::parse("f", "", &no_env, VERBS).is_ok());
    }

    #[test]
    fn tokens_cannot_be_written_in_the_file() {
        let e =
            Config::parse("f", "[slack]\nbot_token = \"xoxb-x\"\n", &no_env, VERBS).unwrap_err();
        assert!(e[0].problem.contains("bot_token"), "{e:?}");
    }

    #[test]
    fn an_empty_token_leaves_the_file_to_supply_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let text = format!(
            "[discord]\nguilds = [1]\ntoken_file = {:?}\n",
            file.display().to_string()
        );
        let env = |k: &str| (k == "DISCORD_TOKEN").then(String::new);
        let c = Config::parse("f", &text, &env, VERBS).unwrap();
        assert_eq!(c.discord.token.unwrap().expose(), "from-file");
    }

    #[test]
    fn identity_hints_name_the_platforms_as_before() {
        let text = "[roles]\nops = [\"U1\"]\n[channels.\"#x\"]\n[[rules]]\nverbs = [\"status\"]\nchannels = [\"#y\"]\n[access]\naudit_channel = \"#a\"\n";
        let e = Config::parse("f", text, &no_env, VERBS).unwrap_err();
        let problems: Vec<&str> = e.iter().map(|e| e.problem.as_str()).collect();
        assert_eq!(
            problems,
            [
                "`U1` is not an identity: write `slack:<user id>`, `discord:<user id>` or `shell:<user>` (ids, never display names)",
                "write the channel as `slack:<channel id>`, `discord:<channel id>` or `shell:<name>`",
                "`#y` is not a channel: write `slack:<channel id>`, `discord:<channel id>` or `shell:<name>`",
                "`#a` is not a channel: write `slack:<channel id>` or `discord:<channel id>`",
            ]
        );
    }

    #[test]
    fn every_platform_names_an_identity() {
        for platform in Platform::ALL {
            let text = format!("[roles]\nops = [\"{platform}:U1\"]\n");
            let c = Config::parse("f", &text, &no_env, VERBS).unwrap();
            assert_eq!(c.access.roles["ops"], [format!("{platform}:U1")]);
        }
        assert!(Config::parse("f", "[roles]\nops = [\"irc:U1\"]\n", &no_env, VERBS).is_err());
    }

    #[test]
    fn the_help_lists_every_variable_by_name_and_key() {
        let help = environment_help();
        for v in environment_variables() {
            let line = help.lines().find(|l| l.trim_start().starts_with(v.name));
            let line = line.unwrap_or_else(|| panic!("{} missing from:\n{help}", v.name));
            assert!(line.contains(v.key) && line.contains(v.about), "{line}");
            assert_eq!(line.ends_with("[secret]"), v.is_secret(), "{line}");
        }
    }
}
