//! What never reaches a channel even under an innocent name: values shaped like
//! credentials. CloudFormation masks NoEcho only in parameters; a template that
//! echoes a password into an Output (`postgres://app:${DbPassword}@db`) or keeps a
//! webhook URL there answers it in full to every DescribeStacks (F5). Names catch
//! what is labelled secret (`Config::looks_secret`); this catches what looks it.

use std::sync::LazyLock;

use regex::RegexSet;

use crate::config::OutputRules;

/// Shapes of credentials, each specific enough that ordinary values (ARNs, URLs
/// without a password, commit ids, versions) do not match.
static SHAPES: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new([
        // A URL with a password in it: scheme://user:password@host.
        r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",
        // AWS access key ids (long-term and temporary).
        r"\b(AKIA|ASIA)[A-Z0-9]{16}\b",
        // Slack tokens and incoming webhooks; Discord webhooks.
        r"\bxox[abposr]-[A-Za-z0-9-]+",
        r"\bxapp-[A-Za-z0-9-]+",
        r"hooks\.slack\.com/(services|workflows|triggers)/",
        r"discord(app)?\.com/api/webhooks/",
        // GitHub and GitLab tokens, JSON web tokens, PEM private keys.
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",
        r"\bglpat-[A-Za-z0-9_-]{20,}",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        // An AWS secret access key or a similar random token: 32 or more
        // base64 characters in one run, mixing upper and lower case and digits
        // (checked below, so a hex commit id or a long name is not one). `-`
        // ends a run: CloudFormation's physical ids (`apps-ECSCluster-Ab12Cd`)
        // are words joined by it.
        r"[A-Za-z0-9/+=]{32,}",
    ])
    .expect("the credential shapes are valid patterns")
});

/// Index in `SHAPES` of the generic random-token shape, which needs the mix
/// check.
const RANDOM_RUN: usize = 10;

/// Whether `value` holds something shaped like a credential.
pub fn looks_like_credential(value: &str) -> bool {
    let hits = SHAPES.matches(value);
    hits.iter().any(|i| i != RANDOM_RUN) || (hits.matched(RANDOM_RUN) && random_run(value))
}

/// Whether some run of 32+ token characters mixes upper case, lower case and a
/// digit or `/`/`+`, as generated secrets do and names, hex digests and ARNs do
/// not.
fn random_run(value: &str) -> bool {
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "/+=".contains(c)))
        .filter(|run| run.len() >= 32)
        .any(|run| {
            run.bytes().any(|b| b.is_ascii_uppercase())
                && run.bytes().any(|b| b.is_ascii_lowercase())
                && run
                    .bytes()
                    .any(|b| b.is_ascii_digit() || b == b'/' || b == b'+')
        })
}

/// How a stack output is shown: the app's `show_outputs` shows a name a team
/// knows is harmless even if it looks secret by name; `hide_outputs` (or
/// `looks_secret`) hides it; and a value shaped like a credential is hidden
/// whatever the rules say, since no team means to post one.
pub fn output(rules: &OutputRules, secret_name: bool, key: &str, value: &str) -> String {
    let hidden = if rules.show.iter().any(|k| k == key) {
        false
    } else {
        secret_name || rules.hide.iter().any(|k| k == key || k == "*")
    };
    if hidden || looks_like_credential(value) {
        "****".into()
    } else {
        value.into()
    }
}

/// A free text (a stack event's reason, which can quote a request's values) with
/// every credential-shaped word replaced.
pub fn text(text: &str) -> String {
    if !looks_like_credential(text) {
        return text.to_string();
    }
    text.split(' ')
        .map(|w| if looks_like_credential(w) { "****" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parts of a log line to replace: (pattern, what stays of the match). Each
/// keeps the words around a secret, so the line still says what happened.
static IN_LINES: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
    [
        // The password of a URL: `postgres://app:****@db`.
        (r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@", "${1}****@"),
        // `password=...`, `"token": "..."`, `api_key: ...`, `Authorization: Bearer ...`.
        (
            r#"(?i)\b((?:[a-z0-9]+[_-])*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|credentials?)["']?\s*[:=]\s*["']?)[^\s"',;&]+"#,
            "${1}****",
        ),
        (r"(?i)\b(authorization:\s*(?:bearer|basic|token)?\s*)\S+", "${1}****"),
        (r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", "${1}****"),
        (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", "****"),
        (r"\bxox[abposr]-[A-Za-z0-9-]+", "****"),
        (r"\bxapp-[A-Za-z0-9-]+", "****"),
        (r"(hooks\.slack\.com/(?:services|workflows|triggers)/)\S+", "${1}****"),
        (r"(discord(?:app)?\.com/api/webhooks/)\S+", "${1}****"),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", "****"),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", "****"),
        (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "****"),
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "****"),
    ]
    .into_iter()
    .map(|(p, keep)| (regex::Regex::new(p).expect("the line shapes are valid patterns"), keep))
    .collect()
});

/// Terminal escapes: CSI (colours, cursor moves), OSC (titles, links), and the
/// two-character ones.
static ESCAPES: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
        .expect("the escape pattern is valid")
});

/// A log line as chat may see it: terminal escapes and control characters out
/// (a tab becomes a space), backticks made inert so no line closes its code
/// block, the values in `secrets` (the app's secret variables) and anything
/// shaped like a credential masked.
pub fn log_line(line: &str, secrets: &[String]) -> String {
    let plain = ESCAPES.replace_all(line, "");
    let mut out: String = plain
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            '`' => Some('\u{02CB}'),
            c if c.is_control() || crate::message::invisible(c) => None,
            c => Some(c),
        })
        .collect();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "****");
        }
    }
    for (shape, keep) in IN_LINES.iter() {
        if shape.is_match(&out) {
            out = shape.replace_all(&out, *keep).into_owned();
        }
    }
    // What is left shaped like a random token (a secret key, a key block's
    // lines) goes word by word.
    if !random_run(&out) {
        return out;
    }
    out.split(' ')
        .map(|w| if random_run(w) { "****" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_keeps_its_words_but_no_secret_and_no_escape() {
        let key = format!("AKIA{}", "IOSFODNN7EXAMPLE");
        let cases = [
            (
                "\x1b[31mERROR\x1b[0m connect failed",
                "ERROR connect failed",
            ),
            ("\x1b]0;title\x07ready\r", "ready"),
            ("a\tb\u{202E}c ``` d", "a bc ˋˋˋ d"),
            (
                "dsn=postgres://app:hunter2@db:5432/x up",
                "dsn=postgres://app:****@db:5432/x up",
            ),
            ("login password=hunter2 ok", "login password=**** ok"),
            (
                r#"{"db_password": "s3cr3t!", "user": "app"}"#,
                r#"{"db_password": "****", "user": "app"}"#,
            ),
            (
                "Authorization: Bearer abc.def.ghi",
                "Authorization: Bearer ****",
            ),
            ("using key KEY for s3", "using key **** for s3"),
            (
                "the value is opensesame, said bob",
                "the value is ****, said bob",
            ),
            ("GET /health 200 3ms", "GET /health 200 3ms"),
            (
                "aws secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY loaded",
                "aws secret **** loaded",
            ),
            (
                "task 0123456789abcdef0123456789abcdef stopped",
                "task 0123456789abcdef0123456789abcdef stopped",
            ),
        ];
        for (line, want) in cases {
            let line = line.replace("KEY", &key);
            assert_eq!(
                log_line(&line, &["opensesame".to_string()]),
                want,
                "{line:?}"
            );
        }
    }

    #[test]
    fn credential_shapes_are_caught_and_ordinary_values_are_not() {
        for secret in [
            "postgres://app:hunter2@db.internal:5432/ledger",
            "https://user:p%40ss@example.com/",
            "AKIAIOSFODNN7EXAMPLE",
            // Built here, so no token-shaped literal sits in the source.
            format!("xox{}-1234-5678-abcdef", 'b').as_str(),
            format!("xa{}-1-A0-123-abc", "pp").as_str(),
            "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
            "https://discord.com/api/webhooks/123/abc",
            "ghp_0123456789abcdefghijABCDEFGHIJ",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
            "-----BEGIN RSA PRIVATE KEY-----",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ] {
            assert!(looks_like_credential(secret), "{secret}");
        }
        for fine in [
            "https://api.example.com/v1/health",
            "arn:aws:ecs:us-east-1:123456789012:service/apps/hubot-service-0123456789",
            "0123456789abcdef0123456789abcdef01234567",
            "/ledger/payments",
            "v1.2.3",
            "hubot-TaskDefinition-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "sg-0123456789abcdef0",
            "apps-cluster-ECSCluster-Ab12Cd34Ef56Gh78-Ij90Kl12Mn34",
            "arn:aws:ecs:us-east-1:123456789012:task/apps/0123456789abcdef0123456789abcdef",
            "",
        ] {
            assert!(!looks_like_credential(fine), "{fine}");
        }
    }

    #[test]
    fn rules_decide_names_and_never_unmask_a_credential() {
        let rules = OutputRules {
            hide: vec!["Internal".into()],
            show: vec!["PublicKeyUrl".into()],
        };
        assert_eq!(output(&rules, false, "Url", "https://x.io"), "https://x.io");
        assert_eq!(output(&rules, false, "Internal", "10.0.0.1"), "****");
        assert_eq!(output(&rules, true, "ApiKey", "k"), "****");
        // Shown by name, even though KEY looks secret...
        assert_eq!(
            output(&rules, true, "PublicKeyUrl", "https://x.io/key.pub"),
            "https://x.io/key.pub"
        );
        // ...but a credential stays masked whatever the name.
        assert_eq!(
            output(&rules, false, "DatabaseUrl", "postgres://a:b@db"),
            "****"
        );
        let all = OutputRules {
            hide: vec!["*".into()],
            show: vec![],
        };
        assert_eq!(output(&all, false, "Anything", "x"), "****");
    }

    #[test]
    fn a_reason_keeps_its_words_but_not_a_credential() {
        assert_eq!(
            text("Invalid value postgres://app:hunter2@db for DbUrl"),
            "Invalid value **** for DbUrl"
        );
        assert_eq!(
            text("Resource creation cancelled"),
            "Resource creation cancelled"
        );
    }
}
