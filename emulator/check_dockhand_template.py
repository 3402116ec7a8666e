#!/usr/bin/env python3
"""Checks deploy/dockhand.yaml, the stack dockhand itself runs from.

    emulator/.venv/bin/python emulator/check_dockhand_template.py            # static checks only
    emulator/.venv/bin/python emulator/check_dockhand_template.py URL        # and against a running emulator
    emulator/.venv/bin/python emulator/check_dockhand_template.py --start    # and against a fresh emulator
    ... --template OTHER.yaml                                                # check another file instead

Static (the template as written, every Fn::If branch): no IAM Action has a "*"; no
statement with a changing action (one not named Describe*, List* or Get*) has
Resource "*", nor with a read other than those AWS checks against "*" only
(READ_STAR_ALLOWED); no container environment variable is named like a secret; tokens and
the config come only through `secrets`; the deployment, health check and container
settings the bot depends on (two bots by default, DesiredCount 2 with the shared state;
the deployment stops the old bot first with one bot, 0/100 %, shared state or not, and
keeps half the replicas answering with SharedState and DesiredCount 2 or more, 50/200 %); every parameter
named like a deploy/cluster.yaml output can take that output's value; the apps' logs
are read by one statement of exactly LOG_READS, on the AppLogGroups' ARNs alone
(resolved for sample values), under a condition that drops it when AppLogGroups is
empty, and the parameter takes no pattern of every group; the Rules, evaluated here
because the emulator evaluates none, refuse DesiredCount above 1 with
SharedState=false and take 0-10 with it; the shared state table is on demand, keyed
pk/sk, with TTL on `expires`, PITR and the AWS-owned key, and exists, is granted
(exactly STATE_ACTIONS, on its ARN alone, by the task role's one inline policy) and
reaches the container (DOCKHAND_STATE_TABLE) and the outputs only with SharedState.

Emulator (each scenario in a fresh account): creates a Secrets Manager secret per
chat and the config's SSM parameter, creates deploy/cluster.yaml as stack "cluster"
and deploy/dockhand.yaml as stack "dockhand" with the parameters the cluster's
outputs fill (as `dockhand stack up --parent cluster` does), waits for
CREATE_COMPLETE, and checks the ECS service (its replicas, deployment percentages and
subnets in two zones), its task definition and the IAM policies as created. The full
scenario (Notifications and SharedState on, their defaults, DesiredCount=2) also
checks the state table as created and its grant, the events queue, its dead-letter queue and the EventBridge rules, sends managed and unmanaged
events and checks which reach the queue, the logs grant on AppLogGroups' default
(the cluster's LogGroupName among it), then deploys the bot the way it deploys
itself (UpdateStack, UsePreviousTemplate, Version=v2); the second has
Notifications=false, AppLogGroups empty, SharedState=false and DesiredCount=1, and
checks that no queue, rule, logs grant, table, state grant or DOCKHAND_STATE_TABLE
exists and that the one bot's deployment is 0/100 %; the third gives only Image and
SlackSecretArn and checks that the defaults run two bots at 50/200 %, with the shared
state on, before and after a self-deploy. The emulator (moto) leaves out
a template's TimeToLiveSpecification and PointInTimeRecoverySpecification, and
evaluates no Rules: those are checked statically only.

Prints one line per check and exits non-zero when any fails.
"""

from __future__ import annotations

import ast
import json
import random
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCKHAND_YAML = ROOT / "deploy/dockhand.yaml"
CLUSTER_YAML = ROOT / "deploy/cluster.yaml"

# Actions whose names start so only read.
READ_PREFIXES = ("Describe", "List", "Get")
# Changing actions allowed on Resource "*", each with the reason AWS forces it.
# Empty: ecs:RegisterTaskDefinition takes the task-definition resource type (AWS's
# policy data in cfn-lint 1.58.0, data/AdditionalSpecs/Policies.json), so the
# template scopes it to the managed families like every other changing action.
STAR_RESOURCE_ALLOWED: dict[str, str] = {}
# Reads allowed on Resource "*", each with the reason (the same list as
# tests/templates.rs): every other read names what it reads.
READ_STAR_ALLOWED: dict[str, str] = {
    "ecr:GetAuthorizationToken": "no resource-level permissions",
    "ecs:ListClusters": "no resource-level permissions",
    "ecs:ListTaskDefinitions": "no resource-level permissions",
    "ecs:DescribeTaskDefinition": "no resource-level permissions",
    "ecs:ListTasks": "checked against * for a cluster's tasks; scoped by its ecs:cluster condition",
    "cloudformation:DescribeStacks": "`!stacks` names no stack, which only a grant on every stack allows",
}
# dockhand's own list of names whose values it never shows (config.rs DEFAULT_SECRET_NAMES).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL", re.IGNORECASE)
# The cluster stack's outputs that `stack up --parent cluster` fills dockhand's parameters from.
FROM_CLUSTER = ("ClusterName", "LogGroupName", "SubnetIds", "SecurityGroupId", "VpcId")
TOKENS = {"SLACK_BOT_TOKEN": "SlackSecretArn", "SLACK_APP_TOKEN": "SlackSecretArn", "DISCORD_TOKEN": "DiscordSecretArn"}
# What `logs <app>` may do with the AppLogGroups, and nothing more (the same list as
# tests/templates.rs).
LOG_READS = ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents", "logs:StartLiveTail"]

results: list[tuple[bool, str, str]] = []


def record(ok: bool, name: str, detail: str = "") -> None:
    results.append((ok, name, detail))
    print(f"{'ok  ' if ok else 'FAIL'}  {name}{'  ' + detail if detail else ''}", flush=True)


def run(name: str, fn: Callable[[], str | None]) -> None:
    try:
        note = fn()
        record(True, name, note or "")
    except AssertionError as e:
        record(False, name, str(e))
    except Exception as e:  # noqa: BLE001 - report and carry on with the other checks
        record(False, name, f"{type(e).__name__}: {e}")


def check(cond: Any, message: str) -> None:
    if not cond:
        raise AssertionError(message)


# --- static checks ------------------------------------------------------------------

def load(path: Path) -> dict:
    """The template with !Sub/!Ref/... as Fn:: dicts (cfn-lint's loader keeps line numbers)."""
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(path))


def line(node: Any) -> str:
    mark = getattr(node, "start_mark", None)
    return f"line {mark.line + 1}" if mark is not None else "?"


def branches(node: Any) -> Iterator[Any]:
    """Every value a node can take: both sides of each Fn::If, AWS::NoValue left out."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        _, yes, no = node["Fn::If"]
        yield from branches(yes)
        yield from branches(no)
    elif isinstance(node, dict) and node.get("Ref") == "AWS::NoValue":
        return
    else:
        yield node


def as_list(node: Any) -> list[Any]:
    out: list[Any] = []
    for value in branches(node):
        if isinstance(value, list):
            for item in value:
                out.extend(branches(item))
        else:
            out.append(value)
    return out


def policy_documents(template: dict) -> Iterator[tuple[str, Any, bool]]:
    """(where, document, is_trust_policy) of every IAM policy in the template."""
    for logical, resource in template["Resources"].items():
        rtype, props = resource.get("Type"), resource.get("Properties") or {}
        if rtype == "AWS::IAM::Role":
            if "AssumeRolePolicyDocument" in props:
                yield f"{logical} trust policy", props["AssumeRolePolicyDocument"], True
            for policy in as_list(props.get("Policies", [])):
                yield f"{logical} policy {policy.get('PolicyName')}", policy["PolicyDocument"], False
        elif rtype in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield f"{logical}", props["PolicyDocument"], False


def statements(document: Any) -> Iterator[dict]:
    for doc in branches(document):
        for statement in as_list(doc.get("Statement", [])):
            yield statement


def is_changing(action: str) -> bool:
    return not action.split(":", 1)[-1].startswith(READ_PREFIXES)


def static_iam(template: dict) -> str:
    problems, count = [], 0
    for where, document, trust in policy_documents(template):
        for st in statements(document):
            count += 1
            label = f"{where} {st.get('Sid', '')} ({line(st)})".replace("  ", " ")
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in st:
                    problems.append(f"{label}: uses {key}")
            actions = [a for a in as_list(st.get("Action", [])) if isinstance(a, str)]
            if not actions:
                problems.append(f"{label}: no literal Action")
            for a in actions:
                if "*" in a:
                    problems.append(f"{label}: Action {a!r} has a wildcard")
            if trust:
                continue
            resources = as_list(st.get("Resource", []))
            if not resources:
                problems.append(f"{label}: no Resource")
            star = any(r == "*" for r in resources)
            for a in actions:
                if star and is_changing(a) and a not in STAR_RESOURCE_ALLOWED:
                    problems.append(f"{label}: changing action {a} on Resource \"*\"")
                if star and not is_changing(a) and a not in READ_STAR_ALLOWED:
                    problems.append(f"{label}: read {a} on Resource \"*\" (scope it, or say in READ_STAR_ALLOWED why AWS needs \"*\")")
    check(not problems, "; ".join(problems))
    return f"{count} statements: no wildcard action, no changing action and no scopable read on Resource \"*\""


def containers(template: dict) -> list[tuple[str, dict]]:
    out = []
    for logical, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::ECS::TaskDefinition":
            for c in as_list(resource["Properties"].get("ContainerDefinitions", [])):
                out.append((logical, c))
    return out


def static_environment(template: dict) -> str:
    problems, names = [], []
    for logical, c in containers(template):
        for env in as_list(c.get("Environment", [])):
            name = env.get("Name")
            names.append(str(name))
            if not isinstance(name, str) or SECRET_NAME.search(name):
                problems.append(f"{logical} environment {name!r} ({line(env)}) is named like a secret")
            value = json.dumps(env.get("Value"))
            if re.search(r"xox[abp]-|xapp-", value):
                problems.append(f"{logical} environment {name!r} holds a Slack token")
    check(names, "no environment entries found (is the template shape right?)")
    check(not problems, "; ".join(problems))
    return "environment: " + ", ".join(names)


def static_secrets(template: dict) -> str:
    (_, c), = containers(template)
    secrets = {s["Name"]: s["ValueFrom"] for s in as_list(c.get("Secrets", []))}
    for token, parameter in TOKENS.items():
        check(token in secrets, f"no secret {token}")
        sub = secrets[token].get("Fn::Sub") if isinstance(secrets[token], dict) else None
        check(sub == f"${{{parameter}}}:{token}::", f"{token} is not read from {parameter}'s JSON key: {secrets[token]!r}")
    config = secrets.get("DOCKHAND_CONFIG_TOML")
    check(isinstance(config, dict) and ":parameter${ConfigParameterName}" in str(config.get("Fn::Sub")),
          f"DOCKHAND_CONFIG_TOML does not come from the SSM parameter: {config!r}")
    return "secrets: " + ", ".join(secrets)


def static_container(template: dict) -> str:
    (_, c), = containers(template)
    check(c.get("User") not in (None, "0", "root") and not str(c.get("User")).startswith("0:"), f"User {c.get('User')!r}")
    check(c.get("ReadonlyRootFilesystem") is True, "ReadonlyRootFilesystem is not true")
    check(c.get("Privileged") in (None, False), "Privileged")
    hc = c.get("HealthCheck") or {}
    check(hc.get("Command") == ["CMD", "/dockhand", "healthcheck"], f"health check {hc.get('Command')}")
    check((hc.get("Interval"), hc.get("Timeout"), hc.get("Retries"), hc.get("StartPeriod")) == (15, 5, 3, 30),
          f"health check timing {hc}")
    check(c.get("StopTimeout") == 40, f"StopTimeout {c.get('StopTimeout')}")
    log = c.get("LogConfiguration") or {}
    check(log.get("LogDriver") == "awslogs" and log["Options"].get("awslogs-stream-prefix") == "dockhand"
          and log["Options"].get("awslogs-group") == {"Ref": "LogGroupName"}, f"log configuration {log}")
    ports = [p.get("ContainerPort") for p in as_list(c.get("PortMappings", []))]
    check(ports == [{"Ref": "MetricsPort"}], f"port mappings {ports}")
    return "non-root, read-only root, health check, StopTimeout 40, awslogs, metrics port"


def static_service(template: dict) -> str:
    (svc,) = [r["Properties"] for r in template["Resources"].values() if r.get("Type") == "AWS::ECS::Service"]
    dc = svc["DeploymentConfiguration"]
    # With one bot a deploy stops the old one before it starts the new one, or two
    # would answer; with replicas (shared state, 2 or more) it keeps half answering.
    for values, want in (({}, (50, 200)),  # the defaults: two bots, shared state
                         ({"SharedState": "true", "DesiredCount": "1"}, (0, 100)),
                         ({"SharedState": "false", "DesiredCount": "1"}, (0, 100)),
                         ({"SharedState": "true", "DesiredCount": "0"}, (0, 100)),
                         ({"SharedState": "false", "DesiredCount": "2"}, (0, 100)),  # refused by the rule anyway
                         ({"SharedState": "true", "DesiredCount": "2"}, (50, 200)),
                         ({"SharedState": "true", "DesiredCount": "10"}, (50, 200))):
        got = tuple(resolve(dc.get(k), template, values) for k in ("MinimumHealthyPercent", "MaximumPercent"))
        check(got == want, f"{values or 'defaults'}: Minimum/MaximumPercent {got}, want {want}")
    check(dc.get("DeploymentCircuitBreaker") == {"Enable": True, "Rollback": True}, "circuit breaker with rollback")
    check(svc.get("EnableExecuteCommand") is False, "EnableExecuteCommand is not false")
    check(svc.get("LaunchType") == "FARGATE", "not Fargate")
    # Fargate takes no placement strategy or constraint; it spreads tasks across the
    # subnets' zones itself, so the subnets are asked to span two zones.
    check(not {"PlacementStrategies", "PlacementConstraints"} & set(svc), "placement settings on a Fargate service")
    check("two Availability Zones" in " ".join(str(template["Parameters"]["SubnetIds"]["Description"]).split()),
          "SubnetIds' description does not ask for subnets in two Availability Zones")
    net = svc["NetworkConfiguration"]["AwsvpcConfiguration"]
    check(net.get("AssignPublicIp") == {"Ref": "AssignPublicIp"}, "AssignPublicIp is not the parameter")
    check(template["Parameters"]["AssignPublicIp"].get("Default") == "DISABLED", "AssignPublicIp default")
    count = template["Parameters"]["DesiredCount"]
    check((count.get("Default"), count.get("MinValue"), count.get("MaxValue")) == (2, 0, 10),
          f"DesiredCount default/min/max {count.get('Default')}/{count.get('MinValue')}/{count.get('MaxValue')}, want 2/0/10")
    check(svc.get("DesiredCount") == {"Ref": "DesiredCount"}, f"DesiredCount {svc.get('DesiredCount')}")
    return ("0/100 % with one bot (shared state or not), 50/200 % with SharedState and 2 or more (the default 2), "
            "circuit breaker with rollback, no ECS Exec, Fargate, 2 bots by default (0-10)")


def rules_refuse(template: dict, values: dict[str, Any]) -> list[str]:
    """The AssertDescriptions of the template's Rules that the values fail, as
    CloudFormation checks them before it creates or updates anything."""
    refused = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not resolve(rule["RuleCondition"], template, values):
            continue
        for assertion in rule["Assertions"]:
            if resolve(assertion["Assert"], template, values) is not True:
                refused.append(" ".join(str(assertion["AssertDescription"]).split()))
    return refused


def static_rules(template: dict) -> str:
    """The emulator (moto) evaluates no Rules: what they refuse is checked here."""
    chat = {"SlackSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dockhand/slack-AbCdEf"}
    check(rules_refuse(template, chat) == [], f"the defaults are refused: {rules_refuse(template, chat)}")
    check(rules_refuse(template, {}) == ["Give SlackSecretArn, DiscordSecretArn or both."],
          f"no chat: {rules_refuse(template, {})}")
    for shared, counts in (("true", ["0", "1", "2", "3", "10"]), ("false", ["0", "1"])):
        for n in counts:
            got = rules_refuse(template, {**chat, "SharedState": shared, "DesiredCount": n})
            check(got == [], f"SharedState={shared} DesiredCount={n} refused: {got}")
    for n in ["2", "3", "10"]:
        got = rules_refuse(template, {**chat, "SharedState": "false", "DesiredCount": n})
        check(len(got) == 1 and "DesiredCount above 1 needs SharedState=true" in got[0],
              f"SharedState=false DesiredCount={n}: refused with {got}")
    # The default DesiredCount (2) needs the shared state: off, it is refused.
    got = rules_refuse(template, {**chat, "SharedState": "false"})
    check(len(got) == 1 and "Give DesiredCount 1" in got[0], f"SharedState=false with DesiredCount's default: {got}")
    return "SharedState=false refuses DesiredCount 2, 3, 10 and the default 2, takes 0, 1; true takes 0-10; a chat is required"


# What the bot does with the shared state table, and nothing more (the same list as
# tests/templates.rs).
STATE_ACTIONS = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]


def guarded_references(node: Any, name: str, guarded: bool = False) -> Iterator[bool]:
    """For each Ref or GetAtt of `name` in a node: whether it sits in the true branch
    of an Fn::If on HasSharedState."""
    if isinstance(node, list):
        for item in node:
            yield from guarded_references(item, name, guarded)
    elif isinstance(node, dict):
        if node.get("Ref") == name or (isinstance(node.get("Fn::GetAtt"), list) and node["Fn::GetAtt"][0] == name):
            yield guarded
        elif "Fn::Sub" in node and f"${{{name}" in json.dumps(node["Fn::Sub"]):
            yield guarded
        elif set(node) == {"Fn::If"}:
            condition, yes, no = node["Fn::If"]
            yield from guarded_references(yes, name, guarded or condition == "HasSharedState")
            yield from guarded_references(no, name, guarded)
        else:
            for value in node.values():
                yield from guarded_references(value, name, guarded)


def static_state(template: dict) -> str:
    params, conditions = template["Parameters"], template["Conditions"]
    check(params["SharedState"].get("Default") == "true" and params["SharedState"].get("AllowedValues") == ["true", "false"],
          f"SharedState {params['SharedState']}")
    check(conditions.get("HasSharedState") == {"Fn::Equals": [{"Ref": "SharedState"}, "true"]},
          f"HasSharedState {conditions.get('HasSharedState')}")
    tables = [(k, r) for k, r in template["Resources"].items() if r.get("Type") == "AWS::DynamoDB::Table"]
    check([k for k, _ in tables] == ["StateTable"], f"tables {[k for k, _ in tables]}, want StateTable")
    (_, table), = tables
    props = table["Properties"]
    check(table.get("Condition") == "HasSharedState", f"StateTable's Condition {table.get('Condition')}")
    check(table.get("DeletionPolicy") == "Delete" and table.get("UpdateReplacePolicy") == "Delete",
          f"StateTable Deletion/UpdateReplacePolicy {table.get('DeletionPolicy')}/{table.get('UpdateReplacePolicy')}")
    check(props.get("BillingMode") == "PAY_PER_REQUEST" and "ProvisionedThroughput" not in props, f"billing {props.get('BillingMode')}")
    check(props.get("KeySchema") == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
          f"key schema {props.get('KeySchema')}")
    check(props.get("AttributeDefinitions") == [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
          f"attribute definitions {props.get('AttributeDefinitions')}")
    check(props.get("TimeToLiveSpecification") == {"AttributeName": "expires", "Enabled": True},
          f"TTL {props.get('TimeToLiveSpecification')}")
    check(props.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True},
          f"point-in-time recovery {props.get('PointInTimeRecoverySpecification')}")
    # SSEEnabled false: DynamoDB's AWS-owned key (every table is encrypted at rest).
    check(props.get("SSESpecification") == {"SSEEnabled": False}, f"SSE {props.get('SSESpecification')}")
    for extra in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification", "TableName",
                  "KinesisStreamSpecification", "ResourcePolicy"):
        check(extra not in props, f"StateTable has {extra}")

    # One statement, anywhere, grants DynamoDB: the task role's, exactly the five
    # actions, on the table's ARN alone, and only with SharedState.
    grants = [(where, st) for where, document, _ in policy_documents(template) for st in statements(document)
              if any(str(a).startswith("dynamodb:") for a in as_list(st.get("Action", [])))]
    check([w for w, _ in grants] == ["TaskRole policy shared-state"], f"dynamodb statements in {[w for w, _ in grants]}")
    (_, st), = grants
    check(st.get("Effect") == "Allow" and sorted(as_list(st["Action"])) == STATE_ACTIONS,
          f"state grant {st.get('Effect')} {sorted(as_list(st['Action']))}, want {STATE_ACTIONS}")
    check(st.get("Resource") == {"Fn::GetAtt": ["StateTable", "Arn"]}, f"state grant on {st.get('Resource')}")
    check("Condition" not in st, f"state grant condition {st.get('Condition')}")
    role = template["Resources"]["TaskRole"]["Properties"]
    on = resolve(role.get("Policies"), template, {"SharedState": "true"})
    off = resolve(role.get("Policies"), template, {"SharedState": "false"})
    check([pol["PolicyName"] for pol in on] == ["shared-state"], f"TaskRole's Policies with SharedState: {on}")
    check(off is NO_VALUE, f"TaskRole's Policies without SharedState: {off} (want AWS::NoValue, no policy)")

    # The table's name reaches the container, and the outputs, only with SharedState.
    (_, c), = containers(template)
    env_on = {e["Name"]: e["Value"] for e in resolve(c["Environment"], template, {"SharedState": "true"})}
    env_off = {e["Name"]: e["Value"] for e in resolve(c["Environment"], template, {"SharedState": "false"})}
    check(env_on.get("DOCKHAND_STATE_TABLE") == "<StateTable>", f"DOCKHAND_STATE_TABLE {env_on.get('DOCKHAND_STATE_TABLE')}")
    check("DOCKHAND_STATE_TABLE" not in env_off, "DOCKHAND_STATE_TABLE without SharedState")
    output = template["Outputs"].get("StateTableName", {})
    check(output.get("Condition") == "HasSharedState" and output.get("Value") == {"Ref": "StateTable"}, f"output {output}")
    # Nothing else names the table outside the condition (it may not exist).
    for logical, resource in template["Resources"].items():
        for ok in guarded_references(resource, "StateTable"):
            check(ok or resource.get("Condition") == "HasSharedState", f"{logical} names StateTable outside HasSharedState")
        check("StateTable" not in as_list(resource.get("DependsOn", [])), f"{logical} DependsOn StateTable")
    for key, out in template["Outputs"].items():
        for ok in guarded_references(out, "StateTable"):
            check(ok or out.get("Condition") == "HasSharedState", f"output {key} names StateTable outside HasSharedState")
    return ("StateTable (on demand, pk/sk, TTL on expires, PITR, AWS-owned key, Delete) with SharedState only; "
            f"TaskRole shared-state: {', '.join(STATE_ACTIONS)} on its ARN alone; DOCKHAND_STATE_TABLE and output likewise")


def static_parameters(template: dict, cluster: dict) -> str:
    params, outputs = template["Parameters"], cluster["Outputs"]
    for name in FROM_CLUSTER:
        check(name in outputs, f"deploy/cluster.yaml has no output {name}")
        check(name in params, f"no parameter {name} for the cluster output")
        check("Default" not in params[name], f"{name} has a default: a missing parent would go unnoticed")
    check(params["SubnetIds"]["Type"] == "CommaDelimitedList", "SubnetIds takes the comma-separated output")
    for name in ("ManagedClusterNames", "ManagedStackNames", "ManagedTaskFamilies", "AppRoleArns", "AssumeRoleArns"):
        check(params[name]["Type"] == "CommaDelimitedList" and params[name].get("Default") == "", f"{name}: optional list")
    for name in ("SlackSecretArn", "DiscordSecretArn"):
        check(params[name].get("Default") == "", f"{name} is not optional")
    return ", ".join(FROM_CLUSTER) + " from the cluster's outputs"


PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
NO_VALUE = object()  # what `Ref AWS::NoValue` resolves to: dropped from lists and maps


def resolve(node: Any, template: dict, values: dict[str, Any]) -> Any:
    """A value as CloudFormation makes it, for the intrinsics the grants, the
    service and the rules use (Ref, Condition, Fn::If/Sub/Join/Split/Not/Equals/
    And/Or/Contains; Fn::GetAtt as `<Name.Attribute>`); parameters from `values`,
    else their defaults (a CommaDelimitedList as a list), else `<Name>`, which
    shows in what it resolves to."""
    def param(name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in template["Resources"]:
            return f"<{name}>"
        spec = template["Parameters"][name]
        value = values.get(name, spec.get("Default", f"<{name}>"))
        return str(value).split(",") if spec["Type"] == "CommaDelimitedList" else str(value)

    def sub(text: str, names: dict[str, Any]) -> str:
        def one(m: re.Match) -> str:
            key = m.group(1)
            value = names[key] if key in names else param(key)
            check(isinstance(value, str), f"${{{key}}} is a list in a Sub")
            return value
        return re.sub(r"\$\{([A-Za-z0-9:._]+)\}", one, text)

    def r(n: Any) -> Any:
        if isinstance(n, list):
            return [x for x in (r(x) for x in n) if x is not NO_VALUE]
        if not isinstance(n, dict):
            return n
        if len(n) != 1:
            return {k: v for k, v in ((k, r(v)) for k, v in n.items()) if v is not NO_VALUE}
        (fn, arg), = n.items()
        if fn == "Ref":
            return NO_VALUE if arg == "AWS::NoValue" else param(arg)
        if fn == "Fn::GetAtt":
            return "<{}>".format(".".join(arg) if isinstance(arg, list) else arg)
        if fn == "Condition":
            return r(template["Conditions"][arg])
        if fn == "Fn::If":
            return r(arg[1] if r({"Condition": arg[0]}) else arg[2])
        # A rule's: whether the string is one of the list's.
        if fn == "Fn::Contains":
            return r(arg[1]) in r(arg[0])
        if fn == "Fn::Join":
            return str(arg[0]).join(r(arg[1]))
        if fn == "Fn::Split":
            return r(arg[1]).split(str(arg[0]))
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], {k: r(v) for k, v in arg[1].items()})
            return sub(text, names)
        if fn == "Fn::Not":
            return not r(arg[0])
        if fn == "Fn::Equals":
            return r(arg[0]) == r(arg[1])
        if fn == "Fn::And":
            return all(r(x) for x in arg)
        if fn == "Fn::Or":
            return any(r(x) for x in arg)
        if fn.startswith("Fn::"):
            raise AssertionError(f"resolve: {fn} is not modelled")
        value = r(arg)
        return {} if value is NO_VALUE else {fn: value}

    return r(node)


def log_grants(template: dict) -> list[tuple[str, dict]]:
    """(logical id, statement) of every statement with a `logs:` action, anywhere."""
    out = []
    for where, document, _ in policy_documents(template):
        for st in statements(document):
            if any(str(a).startswith("logs:") for a in as_list(st.get("Action", []))):
                out.append((where, st))
    return out


def static_app_logs(template: dict, cluster: dict) -> str:
    param = template["Parameters"]["AppLogGroups"]
    # A String the template splits: the emulator (moto) leaves a CommaDelimitedList's
    # Default unsplit, and this one's Default is not empty.
    check(param["Type"] == "String", f"AppLogGroups is {param['Type']}")
    # The default: deploy/cluster.yaml's log group of the clusters ManagedPrefix's
    # default manages (the cluster named like it, and the clusters named it-*).
    group = cluster["Resources"]["LogGroup"]["Properties"]["LogGroupName"]
    check(group == {"Fn::Sub": "/dockhand/${ClusterName}"}, f"deploy/cluster.yaml's log group is named {group}")
    prefix = template["Parameters"]["ManagedPrefix"]["Default"]
    want_default = [f"/dockhand/{prefix}", f"/dockhand/{prefix}-*"]
    check(str(param.get("Default")).split(",") == want_default, f"AppLogGroups default {param.get('Default')!r}, want {want_default}")
    # Each item exact, or a name ending in `-*`; never a pattern of every group.
    pattern = re.compile(param["AllowedPattern"])
    check(param["AllowedPattern"].startswith("^") and param["AllowedPattern"].endswith("$"), "AllowedPattern not anchored")
    for ok in [param["Default"], "", "/aws/ecs/hubot", "/dockhand/apps-web.v2#1", "/dockhand/apps,/aws/ecs/web"]:
        check(pattern.match(ok), f"AppLogGroups refuses {ok!r}")
    for bad in ["*", "/*", "-*", "/dockhand/*", "/dockhand/apps*", "/dockhand/-*", "apps--*", "a-*-b", "a?", "a:b",
                "x:*", "a b", "/dockhand/apps,*", "/dockhand/apps,", ",/dockhand/apps", "a,,b", "a, b"]:
        check(not pattern.match(bad), f"AppLogGroups allows {bad!r}")

    # One statement reads logs for the bot, in a policy of the task role's own.
    grants = log_grants(template)
    task = [(where, st) for where, st in grants if not where.startswith("ExecutionRole")]
    check(len(task) == 1, f"logs statements of the task role: {[w for w, _ in task]}, want one")
    (where, st), = task
    resource = template["Resources"][where]
    check(resource["Type"] == "AWS::IAM::ManagedPolicy" and resource["Properties"]["Roles"] == [{"Ref": "TaskRole"}],
          f"{where} is not a managed policy of the task role alone")
    actions = sorted(as_list(st["Action"]))
    check(actions == LOG_READS, f"{where} grants {actions}, want exactly {LOG_READS}")
    check(st.get("Effect") == "Allow" and "Condition" in st, f"{where}: {st}")
    # The execution role writes the bot's own logs and nothing else of them.
    for w, s in grants:
        if w.startswith("ExecutionRole"):
            check(sorted(as_list(s["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"], f"{w}: {s['Action']}")

    # As CloudFormation resolves it: the groups given and only them, both ARN forms,
    # pinned to the region; no statement at all when the list is empty.
    condition = resource.get("Condition")
    check(condition, f"{where} has no Condition: it would exist without AppLogGroups")
    arn = "arn:*:logs:*:*:log-group:"
    cases = {
        "/dockhand/apps": [arn + "/dockhand/apps", arn + "/dockhand/apps:*"],
        "/dockhand/apps,/dockhand/apps-*,/aws/ecs/web": [
            arn + "/dockhand/apps", arn + "/dockhand/apps-*", arn + "/aws/ecs/web",
            arn + "/dockhand/apps:*", arn + "/dockhand/apps-*:*", arn + "/aws/ecs/web:*"],
    }
    for value, want in cases.items():
        values = {"AppLogGroups": value}
        check(resolve({"Condition": condition}, template, values) is True, f"{condition} false for {value!r}")
        got = resolve(st["Resource"], template, values)
        check(got == want, f"AppLogGroups={value!r}: resources {got}, want {want}")
        check(not any(r.endswith(("log-group:*", "log-group:")) for r in got), f"every group: {got}")
        region = resolve(st["Condition"], template, values)
        check(region == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, f"{where} condition {region}")
    check(resolve({"Condition": condition}, template, {"AppLogGroups": ""}) is False,
          f"{condition} holds with AppLogGroups empty: the grant would stay")
    # No other resource of the template depends on the logs grant being there.
    for logical, other in template["Resources"].items():
        check(where not in json.dumps(other.get("DependsOn", [])), f"{logical} depends on {where}")
    return f"{where} {st.get('Sid')}: {', '.join(LOG_READS)} on AppLogGroups only (default {','.join(want_default)}), none when empty"


# --- against the emulator -----------------------------------------------------------

class Account:
    """boto3 clients for a fresh emulator account."""

    def __init__(self, url: str, rollout: float = 0.4) -> None:
        import boto3
        from botocore.config import Config

        self.url = url
        self.id = str(random.randint(100_000_000_000, 999_999_999_999))
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        for name in ("cloudformation", "ecs", "iam", "secretsmanager", "ssm", "sqs", "events", "dynamodb", "ec2"):
            client = session.client(name, endpoint_url=url, config=config)
            client.meta.events.register("before-sign", self._header)
            setattr(self, name.replace("cloudformation", "cfn"), client)
        self.control("POST", "/_dockhand/config", {"rollout_seconds": rollout})

    def _header(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.id

    def control(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"content-type": "application/json", "x-moto-account-id": self.id})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode() or "null")

    def stack(self, name: str) -> dict:
        return self.cfn.describe_stacks(StackName=name)["Stacks"][0]

    def wait_stack(self, name: str, ok: str, timeout: float = 30) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.stack(name)
            if s["StackStatus"] == ok:
                return s
            if s["StackStatus"].endswith(("FAILED", "ROLLBACK_COMPLETE")):
                events = [f"{e['LogicalResourceId']} {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
                          for e in self.cfn.describe_stack_events(StackName=name)["StackEvents"][:6]]
                raise AssertionError(f"{name}: {s['StackStatus']}: " + " | ".join(events))
            time.sleep(0.1)
        raise AssertionError(f"{name} not {ok} after {timeout} s")

    def settled(self, cluster: str, name: str, timeout: float = 20) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]
            d = s["deployments"]
            if len(d) == 1 and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == s["desiredCount"]:
                return s
            time.sleep(0.1)
        raise AssertionError(f"service {name} did not settle in {timeout} s")

    def resources(self, stack: str) -> dict[str, str]:
        return {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in self.cfn.describe_stack_resources(StackName=stack)["StackResources"]}

    def role_policy(self, role: str, policy: str) -> dict:
        doc = self.iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        if isinstance(doc, str):  # moto answers a Role's inline Policies as Python repr text
            doc = json.loads(doc) if doc.lstrip().startswith("{\"") else ast.literal_eval(doc)
        return doc

    def managed_policy(self, arn: str) -> dict:
        version = self.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        doc = self.iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def parent_parameters(template: dict, parent_outputs: dict[str, str], explicit: dict[str, str]) -> list[dict]:
    """What `dockhand stack up --parent cluster` passes: the parent's outputs the template
    declares as parameters, then the explicit values (which win)."""
    values = {k: v for k, v in parent_outputs.items() if k in template["Parameters"]}
    values.update(explicit)
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def live_statements(doc: dict) -> tuple[list[dict], int]:
    """The statements, without the nulls the emulator leaves for AWS::NoValue."""
    raw = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    kept = [s for s in raw if s is not None]
    return kept, len(raw) - len(kept)


def listify(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def by_sid(statements: list[dict]) -> dict[str, dict]:
    return {s.get("Sid", f"#{i}"): s for i, s in enumerate(statements)}


def emulator_scenario(url: str, full: bool) -> str:
    template, cluster_template = load(DOCKHAND_YAML), load(CLUSTER_YAML)
    a = Account(url)
    slack = a.secretsmanager.create_secret(
        Name="dockhand/slack", SecretString=json.dumps({"SLACK_BOT_TOKEN": "slack-bot-token-test", "SLACK_APP_TOKEN": "slack-app-token-test"}))["ARN"]
    discord = a.secretsmanager.create_secret(
        Name="dockhand/discord", SecretString=json.dumps({"DISCORD_TOKEN": "discord-test"}))["ARN"] if full else ""
    a.ssm.put_parameter(Name="/dockhand/config", Type="String", Value='prefix = "!"\n[environments.prod]\n')
    config_arn = f"arn:aws:ssm:us-east-1:{a.id}:parameter/dockhand/config"

    a.cfn.create_stack(StackName="cluster", TemplateBody=CLUSTER_YAML.read_text(), Capabilities=["CAPABILITY_IAM"])
    cluster = outputs(a.wait_stack("cluster", "CREATE_COMPLETE"))
    explicit = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dockhand", "Version": "v1",
                "SlackSecretArn": slack, "ConfigParameterName": "/dockhand/config"}
    app_roles = [f"arn:aws:iam::{a.id}:role/hubot-task", f"arn:aws:iam::{a.id}:role/hubot-execution"]
    assume_roles = ["arn:aws:iam::111111111111:role/dockhand"]
    if full:
        explicit.update(DiscordSecretArn=discord, ManagedClusterNames="apps,staging", ManagedStackNames="hubot,web",
                        ManagedTaskFamilies="hubot", AppRoleArns=",".join(app_roles), AssumeRoleArns=",".join(assume_roles),
                        AlarmNames="api-5xx,db cpu", DesiredCount="2")  # Notifications, SharedState: their defaults
    else:
        # SharedState off needs DesiredCount 0 or 1 (the rule; moto evaluates none).
        explicit.update(ManagedPrefix="", SelfManaged="false", Notifications="false", AppLogGroups="",
                        SharedState="false", DesiredCount="1")
    parameters = parent_parameters(template, cluster, explicit)
    filled = sorted(p["ParameterKey"] for p in parameters if p["ParameterKey"] in cluster)
    check(filled == sorted(FROM_CLUSTER), f"filled from the cluster: {filled}")
    a.cfn.create_stack(StackName="dockhand", TemplateBody=DOCKHAND_YAML.read_text(), Parameters=parameters,
                       Capabilities=["CAPABILITY_IAM"])
    stack = a.wait_stack("dockhand", "CREATE_COMPLETE")
    out = outputs(stack)
    want_outputs = {"ServiceName", "ServiceArn", "TaskRoleArn", "TaskDefinitionArn"}
    if full:
        want_outputs |= {"EventsQueueUrl", "EventsQueueArn", "EventsDeadLetterQueueArn", "StateTableName"}
    check(set(out) == want_outputs, f"outputs {sorted(out)}, want {sorted(want_outputs)}")
    res = a.resources("dockhand")

    # The service: on the stack's revision, two replicas that a deploy keeps answering
    # (shared state, DesiredCount=2: 50/200 %), or one stopped before its replacement
    # (0/100 %), breaker, the cluster's subnets, its own security group.
    replicas, percents = (2, (50, 200)) if full else (1, (0, 100))
    svc = a.settled(cluster["ClusterName"], out["ServiceName"])
    check(svc["serviceArn"] == out["ServiceArn"] and svc["status"] == "ACTIVE", f"service {svc['serviceArn']} {svc['status']}")
    check(svc["taskDefinition"] == out["TaskDefinitionArn"], f"service runs {svc['taskDefinition']}, stack says {out['TaskDefinitionArn']}")
    check(svc["launchType"] == "FARGATE" and svc["desiredCount"] == replicas and svc["runningCount"] == replicas,
          f"launch type {svc['launchType']}, {svc['runningCount']}/{svc['desiredCount']}, want {replicas}")
    dc = svc["deploymentConfiguration"]
    check((dc.get("minimumHealthyPercent"), dc.get("maximumPercent")) == percents, f"deployment configuration {dc}, want {percents}")
    check(dc.get("deploymentCircuitBreaker") == {"enable": True, "rollback": True}, f"circuit breaker {dc}")
    net = svc["networkConfiguration"]["awsvpcConfiguration"]
    check(net["subnets"] == cluster["SubnetIds"].split(","), f"subnets {net['subnets']}")
    # Fargate spreads the replicas across the subnets' zones: the cluster's are in two.
    zones = {s["AvailabilityZone"] for s in a.ec2.describe_subnets(SubnetIds=net["subnets"])["Subnets"]}
    check(len(zones) >= 2, f"the service's subnets are in {sorted(zones)}: the replicas would share a zone")
    check(net["securityGroups"] == [res["SecurityGroup"]], f"security groups {net['securityGroups']}")
    check(net["assignPublicIp"] == "DISABLED", f"assignPublicIp {net['assignPublicIp']}")

    # The task definition: secrets by valueFrom only, health check, stop timeout, user, read-only root.
    td = a.ecs.describe_task_definition(taskDefinition=out["TaskDefinitionArn"])["taskDefinition"]
    check(td["taskRoleArn"] == out["TaskRoleArn"], f"task role {td['taskRoleArn']}")
    check(td["requiresCompatibilities"] == ["FARGATE"] and td["networkMode"] == "awsvpc", "Fargate, awsvpc")
    (c,) = td["containerDefinitions"]
    secrets = {s["name"]: s["valueFrom"] for s in c.get("secrets", []) if s is not None}
    want = {"SLACK_BOT_TOKEN": f"{slack}:SLACK_BOT_TOKEN::", "SLACK_APP_TOKEN": f"{slack}:SLACK_APP_TOKEN::",
            "DOCKHAND_CONFIG_TOML": config_arn}
    if full:
        want["DISCORD_TOKEN"] = f"{discord}:DISCORD_TOKEN::"
    check(secrets == want, f"secrets {secrets}, want {want}")
    env = {e["name"]: e["value"] for e in c.get("environment", []) if e is not None}
    want_env = {"DOCKHAND_LOG_FORMAT": "json", "DOCKHAND_METRICS_ADDR": "0.0.0.0:9102", "AWS_REGION": "us-east-1"}
    if full:
        want_env["DOCKHAND_NOTIFICATIONS_QUEUE"] = out["EventsQueueUrl"]
        want_env["DOCKHAND_STATE_TABLE"] = out["StateTableName"]
    check(env == want_env, f"environment {env}, want {want_env}")
    check(not any(SECRET_NAME.search(n) for n in env), f"secret-like environment names {list(env)}")
    check(c["image"] == f"{explicit['Image']}:v1", f"image {c['image']}")
    check(c.get("healthCheck", {}).get("command") == ["CMD", "/dockhand", "healthcheck"], f"health check {c.get('healthCheck')}")
    check(c.get("stopTimeout") == 40, f"stopTimeout {c.get('stopTimeout')}")
    check(c.get("user") == "65532" and c.get("readonlyRootFilesystem") is True, f"user {c.get('user')}, read-only root")
    check([p["containerPort"] for p in c.get("portMappings", [])] == [9102], f"ports {c.get('portMappings')}")
    check(c["logConfiguration"]["options"] == {"awslogs-group": cluster["LogGroupName"], "awslogs-region": "us-east-1",
                                               "awslogs-stream-prefix": "dockhand"}, f"logs {c['logConfiguration']}")

    # The policies as created, intrinsic functions resolved.
    nulls = 0
    execution, n = live_statements(a.role_policy(res["ExecutionRole"], "pull-image-write-logs-read-secrets"))
    nulls += n
    read = sorted(r for s in execution if s["Action"] == "secretsmanager:GetSecretValue" for r in listify(s["Resource"]))
    check(read == sorted(filter(None, [slack, discord])), f"execution role reads secrets {read}")
    ssm = [s["Resource"] for s in execution if s["Action"] == "ssm:GetParameters"]
    check(ssm == [config_arn], f"execution role reads parameters {ssm}")
    # Its grants are managed policies but the state table's, the one inline policy.
    inline = a.iam.list_role_policies(RoleName=res["TaskRole"])["PolicyNames"]
    check(inline == (["shared-state"] if full else []), f"task role inline policies {inline}")
    state, n = live_statements(a.role_policy(res["TaskRole"], "shared-state")) if full else ([], 0)
    nulls += n
    tables = a.dynamodb.list_tables()["TableNames"]
    if full:
        # The shared state table as created: on demand, pk/sk, no index or stream, and
        # the grant: the five item calls on its ARN alone.
        table = a.dynamodb.describe_table(TableName=out["StateTableName"])["Table"]
        check(tables == [out["StateTableName"]] and res["StateTable"] == out["StateTableName"], f"tables {tables}")
        check(table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST", f"billing {table.get('BillingModeSummary')}")
        check(table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
              f"key schema {table['KeySchema']}")
        check(sorted((d["AttributeName"], d["AttributeType"]) for d in table["AttributeDefinitions"]) == [("pk", "S"), ("sk", "S")],
              f"attributes {table['AttributeDefinitions']}")
        extras = {k: table[k] for k in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "LatestStreamArn") if table.get(k)}
        check(not extras, f"indexes or a stream: {extras}")
        check(table.get("StreamSpecification", {}).get("StreamEnabled") in (None, False), f"stream {table.get('StreamSpecification')}")
        (st,) = state
        check(st.get("Sid") == "SharedStateItems" and st["Effect"] == "Allow" and sorted(listify(st["Action"])) == STATE_ACTIONS
              and st["Resource"] == table["TableArn"] and "Condition" not in st, f"state grant {st}, table {table['TableArn']}")
        # moto leaves out TimeToLiveSpecification and PointInTimeRecoverySpecification
        # when CloudFormation creates a table (static_state checks them as written).
        ttl = a.dynamodb.describe_time_to_live(TableName=out["StateTableName"])["TimeToLiveDescription"]
        pitr = a.dynamodb.describe_continuous_backups(TableName=out["StateTableName"])["ContinuousBackupsDescription"]
        pitr = pitr.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
        modelled = (ttl.get("TimeToLiveStatus"), ttl.get("AttributeName"), pitr)
        check(modelled in (("ENABLED", "expires", "ENABLED"), ("DISABLED", None, "DISABLED")), f"TTL and PITR {modelled}")
        table_note = ("TTL on expires and PITR as created" if modelled[0] == "ENABLED"
                      else "TTL and PITR not modelled by the emulator: checked as written")
        # The AWS-owned key: DescribeTable shows no SSEDescription (that is a KMS key's).
        check("SSEDescription" not in table, f"SSE {table.get('SSEDescription')}")
    else:
        check(tables == [] and "StateTable" not in res, f"with SharedState=false: tables {tables}")
    attached = {p["PolicyArn"] for p in a.iam.list_attached_role_policies(RoleName=res["TaskRole"])["AttachedPolicies"]}
    policies = sorted(logical for logical, physical in res.items() if physical in attached)
    check(len(policies) == len(attached), f"task role has policies {sorted(attached)} the stack did not make")
    task, size = [], 0
    for logical in policies:
        doc = a.managed_policy(res[logical])
        # IAM's limit on one managed policy (whitespace not counted).
        chars = len(json.dumps(doc, separators=(",", ":")))
        check(chars < 6_144, f"{logical} is {chars} characters, IAM allows 6,144")
        size = max(size, chars)
        kept, n = live_statements(doc)
        task += kept
        nulls += n
    want_policies = ["AppLogsGrants", "AppRolesGrants", "AssumeRolesGrants", "ListedClustersGrants", "ListedFamiliesGrants",
                     "ListedStacksGrants", "NotificationsGrants", "PrefixGrants", "ReadGrants", "SelfGrants"] if full else ["ReadGrants"]
    check(policies == want_policies, f"task role policies {policies}, want {want_policies}")
    # A role takes ten managed policies unless the account's quota was raised.
    check(len(policies) <= 10, f"{len(policies)} managed policies on the task role")
    for s in task + execution + state:
        for action in listify(s["Action"]):
            check("*" not in action, f"wildcard action {action}")
            check(not (is_changing(action) and "*" in listify(s["Resource"])), f"{action} on Resource *")
            check(is_changing(action) or action in READ_STAR_ALLOWED or "*" not in listify(s["Resource"]),
                  f"{s.get('Sid')}: read {action} on Resource *")
            for r in listify(s["Resource"]):
                check(r == "*" or r.startswith("arn:"), f"{s.get('Sid')}: resource {r!r} is not an ARN")
    sids = by_sid(task)
    logs = [s for s in task if any(a.startswith("logs:") for a in listify(s["Action"]))]
    if full:
        # AppLogGroups' default: the cluster's log group and its kind (`-*`), both ARN forms.
        (st,) = logs
        check(st.get("Sid") == "ReadAppLogs" and sorted(listify(st["Action"])) == LOG_READS, f"logs grant {st}")
        groups = template["Parameters"]["AppLogGroups"]["Default"].split(",")
        arn = "arn:*:logs:*:*:log-group:"
        want_logs = [arn + g for g in groups] + [arn + g + ":*" for g in groups]
        check(listify(st["Resource"]) == want_logs, f"logs resources {st['Resource']}, want {want_logs}")
        check(cluster["LogGroupName"] in groups, f"the cluster's log group {cluster['LogGroupName']} is not in {groups}")
        check(st["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, f"logs condition {st['Condition']}")
        check(listify(sids["ListedUpdateServices"]["Resource"]) == [
            "arn:*:ecs:*:*:service/apps/*", "arn:*:ecs:*:*:service/staging/*",
            "arn:*:ecs:*:*:service-deployment/apps/*", "arn:*:ecs:*:*:service-deployment/staging/*"],
              f"listed clusters {sids['ListedUpdateServices']['Resource']}")
        check(listify(sids["ListedUpdateStacks"]["Resource"]) == ["arn:*:cloudformation:*:*:stack/hubot/*", "arn:*:cloudformation:*:*:stack/web/*"],
              f"listed stacks {sids['ListedUpdateStacks']['Resource']}")
        check(listify(sids["ListedRegisterTaskDefinitions"]["Resource"]) == ["arn:*:ecs:*:*:task-definition/hubot:*"],
              f"listed families {sids['ListedRegisterTaskDefinitions']['Resource']}")
        # The prefix ends at a hyphen: cluster `apps` and `apps-*`, stacks `apps-*`, never `apps*`.
        check(listify(sids["PrefixUpdateServices"]["Resource"])[:2] == [f"arn:aws:ecs:us-east-1:{a.id}:service/apps/*",
                                                                       f"arn:aws:ecs:us-east-1:{a.id}:service/apps-*/*"],
              f"prefix services {sids['PrefixUpdateServices']['Resource']}")
        check(sids["PrefixUpdateStacks"]["Resource"] == f"arn:aws:cloudformation:us-east-1:{a.id}:stack/apps-*/*",
              f"prefix stacks {sids['PrefixUpdateStacks']['Resource']}")
        check(not any("apps*" in r for s in task for r in listify(s["Resource"])), "a prefix resource without its hyphen")
        # Reads name what they read, as the changes do.
        check(listify(sids["ListedReadServices"]["Resource"]) == [
            "arn:*:ecs:*:*:service/apps/*", "arn:*:ecs:*:*:service/staging/*",
            "arn:*:ecs:*:*:service-deployment/apps/*", "arn:*:ecs:*:*:service-deployment/staging/*",
            "arn:*:ecs:*:*:service-revision/apps/*", "arn:*:ecs:*:*:service-revision/staging/*",
            "arn:*:ecs:*:*:task/apps/*", "arn:*:ecs:*:*:task/staging/*"], f"listed reads {sids['ListedReadServices']['Resource']}")
        check(listify(sids["ListedListTasks"]["Condition"]["ArnLike"]["ecs:cluster"])
              == ["arn:*:ecs:*:*:cluster/apps", "arn:*:ecs:*:*:cluster/staging"], f"listed ListTasks {sids['ListedListTasks']}")
        check(listify(sids["ListedReadStacks"]["Resource"]) == listify(sids["ListedUpdateStacks"]["Resource"]),
              f"listed stack reads {sids['ListedReadStacks']['Resource']}")
        check(sids["PrefixReadStacks"]["Resource"] == sids["PrefixUpdateStacks"]["Resource"], "prefix stack reads")
        check(sids["SelfUpdateStack"]["Resource"] == stack["StackId"], f"self stack {sids['SelfUpdateStack']['Resource']}")
        check(listify(sids["SelfUpdateService"]["Resource"])[0] == out["ServiceArn"], f"self service {sids['SelfUpdateService']['Resource']}")
        check(sorted(listify(sids["SelfPassRoles"]["Resource"])) == sorted([out["TaskRoleArn"], td["executionRoleArn"]]),
              "self pass roles")
        check(listify(sids["PassAppRoles"]["Resource"]) == app_roles, f"app roles {sids['PassAppRoles']['Resource']}")
        for sid in ("PassAppRoles", "SelfPassRoles"):
            check(sids[sid]["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com",
                  f"{sid} passes to {sids[sid]['Condition']['StringEquals']['iam:PassedToService']}")
        # Stack changes may not name a service role (CloudFormation would act with it).
        for sid in ("PrefixUpdateStacks", "ListedUpdateStacks", "SelfUpdateStack"):
            check(sids[sid]["Condition"].get("Null") == {"cloudformation:RoleArn": "true"},
                  f"{sid} conditions {sids[sid]['Condition']}")
        check(listify(sids["AssumeEnvironmentRoles"]["Resource"]) == assume_roles, "assume roles")
        check(sorted(listify(sids["ReceiveEvents"]["Action"])) == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                                                 "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]
              and sids["ReceiveEvents"]["Resource"] == out["EventsQueueArn"], f"queue grant {sids['ReceiveEvents']}")
        notifications(a, res, out, stack["StackId"])
    else:
        check(sorted(sids) == ["ListOwnTasks", "ReadOwnService", "ReadOwnStack", "ReadUnscoped"],
              f"with nothing managed the bot may only read, has {sorted(sids)}")
        check(not logs, f"with AppLogGroups empty the bot reads logs: {logs}")
        check(listify(sids["ReadOwnService"]["Resource"])[0] == out["ServiceArn"], f"own service {sids['ReadOwnService']}")
        check(sids["ReadOwnStack"]["Resource"] == stack["StackId"], f"own stack {sids['ReadOwnStack']}")
        # Notifications=false: no queue, no rule.
        queues = a.sqs.list_queues().get("QueueUrls", [])
        rules = [r["Name"] for r in a.events.list_rules()["Rules"]]
        check(not queues and not rules, f"with Notifications=false: queues {queues}, rules {rules}")

    note = ""
    if full:
        # The bot deploying itself: UpdateStack with the previous template and a new Version.
        keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
                for p in stack["Parameters"] if p["ParameterKey"] != "Version"]
        a.cfn.update_stack(StackName="dockhand", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                           Parameters=keep + [{"ParameterKey": "Version", "ParameterValue": "v2"}])
        updated = outputs(a.wait_stack("dockhand", "UPDATE_COMPLETE"))
        check(updated["TaskDefinitionArn"].endswith("dockhand:2"), f"new revision {updated['TaskDefinitionArn']}")
        svc = a.settled(cluster["ClusterName"], out["ServiceName"])
        check(svc["taskDefinition"] == updated["TaskDefinitionArn"], f"service on {svc['taskDefinition']}")
        dc = svc["deploymentConfiguration"]
        check((dc.get("minimumHealthyPercent"), dc.get("maximumPercent")) == (50, 200) and svc["desiredCount"] == 2,
              f"after deploy {dc}, {svc['desiredCount']} replicas")
        (c2,) = a.ecs.describe_task_definition(taskDefinition=updated["TaskDefinitionArn"])["taskDefinition"]["containerDefinitions"]
        check(c2["image"].endswith(":v2"), f"image {c2['image']}")
        check({s["name"] for s in c2["secrets"] if s} == set(want), "secrets kept")
        note = (f"; 2 replicas in {len(zones)} zones, 50/200 %; state table on demand, pk/sk, grant of 5 item calls on its ARN"
                f" ({table_note}); notifications: queue, dead-letter queue, 3 rules, 16 events matched as meant;"
                " self-deploy to v2 ok, 2 replicas")
    else:
        note = f"; SharedState=false: 1 replica, 0/100 %, no table, no state grant, no DOCKHAND_STATE_TABLE; {len(zones)} zones"
    if nulls:
        note += f"; emulator left {nulls} AWS::NoValue statement(s) as null (AWS drops them)"
    return f"account {a.id}: {len(policies)} task-role policies, {len(task)} statements, the largest {size} characters{note}"


def defaults_scenario(url: str) -> str:
    """The stack as shipped, only the required values given: two bots (DesiredCount's
    default 2, with the shared state on), of which a deploy keeps one answering
    (50/200 %), before and after the bot deploys itself."""
    template = load(DOCKHAND_YAML)
    a = Account(url)
    slack = a.secretsmanager.create_secret(
        Name="dockhand/slack", SecretString=json.dumps({"SLACK_BOT_TOKEN": "slack-bot-token-test", "SLACK_APP_TOKEN": "slack-app-token-test"}))["ARN"]
    a.ssm.put_parameter(Name="/dockhand/config", Type="String", Value='prefix = "!"\n')
    a.cfn.create_stack(StackName="cluster", TemplateBody=CLUSTER_YAML.read_text(), Capabilities=["CAPABILITY_IAM"])
    cluster = outputs(a.wait_stack("cluster", "CREATE_COMPLETE"))
    explicit = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dockhand", "SlackSecretArn": slack}
    a.cfn.create_stack(StackName="dockhand", TemplateBody=DOCKHAND_YAML.read_text(),
                       Parameters=parent_parameters(template, cluster, explicit), Capabilities=["CAPABILITY_IAM"])
    stack = a.wait_stack("dockhand", "CREATE_COMPLETE")
    out = outputs(stack)
    check("StateTableName" in out, f"the shared state is not on by default: outputs {sorted(out)}")
    def two_bots(when: str, revision: str) -> None:
        svc = a.settled(cluster["ClusterName"], out["ServiceName"])
        dc = svc["deploymentConfiguration"]
        got = (svc["desiredCount"], svc["runningCount"], dc.get("minimumHealthyPercent"), dc.get("maximumPercent"))
        check(got == (2, 2, 50, 200), f"{when}: desired/running {got[:2]}, {got[2]}/{got[3]} %, want 2/2, 50/200 %")
        check(svc["taskDefinition"] == revision, f"{when}: service on {svc['taskDefinition']}, want {revision}")
    two_bots("created", out["TaskDefinitionArn"])
    keep = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack["Parameters"] if p["ParameterKey"] != "Version"]
    a.cfn.update_stack(StackName="dockhand", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                       Parameters=keep + [{"ParameterKey": "Version", "ParameterValue": "v2"}])
    updated = outputs(a.wait_stack("dockhand", "UPDATE_COMPLETE"))
    check(updated["TaskDefinitionArn"].endswith("dockhand:2"), f"new revision {updated['TaskDefinitionArn']}")
    two_bots("after deploy", updated["TaskDefinitionArn"])
    return f"account {a.id}: 2 bots with the shared state on, 50/200 %, created and after a self-deploy to v2"


def notifications(a: Account, res: dict[str, str], out: dict[str, str], stack_id: str) -> None:
    """The events queue, its dead-letter queue and the rules as created, and which
    events reach the queue (the emulator lets a caller send `aws.*` events)."""
    queue = a.sqs.get_queue_attributes(QueueUrl=out["EventsQueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq_url = a.sqs.get_queue_url(QueueName="dockhand-events-dlq")["QueueUrl"]
    dlq = a.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    check(out["EventsQueueUrl"].endswith("/dockhand-events") and dlq["QueueArn"] == out["EventsDeadLetterQueueArn"],
          f"queues {out['EventsQueueUrl']} {dlq['QueueArn']}")
    want = {"SqsManagedSseEnabled": "true", "ReceiveMessageWaitTimeSeconds": "20", "VisibilityTimeout": "60",
            "MessageRetentionPeriod": "345600"}
    check({k: queue.get(k) for k in want} == want, f"events queue {queue}")
    check(json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5},
          f"redrive {queue['RedrivePolicy']}")
    check(dlq.get("MessageRetentionPeriod") == "1209600" and dlq.get("SqsManagedSseEnabled") == "true", f"dead-letter queue {dlq}")
    rules = {logical: a.events.describe_rule(Name=res[logical]) for logical in ("EcsEventsRule", "StackEventsRule", "AlarmEventsRule")}
    for logical, rule in rules.items():
        targets = [t["Arn"] for t in a.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
        check(targets == [out["EventsQueueArn"]], f"{logical} targets {targets}")
        pattern = json.loads(rule["EventPattern"])
        check(pattern["account"] == [a.id] and pattern["region"] == ["us-east-1"], f"{logical} pattern {pattern}")
    # moto does not model AWS::SQS::QueuePolicy: tests/templates.rs checks it as written.
    # Which events arrive: the managed clusters' (apps, apps-*, the listed staging),
    # stacks' (apps-*, hubot, web, its own) and alarms', not the others.
    arn = f"arn:aws:%s:us-east-1:{a.id}:%s"
    def ecs(detail_type: str, cluster: str, **detail: Any) -> dict:
        resources = [arn % ("ecs", f"service/{cluster}/web")]
        return {"Source": "aws.ecs", "DetailType": detail_type, "Resources": resources,
                "Detail": json.dumps({"clusterArn": arn % ("ecs", f"cluster/{cluster}"), **detail})}
    def stack(name: str) -> dict:
        sid = stack_id if name == "dockhand" else arn % ("cloudformation", f"stack/{name}/0f0e")
        return {"Source": "aws.cloudformation", "DetailType": "CloudFormation Stack Status Change", "Resources": [sid],
                "Detail": json.dumps({"stack-id": sid, "status-details": {"status": "UPDATE_COMPLETE"}})}
    def alarm(name: str) -> dict:
        return {"Source": "aws.cloudwatch", "DetailType": "CloudWatch Alarm State Change", "Resources": [],
                "Detail": json.dumps({"alarmName": name, "state": {"value": "ALARM"}})}
    sent = {
        "stopped apps": (ecs("ECS Task State Change", "apps", lastStatus="STOPPED"), True),
        "running apps": (ecs("ECS Task State Change", "apps", lastStatus="RUNNING"), False),
        "stopped apps-x": (ecs("ECS Task State Change", "apps-x", lastStatus="STOPPED"), True),
        "stopped appsync": (ecs("ECS Task State Change", "appsync", lastStatus="STOPPED"), False),
        "action staging": (ecs("ECS Service Action", "staging", eventName="SERVICE_STEADY_STATE"), True),
        "action other": (ecs("ECS Service Action", "other", eventName="SERVICE_STEADY_STATE"), False),
        "hook apps": (ecs("ECS Hook State Change", "apps", eventName="HOOK_AWAITING_ACTION"), True),
        "deployment staging": (ecs("ECS Deployment State Change", "staging"), True),
        "deployment mystaging": (ecs("ECS Deployment State Change", "mystaging"), False),
        "stack apps-hubot": (stack("apps-hubot"), True),
        "stack web": (stack("web"), True),
        "stack dockhand": (stack("dockhand"), True),
        "stack apps": (stack("apps"), False),
        "stack webshop": (stack("webshop"), False),
        "alarm db cpu": (alarm("db cpu"), True),
        "alarm other": (alarm("other"), False),
    }
    for name, (entry, _) in sent.items():
        entry["Detail"] = json.dumps({**json.loads(entry["Detail"]), "dockhand-check": name})
    # As AWS's services send them: PutEvents may not use `aws.` sources.
    for entry, _ in sent.values():
        a.control("POST", "/_dockhand/events", {"source": entry["Source"], "detail-type": entry["DetailType"],
                                                "resources": entry["Resources"], "detail": json.loads(entry["Detail"])})
    got = set()
    while True:
        batch = a.sqs.receive_message(QueueUrl=out["EventsQueueUrl"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            break
        for m in batch:
            # The stacks and services the check made send events of their own, too.
            name = json.loads(m["Body"])["detail"].get("dockhand-check")
            if name:
                got.add(name)
            a.sqs.delete_message(QueueUrl=out["EventsQueueUrl"], ReceiptHandle=m["ReceiptHandle"])
    want_got = {name for name, (_, arrives) in sent.items() if arrives}
    check(got == want_got, f"events in the queue: missing {sorted(want_got - got)}, let in {sorted(got - want_got)}")


def start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "dockhand_emulator.py"), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline() if proc.stdout else ""
    if not first.startswith("DOCKHAND_EMULATOR_READY "):
        proc.kill()
        raise SystemExit(f"the emulator did not start: {first!r}")
    return proc, first.split()[1]


def main(argv: list[str]) -> int:
    global DOCKHAND_YAML
    if "--template" in argv:  # another file in its place (to see a check fail)
        i = argv.index("--template")
        DOCKHAND_YAML = Path(argv[i + 1]).resolve()
        del argv[i:i + 2]
    template, cluster = load(DOCKHAND_YAML), load(CLUSTER_YAML)
    run("iam statements", lambda: static_iam(template))
    run("container environment", lambda: static_environment(template))
    run("tokens and config as secrets", lambda: static_secrets(template))
    run("container settings", lambda: static_container(template))
    run("service settings", lambda: static_service(template))
    run("rules: one bot without the shared state", lambda: static_rules(template))
    run("shared state: the table, its grant, its variable", lambda: static_state(template))
    run("cluster outputs as parameters", lambda: static_parameters(template, cluster))
    run("app logs: one read grant, scoped, gone when empty", lambda: static_app_logs(template, cluster))

    proc, url = None, next((a for a in argv if not a.startswith("-")), "")
    if "--start" in argv:
        proc, url = start_emulator()
        print(f"emulator at {url}")
    try:
        if url:
            run("emulator: Slack and Discord, lists, self-managed", lambda: emulator_scenario(url, full=True))
            run("emulator: Slack only, nothing managed", lambda: emulator_scenario(url, full=False))
            run("emulator: the defaults, two bots", lambda: defaults_scenario(url))
        else:
            print("(no emulator URL: static checks only)")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)
    failed = sum(1 for ok, _, _ in results if not ok)
    print(f"check_dockhand_template: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
