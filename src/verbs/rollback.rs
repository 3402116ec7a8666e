//! `rollback <app>`: back to the revision the app ran before.

use super::*;
use crate::command::value::AppName;
use crate::ops::Rollouts;
use crate::policy::{Change, Risk};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub app: AppName,
}

impl Verb for Rollback {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Rollback {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    /// Its confirmation prompt shows where it goes back to, and asks again if
    /// that changed by the time it is confirmed (someone deployed meanwhile).
    fn facts(&self, _: &Config) -> Facts<'_> {
        Facts {
            change: Change::Rollback,
            ..changes(&self.app, Risk::InProtected)
        }
    }

    fn asked(&self) -> String {
        format!("rollback {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        if cx.watched() {
            // Only a deployment held at a lifecycle hook can be rolled back while
            // dockhand watches the app: the hook is decided, and the watching
            // operation's thread reports the rollback.
            let t = cx.target();
            return cx.spawn_reply(move |ops| async move {
                ops.decide_hook(&t, false).await.map(Reply::text)
            });
        }
        cx.operation(OperationKind::Rollback, move |ops, t, p| async move {
            ops.rollback(&t, p).await
        })
    }
}
