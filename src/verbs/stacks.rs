//! `stacks`: the CloudFormation stacks of every configured environment.

use super::*;
use crate::ops::Inspect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stacks;

impl Verb for Stacks {
    const PARAMS: &'static [ParamSpec] = &[];
    const MUTATES: bool = false;

    fn build(_: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Stacks)
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        reads(None)
    }

    fn asked(&self) -> String {
        "stacks".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let envs = cx.config().environments_or_default();
        cx.spawn_reply(move |ops| async move { Ok(render::stacks(&ops.stacks(&envs).await?)) })
    }
}
