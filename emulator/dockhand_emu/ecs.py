"""ECS services that roll out over time, and fail, like ECS does.

moto creates a service with one PRIMARY deployment that stays IN_PROGRESS forever,
and UpdateService only swaps the service's task definition. Here each service gets a
`Rollout`: a small scheduler that, every rollout_seconds / 4, does what the ECS
service scheduler would do next:

  new deployment -> start its tasks (PENDING) -> tasks RUNNING -> stop the older
  deployments' tasks -> PRIMARY COMPLETED, older deployments gone -> steady state

with the service events ECS writes at each step. A `rollout_fails` fault makes the
new deployment's tasks stop; once rollout_seconds have passed the circuit breaker
marks it FAILED and rolls back with a new PRIMARY on the previous revision. A
`rollout_stalls` fault leaves one task PENDING until the faults are cleared.

The tasks of services are the layer's own objects (moto has no service tasks), so
ListTasks and DescribeTasks are extended to return them.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.core.responses import ActionResult
from moto.core.utils import pascal_to_camelcase, remap_nested_keys

from . import state
from .state import DEFAULT_STOPPED_REASON, as_datetime

Backend = ecs_models.EC2ContainerServiceBackend
Service = ecs_models.Service
TaskDefinition = ecs_models.TaskDefinition

MAX_EVENTS = 100
MAX_STOPPED_TASKS = 100
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


class Deployment:
    """An ECS deployment; moto's serializer reads the snake_case attributes."""

    def __init__(self, svc: Service, task_definition: str, desired: int, t: float) -> None:
        self.id = "ecs-svc/" + "".join(random.choice("0123456789") for _ in range(19))
        self.status = "PRIMARY"
        self.task_definition = task_definition
        self.desired_count = desired
        self.pending_count = 0
        self.running_count = 0
        self.failed_tasks = 0
        self.created_at = self.updated_at = as_datetime(t)
        self.launch_type = svc.launch_type
        self.platform_version = svc.platform_version
        self.network_configuration = svc.network_configuration or None
        self.rollout_state = "IN_PROGRESS"
        self.rollout_state_reason = f"ECS deployment {self.id} in progress."
        # Not part of the API:
        self.started = t
        self.tasks: list[ServiceTask] = []  # PENDING or RUNNING
        self.fail_reason: str | None = None  # its tasks stop with this (rollout_fails)
        self.stalled = False  # rollout_stalls
        self.failed_at: float | None = None
        self.rollback_to: str | None = None

    def count(self) -> None:
        self.running_count = sum(1 for task in self.tasks if task.last_status == "RUNNING")
        self.pending_count = len(self.tasks) - self.running_count


class ServiceTask:
    """A task started by a service's deployment (the shape of ECS's Task)."""

    def __init__(self, svc: Service, backend: Backend, dep: Deployment, t: float) -> None:
        td = backend.describe_task_definition(dep.task_definition)
        self.id = uuid.uuid4().hex
        self.task_arn = f"arn:aws:ecs:{svc.region_name}:{backend.account_id}:task/{svc.cluster_name}/{self.id}"
        self.cluster_arn = svc.cluster_arn
        self.task_definition_arn = dep.task_definition
        self.group = f"service:{svc.name}"
        self.started_by = dep.id
        self.launch_type = svc.launch_type
        self.platform_version = svc.platform_version
        self.cpu = td.cpu
        self.memory = td.memory
        self.last_status = "PENDING"
        self.desired_status = "RUNNING"
        self.created_at = as_datetime(t)
        self.started_at = self.stopping_at = self.stopped_at = None
        self.stopped_reason = self.stop_code = None
        self.health_status = "UNKNOWN"
        self.version = 1
        self.tags: list[dict[str, str]] = []
        self.overrides = {"containerOverrides": [], "inferenceAcceleratorOverrides": []}
        self.containers = [
            {
                "containerArn": f"arn:aws:ecs:{svc.region_name}:{backend.account_id}:container/{svc.cluster_name}/{self.id}/{uuid.uuid4()}",
                "taskArn": self.task_arn,
                "name": c.get("name"),
                "image": c.get("image"),
                "lastStatus": "PENDING",
            }
            for c in td.container_definitions
        ]

    def run(self, t: float) -> None:
        self.last_status = "RUNNING"
        self.started_at = as_datetime(t)
        for c in self.containers:
            c["lastStatus"] = "RUNNING"

    def stop(self, t: float, reason: str, code: str, exit_code: int | None = None) -> None:
        self.last_status = self.desired_status = "STOPPED"
        self.stopping_at = self.stopped_at = as_datetime(t)
        self.stopped_reason, self.stop_code = reason, code
        for c in self.containers:
            c["lastStatus"] = "STOPPED"
            if exit_code is not None:
                c["exitCode"] = exit_code
                c["reason"] = reason


class Rollout:
    """The scheduler of one service (a `state.Entity`)."""

    order = 0

    def __init__(self, svc: Service, backend: Backend) -> None:
        self.svc = svc
        self.backend = backend
        self.account = state.account(backend.account_id)
        self.next_at: float | None = None
        self.stopped: list[ServiceTask] = []
        self.steady_reported = False
        self.settled_at: float | None = None
        svc.deployments = []
        svc.events = []
        state.scheduler(backend.account_id, backend.region_name).add(self)

    # --- the Entity protocol -------------------------------------------------
    def next_time(self) -> float | None:
        return self.next_at

    def finished(self) -> bool:
        return self.svc.status != "ACTIVE"

    def step(self, t: float) -> None:
        self.next_at = None
        wake = self.reconcile(t)
        self.sync(t)
        if wake is not None:
            self.wake(wake)

    # --- helpers ---------------------------------------------------------------
    @property
    def tick(self) -> float:
        return self.account.rollout_seconds / 4

    def wake(self, t: float) -> None:
        self.next_at = t if self.next_at is None else min(self.next_at, t)

    def primary(self) -> Deployment | None:
        return next((d for d in self.svc.deployments if d.status == "PRIMARY"), None)

    def event(self, t: float, message: str) -> None:
        self.svc.events.insert(
            0, {"id": str(uuid.uuid4()), "createdAt": as_datetime(t), "message": f"(service {self.svc.name}) {message}"}
        )
        del self.svc.events[MAX_EVENTS:]

    def settled(self) -> bool:
        """One deployment, COMPLETED, all its tasks running, steady state reported."""
        p = self.primary()
        return (
            p is not None
            and len(self.svc.deployments) == 1
            and p.rollout_state == "COMPLETED"
            and p.running_count == p.desired_count
            and p.pending_count == 0
            and self.steady_reported
        )

    def sync(self, t: float) -> None:
        """Copies the deployments' counts onto the service, as DescribeServices shows them."""
        for d in self.svc.deployments:
            before = (d.running_count, d.pending_count)
            d.count()
            if (d.running_count, d.pending_count) != before:
                d.updated_at = as_datetime(t)
        self.svc.running_count = sum(d.running_count for d in self.svc.deployments)
        self.svc.pending_count = sum(d.pending_count for d in self.svc.deployments)
        p = self.primary()
        if p is not None:
            self.svc.task_definition = p.task_definition
        recount_cluster(self.backend, self.svc.cluster_name)

    def _start(self, dep: Deployment, n: int, t: float) -> None:
        tasks = [ServiceTask(self.svc, self.backend, dep, t) for _ in range(n)]
        dep.tasks.extend(tasks)
        ids = " ".join(f"(task {task.id})" for task in tasks)
        self.event(t, f"has started {n} tasks: {ids}.")

    def _stop(self, dep: Deployment, tasks: list[ServiceTask], t: float, reason: str, code: str,
              exit_code: int | None = None, quiet: bool = False) -> None:
        for task in tasks:
            task.stop(t, reason, code, exit_code)
            dep.tasks.remove(task)
        self.stopped.extend(tasks)
        del self.stopped[:-MAX_STOPPED_TASKS]
        if not quiet:
            ids = " ".join(f"(task {task.id})" for task in tasks)
            self.event(t, f"has stopped {len(tasks)} running tasks: {ids}.")

    # --- what the ECS service scheduler does next --------------------------------
    def reconcile(self, t: float) -> float | None:
        """Does the next thing the service needs; returns when to look again."""
        p = self.primary()
        if p is None or self.svc.status != "ACTIVE":
            return None
        others = [d for d in self.svc.deployments if d is not p]
        rollout = self.account.rollout_seconds
        pending = [task for task in p.tasks if task.last_status == "PENDING"]

        # A deployment whose tasks failed: the breaker trips once the rollout time is up.
        if p.fail_reason and p.failed_tasks:
            if t < p.started + rollout:
                return p.started + rollout
            self.trip_breaker(p, t)
            return t + self.tick
        if pending:
            if p.fail_reason:
                self._stop(p, pending, t, p.fail_reason, "EssentialContainerExited", exit_code=1, quiet=True)
                p.failed_tasks += len(pending)
                return t + self.tick
            if p.stalled:
                for task in pending[:-1]:
                    task.run(t)
                return None  # until the faults are cleared
            for task in pending:
                task.run(t)
            return t + self.tick
        short = p.desired_count - len(p.tasks)
        if short > 0:
            self._start(p, short, t)
            return t + self.tick
        if short < 0:
            self._stop(p, p.tasks[short:], t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
            return t + self.tick
        draining = [d for d in others if d.tasks]
        if draining:
            for d in draining:
                self._stop(d, list(d.tasks), t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
            return t + self.tick
        if others or p.rollout_state == "IN_PROGRESS":
            self.svc.deployments = [p]
            p.rollout_state = "COMPLETED"
            p.rollout_state_reason = f"ECS deployment {p.id} completed."
            p.updated_at = as_datetime(t)
            self.event(t, f"(deployment {p.id}) deployment completed.")
        if not self.steady_reported:
            self.event(t, "has reached a steady state.")
            self.steady_reported = True
            self.settled_at = t
        return None

    def trip_breaker(self, failed: Deployment, t: float) -> None:
        failed.rollout_state = "FAILED"
        failed.rollout_state_reason = BREAKER_REASON
        failed.failed_at = t
        failed.updated_at = as_datetime(t)
        self.event(t, f"deployment {failed.id} deployment failed: tasks failed to start.")
        breaker = (getattr(self.svc, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") and not breaker.get("rollback"):
            failed.fail_reason = None  # FAILED, and no rollback asked for: it stays as it is
            return
        failed.status = "ACTIVE"
        back = Deployment(self.svc, failed.rollback_to or failed.task_definition, self.svc.desired_count, t)
        self.svc.deployments.insert(0, back)
        self.event(t, f"rolling back to deployment {back.id}.")

    # --- what UpdateService and CreateService start ----------------------------
    def deploy(self, task_definition: str, desired: int, t: float, from_update: bool) -> Deployment:
        """A new PRIMARY deployment; the others become ACTIVE and drain."""
        stable = next(
            (d.task_definition for d in self.svc.deployments if d.rollout_state == "COMPLETED"),
            self.svc.task_definition,
        )
        for d in self.svc.deployments:
            d.status = "ACTIVE"
        dep = Deployment(self.svc, task_definition, desired, t)
        dep.rollback_to = stable
        if from_update:
            fails = self.account.take_fault("rollout_fails", service=self.svc.name)
            if fails:
                dep.fail_reason = fails.get("reason") or DEFAULT_STOPPED_REASON
            dep.stalled = self.account.take_fault("rollout_stalls", service=self.svc.name) is not None
        self.svc.deployments.insert(0, dep)
        self.steady_reported = False
        self.settled_at = None
        self.wake(t + self.tick)
        self.sync(t)
        return dep

    def scale(self, desired: int, t: float) -> None:
        """A desiredCount change without a new deployment: the primary grows or shrinks."""
        p = self.primary()
        if p is not None:
            p.desired_count = desired
        self.steady_reported = False
        self.settled_at = None
        self.wake(t + self.tick)

    def resume(self, t: float) -> None:
        """The faults were cleared: a stalled deployment carries on."""
        for d in self.svc.deployments:
            if d.stalled:
                d.stalled = False
                self.wake(t + self.tick)


def rollout_of(svc: Service) -> Rollout | None:
    return getattr(svc, "_dockhand_rollout", None)


def recount_cluster(backend: Backend, cluster_name: str) -> None:
    """Cluster counters from the services' and moto's own tasks (moto's drift negative)."""
    cluster = backend.clusters.get(cluster_name)
    if cluster is None:
        return
    services = [s for s in backend.services.values() if s.cluster_name == cluster_name and s.status == "ACTIVE"]
    moto_tasks = list(backend.tasks.get(cluster_name, {}).values())
    cluster.active_services_count = len(services)
    cluster.running_tasks_count = sum(s.running_count for s in services) + sum(
        1 for task in moto_tasks if task.last_status == "RUNNING"
    )
    cluster.pending_tasks_count = sum(s.pending_count for s in services)


# --- patches of moto's backend -----------------------------------------------------

_create_service = Backend.create_service
_update_service = Backend.update_service
_list_tasks = Backend.list_tasks
_describe_tasks = Backend.describe_tasks


def create_service(self: Backend, cluster_str: str, service_name: str, desired_count: int, *args: Any, **kwargs: Any) -> Service:
    """Starts the service with a PRIMARY deployment that rolls out (moto's never does)."""
    deployment_configuration = kwargs.pop("deployment_configuration", None)
    cluster = self._get_cluster(cluster_str)
    existing = self.services.get(f"{cluster.name}:{service_name}")
    if existing is not None and existing.status == "ACTIVE":  # moto silently replaces it
        raise ecs_models.InvalidParameterException("Creation of service was not idempotent.")
    svc = _create_service(self, cluster_str, service_name, desired_count, *args, **kwargs)
    svc.deployment_configuration = deployment_configuration or dict(DEFAULT_DEPLOYMENT_CONFIGURATION)
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
    desired = props.get("desired_count")
    before = (svc.task_definition, svc.desired_count, svc.deployments)
    _update_service(self, props)
    svc.task_definition, svc.desired_count, svc.deployments = before
    rollout = rollout_of(svc)
    if rollout is None:  # a service made before the layer was loaded cannot happen; be safe
        return svc
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


def _service_tasks(self: Backend, cluster_name: str) -> list[tuple[Service, ServiceTask]]:
    out = []
    for svc in self.services.values():
        rollout = rollout_of(svc)
        if svc.cluster_name != cluster_name or rollout is None:
            continue
        out.extend((svc, task) for task in rollout.stopped)
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
    found = _describe_tasks(self, cluster_str, tasks)
    cluster = self._get_cluster(cluster_str)
    wanted = set(tasks)
    for _, task in _service_tasks(self, cluster.name):
        if task.task_arn in wanted or task.id in wanted:
            found.append(task)
    return found


def update_cluster_resources(self: Backend, cluster: Any, task_num: int, task_state: str | None = "RUNNING") -> None:
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
    """As moto, plus LaunchType, LoadBalancers, NetworkConfiguration and
    DeploymentConfiguration (the circuit breaker), which moto drops."""
    props = cloudformation_json["Properties"]
    backend = ecs_models.ecs_backends[account_id][region_name]
    network = _camel(props.get("NetworkConfiguration"))
    return backend.create_service(
        _name(props.get("Cluster", "default")),
        props.get("ServiceName") or resource_name,
        int(props.get("DesiredCount", 1)),
        task_definition_str=_task_definition_arn(props["TaskDefinition"]),
        load_balancers=_camel(props.get("LoadBalancers")),
        launch_type=props.get("LaunchType"),
        network_configuration=network or None,
        deployment_configuration=_camel(props.get("DeploymentConfiguration")),
    )


def _task_definition_arn(value: Any) -> str:
    return value.arn if isinstance(value, TaskDefinition) else str(value)


def service_update_from_cfn(cls: type, original_resource: Service, new_resource_name: str,
                            cloudformation_json: Any, account_id: str, region_name: str) -> Service:
    """An UpdateService with the resource's new TaskDefinition and DesiredCount."""
    props = cloudformation_json["Properties"]
    backend = ecs_models.ecs_backends[account_id][region_name]
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


def create_service_response(self: Any) -> ActionResult:
    """Keeps deploymentConfiguration, which moto's handler does not pass on."""
    result = _create_service_response(self)
    svc = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
    config = self._get_param("deploymentConfiguration")
    if config:
        svc.deployment_configuration = {**DEFAULT_DEPLOYMENT_CONFIGURATION, **config}
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


def install() -> None:
    Backend.create_service = create_service
    Backend.update_service = update_service
    Backend.list_tasks = list_tasks
    Backend.describe_tasks = describe_tasks
    Backend.update_cluster_resources = update_cluster_resources
    TaskDefinition.create_from_cloudformation_json = classmethod(td_create_from_cfn)
    TaskDefinition.update_from_cloudformation_json = classmethod(td_update_from_cfn)
    Service.create_from_cloudformation_json = classmethod(service_create_from_cfn)
    Service.update_from_cloudformation_json = classmethod(service_update_from_cfn)
    ecs_responses.EC2ContainerServiceResponse.create_service = create_service_response
    ecs_responses.EC2ContainerServiceResponse.list_task_definitions = list_task_definitions_response


def clear_faults(account_id: str) -> None:
    """Called when an account's faults are cleared: stalled rollouts carry on."""
    t = state.now()
    for (acct, _), sched in state.SCHEDULERS.items():
        if acct == account_id:
            for entity in sched.entities:
                if isinstance(entity, Rollout):
                    entity.resume(t)
