//! `stack <name>`: one CloudFormation stack's status, outputs and latest events.

use super::*;
use crate::command::value::StackName;
use crate::ops::Inspect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub name: StackName,
}

impl Verb for Stack {
    const PARAMS: &'static [ParamSpec] = &[req("name", Kind::Stack)];
    const MUTATES: bool = false;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Stack {
            name: StackName::parse(arg(args, "name"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        reads(None)
    }

    fn asked(&self) -> String {
        format!("stack {}", self.name)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let config = cx.config();
        let name = self.name;
        // A stack-managed app's stack lives in its environment; any other name is
        // looked up in the default one.
        let env = config
            .apps
            .values()
            .find(|a| matches!(&a.target, crate::config::Target::Stack { stack, .. } if *stack == name))
            .map(|a| super::environment(config, a))
            .unwrap_or_else(|| config.environments_or_default().remove(0));
        cx.spawn_reply(move |ops| async move { Ok(render::stack(&ops.stack(&env, &name).await?)) })
    }
}
