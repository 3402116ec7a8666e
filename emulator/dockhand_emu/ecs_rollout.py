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

The tasks of services are the layer's own objects (moto has no service tasks);
ecs.py extends ListTasks and DescribeTasks to return them.
"""

from __future__ import annotations

import random
import uuid

from moto.ecs import models as ecs_models

from . import state
from .state import DEFAULT_STOPPED_REASON, as_datetime

Backend = ecs_models.EC2ContainerServiceBackend
Service = ecs_models.Service

MAX_EVENTS = 100
MAX_STOPPED_TASKS = 100
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


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
