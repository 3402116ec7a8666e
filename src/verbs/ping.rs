//! `ping`: is the bot there?

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping;

impl Verb for Ping {
    const PARAMS: &'static [ParamSpec] = &[];
    const MUTATES: bool = false;

    fn build(_: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Ping)
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "ping".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        cx.reply(Reply::text("pong"))
    }
}
