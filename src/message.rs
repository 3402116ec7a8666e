//! The message model at the bottom of the pipeline: what comes in (`Inbound`) and
//! what goes out (`Reply`, addressed as an `Outbound`), and the text-safety
//! functions every layer uses on untrusted text.
//!
//! Everything here is platform-neutral and uses nothing else of the crate. The
//! adapters (`adapters::{shell, slack, discord}`) turn their platform's events into
//! `Inbound` and draw each `Reply` their own way: plain lines, Block Kit, embeds.

use std::fmt;
use std::sync::Arc;

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Shell,
    Slack,
    Discord,
}

impl Platform {
    /// Every platform, in the order help and error texts name them: the chat
    /// platforms first.
    pub const ALL: [Platform; 3] = [Platform::Slack, Platform::Discord, Platform::Shell];

    /// The platform named `name` (`slack`), as config and channel ids write it.
    pub fn from_name(name: &str) -> Option<Platform> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Shell => "shell",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A conversation: platform, channel id, and thread when the message was in one.
/// Ids are the platform's stable ids (never display names). `Arc<str>` keeps a
/// clone per message to a reference-count increment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub platform: Platform,
    pub channel: Arc<str>,
    pub thread: Option<Arc<str>>,
    /// A direct message with the bot rather than a shared channel.
    pub direct: bool,
}

impl Origin {
    /// The channel as config, rules, limits and audit name it: `slack:C0DEPLOY`.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.platform, self.channel)
    }
}

/// Who wrote a message: the platform's stable user id, plus a name to address them by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Author {
    pub id: Arc<str>,
    pub name: Arc<str>,
    /// From another organisation than the installed one (Slack Connect): they
    /// may read what the channel may, but change nothing unless
    /// `[access] external_users` allows it.
    pub external: bool,
}

impl Author {
    /// The display name with the stable id beside it, where a name alone could
    /// be spoofed by renaming oneself (confirmations): `alice (slack:U024BE7LH)`.
    pub fn named(&self, platform: Platform) -> String {
        format!(
            "{} ({})",
            neutralise(&self.name, 40),
            self.identity(platform)
        )
    }

    /// The stable identity used in config and audit: `slack:U024BE7LH`.
    pub fn identity(&self, platform: Platform) -> String {
        format!("{platform}:{}", self.id)
    }
}

/// How the message reached the bot; decides whether a prefix or mention is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A message in a channel: addressed only with the prefix or a mention.
    Message,
    /// The platform already says it is for the bot (a slash command, a mention event,
    /// a direct message): the whole text is the command, prefix optional.
    Addressed,
}

/// One incoming message, borrowed from the adapter's buffer: building one costs
/// nothing, which matters because most messages are chatter.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub origin: &'a Origin,
    pub author: &'a Author,
    pub via: Via,
    pub text: &'a str,
}

/// A reply on its way to the conversation it answers (or to the audit channel).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub origin: Origin,
    pub reply: Reply,
}

/// Where replies are sent: into the outbound router, which hands each to the
/// deliverer of its origin's platform.
pub type Outbox = tokio::sync::mpsc::UnboundedSender<Outbound>;

/// A message the bot posted, as dispatch knows it: adapters map it to their own
/// message ids (Slack `ts`, Discord message id) so a later reply can edit it or
/// thread under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId(pub u64);

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A new message in the conversation (in its thread when it came from one).
    New,
    /// Replace the text of an earlier reply (progress edited in place).
    Edit(MessageId),
    /// A message in the thread of an earlier reply (the event stream of a deploy).
    Thread(MessageId),
}

/// A labelled value shown as a field (Slack section field, Discord embed field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// A button that, when clicked, sends `command` through the normal dispatch path
/// as if its presser had typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    pub command: String,
    pub style: ButtonStyle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonStyle {
    Primary,
    Danger,
}

/// A text file sent with a reply: a name (`hubot-logs.txt`) and its content,
/// already masked like everything else a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub text: String,
}

/// A platform-neutral reply. `text` is always complete on its own (the shell and
/// notifications show only it); the rest is structure adapters may draw richer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Set when later replies will edit or thread under this one.
    pub id: Option<MessageId>,
    pub placement: Placement,
    pub text: String,
    pub title: Option<String>,
    pub fields: Vec<Field>,
    pub buttons: Vec<Button>,
    /// The lines after the first are shown as written, in a code block (log
    /// lines); the first line is the reply's ordinary text.
    pub verbatim: bool,
    /// The whole of what `text` shows only the end of, as a file where the
    /// platform takes one (long log output): Slack uploads it beside the
    /// message, Discord attaches it, the shell prints it after the text.
    /// Boxed: most replies have none, and a reply travels by value.
    pub attachment: Option<Box<Attachment>>,
    /// Who waits to hear that this reply went out (the event queue deletes a
    /// message only then). Not part of what a reply says.
    pub delivered: Delivered,
}

/// Told once a reply has been handed to its platform: posted, sent as an edit, or
/// deliberately dropped (a platform that is not running). A reply dropped
/// without either (dockhand died first) tells nobody, and its waiter sees the
/// channel close. An edit superseded by a newer one passes its waiters on to it.
#[derive(Clone, Default)]
pub struct Delivered(
    Vec<std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>>,
);

impl Delivered {
    /// A waiter, and the receiver it will tell.
    pub fn waiter() -> (Delivered, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            Delivered(vec![std::sync::Arc::new(std::sync::Mutex::new(Some(tx)))]),
            rx,
        )
    }

    /// Tells every waiter.
    pub fn done(&mut self) {
        for w in self.0.drain(..) {
            if let Some(tx) = w.lock().ok().and_then(|mut w| w.take()) {
                let _ = tx.send(());
            }
        }
    }

    /// Takes over the waiters of a reply this one replaces.
    pub fn merge(&mut self, other: Delivered) {
        self.0.extend(other.0);
    }
}

impl fmt::Debug for Delivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Delivered({})", self.0.len())
    }
}

/// Waiters are not content: two replies that say the same are equal.
impl PartialEq for Delivered {
    fn eq(&self, _: &Delivered) -> bool {
        true
    }
}

impl Eq for Delivered {}

impl Reply {
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            id: None,
            placement: Placement::New,
            text: text.into(),
            title: None,
            fields: Vec::new(),
            buttons: Vec::new(),
            verbatim: false,
            attachment: None,
            delivered: Delivered::default(),
        }
    }

    /// Adds the file that holds all of what the reply shows part of.
    pub fn attach(mut self, name: impl Into<String>, text: impl Into<String>) -> Reply {
        self.attachment = Some(Box::new(Attachment {
            name: name.into(),
            text: text.into(),
        }));
        self
    }

    /// A heading line, then `lines` as written (see `verbatim`).
    pub fn verbatim(heading: impl Into<String>, lines: &str) -> Reply {
        Reply {
            verbatim: true,
            ..Reply::text(format!("{}\n{lines}", heading.into()))
        }
    }

    /// The heading and the verbatim part of a verbatim reply.
    pub fn split_verbatim(&self) -> Option<(&str, &str)> {
        self.verbatim
            .then(|| self.text.split_once('\n').unwrap_or((&self.text, "")))
    }

    /// Tells `delivered` once this reply goes out.
    pub fn telling(mut self, delivered: Delivered) -> Reply {
        self.delivered.merge(delivered);
        self
    }

    pub fn with_id(mut self, id: MessageId) -> Reply {
        self.id = Some(id);
        self
    }

    pub fn edit(id: MessageId, text: impl Into<String>) -> Reply {
        Reply {
            placement: Placement::Edit(id),
            ..Reply::text(text)
        }
    }

    pub fn in_thread(id: MessageId, text: impl Into<String>) -> Reply {
        Reply {
            placement: Placement::Thread(id),
            ..Reply::text(text)
        }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Reply {
        self.title = Some(title.into());
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
        });
        self
    }

    pub fn button(
        mut self,
        label: impl Into<String>,
        command: impl Into<String>,
        style: ButtonStyle,
    ) -> Reply {
        self.buttons.push(Button {
            label: label.into(),
            command: command.into(),
            style,
        });
        self
    }
}

/// The last `Recent::MAX` keys seen: what a platform or a queue that delivers at
/// least once is de-duplicated by (a Slack event id, an EventBridge event id).
#[derive(Debug)]
pub struct Recent<K> {
    order: std::collections::VecDeque<K>,
    set: std::collections::HashSet<K>,
}

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Recent {
            order: Default::default(),
            set: Default::default(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Recent<K> {
    /// Far more than Slack or SQS redeliver within their retry windows (minutes).
    pub const MAX: usize = 4096;

    /// Whether this is the first time `key` is seen; remembers it, forgetting
    /// the oldest past `MAX`.
    pub fn first(&mut self, key: &K) -> bool {
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key.clone());
        if self.order.len() > Self::MAX
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }
}

/// Cuts text to a platform's size limit: `max` characters at most, on a line
/// boundary where possible, ending with a note that says it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let note = format!("\n… (cut at {max} characters)");
    let budget = max.saturating_sub(note.chars().count());
    let head: String = text.chars().take(budget).collect();
    let head = match head.rfind('\n') {
        Some(i) if i > budget / 2 => &head[..i],
        _ => head.as_str(),
    };
    format!("{head}{note}")
}

/// Whether text is a table of aligned columns (several lines, runs of spaces):
/// adapters show such text in a code block, where the spacing survives.
pub fn aligned(text: &str) -> bool {
    text.lines().count() > 1 && text.lines().any(|l| l.contains("  "))
}

/// Characters that change how text reads without being seen (F18): the
/// bidirectional controls (an RLO turns `@nimda` into what reads `@admin`),
/// zero-width spaces and joiners, the word joiner, BOM, soft hyphen, and tag
/// characters. Unicode's Cf, which `char::is_control` (Cc) does not cover.
pub fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Makes text typed by someone safe to echo back: control and invisible
/// characters dropped, mass mentions and mention syntax defused (`@channel`,
/// `<!here>`, `@everyone`, `<@U123>`), backticks removed so it cannot break out
/// of code formatting, a masked link (`[approved](https://evil)`) broken so it
/// shows as typed, and the result cut to `max` characters with an ellipsis.
pub fn neutralise(input: &str, max: usize) -> String {
    let mut out = String::with_capacity(input.len().min(max + 3));
    let mut count = 0;
    // Dropped characters go first, so what is left cannot join up into a mention
    // (`@`, a backtick, `here` must not become `@here`; found by the fuzzer).
    let mut chars = input
        .chars()
        .filter(|c| !c.is_control() && !invisible(*c) && *c != '`')
        .peekable();
    while let Some(c) = chars.next() {
        if count == max {
            out.push('…');
            break;
        }
        match c {
            // `<` starts Slack's mention and link syntax; `@` Discord's and Slack's
            // plain-text mentions. A zero-width joiner would be invisible; a lookalike
            // character keeps the text readable and inert.
            '<' => out.push('‹'),
            '>' => out.push('›'),
            '@' if chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || *n == '&' || *n == '!') =>
            {
                out.push('＠')
            }
            // `[text](url)` is a link showing only `text` on Discord: a space
            // after `]` keeps the words and drops the link.
            ']' if chars.peek() == Some(&'(') => out.push_str("] "),
            c => out.push(c),
        }
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_note() {
        let long = "line\n".repeat(2000);
        let cut = cut(&long, 100);
        assert!(cut.chars().count() <= 100, "{}", cut.chars().count());
        assert!(cut.ends_with("(cut at 100 characters)"));
    }

    #[test]
    fn echoed_text_cannot_ping_or_format() {
        for (input, want) in [
            ("hubot", "hubot"),
            ("<!here>", "‹!here›"),
            ("@channel", "＠channel"),
            ("@everyone", "＠everyone"),
            ("<@U123>", "‹＠U123›"),
            ("a`b`c", "abc"),
            ("line\nbreak\u{7}", "linebreak"),
            ("me @ home", "me @ home"),
            ("d@```hereeploy", "d＠hereeploy"),
            ("@\u{7}everyone", "＠everyone"),
            // F18: bidi overrides and zero-width characters are dropped first.
            ("@\u{202E}nimda", "＠nimda"),
            ("al\u{200B}ice\u{2066}\u{FEFF}", "alice"),
            ("@\u{200D}here", "＠here"),
            (
                "[approved](https://evil.example)",
                "[approved] (https://evil.example)",
            ),
        ] {
            assert_eq!(neutralise(input, 40), want, "{input:?}");
        }
        assert_eq!(neutralise("abcdef", 3), "abc…");
    }
}
