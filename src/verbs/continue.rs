//! `continue <app>`: let a deployment paused at a lifecycle hook go on.

use super::*;
use crate::command::value::AppName;
use crate::ops::Rollouts;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    pub app: AppName,
}

impl Verb for Continue {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Continue {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    /// No prompt: the decision at a PAUSE hook is itself the approval. Where the
    /// environment needs two people, whoever started the deployment may not make
    /// it (checked against what ECS and the revision record, when it runs).
    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Never)
    }

    fn asked(&self) -> String {
        format!("continue {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        if cx.watched() {
            // dockhand already watches the paused deployment (its deploy, or one it
            // follows): decide, and let that thread tell the rest.
            let t = cx.target();
            return cx.spawn_reply(move |ops| async move {
                ops.decide_hook(&t, true).await.map(Reply::text)
            });
        }
        cx.operation_unheld(OperationKind::Continue, move |ops, t, p| async move {
            ops.proceed(&t, p).await
        })
    }
}
