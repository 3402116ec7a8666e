//! `cancel <app>`: stop the app's deployment in flight, rolling it back.

use super::*;
use crate::command::value::AppName;
use crate::ops::Rollouts;
use crate::policy::Risk;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub app: AppName,
}

impl Verb for Cancel {
    const PARAMS: &'static [ParamSpec] = &[req("app", Kind::App)];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Cancel {
            app: AppName::parse(arg(args, "app"))?,
        })
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        changes(&self.app, Risk::Always("cancel rolls the app back"))
    }

    fn asked(&self) -> String {
        format!("cancel {}", self.app)
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        // Unheld: the operation it cancels holds the app.
        cx.operation_unheld(OperationKind::Cancel, move |ops, t, p| async move {
            ops.cancel(&t, p).await
        })
    }
}
