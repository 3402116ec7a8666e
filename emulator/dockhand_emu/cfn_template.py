"""What a stack update would change: parameters as CloudFormation resolves them, and
the resources an update modifies, adds, replaces or removes.

moto compares resources' raw template text only, so a parameter-only change (the
usual deploy: `Version=v2`) changes "nothing" in its change sets, and its updates
miss resources that reference a replaced resource (the Service that !Refs a new
TaskDefinition revision). Here a resource changes when its text changed, or it
references a changed parameter, a changed condition or a replaced resource.
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Change, Stack

# Types whose every property update makes a new physical resource.
REPLACED_ON_UPDATE = {"AWS::ECS::TaskDefinition"}
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."

_SUB_VARIABLE = re.compile(r"\$\{(?!!)([A-Za-z0-9_:]+)(?:\.[A-Za-z0-9_.]+)?\}")


def references(node: Any) -> tuple[set[str], set[str]]:
    """(names, conditions) a template fragment refers to: Ref, Fn::GetAtt and
    Fn::Sub targets (parameters or resources), and Fn::If conditions."""
    names: set[str] = set()
    conditions: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for item in n:
                walk(item)
        elif isinstance(n, dict):
            for key, value in n.items():
                if key == "Ref" and isinstance(value, str):
                    names.add(value)
                elif key == "Fn::GetAtt":
                    target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                    names.add(target)
                elif key == "Fn::Sub":
                    text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                    names.update(m.group(1) for m in _SUB_VARIABLE.finditer(str(text)))
                    names.difference_update(variables.keys() if isinstance(variables, dict) else [])
                    walk(variables)
                elif key == "Fn::If" and isinstance(value, list) and value:
                    conditions.add(value[0])
                    walk(value[1:])
                elif key == "Condition" and isinstance(value, str):
                    conditions.add(value)
                else:
                    walk(value)

    walk(node)
    return names, conditions


def as_string(value: Any) -> str:
    """A parameter value the way CloudFormation shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_string(v) for v in value)
    return "" if value is None else str(value)


def parameter_strings(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    """Every declared parameter's value: the one given, else the template's default."""
    out = {}
    for key, declaration in (template.get("Parameters") or {}).items():
        if key in given:
            out[key] = as_string(given[key])
        elif "Default" in declaration:
            out[key] = as_string(declaration["Default"])
    return out


def stack_parameters(stack: Stack) -> dict[str, str]:
    return parameter_strings(stack.template_dict, stack.parameters or {})


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def resolve_parameters(stack: Stack, template: dict[str, Any], incoming: list[dict[str, Any]]) -> dict[str, str]:
    """The parameters given to an update: values, and UsePreviousValue taken from the
    stack's current values (including ones that were defaulted at create, where moto
    fails). Parameters left out take the template's default, as on AWS."""
    declared = template.get("Parameters") or {}
    previous = stack_parameters(stack)
    out: dict[str, str] = {}
    for p in incoming:
        key = p["ParameterKey"]
        if key not in declared:
            raise ValidationError(message=f"Parameters: [{key}] do not exist in the template")
        if _truthy(p.get("UsePreviousValue", False)):
            if p.get("ParameterValue"):
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true and non empty value for a parameter"
                )
            if key not in previous:
                raise ValidationError(
                    message=f"Invalid input for parameter key {key}. Cannot specify usePreviousValue as true for a parameter key not in the previous template"
                )
            out[key] = previous[key]
        else:
            out[key] = as_string(p.get("ParameterValue", ""))
    missing = [k for k, d in declared.items() if k not in out and "Default" not in d]
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    return out


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Resources in an order where each comes after what it references or DependsOn."""
    deps = {}
    for logical, body in resources.items():
        names, _ = references(body)
        depends = body.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else list(depends)
        deps[logical] = {n for n in names | set(depends) if n in resources and n != logical}
    order: list[str] = []
    while len(order) < len(resources):
        ready = [r for r in resources if r not in order and deps[r] <= set(order)]
        if not ready:  # a cycle: CloudFormation refuses these; keep template order
            ready = [r for r in resources if r not in order][:1]
        order.extend(ready)
    return order


def _detail(prop: str, recreation: str, source: str, evaluation: str = "Static", cause: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "Target": {"Attribute": "Properties", "Name": prop, "RequiresRecreation": recreation},
        "Evaluation": evaluation,
        "ChangeSource": source,
    }
    if cause:
        detail["CausingEntity"] = cause
    return detail


def plan(stack: Stack, template: dict[str, Any], parameters: dict[str, str]) -> list[Change]:
    """The resource changes of updating `stack` to `template` with `parameters`, in
    the order an update applies them. Each is a moto Change with the fields of
    CloudFormation's ResourceChange, plus `replace`."""
    old = stack.template_dict.get("Resources") or {}
    new = template.get("Resources") or {}
    before, after = stack_parameters(stack), parameter_strings(template, parameters)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}

    conditions = template.get("Conditions") or {}
    changed_conditions: set[str] = set()
    grew = True
    while grew:
        grew = False
        for name, body in conditions.items():
            names, conds = references(body)
            if name not in changed_conditions and (names & changed or conds & changed_conditions):
                changed_conditions.add(name)
                grew = True

    physical = {}
    for logical, resource in stack.resource_map._parsed_resources.items():
        if logical in old and hasattr(resource, "physical_resource_id"):
            physical[logical] = resource.physical_resource_id

    changes: list[Change] = []
    replaced: set[str] = set()
    for logical in dependency_order(new):
        rtype = new[logical]["Type"]
        if logical not in old:
            change = Change("Add", logical, rtype)
            change.replace, change.scope, change.details = False, [], []
            changes.append(change)
            continue
        recreation = "Always" if rtype in REPLACED_ON_UPDATE else "Never"
        details = []
        new_props = new[logical].get("Properties") or {}
        old_props = old[logical].get("Properties") or {}
        for prop in sorted(set(new_props) | set(old_props)):
            if new_props.get(prop) != old_props.get(prop):
                details.append(_detail(prop, recreation, "DirectModification"))
                continue
            names, conds = references(new_props.get(prop))
            for name in sorted(names & changed):
                details.append(_detail(prop, recreation, "ParameterReference", cause=name))
            for name in sorted(names & replaced):
                details.append(_detail(prop, recreation, "ResourceReference", "Dynamic", cause=name))
            if conds & changed_conditions and not names & (changed | replaced):
                details.append(_detail(prop, recreation, "ParameterReference", "Dynamic"))
        if not details and new[logical] == old[logical]:
            continue
        change = Change("Modify", logical, rtype)
        change.physical_resource_id = physical.get(logical)
        change.replace = rtype in REPLACED_ON_UPDATE
        change.replacement = "True" if change.replace else "False"
        change.scope = ["Properties"] if details else []
        change.details = details
        changes.append(change)
        if change.replace:
            replaced.add(logical)
    for logical in old:
        if logical not in new:
            change = Change("Remove", logical, old[logical]["Type"])
            change.physical_resource_id = physical.get(logical)
            change.replace, change.scope, change.details = False, [], []
            changes.append(change)
    return changes


def parse(template: str) -> dict[str, Any]:
    return Stack.parse_template(template)
