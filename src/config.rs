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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAws {
    region: Option<String>,
    max_attempts: Option<u32>,
    call_timeout_seconds: Option<u64>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    app_token_file: Option<PathBuf>,
    bot_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    token_file: Option<PathBuf>,
}

/// A deployment environment: where its apps live in AWS and how carefully to treat them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    /// Overrides the default region for this environment's apps.
    pub region: Option<String>,
    /// A role to assume for this environment (multi-account set-ups).
    pub role_arn: Option<String>,
    pub protected: bool,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aws {
    /// Default region; `AWS_REGION` and the profile apply when unset.
    pub region: Option<String>,
    pub max_attempts: u32,
    pub call_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub poll: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SlackTokens {
    pub app_token: Option<Secret>,
    pub bot_token: Option<Secret>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub prefix: String,
    pub bot_name: String,
    pub commands_dir: PathBuf,
    pub aws: Aws,
    pub watch: Watch,
    pub environments: BTreeMap<String, Environment>,
    pub apps: BTreeMap<AppName, App>,
    pub slack: SlackTokens,
    pub discord_token: Option<Secret>,
}

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

pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
pub const DEFAULT_TIMEOUT_MINUTES: u64 = 30;

impl Config {
    /// Reads `path` (when given) and applies the environment. Without a file the
    /// defaults apply: no apps, so only the commands that need no AWS are useful.
    pub fn load(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Config, Vec<ConfigError>> {
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
        Self::parse(&file, &text, env)
    }

    pub fn parse(file: &str, text: &str, env: EnvLookup<'_>) -> Result<Config, Vec<ConfigError>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e.span().map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!("line {line}")
            });
            vec![ConfigError {
                file: file.into(),
                key: key.unwrap_or_else(|| "(file)".into()),
                problem: e.message().to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        let mut err = |key: String, problem: String| {
            errors.push(ConfigError {
                file: file.into(),
                key,
                problem,
            })
        };

        let prefix = env("DOCKHAND_PREFIX")
            .or(raw.prefix)
            .unwrap_or_else(|| "!".into());
        if prefix.is_empty() || prefix.len() > 3 || prefix.chars().any(char::is_whitespace) {
            err(
                "prefix".into(),
                "use one to three characters without spaces, e.g. `!`".into(),
            );
        }
        let bot_name = env("DOCKHAND_BOT_NAME")
            .or(raw.bot_name)
            .unwrap_or_else(|| "dockhand".into());
        if bot_name.is_empty()
            || !bot_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            err("bot_name".into(), "use letters, digits, `-` and `_`".into());
        }
        let commands_dir = env("DOCKHAND_COMMANDS")
            .map(PathBuf::from)
            .or(raw.commands_dir)
            .unwrap_or_else(|| PathBuf::from("commands"));

        let poll_seconds = match env("DOCKHAND_WATCH_POLL_SECONDS") {
            Some(v) => v.parse::<f64>().ok().or_else(|| {
                err(
                    "DOCKHAND_WATCH_POLL_SECONDS".into(),
                    format!("`{v}` is not a number of seconds"),
                );
                None
            }),
            None => raw.watch.poll_seconds,
        };
        let poll = match poll_seconds {
            Some(s) if (0.05..=300.0).contains(&s) => Duration::from_secs_f64(s),
            Some(_) => {
                err(
                    "watch.poll_seconds".into(),
                    "use a value from 0.05 to 300 (AWS is polled this often per operation)".into(),
                );
                DEFAULT_POLL
            }
            None => DEFAULT_POLL,
        };
        let default_timeout = raw.watch.timeout_minutes.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        let watch = Watch {
            poll,
            timeout: Duration::from_secs(default_timeout * 60),
        };

        let aws = Aws {
            region: env("DOCKHAND_AWS_REGION").or(raw.aws.region),
            max_attempts: raw.aws.max_attempts.unwrap_or(3).clamp(1, 10),
            call_timeout: Duration::from_secs(raw.aws.call_timeout_seconds.unwrap_or(20)),
        };

        let environments: BTreeMap<String, Environment> = raw
            .environments
            .into_iter()
            .map(|(name, e)| {
                if let Some(role) = &e.role_arn
                    && !role.starts_with("arn:aws")
                {
                    err(
                        format!("environments.{name}.role_arn"),
                        "write the role's full ARN, `arn:aws:iam::<account>:role/<name>`".into(),
                    );
                }
                (
                    name.clone(),
                    Environment {
                        name,
                        region: e.region,
                        role_arn: e.role_arn,
                        protected: e.protected,
                    },
                )
            })
            .collect();

        let mut apps = BTreeMap::new();
        for (name, a) in raw.apps {
            let key = format!("apps.{name}");
            let app_name = match AppName::parse(&name) {
                Ok(n) => n,
                Err(e) => {
                    err(key, e.to_string());
                    continue;
                }
            };
            if !environments.contains_key(&a.environment) {
                let known: Vec<&str> = environments.keys().map(String::as_str).collect();
                err(
                    format!("{key}.environment"),
                    format!(
                        "`{}` is not declared; add `[environments.{}]`{}",
                        a.environment,
                        a.environment,
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!(" or use one of: {}", known.join(", "))
                        }
                    ),
                );
            }
            let target = match (a.stack, a.cluster, a.service, a.container) {
                (Some(stack), None, None, None) => match StackName::parse(&stack) {
                    Ok(stack) => Target::Stack {
                        stack,
                        version_parameter: a.version_parameter.unwrap_or_else(|| "Version".into()),
                        count_parameter: a.count_parameter.unwrap_or_else(|| "DesiredCount".into()),
                    },
                    Err(e) => {
                        err(format!("{key}.stack"), e.to_string());
                        continue;
                    }
                },
                (None, Some(cluster), Some(service), Some(container)) => {
                    if a.version_parameter.is_some() || a.count_parameter.is_some() {
                        err(key.clone(), "`version_parameter` and `count_parameter` apply to stack-managed apps only; remove them".into());
                    }
                    Target::Service {
                        cluster,
                        service,
                        container,
                    }
                }
                _ => {
                    err(key, "set either `stack` (a stack-managed app) or all of `cluster`, `service` and `container` (a service-managed app)".into());
                    continue;
                }
            };
            let (min, max) = (a.min.unwrap_or(0), a.max.unwrap_or(10));
            if min > max {
                err(
                    format!("{key}.min"),
                    format!("min ({min}) is above max ({max})"),
                );
            }
            let timeout = Duration::from_secs(a.timeout_minutes.unwrap_or(default_timeout) * 60);
            apps.insert(
                app_name.clone(),
                App {
                    name: app_name,
                    environment: a.environment,
                    target,
                    min,
                    max,
                    timeout,
                },
            );
        }

        let mut secret = |var: &str, file_key: &str, path: Option<PathBuf>| -> Option<Secret> {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                return Some(Secret(v));
            }
            let path = path?;
            match std::fs::read_to_string(&path) {
                Ok(v) => Some(Secret(v.trim().to_string())),
                Err(e) => {
                    err(
                        file_key.into(),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            }
        };
        let slack = SlackTokens {
            app_token: secret(
                "SLACK_APP_TOKEN",
                "slack.app_token_file",
                raw.slack.app_token_file,
            ),
            bot_token: secret(
                "SLACK_BOT_TOKEN",
                "slack.bot_token_file",
                raw.slack.bot_token_file,
            ),
        };
        let discord_token = secret(
            "DISCORD_TOKEN",
            "discord.token_file",
            raw.discord.token_file,
        );

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            prefix,
            bot_name,
            commands_dir,
            aws,
            watch,
            environments,
            apps,
            slack,
            discord_token,
        })
    }

    /// The environment of an app (validated to exist at load).
    pub fn environment_of(&self, app: &App) -> &Environment {
        &self.environments[&app.environment]
    }
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

    #[test]
    fn defaults_without_a_file() {
        let c = Config::parse("x", "", &no_env).unwrap();
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
        let c = Config::parse("x", text, &no_env).unwrap();
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
        let errors = Config::parse("dockhand.toml", text, &no_env).unwrap_err();
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
    fn unknown_keys_are_refused() {
        let e = Config::parse("f", "prefx = \"!\"", &no_env).unwrap_err();
        assert!(e[0].problem.contains("prefx"), "{e:?}");
    }

    #[test]
    fn tokens_come_from_the_environment_and_never_print() {
        let env = |k: &str| (k == "SLACK_BOT_TOKEN").then(|| "xoxb-not-a-real-token".to_string());
        let c = Config::parse("f", "", &env).unwrap();
        assert_eq!(
            c.slack.bot_token.as_ref().unwrap().expose(),
            "xoxb-not-a-real-token"
        );
        assert!(!format!("{c:?}").contains("xoxb"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| (k == "DOCKHAND_PREFIX").then(|| ".".to_string());
        assert_eq!(
            Config::parse("f", "prefix = \"?\"", &env).unwrap().prefix,
            "."
        );
    }
}
