//! `whoami`: who dockhand takes you for here, your roles, and what you may change.

use super::*;
use crate::message::neutralise;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whoami;

impl Verb for Whoami {
    const PARAMS: &'static [ParamSpec] = &[];
    const MUTATES: bool = false;

    fn build(_: &Args<'_>) -> Result<Self, ValueError> {
        Ok(Whoami)
    }

    fn facts(&self, _: &Config) -> Facts<'_> {
        open()
    }

    fn asked(&self) -> String {
        "whoami".into()
    }

    fn run<C: Ctx>(self, cx: &C) -> C::Done {
        let (origin, author) = (cx.origin(), cx.author());
        let where_ = if origin.direct {
            "a direct message".to_string()
        } else {
            format!("channel {}", origin.channel)
        };
        let identity = author.identity(origin.platform);
        let policy = cx.policy();
        let roles = policy.roles_of(&identity);
        let roles = if roles.is_empty() {
            "no roles".to_string()
        } else {
            format!("roles: {}", roles.join(", "))
        };
        let apps: Vec<&App> = cx.config().apps.values().collect();
        let verbs: Vec<&str> = Action::ALL
            .iter()
            .filter(|a| a.mutates())
            .map(|a| a.name())
            .collect();
        let may = policy.allowed_here(origin, author, &apps, &verbs);
        let may = if may.is_empty() {
            "Here you may change nothing; read-only commands are open where the app's channel allows them.".to_string()
        } else {
            format!("Here you may {}.", may.join("; "))
        };
        cx.reply(Reply::text(format!(
            "You are {} ({identity}; {roles}), in {where_} ({}:{}). {may}",
            neutralise(&author.name, 40),
            origin.platform,
            origin.channel,
        )))
    }
}
