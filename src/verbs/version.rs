//! `version`: which dockhand answers.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version;

impl Verb for Version {
    const PARAMS: &'static [ParamSpec] = &[];
    const MUTATES: bool = false;

    fn build(_: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Version)
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "version".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        cx.reply(Reply::text(format!(
            "dockhand {}",
            env!("CARGO_PKG_VERSION")
        )))
    }
}
