"""EventBridge rules made by CloudFormation, as AWS takes them.

AWS::Events::Rule's EventPattern is JSON, given as a map or as JSON text (the
resource schema types it `string` or `object`); deploy/dockhand.yaml gives text,
joined from its name lists. moto serialises whatever it gets, so text became a
JSON string literal, which its pattern parser then refused. Here text is parsed
first, so moto stores the same pattern either way, as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import Rule

_create = Rule.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def rule_create_from_cfn(cls: type, resource_name: str, cloudformation_json: Any, account_id: str,
                         region_name: str, **kwargs: Any) -> Rule:
    props = cloudformation_json.get("Properties") or {}
    pattern = props.get("EventPattern")
    if isinstance(pattern, str):
        # moto dumps the pattern; hand it the map the text stands for.
        props["EventPattern"] = json.loads(pattern)
    return _create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)


def install() -> None:
    Rule.create_from_cloudformation_json = classmethod(rule_create_from_cfn)  # type: ignore[method-assign]
