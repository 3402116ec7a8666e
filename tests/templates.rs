//! Every bundled CloudFormation template's own IAM policies, read as data: no `*`
//! in any action, and no `*` resource on an action that changes anything. (Reads
//! such as `ecs:ListClusters` have no resource to name; AWS wants `*` for them.)
//! Both branches of every `!If` are checked: a condition must not hide a wildcard.
//!
//! deploy/dockhand.yaml, the bot's own role, is then read statement by statement:
//! the names it may change end at a delimiter, each role it may pass goes to one
//! service, its stack changes reach only the managed stacks and its own, never
//! with a service role of the caller's choosing, its reads name what they read
//! unless AWS checks them against `*` alone, it reads the logs of the AppLogGroups
//! alone (and none without them), and every AWS call the bot makes is granted.

use std::path::PathBuf;

use regex::Regex;
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

/// deploy/dockhand.yaml, the template of the bot's own role.
fn dockhand() -> Value {
    templates()
        .into_iter()
        .find(|(p, _)| p.ends_with("deploy/dockhand.yaml"))
        .expect("deploy/dockhand.yaml")
        .1
}

/// Every plain string anywhere in a value, tags looked through.
fn all_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Mapping(m) => m.values().for_each(|v| all_strings(v, out)),
        Value::Sequence(s) => s.iter().for_each(|v| all_strings(v, out)),
        Value::Tagged(t) => all_strings(&t.value, out),
        _ => {}
    }
}

/// What a policy value stands for, as IAM will see it: a string as is, `!Ref X` and
/// `!GetAtt X.Y` as `${X}` and `${X.Y}`, a `!Sub` as its template, a `!Split` as
/// its items, an `!If` as both of its branches (AWS::NoValue left out).
fn patterns(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(patterns).collect(),
        Value::Tagged(t) if t.tag == "Ref" || t.tag == "GetAtt" => strings(&t.value)
            .into_iter()
            .filter(|name| name != "AWS::NoValue")
            .map(|name| format!("${{{name}}}"))
            .collect(),
        Value::Tagged(t) if t.tag == "Sub" => match &t.value {
            Value::Sequence(s) => s.first().map(patterns).unwrap_or_default(),
            other => patterns(other),
        },
        Value::Tagged(t) if t.tag == "Split" => t.value.get(1).map(patterns).unwrap_or_default(),
        Value::Tagged(t) if t.tag == "If" => t
            .value
            .as_sequence()
            .map(|s| s.iter().skip(1).flat_map(patterns).collect())
            .unwrap_or_default(),
        Value::Tagged(t) => patterns(&t.value),
        _ => Vec::new(),
    }
}

/// The statements of deploy/dockhand.yaml that grant one of `wanted`'s actions.
fn granting(doc: &Value, wanted: impl Fn(&str) -> bool) -> Vec<&Value> {
    let mut all = Vec::new();
    statements(doc, &mut all);
    all.into_iter()
        .filter(|st| strings(&st["Action"]).iter().any(|a| wanted(a)))
        .collect()
}

/// Every `!Sub` anywhere in a value, as its template and its variable map.
fn subs<'a>(v: &'a Value, out: &mut Vec<(&'a str, Option<&'a Value>)>) {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => match &t.value {
            Value::String(s) => out.push((s, None)),
            Value::Sequence(s) => {
                if let Some(template) = s.first().and_then(Value::as_str) {
                    out.push((template, s.get(1)));
                }
                s.iter().for_each(|v| subs(v, out));
            }
            other => subs(other, out),
        },
        Value::Tagged(t) => subs(&t.value, out),
        Value::Mapping(m) => m.values().for_each(|v| subs(v, out)),
        Value::Sequence(s) => s.iter().for_each(|v| subs(v, out)),
        _ => {}
    }
}

/// A parameter's AllowedPattern, which CloudFormation matches against the whole
/// value (each item of a CommaDelimitedList): anchored here so `is_match` agrees.
fn allowed(doc: &Value, parameter: &str) -> Regex {
    let pattern = doc["Parameters"][parameter]["AllowedPattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{parameter} has no AllowedPattern"));
    assert!(
        pattern.starts_with('^') && pattern.ends_with('$'),
        "{parameter}: {pattern} is not anchored"
    );
    Regex::new(pattern).unwrap()
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

#[test]
fn the_managed_prefix_and_the_listed_names_end_at_a_delimiter() {
    // `apps*` would also be `appsync-*`; `apps-*` and `apps/...` are what was meant.
    let doc = dockhand();
    let mut texts = Vec::new();
    all_strings(&doc, &mut texts);
    let prefix = "${ManagedPrefix}";
    let mut uses = 0;
    for text in &texts {
        for (at, _) in text.match_indices(prefix) {
            let rest = &text[at + prefix.len()..];
            // In an event pattern (JSON text): `"` ends an exact ARN, and `-"` ends a
            // prefix matcher, which is `-*` in a pattern's words.
            let json_prefix = rest.starts_with("-\"")
                && text[..at]
                    .rfind("{\"")
                    .is_some_and(|i| text[i..].starts_with("{\"prefix\":\""));
            assert!(
                rest.is_empty()
                    || rest.starts_with('/')
                    || rest.starts_with("-*")
                    || rest.starts_with('"')
                    || json_prefix,
                "`{text}`: the prefix must be followed by `-*`, `/`, nothing, or end a JSON string or prefix matcher"
            );
            uses += 1;
        }
    }
    assert!(
        uses >= 5,
        "ManagedPrefix used {uses} times: is the walk broken?"
    );

    // The lists expand as `!Sub [<before>${Names}<after>, Names: !Join [<delimiter>,
    // !Ref List]]`: every item gets the same pattern only if the delimiter is
    // <after>,<before>, and <after> must start at a delimiter.
    let mut found = Vec::new();
    subs(&doc, &mut found);
    let mut lists = 0;
    for (template, vars) in found {
        let Some((before, after)) = template.split_once("${Names}") else {
            continue;
        };
        let join = &vars.expect("a map for ${Names}")["Names"];
        let Value::Tagged(t) = join else {
            panic!("`{template}`: Names is not a !Join: {join:?}")
        };
        assert!(t.tag == "Join", "`{template}`: Names is {t:?}");
        let delimiter = t.value[0].as_str().unwrap();
        assert_eq!(
            delimiter,
            format!("{after},{before}"),
            "`{template}`: every item must expand the same way"
        );
        // `"`: the end of a JSON string in an event pattern, the name exact.
        assert!(
            after.is_empty()
                || after.starts_with('/')
                || after.starts_with(':')
                || after.starts_with('"'),
            "`{template}`: a name must end the ARN, a JSON string, or at `/` or `:`"
        );
        lists += 1;
    }
    assert!(
        lists >= 5,
        "{lists} listed-name patterns: is the walk broken?"
    );

    // The values themselves: the template adds the hyphen, so a prefix must not
    // end in one, and an exact name must not be a pattern.
    let re = allowed(&doc, "ManagedPrefix");
    for ok in ["apps", "team-a", "team_a", ""] {
        assert!(re.is_match(ok), "ManagedPrefix refuses {ok:?}");
    }
    for bad in ["apps-", "-apps", "a--b", "apps*", "app?", "apps/x"] {
        assert!(!re.is_match(bad), "ManagedPrefix allows {bad:?}");
    }
    let default = doc["Parameters"]["ManagedPrefix"]["Default"].as_str();
    assert!(re.is_match(default.unwrap()), "default {default:?}");
    for list in [
        "ManagedClusterNames",
        "ManagedTaskFamilies",
        "ManagedStackNames",
    ] {
        let re = allowed(&doc, list);
        for ok in ["apps", "hubot-web", ""] {
            assert!(re.is_match(ok), "{list} refuses {ok:?}");
        }
        for bad in ["apps*", "*", "app?", "a/b"] {
            assert!(!re.is_match(bad), "{list} allows {bad:?}");
        }
    }
}

#[test]
fn each_role_is_passed_to_one_service_and_named_exactly() {
    // A role passed to CloudFormation is one CloudFormation then acts with; the bot
    // only registers task definitions, whose roles go to ECS tasks.
    const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";
    let passed_to = [
        ("${TaskRole.Arn}", ECS_TASKS),
        ("${ExecutionRole.Arn}", ECS_TASKS),
        ("${AppRoleArns}", ECS_TASKS),
    ];
    let doc = dockhand();
    let mut seen = Vec::new();
    for st in granting(&doc, |a| a == "iam:PassRole") {
        let sid = st["Sid"].as_str().unwrap_or("?");
        assert_eq!(
            strings(&st["Action"]),
            ["iam:PassRole"],
            "{sid}: PassRole in a statement of its own, so its condition is about it alone"
        );
        let service = &st["Condition"]["StringEquals"]["iam:PassedToService"];
        let Some(service) = service.as_str() else {
            panic!("{sid}: iam:PassedToService must name one service, not {service:?}")
        };
        for role in patterns(&st["Resource"]) {
            let Some((_, want)) = passed_to.iter().find(|(r, _)| *r == role) else {
                panic!("{sid}: passes {role}, which is not in the table")
            };
            assert_eq!(service, *want, "{sid}: {role} goes to {want}");
            seen.push(role);
        }
    }
    for (role, _) in passed_to {
        assert!(seen.iter().any(|r| r == role), "nothing passes {role}");
    }

    // The ARNs are given as parameters: a pattern there would pass (or assume) every
    // role it matches.
    for list in ["AppRoleArns", "AssumeRoleArns"] {
        let re = allowed(&doc, list);
        for ok in [
            "arn:aws:iam::123456789012:role/hubot-task",
            "arn:aws:iam::123456789012:role/apps/hubot",
            "",
        ] {
            assert!(re.is_match(ok), "{list} refuses {ok:?}");
        }
        for bad in [
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::123456789012:role/hubot-?",
            "arn:aws:iam::*:role/x",
            "*",
        ] {
            assert!(!re.is_match(bad), "{list} allows {bad:?}");
        }
    }
}

#[test]
fn stack_changes_reach_only_managed_stacks_and_never_name_a_service_role() {
    // What the bot does to stacks: update (deploy, scale), cancel, and plan with a
    // change set it deletes. Nothing else: no execute, create, delete, policy.
    let wanted = [
        "cloudformation:CancelUpdateStack",
        "cloudformation:CreateChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:UpdateStack",
    ];
    // The managed stacks (prefix, list) and the bot's own.
    let managed = [
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${ManagedPrefix}-*/*",
        "arn:*:cloudformation:*:*:stack/${Names}/*",
        "${AWS::StackId}",
    ];
    let doc = dockhand();
    let changes = |a: &str| a.starts_with("cloudformation:") && !reads_only(a);
    let found = granting(&doc, changes);
    let mut reached = Vec::new();
    for st in &found {
        let sid = st["Sid"].as_str().unwrap_or("?");
        let mut actions: Vec<String> = strings(&st["Action"]);
        actions.sort();
        assert_eq!(actions, wanted, "{sid}: stack changes beyond the bot's own");
        for r in patterns(&st["Resource"]) {
            assert!(managed.contains(&r.as_str()), "{sid}: changes stack {r}");
            reached.push(r);
        }
        // CloudFormation acts with the role an update names; absent, the stack keeps
        // its own (used without a pass). The key is absent only when none is named.
        assert_eq!(
            st["Condition"]["Null"]["cloudformation:RoleArn"].as_str(),
            Some("true"),
            "{sid}: an update could name a service role: {:?}",
            st["Condition"]
        );
    }
    for stack in managed {
        assert!(
            reached.iter().any(|r| r == stack),
            "no stack change on {stack}"
        );
    }
}

/// The reads AWS checks against `*` and nothing else, each with the reason. Every
/// other read in deploy/dockhand.yaml must name what it reads.
const READS_ON_ANY: [(&str, &str); 6] = [
    ("ecr:GetAuthorizationToken", "no resource-level permissions"),
    ("ecs:ListClusters", "no resource-level permissions"),
    ("ecs:ListTaskDefinitions", "no resource-level permissions"),
    (
        "ecs:DescribeTaskDefinition",
        "no resource-level permissions",
    ),
    (
        "ecs:ListTasks",
        "a cluster's tasks are checked against `*`; its ecs:cluster condition scopes it",
    ),
    (
        "cloudformation:DescribeStacks",
        "`!stacks` names no stack, which only a grant on every stack allows",
    ),
];

#[test]
fn reads_name_what_they_read_unless_aws_takes_only_a_wildcard() {
    let doc = dockhand();
    let mut all = Vec::new();
    statements(&doc, &mut all);
    let mut on_any = Vec::new();
    for st in all {
        let sid = st["Sid"].as_str().unwrap_or("?");
        if !patterns(&st["Resource"]).iter().any(|r| r == "*") {
            continue;
        }
        for a in strings(&st["Action"]) {
            let Some((_, why)) = READS_ON_ANY.iter().find(|(r, _)| *r == a) else {
                panic!(
                    "{sid}: {a} on Resource \"*\": name what it reads, or say here why AWS needs \"*\""
                )
            };
            if a == "ecs:ListTasks" {
                let by_cluster = st["Condition"]
                    .as_mapping()
                    .is_some_and(|ops| ops.values().any(|keys| keys.get("ecs:cluster").is_some()));
                assert!(
                    by_cluster,
                    "{sid}: ListTasks without an ecs:cluster condition ({why})"
                );
            }
            on_any.push(a);
        }
    }
    for (a, _) in READS_ON_ANY {
        assert!(
            on_any.iter().any(|r| r == a),
            "{a} is allowed on \"*\" but not granted so: drop it from the list"
        );
    }

    // The reads the bot makes of services, tasks and stacks are there, scoped.
    for read in [
        "ecs:DescribeServices",
        "ecs:DescribeTasks",
        "ecs:ListTagsForResource",
        "cloudformation:DescribeStackEvents",
        "cloudformation:ListStackResources",
        "cloudformation:DescribeChangeSet",
        "ecs:ListServiceDeployments",
        "ecs:DescribeServiceDeployments",
        "ecs:DescribeServiceRevisions",
    ] {
        let found = granting(&doc, |a| a == read);
        assert!(
            found.len() >= 3,
            "{read}: granted {} times, want own, prefix and lists",
            found.len()
        );
    }
}

/// DynamoDB's operations as the Rust SDK names its client's methods (`put_item`
/// sends PutItem): the item, batch, PartiQL, transaction and table calls.
const DYNAMODB_METHODS: [&str; 26] = [
    "batch_execute_statement",
    "batch_get_item",
    "batch_write_item",
    "create_table",
    "delete_item",
    "delete_table",
    "describe_continuous_backups",
    "describe_table",
    "describe_time_to_live",
    "execute_statement",
    "execute_transaction",
    "get_item",
    "list_backups",
    "list_tables",
    "list_tags_of_resource",
    "put_item",
    "query",
    "scan",
    "tag_resource",
    "transact_get_items",
    "transact_write_items",
    "untag_resource",
    "update_continuous_backups",
    "update_item",
    "update_table",
    "update_time_to_live",
];

/// The IAM actions of the AWS calls in one Rust source: each `classify("service:Action",
/// e)` (how a call names itself in its errors), and each DynamoDB operation called on
/// the SDK's client, whether or not it is classified: a method of `DYNAMODB_METHODS`
/// called with no arguments (the SDK's fluent builders take none) on a receiver
/// named `state`, `dynamodb` or `ddb` (`clients.state.put_item()`, across lines
/// too), or anywhere in a file that names `aws_sdk_dynamodb` (`client.query()`),
/// the tag calls excepted there, which ECS's client has as well.
fn aws_calls(text: &str) -> std::collections::BTreeSet<String> {
    let classified = Regex::new(r#"classify\("([a-z0-9-]+:[A-Za-z]+)""#).unwrap();
    let mut calls: std::collections::BTreeSet<String> = classified
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect();
    let methods = DYNAMODB_METHODS.join("|");
    let on_client = Regex::new(&format!(
        r"\b(?:state|dynamodb|ddb)\s*(?:\(\s*\))?\s*\.\s*({methods})\s*\(\s*\)"
    ))
    .unwrap();
    let in_file = Regex::new(&format!(r"\.\s*({methods})\s*\(\s*\)")).unwrap();
    let mut found: Vec<&str> = on_client
        .captures_iter(text)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    if text.contains("aws_sdk_dynamodb") {
        found.extend(
            in_file
                .captures_iter(text)
                .map(|c| c.get(1).unwrap().as_str())
                .filter(|m| !m.ends_with("tag_resource")),
        );
    }
    for method in found {
        let action: String = method
            .split('_')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect();
        calls.insert(format!("dynamodb:{action}"));
    }
    calls
}

#[test]
fn the_scan_finds_dynamodb_calls_however_they_are_written() {
    // The client as a field, a local or a method, the call on the next line, and
    // a file of the SDK's own; not another crate's `query(&...)` nor ECS's tags.
    let text = "let got = clients.state\n    .get_item()\n    .table_name(t)\n    .send()\n    .await;\n\
                self.dynamodb().put_item().item(\"pk\", v);\n\
                ddb . update_item ( ).send();\n\
                state.query().key_condition_expression(k);\n\
                http.get(url).query(&[(\"a\", \"b\")]);\n\
                clients.ecs.tag_resource().send();\n\
                x.map_err(|e| classify(\"dynamodb:DeleteItem\", e))?;\n";
    let got: Vec<String> = aws_calls(text).into_iter().collect();
    assert_eq!(
        got,
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem"
        ]
    );
    let file = "use aws_sdk_dynamodb::Client;\n\
                async fn f(c: &Client) { c.scan().send().await; c.transact_write_items().send().await;\n\
                c.tag_resource().send().await; }\n";
    let got: Vec<String> = aws_calls(file).into_iter().collect();
    assert_eq!(got, ["dynamodb:Scan", "dynamodb:TransactWriteItems"]);
    assert!(aws_calls("clients.ecs.update_service().send()").is_empty());
}

#[test]
fn the_bot_may_make_every_aws_call_it_makes() {
    // Every AWS call in src/ goes through `classify("service:Action", e)`: a call the
    // role does not grant is an AccessDenied in production that no emulator test
    // sees (the emulator does not enforce IAM). DynamoDB calls are also found by
    // their SDK methods (aws_calls).
    let cli_only = [
        // `dockhand stack up | delete`, run with a person's credentials.
        "cloudformation:CreateStack",
        "cloudformation:DeleteStack",
    ];
    let mut calls = std::collections::BTreeSet::new();
    let mut dirs = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                calls.extend(aws_calls(&text));
            }
        }
    }
    assert!(calls.len() > 15, "only {calls:?}: is the scan broken?");
    // The shared state (issue 17): what the bot does with DOCKHAND_STATE_TABLE's
    // table, whether or not its code is in src/ yet.
    calls.extend(STATE_ACTIONS.map(String::from));
    // The notifications listener long-polls the events queue (issue 15, point 6).
    calls.extend(
        [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        ]
        .map(String::from),
    );
    let doc = dockhand();
    let mut all = Vec::new();
    statements(&doc, &mut all);
    // Allows only: the queue policy's Deny names the SQS calls too.
    let granted: Vec<String> = all
        .iter()
        .filter(|st| st["Effect"].as_str() == Some("Allow"))
        .flat_map(|st| strings(&st["Action"]))
        .collect();
    let missing: Vec<&String> = calls
        .iter()
        .filter(|c| !cli_only.contains(&c.as_str()) && !granted.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "the bot calls these, its role may not: {missing:?}"
    );
}

/// The resources of deploy/dockhand.yaml of one type, by logical id.
fn resources_of<'a>(doc: &'a Value, rtype: &str) -> Vec<(&'a str, &'a Value)> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(rtype))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

#[test]
fn the_events_queue_takes_messages_only_from_the_templates_rules_and_only_over_tls() {
    let doc = dockhand();
    let rules: std::collections::BTreeSet<String> = resources_of(&doc, "AWS::Events::Rule")
        .iter()
        .map(|(id, _)| format!("${{{id}.Arn}}"))
        .collect();
    assert!(rules.len() >= 3, "ECS, stacks, alarms: {rules:?}");
    let policies = resources_of(&doc, "AWS::SQS::QueuePolicy");
    let [(_, policy)] = policies.as_slice() else {
        panic!("one queue policy, found {policies:?}")
    };
    assert_eq!(
        patterns(&policy["Properties"]["Queues"]),
        ["${EventsQueue}"]
    );
    let mut found = Vec::new();
    statements(&policy["Properties"]["PolicyDocument"], &mut found);
    let (mut allows, mut denies_plain_http) = (0, false);
    for st in found {
        let sid = st["Sid"].as_str().unwrap_or("?");
        assert_eq!(patterns(&st["Resource"]), ["${EventsQueue.Arn}"], "{sid}");
        match st["Effect"].as_str() {
            Some("Allow") => {
                assert_eq!(
                    serde_yaml::to_string(&st["Principal"]).unwrap().trim(),
                    "Service: events.amazonaws.com",
                    "{sid}: only EventBridge may send"
                );
                assert_eq!(strings(&st["Action"]), ["sqs:SendMessage"], "{sid}");
                let sources: std::collections::BTreeSet<String> =
                    patterns(&st["Condition"]["ArnEquals"]["aws:SourceArn"])
                        .into_iter()
                        .collect();
                assert_eq!(sources, rules, "{sid}: the rules, and only them, may send");
                allows += 1;
            }
            Some("Deny") => {
                assert_eq!(
                    st["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
                    Some("false"),
                    "{sid}"
                );
                assert_eq!(st["Principal"].as_str(), Some("*"), "{sid}: everyone");
                let actions = strings(&st["Action"]);
                for a in ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"] {
                    assert!(actions.iter().any(|x| x == a), "{sid}: {a} over plain HTTP");
                }
                denies_plain_http = true;
            }
            other => panic!("{sid}: Effect {other:?}"),
        }
    }
    assert_eq!(allows, 1, "one statement lets the rules send");
    assert!(
        denies_plain_http,
        "no statement denies requests without TLS"
    );
}

#[test]
fn the_bot_may_only_receive_and_delete_the_events_queues_messages() {
    let doc = dockhand();
    let mut grants = Vec::new();
    for rtype in ["AWS::IAM::ManagedPolicy", "AWS::IAM::Role"] {
        for (id, r) in resources_of(&doc, rtype) {
            let mut found = Vec::new();
            statements(&r["Properties"], &mut found);
            grants.extend(found.into_iter().map(|st| (id, st)));
        }
    }
    let sqs: Vec<_> = grants
        .iter()
        .filter(|(_, st)| strings(&st["Action"]).iter().any(|a| a.starts_with("sqs:")))
        .collect();
    let [(id, st)] = sqs.as_slice() else {
        panic!("one SQS grant, found {sqs:?}")
    };
    assert_eq!(*id, "NotificationsGrants");
    assert_eq!(
        doc["Resources"][*id]["Condition"].as_str(),
        Some("WantsNotifications")
    );
    let mut actions = strings(&st["Action"]);
    actions.sort();
    assert_eq!(
        actions,
        [
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage"
        ]
    );
    assert_eq!(
        patterns(&st["Resource"]),
        ["${EventsQueue.Arn}"],
        "the events queue, not its dead-letter queue"
    );
}

/// A rule's event pattern: the `!Sub` template as JSON (its variables, e.g.
/// `${Clusters}`, as strings) and the variables' values.
fn event_pattern(rule: &Value) -> (serde_json::Value, &Value) {
    let Value::Tagged(t) = &rule["Properties"]["EventPattern"] else {
        panic!("the pattern is a !Sub: {rule:?}")
    };
    let template = t.value[0].as_str().unwrap();
    let vars = &t.value[1];
    let mut text = template.to_string();
    for name in vars.as_mapping().unwrap().keys() {
        let name = name.as_str().unwrap();
        text = text.replace(&format!("${{{name}}}"), &format!("\"${{{name}}}\""));
    }
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (json, vars)
}

#[test]
fn every_rule_feeds_the_queue_and_matches_only_what_is_managed() {
    // Each group of detail types in a pattern, the field that scopes it, and the
    // parameters that field's matchers must come from. None is left unscoped; the
    // template's comment says what ECS events cannot be told apart by cluster.
    let scopes: [(&str, &str, &[&str]); 6] = [
        (
            "ECS Task State Change",
            "detail.clusterArn",
            &["${ManagedPrefix}", "ManagedClusterNames"],
        ),
        (
            "ECS Service Action",
            "detail.clusterArn",
            &["${ManagedPrefix}", "ManagedClusterNames"],
        ),
        (
            "ECS Hook State Change",
            "detail.clusterArn",
            &["${ManagedPrefix}", "ManagedClusterNames"],
        ),
        (
            "ECS Deployment State Change",
            "resources",
            &["${ManagedPrefix}", "ManagedClusterNames"],
        ),
        (
            "CloudFormation Stack Status Change",
            "detail.stack-id",
            &["${ManagedPrefix}", "ManagedStackNames", "${AWS::StackId}"],
        ),
        (
            "CloudWatch Alarm State Change",
            "detail.alarmName",
            &["AlarmNames"],
        ),
    ];
    let doc = dockhand();
    let rules = resources_of(&doc, "AWS::Events::Rule");
    let mut seen = Vec::new();
    for (id, rule) in &rules {
        let targets = rule["Properties"]["Targets"].as_sequence().unwrap();
        assert!(!targets.is_empty(), "{id}: no target");
        for t in targets {
            assert_eq!(patterns(&t["Arn"]), ["${EventsQueue.Arn}"], "{id}");
        }
        let (pattern, vars) = event_pattern(rule);
        // The default bus also takes events forwarded from other accounts and
        // regions; the listed names' wildcards rely on these two.
        assert_eq!(
            pattern["account"],
            serde_json::json!(["${AWS::AccountId}"]),
            "{id}"
        );
        assert_eq!(
            pattern["region"],
            serde_json::json!(["${AWS::Region}"]),
            "{id}"
        );
        let source = pattern["source"][0].as_str().unwrap().to_string();
        assert!(source.starts_with("aws."), "{id}: {source}");
        let groups: Vec<&serde_json::Value> = match pattern.get("$or") {
            Some(or) => or.as_array().unwrap().iter().collect(),
            None => vec![&pattern],
        };
        for group in groups {
            for detail_type in group["detail-type"].as_array().expect("detail-type") {
                let detail_type = detail_type.as_str().unwrap();
                let Some((_, field, from)) = scopes.iter().find(|(d, _, _)| *d == detail_type)
                else {
                    panic!("{id}: {detail_type} is not in the table of scopes")
                };
                let mut at = group;
                for key in field.split('.') {
                    at = &at[key];
                }
                let [serde_json::Value::String(var)] = at.as_array().map_or(&[][..], |a| a) else {
                    panic!("{id}: {detail_type} is not scoped by {field}: {group}")
                };
                let name = var.trim_start_matches("${").trim_end_matches('}');
                let mut texts = Vec::new();
                all_strings(&vars[name], &mut texts);
                for want in *from {
                    assert!(
                        texts.iter().any(|t| t.contains(want)),
                        "{id}: {detail_type}'s {field} does not come from {want}"
                    );
                }
                if detail_type == "ECS Task State Change" {
                    assert_eq!(
                        group["detail"]["lastStatus"],
                        serde_json::json!(["STOPPED"]),
                        "{id}: only stopped tasks"
                    );
                }
                seen.push(detail_type.to_string());
            }
        }
    }
    for (detail_type, _, _) in scopes {
        assert!(
            seen.iter().any(|s| s == detail_type),
            "no rule for {detail_type}"
        );
    }
    assert_eq!(
        seen.len(),
        scopes.len(),
        "a detail type in two rules: {seen:?}"
    );

    // Alarm names go into the pattern as JSON strings.
    let re = allowed(&doc, "AlarmNames");
    for ok in ["api-5xx", "db cpu high", "prod/api:latency", ""] {
        assert!(re.is_match(ok), "AlarmNames refuses {ok:?}");
    }
    for bad in ["a\"b", "a\\b", "a,b"] {
        assert!(!re.is_match(bad), "AlarmNames allows {bad:?}");
    }
}

#[test]
fn without_notifications_nothing_of_them_exists() {
    let doc = dockhand();
    let param = &doc["Parameters"]["Notifications"];
    assert_eq!(param["Default"].as_str(), Some("true"));
    assert_eq!(strings(&param["AllowedValues"]), ["true", "false"]);
    // A condition that holds only with Notifications=true.
    let implies = |name: &str| -> bool {
        if name == "WantsNotifications" {
            return true;
        }
        let Value::Tagged(t) = &doc["Conditions"][name] else {
            return false;
        };
        t.tag == "And"
            && t.value
                .as_sequence()
                .unwrap()
                .iter()
                .any(|c| c["Condition"].as_str() == Some("WantsNotifications"))
    };
    let mut new = 0;
    for rtype in [
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::Events::Rule",
    ] {
        for (id, r) in resources_of(&doc, rtype) {
            let condition = r["Condition"].as_str().unwrap_or("");
            assert!(implies(condition), "{id} exists without Notifications");
            new += 1;
        }
    }
    assert!(
        new >= 6,
        "queue, dead-letter queue, policy, three rules: {new}"
    );
    let grants = doc["Resources"]["NotificationsGrants"]["Condition"].as_str();
    assert!(
        implies(grants.unwrap_or("")),
        "NotificationsGrants: {grants:?}"
    );
    for output in [
        "EventsQueueUrl",
        "EventsQueueArn",
        "EventsDeadLetterQueueArn",
    ] {
        let condition = doc["Outputs"][output]["Condition"].as_str();
        assert!(
            implies(condition.unwrap_or("")),
            "output {output}: {condition:?}"
        );
    }
    // The queue's URL reaches the container only through an !If on the condition.
    let env =
        &doc["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"];
    let entry = env
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Value::Tagged(t)
                if t.tag == "If" && t.value[1]["Name"] == "DOCKHAND_NOTIFICATIONS_QUEUE" =>
            {
                Some(&t.value)
            }
            _ => None,
        })
        .expect("DOCKHAND_NOTIFICATIONS_QUEUE under an !If");
    assert!(implies(entry[0].as_str().unwrap()));
    assert_eq!(patterns(&entry[1]["Value"]), ["${EventsQueue}"]);
    assert_eq!(
        patterns(&entry[2]),
        Vec::<String>::new(),
        "AWS::NoValue otherwise"
    );
}

/// What `logs <app>` may do with the AppLogGroups, and nothing more (the same list as
/// emulator/check_dockhand_template.py's LOG_READS).
const LOG_READS: [&str; 4] = [
    "logs:DescribeLogStreams",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:StartLiveTail",
];

#[test]
fn the_bot_reads_the_logs_of_the_app_log_groups_alone_and_none_without_them() {
    let doc = dockhand();
    // Every `logs:` statement of the bot's own grants; the role itself has only its
    // trust policy and the state table's grant, and the execution role's writes to
    // the bot's own group are ECS's.
    let mut own = Vec::new();
    statements(&doc["Resources"]["TaskRole"], &mut own);
    let sids: Vec<&str> = own
        .iter()
        .map(|st| st["Sid"].as_str().unwrap_or("trust"))
        .collect();
    assert_eq!(
        sids,
        ["trust", "SharedStateItems"],
        "TaskRole: the trust policy and the state grant only"
    );
    let mut logs = Vec::new();
    for (id, r) in resources_of(&doc, "AWS::IAM::ManagedPolicy") {
        let mut found = Vec::new();
        statements(&r["Properties"], &mut found);
        logs.extend(
            found
                .into_iter()
                .filter(|st| {
                    strings(&st["Action"])
                        .iter()
                        .any(|a| a.starts_with("logs:"))
                })
                .map(|st| (id, r, st)),
        );
    }
    let [(id, policy, st)] = logs.as_slice() else {
        panic!("one logs statement, found {logs:?}")
    };
    assert_eq!(*id, "AppLogsGrants");
    assert_eq!(patterns(&policy["Properties"]["Roles"]), ["${TaskRole}"]);
    assert_eq!(st["Effect"].as_str(), Some("Allow"));
    let mut actions = strings(&st["Action"]);
    actions.sort();
    assert_eq!(
        actions, LOG_READS,
        "{id}: exactly the reads of `logs <app>`"
    );

    // The resources come from AppLogGroups and nothing else: each group as
    // `log-group:NAME` and `log-group:NAME:*`, pinned to this region.
    let mut found = Vec::new();
    subs(&st["Resource"], &mut found);
    let mut arns: Vec<&str> = found.iter().map(|(template, _)| *template).collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            "arn:*:logs:*:*:log-group:${Names}",
            "arn:*:logs:*:*:log-group:${Names}:*"
        ]
    );
    let split: Value = serde_yaml::from_str("!Split [',', !Ref AppLogGroups]").unwrap();
    for (template, vars) in &found {
        let names = &vars.expect("a map for ${Names}")["Names"];
        let Value::Tagged(join) = names else {
            panic!("{template}: Names is {names:?}")
        };
        assert_eq!(
            join.value[1], split,
            "{template}: the items of AppLogGroups"
        );
    }
    let mut texts = Vec::new();
    all_strings(&st["Resource"], &mut texts);
    texts.sort();
    texts.dedup();
    assert_eq!(
        texts,
        [
            ",",
            ",arn:*:logs:*:*:log-group:",
            ":*,arn:*:logs:*:*:log-group:",
            "AppLogGroups",
            "arn:*:logs:*:*:log-group:${Names}",
            "arn:*:logs:*:*:log-group:${Names}:*"
        ],
        "{id}: a resource from something but AppLogGroups"
    );
    assert_eq!(
        patterns(&st["Condition"]["StringEquals"]["aws:RequestedRegion"]),
        ["${AWS::Region}"]
    );

    // No statement at all when the list is empty, and nothing leans on it.
    assert_eq!(policy["Condition"].as_str(), Some("HasAppLogGroups"));
    let when: Value = serde_yaml::from_str("!Not [!Equals [!Ref AppLogGroups, '']]").unwrap();
    assert_eq!(doc["Conditions"]["HasAppLogGroups"], when);
    let mut everywhere = Vec::new();
    all_strings(&doc, &mut everywhere);
    assert!(
        !everywhere.contains(&"AppLogsGrants"),
        "something refers to AppLogsGrants, which may not exist"
    );

    // The parameter: a String the template splits (the emulator leaves a
    // CommaDelimitedList's Default unsplit), by default the log groups
    // deploy/cluster.yaml gives the clusters ManagedPrefix's default manages.
    let param = &doc["Parameters"]["AppLogGroups"];
    assert_eq!(param["Type"].as_str(), Some("String"));
    let cluster = templates()
        .into_iter()
        .find(|(p, _)| p.ends_with("deploy/cluster.yaml"))
        .expect("deploy/cluster.yaml")
        .1;
    let group: Value = serde_yaml::from_str("!Sub /dockhand/${ClusterName}").unwrap();
    assert_eq!(
        cluster["Resources"]["LogGroup"]["Properties"]["LogGroupName"],
        group
    );
    let prefix = doc["Parameters"]["ManagedPrefix"]["Default"]
        .as_str()
        .unwrap();
    let default = param["Default"].as_str().unwrap();
    assert_eq!(default, format!("/dockhand/{prefix},/dockhand/{prefix}-*"));
    assert_eq!(
        cluster["Parameters"]["ClusterName"]["Default"].as_str(),
        Some(prefix),
        "the cluster's default is the prefix's own cluster"
    );
    // Each group exact or ending in `-*` after a name; never a pattern of every group.
    let re = allowed(&doc, "AppLogGroups");
    for ok in [
        default,
        "",
        "/aws/ecs/hubot",
        "/dockhand/apps-web.v2#1",
        "/dockhand/apps,/aws/ecs/web",
    ] {
        assert!(re.is_match(ok), "AppLogGroups refuses {ok:?}");
    }
    for bad in [
        "*",
        "/*",
        "-*",
        "/dockhand/*",
        "/dockhand/apps*",
        "/dockhand/-*",
        "apps--*",
        "a-*-b",
        "a?",
        "a:b",
        "x:*",
        "a b",
        "/dockhand/apps,*",
        "/dockhand/apps,",
        "a,,b",
    ] {
        assert!(!re.is_match(bad), "AppLogGroups allows {bad:?}");
    }
}

/// What the bot does with the shared state table (DOCKHAND_STATE_TABLE), and nothing
/// more (the same list as emulator/check_dockhand_template.py's STATE_ACTIONS).
const STATE_ACTIONS: [&str; 5] = [
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

/// A value's text as CloudFormation gives it to a rule or condition: a Number
/// parameter's value is its text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A rule's, condition's or `!If`'s value as CloudFormation computes it, for the
/// functions deploy/dockhand.yaml uses there: `!Ref` of a parameter (its text, from
/// `values` or its default), `!Equals`, `!Not`, `!And`, `!Or`, `!Contains` (a rule's),
/// `!Join` of a list of texts, `!If` and `{Condition: X}`.
fn eval(doc: &Value, v: &Value, values: &[(&str, &str)]) -> Value {
    let truth = |v: Value| {
        v.as_bool()
            .unwrap_or_else(|| panic!("not a boolean: {v:?}"))
    };
    match v {
        Value::Tagged(t) => {
            let args = || t.value.as_sequence().unwrap();
            let arg = |i: usize| eval(doc, &args()[i], values);
            if t.tag == "Ref" {
                let name = t.value.as_str().unwrap();
                let given = values.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
                let default = &doc["Parameters"][name]["Default"];
                Value::String(given.map_or_else(|| text(default), String::from))
            } else if t.tag == "Equals" {
                Value::Bool(arg(0) == arg(1))
            } else if t.tag == "Not" {
                Value::Bool(!truth(arg(0)))
            } else if t.tag == "And" {
                Value::Bool(args().iter().all(|a| truth(eval(doc, a, values))))
            } else if t.tag == "Or" {
                Value::Bool(args().iter().any(|a| truth(eval(doc, a, values))))
            } else if t.tag == "Join" {
                let parts = arg(1);
                let parts = parts.as_sequence().unwrap().iter().map(text);
                Value::String(parts.collect::<Vec<_>>().join(&text(&arg(0))))
            } else if t.tag == "Contains" {
                let list = arg(0);
                Value::Bool(list.as_sequence().unwrap().contains(&arg(1)))
            } else if t.tag == "If" {
                let condition = &doc["Conditions"][args()[0].as_str().unwrap()];
                let branch = if truth(eval(doc, condition, values)) {
                    1
                } else {
                    2
                };
                arg(branch)
            } else {
                panic!("eval: !{} is not modelled", t.tag)
            }
        }
        Value::Mapping(m) if m.len() == 1 && m.contains_key("Condition") => eval(
            doc,
            &doc["Conditions"][m["Condition"].as_str().unwrap()],
            values,
        ),
        Value::Sequence(s) => Value::Sequence(s.iter().map(|x| eval(doc, x, values)).collect()),
        other => other.clone(),
    }
}

/// The AssertDescriptions of deploy/dockhand.yaml's Rules that `values` fail, as
/// CloudFormation checks them before it creates or updates anything. The emulator
/// (moto) evaluates no Rules, so this is where they are tried.
fn refused(doc: &Value, values: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (_, rule) in doc["Rules"].as_mapping().unwrap() {
        if let Some(when) = rule.get("RuleCondition")
            && eval(doc, when, values) != Value::Bool(true)
        {
            continue;
        }
        for assertion in rule["Assertions"].as_sequence().unwrap() {
            if eval(doc, &assertion["Assert"], values) != Value::Bool(true) {
                out.push(text(&assertion["AssertDescription"]));
            }
        }
    }
    out
}

#[test]
fn without_the_shared_state_the_rules_allow_one_bot_at_most() {
    let doc = dockhand();
    let shared = &doc["Parameters"]["SharedState"];
    assert_eq!(shared["Default"].as_str(), Some("true"));
    assert_eq!(strings(&shared["AllowedValues"]), ["true", "false"]);
    let when: Value = serde_yaml::from_str("!Equals [!Ref SharedState, 'true']").unwrap();
    assert_eq!(doc["Conditions"]["HasSharedState"], when);
    // Two bots by default (with the shared state's default); a MaxValue cannot
    // depend on SharedState, a rule can.
    let count = &doc["Parameters"]["DesiredCount"];
    assert_eq!(
        (
            count["Default"].as_u64(),
            count["MinValue"].as_u64(),
            count["MaxValue"].as_u64()
        ),
        (Some(2), Some(0), Some(10))
    );

    let slack = (
        "SlackSecretArn",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockhand/slack-AbCdEf",
    );
    assert_eq!(
        refused(&doc, &[slack]),
        Vec::<String>::new(),
        "the defaults"
    );
    assert_eq!(
        refused(&doc, &[]),
        ["Give SlackSecretArn, DiscordSecretArn or both."],
        "no chat at all"
    );
    for n in ["0", "1", "2", "3", "10"] {
        let got = refused(&doc, &[slack, ("SharedState", "true"), ("DesiredCount", n)]);
        assert!(got.is_empty(), "SharedState=true DesiredCount={n}: {got:?}");
    }
    for n in ["0", "1"] {
        let got = refused(
            &doc,
            &[slack, ("SharedState", "false"), ("DesiredCount", n)],
        );
        assert!(
            got.is_empty(),
            "SharedState=false DesiredCount={n}: {got:?}"
        );
    }
    for n in ["2", "3", "10"] {
        let got = refused(
            &doc,
            &[slack, ("SharedState", "false"), ("DesiredCount", n)],
        );
        assert!(
            got.len() == 1 && got[0].contains("DesiredCount above 1 needs SharedState=true"),
            "SharedState=false DesiredCount={n}: refused with {got:?}"
        );
    }
    // Off, DesiredCount's default (2) is refused, saying what to give.
    let got = refused(&doc, &[slack, ("SharedState", "false")]);
    assert!(
        got.len() == 1 && got[0].contains("Give DesiredCount 1 (or 0)"),
        "SharedState=false with the default DesiredCount: {got:?}"
    );
}

#[test]
fn a_deploy_stops_the_old_bot_first_and_keeps_half_of_the_replicas_answering() {
    let doc = dockhand();
    let service = &doc["Resources"]["Service"]["Properties"];
    let dc = &service["DeploymentConfiguration"];
    let min: Value = serde_yaml::from_str("!If [Replicated, 50, 0]").unwrap();
    let max: Value = serde_yaml::from_str("!If [Replicated, 200, 100]").unwrap();
    assert_eq!(
        (&dc["MinimumHealthyPercent"], &dc["MaximumPercent"]),
        (&min, &max)
    );
    // One bot (DesiredCount 0 or 1, or no shared state): the old one stops before the new
    // one starts, or two would answer. Replicas (the default): half keep answering.
    let cases: [(&[(&str, &str)], _); 7] = [
        (&[], (50, 200)),
        (&[("SharedState", "true"), ("DesiredCount", "1")], (0, 100)),
        (&[("SharedState", "false"), ("DesiredCount", "1")], (0, 100)),
        (&[("SharedState", "true"), ("DesiredCount", "0")], (0, 100)),
        (&[("SharedState", "false"), ("DesiredCount", "2")], (0, 100)),
        (&[("SharedState", "true"), ("DesiredCount", "2")], (50, 200)),
        (
            &[("SharedState", "true"), ("DesiredCount", "10")],
            (50, 200),
        ),
    ];
    for (values, want) in cases {
        let got = (
            eval(&doc, &dc["MinimumHealthyPercent"], values).as_u64(),
            eval(&doc, &dc["MaximumPercent"], values).as_u64(),
        );
        assert_eq!(
            got,
            (Some(want.0), Some(want.1)),
            "{values:?}: Minimum/MaximumPercent"
        );
    }
    let breaker: Value = serde_yaml::from_str("{Enable: true, Rollback: true}").unwrap();
    assert_eq!(dc["DeploymentCircuitBreaker"], breaker);
    assert_eq!(patterns(&service["DesiredCount"]), ["${DesiredCount}"]);
    // Fargate takes no placement strategy and spreads the tasks across the subnets'
    // zones itself: the subnets are asked to span two.
    assert_eq!(service["LaunchType"].as_str(), Some("FARGATE"));
    for key in ["PlacementStrategies", "PlacementConstraints"] {
        assert!(service.get(key).is_none(), "{key} on a Fargate service");
    }
    let subnets = doc["Parameters"]["SubnetIds"]["Description"]
        .as_str()
        .unwrap();
    assert!(
        subnets
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains("in at least two Availability Zones"),
        "SubnetIds: {subnets}"
    );
}

/// Whether each `!Ref X` / `!GetAtt X.Y` / `${X...}` of `name` in a value sits in the
/// true branch of an `!If HasSharedState`.
fn guarded(v: &Value, name: &str, inside: bool, out: &mut Vec<bool>) {
    match v {
        Value::Tagged(t) if t.tag == "If" => {
            let s = t.value.as_sequence().unwrap();
            let on = inside || s[0].as_str() == Some("HasSharedState");
            guarded(&s[1], name, on, out);
            guarded(&s[2], name, inside, out);
        }
        Value::Tagged(t) if t.tag == "Ref" || t.tag == "GetAtt" => {
            let target = t.value.as_str().unwrap_or("");
            if target == name || target.starts_with(&format!("{name}.")) {
                out.push(inside);
            }
        }
        Value::Tagged(t) => guarded(&t.value, name, inside, out),
        Value::String(s) if s.contains(&format!("${{{name}")) => out.push(inside),
        Value::Mapping(m) => m.values().for_each(|v| guarded(v, name, inside, out)),
        Value::Sequence(s) => s.iter().for_each(|v| guarded(v, name, inside, out)),
        _ => {}
    }
}

#[test]
fn the_state_table_is_on_demand_with_ttl_and_recovery_and_exists_only_with_shared_state() {
    let doc = dockhand();
    let tables = resources_of(&doc, "AWS::DynamoDB::Table");
    let [(id, table)] = tables.as_slice() else {
        panic!("one table, found {tables:?}")
    };
    assert_eq!(*id, "StateTable");
    assert_eq!(table["Condition"].as_str(), Some("HasSharedState"));
    // Short-lived state: deleted with the stack, with SharedState=false, on replacement.
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Delete"));
    assert_eq!(table["UpdateReplacePolicy"].as_str(), Some("Delete"));
    let props = &table["Properties"];
    let want: Value = serde_yaml::from_str(
        "BillingMode: PAY_PER_REQUEST\n\
         AttributeDefinitions:\n\
         - {AttributeName: pk, AttributeType: S}\n\
         - {AttributeName: sk, AttributeType: S}\n\
         KeySchema:\n\
         - {AttributeName: pk, KeyType: HASH}\n\
         - {AttributeName: sk, KeyType: RANGE}\n\
         TimeToLiveSpecification: {AttributeName: expires, Enabled: true}\n\
         PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}\n\
         SSESpecification: {SSEEnabled: false}\n",
    )
    .unwrap();
    // Exactly these: no indexes (the grant names the table alone), no stream, no
    // provisioned throughput, no fixed name (CloudFormation makes one).
    assert_eq!(
        *props, want,
        "StateTable: on demand, pk/sk, TTL on expires, PITR, the AWS-owned key"
    );

    // The name reaches the container and the outputs only with SharedState.
    let env =
        &doc["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"];
    let entry = env
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Value::Tagged(t) if t.tag == "If" && t.value[1]["Name"] == "DOCKHAND_STATE_TABLE" => {
                Some(&t.value)
            }
            _ => None,
        })
        .expect("DOCKHAND_STATE_TABLE under an !If");
    assert_eq!(entry[0].as_str(), Some("HasSharedState"));
    assert_eq!(patterns(&entry[1]["Value"]), ["${StateTable}"]);
    assert_eq!(
        patterns(&entry[2]),
        Vec::<String>::new(),
        "AWS::NoValue otherwise"
    );
    let output = &doc["Outputs"]["StateTableName"];
    assert_eq!(output["Condition"].as_str(), Some("HasSharedState"));
    assert_eq!(patterns(&output["Value"]), ["${StateTable}"]);

    // Nothing names the table where it may not exist.
    let mut uses = 0;
    for section in ["Resources", "Outputs"] {
        for (key, item) in doc[section].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            let mut found = Vec::new();
            guarded(item, "StateTable", false, &mut found);
            let conditioned = item["Condition"].as_str() == Some("HasSharedState");
            for ok in &found {
                assert!(
                    *ok || conditioned,
                    "{key} names StateTable outside HasSharedState"
                );
            }
            assert!(
                !strings(&item["DependsOn"]).contains(&"StateTable".to_string()),
                "{key} DependsOn StateTable"
            );
            uses += found.len();
        }
    }
    assert_eq!(uses, 3, "the grant, the variable, the output");
}

#[test]
fn the_bot_may_only_get_put_update_delete_and_query_the_state_tables_items() {
    let doc = dockhand();
    // One statement of the whole template grants DynamoDB.
    let found = granting(&doc, |a| a.starts_with("dynamodb:"));
    let [st] = found.as_slice() else {
        panic!("one DynamoDB statement, found {found:?}")
    };
    assert_eq!(st["Effect"].as_str(), Some("Allow"));
    let mut actions = strings(&st["Action"]);
    actions.sort();
    assert_eq!(actions, STATE_ACTIONS, "exactly the bot's item calls");
    assert_eq!(
        patterns(&st["Resource"]),
        ["${StateTable.Arn}"],
        "the table's ARN alone (no /index/*, no stream, no other table)"
    );
    assert!(st.get("Condition").is_none());

    // It is the task role's one inline policy, there only with SharedState (the
    // whole policy under the !If, so none at all without it).
    let Value::Tagged(policies) = &doc["Resources"]["TaskRole"]["Properties"]["Policies"] else {
        panic!("TaskRole's Policies are not an !If")
    };
    assert!(policies.tag == "If");
    let branches = policies.value.as_sequence().unwrap();
    assert_eq!(branches[0].as_str(), Some("HasSharedState"));
    let on = branches[1].as_sequence().unwrap();
    assert_eq!(on.len(), 1, "one inline policy");
    assert_eq!(on[0]["PolicyName"].as_str(), Some("shared-state"));
    let mut inside = Vec::new();
    statements(&on[0], &mut inside);
    assert!(
        inside.len() == 1 && std::ptr::eq(inside[0], *st),
        "the grant is the shared-state policy's one statement"
    );
    let no_value: Value = serde_yaml::from_str("!Ref AWS::NoValue").unwrap();
    assert_eq!(branches[2], no_value, "no policy without SharedState");
    // Managed policies are the other grants' (a role takes ten by default; they
    // may use them all).
    assert!(
        resources_of(&doc, "AWS::IAM::ManagedPolicy").len() <= 10,
        "more managed policies than a role takes"
    );
    for rtype in ["AWS::IAM::Policy", "AWS::IAM::RolePolicy"] {
        assert!(resources_of(&doc, rtype).is_empty(), "an {rtype}");
    }
}
