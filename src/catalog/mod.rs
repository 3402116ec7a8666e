//! The catalogue: `commands/*.toml` loaded, validated against the verbs, and
//! compiled for matching; `help` is the text generated from it.
//!
//! Every file is one command (schema in `commands/README.md`). Loading collects
//! every problem across every file instead of stopping at the first, so
//! `dockhand check` shows a catalogue author the whole list at once. The compiled
//! form is one `RegexSet` over all grammars (one pass per message) plus one `Regex`
//! per command for its captures.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::{Captures, Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use crate::command::grammar::{GrammarError, Usage};
use crate::command::value::ValueError;
use crate::verbs::{Action, Args, Command, Kind};

pub mod help;

/// The most memory the compiled grammars may take, each command's and all of them
/// together (the regex crate's own default, set here so it is ours to state). Each
/// placeholder of a usage line costs about 4.5 KiB, so some 2,000 placeholders in
/// all reach it (700 commands of three each; the shipped catalogue has 18); a
/// catalogue past it is refused with a `Problem::TooLarge`, not compiled.
pub const GRAMMAR_SIZE_LIMIT: usize = 10 << 20;

/// The most words a command's name has (`logs stop`: two).
const MAX_NAME_WORDS: usize = 3;

/// A catalogue file as written. Unknown keys are refused (a typo such as `alias`
/// would otherwise be silently ignored).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    usage: String,
    summary: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    help: String,
    #[serde(default)]
    examples: Vec<String>,
    action: Option<String>,
    reply: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, String>,
}

/// A text with `{placeholder}` slots, filled from a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(String),
}

impl Template {
    fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{{` in `{text}` is never closed; write `{{name}}`"))?;
            parts.push(Part::Slot(rest[open + 1..open + close].trim().to_string()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    fn slots(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Slot(s) => Some(s.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Fills the slots; `None` when a slot's optional part was not typed.
    /// `clean` is applied to every captured value (neutralising echoed input).
    fn render(&self, caps: &Captures<'_>, clean: impl Fn(&str) -> String) -> Option<String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Slot(s) => out.push_str(&clean(caps.name(s)?.as_str())),
            }
        }
        Some(out)
    }
}

/// What a catalogue entry does when it matches.
#[derive(Debug, Clone)]
pub enum Body {
    /// A built-in action, with each action parameter bound to a template over the
    /// usage's placeholders (`app = "web"` for an alias command, `app = "{app}"` by default).
    Action {
        action: Action,
        bindings: Vec<(&'static str, Template)>,
    },
    /// A canned reply.
    Reply(Template),
}

/// One validated command of the catalogue.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub file: PathBuf,
    pub usage: Usage,
    pub aliases: Vec<String>,
    pub summary: String,
    pub help: String,
    pub examples: Vec<String>,
    pub body: Body,
}

/// A problem in one catalogue file, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct CatalogError {
    pub file: PathBuf,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the catalogue: {0}")]
    Unreadable(String),
    #[error("{0}")]
    Syntax(String),
    #[error("bad usage line: {0}")]
    Grammar(#[from] GrammarError),
    #[error("the usage starts with `{}`, so the file must be named `{word}.toml`", word.replace('-', " "))]
    FileName { word: String },
    #[error("`{0}` is a sub-command: it takes no aliases (give them to its parent command)")]
    SubcommandAlias(String),
    #[error("`{0}` names a command in more than three words; put the rest in placeholders")]
    LongName(String),
    #[error(
        "set exactly one of `action = \"...\"` (a built-in) or `reply = \"...\"` (a canned reply)"
    )]
    ActionOrReply,
    #[error("unknown action `{0}`; the built-in actions are: {1}")]
    UnknownAction(String, String),
    #[error("{0}")]
    Params(String),
    /// Every grammar starts with its own literal word, so two commands can only
    /// match the same text when they share a name or alias: this is that error.
    #[error(
        "`{name}` is already the name or an alias of {other}, so both would match the same text; pick another word"
    )]
    Duplicate { name: String, other: String },
    #[error("example `{0}` does not match the usage line; fix the example or the usage")]
    Example(String),
    #[error("alias `{0}` is not a word: use letters, digits, `-`, `_` and `.`")]
    BadAlias(String),
    #[error("`summary` is empty: write one line saying what the command does")]
    NoSummary,
    /// The grammars compile to more than `GRAMMAR_SIZE_LIMIT`.
    #[error(
        "{what} compile to a matcher larger than dockhand allows ({} MiB); {fix}",
        GRAMMAR_SIZE_LIMIT >> 20
    )]
    TooLarge { what: String, fix: String },
    /// Any other reason the regex crate gives (nesting too deep, say).
    #[error(
        "the usage line does not compile to a matcher ({0}); simplify it, e.g. fewer nested `[...]`"
    )]
    Uncompilable(String),
}

/// The outcome of matching addressed text against the catalogue.
#[derive(Debug)]
pub enum Match<'c> {
    Action(&'c Entry, Result<Command, ValueError>),
    Reply(&'c Entry, String),
    /// The command word is known but the rest does not fit its grammar.
    Usage(&'c Entry),
    /// No command by that word; the closest known word, if any is close.
    Unknown {
        word: String,
        suggestion: Option<&'c str>,
    },
}

/// The compiled catalogue.
#[derive(Debug)]
pub struct Catalog {
    entries: Vec<Entry>,
    set: RegexSet,
    /// Each entry's own pattern, compiled the first time its captures are needed:
    /// the set alone decides which command matched, and compiling every grammar
    /// twice at start was most of `dockhand shell`'s time to its first answer.
    regexes: Vec<OnceLock<Regex>>,
    patterns: Vec<String>,
    /// Lower-cased names and aliases -> entry index.
    words: HashMap<String, usize>,
}

impl Catalog {
    /// Loads and validates every `*.toml` in `dir`, returning every problem found.
    pub fn load(dir: &Path) -> Result<Catalog, Vec<CatalogError>> {
        let unreadable = |e: std::io::Error| {
            vec![CatalogError {
                file: dir.to_path_buf(),
                problem: Problem::Unreadable(e.to_string()),
            }]
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push((file, text)),
                Err(e) => errors.push(CatalogError {
                    file,
                    problem: Problem::Unreadable(e.to_string()),
                }),
            }
        }
        match Self::from_sources(&sources) {
            Ok(c) if errors.is_empty() => Ok(c),
            Ok(_) => Err(errors),
            Err(mut more) => {
                errors.append(&mut more);
                Err(errors)
            }
        }
    }

    /// Builds the catalogue from `(file, contents)` pairs.
    pub fn from_sources(sources: &[(PathBuf, String)]) -> Result<Catalog, Vec<CatalogError>> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (file, text) in sources {
            match Self::entry(file, text) {
                Ok(e) => entries.push(e),
                Err(problem) => errors.push(CatalogError {
                    file: file.clone(),
                    problem,
                }),
            }
        }
        let mut words: HashMap<String, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for w in std::iter::once(&e.name).chain(&e.aliases) {
                let key = w.to_ascii_lowercase();
                if let Some(&j) = words.get(&key) {
                    errors.push(CatalogError {
                        file: e.file.clone(),
                        problem: Problem::Duplicate {
                            name: w.clone(),
                            other: entries[j].file.display().to_string(),
                        },
                    });
                } else {
                    words.insert(key, i);
                }
            }
        }
        let patterns: Vec<String> = entries.iter().map(Entry::pattern).collect();
        let compiled = Self::compile(&entries, &patterns, &mut errors);
        let Some(set) = compiled.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let catalog = Catalog {
            regexes: entries.iter().map(|_| OnceLock::new()).collect(),
            entries,
            set,
            patterns,
            words,
        };
        catalog.check_examples()?;
        Ok(catalog)
    }

    /// Compiles the set of every entry's pattern within `GRAMMAR_SIZE_LIMIT` (each
    /// entry's own regex waits for its first match): a grammar too large is the
    /// catalogue author's to fix (one command's, or all of them together), so it
    /// is a problem, not a panic.
    fn compile(
        entries: &[Entry],
        patterns: &[String],
        errors: &mut Vec<CatalogError>,
    ) -> Option<RegexSet> {
        let problem = |file: PathBuf, what: String, fix: String, e: regex::Error| {
            let problem = match e {
                regex::Error::CompiledTooBig(_) => Problem::TooLarge { what, fix },
                e => Problem::Uncompilable(e.to_string()),
            };
            CatalogError { file, problem }
        };
        let together = match RegexSetBuilder::new(patterns)
            .size_limit(GRAMMAR_SIZE_LIMIT)
            .build()
        {
            Ok(set) => return Some(set),
            Err(err) => err,
        };
        // Too large. A command too large alone is said once, by its file.
        let before = errors.len();
        for (e, p) in entries.iter().zip(patterns) {
            if let Err(err) = RegexBuilder::new(p).size_limit(GRAMMAR_SIZE_LIMIT).build() {
                errors.push(problem(
                    e.file.clone(),
                    "this command's usage line and aliases".into(),
                    "use fewer or shorter aliases, or fewer placeholders and optional parts".into(),
                    err,
                ));
            }
        }
        if errors.len() > before {
            return None;
        }
        // Else it is said for the catalogue as a whole (its directory), naming the
        // commands whose grammars are longest: the first to shorten.
        let mut longest: Vec<(usize, &Entry)> =
            patterns.iter().map(String::len).zip(entries).collect();
        longest.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.file.cmp(&b.1.file)));
        let names: Vec<String> = longest
            .iter()
            .take(3)
            .map(|(_, e)| format!("`{}`", e.name))
            .collect();
        let first = &entries[0].file;
        let dir = first
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| first.clone(), Path::to_path_buf);
        errors.push(problem(
            dir,
            format!("the {} commands together", entries.len()),
            format!(
                "use fewer commands, or fewer or shorter aliases and placeholders (the longest grammars: {})",
                names.join(", ")
            ),
            together,
        ));
        None
    }

    fn entry(file: &Path, text: &str) -> Result<Entry, Problem> {
        let raw: RawEntry =
            toml::from_str(text).map_err(|e| Problem::Syntax(e.message().to_string()))?;
        let usage = Usage::parse(&raw.usage)?;
        let name = usage.name();
        let stem = name.replace(' ', "-");
        if file.file_stem().and_then(|s| s.to_str()) != Some(stem.as_str()) {
            return Err(Problem::FileName { word: stem });
        }
        // A sub-command's words are its parent's, so an alias of its own could
        // only stand for the parent's word (and clash with the parent's).
        if name.contains(' ') && !raw.aliases.is_empty() {
            return Err(Problem::SubcommandAlias(name));
        }
        if name.split(' ').count() > MAX_NAME_WORDS {
            return Err(Problem::LongName(name));
        }
        if raw.summary.trim().is_empty() {
            return Err(Problem::NoSummary);
        }
        if let Some(bad) = raw.aliases.iter().find(|a| {
            a.is_empty()
                || !a
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        }) {
            return Err(Problem::BadAlias(bad.clone()));
        }
        let body = match (&raw.action, &raw.reply) {
            (Some(action), None) => Self::action_body(&usage, action, &raw.params)?,
            (None, Some(reply)) => {
                if !raw.params.is_empty() {
                    return Err(Problem::Params("`[params]` maps action parameters; a canned reply uses `{placeholder}` in `reply` instead".into()));
                }
                let template = Template::parse(reply).map_err(Problem::Params)?;
                let known: Vec<String> = usage.params().into_iter().map(|p| p.name).collect();
                if let Some(slot) = template.slots().find(|s| !known.iter().any(|k| k == s)) {
                    return Err(Problem::Params(format!(
                        "`{{{slot}}}` in `reply` is not a placeholder of the usage line; add `<{slot}>` to `usage` or remove it"
                    )));
                }
                Body::Reply(template)
            }
            _ => return Err(Problem::ActionOrReply),
        };
        Ok(Entry {
            name,
            file: file.to_path_buf(),
            usage,
            aliases: raw.aliases.iter().map(|a| a.to_ascii_lowercase()).collect(),
            summary: raw.summary.trim().to_string(),
            help: raw.help.trim().to_string(),
            examples: raw.examples,
            body,
        })
    }

    /// Binds the action's parameters to the usage's placeholders and checks that
    /// they fit: every placeholder used, every required parameter given by a
    /// required part, flags only for flag parameters.
    fn action_body(
        usage: &Usage,
        action: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Body, Problem> {
        let action = Action::from_name(action).ok_or_else(|| {
            Problem::UnknownAction(
                action.to_string(),
                Action::ALL
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
        let specs = action.params();
        let spec_names = || specs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        let placeholders = usage.params();
        for key in params.keys() {
            if !specs.iter().any(|s| s.name == key) {
                return Err(Problem::Params(format!(
                    "`{key}` in `[params]` is not a parameter of action `{}` (it takes: {})",
                    action.name(),
                    if specs.is_empty() {
                        "nothing".to_string()
                    } else {
                        spec_names()
                    }
                )));
            }
        }
        let mut bindings = Vec::new();
        let mut used: Vec<&str> = Vec::new();
        for spec in specs {
            let template = match params.get(spec.name) {
                Some(t) => Template::parse(t).map_err(Problem::Params)?,
                None if placeholders.iter().any(|p| p.name == spec.name) => {
                    Template(vec![Part::Slot(spec.name.to_string())])
                }
                None if spec.required => {
                    return Err(Problem::Params(format!(
                        "action `{}` needs `{}`: add `<{}>` to `usage` or set it under `[params]`",
                        action.name(),
                        spec.name,
                        spec.name
                    )));
                }
                None => continue,
            };
            for slot in template.slots() {
                let Some(p) = placeholders.iter().find(|p| p.name == slot) else {
                    return Err(Problem::Params(format!(
                        "`{{{slot}}}` (for `{}`) is not a placeholder of the usage line",
                        spec.name
                    )));
                };
                if p.flag != (spec.kind == Kind::Flag) {
                    return Err(Problem::Params(if p.flag {
                        format!(
                            "flag `--{slot}` cannot fill `{}`, which takes a value; use `<{slot}>`",
                            spec.name
                        )
                    } else {
                        format!(
                            "`{}` is a flag of `{}`: write `--{}` in the usage",
                            spec.name,
                            action.name(),
                            spec.name
                        )
                    }));
                }
                if spec.required && p.optional {
                    return Err(Problem::Params(format!(
                        "`{}` is required by `{}` but `<{slot}>` is optional in the usage; take it out of `[...]`",
                        spec.name,
                        action.name()
                    )));
                }
                used.push(p.name.as_str());
            }
            bindings.push((spec.name, template));
        }
        if let Some(p) = placeholders
            .iter()
            .find(|p| !used.contains(&p.name.as_str()))
        {
            return Err(Problem::Params(format!(
                "`{}` in the usage is not used: action `{}` takes {}; rename it or map it under `[params]`",
                p.name,
                action.name(),
                if specs.is_empty() {
                    "no parameters".to_string()
                } else {
                    spec_names()
                }
            )));
        }
        Ok(Body::Action { action, bindings })
    }

    fn check_examples(&self) -> Result<(), Vec<CatalogError>> {
        let errors: Vec<CatalogError> = self
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                e.examples
                    .iter()
                    .filter(move |x| !self.set.matches(x.trim()).matched(i))
                    .map(|x| CatalogError {
                        file: e.file.clone(),
                        problem: Problem::Example(x.clone()),
                    })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Entry `i`'s own pattern, compiled on first use. It is part of the set,
    /// which compiled within the same size limit, so it compiles too.
    fn regex(&self, i: usize) -> &Regex {
        self.regexes[i].get_or_init(|| {
            RegexBuilder::new(&self.patterns[i])
                .size_limit(GRAMMAR_SIZE_LIMIT)
                .build()
                .expect("a pattern of a set that compiled compiles alone")
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry named `word` or having it as an alias.
    pub fn find(&self, word: &str) -> Option<&Entry> {
        self.words
            .get(&word.to_ascii_lowercase())
            .map(|&i| &self.entries[i])
    }

    /// Matches addressed text (prefix or mention already removed, trimmed).
    /// `clean` is applied to captured values that a canned reply echoes back.
    pub fn matches(&self, text: &str, clean: impl Fn(&str) -> String) -> Match<'_> {
        // The set tells which grammar matched in one pass; only that one regex
        // then runs again for its captures.
        let matched = self.set.matches(text);
        // `logs stop hubot` fits `logs <app> [<n>]` too: a sub-command named by
        // the text's first words is meant, and if its grammar does not fit, its
        // usage is the answer.
        let meant = match self.subcommand(text) {
            Some(i) if matched.matched(i) => Some(i),
            Some(i) => return Match::Usage(&self.entries[i]),
            None => matched.iter().next(),
        };
        if let Some(i) = meant {
            let entry = &self.entries[i];
            let caps = self
                .regex(i)
                .captures(text)
                .expect("the set matched this pattern");
            return match &entry.body {
                Body::Reply(t) => Match::Reply(entry, t.render(&caps, clean).unwrap_or_default()),
                Body::Action { action, bindings } => {
                    let args: Args<'_> = bindings
                        .iter()
                        .filter_map(|(name, t)| Some((*name, t.render(&caps, |s| s.to_string())?)))
                        .collect();
                    Match::Action(entry, Command::build(*action, &args))
                }
            };
        }
        let word = text.split_whitespace().next().unwrap_or_default();
        match self.find(word) {
            Some(entry) => Match::Usage(entry),
            None => Match::Unknown {
                word: word.to_string(),
                suggestion: self.closest(word),
            },
        }
    }

    /// The sub-command (`logs stop`) that the text's first words name, if any.
    fn subcommand(&self, text: &str) -> Option<usize> {
        let words: Vec<String> = text
            .split_whitespace()
            .take(MAX_NAME_WORDS)
            .map(str::to_ascii_lowercase)
            .collect();
        (2..=words.len())
            .rev()
            .find_map(|n| self.words.get(&words[..n].join(" ")).copied())
    }

    /// The known word closest to `word`, if it is close enough to be a typo.
    pub fn closest(&self, word: &str) -> Option<&str> {
        let word = word.to_ascii_lowercase();
        let limit = (word.chars().count() / 3).max(1);
        self.words
            .keys()
            .map(|k| (edit_distance(&word, k), k))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, k)| self.find(k).map(|e| e.name.as_str()).unwrap_or(k))
    }
}

impl Entry {
    fn pattern(&self) -> String {
        let words: Vec<&str> = std::iter::once(self.usage.word())
            .chain(self.aliases.iter().map(String::as_str))
            .collect();
        self.usage.pattern(&words)
    }

    /// The usage line with the given prefix, as help shows it.
    pub fn usage_line(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.usage)
    }
}

/// Levenshtein distance over chars; the words are short command names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                Part::Text(t) => f.write_str(t)?,
                Part::Slot(s) => write!(f, "{{{s}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("depoy", "deploy"), 1);
        assert_eq!(edit_distance("satus", "status"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("rollbakc", "rollback"), 2);
    }

    #[test]
    fn templates_parse_text_and_slots() {
        let t = Template::parse("see {topic} at https://x/{ topic }").unwrap();
        assert_eq!(t.slots().collect::<Vec<_>>(), ["topic", "topic"]);
        assert!(Template::parse("oops {topic").is_err());
    }
}
