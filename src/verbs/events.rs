//! `events <app> [n]`: the service's latest ECS events.

use super::*;
use crate::command::value::{AppName, parse_limit};
use crate::ops::Inspect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    pub app: AppName,
    pub n: Option<u32>,
}

impl Verb for Events {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App), opt("n", Kind::Limit)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Events {
            app: AppName::parse(arg(args, "app"))?,
            n: args.get("n").map(|s| parse_limit(s)).transpose()?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        reads(Some(&self.app))
    }

    fn asked(&self) -> String {
        format!("events {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let app = cx.app().clone();
        let env = super::environment(cx.config(), &app);
        let n = self.n.unwrap_or(10) as usize;
        cx.spawn_reply(move |ops| async move {
            let events = ops.events(&app, &env, n).await?;
            Ok(if events.is_empty() {
                Reply::text(format!("No events for {}.", app.name))
            } else {
                Reply::text(render::event_lines(&events))
            })
        })
    }
}
