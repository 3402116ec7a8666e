"""CloudFormation stack updates that take time, wait for ECS, and roll back.

moto applies an update at once and says UPDATE_COMPLETE. Here UpdateStack (and
ExecuteChangeSet) start a `StackUpdate`: a generator that yields what it waits for
(a short step, or an ECS service settling) and is resumed by the scheduler, so the
stack is observably UPDATE_IN_PROGRESS, each resource gets its events (all with the
request's ClientRequestToken), the Service resource completes only once its ECS
rollout has, and a failure (a tripped circuit breaker, a `stack_update_fails`
fault, or CancelUpdateStack) rolls every updated resource back.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator

from moto.cloudformation import models as cfn_models
from moto.cloudformation import responses as cfn_responses
from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.parsing import ResourceMap, parse_and_update_resource
from moto.ecs import models as ecs_models

from . import events, state
from .cfn_template import parameter_strings, parse, plan, stack_parameters
from .ecs_rollout import rollout_of
from .state import as_datetime

Backend = cfn_models.CloudFormationBackend
Response = cfn_responses.CloudFormationResponse
Stack = cfn_models.Stack

BREAKER_FAILURE = (
    "Resource handler returned message: \"Error occurred during operation "
    "'ECS Deployment Circuit Breaker was triggered'.\" (RequestToken: {token}, HandlerErrorCode: GeneralServiceException)"
)
REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."
UPDATES: dict[str, "StackUpdate"] = {}  # stack id -> its operation in progress


class ChangeSetNotFound(ValidationError):
    code = "ChangeSetNotFound"


class InsufficientCapabilities(ValidationError):
    code = "InsufficientCapabilitiesException"


# IAM resource types and the property that names them: a named one needs
# CAPABILITY_NAMED_IAM, any other CAPABILITY_IAM (or NAMED_IAM).
IAM_NAMES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
}


def require_capabilities(template: dict[str, Any], given: list[str]) -> None:
    """What AWS checks before UpdateStack or CreateChangeSet (moto checks nothing):
    a template with IAM resources must be acknowledged with CAPABILITY_IAM, or
    CAPABILITY_NAMED_IAM when one has a custom name, whether or not the update
    touches them."""
    needed = None
    for resource in (template.get("Resources") or {}).values():
        rtype = resource.get("Type", "") if isinstance(resource, dict) else ""
        if not rtype.startswith("AWS::IAM::"):
            continue
        if (resource.get("Properties") or {}).get(IAM_NAMES.get(rtype, "")):
            needed = "CAPABILITY_NAMED_IAM"
        elif needed is None:
            needed = "CAPABILITY_IAM"
    ok = needed is None or "CAPABILITY_NAMED_IAM" in given or (needed == "CAPABILITY_IAM" and needed in given)
    if not ok:
        raise InsufficientCapabilities(message=f"Requires capabilities : [{needed}]")


class InvalidChangeSetStatus(ValidationError):
    code = "InvalidChangeSetStatus"


class Cancelled(Exception):
    pass


class ResourceFailed(Exception):
    def __init__(self, logical: str, rtype: str, physical: str, reason: str) -> None:
        super().__init__(reason)
        self.logical, self.rtype, self.physical, self.reason = logical, rtype, physical, reason


def physical_id(resource: Any) -> str:
    return getattr(resource, "physical_resource_id", None) or ""


def event(stack: Stack, logical: str, rtype: str, physical: str, status: str,
          reason: str | None = None, token: str | None = None) -> None:
    """A stack event at the clock's time; resource events also set the resource's status."""
    e = cfn_models.Event(stack.stack_id, stack.name, logical, physical, rtype, status, reason, None)
    e.timestamp = as_datetime()
    e.client_request_token = token
    stack.events.append(e)
    if rtype != "AWS::CloudFormation::Stack":
        resource_status(stack)[logical] = (status, reason, e.timestamp)
    else:
        events.stack_status(stack, status, reason, token)


def resource_status(stack: Stack) -> dict[str, tuple[str, str | None, Any]]:
    if not hasattr(stack, "_dockhand_resources"):
        stack._dockhand_resources = {}
    return stack._dockhand_resources


def resources_of(stack: Stack) -> list[tuple[str, Any]]:
    """The stack's created resources, without creating missing ones (moto's resource
    map creates a resource when it is looked up)."""
    rmap = stack.resource_map
    return [
        (logical, rmap._parsed_resources[logical])
        for logical in rmap._resource_json_map
        if hasattr(rmap._parsed_resources.get(logical), "physical_resource_id")
    ]


def set_status(stack: Stack, status: str, reason: str | None = None, token: str | None = None) -> None:
    stack.status = status
    stack.status_reason = reason
    event(stack, stack.name, "AWS::CloudFormation::Stack", stack.stack_id, status, reason, token)


class StackUpdate:
    """One update of one stack (a `state.Entity`)."""

    order = 1

    def __init__(self, backend: Backend, stack: Stack, template: str, parameters: dict[str, str],
                 token: str | None, change_set: Any = None) -> None:
        new_template = parse(template)
        if new_template == stack.template_dict and parameter_strings(new_template, parameters) == stack_parameters(stack):
            raise ValidationError(stack.name, message="No updates are to be performed.")
        self.backend, self.stack, self.token, self.change_set = backend, stack, token, change_set
        self.account = state.account(backend.account_id)
        self.changes = plan(stack, new_template, parameters)
        self.old = (stack.template, stack.template_dict, stack.parameters, stack.resource_map, stack.output_map)
        self.new_map = ResourceMap(
            stack.stack_id, stack.name, parameters, stack.tags, region_name=backend.region_name,
            account_id=backend.account_id, template=new_template, cross_stack_resources=backend.exports,
        )
        self.new_map.load()  # resolves parameters and conditions; may refuse the update
        old_map = stack.resource_map
        for logical in old_map._resource_json_map:
            if logical in old_map._parsed_resources:
                self.new_map._parsed_resources[logical] = old_map._parsed_resources[logical]
        self.fault = self.account.take_fault("stack_update_fails", stack=stack.name)
        # The Service resource completes without waiting for its rollout: the pre-2021
        # ECS integration, CloudFormation's express mode, a template that does not
        # stabilise. UPDATE_COMPLETE then says nothing about what ECS does next.
        self.no_wait = self.account.take_fault("service_does_not_wait", stack=stack.name) is not None
        # The rollback itself fails (a resource changed or deleted out of band): the
        # stack is stuck in UPDATE_ROLLBACK_FAILED until ContinueUpdateRollback.
        self.rollback_fault = self.account.take_fault("stack_rollback_fails", stack=stack.name)
        self.cancel_token: str | None = None
        self.current: tuple[str, str, str] | None = None  # the resource being updated
        self.t = state.now()
        self.done = False
        # DescribeStacks shows the new template and parameters while the update runs.
        stack.template, stack.template_dict, stack.parameters = template, new_template, parameters
        stack.resource_map = self.new_map
        stack.last_updated_time = as_datetime(self.t)
        set_status(stack, "UPDATE_IN_PROGRESS", "User Initiated", token)
        if change_set is not None:
            change_set.execution_status = "EXECUTE_IN_PROGRESS"
        self.gen = self.run()
        self.wait: tuple[Any, ...] = next(self.gen)
        UPDATES[stack.stack_id] = self
        state.scheduler(backend.account_id, backend.region_name).add(self)

    # --- the Entity protocol ---------------------------------------------------
    def next_time(self) -> float | None:
        if self.done:
            return None
        if self.wait[0] == "until":
            return self.wait[1]
        _, svc, deployment = self.wait
        rollout = rollout_of(svc)
        if deployment is not None and deployment.failed_at is not None:
            return max(self.t, deployment.failed_at)
        if rollout.settled():
            return max(self.t, rollout.settled_at)
        return rollout.next_at

    def finished(self) -> bool:
        return self.done

    def step(self, t: float) -> None:
        self.t = t
        if self.stack.status.startswith("DELETE"):  # deleted under the update: nothing left to do
            self.gen.close()
            self.done = True
            UPDATES.pop(self.stack.stack_id, None)
            return
        self._resume(lambda: self.gen.send(None))

    def cancel(self, token: str | None) -> None:
        self.cancel_token = token
        self.t = state.now()
        self._resume(lambda: self.gen.throw(Cancelled()))

    def _resume(self, how: Any) -> None:
        try:
            self.wait = how()
        except StopIteration:
            self.done = True
            UPDATES.pop(self.stack.stack_id, None)

    # --- the update --------------------------------------------------------------
    def after(self) -> tuple[str, float]:
        """A short step between resource events (about 1/8 of the rollout time)."""
        return ("until", self.t + min(0.25, self.account.rollout_seconds / 8))

    def event(self, logical: str, rtype: str, physical: str, status: str, reason: str | None = None) -> None:
        event(self.stack, logical, rtype, physical, status, reason, self.token)

    def run(self) -> Iterator[tuple[Any, ...]]:
        applied: list[tuple[Any, Any, Any]] = []  # (change, old resource, new resource)
        try:
            yield self.after()
            for change in self.changes:
                yield from self.apply(change, applied)
            if self.fault:  # the named resource had nothing to change: it fails anyway
                yield from self.fail_by_fault(self.fault["resource"])
        except (ResourceFailed, Cancelled) as why:
            yield from self.roll_back(why, applied)
            return
        set_status(self.stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None, self.token)
        self.stack.output_map = self.stack._create_output_map()
        yield self.after()
        for change, old, new in applied:
            if physical_id(old) != physical_id(new):
                self.delete(change.logical_resource_id, change.resource_type, old, self.old[3])
        for change in self.changes:
            if change.action == "Remove":
                self.delete(change.logical_resource_id, change.resource_type,
                            self.old[3]._parsed_resources.get(change.logical_resource_id), self.old[3])
        set_status(self.stack, "UPDATE_COMPLETE", None, self.token)
        if self.change_set is not None:
            self.change_set.execution_status = "EXECUTE_COMPLETE"

    def fail_by_fault(self, logical: str) -> Iterator[tuple[Any, ...]]:
        fault, self.fault = self.fault, None
        resource = self.new_map._parsed_resources.get(logical)
        rtype = (self.new_map._resource_json_map.get(logical) or {}).get("Type", "AWS::CloudFormation::CustomResource")
        self.current = (logical, rtype, physical_id(resource))
        self.event(logical, rtype, physical_id(resource), "UPDATE_IN_PROGRESS")
        yield self.after()
        raise ResourceFailed(logical, rtype, physical_id(resource), fault.get("reason") or "Internal Failure")

    def apply(self, change: Any, applied: list[Any]) -> Iterator[tuple[Any, ...]]:
        logical, rtype = change.logical_resource_id, change.resource_type
        if change.action == "Remove":
            return  # removed in the cleanup
        if self.fault and self.fault["resource"] == logical:
            yield from self.fail_by_fault(logical)
        if change.action == "Add":
            self.current = (logical, rtype, "")
            self.event(logical, rtype, "", "CREATE_IN_PROGRESS")
            try:
                new = self.new_map[logical]
            except Exception as e:  # noqa: BLE001 - any model error is the resource's failure
                raise ResourceFailed(logical, rtype, "", f'Resource handler returned message: "{e}"')
            applied.append((change, None, new))
            self.event(logical, rtype, physical_id(new), "CREATE_IN_PROGRESS", "Resource creation Initiated")
            yield self.after()
            self.event(logical, rtype, physical_id(new), "CREATE_COMPLETE")
            self.current = None
            return
        old = self.new_map._parsed_resources.get(logical)
        self.current = (logical, rtype, physical_id(old))
        self.event(logical, rtype, physical_id(old), "UPDATE_IN_PROGRESS")
        primary_before = rollout_of(old).primary() if isinstance(old, ecs_models.Service) else None
        try:
            new = parse_and_update_resource(
                logical, self.new_map._resource_json_map[logical], self.new_map,
                account_id=self.backend.account_id, region_name=self.backend.region_name,
            ) or old
        except Exception as e:  # noqa: BLE001 - any model error is the resource's failure
            message = getattr(e, "message", None) or str(e)
            raise ResourceFailed(logical, rtype, physical_id(old), f'Resource handler returned message: "{message}"')
        self.new_map._parsed_resources[logical] = new
        applied.append((change, old, new))
        self.current = (logical, rtype, physical_id(new))
        if physical_id(new) != physical_id(old):
            self.event(logical, rtype, physical_id(new), "UPDATE_IN_PROGRESS", REPLACING)
        if isinstance(new, ecs_models.Service) and rollout_of(new) is not None and not self.no_wait:
            primary = rollout_of(new).primary()
            deployment = primary if primary is not primary_before else None
            yield ("service", new, deployment)  # CloudFormation waits for the service to be stable
            if deployment is not None and deployment.rollout_state == "FAILED":
                raise ResourceFailed(logical, rtype, physical_id(new), BREAKER_FAILURE.format(token=uuid.uuid4()))
        else:
            yield self.after()
        self.event(logical, rtype, physical_id(new), "UPDATE_COMPLETE")
        self.current = None

    def roll_back(self, why: Exception, applied: list[Any]) -> Iterator[tuple[Any, ...]]:
        if isinstance(why, Cancelled):
            self.token = self.cancel_token
            if self.current:
                self.event(*self.current, "UPDATE_FAILED", "Resource update cancelled")
            reason = "Resource update cancelled"
        else:
            self.event(why.logical, why.rtype, why.physical, "UPDATE_FAILED", why.reason)
            reason = f"The following resource(s) failed to update: [{why.logical}]. "
        self.current = None
        set_status(self.stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason, self.token)
        stack = self.stack
        stack.template, stack.template_dict, stack.parameters, stack.resource_map, stack.output_map = self.old
        yield self.after()
        old_map = self.old[3]
        for change, old, new in reversed(applied):
            if change.action == "Add":
                continue  # deleted in the cleanup
            logical, rtype = change.logical_resource_id, change.resource_type
            self.event(logical, rtype, physical_id(old), "UPDATE_IN_PROGRESS")
            fault = self.rollback_fault
            if fault and fault.get("resource", logical) == logical:
                yield self.after()
                self.event(logical, rtype, physical_id(old), "UPDATE_FAILED",
                           fault.get("reason") or 'Resource handler returned message: "Internal Failure"')
                set_status(stack, "UPDATE_ROLLBACK_FAILED",
                           f"The following resource(s) failed to update: [{logical}]. ", self.token)
                if self.change_set is not None:
                    self.change_set.execution_status = "EXECUTE_FAILED"
                return
            if physical_id(old) == physical_id(new):  # updated in place: apply the old properties again
                try:
                    restored = parse_and_update_resource(
                        logical, old_map._resource_json_map[logical], old_map,
                        account_id=self.backend.account_id, region_name=self.backend.region_name,
                    )
                    old_map._parsed_resources[logical] = restored or old
                except Exception:  # noqa: BLE001 - keep rolling back the others, as best we can
                    pass
            if isinstance(new, ecs_models.Service) and not rollout_of(new).settled():
                yield ("service", new, None)  # the service back on its old revision and count
            else:
                yield self.after()
            self.event(logical, rtype, physical_id(old), "UPDATE_COMPLETE")
        set_status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None, self.token)
        yield self.after()
        for change, old, new in applied:
            if physical_id(old) != physical_id(new):
                self.delete(change.logical_resource_id, change.resource_type, new, self.new_map)
        set_status(stack, "UPDATE_ROLLBACK_COMPLETE", None, self.token)
        if self.change_set is not None:
            self.change_set.execution_status = "EXECUTE_FAILED"

    def delete(self, logical: str, rtype: str, resource: Any, rmap: ResourceMap) -> None:
        """Deletes a replaced, removed or rolled-back resource, with its events."""
        if resource is None:
            return
        self.event(logical, rtype, physical_id(resource), "DELETE_IN_PROGRESS")
        try:
            if isinstance(resource, ecs_models.TaskDefinition):
                ecs = ecs_models.ecs_backends[self.backend.account_id][self.backend.region_name]
                ecs.deregister_task_definition(resource.arn)
            else:
                rmap._delete_resource(resource, rmap._resource_json_map.get(logical) or {"Type": rtype})
        except Exception:  # noqa: BLE001 - a failed delete of an old resource is skipped, as on AWS
            self.event(logical, rtype, physical_id(resource), "DELETE_SKIPPED")
            return
        self.event(logical, rtype, physical_id(resource), "DELETE_COMPLETE")
