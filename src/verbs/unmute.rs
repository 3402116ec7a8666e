//! `unmute <app>`: an app's notifications go out again.

use super::*;
use crate::command::value::AppName;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmute {
    pub app: AppName,
}

impl Verb for Unmute {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Unmute {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Never)
    }

    fn asked(&self) -> String {
        format!("unmute {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let (origin, author) = (cx.origin(), cx.author());
        let text = match cx.mute(&self.app, None) {
            Some(m) if m.until > ops::now() => {
                tracing::info!(target: "dockhand::audit", who = author.identity(origin.platform), channel = origin.identity(), app = %self.app, "unmuted");
                format!(
                    "{} notifications go out again (muted by {} until {} UTC: {}).",
                    self.app,
                    m.by,
                    ops::clock(m.until),
                    m.reason
                )
            }
            _ => format!("{} was not muted.", self.app),
        };
        cx.reply(Reply::text(text))
    }
}
