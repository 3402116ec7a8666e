//! `confirm <code>`: runs the command waiting under the code (dispatch's
//! confirmations decide who may, where, and until when).

use super::*;
use crate::command::value::Code;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub code: Code,
}

impl Verb for Confirm {
    const PARAMS: &'static [ParamSpec] = &[req("code", Kind::Code)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Confirm {
            code: Code::parse(arg(args, "code"))?,
        })
    }

    /// Open: the command it confirms was decided when it was asked, and an
    /// approver is checked against the rules when it is confirmed.
    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "confirm".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        cx.settle(self.code.as_str(), true)
    }
}
