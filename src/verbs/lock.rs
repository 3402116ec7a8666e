//! `lock <app> <reason>`: refuse deploys, rollbacks and scaling of the app until
//! it is unlocked.

use super::*;
use crate::command::value::AppName;
use crate::message::neutralise;
use crate::ops::Store;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub app: AppName,
    pub reason: String,
}

impl Verb for Lock {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App), req("reason", Kind::Text)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Lock {
            app: AppName::parse(arg(args, "app"))?,
            reason: text(args, "reason").unwrap_or_default(),
        })
    }

    /// A lock is how a protected environment is kept safe: never in the way.
    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Never)
    }

    fn asked(&self) -> String {
        format!("lock {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let target = cx.target();
        let reason = neutralise(&self.reason, 200);
        let cmd = cx.cmd();
        cx.spawn_reply(move |ops| async move {
            let lock = ops.lock(&target, &reason).await?;
            let name = &target.app.name;
            Ok(Reply::text(format!(
                "{name} is locked: {}. Deploys, rollbacks and scaling are refused until {}.",
                lock.reason,
                cmd.show(&format!("unlock {name}"))
            )))
        })
    }
}
