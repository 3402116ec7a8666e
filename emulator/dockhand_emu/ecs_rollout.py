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
ecs.py extends ListTasks and DescribeTasks to return them. Their containers with the
awslogs log driver write a few lines to CloudWatch Logs as they run and stop (logs.py).

Each deployment also moves its ServiceDeployment record (ecs_deployments.py): a
ROLLING one through SCALE_UP and CLEAN_UP, a BLUE_GREEN, LINEAR or CANARY one through
every lifecycle stage (traffic shifted in steps, bake times in scaled minutes), with
the failures a `deployment_fails` fault asks for, rollbacks that take time on the
same record, and StopServiceDeployment.
"""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from moto.ecs import models as ecs_models

from . import events, logs, state
from .ecs_deployments import (
    PAUSE_TIMEOUT_MINUTES, REASON_ALARM, REASON_HOOK, REASON_HOOK_ROLLBACK, REASON_HOOK_TIMED_OUT, REASON_ROLLBACK_FAILED, REASON_STOP, REASON_SUPERSEDED, STAGES, ServiceDeployment,
    ServiceRevision, breaker_threshold, normalize_configuration, production_shift, records, revisions,
)
from .state import DEFAULT_STOPPED_REASON, as_datetime

Backend = ecs_models.EC2ContainerServiceBackend
Service = ecs_models.Service

MAX_EVENTS = 100
MAX_STOPPED_TASKS = 100
BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
STAGED_PATH = list(STAGES)  # BLUE_GREEN, LINEAR, CANARY (RECONCILE_SERVICE only when needed)
STAGES_WITH_TASKS = ("SCALE_UP",)  # where a staged deployment's failing tasks are handled


def failed_exit_code(reason: str | None) -> int:
    """A failing task's exit code: 137 when it was killed for memory (the kernel's OOM
    kill, whose container reason on AWS starts `OutOfMemoryError`), otherwise 1."""
    return 137 if (reason or "").startswith("OutOfMemoryError") else 1


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
        # The ServiceDeployment side (ecs_deployments.py):
        self.revision: ServiceRevision | None = None  # what it deploys
        self.record: ServiceDeployment | None = None  # the record it moves
        self.role = "target"  # or "rollback": the record's rollback to its source
        self.rollback_revision: ServiceRevision | None = None
        self.config: dict = {}  # the deploymentConfiguration it started with
        self.stage: str | None = None  # staged strategies: the lifecycle stage it is in
        self.stage_until = 0.0
        self.shift: list[tuple[float, float]] = []  # production traffic steps still to do
        self.cleaned = False
        self.stage_fault: dict | None = None  # deployment_fails
        self.rollback_fault: dict | None = None  # rollback_fails
        self.halted = False  # FAILED or STOPPED with nothing more to do: starts no tasks
        self.pauses: dict[str, tuple[float, str]] = {}  # PAUSE hooks awaiting action: id -> (expires, action)

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
        # Not part of the API: where its state changes are put on EventBridge, and
        # where its containers' awslogs driver writes.
        self._account_id, self._region = backend.account_id, svc.region_name
        self._logs = logs.TaskLogs(backend.account_id, svc.region_name, self.id, td.container_definitions)
        self.changed()

    def run(self, t: float) -> None:
        self.last_status = "RUNNING"
        self.started_at = as_datetime(t)
        for c in self.containers:
            c["lastStatus"] = "RUNNING"
        self.version += 1
        self._logs.started(self.started_at)
        self.changed()

    def stop(self, t: float, reason: str, code: str, exit_code: int | None = None) -> None:
        """Stopped. The scheduler's own stops (a deploy replacing the task, scaling in)
        end with the app's clean exit, 0; a failure's exit code comes with its reason."""
        ran = self.started_at is not None
        self.last_status = self.desired_status = "STOPPED"
        self.stopping_at = self.stopped_at = as_datetime(t)
        self.stopped_reason, self.stop_code = reason, code
        if exit_code is None and code == "ServiceSchedulerInitiated":
            exit_code = 0
        for c in self.containers:
            c["lastStatus"] = "STOPPED"
            if exit_code is not None:
                c["exitCode"] = exit_code
                if exit_code:
                    c["reason"] = reason
        self.version += 1
        self._logs.stopped(self.stopped_at, exit_code, reason, ran)
        self.changed()

    def detail(self) -> dict:
        """The task as `ECS Task State Change` carries it (DescribeTasks' shape)."""
        def at(value: Any) -> str | None:
            return events.iso_ms(state.epoch(value)) if value is not None else None
        out = {
            "clusterArn": self.cluster_arn, "taskArn": self.task_arn, "taskDefinitionArn": self.task_definition_arn,
            "group": self.group, "startedBy": self.started_by, "launchType": self.launch_type,
            "lastStatus": self.last_status, "desiredStatus": self.desired_status, "version": self.version,
            "cpu": self.cpu, "memory": self.memory, "createdAt": at(self.created_at), "startedAt": at(self.started_at),
            "stoppingAt": at(self.stopping_at), "stoppedAt": at(self.stopped_at), "stopCode": self.stop_code,
            "stoppedReason": self.stopped_reason, "updatedAt": events.iso_ms(state.now()),
            "containers": [dict(c) for c in self.containers],
        }
        return {k: v for k, v in out.items() if v is not None}

    def changed(self) -> None:
        events.emit(self._account_id, self._region, "aws.ecs", "ECS Task State Change", [self.task_arn], self.detail())


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
        self.current_record: ServiceDeployment | None = None  # Service.currentServiceDeployment
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

    # --- what ECS puts on EventBridge ------------------------------------------
    def put_event(self, detail_type: str, detail: dict[str, Any]) -> None:
        events.emit(self.backend.account_id, self.svc.region_name, "aws.ecs", detail_type, [self.svc.arn], detail)

    def deployment_event(self, dep: Deployment, name: str) -> None:
        """`ECS Deployment State Change` of a deployments[] entry (by its ecs-svc/ id)."""
        self.put_event("ECS Deployment State Change", {
            "eventType": "ERROR" if name == "SERVICE_DEPLOYMENT_FAILED" else "INFO",
            "eventName": name, "deploymentId": dep.id, "updatedAt": events.iso_ms(state.now()),
            "reason": dep.rollout_state_reason,
        })

    def service_action(self, name: str, level: str = "INFO") -> None:
        """`ECS Service Action`: steady state, tasks that fail to start, ..."""
        self.put_event("ECS Service Action", {
            "eventType": level, "eventName": name, "clusterArn": self.svc.cluster_arn,
            "createdAt": events.iso_ms(state.now()),
        })

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
        # currentServiceDeployment and currentServiceRevisions (the revisions with tasks, and the primary's)
        self.svc.current_service_deployment = self.current_record.arn if self.current_record else None
        current: list[ServiceRevision] = []
        for d in self.svc.deployments:
            if d.revision is not None and d.revision not in current and (d.tasks or d is p):
                current.append(d.revision)
        self.svc.current_service_revisions = [
            {"arn": r.arn,
             "requestedTaskCount": sum(d.desired_count if d is p else len(d.tasks) for d in self.svc.deployments if d.revision is r),
             "runningTaskCount": sum(d.running_count for d in self.svc.deployments if d.revision is r),
             "pendingTaskCount": sum(d.pending_count for d in self.svc.deployments if d.revision is r)}
            for r in current
        ] if self.current_record else None
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
        if p is None or self.svc.status != "ACTIVE" or p.halted:
            return None
        rec = p.record if p.role == "target" else None
        if rec is not None and rec.status == "ROLLBACK_REQUESTED":  # StopServiceDeployment
            self.fail_deployment(p, t, REASON_STOP, f"deployment {p.id} deployment stopped: {REASON_STOP[0].lower()}{REASON_STOP[1:]}")
            self.start_rollback(p, t, REASON_STOP)
            return t + self.tick
        if rec is not None and rec.status == "PENDING":
            # A first deployment has nothing to shift traffic from: it scales up as ROLLING does.
            staged = p.config.get("strategy") in ("BLUE_GREEN", "LINEAR", "CANARY") and bool(rec.sources)
            if staged:
                rec.begin(t, "PRE_SCALE_UP")
                first = "RECONCILE_SERVICE" if sum(1 for d in self.svc.deployments if d.tasks and d is not p) > 1 else "PRE_SCALE_UP"
                return self.enter(p, first, t)
            rec.begin(t, "SCALE_UP")
            if self.stage_fails(p, "SCALE_UP", t):
                return t + self.tick
        if p.stage is not None and p.stage != "DONE":
            return self.reconcile_staged(p, t)
        return self.reconcile_rolling(p, t)

    def reconcile_rolling(self, p: Deployment, t: float) -> float | None:
        others = [d for d in self.svc.deployments if d is not p]
        pending = [task for task in p.tasks if task.last_status == "PENDING"]
        if p.fail_reason:
            return self.failing(p, t)
        if pending:
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
        rec = p.record if p.role == "target" else None
        draining = [d for d in others if d.tasks]
        if rec is not None and not p.cleaned and rec.status == "IN_PROGRESS" and (draining or others):
            p.cleaned = True  # ROLLING: the old tasks stop in CLEAN_UP
            if self.stage_fails(p, "CLEAN_UP", t, any_stage=True):
                return t + self.tick
            rec.set_stage("CLEAN_UP", t)
            early = p.config.get("earlySuccessCriteria") or {}
            if early.get("enable") and early.get("sourceServiceRevisionCleanup") == "DEFERRED" and self.healthy_enough(p, early):
                rec.finish("SUCCESSFUL", t)  # the old tasks drain after it (legacy deployments[] still shows them)
                return t + self.tick
        if draining:
            for d in draining:
                self._stop(d, list(d.tasks), t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
            return t + self.tick
        if rec is not None and rec.status == "IN_PROGRESS" and not p.cleaned:
            p.cleaned = True  # nothing to drain (a first deployment): CLEAN_UP is this step
            if self.stage_fails(p, "CLEAN_UP", t, any_stage=True):
                return t + self.tick
            rec.set_stage("CLEAN_UP", t)
        if others or p.rollout_state == "IN_PROGRESS":
            self.svc.deployments = [p]
            p.rollout_state = "COMPLETED"
            p.rollout_state_reason = f"ECS deployment {p.id} completed."
            p.updated_at = as_datetime(t)
            self.event(t, f"(deployment {p.id}) deployment completed.")
            self.deployment_event(p, "SERVICE_DEPLOYMENT_COMPLETED")
            if p.record is not None and p.record.status == "IN_PROGRESS" and p.role == "target":
                p.record.finish("SUCCESSFUL", t)
            elif p.record is not None and p.record.status == "ROLLBACK_IN_PROGRESS" and p.role == "rollback":
                p.record.finish("ROLLBACK_SUCCESSFUL", t)
        if not self.steady_reported:
            self.event(t, "has reached a steady state.")
            self.service_action("SERVICE_STEADY_STATE")
            self.steady_reported = True
            self.settled_at = t
        return None

    @staticmethod
    def healthy_enough(p: Deployment, early: dict) -> bool:
        percent = early.get("healthyPercent") or 100
        return p.running_count * 100 >= percent * p.desired_count

    def failing(self, p: Deployment, t: float) -> float | None:
        """A deployment whose tasks fail: each batch stops at once; replacements are
        started until the breaker's threshold is reached; it trips once the rollout time
        is up (a rollback's failure ends the record ROLLBACK_FAILED instead)."""
        pending = [task for task in p.tasks if task.last_status == "PENDING"]
        if pending:
            self._stop(p, pending, t, p.fail_reason, "EssentialContainerExited", exit_code=failed_exit_code(p.fail_reason), quiet=True)
            impaired = p.failed_tasks < breaker_threshold(p.config, p.desired_count) <= p.failed_tasks + len(pending)
            p.failed_tasks += len(pending)
            if impaired:  # as often as ECS says it: once a deployment's failures reach the breaker's count
                self.service_action("SERVICE_TASK_START_IMPAIRED", "WARN")
            if p.record is not None:
                p.record.failure_count = p.failed_tasks if p.role == "target" else p.record.failure_count
                p.record.touch(t)
            return t + self.tick
        threshold = breaker_threshold(p.config, p.desired_count)
        short = p.desired_count - len(p.tasks)
        if p.failed_tasks < threshold and short > 0:
            self._start(p, short, t)
            return t + self.tick
        if not p.failed_tasks:  # nothing to fail (desired 0)
            p.fail_reason = None
            return t + self.tick
        if t < p.started + self.account.rollout_seconds:
            return p.started + self.account.rollout_seconds
        if p.role == "rollback":
            self.rollback_failed(p, t)
            return None
        self.trip_breaker(p, t)
        return t + self.tick

    # --- BLUE_GREEN, LINEAR and CANARY: the lifecycle stages ----------------------
    @property
    def stage_tick(self) -> float:
        """A stage without a wait of its own lasts rollout_seconds / 10 (about ten of them)."""
        return self.account.rollout_seconds / 10

    def enter(self, p: Deployment, stage: str, t: float) -> float | None:
        rec = p.record
        for hook in rec.hook_details:
            if hook["status"] == "IN_PROGRESS":
                hook["status"] = "SUCCEEDED"
        p.stage = stage
        rec.set_stage(stage, t)
        hooks = [h for h in (p.config.get("lifecycleHooks") or []) if stage in (h.get("lifecycleStages") or [])]
        rec.hook_details = [
            {"hookId": f"ecs-hook-{random.getrandbits(64):016x}", "targetType": h.get("targetType") or "AWS_LAMBDA",
             "targetArn": h.get("hookTargetArn"), "status": "IN_PROGRESS"}
            for h in hooks
        ]
        for hook, spec in zip(rec.hook_details, hooks):
            if hook["targetArn"] is None:
                del hook["targetArn"]
            if hook["targetType"] == "PAUSE":  # waits for ContinueServiceDeployment or its timeout
                timeout = spec.get("timeoutConfiguration") or {}
                minutes = float(timeout.get("timeoutInMinutes") or PAUSE_TIMEOUT_MINUTES)
                expires = t + minutes * self.account.minute_seconds
                hook.update(status="AWAITING_ACTION", expiresAt=as_datetime(expires),
                            timeoutAction=timeout.get("action") or "ROLLBACK")
                p.pauses[hook["hookId"]] = (expires, hook["timeoutAction"])
                self.hook_event(rec, hook, stage)
        if self.stage_fails(p, stage, t):
            return t + self.tick
        if stage == "PRODUCTION_TRAFFIC_SHIFT":
            p.shift = production_shift(p.config, self.account.minute_seconds)
            return self.shift_step(p, t)
        if stage == "BAKE_TIME":
            bake = float(p.config.get("bakeTimeInMinutes") or 0) * self.account.minute_seconds
            p.stage_until = t + max(self.stage_tick, bake)
            return p.stage_until
        if stage == "CLEAN_UP":
            for d in self.svc.deployments:
                if d is not p and d.tasks:
                    self._stop(d, list(d.tasks), t, f"Scaling activity initiated by (deployment {p.id})", "ServiceSchedulerInitiated")
            p.cleaned = True
        p.stage_until = t + self.stage_tick
        return p.stage_until

    def shift_step(self, p: Deployment, t: float) -> float:
        weight, hold = p.shift.pop(0)
        p.record.production_weight = weight
        p.record.touch(t)
        p.stage_until = t + max(self.stage_tick, hold)
        return p.stage_until

    def reconcile_staged(self, p: Deployment, t: float) -> float | None:
        if p.fail_reason and p.stage in STAGES_WITH_TASKS:
            return self.failing(p, t)
        stage = p.stage
        if p.pauses:  # a PAUSE hook holds the stage until acted on, or its timeout's action
            hook_id, (expires, action) = min(p.pauses.items(), key=lambda kv: kv[1][0])
            if t < expires:
                return expires
            self.act_on_hook(p, hook_id, action, t, timed_out=True)
            return t + self.stage_tick
        if stage == "SCALE_UP":  # the green tasks start and run while blue serves
            pending = [task for task in p.tasks if task.last_status == "PENDING"]
            if pending:
                if p.stalled:
                    for task in pending[:-1]:
                        task.run(t)
                    return None
                for task in pending:
                    task.run(t)
                return t + self.stage_tick
            short = p.desired_count - len(p.tasks)
            if short > 0:
                self._start(p, short, t)
                return t + self.stage_tick
        elif t < p.stage_until:
            return p.stage_until
        if stage == "PRODUCTION_TRAFFIC_SHIFT" and p.shift:
            return self.shift_step(p, t)
        if stage == "TEST_TRAFFIC_SHIFT":
            p.record.test_weight = 100.0
        following = STAGED_PATH[STAGED_PATH.index(stage) + 1] if stage != "CLEAN_UP" else None
        if following is None:
            for hook in p.record.hook_details:
                if hook["status"] == "IN_PROGRESS":
                    hook["status"] = "SUCCEEDED"
            p.stage = "DONE"  # the rolling path completes it (deployments[] and events)
            return self.reconcile_rolling(p, t)
        return self.enter(p, following, t)

    def hook_event(self, rec: ServiceDeployment, hook: dict, stage: str) -> None:
        """`ECS Hook State Change`: a deployment paused at a PAUSE hook."""
        self.put_event("ECS Hook State Change", {
            "eventType": "INFO", "eventName": "HOOK_AWAITING_ACTION", "clusterArn": self.svc.cluster_arn,
            "serviceArn": self.svc.arn, "serviceDeploymentArn": rec.arn, "hookId": hook["hookId"],
            "targetType": "PAUSE", "lifecycleStage": stage, "expiresAt": events.iso_ms(state.epoch(hook["expiresAt"])),
            "timeoutAction": hook["timeoutAction"], "createdAt": events.iso_ms(state.now()),
        })

    def act_on_hook(self, p: Deployment, hook_id: str, action: str, t: float, timed_out: bool = False) -> None:
        """ContinueServiceDeployment, or a PAUSE hook's timeout: CONTINUE lets the stage
        go on; ROLLBACK fails the deployment and rolls it back."""
        p.pauses.pop(hook_id, None)
        rec = p.record
        hook = next(h for h in rec.hook_details if h["hookId"] == hook_id)
        stage = rec.lifecycle_stage or p.stage or ""
        if timed_out:
            hook["status"] = "TIMED_OUT"
        elif action == "CONTINUE":
            hook["status"] = "SUCCEEDED"
        else:
            hook["status"] = "FAILED"
        rec.touch(t)
        if action == "CONTINUE":
            self.wake(t)
            return
        words = REASON_HOOK_TIMED_OUT if timed_out else REASON_HOOK_ROLLBACK
        reason = words.format(hook_id=hook_id, stage=stage)
        p.pauses.clear()
        self.fail_deployment(p, t, reason, f"deployment {p.id} deployment failed: {reason[0].lower()}{reason[1:]}")
        self.start_rollback(p, t, reason)
        self.wake(t + self.tick)

    # --- failures -------------------------------------------------------------------
    def stage_fails(self, p: Deployment, stage: str, t: float, any_stage: bool = False) -> bool:
        """A `deployment_fails` fault for this stage (with any_stage, for any stage a
        ROLLING deployment does not pass): fails the deployment the way it says."""
        fault = p.stage_fault
        if fault is None or not (fault.get("stage", "SCALE_UP") == stage or
                                 (any_stage and fault.get("stage") not in ("SCALE_UP", "CLEAN_UP"))):
            return False
        p.stage_fault = None
        rec = p.record
        rec.set_stage(stage, t)
        by = fault.get("by", "breaker")
        if by == "breaker":  # the tasks exit from now on; the breaker counts them
            p.fail_reason = fault.get("reason") or DEFAULT_STOPPED_REASON
            running = [task for task in p.tasks if task.last_status == "RUNNING"]
            if running:
                self._stop(p, running, t, p.fail_reason, "EssentialContainerExited", exit_code=failed_exit_code(p.fail_reason), quiet=True)
                p.failed_tasks += len(running)
                rec.failure_count = p.failed_tasks
            if p.stage is not None and p.stage not in STAGES_WITH_TASKS:
                p.stage = "SCALE_UP"  # the failing tasks are handled as in SCALE_UP (the record keeps its stage)
            p.started = min(p.started, t - self.account.rollout_seconds / 2)  # trips about half a rollout later
            return False if stage == "SCALE_UP" and not running else True
        if by == "alarm":
            name = fault["alarm"]
            rec.alarm_status = "TRIGGERED"
            if name not in rec.alarm_names:
                rec.alarm_names.append(name)
            rec.triggered_alarms = [name]
            reason = REASON_ALARM.format(names=name)
            wants_rollback = (p.config.get("alarms") or {}).get("rollback", True) or not (p.config.get("alarms") or {}).get("enable")
        else:  # hook
            arn = fault["hook"]
            for hook in rec.hook_details:
                if hook.get("targetArn") == arn:
                    hook["status"] = "FAILED"
                    break
            else:
                rec.hook_details.append({"hookId": f"ecs-hook-{random.getrandbits(64):016x}", "targetType": "AWS_LAMBDA",
                                         "targetArn": arn, "status": "FAILED"})
            reason = REASON_HOOK.format(arn=arn, stage=stage)
            wants_rollback = True  # a failed hook always rolls back
        self.fail_deployment(p, t, reason, f"deployment {p.id} deployment failed: {reason[0].lower()}{reason[1:]}")
        if wants_rollback:
            self.start_rollback(p, t, reason)
        else:
            self.stop_deployment(p, t, reason)
        return True

    def fail_deployment(self, p: Deployment, t: float, reason: str, message: str) -> None:
        """The legacy side of a failure: the deployment FAILED (CloudFormation sees it)."""
        p.rollout_state = "FAILED"
        p.rollout_state_reason = reason
        p.failed_at = t
        p.updated_at = as_datetime(t)
        self.event(t, message)
        self.deployment_event(p, "SERVICE_DEPLOYMENT_FAILED")

    def stop_deployment(self, p: Deployment, t: float, reason: str) -> None:
        """Failed with no rollback asked for: STOPPED, and it starts no more tasks."""
        p.fail_reason = None
        p.halted = True
        if p.record is not None and p.role == "target":
            p.record.finish("STOPPED", t, reason)

    def trip_breaker(self, failed: Deployment, t: float) -> None:
        self.fail_deployment(failed, t, BREAKER_REASON, f"deployment {failed.id} deployment failed: tasks failed to start.")
        rec = failed.record if failed.role == "target" else None
        if rec is not None:
            rec.breaker_status = "TRIGGERED"
            rec.failure_count = failed.failed_tasks
        breaker = (getattr(self.svc, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
        if breaker.get("enable") and not breaker.get("rollback"):
            self.stop_deployment(failed, t, BREAKER_REASON)  # FAILED, and no rollback asked for
            return
        self.start_rollback(failed, t, BREAKER_REASON)

    def start_rollback(self, failed: Deployment, t: float, reason: str) -> None:
        """A new PRIMARY deployment of the revision that was there before (the legacy
        view, as on AWS); the record goes ROLLBACK_IN_PROGRESS and ends with it."""
        failed.status = "ACTIVE"
        failed.fail_reason = None
        failed.pauses.clear()  # a hook still awaiting action waits for nothing now
        rec = failed.record if failed.role == "target" else None
        back = Deployment(self.svc, failed.rollback_to or failed.task_definition, self.svc.desired_count, t)
        back.revision = failed.rollback_revision or failed.revision
        back.config = failed.config
        if rec is not None:
            back.record, back.role = rec, "rollback"
            rec.start_rollback(t, reason, failed.rollback_revision)
            fault = self.account.take_fault("rollback_fails", service=self.svc.name)
            if fault:
                back.fail_reason = fault.get("reason") or DEFAULT_STOPPED_REASON
        self.svc.deployments.insert(0, back)
        self.event(t, f"rolling back to deployment {back.id}.")
        self.deployment_event(back, "SERVICE_DEPLOYMENT_IN_PROGRESS")
        self.steady_reported = False
        self.settled_at = None

    def rollback_failed(self, back: Deployment, t: float) -> None:
        """The rollback's own tasks failed: ROLLBACK_FAILED; what runs stays as it is."""
        self.fail_deployment(back, t, BREAKER_REASON, f"deployment {back.id} deployment failed: tasks failed to start.")
        back.fail_reason = None
        back.halted = True
        rec = back.record
        if rec is not None and rec.status == "ROLLBACK_IN_PROGRESS":
            arn = back.revision.arn if back.revision is not None else back.task_definition
            rec.finish("ROLLBACK_FAILED", t, REASON_ROLLBACK_FAILED.format(arn=arn))

    def request_stop(self, rec: ServiceDeployment, t: float) -> None:
        """StopServiceDeployment (ROLLBACK) of an ongoing record: ROLLBACK_REQUESTED now,
        the rollback on the service's next step."""
        p = self.primary()
        if p is None or p.record is not rec or p.role != "target" or p.halted:
            rec.finish("STOPPED", t, REASON_STOP)  # nothing of it is deploying any more
            return
        if p.rollback_to is None and p.rollback_revision is None:
            self.stop_deployment(p, t, REASON_STOP)  # a first deployment: nothing to go back to
            return
        rec.status = "ROLLBACK_REQUESTED"
        rec.touch(t)
        self.wake(t + self.tick)

    # --- what UpdateService and CreateService start ----------------------------
    def deploy(self, task_definition: str, desired: int, t: float, from_update: bool) -> Deployment:
        """A new PRIMARY deployment; the others become ACTIVE and drain. With the ECS
        deployment controller it gets a ServiceDeployment record (any ongoing one is
        STOPPED: the new one takes over)."""
        stable_dep = next((d for d in self.svc.deployments if d.rollout_state == "COMPLETED"), None)
        stable = stable_dep.task_definition if stable_dep is not None else self.svc.task_definition
        for d in self.svc.deployments:
            d.status = "ACTIVE"
        dep = Deployment(self.svc, task_definition, desired, t)
        dep.rollback_to = stable
        dep.rollback_revision = stable_dep.revision if stable_dep is not None else None
        dep.config = normalize_configuration(getattr(self.svc, "deployment_configuration", None))
        if from_update:
            fails = self.account.take_fault("rollout_fails", service=self.svc.name)
            if fails:
                dep.fail_reason = fails.get("reason") or DEFAULT_STOPPED_REASON
            dep.stalled = self.account.take_fault("rollout_stalls", service=self.svc.name) is not None
            dep.stage_fault = self.account.take_fault("deployment_fails", service=self.svc.name)
        dep.revision = ServiceRevision(self, task_definition, t)
        revisions(self.backend)[dep.revision.arn] = dep.revision
        if (self.svc.deployment_controller or {}).get("type", "ECS") == "ECS":
            for old in records(self.backend).values():
                if old.rollout is self and old.status in ("PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED",
                                                           "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED"):
                    old.finish("STOPPED", t, REASON_SUPERSEDED)
            sources = []
            for d in self.svc.deployments:
                if d.revision is not None and d.revision not in sources and (d.tasks or d is stable_dep):
                    sources.append(d.revision)
            dep.record = ServiceDeployment(self, dep.revision, sources, t)
            records(self.backend)[dep.record.arn] = dep.record
            self.current_record = dep.record
        self.svc.deployments.insert(0, dep)
        self.steady_reported = False
        self.settled_at = None
        self.wake(t + self.tick)
        self.sync(t)
        self.deployment_event(dep, "SERVICE_DEPLOYMENT_IN_PROGRESS")
        return dep

    def reconfigure(self, t: float) -> None:
        """CreateService's deploymentConfiguration reaches the layer after the first
        deployment was made (moto's handler drops it): that deployment, still PENDING,
        takes it."""
        p = self.primary()
        if p is None or p.record is None or p.record.status != "PENDING":
            return
        p.config = normalize_configuration(self.svc.deployment_configuration)
        p.record.config = copy.deepcopy(p.config)
        fresh = ServiceDeployment(self, p.revision, p.record.sources, t)
        for attr in ("threshold", "breaker_status", "alarm_names", "alarm_status", "production_weight", "test_weight"):
            setattr(p.record, attr, getattr(fresh, attr))

    def stop_task(self, task: ServiceTask, reason: str, t: float) -> None:
        """StopTask on one of the service's tasks: it stops (UserInitiated) and, the
        deployment being short of its desired count, the scheduler starts another."""
        for d in self.svc.deployments:
            if task in d.tasks:
                self._stop(d, [task], t, reason, "UserInitiated")
        self.steady_reported = False
        self.settled_at = None
        self.wake(t + self.tick)
        self.sync(t)

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
