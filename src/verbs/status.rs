//! `status [app|environment] [--problems]`: what runs where, problems first.

use super::*;
use crate::command::value::AppName;
use crate::ops::Inspect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// An app, or an environment's name (`status prod`); none for every app.
    pub app: Option<AppName>,
    /// Only the apps that need attention.
    pub problems: bool,
}

impl Status {
    /// The environment `app` names instead of an app, if it does.
    fn environment<'c>(&self, config: &'c Config) -> Option<&'c str> {
        let name = self.app.as_ref()?;
        if config.apps.contains_key(name) {
            return None;
        }
        config
            .environments
            .get_key_value(name.as_str())
            .map(|(k, _)| k.as_str())
    }
}

impl Verb for Status {
    const PARAMS: &'static [ParamSpec] = &[opt("app", Kind::App), opt("problems", Kind::Flag)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Status {
            app: args.get("app").map(|s| AppName::parse(s)).transpose()?,
            problems: args.contains_key("problems"),
        })
    }

    /// `status prod` names an environment, not an app: it is a status of many
    /// apps, as policy sees it.
    fn facts<'a>(&'a self, config: &'a Config) -> Facts<'a> {
        match self.environment(config) {
            Some(_) => reads(None),
            None => reads(self.app.as_ref()),
        }
    }

    fn asked(&self) -> String {
        match &self.app {
            Some(app) => format!("status {app}"),
            None => "status".into(),
        }
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let config = cx.config();
        let cmd = cx.cmd();
        let problems = self.problems;
        let environment = self.environment(config).map(str::to_string);
        if self.app.is_some() && environment.is_none() {
            let app = cx.app().clone();
            let env = super::environment(config, &app);
            return cx.spawn_reply(move |ops| async move {
                let lines = ops.status(&[(app, env)]).await;
                Ok(render::status(&only_problems(lines, problems), &cmd))
            });
        }
        // Every app the channel may see (policy allowed the listing because
        // there is at least one), of the environment if one was named.
        let apps: Vec<(App, Environment)> = visible(cx, Action::Status)
            .filter(|a| environment.as_ref().is_none_or(|e| a.environment == *e))
            .map(|a| (a.clone(), super::environment(config, a)))
            .collect();
        if let (true, Some(env)) = (apps.is_empty(), &environment) {
            return cx.reply(Reply::text(format!(
                "No app in {env} is bound to this channel; {} lists the ones that are.",
                cmd.show("status")
            )));
        }
        cx.spawn_reply(move |ops| async move {
            let lines = ops.status(&apps).await;
            if problems && lines.iter().all(|s| !render::needs_attention(s)) {
                return Ok(Reply::text(format!(
                    "All {} apps are healthy.",
                    lines.len()
                )));
            }
            Ok(render::status(&only_problems(lines, problems), &cmd))
        })
    }
}

/// With `--problems`, only the apps that need attention.
fn only_problems(lines: Vec<ops::AppStatus>, problems: bool) -> Vec<ops::AppStatus> {
    if problems {
        lines.into_iter().filter(render::needs_attention).collect()
    } else {
        lines
    }
}
