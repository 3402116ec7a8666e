//! `history <app>`: who deployed what, when, and how it ended.

use super::*;
use crate::command::value::AppName;
use crate::ops::Inspect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub app: AppName,
}

impl Verb for History {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(History {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        reads(Some(&self.app))
    }

    fn asked(&self) -> String {
        format!("history {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let app = cx.app().clone();
        let env = super::environment(cx.config(), &app);
        cx.spawn_reply(move |ops| async move {
            Ok(render::history(
                app.name.as_str(),
                &ops.history(&app, &env).await?,
            ))
        })
    }
}
