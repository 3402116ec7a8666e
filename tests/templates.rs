//! Every bundled CloudFormation template's own IAM policies, read as data: no `*`
//! in any action, and no `*` resource on an action that changes anything. (Reads
//! such as `ecs:ListClusters` have no resource to name; AWS wants `*` for them.)
//! Both branches of every `!If` are checked: a condition must not hide a wildcard.

use std::path::PathBuf;

use serde_yaml::Value;

fn templates() -> Vec<(PathBuf, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            text.contains("AWSTemplateFormatVersion")
                .then(|| (p.clone(), serde_yaml::from_str(&text).unwrap()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every policy statement anywhere in the document (an `Effect` next to an
/// `Action`), looking through tags like `!If` and `!Sub`.
fn statements<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Mapping(m) => {
            if m.contains_key("Effect") && (m.contains_key("Action") || m.contains_key("NotAction"))
            {
                out.push(v);
            }
            m.values().for_each(|v| statements(v, out));
        }
        Value::Sequence(s) => s.iter().for_each(|v| statements(v, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

/// Plain strings in a value (a single string, a list, both sides of an `!If`).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        Value::Tagged(t) => strings(&t.value),
        _ => Vec::new(),
    }
}

fn reads_only(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or(action);
    ["Describe", "List", "Get"]
        .iter()
        .any(|p| verb.starts_with(p))
}

#[test]
fn no_template_grants_a_wildcard_action_or_a_wildcard_resource_to_a_change() {
    let all = templates();
    assert!(
        all.len() >= 3,
        "cluster, service and dockhand templates: {all:?}"
    );
    let mut checked = 0;
    for (path, doc) in &all {
        let mut found = Vec::new();
        statements(doc, &mut found);
        for st in found {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                st.get("NotAction").is_none(),
                "{name}: NotAction grants everything else: {st:?}"
            );
            assert!(
                st.get("NotResource").is_none(),
                "{name}: NotResource: {st:?}"
            );
            let actions = strings(st.get("Action").unwrap());
            let resources = st.get("Resource").map(strings).unwrap_or_default();
            for a in &actions {
                assert!(!a.contains('*'), "{name}: wildcard action {a}");
                if !reads_only(a) {
                    assert!(
                        !resources.iter().any(|r| r == "*"),
                        "{name}: {a} may change anything (Resource \"*\")"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "only {checked} statements found: is the walk broken?"
    );
}

#[test]
fn the_walk_finds_what_it_must_refuse() {
    // The check above is only as good as its walk: a wildcard hidden in an `!If`
    // must be found.
    let doc: Value = serde_yaml::from_str(
        "Resources:\n  R:\n    Properties:\n      PolicyDocument:\n        Statement:\n          - !If\n            - C\n            - Effect: Allow\n              Action: [ecs:*]\n              Resource: '*'\n            - !Ref AWS::NoValue\n",
    )
    .unwrap();
    let mut found = Vec::new();
    statements(&doc, &mut found);
    assert_eq!(found.len(), 1);
    assert_eq!(strings(found[0].get("Action").unwrap()), ["ecs:*"]);
    assert!(!reads_only("ecs:UpdateService") && reads_only("ecs:DescribeServices"));
}
