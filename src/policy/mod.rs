//! The policy step: who may do what, where. Every command passes through
//! `Policy::decide` between matching and running, so there is one place where a
//! request is allowed, refused, or sent for confirmation.
//!
//! Mutations are denied unless a `[[rules]]` entry allows them (verb, app or
//! environment, channel, role, and for `scale` the count). Read-only verbs are open
//! while no channel is bound; once `[channels]` binds channels to apps, a channel
//! sees the apps bound to it, unless a rule allows more: `status` and `stacks`
//! list only those, `stack` reads only their stacks, and a direct message sees
//! only what a rule grants the person. Identities are the
//! platform's stable ids (`slack:U024BE7LH`), never display names. A denial names
//! the role or channel that would be needed, and nothing about other rules.

use crate::command::value::{AppName, Version};
use crate::config::{Access, App, Config, Environment, Rule};
use crate::message::{Author, Origin};

/// What policy needs to know about a command: each verb states its facts (see
/// `verbs`), so policy decides without knowing any verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The app the command is about, if any: what rules and channel bindings
    /// key on, and the in-flight guard too.
    pub app: Option<&'a AppName>,
    /// Whether it changes anything: then a rule must allow it. Otherwise only the
    /// channel checks apply.
    pub mutates: bool,
    /// Answered anywhere, by anyone, touching no app (`help`, `ping`, `confirm`).
    pub open: bool,
    /// About something that is not a configured app (a stack by name): read only
    /// where nothing is bound yet, or where a rule for this verb names no app.
    /// A read with neither `app` nor `unmanaged` is a listing (`status`,
    /// `stacks`): it shows the apps the channel may see, and is refused where
    /// that is none.
    pub unmanaged: bool,
    /// When, once allowed, it must still be confirmed.
    pub risk: Risk,
    /// The number a rule's `max_count` bounds (`scale`).
    pub count: Option<u32>,
    /// What it changes on the app, for dispatch (rules do not look at it): a
    /// confirmation prompt shows AWS's plan for it and asks AWS again at confirm.
    pub change: Change<'a>,
    /// A read that can carry secrets (`logs`): in chat, only a channel bound to
    /// the app or a rule naming the verb lets it through, even where nothing is
    /// bound yet. The shell is the operator at dockhand's own terminal.
    pub sensitive: bool,
}

/// What a command changes on its app, as far as showing and re-checking a plan
/// goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Nothing with a plan to show.
    Nothing,
    /// A deploy to this version; it is also checked against the kinds of version
    /// the app ran before.
    Deploy(&'a Version),
    /// A rollback to the revision before the running one.
    Rollback,
}

/// Whether an allowed command asks for a confirmation first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    Never,
    /// Only in a protected environment.
    InProtected,
    /// Everywhere, for this reason.
    Always(&'static str),
}

/// What policy decided about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead. `rule` names the rule that allowed it (none for the open verbs).
    Allow { rule: Option<String> },
    /// Allowed once confirmed with a code: `why` says what makes it risky.
    Confirm {
        rule: Option<String>,
        why: String,
        /// The confirmation must come from someone else (the two-person rule).
        other_person: bool,
    },
    /// Refused; the text says what role or channel would be needed, never more.
    Deny(String),
}

/// One request as policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub origin: &'a Origin,
    pub author: &'a Author,
    /// The verb's name, as rules list it.
    pub verb: &'static str,
    pub facts: Facts<'a>,
    /// The app the command targets, resolved from config.
    pub app: Option<&'a App>,
    /// The app's environment.
    pub environment: Option<&'a Environment>,
}

#[derive(Debug, Default)]
pub struct Policy {
    access: Access,
    /// Every configured app, for listings: one is allowed where any app may be
    /// seen.
    apps: Vec<App>,
}

/// Why a rule did not match: the first check it failed.
#[derive(Debug, PartialEq, Eq)]
enum Miss {
    Verb,
    Target,
    Channel,
    Role,
    Count(u32),
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        Policy {
            access: config.access.clone(),
            apps: config.apps.values().cloned().collect(),
        }
    }

    /// The roles an identity holds.
    pub fn roles_of(&self, identity: &str) -> Vec<&str> {
        self.access
            .roles
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == identity))
            .map(|(role, _)| role.as_str())
            .collect()
    }

    /// Decides a request. Pure and synchronous: it reads config and the request only.
    pub fn decide(&self, request: &Request<'_>) -> Decision {
        if !request.facts.mutates {
            return self.read(request);
        }
        if request.origin.direct && !self.access.direct_messages {
            return Decision::Deny(
                "Changes are not made from direct messages here; ask in the app's channel.".into(),
            );
        }
        // A shared channel (Slack Connect) holds people from other companies,
        // whose ids are as valid as ours: a rule without roles would let them
        // change things (F1).
        if request.author.external && !self.access.external_users {
            return Decision::Deny(
                "Changes are made by people of this workspace only; ask one of them.".into(),
            );
        }
        let mut misses = Vec::new();
        for rule in &self.access.rules {
            match self.check(rule, request) {
                Ok(()) => return self.confirm_if_risky(request, Some(rule.name.clone())),
                Err(m) => misses.push((rule, m)),
            }
        }
        Decision::Deny(self.denial(request, &misses))
    }

    /// Whether a rule that allows this request (an `unlock`) also allows breaking
    /// a lock someone else took.
    pub fn may_break_locks(&self, request: &Request<'_>) -> bool {
        self.access
            .rules
            .iter()
            .any(|r| r.break_locks && self.check(r, request).is_ok())
    }

    /// A one-line summary of what this person may change in this channel, for
    /// `whoami`: per verb of `verbs` (the ones that change anything), the apps.
    pub fn allowed_here(
        &self,
        origin: &Origin,
        author: &Author,
        apps: &[&App],
        verbs: &[&str],
    ) -> Vec<String> {
        let mut lines = Vec::new();
        for &verb in verbs {
            let names: Vec<String> = apps
                .iter()
                .filter(|app| {
                    self.access.rules.iter().any(|r| {
                        r.allows(verb) && self.rule_fits(r, origin, author, Some(app), None).is_ok()
                    })
                })
                .map(|a| a.name.to_string())
                .collect();
            if !names.is_empty() {
                lines.push(format!("{verb}: {}", names.join(", ")));
            }
        }
        lines
    }

    /// Whether this person, here, may read `verb` about `app` (`None`: about
    /// something that is not a configured app, such as a stack by name). Verbs
    /// that list apps filter with it, so a channel's listing shows what it could
    /// ask about one by one.
    pub fn sees(&self, origin: &Origin, author: &Author, verb: &str, app: Option<&App>) -> bool {
        self.read_grant(origin, author, verb, app).is_some()
    }

    /// The configured apps this person may read `verb` about here: what
    /// listings, suggestions and autocomplete offer.
    pub fn visible<'p>(
        &'p self,
        origin: &'p Origin,
        author: &'p Author,
        verb: &'p str,
    ) -> impl Iterator<Item = &'p App> + 'p {
        self.apps
            .iter()
            .filter(move |app| self.sees(origin, author, verb, Some(app)))
    }

    /// What lets a read through: `Some(None)` when nothing is bound yet or the
    /// channel is bound to the app, `Some(Some(rule))` when a rule grants it.
    /// A direct message is no channel: only a rule grants reads there once
    /// anything is bound, whatever `direct_messages` says about changes.
    fn read_grant(
        &self,
        origin: &Origin,
        author: &Author,
        verb: &str,
        app: Option<&App>,
    ) -> Option<Option<String>> {
        self.read_grant_strict(origin, author, verb, app, false)
    }

    /// `read_grant`; `strict` (a sensitive read in chat) takes no grant from
    /// nothing being bound.
    fn read_grant_strict(
        &self,
        origin: &Origin,
        author: &Author,
        verb: &str,
        app: Option<&App>,
        strict: bool,
    ) -> Option<Option<String>> {
        if self.access.channels.is_empty() && !strict {
            return Some(None);
        }
        if let Some(rule) = self
            .access
            .rules
            .iter()
            .find(|r| r.allows(verb) && self.rule_fits(r, origin, author, app, None).is_ok())
        {
            return Some(Some(rule.name.clone()));
        }
        if origin.direct {
            return None;
        }
        let binding = self.access.channels.get(&origin.identity())?;
        let app = app?;
        (binding.apps.contains(&app.name) || binding.environments.contains(&app.environment))
            .then_some(None)
    }

    fn read(&self, request: &Request<'_>) -> Decision {
        let strict =
            request.facts.sensitive && request.origin.platform != crate::message::Platform::Shell;
        if request.facts.open || (self.access.channels.is_empty() && !strict) {
            return Decision::Allow { rule: None };
        }
        let (origin, author, verb) = (request.origin, request.author, request.verb);
        let grant = match (request.app, request.facts.unmanaged) {
            (Some(app), _) => self.read_grant_strict(origin, author, verb, Some(app), strict),
            (None, true) => self.read_grant(origin, author, verb, None),
            // A listing: allowed where at least one app may be seen; the verb
            // shows only those.
            (None, false) => self
                .apps
                .iter()
                .find_map(|app| self.read_grant(origin, author, verb, Some(app))),
        };
        if let Some(rule) = grant {
            return Decision::Allow { rule };
        }
        let channels: Vec<&str> = self
            .access
            .channels
            .iter()
            .filter(|(_, b)| match request.app {
                Some(app) => {
                    b.apps.contains(&app.name) || b.environments.contains(&app.environment)
                }
                None => true,
            })
            .map(|(c, _)| c.as_str())
            .collect();
        let ask = channels.join(" or ");
        let dm = if origin.direct {
            "A direct message shows only what a rule grants you. "
        } else {
            ""
        };
        Decision::Deny(match (request.app, request.facts.unmanaged) {
            (Some(app), _) if strict && channels.is_empty() => format!(
                "{dm}`{verb}` can show secrets, so it is read only in a channel bound to {} or where a rule allows `{verb}`; ask whoever runs dockhand to bind one under `[channels]`.",
                app.name
            ),
            (Some(app), _) if channels.is_empty() => format!(
                "{dm}No channel is bound to {}; ask whoever runs dockhand to bind one under `[channels]`.",
                app.name
            ),
            (Some(app), _) => format!("{dm}Ask about {} in {ask}.", app.name),
            (None, true) => format!(
                "{dm}Only the stacks of apps bound to a channel can be read there; ask in {ask}."
            ),
            (None, false) => format!("{dm}No app is bound to this channel; ask in {ask}."),
        })
    }

    fn check(&self, rule: &Rule, request: &Request<'_>) -> Result<(), Miss> {
        if !rule.allows(request.verb) {
            return Err(Miss::Verb);
        }
        self.rule_fits(
            rule,
            request.origin,
            request.author,
            request.app,
            request.facts.count,
        )
    }

    fn rule_fits(
        &self,
        rule: &Rule,
        origin: &Origin,
        author: &Author,
        app: Option<&App>,
        count: Option<u32>,
    ) -> Result<(), Miss> {
        if let Some(app) = app {
            let by_app = rule.apps.is_empty() || rule.apps.contains(&app.name);
            let by_env =
                rule.environments.is_empty() || rule.environments.contains(&app.environment);
            if !(by_app && by_env) {
                return Err(Miss::Target);
            }
        } else if !rule.apps.is_empty() || !rule.environments.is_empty() {
            return Err(Miss::Target);
        }
        if !rule.channels.is_empty()
            && (origin.direct || !rule.channels.contains(&origin.identity()))
        {
            return Err(Miss::Channel);
        }
        if !rule.roles.is_empty() {
            let identity = author.identity(origin.platform);
            let held = self.roles_of(&identity);
            if !rule.roles.iter().any(|r| held.contains(&r.as_str())) {
                return Err(Miss::Role);
            }
        }
        if let (Some(max), Some(count)) = (rule.max_count, count)
            && count > max
        {
            return Err(Miss::Count(max));
        }
        Ok(())
    }

    fn confirm_if_risky(&self, request: &Request<'_>, rule: Option<String>) -> Decision {
        let env = request.environment;
        let other_person = env.is_some_and(|e| e.two_person);
        let why = match request.facts.risk {
            Risk::Never => None,
            Risk::Always(why) => Some(why.to_string()),
            Risk::InProtected => env
                .filter(|e| e.protected)
                .map(|e| format!("{} is a protected environment", e.name)),
        };
        match why {
            Some(why) => Decision::Confirm {
                rule,
                why,
                other_person,
            },
            None => Decision::Allow { rule },
        }
    }

    /// The denial text: the role, channel or bound a near-miss rule would need.
    fn denial(&self, request: &Request<'_>, misses: &[(&Rule, Miss)]) -> String {
        let verb = request.verb;
        let target = request
            .app
            .map(|a| format!(" {} ({})", a.name, a.environment))
            .unwrap_or_default();
        let mut roles: Vec<&str> = Vec::new();
        let mut channels: Vec<&str> = Vec::new();
        let mut max: Option<u32> = None;
        for (rule, miss) in misses {
            match miss {
                Miss::Role => roles.extend(rule.roles.iter().map(String::as_str)),
                Miss::Channel => channels.extend(rule.channels.iter().map(String::as_str)),
                Miss::Count(m) => max = Some(max.map_or(*m, |x| x.max(*m))),
                Miss::Verb | Miss::Target => {}
            }
        }
        roles.sort_unstable();
        roles.dedup();
        channels.sort_unstable();
        channels.dedup();
        // The nearest miss first: a bound the person has, then a channel, then a role.
        if let Some(max) = max {
            return format!(
                "You may scale{target} up to {max} tasks; more needs someone with a higher limit."
            );
        }
        if !channels.is_empty() {
            return format!("{verb}{target} is done in {} only.", channels.join(" or "));
        }
        if !roles.is_empty() {
            return format!(
                "You may not {verb}{target}: that needs the role {}.",
                roles.join(" or ")
            );
        }
        format!(
            "No rule allows {verb}{target} here. Whoever runs dockhand can add one under `[[rules]]`."
        )
    }
}
