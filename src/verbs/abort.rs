//! `abort <code>`: drops the command waiting under the code.

use super::*;
use crate::command::value::Code;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    pub code: Code,
}

impl Verb for Abort {
    const PARAMS: &'static [ParamSpec] = &[req("code", Kind::Code)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Abort {
            code: Code::parse(arg(args, "code"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "abort".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        cx.settle(self.code.as_str(), false)
    }
}
