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

    /// A managed app's stack is read as that app (channel bindings and rules
    /// apply to it); any other stack is `unmanaged`.
    fn facts<'a>(&'a self, config: &'a Config) -> Facts<'a> {
        match owner(config, &self.name) {
            Some(app) => reads(Some(&app.name)),
            None => Facts {
                unmanaged: true,
                ..reads(None)
            },
        }
    }

    fn asked(&self) -> String {
        format!("stack {}", self.name)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let config = cx.config();
        let name = self.name;
        // A stack-managed app's stack lives in its environment; any other name is
        // looked up in the default one.
        let owner = owner(config, &name);
        let env = owner
            .map(|a| super::environment(config, a))
            .unwrap_or_else(|| config.environments_or_default().remove(0));
        let rules = match owner.map(|a| &a.target) {
            Some(crate::config::Target::Stack { outputs, .. }) => outputs.clone(),
            _ => Default::default(),
        };
        cx.spawn_reply(move |ops| async move {
            Ok(render::stack(&ops.stack(&env, &name, &rules).await?))
        })
    }
}

/// The app whose stack `name` is, if any.
fn owner<'c>(config: &'c Config, name: &StackName) -> Option<&'c App> {
    config
        .apps
        .values()
        .find(|a| matches!(&a.target, crate::config::Target::Stack { stack, .. } if stack == name))
}
