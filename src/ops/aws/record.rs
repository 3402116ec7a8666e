//! The embedded store: dockhand's records as tags on ECS resources, and the client
//! request tokens that name who asked. Every `dockhand:*` key, every encoding and
//! the one sanitiser of tag values live here; nothing else writes or parses them.
//!
//! - On the app's ECS service: its lock (`dockhand:lock-*`) and the operation in
//!   flight (`dockhand:watch-*`), which a restarted dockhand resumes.
//! - On each task-definition revision dockhand made or watched: who asked, the
//!   version and how it ended (`dockhand:requested-by`, `version`, `outcome`), which
//!   `history` and `rollback` read.
//!
//! ECS tags have no conditional write. `lock` reads, writes, then reads back and
//! gives way if another holder's tags won; two dockhands racing inside that window
//! can both proceed. That is what the embedded store cannot guarantee, and why
//! several replicas need a store with compare-and-set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::types::{Service, Tag};

use super::{AwsOps, ecs};
use crate::command::value::{AppName, TaskCount, Version};
use crate::config::{App, Environment};
use crate::message::Platform;
use crate::ops::store::{Attribution, Ending, Lock, Operation, OperationKind, ReplyTo, Store};
use crate::ops::{OpsError, OpsResult, Requester, Target};

/// On task definitions: who asked, which version, how it ended.
const TAG_BY: &str = "dockhand:requested-by";
const TAG_BY_NAME: &str = "dockhand:requested-by-name";
const TAG_VERSION: &str = "dockhand:version";
const TAG_OUTCOME: &str = "dockhand:outcome";

/// On a locked service.
const TAG_LOCK_BY: &str = "dockhand:lock-by";
const TAG_LOCK_BY_NAME: &str = "dockhand:lock-by-name";
const TAG_LOCK_AT: &str = "dockhand:lock-at";
const TAG_LOCK_REASON: &str = "dockhand:lock-reason";
const LOCK_TAGS: [&str; 4] = [TAG_LOCK_BY, TAG_LOCK_BY_NAME, TAG_LOCK_AT, TAG_LOCK_REASON];

/// On a service with an operation in flight. `what` is the command as asked, kept
/// for people reading the tags and for records an older dockhand wrote; `kind` and
/// `arg` are what a resume reads.
const TAG_WATCH_WHAT: &str = "dockhand:watch-what";
const TAG_WATCH_KIND: &str = "dockhand:watch-kind";
const TAG_WATCH_ARG: &str = "dockhand:watch-arg";
const TAG_WATCH_BY: &str = "dockhand:watch-by";
const TAG_WATCH_BY_NAME: &str = "dockhand:watch-by-name";
const TAG_WATCH_CHANNEL: &str = "dockhand:watch-channel";
const TAG_WATCH_THREAD: &str = "dockhand:watch-thread";
const TAG_WATCH_AT: &str = "dockhand:watch-at";
/// An HMAC over the other watch tags and the service's ARN (see `RecordKey`).
const TAG_WATCH_SIG: &str = "dockhand:watch-sig";
const WATCH_TAGS: [&str; 9] = [
    TAG_WATCH_WHAT,
    TAG_WATCH_KIND,
    TAG_WATCH_ARG,
    TAG_WATCH_BY,
    TAG_WATCH_BY_NAME,
    TAG_WATCH_CHANNEL,
    TAG_WATCH_THREAD,
    TAG_WATCH_AT,
    TAG_WATCH_SIG,
];

/// ECS tag values allow letters, digits, spaces and `_ . : / = + - @`, 256 at most:
/// anything else (an apostrophe or an emoji in a display name or a lock reason)
/// becomes a space. Every value written goes through here.
pub fn tag_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                ' '
            }
        })
        .take(250)
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A tag whose value is made safe for ECS.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(tag_text(value)).build()
}

pub fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

impl Attribution {
    /// A revision `requester` asked for.
    pub fn new(requester: &Requester, version: Option<&str>, ending: Option<Ending>) -> Self {
        Attribution {
            by: requester.identity.clone(),
            by_name: requester.name.clone(),
            version: version.map(str::to_string),
            ending,
        }
    }
}

/// The tags of a revision dockhand registered (written with it, in the same
/// call, so a revision is never without its author) or watched to its end.
pub fn attribution_tags(a: &Attribution) -> Vec<Tag> {
    let mut tags = vec![tag(TAG_BY, &a.by), tag(TAG_BY_NAME, &a.by_name)];
    tags.extend(a.version.as_deref().map(|v| tag(TAG_VERSION, v)));
    tags.extend(a.ending.map(|e| tag(TAG_OUTCOME, e.as_str())));
    tags
}

/// A revision's attribution, if dockhand made or watched it. An outcome it does
/// not know (written by hand, or by a later dockhand) reads as none.
pub fn attribution_of(tags: &[Tag]) -> Option<Attribution> {
    let ending = match tag_value(tags, TAG_OUTCOME) {
        Some("live") => Some(Ending::Live),
        Some("failed") => Some(Ending::Failed),
        _ => None,
    };
    let (by, by_name) = (tag_value(tags, TAG_BY), tag_value(tags, TAG_BY_NAME));
    let version = tag_value(tags, TAG_VERSION).map(str::to_string);
    if by.is_none() && by_name.is_none() && version.is_none() && ending.is_none() {
        return None;
    }
    Some(Attribution {
        by: by.unwrap_or_default().to_string(),
        by_name: by_name.unwrap_or("someone").to_string(),
        version,
        ending,
    })
}

/// The lock recorded on a service, if any.
pub fn lock_of(s: &Service) -> Option<Lock> {
    let tags = s.tags();
    Some(Lock {
        by: tag_value(tags, TAG_LOCK_BY)?.to_string(),
        by_name: tag_value(tags, TAG_LOCK_BY_NAME)
            .unwrap_or("someone")
            .to_string(),
        at: tag_value(tags, TAG_LOCK_AT)
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
        reason: tag_value(tags, TAG_LOCK_REASON)
            .unwrap_or("no reason given")
            .to_string(),
    })
}

fn lock_tags(lock: &Lock) -> Vec<Tag> {
    vec![
        tag(TAG_LOCK_BY, &lock.by),
        tag(TAG_LOCK_BY_NAME, &lock.by_name),
        tag(TAG_LOCK_AT, &lock.at.to_string()),
        tag(TAG_LOCK_REASON, &lock.reason),
    ]
}

fn operation_tags(op: &Operation) -> Vec<Tag> {
    let arg = match &op.kind {
        OperationKind::Deploy { version } => Some(version.to_string()),
        OperationKind::Scale { count } => Some(count.to_string()),
        OperationKind::Rollback | OperationKind::Cancel | OperationKind::Continue => None,
    };
    let mut tags = vec![
        tag(TAG_WATCH_WHAT, &op.asked()),
        tag(TAG_WATCH_KIND, op.kind.verb()),
        tag(TAG_WATCH_BY, &op.requester.identity),
        tag(TAG_WATCH_BY_NAME, &op.requester.name),
        tag(
            TAG_WATCH_CHANNEL,
            &format!("{}:{}", op.reply_to.platform, op.reply_to.channel),
        ),
        tag(TAG_WATCH_AT, &op.started_at.to_string()),
    ];
    tags.extend(arg.map(|a| tag(TAG_WATCH_ARG, &a)));
    tags.extend(
        op.reply_to
            .thread
            .as_ref()
            .map(|t| tag(TAG_WATCH_THREAD, t)),
    );
    tags
}

/// What operation records are signed with (F19). Anyone who may tag a managed
/// service (app teams usually may) could otherwise write a `dockhand:watch-*`
/// record that makes the next dockhand post chosen text into any channel. The
/// key is derived from the chat tokens, which only this deployment of dockhand
/// holds, so a record verifies only where it was written by the same bot; a
/// rotated token makes old records unreadable, and they are skipped (logged),
/// not resumed. The shell has no tokens and never resumes.
#[derive(Clone)]
pub(crate) struct RecordKey(ring::hmac::Key);

impl RecordKey {
    pub(crate) fn new(config: &crate::config::Config) -> RecordKey {
        let mut seed = ring::digest::Context::new(&ring::digest::SHA256);
        seed.update(b"dockhand operation records v1\0");
        let tokens = [
            &config.slack.bot_token,
            &config.slack.app_token,
            &config.slack.signing_secret,
            &config.discord.token,
        ];
        for token in tokens.into_iter().flatten() {
            seed.update(token.expose().as_bytes());
            seed.update(b"\0");
        }
        let seed = seed.finish();
        RecordKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_ref()))
    }

    /// What is signed: the service and every watch tag but the signature, in
    /// a fixed order, so moving a record to another service or changing any
    /// field (the channel, who asked) breaks it.
    fn message(service_arn: &str, tags: &[Tag]) -> String {
        let mut text = format!("{service_arn}\n");
        for key in WATCH_TAGS.iter().filter(|k| **k != TAG_WATCH_SIG) {
            text.push_str(&format!(
                "{key}={}\n",
                tag_value(tags, key).unwrap_or_default()
            ));
        }
        text
    }

    fn sign(&self, service_arn: &str, tags: &[Tag]) -> String {
        let tag = ring::hmac::sign(&self.0, Self::message(service_arn, tags).as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn verifies(&self, service_arn: &str, tags: &[Tag]) -> bool {
        let Some(sig) = tag_value(tags, TAG_WATCH_SIG) else {
            return false;
        };
        let bytes: Option<Vec<u8>> = (0..sig.len())
            .step_by(2)
            .map(|i| {
                sig.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        bytes.is_some_and(|b| {
            ring::hmac::verify(&self.0, Self::message(service_arn, tags).as_bytes(), &b).is_ok()
        })
    }
}

/// Platform ids are letters and digits (`C0DEPLOY`, `4242`); threads add `.`
/// (Slack's timestamps). Anything else did not come from dockhand.
fn is_id(s: &str, extra: &[char]) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// The operation recorded on an app's service. A record this version cannot read
/// (damaged, or from a newer dockhand) is logged and skipped, never half-resumed.
fn operation_of(app: &AppName, tags: &[Tag]) -> Option<Operation> {
    let what = tag_value(tags, TAG_WATCH_WHAT)?;
    // Records from before `kind` was written carry only `what` ("deploy hubot v2"):
    // read once here, so nothing downstream parses text.
    let words: Vec<&str> = what.split_whitespace().collect();
    let kind_name = tag_value(tags, TAG_WATCH_KIND).or(words.first().copied());
    let arg = tag_value(tags, TAG_WATCH_ARG).or(words.get(2).copied());
    let kind = match (kind_name, arg) {
        (Some("deploy"), Some(v)) => Version::parse(v)
            .ok()
            .map(|version| OperationKind::Deploy { version }),
        (Some("scale"), Some(n)) => TaskCount::parse(n)
            .ok()
            .map(|count| OperationKind::Scale { count }),
        (Some("rollback"), _) => Some(OperationKind::Rollback),
        (Some("cancel"), _) => Some(OperationKind::Cancel),
        (Some("continue"), _) => Some(OperationKind::Continue),
        _ => None,
    };
    let (platform, channel) = tag_value(tags, TAG_WATCH_CHANNEL)?.split_once(':')?;
    let thread = tag_value(tags, TAG_WATCH_THREAD);
    let ids = is_id(channel, &[]) && thread.is_none_or(|t| is_id(t, &['.']));
    let (Some(kind), Some(platform), true) = (kind, Platform::from_name(platform), ids) else {
        tracing::warn!(%app, what, "an operation record dockhand cannot read; it is not resumed");
        return None;
    };
    Some(Operation {
        app: app.clone(),
        kind,
        requester: Requester {
            identity: tag_value(tags, TAG_WATCH_BY)
                .unwrap_or_default()
                .to_string(),
            name: tag_value(tags, TAG_WATCH_BY_NAME)
                .unwrap_or("someone")
                .to_string(),
        },
        reply_to: ReplyTo {
            platform,
            channel: channel.to_string(),
            thread: thread.map(str::to_string),
        },
        started_at: tag_value(tags, TAG_WATCH_AT)
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
    })
}

/// What a record in the shared table is signed against, as a record in tags
/// is against its service's ARN.
fn in_table(app: &str) -> String {
    format!("dockhand-state/{app}")
}

fn fields_of(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn tags_of(fields: &[(String, String)]) -> Vec<Tag> {
    fields.iter().map(|(k, v)| tag(k, v)).collect()
}

impl AwsOps {
    /// The operation a record holds, if it has one this dockhand signed.
    fn verified(&self, app: &AppName, signed_as: &str, tags: &[Tag]) -> Option<Operation> {
        tag_value(tags, TAG_WATCH_WHAT)?;
        if !self.record_key.verifies(signed_as, tags) {
            tracing::warn!(
                %app,
                "an operation record was not written by this dockhand (its signature does not verify); it is not resumed"
            );
            return None;
        }
        operation_of(app, tags)
    }

    /// The app's lock, read where this dockhand keeps locks.
    pub(crate) async fn current_lock(
        &self,
        clients: &super::Clients,
        target: &Target,
    ) -> OpsResult<Option<Lock>> {
        if let Some(table) = self.state().await? {
            return table.current_lock(target.app.name.as_str()).await;
        }
        let svc = self.service_of(clients, &target.app).await?;
        Ok(lock_of(&ecs::describe(clients, &svc).await?))
    }
}

impl Store for AwsOps {
    async fn claim(&self, target: &Target, claim: &crate::ops::Claim) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.claim(target, claim).await,
            None => Ok(()),
        }
    }

    async fn renew(&self, target: &Target, claim: &crate::ops::Claim) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.renew(target, claim).await,
            None => Ok(()),
        }
    }

    fn shares_state(&self) -> bool {
        self.state_table().is_some()
    }

    async fn offer(&self, waiting: &crate::ops::Waiting) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.offer(waiting).await,
            None => Ok(()),
        }
    }

    async fn planned(&self, code: &str, plan: &crate::ops::Plan) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.planned(code, plan).await,
            None => Ok(()),
        }
    }

    async fn waiting(&self, code: &str) -> OpsResult<Option<crate::ops::Waiting>> {
        match self.state().await? {
            Some(table) => table.waiting(code).await,
            None => Ok(None),
        }
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        term: std::time::Duration,
    ) -> OpsResult<crate::ops::Taken> {
        match self.state().await? {
            Some(table) => table.take_lease(name, holder, term).await,
            None => Ok(crate::ops::Taken::Ours(crate::ops::Lease::sole(
                name, holder,
            ))),
        }
    }

    async fn keep_lease(
        &self,
        lease: &crate::ops::Lease,
        term: std::time::Duration,
    ) -> OpsResult<bool> {
        match self.state().await? {
            Some(table) => table.keep_lease(lease, term).await,
            None => Ok(true),
        }
    }

    async fn give_lease(&self, lease: &crate::ops::Lease) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.give_lease(lease).await,
            None => Ok(()),
        }
    }

    async fn first_seen(&self, key: &str) -> OpsResult<bool> {
        match self.state().await? {
            Some(table) => table.first_seen(key).await,
            None => Ok(true),
        }
    }

    async fn lapsed(&self) -> OpsResult<Vec<String>> {
        match self.state().await? {
            Some(table) => table.lapsed().await,
            None => Ok(Vec::new()),
        }
    }

    async fn take(&self, code: &str) -> OpsResult<bool> {
        match self.state().await? {
            Some(table) => table.take(code).await,
            None => Ok(true),
        }
    }

    async fn release(&self, target: &Target, claim: &crate::ops::Claim) -> OpsResult<()> {
        match self.state().await? {
            Some(table) => table.release(target, claim).await,
            None => Ok(()),
        }
    }

    async fn lock(&self, target: &Target, reason: &str) -> OpsResult<Lock> {
        let locked = |lock| OpsError::Locked {
            app: target.app.name.to_string(),
            lock,
        };
        let lock = Lock {
            by: tag_text(&target.requester.identity),
            by_name: tag_text(&target.requester.name),
            at: crate::ops::now(),
            reason: tag_text(reason),
        };
        if let Some(table) = self.state().await? {
            // A conditional write: of two replicas locking at once, one wins.
            return match table.lock(target.app.name.as_str(), &lock).await? {
                Ok(()) => Ok(lock),
                Err(held) => Err(locked(held)),
            };
        }
        let clients = self.clients(&target.environment).await?;
        let svc = self.service_of(&clients, &target.app).await?;
        let service = ecs::describe(&clients, &svc).await?;
        if let Some(lock) = lock_of(&service) {
            return Err(locked(lock));
        }
        let arn = service.service_arn().unwrap_or_default();
        ecs::tag_resource(&clients, arn, lock_tags(&lock)).await?;
        // Read back: a lock written in the meantime by someone else wins.
        match lock_of(&ecs::describe(&clients, &svc).await?) {
            Some(held) if held.by != lock.by || held.at != lock.at => Err(locked(held)),
            _ => Ok(lock),
        }
    }

    async fn unlock(&self, target: &Target, may_break: bool) -> OpsResult<Option<Lock>> {
        let refuse = |lock: &Lock| {
            OpsError::OutOfBounds(format!(
                "{} locked {} ({}); only they, or someone a rule lets break locks, can unlock it.",
                lock.by_name, target.app.name, lock.reason
            ))
        };
        let mine = |lock: &Lock| lock.by == tag_text(&target.requester.identity) || may_break;
        if let Some(table) = self.state().await? {
            let app = target.app.name.as_str();
            let Some(lock) = table.current_lock(app).await? else {
                return Ok(None);
            };
            if !mine(&lock) {
                return Err(refuse(&lock));
            }
            table.unlock(app, &lock).await?;
            return Ok(Some(lock));
        }
        let clients = self.clients(&target.environment).await?;
        let svc = self.service_of(&clients, &target.app).await?;
        let service = ecs::describe(&clients, &svc).await?;
        let Some(lock) = lock_of(&service) else {
            return Ok(None);
        };
        if !mine(&lock) {
            return Err(refuse(&lock));
        }
        let arn = service.service_arn().unwrap_or_default();
        ecs::untag_resource(&clients, arn, &LOCK_TAGS).await?;
        Ok(Some(lock))
    }

    async fn record(&self, target: &Target, op: &Operation) -> OpsResult<()> {
        if let Some(table) = self.state().await? {
            let app = target.app.name.as_str();
            let mut tags = operation_tags(op);
            tags.push(tag(
                TAG_WATCH_SIG,
                &self.record_key.sign(&in_table(app), &tags),
            ));
            return table.record(app, &fields_of(&tags)).await;
        }
        let clients = self.clients(&target.environment).await?;
        let svc = self.service_of(&clients, &target.app).await?;
        let service = ecs::describe(&clients, &svc).await?;
        let arn = service.service_arn().unwrap_or_default();
        // An optional tag the previous record had (a thread) must not outlive it.
        if tag_value(service.tags(), TAG_WATCH_WHAT).is_some() {
            ecs::untag_resource(&clients, arn, &WATCH_TAGS).await?;
        }
        let mut tags = operation_tags(op);
        tags.push(tag(TAG_WATCH_SIG, &self.record_key.sign(arn, &tags)));
        ecs::tag_resource(&clients, arn, tags).await
    }

    async fn clear(&self, target: &Target) -> OpsResult<()> {
        if let Some(table) = self.state().await? {
            return table.clear_record(target.app.name.as_str()).await;
        }
        let clients = self.clients(&target.environment).await?;
        let svc = self.service_of(&clients, &target.app).await?;
        let service = ecs::describe(&clients, &svc).await?;
        if tag_value(service.tags(), TAG_WATCH_WHAT).is_none() {
            return Ok(());
        }
        let arn = service.service_arn().unwrap_or_default();
        ecs::untag_resource(&clients, arn, &WATCH_TAGS).await
    }

    async fn operations(&self, apps: &[(App, Environment)]) -> Vec<Operation> {
        match self.state().await {
            Ok(Some(table)) => {
                return match table.records().await {
                    Ok(records) => records
                        .into_iter()
                        .filter_map(|(app, fields)| {
                            let (app, _) = apps.iter().find(|(a, _)| a.name.as_str() == app)?;
                            self.verified(
                                &app.name,
                                &in_table(app.name.as_str()),
                                &tags_of(&fields),
                            )
                        })
                        .collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the operation records in the shared table");
                        Vec::new()
                    }
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not reach the shared table for operation records");
                return Vec::new();
            }
        }
        // One service description per app, concurrently; an app that cannot be
        // read has nothing to resume (its error shows up in `status`).
        let read = apps.iter().map(|(app, env)| async move {
            let clients = self.clients(env).await?;
            let svc = self.service_of(&clients, app).await?;
            ecs::describe(&clients, &svc).await.map(|service| {
                self.verified(
                    &app.name,
                    service.service_arn().unwrap_or_default(),
                    service.tags(),
                )
            })
        });
        futures::future::join_all(read)
            .await
            .into_iter()
            .zip(apps)
            .filter_map(|(found, (app, _))| match found {
                Ok(op) => op,
                Err(e) => {
                    tracing::warn!(app = %app.name, error = %e, "could not read the app's operation record");
                    None
                }
            })
            .collect()
    }
}

/// A short random-enough id for tokens and change-set names.
pub fn short_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let mut n = (u64::from(nanos)
        ^ (COUNTER.fetch_add(1, Ordering::Relaxed) << 32)
        ^ u64::from(std::process::id()))
        % 36u64.pow(6);
    let mut s = String::new();
    for _ in 0..6 {
        s.push(char::from_digit((n % 36) as u32, 36).expect("digit"));
        n /= 36;
    }
    s
}

/// A `ClientRequestToken` that names the requester, so stack events and CloudTrail
/// show who asked: `dockhand-deploy-slack-U024BE7LH-k3j9x2`.
pub fn token(verb: &str, requester: &Requester) -> String {
    let who: String = requester
        .identity
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut t = format!("dockhand-{verb}-{who}");
    t.truncate(120);
    format!("{t}-{}", short_id())
}

/// The requester's identity back from a token (`slack:U024BE7LH`).
pub fn who_from_token(token: &str) -> Option<String> {
    let rest = token.strip_prefix("dockhand-")?;
    let (_verb, rest) = rest.split_once('-')?;
    let (who, _id) = rest.rsplit_once('-')?;
    let (platform, user) = who.split_once('-')?;
    Some(format!("{platform}:{user}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OperationKind, thread: Option<&str>) -> Operation {
        Operation {
            app: AppName::parse("hubot").unwrap(),
            kind,
            requester: Requester {
                identity: "slack:U024BE7LH".into(),
                name: "@alice".into(),
            },
            reply_to: ReplyTo {
                platform: Platform::Slack,
                channel: "C0DEPLOYS".into(),
                thread: thread.map(str::to_string),
            },
            started_at: 1_700_000_000,
        }
    }

    #[test]
    fn operations_round_trip_through_tags() {
        for o in [
            op(
                OperationKind::Deploy {
                    version: Version::parse("v2").unwrap(),
                },
                Some("1700000000.000100"),
            ),
            op(OperationKind::Rollback, None),
            op(
                OperationKind::Scale {
                    count: TaskCount::parse("3").unwrap(),
                },
                None,
            ),
            op(OperationKind::Cancel, None),
        ] {
            assert_eq!(operation_of(&o.app, &operation_tags(&o)), Some(o));
        }
    }

    /// F19: a record verifies only on the service it was written to, with
    /// every field as written, and under the same bot's tokens.
    #[test]
    fn only_records_this_dockhand_signed_verify() {
        let config = |token: &str| {
            let env = |k: &str| (k == "SLACK_BOT_TOKEN").then(|| token.to_string());
            crate::config::Config::parse("t", "", &env, crate::verbs::NAMES).unwrap()
        };
        let key = RecordKey::new(&config("xoxb-ours"));
        let arn = "arn:aws:ecs:us-east-1:1:service/apps/hubot";
        let o = op(OperationKind::Rollback, Some("1700000000.000100"));
        let mut tags = operation_tags(&o);
        tags.push(tag(TAG_WATCH_SIG, &key.sign(arn, &tags)));
        assert!(key.verifies(arn, &tags));
        assert!(!key.verifies("arn:aws:ecs:us-east-1:1:service/apps/web", &tags));
        assert!(!RecordKey::new(&config("xoxb-theirs")).verifies(arn, &tags));
        let mut moved = tags.clone();
        for t in moved.iter_mut() {
            if t.key() == Some(TAG_WATCH_CHANNEL) {
                *t = tag(TAG_WATCH_CHANNEL, "slack:CELSEWHERE");
            }
        }
        assert!(!key.verifies(arn, &moved));
        let unsigned = operation_tags(&o);
        assert!(!key.verifies(arn, &unsigned));
    }

    #[test]
    fn a_record_naming_no_platform_id_is_not_read() {
        let o = op(OperationKind::Rollback, None);
        let mut tags = operation_tags(&o);
        for t in tags.iter_mut() {
            if t.key() == Some(TAG_WATCH_CHANNEL) {
                *t = tag(TAG_WATCH_CHANNEL, "slack:C1 <!channel>");
            }
        }
        assert_eq!(operation_of(&o.app, &tags), None);
    }

    #[test]
    fn records_an_older_dockhand_wrote_are_read_once_here() {
        let app = AppName::parse("hubot").unwrap();
        let legacy = vec![
            tag(TAG_WATCH_WHAT, "scale hubot 4"),
            tag(TAG_WATCH_BY, "slack:U1"),
            tag(TAG_WATCH_CHANNEL, "discord:4242"),
        ];
        let o = operation_of(&app, &legacy).expect("readable");
        assert_eq!(
            o.kind,
            OperationKind::Scale {
                count: TaskCount::parse("4").unwrap()
            }
        );
        assert_eq!(o.reply_to.platform, Platform::Discord);
        // Unreadable: never half-resumed.
        let damaged = vec![
            tag(TAG_WATCH_WHAT, "deploy hubot"),
            tag(TAG_WATCH_CHANNEL, "slack:C1"),
        ];
        assert_eq!(operation_of(&app, &damaged), None);
    }

    #[test]
    fn every_value_written_fits_the_ecs_tag_alphabet() {
        // F11: display names with apostrophes, emoji or a fullwidth at sign.
        let requester = Requester {
            identity: "slack:U1".into(),
            name: "@O'Brien 🚀 ＠ops".into(),
        };
        let a = Attribution::new(&requester, Some("v2"), Some(Ending::Live));
        for t in attribution_tags(&a) {
            let v = t.value().unwrap();
            assert!(
                v.chars()
                    .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)),
                "{v:?}"
            );
        }
        assert_eq!(
            tag(TAG_BY_NAME, &requester.name).value(),
            Some("@O Brien ops")
        );
    }

    #[test]
    fn attribution_round_trips_through_tags() {
        let requester = Requester {
            identity: "slack:U1".into(),
            name: "@alice".into(),
        };
        for ending in [None, Some(Ending::Live), Some(Ending::Failed)] {
            let a = Attribution::new(&requester, Some("v2"), ending);
            assert_eq!(attribution_of(&attribution_tags(&a)), Some(a));
        }
        assert_eq!(attribution_of(&[tag("team", "ops")]), None);
        let unknown =
            attribution_of(&[tag(TAG_BY, "slack:U1"), tag(TAG_OUTCOME, "exploded")]).unwrap();
        assert_eq!(unknown.ending, None);
    }

    #[test]
    fn tokens_name_the_requester_and_fit_the_pattern() {
        let r = Requester {
            identity: "slack:U024BE7LH".into(),
            name: "@alice".into(),
        };
        let t = token("deploy", &r);
        assert!(t.starts_with("dockhand-deploy-slack-U024BE7LH-"), "{t}");
        assert!(t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_eq!(who_from_token(&t).as_deref(), Some("slack:U024BE7LH"));
        assert_eq!(who_from_token("console-123"), None);
    }
}
