//! `deploy <app> <version> [--plan]`: roll the app out to a version, or show what
//! that would change.

use super::*;
use crate::command::value::{AppName, Version};
use crate::ops::Rollouts;
use crate::policy::{Change, Risk};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub app: AppName,
    pub version: Version,
    /// Only show the plan.
    pub plan: bool,
}

impl Verb for Deploy {
    const PARAMS: &'static [ParamSpec] = &[
        req("app", Kind::App),
        req("version", Kind::Version),
        opt("plan", Kind::Flag),
    ];
    const MUTATES: bool = true;

    fn build(args: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Deploy {
            app: AppName::parse(arg(args, "app"))?,
            version: Version::parse(arg(args, "version"))?,
            plan: args.contains_key("plan"),
        })
    }

    /// A plan changes nothing: it is read like `status`. A deploy is checked
    /// against the kinds of version the app ran before, and its confirmation
    /// prompt shows its plan.
    fn facts(&self, _: &Config) -> Facts<'_> {
        Facts {
            app: Some(&self.app),
            mutates: !self.plan,
            open: false,
            unmanaged: false,
            sensitive: false,
            risk: if self.plan {
                Risk::Never
            } else {
                Risk::InProtected
            },
            count: None,
            change: if self.plan {
                Change::Nothing
            } else {
                Change::Deploy(&self.version)
            },
        }
    }

    fn asked(&self) -> String {
        format!(
            "deploy {} {}{}",
            self.app,
            self.version,
            if self.plan { " --plan" } else { "" }
        )
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let version = self.version;
        if self.plan {
            let target = cx.target();
            return cx.spawn_reply(move |ops| async move {
                let p = ops.plan(&target, &version).await?;
                Ok(render::plan(target.app.name.as_str(), version.as_str(), &p))
            });
        }
        let kind = OperationKind::Deploy {
            version: version.clone(),
        };
        cx.operation(kind, move |ops, t, p| async move {
            ops.deploy(&t, &version, p).await
        })
    }
}
