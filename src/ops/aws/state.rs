//! Shared state on DynamoDB (`[state] table`): what two or more replicas must
//! agree on, written with conditions so that exactly one of them wins.
//!
//! One table, partition key `pk` (the kind of item) and sort key `sk` (whose):
//! `hold`/`<app>` is an app's claim by the operation running on it;
//! `lock`/`<app>` its lock (`lock`, no expiry: a lock stays until unlocked);
//! `op`/`<app>` the operation in flight on it, for the replica that resumes it;
//! `confirm`/`<code>` a confirmation waiting for its code; `seen`/`<key>` an
//! event (or a deployment) one replica has taken to report. Every item
//! carries `expires` (epoch seconds), the table's TTL attribute: DynamoDB
//! deletes expired items only eventually (within days), so readers treat an
//! item past its `expires` as absent, and a condition lets a writer replace it.
//!
//! `lease`/`<name>` is the one exception: a lease (the Discord gateway) runs to
//! `until` (epoch milliseconds, for a term of seconds) and is never deleted,
//! TTL or not, because its `fence` must only grow: a holder that lost the lease
//! renews on its own fence, and that fails once another replica took it.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;

use super::{AwsOps, classify};
use crate::message::Platform;
use crate::ops::{
    CLAIM_LEASE, Claim, Lease, Lock, OpsError, OpsResult, Plan, Taken, Target, Waiting, clock,
};

/// Now, in epoch milliseconds: a lease's term is seconds long.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The shared table and a client for it (in the bot's own region).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

const HOLD: &str = "hold";
const CONFIRM: &str = "confirm";
const SEEN: &str = "seen";
const LEASE: &str = "lease";
const LOCK: &str = "lock";
const OPERATION: &str = "op";
/// How long an operation record is kept when nothing clears it: far past any
/// watch's timeout, so only a record orphaned by a bug ever expires.
const RECORD_SECONDS: i64 = 7 * 86_400;
/// How long a seen key is kept: longer than SQS keeps a message (the template's
/// queue: 1 day), so a redelivered event is still known.
const SEEN_SECONDS: i64 = 2 * 86_400;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

fn number(item: &HashMap<String, AttributeValue>, key: &str) -> i64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

impl AwsOps {
    /// The shared table, when `[state] table` names one.
    pub(crate) async fn state(&self) -> OpsResult<Option<Table>> {
        let Some(name) = self.state_table() else {
            return Ok(None);
        };
        let client = self
            .state_client
            .get_or_try_init(|| async {
                let sdk = self.base().await?;
                Ok::<_, OpsError>(aws_sdk_dynamodb::Client::from_conf(super::dynamodb_config(
                    sdk,
                    self.emulator_account.as_deref(),
                )))
            })
            .await?;
        Ok(Some(Table {
            client: client.clone(),
            name: name.to_string(),
        }))
    }
}

impl Table {
    /// Puts the app's hold if no live one is there (or it is this claim's).
    pub(crate) async fn claim(&self, target: &Target, claim: &Claim) -> OpsResult<()> {
        let now = crate::ops::now();
        let app = target.app.name.as_str();
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(HOLD))
            .item("sk", s(app))
            .item("holder", s(&claim.holder))
            .item("who", s(&claim.who))
            .item("what", s(&claim.what))
            .item("since", n(claim.since))
            .item("expires", n(now + CLAIM_LEASE.as_secs() as i64))
            .condition_expression("attribute_not_exists(pk) OR expires < :now OR holder = :me")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":me", s(&claim.holder))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(held) => {
                    let item = match held.item() {
                        Some(item) => item.clone(),
                        // Not every store returns the item it kept: read it.
                        None => self.get(HOLD, app).await?.unwrap_or_default(),
                    };
                    Err(busy(app, &item))
                }
                other => Err(dynamo_error("dynamodb:PutItem", other)),
            },
        }
    }

    /// Extends the lease of a hold this claim still has.
    pub(crate) async fn renew(&self, target: &Target, claim: &Claim) -> OpsResult<()> {
        let app = target.app.name.as_str();
        let updated = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(HOLD))
            .key("sk", s(app))
            .update_expression("SET expires = :e")
            .condition_expression("holder = :me")
            .expression_attribute_values(":e", n(crate::ops::now() + CLAIM_LEASE.as_secs() as i64))
            .expression_attribute_values(":me", s(&claim.holder))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let item = self.get(HOLD, app).await?.unwrap_or_default();
                Err(busy(app, &item))
            }
            Err(e) => Err(classify("dynamodb:UpdateItem", e)),
        }
    }

    /// Deletes the hold if it is still this claim's (a lapsed one another took
    /// is theirs now).
    pub(crate) async fn release(&self, target: &Target, claim: &Claim) -> OpsResult<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(HOLD))
            .key("sk", s(target.app.name.as_str()))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(&claim.holder))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify("dynamodb:DeleteItem", e)),
        }
    }

    /// Shares a confirmation; it expires with its code.
    pub(crate) async fn offer(&self, w: &Waiting) -> OpsResult<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(CONFIRM))
            .item("sk", s(&w.code))
            .item("text", s(&w.text))
            .item("platform", s(&w.platform.to_string()))
            .item("channel", s(&w.channel))
            .item("direct", AttributeValue::Bool(w.direct))
            .item("author_id", s(&w.author_id))
            .item("author_name", s(&w.author_name))
            .item("external", AttributeValue::Bool(w.external))
            .item("asked", s(&w.asked))
            .item("other_person", AttributeValue::Bool(w.other_person))
            .item("expires", n(w.expires_at))
            // A code drawn twice by two replicas at once: the second is refused.
            .condition_expression("attribute_not_exists(pk)");
        if let Some(t) = &w.thread {
            put = put.item("thread", s(t));
        }
        if let Some(r) = &w.rule {
            put = put.item("rule", s(r));
        }
        put.send()
            .await
            .map(|_| ())
            .map_err(|e| dynamo_error("dynamodb:PutItem", e.into_service_error()))
    }

    /// Adds the prompt's plan to a shared confirmation that still waits.
    pub(crate) async fn planned(&self, code: &str, plan: &Plan) -> OpsResult<()> {
        let changes = AttributeValue::L(plan.changes.iter().map(|c| s(c)).collect());
        let mut update = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(CONFIRM))
            .key("sk", s(code))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":c", changes);
        update = match &plan.current {
            Some(current) => update
                .update_expression("SET plan_changes = :c, plan_current = :p")
                .expression_attribute_values(":p", s(current)),
            None => update.update_expression("SET plan_changes = :c"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Settled (or expired) before AWS answered: nothing to add to.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify("dynamodb:UpdateItem", e)),
        }
    }

    /// The confirmation under `code`, unless it was taken or has expired.
    pub(crate) async fn waiting(&self, code: &str) -> OpsResult<Option<Waiting>> {
        let Some(item) = self.get(CONFIRM, code).await? else {
            return Ok(None);
        };
        let expires_at = number(&item, "expires");
        if expires_at < crate::ops::now() {
            return Ok(None);
        }
        let flag = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false)
        };
        let optional = |k: &str| Some(text(&item, k).to_string()).filter(|v| !v.is_empty());
        let Some(platform) = Platform::from_name(text(&item, "platform")) else {
            return Ok(None);
        };
        let plan = item
            .get("plan_changes")
            .and_then(|v| v.as_l().ok())
            .map(|l| Plan {
                current: optional("plan_current"),
                changes: l.iter().filter_map(|c| c.as_s().ok().cloned()).collect(),
            });
        Ok(Some(Waiting {
            code: code.to_string(),
            text: text(&item, "text").to_string(),
            platform,
            channel: text(&item, "channel").to_string(),
            thread: optional("thread"),
            direct: flag("direct"),
            author_id: text(&item, "author_id").to_string(),
            author_name: text(&item, "author_name").to_string(),
            external: flag("external"),
            asked: text(&item, "asked").to_string(),
            rule: optional("rule"),
            other_person: flag("other_person"),
            expires_at,
            plan,
        }))
    }

    /// Deletes the confirmation if it is there: true for the one caller that did.
    pub(crate) async fn take(&self, code: &str) -> OpsResult<bool> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(CONFIRM))
            .key("sk", s(code))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify("dynamodb:DeleteItem", e)),
        }
    }

    /// The apps whose hold has lapsed.
    pub(crate) async fn lapsed(&self) -> OpsResult<Vec<String>> {
        let items = self.partition(HOLD, Some(crate::ops::now())).await?;
        Ok(items.iter().map(|i| text(i, "sk").to_string()).collect())
    }

    /// Every item of partition `pk`, read in pages; with `expired_before`,
    /// only those whose `expires` is past it.
    async fn partition(
        &self,
        pk: &str,
        expired_before: Option<i64>,
    ) -> OpsResult<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.name)
                .key_condition_expression("pk = :h")
                .expression_attribute_values(":h", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            if let Some(now) = expired_before {
                query = query
                    .filter_expression("expires < :now")
                    .expression_attribute_values(":now", n(now));
            }
            let page = query
                .send()
                .await
                .map_err(|e| classify("dynamodb:Query", e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Puts `seen`/`key` unless a live one is there: true for the first.
    pub(crate) async fn first_seen(&self, key: &str) -> OpsResult<bool> {
        let now = crate::ops::now();
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(SEEN))
            .item("sk", s(key))
            .item("expires", n(now + SEEN_SECONDS))
            .condition_expression("attribute_not_exists(pk) OR expires < :now")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(dynamo_error("dynamodb:PutItem", other)),
            },
        }
    }

    /// Takes the lease unless a live one is someone else's; a new holder's
    /// fence is the last one plus one.
    pub(crate) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        term: std::time::Duration,
    ) -> OpsResult<Taken> {
        let now = now_ms();
        let updated = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(LEASE))
            .key("sk", s(name))
            .update_expression("SET holder = :me, #until = :until ADD fence :one")
            .condition_expression("attribute_not_exists(holder) OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", s(holder))
            .expression_attribute_values(":until", n(now + term.as_millis() as i64))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match updated {
            Ok(out) => Ok(Taken::Ours(Lease {
                name: name.to_string(),
                holder: holder.to_string(),
                fence: out.attributes().map_or(0, |a| number(a, "fence")),
            })),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let item = self.get(LEASE, name).await?.unwrap_or_default();
                Ok(Taken::Theirs {
                    holder: text(&item, "holder").to_string(),
                })
            }
            Err(e) => Err(classify("dynamodb:UpdateItem", e)),
        }
    }

    /// Extends the lease if it is still this holder's, on this fence.
    pub(crate) async fn keep_lease(
        &self,
        lease: &Lease,
        term: std::time::Duration,
    ) -> OpsResult<bool> {
        self.lease_until(lease, now_ms() + term.as_millis() as i64)
            .await
    }

    /// Ends the lease now, if it is still this holder's: the next replica to
    /// ask takes it without waiting out the term.
    pub(crate) async fn give_lease(&self, lease: &Lease) -> OpsResult<()> {
        self.lease_until(lease, 0).await.map(|_| ())
    }

    async fn lease_until(&self, lease: &Lease, until: i64) -> OpsResult<bool> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(LEASE))
            .key("sk", s(&lease.name))
            .update_expression("SET #until = :until")
            .condition_expression("holder = :me AND fence = :fence")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":me", s(&lease.holder))
            .expression_attribute_values(":fence", n(lease.fence))
            .expression_attribute_values(":until", n(until))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify("dynamodb:UpdateItem", e)),
        }
    }

    /// Puts the app's lock unless it has one: `Err(held)` with the lock kept.
    pub(crate) async fn lock(&self, app: &str, lock: &Lock) -> OpsResult<Result<(), Lock>> {
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(LOCK))
            .item("sk", s(app))
            .item("by", s(&lock.by))
            .item("by_name", s(&lock.by_name))
            .item("at", n(lock.at))
            .item("reason", s(&lock.reason))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Ok(())),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(held) => {
                    let item = match held.item() {
                        Some(item) => item.clone(),
                        None => self.get(LOCK, app).await?.unwrap_or_default(),
                    };
                    Ok(Err(lock_of(&item)))
                }
                other => Err(dynamo_error("dynamodb:PutItem", other)),
            },
        }
    }

    /// The app's lock, if it has one.
    pub(crate) async fn current_lock(&self, app: &str) -> OpsResult<Option<Lock>> {
        Ok(self.get(LOCK, app).await?.map(|item| lock_of(&item)))
    }

    /// Removes `lock`, if it is still the app's (not one taken since it was read).
    pub(crate) async fn unlock(&self, app: &str, lock: &Lock) -> OpsResult<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(LOCK))
            .key("sk", s(app))
            .condition_expression("#by = :by AND #at = :at")
            .expression_attribute_names("#by", "by")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":by", s(&lock.by))
            .expression_attribute_values(":at", n(lock.at))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify("dynamodb:DeleteItem", e)),
        }
    }

    /// Replaces the app's operation record with `fields` (the same fields the
    /// embedded store writes as tags, signed alike).
    pub(crate) async fn record(&self, app: &str, fields: &[(String, String)]) -> OpsResult<()> {
        let fields = fields.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        self.client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(OPERATION))
            .item("sk", s(app))
            .item("fields", AttributeValue::M(fields))
            .item("expires", n(crate::ops::now() + RECORD_SECONDS))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| dynamo_error("dynamodb:PutItem", e.into_service_error()))
    }

    pub(crate) async fn clear_record(&self, app: &str) -> OpsResult<()> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(OPERATION))
            .key("sk", s(app))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("dynamodb:DeleteItem", e))
    }

    /// Every app's operation record: app -> its fields.
    pub(crate) async fn records(&self) -> OpsResult<Vec<(String, Vec<(String, String)>)>> {
        let items = self.partition(OPERATION, None).await?;
        Ok(items
            .iter()
            .map(|item| {
                let fields = item
                    .get("fields")
                    .and_then(|f| f.as_m().ok())
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                (text(item, "sk").to_string(), fields)
            })
            .collect())
    }

    async fn get(&self, pk: &str, sk: &str) -> OpsResult<Option<HashMap<String, AttributeValue>>> {
        let got = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb:GetItem", e))?;
        Ok(got.item().cloned())
    }
}

fn lock_of(item: &HashMap<String, AttributeValue>) -> Lock {
    Lock {
        by: text(item, "by").to_string(),
        by_name: match text(item, "by_name") {
            "" => "someone".into(),
            name => name.to_string(),
        },
        at: number(item, "at"),
        reason: match text(item, "reason") {
            "" => "no reason given".into(),
            reason => reason.to_string(),
        },
    }
}

/// Another replica's operation holds the app: who started what, when.
fn busy(app: &str, item: &HashMap<String, AttributeValue>) -> OpsError {
    let who = match text(item, "who") {
        "" => "someone",
        w => w,
    };
    OpsError::Busy {
        app: app.to_string(),
        status: format!(
            "{who} started `{}` (on another dockhand)",
            text(item, "what")
        ),
        since: format!("{} UTC", clock(number(item, "since"))),
    }
}

/// A DynamoDB refusal that is not the condition's, as the other AWS errors are.
fn dynamo_error(operation: &str, e: PutItemError) -> OpsError {
    let message = e.message().unwrap_or_default().to_string();
    match e.code().unwrap_or_default() {
        "ResourceNotFoundException" => OpsError::Setup(format!(
            "the shared state table does not exist ({message}); create it (deploy/dockhand.yaml does) or remove `[state] table`"
        )),
        "AccessDeniedException" => OpsError::AccessDenied {
            action: operation.to_string(),
        },
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded" => OpsError::Throttled {
            operation: operation.to_string(),
        },
        code => OpsError::Internal {
            operation: operation.to_string(),
            detail: format!("{code}: {message}"),
        },
    }
}
