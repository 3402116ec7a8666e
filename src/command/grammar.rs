//! The usage grammar of a catalogue entry: `deploy <app> <version> [--plan]`.
//!
//! A usage line is the single source for three things: the regular expression a
//! message is matched with, the placeholders whose captures become action
//! parameters, and the usage line shown in help and in "wrong arguments" answers.
//! Parsing here is pure; `catalog.rs` turns the parsed form into the `RegexSet`.
//!
//! ```text
//! usage    := element+
//! element  := word | "<" name ">" | "<" name "...>" | "--" name | "--" name "<" name ">"
//!           | "[" element+ "]"
//! ```
//!
//! - a *word* is matched literally, ignoring case (phones capitalise the first word);
//! - `<name>` captures one word that does not start with `-`, so a flag is never
//!   taken for a value;
//! - `<name...>` captures the rest of the message (only last);
//! - `--name` is a flag, captured as a boolean parameter `name` (`-` becomes `_`);
//! - `--name <name>` is an option: the word after the flag is parameter `name`;
//! - `[...]` makes its contents optional; optional groups in a row that each
//!   start with a flag or option match in any order, as people type options.
//!
//! A one-word value may be quoted to hold spaces: `"connection refused"` and
//! `'?ERROR ?WARN'` are one value each, captured with their quotes (what a
//! value means with quotes is its verb's business).

use std::fmt;

/// One piece of a usage line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Word(String),
    Placeholder {
        name: String,
        rest: bool,
    },
    Flag(String),
    /// `--name <name>`: a flag that takes the next word as its value.
    Option(String),
    Optional(Vec<Element>),
}

/// A parsed usage line. The first element is always the command's word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub elements: Vec<Element>,
}

/// What is wrong with a usage line, in words a catalogue author can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("usage is empty: write the command word first, e.g. `deploy <app> <version>`")]
    Empty,
    #[error("usage must start with the command word, found `{0}`")]
    NoLeadingWord(String),
    #[error("`[` at position {0} is never closed with `]`")]
    Unclosed(usize),
    #[error("`]` at position {0} has no matching `[`")]
    UnexpectedClose(usize),
    #[error("`[]` at position {0} is empty: put a word, placeholder or flag inside")]
    EmptyGroup(usize),
    #[error("`{0}` is not a placeholder: write `<name>` with letters, digits and `_`")]
    BadPlaceholder(String),
    #[error("`{0}` is not a flag: write `--name` with letters, digits and `-`")]
    BadFlag(String),
    #[error("`{0}` is not a word: literal words are letters, digits, `-`, `_` and `.`")]
    BadWord(String),
    #[error("`{0}` appears twice: each placeholder and flag needs its own name")]
    Duplicate(String),
    #[error("`<{0}...>` takes the rest of the message, so it must be the last element")]
    RestNotLast(String),
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Usage {
    pub fn parse(text: &str) -> Result<Usage, GrammarError> {
        let mut stack: Vec<(usize, Vec<Element>)> = vec![(0, Vec::new())];
        let mut chars = text.char_indices().peekable();
        while let Some(&(pos, c)) = chars.peek() {
            match c {
                c if c.is_whitespace() => {
                    chars.next();
                }
                '[' => {
                    chars.next();
                    stack.push((pos, Vec::new()));
                }
                ']' => {
                    chars.next();
                    if stack.len() == 1 {
                        return Err(GrammarError::UnexpectedClose(pos));
                    }
                    let (open, group) = stack.pop().expect("checked above");
                    if group.is_empty() {
                        return Err(GrammarError::EmptyGroup(open));
                    }
                    stack
                        .last_mut()
                        .expect("root stays")
                        .1
                        .push(Element::Optional(group));
                }
                _ => {
                    let mut token = String::new();
                    while let Some(&(_, c)) = chars.peek() {
                        if c.is_whitespace() || c == '[' || c == ']' {
                            break;
                        }
                        token.push(c);
                        chars.next();
                    }
                    let group = &mut stack.last_mut().expect("root stays").1;
                    let element = Self::element(&token)?;
                    // `--since <since>`: the flag takes the placeholder as its value.
                    if let (Some(Element::Flag(flag)), Element::Placeholder { name, rest: false }) =
                        (group.last(), &element)
                        && flag_param(flag) == *name
                    {
                        let flag = flag.clone();
                        *group.last_mut().expect("checked") = Element::Option(flag);
                    } else {
                        group.push(element);
                    }
                }
            }
        }
        if stack.len() > 1 {
            return Err(GrammarError::Unclosed(stack.last().expect("len > 1").0));
        }
        let elements = stack.pop().expect("root stays").1;
        match elements.first() {
            None => return Err(GrammarError::Empty),
            Some(Element::Word(_)) => {}
            Some(other) => return Err(GrammarError::NoLeadingWord(other.to_string())),
        }
        let usage = Usage { elements };
        usage.check_names()?;
        Ok(usage)
    }

    fn element(token: &str) -> Result<Element, GrammarError> {
        if let Some(inner) = token.strip_prefix('<') {
            let inner = inner
                .strip_suffix('>')
                .ok_or_else(|| GrammarError::BadPlaceholder(token.into()))?;
            let (name, rest) = match inner.strip_suffix("...") {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_ident(name) {
                return Err(GrammarError::BadPlaceholder(token.into()));
            }
            Ok(Element::Placeholder {
                name: name.into(),
                rest,
            })
        } else if let Some(name) = token.strip_prefix("--") {
            if name.is_empty()
                || name.starts_with('-')
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(GrammarError::BadFlag(token.into()));
            }
            Ok(Element::Flag(name.into()))
        } else if is_word(token) {
            Ok(Element::Word(token.into()))
        } else {
            Err(GrammarError::BadWord(token.into()))
        }
    }

    /// Placeholders and flags are unique, and a rest placeholder comes last.
    fn check_names(&self) -> Result<(), GrammarError> {
        let mut seen = Vec::new();
        let flat = self.flatten();
        for (i, element) in flat.iter().enumerate() {
            let name = match element {
                Element::Placeholder { name, rest } => {
                    if *rest && i + 1 != flat.len() {
                        return Err(GrammarError::RestNotLast(name.clone()));
                    }
                    name.clone()
                }
                Element::Flag(flag) | Element::Option(flag) => flag_param(flag),
                _ => continue,
            };
            if seen.contains(&name) {
                return Err(GrammarError::Duplicate(name));
            }
            seen.push(name);
        }
        Ok(())
    }

    fn flatten(&self) -> Vec<&Element> {
        fn walk<'a>(elements: &'a [Element], out: &mut Vec<&'a Element>) {
            for e in elements {
                match e {
                    Element::Optional(inner) => walk(inner, out),
                    other => out.push(other),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.elements, &mut out);
        out
    }

    /// The command word (the first element).
    pub fn word(&self) -> &str {
        match &self.elements[0] {
            Element::Word(w) => w,
            _ => unreachable!("parse guarantees a leading word"),
        }
    }

    /// The command's name: its leading literal words (`logs stop` for
    /// `logs stop <app>`, a sub-command of `logs`), lower-cased.
    pub fn name(&self) -> String {
        self.elements
            .iter()
            .map_while(|e| match e {
                Element::Word(w) => Some(w.to_ascii_lowercase()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every captured parameter: placeholders (with whether they are optional) and flags.
    pub fn params(&self) -> Vec<Param> {
        fn walk(elements: &[Element], optional: bool, out: &mut Vec<Param>) {
            for e in elements {
                match e {
                    Element::Word(_) => {}
                    Element::Placeholder { name, .. } => out.push(Param {
                        name: name.clone(),
                        optional,
                        flag: false,
                    }),
                    Element::Flag(f) => out.push(Param {
                        name: flag_param(f),
                        optional: true,
                        flag: true,
                    }),
                    Element::Option(f) => out.push(Param {
                        name: flag_param(f),
                        optional: true,
                        flag: false,
                    }),
                    Element::Optional(inner) => walk(inner, true, out),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.elements, false, &mut out);
        out
    }

    /// The anchored pattern; `words` are the alternatives for the leading word
    /// (the name and its aliases).
    pub fn pattern(&self, words: &[&str]) -> String {
        let lead = words
            .iter()
            .map(|w| regex::escape(w))
            .collect::<Vec<_>>()
            .join("|");
        let mut out = format!("^(?i:{lead})");
        Self::push_pattern(&self.elements[1..], &mut out);
        out.push('$');
        out
    }

    fn push_pattern(elements: &[Element], out: &mut String) {
        let mut i = 0;
        while i < elements.len() {
            // Options in a row match in any order (each at most as often as typed;
            // a repeated one keeps its last value).
            let run = elements[i..]
                .iter()
                .take_while(|e| matches!(e, Element::Optional(inner) if matches!(inner.first(), Some(Element::Flag(_) | Element::Option(_)))))
                .count();
            if run > 1 {
                out.push_str("(?:");
                for (k, e) in elements[i..i + run].iter().enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    let Element::Optional(inner) = e else {
                        unreachable!("counted above")
                    };
                    Self::push_pattern(inner, out);
                }
                out.push_str(")*");
                i += run;
                continue;
            }
            Self::push_element(&elements[i], out);
            i += 1;
        }
    }

    fn push_element(e: &Element, out: &mut String) {
        {
            match e {
                Element::Word(w) => {
                    out.push_str(r"\s+(?i:");
                    out.push_str(&regex::escape(w));
                    out.push(')');
                }
                Element::Placeholder { name, rest: false } => {
                    out.push_str(&format!(r"\s+(?P<{name}>{VALUE})"));
                }
                Element::Placeholder { name, rest: true } => {
                    out.push_str(&format!(r"\s+(?P<{name}>\S.*)"));
                }
                Element::Flag(f) => {
                    out.push_str(&format!(
                        r"\s+(?P<{}>--{})",
                        flag_param(f),
                        regex::escape(f)
                    ));
                }
                Element::Option(f) => {
                    out.push_str(&format!(
                        r"\s+--{}\s+(?P<{}>{VALUE})",
                        regex::escape(f),
                        flag_param(f)
                    ));
                }
                Element::Optional(inner) => {
                    out.push_str("(?:");
                    Self::push_pattern(inner, out);
                    out.push_str(")?");
                }
            }
        }
    }
}

/// One value: a quoted phrase, or a word that does not start with `-` (so a
/// flag is never taken for a value).
const VALUE: &str = r#""[^"]*"|'[^']*'|[^\s\-'"]\S*"#;

/// The parameter name a flag is captured as: `--dry-run` becomes `dry_run`.
pub fn flag_param(flag: &str) -> String {
    flag.replace('-', "_")
}

/// A captured parameter of a usage line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub optional: bool,
    pub flag: bool,
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Word(w) => f.write_str(w),
            Element::Placeholder { name, rest: false } => write!(f, "<{name}>"),
            Element::Placeholder { name, rest: true } => write!(f, "<{name}...>"),
            Element::Flag(name) => write!(f, "--{name}"),
            Element::Option(name) => write!(f, "--{name} <{}>", flag_param(name)),
            Element::Optional(inner) => {
                f.write_str("[")?;
                for (i, e) in inner.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.elements.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn re(usage: &str) -> Regex {
        let u = Usage::parse(usage).unwrap();
        Regex::new(&u.pattern(&[u.word()])).unwrap()
    }

    #[test]
    fn usage_round_trips_through_display() {
        for text in [
            "deploy <app> <version> [--plan]",
            "events <app> [n]",
            "lock <app> <reason...>",
            "stack plan [<name> --yes]",
            "logs <app> [<n>] [--since <since>] [--grep <grep>]",
        ] {
            let text = text.replace("[n]", "[<n>]");
            assert_eq!(Usage::parse(&text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_usage_lines_say_what_is_wrong() {
        let cases: &[(&str, GrammarError)] = &[
            ("", GrammarError::Empty),
            ("<app> deploy", GrammarError::NoLeadingWord("<app>".into())),
            ("deploy [<app>", GrammarError::Unclosed(7)),
            ("deploy <app>]", GrammarError::UnexpectedClose(12)),
            ("deploy []", GrammarError::EmptyGroup(7)),
            ("deploy <a pp>", GrammarError::BadPlaceholder("<a".into())),
            (
                "deploy <1app>",
                GrammarError::BadPlaceholder("<1app>".into()),
            ),
            ("deploy ---plan", GrammarError::BadFlag("---plan".into())),
            ("deploy {app}", GrammarError::BadWord("{app}".into())),
            ("deploy <app> <app>", GrammarError::Duplicate("app".into())),
            (
                "lock <reason...> <app>",
                GrammarError::RestNotLast("reason".into()),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&Usage::parse(text).unwrap_err(), want, "usage {text:?}");
        }
    }

    #[test]
    fn placeholders_flags_and_optional_groups_match_as_written() {
        let deploy = re("deploy <app> <version> [--plan]");
        let c = deploy.captures("deploy hubot v2").unwrap();
        assert_eq!((&c["app"], &c["version"]), ("hubot", "v2"));
        assert!(c.name("plan").is_none());
        assert!(
            deploy
                .captures("Deploy hubot v2 --plan")
                .unwrap()
                .name("plan")
                .is_some()
        );
        assert!(!deploy.is_match("deploy hubot"));
        assert!(
            !deploy.is_match("deploy hubot --plan"),
            "a flag is never a value"
        );
        assert!(!deploy.is_match("deploy hubot v2 v3"));
        assert!(!deploy.is_match("deployhubot v2"));

        let lock = re("lock <app> <reason...>");
        assert_eq!(
            &lock.captures("lock hubot release freeze, ask bob").unwrap()["reason"],
            "release freeze, ask bob"
        );

        let logs = re("logs <app> [<n>] [--since <since>] [--grep <grep>] [--tail]");
        for typed in [
            "logs hubot 50 --since 2h --grep \"connection refused\" --tail",
            "logs hubot 50 --tail --grep \"connection refused\" --since 2h",
        ] {
            let c = logs.captures(typed).expect(typed);
            assert_eq!(
                (&c["n"], &c["since"], &c["grep"], &c["tail"]),
                ("50", "2h", "\"connection refused\"", "--tail"),
                "{typed}"
            );
        }
        assert_eq!(
            &logs.captures("logs hubot --grep '?ERROR ?WARN'").unwrap()["grep"],
            "'?ERROR ?WARN'"
        );
        assert!(
            !logs.is_match("logs hubot --since"),
            "an option needs its value"
        );
        assert!(
            !logs.is_match("logs hubot --grep --tail"),
            "a flag is no value"
        );
        assert!(!logs.is_match("logs hubot --grep \"unclosed"), "{logs}");

        let events = re("events <app> [<n>]");
        assert!(events.captures("events hubot").unwrap().name("n").is_none());
        assert_eq!(&events.captures("events hubot 20").unwrap()["n"], "20");
    }
}
