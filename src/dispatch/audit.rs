//! Audit: one structured event per decision and outcome, in the log and, when
//! configured, in an audit channel.

use super::*;
use crate::message::Platform;

impl<O: Ops> Dispatcher<O> {
    /// One audit event: who, where, what, the decision and the rule behind it.
    /// Always logged as a structured event (JSON with `DOCKHAND_LOG_FORMAT=json`);
    /// also posted to the audit channel when one is configured.
    pub(super) fn audit(
        &self,
        inbound: &Inbound<'_>,
        asked: &str,
        decision: &str,
        rule: Option<&str>,
        outbox: &Outbox,
    ) {
        let (who, channel) = log_decision(inbound, asked, decision, rule);
        self.post_audit(
            outbox,
            format!(
                "{who} in {channel}: `{asked}` {decision}{}",
                rule.map(|r| format!(" (rule {r})")).unwrap_or_default()
            ),
        );
    }

    /// A denial: logged at once like every decision, and posted to the audit
    /// channel with the others of its window in one message (F10), so a flood of
    /// refused commands is one post a minute, not one per command.
    pub(super) fn audit_denial(&self, inbound: &Inbound<'_>, asked: &str, outbox: &Outbox) {
        let (who, channel) = log_decision(inbound, asked, "denied", None);
        if self.inner.config.access.audit_channel.is_none() {
            return;
        }
        let first = {
            let mut denials = self.inner.denials.lock().expect("denials lock");
            denials.push(format!("{who} in {channel}: `{asked}` denied"));
            denials.len() == 1
        };
        if first {
            let (d, outbox) = (self.clone(), outbox.clone());
            self.inner.tasks.spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(DENIAL_WINDOW) => {}
                    // At shutdown the batch goes out now rather than being lost.
                    () = d.inner.shutdown.cancelled() => {}
                }
                let batch = std::mem::take(&mut *d.inner.denials.lock().expect("denials lock"));
                d.post_audit(&outbox, denial_batch(&batch));
            });
        }
    }

    /// Posts to the audit channel, on whatever platform it is: the router takes
    /// a Discord decision to a Slack audit channel as readily as to a Discord one.
    pub(super) fn post_audit(&self, outbox: &Outbox, text: String) {
        let Some((platform, channel)) =
            self.inner
                .config
                .access
                .audit_channel
                .as_deref()
                .and_then(|c| {
                    let (p, channel) = c.split_once(':')?;
                    Some((Platform::from_name(p)?, channel))
                })
        else {
            return;
        };
        let _ = outbox.send(Outbound {
            origin: Origin {
                platform,
                channel: channel.into(),
                thread: None,
                direct: false,
            },
            // Built from ids and validated values only: nothing typed verbatim.
            reply: Reply::text(text),
        });
    }
}

/// How long denials gather before they are posted as one message.
const DENIAL_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Shown of a batch; the rest is counted (every one is in the log).
const DENIALS_SHOWN: usize = 10;

/// One post for a window's denials: the first few, and how many more.
fn denial_batch(batch: &[String]) -> String {
    if let [one] = batch {
        return one.clone();
    }
    let mut text = format!("{} denials in the last minute:", batch.len());
    for line in batch.iter().take(DENIALS_SHOWN) {
        text.push('\n');
        text.push_str(line);
    }
    if batch.len() > DENIALS_SHOWN {
        text.push_str(&format!(
            "\n... and {} more (all in the audit log)",
            batch.len() - DENIALS_SHOWN
        ));
    }
    text
}

/// The decision as a structured audit event; returns who and where, for a post.
fn log_decision(
    inbound: &Inbound<'_>,
    asked: &str,
    decision: &str,
    rule: Option<&str>,
) -> (String, String) {
    let who = inbound.author.identity(inbound.origin.platform);
    let channel = inbound.origin.identity();
    tracing::info!(
        target: "dockhand::audit",
        who,
        channel,
        direct = inbound.origin.direct,
        asked,
        decision,
        rule = rule.unwrap_or("-"),
        "decision"
    );
    (who, channel)
}
