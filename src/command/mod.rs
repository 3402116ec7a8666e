//! Text to words: addressing, the usage-line language, typed values.
//!
//! `Addresser` decides whether a message is for the bot at all and strips the
//! prefix or mention; it is the first thing every message meets, so rejecting
//! chatter is a byte comparison. `grammar` is the usage-line language the
//! catalogue is written in, and `value` the typed values (app names, versions,
//! counts) every layer above passes around. Which words mean which verb is the
//! catalogue's (`crate::catalog`), what a verb does is `crate::verbs`'.

pub mod grammar;
pub mod value;

use crate::message::Via;

/// The slash command, on Slack and Discord alike: `/dockhand deploy hubot v2`.
pub const SLASH_COMMAND: &str = "dockhand";

/// Longest command text considered; anything longer is refused before matching.
pub const MAX_COMMAND_LEN: usize = 1000;

/// Recognises text addressed to the bot: the prefix (`!`), a mention of its name
/// (`@dockhand`, `dockhand:`), or a platform mention token an adapter registers
/// (`<@U0BOT>`).
#[derive(Debug, Clone)]
pub struct Addresser {
    prefix: String,
    mentions: Vec<String>,
    /// First bytes any addressed text can start with: one table lookup turns away
    /// almost all chatter.
    first: [bool; 256],
}

impl Addresser {
    pub fn new(prefix: &str, bot_name: &str) -> Addresser {
        let mut a = Addresser {
            prefix: prefix.to_string(),
            mentions: Vec::new(),
            first: [false; 256],
        };
        for m in [
            format!("@{bot_name}"),
            format!("{bot_name}:"),
            format!("{bot_name},"),
        ] {
            a.add_mention(&m);
        }
        if let Some(&b) = prefix.as_bytes().first() {
            a.first[b as usize] = true;
        }
        a
    }

    /// Adds a platform mention token, e.g. Slack's `<@U0BOT>` learnt at connect.
    pub fn add_mention(&mut self, token: &str) {
        if let Some(&b) = token.as_bytes().first() {
            self.first[b as usize] = true;
            self.first[b.to_ascii_uppercase() as usize] = true;
        }
        self.mentions.push(token.to_string());
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The command text if `text` is addressed to the bot, else `None`.
    #[inline]
    pub fn strip<'a>(&self, text: &'a str, via: Via) -> Option<&'a str> {
        let first = *text.as_bytes().first()?;
        if via == Via::Message && !self.first[first as usize] && !first.is_ascii_whitespace() {
            return None;
        }
        self.strip_slow(text.trim_start(), via)
    }

    fn strip_slow<'a>(&self, text: &'a str, via: Via) -> Option<&'a str> {
        // Addressed text (a slash command, a DM, a button) needs no prefix; one that
        // ends in a letter or digit (`c`) would eat the first letter of `confirm`.
        let strip_prefix =
            via == Via::Message || !self.prefix.ends_with(|c: char| c.is_alphanumeric());
        let rest =
            if strip_prefix && !self.prefix.is_empty() && text.starts_with(self.prefix.as_str()) {
                Some(&text[self.prefix.len()..])
            } else {
                self.mentions.iter().find_map(|m| {
                    let head = text.get(..m.len())?;
                    head.eq_ignore_ascii_case(m).then(|| &text[m.len()..])
                })
            };
        let rest = match (rest, via) {
            (Some(r), _) => r,
            (None, Via::Addressed) => text,
            (None, Via::Message) => return None,
        };
        let rest = rest.trim();
        // A bare prefix or mention ("!", "@dockhand") is addressed but empty: help.
        Some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing_by_prefix_mention_or_platform() {
        let mut a = Addresser::new("!", "dockhand");
        a.add_mention("<@U0BOT>");
        let cases: &[(&str, Via, Option<&str>)] = &[
            ("!deploy hubot v2", Via::Message, Some("deploy hubot v2")),
            ("  !status", Via::Message, Some("status")),
            ("@dockhand status", Via::Message, Some("status")),
            ("@Dockhand status", Via::Message, Some("status")),
            ("dockhand: status", Via::Message, Some("status")),
            ("<@U0BOT> status", Via::Message, Some("status")),
            ("deploy hubot v2", Via::Message, None),
            ("lunch?", Via::Message, None),
            ("", Via::Message, None),
            ("dockhandle this", Via::Message, None),
            ("deploy hubot v2", Via::Addressed, Some("deploy hubot v2")),
            ("!deploy hubot v2", Via::Addressed, Some("deploy hubot v2")),
            ("!", Via::Message, Some("")),
        ];
        for (text, via, want) in cases {
            assert_eq!(a.strip(text, *via), *want, "{text:?} {via:?}");
        }
    }

    #[test]
    fn prefix_is_configurable() {
        let a = Addresser::new(".", "bot");
        assert_eq!(a.strip(".ping", Via::Message), Some("ping"));
        assert_eq!(a.strip("!ping", Via::Message), None);
        let c = Addresser::new("c", "bot");
        assert_eq!(c.strip("cstatus", Via::Message), Some("status"));
        assert_eq!(
            c.strip("confirm K7Q2", Via::Addressed),
            Some("confirm K7Q2")
        );
    }
}
