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

    /// Every stack where nothing is bound yet (or a rule grants `stacks` on no
    /// particular app); otherwise only the stacks of the apps this channel may
    /// see, looked up in their environments.
    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let config = cx.config();
        if sees(cx, Action::Stacks, None) {
            let envs = config.environments_or_default();
            return cx.spawn_reply(move |ops| async move {
                Ok(render::stacks(&ops.stacks(&envs).await?))
            });
        }
        let mut envs: Vec<Environment> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for app in visible(cx, Action::Stacks) {
            if let crate::config::Target::Stack { stack, .. } = &app.target {
                names.push(stack.to_string());
                let env = super::environment(config, app);
                if !envs.iter().any(|e| e.name == env.name) {
                    envs.push(env);
                }
            }
        }
        if names.is_empty() {
            return cx.reply(render::stacks(&[]));
        }
        cx.spawn_reply(move |ops| async move {
            let mut list = ops.stacks(&envs).await?;
            list.retain(|s| names.contains(&s.name));
            Ok(render::stacks(&list))
        })
    }
}
