//! Small typed values, each validated once at the edge (STYLE habit 9).
//!
//! What a person typed becomes an `AppName`, a `Version`, a `TaskCount`... here,
//! before anything reaches policy or AWS, so the rest of the code never handles a
//! string it has to doubt. The rules follow AWS's own naming rules and the container
//! image reference grammar, so a bad value gets an answer and no AWS call.

use std::fmt;

/// Why a typed value was refused; shown to the person as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a valid {what}: {rule}")]
pub struct ValueError {
    pub what: &'static str,
    /// The offending input, shortened and stripped of anything that could format or ping.
    pub shown: String,
    pub rule: &'static str,
}

impl ValueError {
    pub fn new(what: &'static str, input: &str, rule: &'static str) -> Self {
        ValueError {
            what,
            shown: crate::message::neutralise(input, 40),
            rule,
        }
    }
}

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);
        impl $name {
            pub fn as_str(&self) -> &str { &self.0 }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(&self.0) }
        }
        impl std::str::FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> { Self::parse(s) }
        }
    };
}

string_value!(
    /// An app's name in config: the ECS service-name alphabet (letters, digits, `-`, `_`), 1-255.
    AppName
);
string_value!(
    /// An image tag (`v2`, `2026.11.1`) or digest (`sha256:` + 64 hex digits).
    Version
);
string_value!(
    /// A CloudFormation stack name: a letter, then letters, digits and `-`, up to 128.
    StackName
);
string_value!(
    /// A confirmation code as the bot issues them: 4 to 8 letters and digits.
    Code
);

impl AppName {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = (1..=255).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(AppName(s.to_string()))
        } else {
            Err(ValueError::new(
                "app name",
                s,
                "use letters, digits, `-` and `_` (up to 255)",
            ))
        }
    }
}

impl Version {
    /// The OCI tag grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, or a sha256 digest.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Ok(Version(s.to_string()));
            }
            return Err(ValueError::new(
                "image digest",
                s,
                "write `sha256:` and 64 lowercase hex digits",
            ));
        }
        let b = s.as_bytes();
        let ok = (1..=128).contains(&b.len())
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if ok {
            Ok(Version(s.to_string()))
        } else {
            Err(ValueError::new(
                "version",
                s,
                "an image tag is up to 128 letters, digits, `_`, `.` and `-` (not first), or `sha256:<digest>`",
            ))
        }
    }

    pub fn is_digest(&self) -> bool {
        self.0.starts_with("sha256:")
    }
}

impl StackName {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let ok = (1..=128).contains(&b.len())
            && b[0].is_ascii_alphabetic()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
        if ok {
            Ok(StackName(s.to_string()))
        } else {
            Err(ValueError::new(
                "stack name",
                s,
                "start with a letter; then letters, digits and `-` (up to 128)",
            ))
        }
    }
}

impl Code {
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let ok = (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Code(s.to_ascii_uppercase()))
        } else {
            Err(ValueError::new(
                "confirmation code",
                s,
                "use the code from the prompt, e.g. `K7Q2XM`",
            ))
        }
    }
}

/// A desired task count. ECS allows far more, but a chat command asking for more
/// than this is a typo, not a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskCount(pub u32);

impl TaskCount {
    pub const MAX: u32 = 1000;
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        match s.parse::<u32>() {
            Ok(n) if n <= Self::MAX && s.bytes().all(|b| b.is_ascii_digit()) => Ok(TaskCount(n)),
            _ => Err(ValueError::new(
                "task count",
                s,
                "write a whole number from 0 to 1000",
            )),
        }
    }
}

impl fmt::Display for TaskCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How many items to list (`events <app> [n]`): 1 to 50, so a reply stays readable.
pub fn parse_limit(s: &str) -> Result<u32, ValueError> {
    match s.parse::<u32>() {
        Ok(n) if (1..=50).contains(&n) && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ValueError::new(
            "count",
            s,
            "write a whole number from 1 to 50",
        )),
    }
}

/// `logs --since`: how far back, or from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Seconds before now: `30s`, `15m`, `2h`, `3d`.
    Ago(i64),
    /// Epoch seconds: `2026-12-04T03:10Z`, `2026-12-04T03:10:30Z`, `2026-12-04`.
    At(i64),
}

impl Since {
    /// Thirty days: further back is a log archive's job, not a chat reply's.
    const LONGEST: i64 = 30 * 86_400;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let bad = || {
            ValueError::new(
                "time",
                s,
                "write how long ago (`30s`, `15m`, `2h`, `3d`, 30 days at most) or a UTC time such as `2026-12-04T03:10Z`",
            )
        };
        if let Some(at) = iso_epoch(s) {
            return Ok(Since::At(at));
        }
        match seconds(s) {
            Some(secs) if secs > 0 && secs <= Self::LONGEST => Ok(Since::Ago(secs)),
            _ => Err(bad()),
        }
    }

    /// Epoch milliseconds, `now` being epoch seconds.
    pub fn epoch_ms(self, now: i64) -> i64 {
        match self {
            Since::Ago(secs) => (now - secs) * 1000,
            Since::At(at) => at * 1000,
        }
    }
}

/// `90s`, `30m`, `2h`, `1d` as seconds: a number and a unit, nothing else.
pub fn seconds(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let unit = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.parse::<i64>().ok()?.checked_mul(unit)
}

/// `YYYY-MM-DD[THH:MM[:SS]][Z]` in UTC, as epoch seconds.
fn iso_epoch(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00"));
    let num = |t: &str, len: usize| {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<i64>().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let mut t = time.split(':');
    let (h, min) = (num(t.next()?, 2)?, num(t.next()?, 2)?);
    let sec = t.next().map_or(Some(0), |x| num(x, 2))?;
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + sec)
}

/// `logs --grep`: a CloudWatch Logs filter pattern, checked before any call so
/// a typo gets its answer here. Single quotes around it only group words (chat
/// has no other way to pass `?ERROR ?WARN` as one value) and are dropped;
/// double quotes are CloudWatch's own (a phrase) and stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPattern(String);

impl FilterPattern {
    /// CloudWatch's limit on a filter pattern.
    const MAX: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let inner = s
            .strip_prefix('\'')
            .and_then(|x| x.strip_suffix('\''))
            .filter(|_| s.len() > 1)
            .unwrap_or(s);
        // Phones type curly quotes; CloudWatch knows straight ones only.
        let p: String = inner
            .chars()
            .map(|c| match c {
                '\u{201C}' | '\u{201D}' => '"',
                c => c,
            })
            .collect();
        let p = p.trim();
        let balanced = |open: char, close: char| {
            let mut depth = 0i32;
            for c in p.chars() {
                if c == open {
                    depth += 1;
                } else if c == close {
                    depth -= 1;
                    if depth < 0 {
                        return false;
                    }
                }
            }
            depth == 0
        };
        let rule = if p.is_empty() {
            "write the text to look for, e.g. `--grep ERROR` or `--grep \"connection refused\"`"
        } else if p.len() > Self::MAX {
            "CloudWatch takes patterns of up to 1024 characters"
        } else if p.chars().any(char::is_control) {
            "it holds a control character"
        } else if p.matches('"').count() % 2 == 1 {
            "a `\"` is not closed: close the phrase, e.g. `--grep \"connection refused\"`"
        } else if !balanced('{', '}') || !balanced('[', ']') || !balanced('(', ')') {
            "its brackets do not pair up (a JSON pattern reads `{ $.level = \"error\" }`)"
        } else if !p.starts_with(['{', '[']) && !Self::plain_terms(p) {
            "CloudWatch takes a term with characters other than letters, digits and `_` in double quotes, e.g. `--grep \"timed-out\"`"
        } else {
            return Ok(FilterPattern(p.to_string()));
        };
        Err(ValueError::new("filter pattern", s, rule))
    }

    /// A term-based pattern's unquoted terms: letters, digits and `_`, after an
    /// optional `?` (any of) or `-` (not); `%regex%` is a term of its own.
    fn plain_terms(p: &str) -> bool {
        p.split('"')
            .step_by(2)
            .flat_map(str::split_whitespace)
            .all(|t| {
                let t = t.strip_prefix(['?', '-']).unwrap_or(t);
                (t.len() > 1 && t.starts_with('%') && t.ends_with('%'))
                    || t.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `logs --task`: an ECS task id (32 hex digits), the start of one (6 or more),
/// or a task ARN.
pub fn parse_task_id(s: &str) -> Result<String, ValueError> {
    let id = s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase();
    if (6..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ValueError::new(
            "task id",
            s,
            "write the task's id from `status` or `events` (at least its first 6 characters)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_options_are_checked_before_any_call() {
        assert_eq!(Since::parse("15m").unwrap(), Since::Ago(900));
        assert_eq!(
            Since::parse("2h").unwrap().epoch_ms(10_000),
            (10_000 - 7200) * 1000
        );
        assert_eq!(
            Since::parse("2026-12-04T03:10Z").unwrap(),
            Since::At(1_796_353_800)
        );
        assert_eq!(Since::parse("1970-01-02").unwrap(), Since::At(86_400));
        for bad in [
            "",
            "15",
            "m",
            "31d",
            "0s",
            "-5m",
            "2026-13-01",
            "2026-12-04T25:00Z",
            "yesterday",
        ] {
            assert!(Since::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            FilterPattern::parse("'?ERROR ?WARN'").unwrap().as_str(),
            "?ERROR ?WARN"
        );
        assert_eq!(
            FilterPattern::parse("\u{201C}connection refused\u{201D}")
                .unwrap()
                .as_str(),
            "\"connection refused\""
        );
        assert!(FilterPattern::parse("{ $.level = \"error\" }").is_ok());
        assert!(FilterPattern::parse("'?ERROR -debug \"timed-out\" %5\\d\\d%'").is_ok());
        for bad in [
            "''",
            "\"unclosed",
            "{ $.level = 1",
            &"x".repeat(1025),
            "timed-out",
        ] {
            assert!(FilterPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_task_id("arn:aws:ecs:us-east-1:1:task/apps/0123456789ABCDEF0123456789abcdef")
                .unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(parse_task_id("0a1b2c").unwrap(), "0a1b2c");
        assert!(parse_task_id("0a1b").is_err() && parse_task_id("zzzzzzzz").is_err());
    }

    #[test]
    fn versions_follow_the_image_reference_grammar() {
        for ok in [
            "v2",
            "2026.11.1",
            "_x",
            "a-b_c.d",
            &format!("sha256:{}", "a".repeat(64)),
            &"x".repeat(128),
        ] {
            assert!(Version::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-v2",
            ".v2",
            "v 2",
            "v2;rm",
            &"x".repeat(129),
            "sha256:abc",
            &format!("sha256:{}", "A".repeat(64)),
            "latest@sha256",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Version::parse(&format!("sha256:{}", "0".repeat(64)))
                .unwrap()
                .is_digest()
        );
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(AppName::parse("hubot_2-x").is_ok());
        for bad in ["", "hu bot", "hubot!", "<!here>", &"a".repeat(256)] {
            assert!(AppName::parse(bad).is_err(), "{bad}");
        }
        assert!(StackName::parse("hubot-prod").is_ok());
        for bad in ["1hubot", "hubot_prod", "", &"a".repeat(129)] {
            assert!(StackName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_and_codes_are_bounded() {
        assert_eq!(TaskCount::parse("0").unwrap(), TaskCount(0));
        assert_eq!(TaskCount::parse("1000").unwrap(), TaskCount(1000));
        for bad in ["-1", "+3", "1001", "3.5", "three", ""] {
            assert!(TaskCount::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Code::parse("k7q2").unwrap().as_str(), "K7Q2");
        assert!(Code::parse("K7").is_err());
        assert_eq!(parse_limit("50").unwrap(), 50);
        assert!(parse_limit("0").is_err() && parse_limit("51").is_err());
    }

    #[test]
    fn refused_input_is_not_echoed_raw() {
        let e = AppName::parse("<!channel>").unwrap_err();
        assert!(!e.to_string().contains("<!channel>"), "{e}");
    }
}
