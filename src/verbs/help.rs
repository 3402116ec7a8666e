//! `help [command]`: the command list, or one command's usage, help and examples.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Help {
    pub topic: Option<String>,
}

impl Verb for Help {
    const PARAMS: &'static [ParamSpec] = &[opt("topic", Kind::Text)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Help {
            topic: text(args, "topic"),
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "help".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        cx.reply(Reply::text(cx.help(self.topic.as_deref())))
    }
}
