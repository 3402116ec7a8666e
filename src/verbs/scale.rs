//! `scale <app> <count>`: set the number of tasks, within the app's bounds.

use super::*;
use crate::command::value::{AppName, TaskCount};
use crate::ops::Rollouts;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub app: AppName,
    pub count: TaskCount,
}

impl Verb for Scale {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App), req("count", Kind::Count)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Scale {
            app: AppName::parse(arg(args, "app"))?,
            count: TaskCount::parse(arg(args, "count"))?,
        })
    }

    /// The count is what a rule's `max_count` bounds.
    fn facts(&self, _: &Config) -> Facts<'_> {
        let risk = if self.count.0 == 0 {
            Risk::Always("scaling to 0 stops every task")
        } else {
            Risk::InProtected
        };
        Facts {
            count: Some(self.count.0),
            ..changes(&self.app, risk)
        }
    }

    fn asked(&self) -> String {
        format!("scale {} {}", self.app, self.count)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let (app, count) = (cx.app(), self.count);
        if count.0 < app.min || count.0 > app.max {
            return cx.reply(Reply::text(format!(
                "{} scales from {} to {} tasks; {} is outside that.",
                app.name, app.min, app.max, count
            )));
        }
        cx.operation(
            OperationKind::Scale { count },
            move |ops, t, p| async move { ops.scale(&t, count, p).await },
        )
    }
}
