"""EventBridge as AWS runs it, and the events AWS's services put on it.

AWS services send their events to the account's default event bus; rules that
match send them to their targets, an SQS queue among them. moto 5.2.5 delivers
PutEvents to SQS targets, but no service of moto emits anything, and its rules
deliver where AWS's do not. Here:

- `emit` puts one event from an AWS service (source `aws.ecs`, ...) on the
  default bus of an account and region, in the envelope AWS delivers (version,
  id, detail-type, source, account, time, region, resources, detail), stamped
  with the time of the step that caused it (state.now()).
- A rule delivers only while ENABLED, and a rule with only a ScheduleExpression
  receives no events (moto sent every event to both).
- A target without an InputTransformer gets the event as it is (moto rebuilt it
  from a template that dropped `account`).
- The envelope delivered carries no `ingestion-time` (moto's own field, which
  its input transformers still read).
- PutEvents refuses sources that begin with `aws.`, entry by entry, as AWS does:
  only AWS's services send those.
- AWS::Events::Rule's EventPattern is JSON, given as a map or as JSON text (the
  resource schema types it `string` or `object`); deploy/dockhand.yaml gives text.
  moto dumped text into a JSON string literal, which its pattern parser refused;
  here text is parsed first, so moto stores the same pattern either way.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.cloudformation.models import Stack as FakeStack
from moto.cloudwatch.models import CloudWatchBackend
from moto.events.models import EventsBackend, Rule, events_backends

from . import state

_create = Rule.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_send_to_targets = Rule.send_to_targets
_put_events = EventsBackend.put_events
_add_stack_event = FakeStack._add_stack_event
_set_alarm_state = CloudWatchBackend.set_alarm_state

AWS_SOURCE_REFUSED = {
    "ErrorCode": "NotAuthorizedForSourceException",
    "ErrorMessage": "Not authorized for the source.",
}


def iso(t: float) -> str:
    """AWS's event time: `2026-12-04T03:12:00Z` (no fraction, as EventBridge sends)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(t: float) -> str:
    """A time inside an ECS event's detail: `2026-12-04T03:12:00.123Z`."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def emit(account_id: str, region: str, source: str, detail_type: str, resources: list[str],
         detail: dict[str, Any]) -> str:
    """An AWS service's event on the default bus; returns its id."""
    event_id = str(uuid.uuid4())
    envelope = {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        # moto's SQS and log targets format a number as the envelope's ISO time.
        "time": state.now(),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }
    bus = events_backends[account_id][region].event_buses.get("default")
    if bus is not None:
        for rule in list(bus.rules.values()):
            rule.send_to_targets(json.loads(json.dumps(envelope)))
    return event_id


def stack_status(stack: Any, status: str, reason: str | None, token: str | None = None) -> None:
    """`CloudFormation Stack Status Change`: one for every status the stack enters."""
    emit(stack.account_id, stack.region_name, "aws.cloudformation", "CloudFormation Stack Status Change",
         [stack.stack_id], {"stack-id": stack.stack_id, "status-details": {"status": status, "status-reason": reason or ""},
                            "client-request-token": token or ""})


def alarm_state(alarm: Any, previous: dict[str, Any]) -> None:
    """`CloudWatch Alarm State Change`, when SetAlarmState changed the state."""
    def state_of(value: str, reason: str, data: str | None, at: Any) -> dict[str, Any]:
        out = {"value": value, "reason": reason or "",
               "timestamp": (at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000") if at else iso_ms(state.now())}
        if data:
            out["reasonData"] = data
        return out
    emit(alarm.alarm_arn.split(":")[4], alarm.region_name, "aws.cloudwatch", "CloudWatch Alarm State Change", [alarm.alarm_arn], {
        "alarmName": alarm.name,
        "state": state_of(alarm.state_value, alarm.state_reason, alarm.state_reason_data, alarm.state_updated_timestamp),
        "previousState": state_of(**previous),
        "configuration": {"description": alarm.description or "", "metrics": []},
    })


def add_stack_event(self: FakeStack, resource_status: str, resource_status_reason: str | None = None,
                    resource_properties: str | None = None) -> None:
    """moto's own stack-level events (a create, a delete) are status changes too."""
    _add_stack_event(self, resource_status, resource_status_reason, resource_properties)
    stack_status(self, resource_status, resource_status_reason)


def set_alarm_state(self: CloudWatchBackend, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    previous = None if alarm is None else {"value": alarm.state_value, "reason": alarm.state_reason,
                                           "data": alarm.state_reason_data, "at": alarm.state_updated_timestamp}
    _set_alarm_state(self, alarm_name, reason, reason_data, state_value)
    if alarm is not None and previous["value"] != state_value:  # AWS sends changes only
        alarm_state(alarm, previous)


def send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    if self.state != "ENABLED" or not self.event_pattern.get_pattern():
        return  # a disabled rule, or a schedule's: no event reaches its targets
    original_event.setdefault("ingestion-time", state.now())  # input transformers may read it
    # Without an InputTransformer AWS delivers the event itself; moto rebuilt it from
    # a template that drops `account` and breaks on quotes in the detail.
    transform_input = transform_input and any(t.get("InputTransformer") for t in self.targets)
    _send_to_targets(self, original_event, transform_input)


def _without_ingestion_time(send: Any) -> Any:
    def deliver(self: Rule, resource_id: str, event: Any, *args: Any) -> None:
        if isinstance(event, dict):
            event = {k: v for k, v in event.items() if k != "ingestion-time"}
        send(self, resource_id, event, *args)
    return deliver


def put_events(self: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(events) > 10:
        return _put_events(self, events)  # moto's refusal of the whole request
    allowed = [e for e in events if not str(e.get("Source") or "").startswith("aws.")]
    answers = iter(_put_events(self, allowed) if allowed else [])
    return [dict(AWS_SOURCE_REFUSED) if str(e.get("Source") or "").startswith("aws.") else next(answers)
            for e in events]


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
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
    Rule._send_to_sqs_queue = _without_ingestion_time(Rule._send_to_sqs_queue)  # type: ignore[method-assign]
    Rule._send_to_cw_log_group = _without_ingestion_time(Rule._send_to_cw_log_group)  # type: ignore[method-assign]
    EventsBackend.put_events = put_events  # type: ignore[method-assign]
    FakeStack._add_stack_event = add_stack_event  # type: ignore[method-assign]
    CloudWatchBackend.set_alarm_state = set_alarm_state  # type: ignore[method-assign]
