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
        let who = inbound.author.identity(inbound.origin.platform);
        let channel = format!("{}:{}", inbound.origin.platform, inbound.origin.channel);
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
        self.post_audit(
            outbox,
            format!(
                "{who} in {channel}: `{asked}` {decision}{}",
                rule.map(|r| format!(" (rule {r})")).unwrap_or_default()
            ),
        );
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
