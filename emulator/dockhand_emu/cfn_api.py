"""CloudFormation API handlers replaced or added on moto's CloudFormationResponse.

Each one says which gap of moto it closes. They reuse moto's request parsing and
error serialisation: a raised ValidationError answers as AWS's awsQuery XML error.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models as cfn_models
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import OutputMap
from moto.cloudformation.utils import generate_changeset_id, validate_create_change_set
from moto.core.responses import ActionResult, EmptyResult

from .cfn import (
    UPDATES,
    Backend,
    ChangeSetNotFound,
    InvalidChangeSetStatus,
    Response,
    Stack,
    StackUpdate,
    event,
    require_capabilities,
    resource_status,
    resources_of,
)
from .cfn_template import NO_CHANGES, parameter_strings, parse, plan, resolve_parameters, stack_parameters
from . import state
from .state import as_datetime


def _template(self: Any, stack: Stack) -> str:
    if self._get_bool_param("UsePreviousTemplate", False):
        return stack.template
    body = self._get_param("TemplateBody")
    if not body and self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    if not body:
        raise ValidationError(message="Either Template URL or Template Body must be specified.")
    return body


def _refuse_if_busy(stack: Stack) -> None:
    if stack.status.endswith("_IN_PROGRESS") or stack.status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE"):
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")


def update_stack(self: Any) -> ActionResult:
    """Asynchronous, with UsePreviousValue on defaulted parameters (moto: 500), and
    refused while another operation runs."""
    backend = self.cloudformation_backend
    stack = backend.get_stack(self._get_param("StackName"))
    _refuse_if_busy(stack)
    template = _template(self, stack)
    require_capabilities(parse(template), self._get_param("Capabilities", []) or [])
    parameters = resolve_parameters(stack, parse(template), self._get_param("Parameters", []) or [])
    tags = {t["Key"]: t["Value"] for t in self._get_param("Tags", []) or []}
    StackUpdate(backend, stack, template, parameters, self._get_param("ClientRequestToken"))
    if tags:
        stack.tags = tags
    return ActionResult({"StackId": stack.stack_id})


def cancel_update_stack(self: Any) -> EmptyResult:
    """Not in moto. Rolls the update in progress back."""
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    update = UPDATES.get(stack.stack_id)
    if stack.status != "UPDATE_IN_PROGRESS" or update is None:
        raise ValidationError(message="CancelUpdateStack cannot be called from current stack status")
    update.cancel(self._get_param("ClientRequestToken"))
    return EmptyResult()


def _find_change_set(backend: Backend, name: str, stack_name: str | None) -> Any:
    if name in backend.change_sets:
        return backend.change_sets[name]
    for cs in backend.change_sets.values():
        if cs.change_set_name == name and (not stack_name or stack_name in (cs.stack_name, cs.stack_id)):
            return cs
    raise ChangeSetNotFound(message=f"ChangeSet [{name}] does not exist")


_create_change_set = Response.create_change_set
_execute_change_set = Response.execute_change_set


def create_change_set(self: Any) -> ActionResult:
    """UPDATE change sets list the resources a parameter change reaches (moto: none),
    with Replacement and Details; no change at all makes a FAILED change set."""
    if (self._get_param("ChangeSetType") or "UPDATE") != "UPDATE":
        return _create_change_set(self)
    backend = self.cloudformation_backend
    name = self._get_param("ChangeSetName")
    validate_create_change_set(name)
    stack = backend.get_stack(self._get_param("StackName"))
    template = _template(self, stack)
    template_dict = parse(template)
    require_capabilities(template_dict, self._get_param("Capabilities", []) or [])
    parameters = resolve_parameters(stack, template_dict, self._get_param("Parameters", []) or [])
    change_set_id = generate_changeset_id(name, backend.region_name, backend.account_id)
    cs = cfn_models.ChangeSet(
        change_set_type="UPDATE", change_set_id=change_set_id, change_set_name=name, stack=stack,
        template=template, parameters=parameters, description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags={t["Key"]: t["Value"] for t in self._get_param("Tags", []) or []},
        role_arn=self._get_param("RoleARN"),
    )
    cs.changes = plan(stack, template_dict, parameters)
    cs.capabilities = self._get_param("Capabilities", [])
    unchanged = template_dict == stack.template_dict and parameter_strings(template_dict, parameters) == stack_parameters(stack)
    if unchanged:
        cs.status, cs.execution_status, cs.status_reason = "FAILED", "UNAVAILABLE", NO_CHANGES
    else:
        cs.status, cs.execution_status = "CREATE_COMPLETE", "AVAILABLE"
    backend.change_sets[change_set_id] = cs
    return ActionResult({"Id": change_set_id, "StackId": stack.stack_id})


def execute_change_set(self: Any) -> EmptyResult:
    """An UPDATE change set runs as an asynchronous update, like UpdateStack."""
    backend = self.cloudformation_backend
    cs = _find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    if cs.change_set_type != "UPDATE":
        return _execute_change_set(self)
    if cs.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            message=f"ChangeSet [{cs.change_set_id}] cannot be executed in its current status of [{cs.status}]"
        )
    _refuse_if_busy(cs.stack)
    StackUpdate(backend, cs.stack, cs.template, cs.parameters, self._get_param("ClientRequestToken"), change_set=cs)
    return EmptyResult()


def describe_change_set(self: Any) -> ActionResult:
    """Unknown change sets answer ChangeSetNotFound (moto: a stack-not-found message)."""
    cs = _find_change_set(self.cloudformation_backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    return ActionResult(cs)


def delete_change_set(self: Any) -> EmptyResult:
    backend = self.cloudformation_backend
    cs = _find_change_set(backend, self._get_param("ChangeSetName"), self._get_param("StackName"))
    del backend.change_sets[cs.change_set_id]
    return EmptyResult()


def list_change_sets(self: Any) -> ActionResult:
    """The change sets of the stack asked for (moto lists every stack's)."""
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    sets = [cs for cs in self.cloudformation_backend.change_sets.values() if cs.stack_id == stack.stack_id]
    return ActionResult({"Summaries": sets})


def _resource_rows(stack: Stack) -> list[dict[str, Any]]:
    statuses = resource_status(stack)
    rows = []
    for logical, resource in resources_of(stack):
        status, reason, at = statuses.get(logical, ("CREATE_COMPLETE", None, stack.creation_time))
        rows.append({
            "StackName": stack.name,
            "StackId": stack.stack_id,
            "LogicalResourceId": logical,
            "PhysicalResourceId": resource.physical_resource_id,
            "ResourceType": getattr(resource, "cf_resource_type", None)
            or stack.resource_map._resource_json_map[logical]["Type"],
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
            "Timestamp": at,
            "LastUpdatedTimestamp": at,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        })
    return rows


def list_stack_resources(self: Any) -> ActionResult:
    """Each resource's real status and time (moto: always CREATE_COMPLETE, 2011), and
    no empty rows for resources a condition left out."""
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    return ActionResult({"StackResourceSummaries": _resource_rows(stack)})


def describe_stack_resources(self: Any) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    logical = self._get_param("LogicalResourceId")
    rows = [r for r in _resource_rows(stack) if not logical or r["LogicalResourceId"] == logical]
    return ActionResult({"StackResources": rows})


def describe_stack_events(self: Any) -> ActionResult:
    """Pages, as AWS does: newest first, `stack_events_page` a page (100, AWS's page,
    unless the control API set it smaller to page a small stack), with a NextToken
    naming the first event of the next page, so events added between pages never
    repeat or shift what follows (moto: every event in one page, no token)."""
    events = self.cloudformation_backend.describe_stack_events(self._get_param("StackName"))[::-1]
    start = 0
    token = self._get_param("NextToken")
    if token:
        ids = [str(e.event_id) for e in events]
        if token not in ids:
            raise ValidationError(message="Invalid NextToken")
        start = ids.index(token)
    size = state.account(self.cloudformation_backend.account_id).stack_events_page
    result: dict[str, Any] = {"StackEvents": events[start:start + size]}
    if start + size < len(events):
        result["NextToken"] = str(events[start + size].event_id)
    return ActionResult(result)


_create_stack_response = Response.create_stack
_create_stack = Backend.create_stack


def create_stack_response(self: Any) -> ActionResult:
    """Events of the create carry its ClientRequestToken."""
    result = _create_stack_response(self)
    token = self._get_param("ClientRequestToken")
    if token:
        for e in self.cloudformation_backend.get_stack(self._get_param("StackName")).events:
            e.client_request_token = token
    return result


def create_stack(self: Backend, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Stack:
    """Adds each resource's CREATE events (moto writes only the stack's), and turns a
    failed create into ROLLBACK_COMPLETE (moto leaves the stack CREATE_IN_PROGRESS and
    every later DescribeStacks of it answers 500)."""
    try:
        stack = _create_stack(self, name, template, parameters, *args, **kwargs)
    except Exception as e:
        stack = next((s for s in self.stacks.values() if s.name == name), None)
        if stack is None or stack.status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            raise
        reason = getattr(e, "message", None) or str(e)
        stack.status = "ROLLBACK_IN_PROGRESS"
        event(stack, stack.name, "AWS::CloudFormation::Stack", stack.stack_id, "ROLLBACK_IN_PROGRESS",
              f"Resource creation failed: {reason}. Rollback requested by user.")
        try:
            stack.resource_map.delete()
        except Exception:  # noqa: BLE001 - best effort, as a rollback of a half-made stack
            pass
        stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
        for export in list(self.exports):
            if self.exports[export].exporting_stack_id == stack.stack_id:
                del self.exports[export]
        stack.status = "ROLLBACK_COMPLETE"
        event(stack, stack.name, "AWS::CloudFormation::Stack", stack.stack_id, "ROLLBACK_COMPLETE")
        return stack
    if stack.status != "CREATE_COMPLETE":
        return stack
    complete = stack.events.pop()
    for logical, resource in resources_of(stack):
        rtype = stack.resource_map._resource_json_map[logical]["Type"]
        event(stack, logical, rtype, "", "CREATE_IN_PROGRESS")
        event(stack, logical, rtype, resource.physical_resource_id, "CREATE_IN_PROGRESS", "Resource creation Initiated")
        event(stack, logical, rtype, resource.physical_resource_id, "CREATE_COMPLETE")
    complete.timestamp = as_datetime()
    stack.events.append(complete)
    return stack


@property  # type: ignore[misc]
def parameter_list(self: Stack) -> list[dict[str, str]]:
    """Every parameter as given (not moto's resolved numbers), NoEcho ones as ****
    (moto compares values with key names, so masks almost nothing)."""
    declared = self.template_dict.get("Parameters") or {}
    return [
        {"ParameterKey": k, "ParameterValue": "****" if str(declared[k].get("NoEcho", "")).lower() == "true" else v}
        for k, v in stack_parameters(self).items()
    ]


def install() -> None:
    Response.update_stack = update_stack
    Response.cancel_update_stack = cancel_update_stack
    Response.create_change_set = create_change_set
    Response.execute_change_set = execute_change_set
    Response.describe_change_set = describe_change_set
    Response.delete_change_set = delete_change_set
    Response.list_change_sets = list_change_sets
    Response.list_stack_resources = list_stack_resources
    Response.describe_stack_resources = describe_stack_resources
    Response.describe_stack_events = describe_stack_events
    Response.create_stack = create_stack_response
    Backend.create_stack = create_stack
    Stack.parameter_list = parameter_list
