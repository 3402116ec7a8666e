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

#[cfg(test)]
mod tests {
    use super::*;

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
