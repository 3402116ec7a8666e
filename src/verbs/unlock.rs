//! `unlock <app>`: lift a lock; someone else's only where a rule allows breaking it.

use super::*;
use crate::command::value::AppName;
use crate::ops::Store;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlock {
    pub app: AppName,
}

impl Verb for Unlock {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Unlock {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Never)
    }

    fn asked(&self) -> String {
        format!("unlock {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let may_break =
            cx.policy()
                .may_break_locks(&request(cx, Action::Unlock, self.facts(cx.config())));
        let target = cx.target();
        let (origin, author) = (cx.origin(), cx.author());
        let (who, channel) = (author.identity(origin.platform), origin.identity());
        cx.spawn_reply(move |ops| async move {
            let name = &target.app.name;
            Ok(Reply::text(match ops.unlock(&target, may_break).await? {
                None => format!("{name} was not locked."),
                Some(lock) => {
                    if lock.by != who {
                        tracing::info!(target: "dockhand::audit", who, channel, app = %name, locked_by = lock.by, "broke a lock");
                    }
                    format!(
                        "{name} is unlocked (locked by {} for: {}).",
                        lock.by_name, lock.reason
                    )
                }
            }))
        })
    }
}
