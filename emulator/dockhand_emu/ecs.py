"""The patches of moto's ECS: services that roll out (see ecs_rollout.py), their
tasks in ListTasks and DescribeTasks, ListTaskDefinitions that sorts, the ECS
resources of CloudFormation stacks with all their properties, and the
ServiceDeployment API (ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment; see ecs_deployments.py)."""

from __future__ import annotations

import random
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import ECSException

from . import state
from .ecs_deployments import (
    DONE, PAUSE_BANNED_STAGES, STOP_NOOP, STOPPABLE, normalize_configuration, records, revisions,
)
from .ecs_rollout import Rollout, ServiceTask, recount_cluster, rollout_of
from .state import as_datetime

Backend = ecs_models.EC2ContainerServiceBackend
Service = ecs_models.Service
TaskDefinition = ecs_models.TaskDefinition

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


# --- patches of moto's backend -----------------------------------------------------

_create_service = Backend.create_service
_update_service = Backend.update_service
_list_tasks = Backend.list_tasks
_describe_tasks = Backend.describe_tasks
_register_task_definition = Backend.register_task_definition
_deregister_task_definition = Backend.deregister_task_definition


def register_task_definition(self: Backend, *args: Any, **kwargs: Any) -> TaskDefinition:
    """Stamps registeredAt and registeredBy, which moto leaves out (history shows them)."""
    td = _register_task_definition(self, *args, **kwargs)
    td.registered_at = as_datetime()
    td.registered_by = f"arn:aws:iam::{self.account_id}:root"
    return td


def deregister_task_definition(self: Backend, task_definition_str: str) -> TaskDefinition:
    td = _deregister_task_definition(self, task_definition_str)
    td.deregistered_at = as_datetime()
    return td


def create_service(self: Backend, cluster_str: str, service_name: str, desired_count: int, *args: Any, **kwargs: Any) -> Service:
    """Starts the service with a PRIMARY deployment that rolls out (moto's never does)."""
    deployment_configuration = kwargs.pop("deployment_configuration", None)
    cluster = self._get_cluster(cluster_str)
    existing = self.services.get(f"{cluster.name}:{service_name}")
    if existing is not None and existing.status == "ACTIVE":  # moto silently replaces it
        raise ecs_models.InvalidParameterException("Creation of service was not idempotent.")
    svc = _create_service(self, cluster_str, service_name, desired_count, *args, **kwargs)
    svc.deployment_configuration = _configuration(svc, deployment_configuration)
    svc.created_at = as_datetime()
    svc.running_count = svc.pending_count = 0
    rollout = Rollout(svc, self)
    svc._dockhand_rollout = rollout
    if svc.task_definition:
        rollout.deploy(svc.task_definition, svc.desired_count, state.now(), from_update=False)
    return svc


def update_service(self: Backend, props: dict[str, Any]) -> Service:
    """A new task definition (ARN or family[:rev], stored as the ARN) or
    forceNewDeployment starts a new deployment; a new desiredCount alone scales the
    primary. moto's own update applies the other fields; its counts are replaced."""
    props = dict(props)
    svc = self._get_service(props.get("cluster", "default"), props["service"].split("/")[-1])
    td_str = props.pop("task_definition", None)
    new_td = self.describe_task_definition(td_str).arn if td_str else None
    force = props.pop("force_new_deployment", False) in (True, "true", "True")
    if (new_td or force) and (svc.deployment_controller or {}).get("type") == "CODE_DEPLOY":
        # AWS's words: under CodeDeploy only the count, deployment configuration and
        # a few others may change; a new revision is CodeDeploy's to roll out.
        raise ecs_models.InvalidParameterException(
            "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
            "Use AWS CodeDeploy to trigger a new deployment.")
    check_hooks(props.get("deployment_configuration"))
    desired = props.get("desired_count")
    before = (svc.task_definition, svc.desired_count, svc.deployments)
    old_configuration = svc.deployment_configuration
    _update_service(self, props)
    svc.task_definition, svc.desired_count, svc.deployments = before
    if props.get("deployment_configuration"):  # moto replaced it with the request's: merge, keep the strategy
        svc.deployment_configuration = _configuration(svc, {**(old_configuration or {}), **props["deployment_configuration"]})
    rollout = rollout_of(svc)  # every service is made by create_service above
    t = state.now()
    desired = svc.desired_count if desired is None else int(desired)
    current = rollout.primary()
    if (new_td and (current is None or new_td != current.task_definition)) or force:
        svc.desired_count = desired
        rollout.deploy(new_td or svc.task_definition, desired, t, from_update=True)
    elif desired != svc.desired_count:
        svc.desired_count = desired
        rollout.scale(desired, t)
    rollout.sync(t)
    return svc


def _configuration(svc: Service, config: dict[str, Any] | None) -> dict[str, Any]:
    """deploymentConfiguration with ECS's defaults (strategy ROLLING for the ECS
    controller), as DescribeServices shows it."""
    controller = (svc.deployment_controller or {}).get("type", "ECS")
    return normalize_configuration({**DEFAULT_DEPLOYMENT_CONFIGURATION, **(config or {})}, controller)


def _service_tasks(self: Backend, cluster_name: str) -> list[tuple[Service, ServiceTask]]:
    out = []
    for svc in self.services.values():
        rollout = rollout_of(svc)
        if svc.cluster_name != cluster_name or rollout is None:
            continue
        out.extend((svc, task) for task in rollout.stopped)
        if svc.status == "ACTIVE":  # a deleted service's tasks are gone
            out.extend((svc, task) for d in svc.deployments for task in d.tasks)
    return out


def list_tasks(self: Backend, cluster_str: str | None = None, container_instance: str | None = None,
               family: str | None = None, started_by: str | None = None, service_name: str | None = None,
               desiredStatus: str | None = None) -> list[Any]:
    """moto's tasks, plus the services' tasks (moto ignores serviceName: honour it;
    desiredStatus defaults to RUNNING, as on AWS)."""
    wanted = desiredStatus or "RUNNING"
    tasks = _list_tasks(self, cluster_str, container_instance, family, started_by, service_name, wanted)
    if service_name:
        tasks = [t for t in tasks if getattr(t, "group", None) == f"service:{service_name.split('/')[-1]}"]
    if container_instance:
        return tasks
    cluster = self._get_cluster(cluster_str or "default")
    for svc, task in _service_tasks(self, cluster.name):
        if service_name and svc.name != service_name.split("/")[-1]:
            continue
        if family and task.task_definition_arn.split("/")[-1].split(":")[0] != family:
            continue
        if started_by and task.started_by != started_by:
            continue
        if task.desired_status == wanted:
            tasks.append(task)
    return tasks


def describe_tasks(self: Backend, cluster_str: str, tasks: list[str]) -> list[Any]:
    """moto's tasks, plus the services' tasks asked for by ARN or id."""
    found = _describe_tasks(self, cluster_str, tasks)
    cluster = self._get_cluster(cluster_str)
    wanted = set(tasks)
    for _, task in _service_tasks(self, cluster.name):
        if task.task_arn in wanted or task.id in wanted:
            found.append(task)
    return found


_stop_task = Backend.stop_task


def stop_task(self: Backend, cluster_str: str, task_str: str, reason: str) -> Any:
    """StopTask of a service's task (moto knows only its own tasks): stopped with
    stopCode UserInitiated, and replaced by the service scheduler, as on ECS."""
    cluster = self._get_cluster(cluster_str or "default")
    for svc, task in _service_tasks(self, cluster.name):
        if task_str in (task.task_arn, task.id) and task.desired_status == "RUNNING":
            rollout = rollout_of(svc)
            rollout.stop_task(task, reason or "Task stopped by user", state.now())
            return task
    return _stop_task(self, cluster_str, task_str, reason)


def update_cluster_resources(self: Backend, cluster: Any, task_num: int, task_state: str | None = "RUNNING") -> None:
    """moto adds and subtracts counts (and drifts negative): count them instead."""
    recount_cluster(self, cluster.name)


# --- CloudFormation resources ---------------------------------------------------------

def _camel(value: Any) -> Any:
    return remap_nested_keys(value, pascal_to_camelcase) if value is not None else None


def _task_definition_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    """Every TaskDefinition property, in ECS's API casing (moto keeps four and loses
    the containers' names and images on update)."""
    tags = [{"key": t["Key"], "value": t["Value"]} for t in props.get("Tags", [])]
    return {
        "family": props.get("Family") or f"task-definition-{random.randint(0, 10**6)}",
        "container_definitions": _camel(props.get("ContainerDefinitions", [])),
        "volumes": _camel(props.get("Volumes")),
        "network_mode": props.get("NetworkMode"),
        "tags": tags or None,
        "placement_constraints": _camel(props.get("PlacementConstraints")),
        "requires_compatibilities": props.get("RequiresCompatibilities"),
        "cpu": str(props["Cpu"]) if props.get("Cpu") is not None else None,
        "memory": str(props["Memory"]) if props.get("Memory") is not None else None,
        "task_role_arn": props.get("TaskRoleArn"),
        "execution_role_arn": props.get("ExecutionRoleArn"),
        "runtime_platform": _camel(props.get("RuntimePlatform")),
        "ipc_mode": props.get("IpcMode"),
        "pid_mode": props.get("PidMode"),
        "ephemeral_storage": _camel(props.get("EphemeralStorage")),
    }


def td_create_from_cfn(cls: type, resource_name: str, cloudformation_json: Any, account_id: str,
                       region_name: str, **kwargs: Any) -> TaskDefinition:
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.register_task_definition(**_task_definition_kwargs(cloudformation_json["Properties"]))


def td_update_from_cfn(cls: type, original_resource: TaskDefinition, new_resource_name: str,
                       cloudformation_json: Any, account_id: str, region_name: str) -> TaskDefinition:
    """A replacement: a new revision. The old one stays registered until the stack's
    cleanup (or the new one goes, on rollback), as CloudFormation does."""
    backend = ecs_models.ecs_backends[account_id][region_name]
    return backend.register_task_definition(**_task_definition_kwargs(cloudformation_json["Properties"]))


def _name(value: Any) -> str:
    return value.name if hasattr(value, "name") else str(value)


def service_create_from_cfn(cls: type, resource_name: str, cloudformation_json: Any, account_id: str,
                            region_name: str, **kwargs: Any) -> Service:
    """As moto, plus LaunchType, LoadBalancers, NetworkConfiguration,
    DeploymentConfiguration (the circuit breaker, the strategy) and
    DeploymentController, which moto drops."""
    props = cloudformation_json["Properties"]
    backend = ecs_models.ecs_backends[account_id][region_name]
    network = _camel(props.get("NetworkConfiguration"))
    controller = _camel(props.get("DeploymentController"))
    return backend.create_service(
        _name(props.get("Cluster", "default")),
        props.get("ServiceName") or resource_name,
        int(props.get("DesiredCount", 1)),
        task_definition_str=_task_definition_arn(props["TaskDefinition"]),
        load_balancers=_camel(props.get("LoadBalancers")),
        launch_type=props.get("LaunchType"),
        network_configuration=network or None,
        deployment_configuration=_camel(props.get("DeploymentConfiguration")),
        deployment_controller=controller or None,
    )


def _task_definition_arn(value: Any) -> str:
    return value.arn if isinstance(value, TaskDefinition) else str(value)


def service_update_from_cfn(cls: type, original_resource: Service, new_resource_name: str,
                            cloudformation_json: Any, account_id: str, region_name: str) -> Service:
    """An UpdateService with the resource's new TaskDefinition and DesiredCount (a new
    Cluster replaces the service, as on AWS)."""
    props = cloudformation_json["Properties"]
    backend = ecs_models.ecs_backends[account_id][region_name]
    if _name(props.get("Cluster", "default")) != original_resource.cluster_name:
        backend.delete_service(original_resource.cluster_name, original_resource.name, force=True)
        return service_create_from_cfn(cls, new_resource_name, cloudformation_json, account_id, region_name)
    update: dict[str, Any] = {
        "cluster": original_resource.cluster_name,
        "service": original_resource.name,
        "task_definition": _task_definition_arn(props["TaskDefinition"]),
    }
    if props.get("DesiredCount") is not None:
        update["desired_count"] = int(props["DesiredCount"])
    if props.get("DeploymentConfiguration"):
        update["deployment_configuration"] = _camel(props["DeploymentConfiguration"])
    return backend.update_service(update)


# --- patches of moto's responses -------------------------------------------------------

_create_service_response = ecs_responses.EC2ContainerServiceResponse.create_service


def check_hooks(config: dict[str, Any] | None) -> None:
    """A PAUSE hook may not sit where traffic shifts (the stages ECS bans for it)."""
    for hook in (config or {}).get("lifecycleHooks") or []:
        banned = [s for s in hook.get("lifecycleStages") or [] if s in PAUSE_BANNED_STAGES]
        if hook.get("targetType") == "PAUSE" and banned:
            raise ecs_models.InvalidParameterException(
                f"A PAUSE lifecycle hook is not supported in the {' or '.join(banned)} lifecycle stage.")


def create_service_response(self: Any) -> ActionResult:
    """Keeps deploymentConfiguration, which moto's handler does not pass on."""
    check_hooks(self._get_param("deploymentConfiguration"))
    result = _create_service_response(self)
    svc = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    config = self._get_param("deploymentConfiguration")
    if config:
        svc.deployment_configuration = _configuration(svc, config)
        rollout_of(svc).reconfigure(state.now())  # the first deployment, still PENDING, takes it
    return result


def list_task_definitions_response(self: Any) -> ActionResult:
    """Honours sort (ASC/DESC), status, familyPrefix, maxResults and nextToken."""
    prefix = self._get_param("familyPrefix")
    status = self._get_param("status") or "ACTIVE"
    sort = (self._get_param("sort") or "ASC").upper()
    found = sorted(
        (
            td
            for revisions in self.ecs_backend.task_definitions.values()
            for td in revisions.values()
            if td.status == status and (not prefix or td.family == prefix)
        ),
        key=lambda td: (td.family, td.revision),
        reverse=sort == "DESC",
    )
    start = int(self._get_param("nextToken") or 0)
    size = int(self._get_param("maxResults") or 100)
    page = found[start : start + size]
    result: dict[str, Any] = {"taskDefinitionArns": [td.arn for td in page]}
    if start + size < len(found):
        result["nextToken"] = str(start + size)
    return ActionResult(result)


# --- the ServiceDeployment API (moto: 500) ------------------------------------------------

MAX_DESCRIBE = 20  # "You can specify a maximum of 20 ARNs."


class ServiceDeploymentNotFoundException(ECSException):
    def __init__(self, message: str) -> None:
        super().__init__("ServiceDeploymentNotFoundException", message)


class ConflictException(ECSException):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return float(value)


def list_service_deployments_response(self: Any) -> ActionResult:
    """The service's deployments, newest first, filtered by status[] and createdAt
    {after, before}; maxResults (1-100, default 20) and nextToken page them."""
    svc = self.ecs_backend._get_service(self._get_param("cluster") or "default", self._get_param("service"))
    wanted = set(self._get_param("status") or [])
    created = self._get_param("createdAt") or {}
    after, before = _epoch(created.get("after")), _epoch(created.get("before"))
    size = int(self._get_param("maxResults") or 20)
    if not 1 <= size <= 100:
        raise ecs_models.InvalidParameterException("maxResults must be between 1 and 100.")
    found = []
    for rec in records(self.ecs_backend).values():
        if rec.service_arn != svc.arn:
            continue
        at = state.epoch(rec.created_at)
        if wanted and rec.status not in wanted:
            continue
        if (after is not None and at < after) or (before is not None and at > before):
            continue
        found.append(rec)
    found.sort(key=lambda r: r.created_at, reverse=True)
    start = int(self._get_param("nextToken") or 0)
    page = found[start : start + size]
    result: dict[str, Any] = {"serviceDeployments": [r.brief() for r in page]}
    if start + size < len(found):
        result["nextToken"] = str(start + size)
    return ActionResult(result)



def _describe(self: Any, param: str, table: dict[str, Any]) -> tuple[list[Any], list[dict[str, str]]]:
    arns = self._get_param(param) or []
    if not arns:
        raise ecs_models.InvalidParameterException(f"{param} can not be empty.")
    if len(arns) > MAX_DESCRIBE:
        raise ecs_models.InvalidParameterException(f"{param} can have at most {MAX_DESCRIBE} elements.")
    found, failures = [], []
    for arn in arns:
        if arn in table:
            found.append(table[arn].to_api())
        else:
            failures.append({"arn": arn, "reason": "MISSING"})
    return found, failures


def describe_service_deployments_response(self: Any) -> ActionResult:
    found, failures = _describe(self, "serviceDeploymentArns", records(self.ecs_backend))
    return ActionResult({"serviceDeployments": found, "failures": failures})


def describe_service_revisions_response(self: Any) -> ActionResult:
    found, failures = _describe(self, "serviceRevisionArns", revisions(self.ecs_backend))
    return ActionResult({"serviceRevisions": found, "failures": failures})


def stop_service_deployment_response(self: Any) -> ActionResult:
    """stopType ROLLBACK (the default): PENDING or IN_PROGRESS -> ROLLBACK_REQUESTED ->
    ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL; accepted and nothing changes from
    STOP_REQUESTED, ROLLBACK_REQUESTED and ROLLBACK_IN_PROGRESS; a completed one is a
    ConflictException (the model's error for "conflict in the current state of the
    resource"). ABORT: InvalidParameterException, as the API reference says only
    ROLLBACK is valid."""
    arn = self._get_param("serviceDeploymentArn")
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if stop_type not in ("ROLLBACK", "ABORT"):
        raise ecs_models.InvalidParameterException(f"stopType {stop_type} is not valid. Valid values: ROLLBACK.")
    if stop_type == "ABORT":
        raise ecs_models.InvalidParameterException("The ABORT stop type is not supported. Valid values: ROLLBACK.")
    rec = records(self.ecs_backend).get(arn or "")
    if rec is None:
        raise ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
    if rec.status in DONE:
        raise ConflictException(f"The service deployment {arn} is {rec.status} and can not be stopped.")
    if rec.status in STOPPABLE:
        rec.rollout.request_stop(rec, state.now())
        rec.rollout.sync(state.now())
    elif rec.status not in STOP_NOOP:  # pragma: no cover - every status is one of the above
        raise ConflictException(f"The service deployment {arn} is {rec.status} and can not be stopped.")
    return ActionResult({"serviceDeploymentArn": rec.arn})


def continue_service_deployment_response(self: Any) -> ActionResult:
    """A PAUSE hook's decision: CONTINUE (the default) lets its stage go on, ROLLBACK
    rolls the deployment back. The hook must be AWAITING_ACTION and the deployment
    IN_PROGRESS; otherwise a ConflictException (the emulator's words)."""
    arn = self._get_param("serviceDeploymentArn")
    hook_id = self._get_param("hookId")
    action = self._get_param("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise ecs_models.InvalidParameterException(f"action {action} is not valid. Valid values: CONTINUE, ROLLBACK.")
    rec = records(self.ecs_backend).get(arn or "")
    if rec is None:
        raise ServiceDeploymentNotFoundException(f"The service deployment {arn} does not exist.")
    hook = next((h for h in rec.hook_details if h["hookId"] == hook_id), None)
    if hook is None:
        raise ecs_models.InvalidParameterException(f"The service deployment {arn} has no lifecycle hook {hook_id}.")
    primary = rec.rollout.primary()
    if (rec.status != "IN_PROGRESS" or hook["status"] != "AWAITING_ACTION" or primary is None
            or primary.record is not rec or hook_id not in primary.pauses):
        raise ConflictException(f"The lifecycle hook {hook_id} is {hook['status']} and the service deployment "
                                f"is {rec.status}: only an AWAITING_ACTION hook of an IN_PROGRESS deployment can be acted on.")
    rec.rollout.act_on_hook(primary, hook_id, action, state.now())
    rec.rollout.sync(state.now())
    return ActionResult({"serviceDeploymentArn": rec.arn})


def install() -> None:
    Backend.create_service = create_service
    Backend.update_service = update_service
    Backend.list_tasks = list_tasks
    Backend.describe_tasks = describe_tasks
    Backend.stop_task = stop_task
    Backend.update_cluster_resources = update_cluster_resources
    Backend.register_task_definition = register_task_definition
    Backend.deregister_task_definition = deregister_task_definition
    TaskDefinition.create_from_cloudformation_json = classmethod(td_create_from_cfn)
    TaskDefinition.update_from_cloudformation_json = classmethod(td_update_from_cfn)
    Service.create_from_cloudformation_json = classmethod(service_create_from_cfn)
    Service.update_from_cloudformation_json = classmethod(service_update_from_cfn)
    ecs_responses.EC2ContainerServiceResponse.create_service = create_service_response
    ecs_responses.EC2ContainerServiceResponse.list_task_definitions = list_task_definitions_response
    ecs_responses.EC2ContainerServiceResponse.list_service_deployments = list_service_deployments_response
    ecs_responses.EC2ContainerServiceResponse.describe_service_deployments = describe_service_deployments_response
    ecs_responses.EC2ContainerServiceResponse.describe_service_revisions = describe_service_revisions_response
    ecs_responses.EC2ContainerServiceResponse.stop_service_deployment = stop_service_deployment_response
    ecs_responses.EC2ContainerServiceResponse.continue_service_deployment = continue_service_deployment_response


def clear_faults(account_id: str) -> None:
    """Called when an account's faults are cleared: stalled rollouts carry on."""
    t = state.now()
    for (acct, _), sched in state.SCHEDULERS.items():
        if acct == account_id:
            for entity in sched.entities:
                if isinstance(entity, Rollout):
                    entity.resume(t)
