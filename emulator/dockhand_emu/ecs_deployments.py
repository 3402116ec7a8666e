"""ECS service deployments and service revisions (the 2024 ServiceDeployment API),
and the deployment strategies of 2025 (BLUE_GREEN, LINEAR, CANARY) as stages.

moto has none of it: ListServiceDeployments, DescribeServiceDeployments and
DescribeServiceRevisions answer 500, and a service has no currentServiceDeployment.
Here every deployment the layer starts for a service with the ECS deployment
controller gets a `ServiceDeployment` record with a target `ServiceRevision` (and
the revisions it replaces as sources). The rollout (ecs_rollout.py) moves the record
along as it moves the legacy `deployments[]`: PENDING -> IN_PROGRESS (lifecycle
stages) -> SUCCESSFUL, or, when the circuit breaker, an alarm or a hook fails it,
ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL (or ROLLBACK_FAILED) on the same record,
as AWS does: a rollback is not a deployment of its own.

Records keep the shapes of botocore's ECS model (the Rust SDK reads the same wire
shapes); `to_api` gives the dicts moto's serializer writes.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import string
from typing import TYPE_CHECKING, Any

from .state import as_datetime

if TYPE_CHECKING:
    from .ecs_rollout import Deployment, Rollout

STAGES = (
    "RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP",
)
STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
DONE = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
# StopServiceDeployment is accepted from these and changes nothing from the last three.
STOPPABLE = ("PENDING", "IN_PROGRESS")
STOP_NOOP = ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")

# The emulator's wording (AWS documents the fields, not their texts), see README.md.
REASON_ALARM = "Alarm(s) {names} triggered during the service deployment."
REASON_HOOK = "Lifecycle hook {arn} failed in {stage}."
REASON_STOP = "Rolled back by a StopServiceDeployment request."
REASON_SUPERSEDED = "Stopped: a newer service deployment of the service started."
REASON_HOOK_ROLLBACK = "Lifecycle hook {hook_id} in {stage}: rolled back by a ContinueServiceDeployment request."
REASON_HOOK_TIMED_OUT = "Lifecycle hook {hook_id} in {stage} timed out waiting for action."
PAUSE_TIMEOUT_MINUTES = 1440  # a PAUSE hook's default timeout; its timeoutAction defaults to ROLLBACK
PAUSE_BANNED_STAGES = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")
REASON_ROLLBACK_FAILED = "The rollback failed: tasks of service revision {arn} failed to start."

_ID_CHARS = string.ascii_letters + string.digits + "_-"


def image_digest(image: str) -> str:
    """A stable fake digest per image string (ECS resolves tags to digests)."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def _number(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return value
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower() == "true"
    return value


def normalize_configuration(config: dict[str, Any] | None, controller: str = "ECS") -> dict[str, Any]:
    """A deploymentConfiguration as DescribeServices shows it: ECS's defaults filled in
    (strategy ROLLING for the ECS controller), numbers and booleans typed (values from a
    CloudFormation template may come as strings)."""
    out = copy.deepcopy(config or {})
    out.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
    out.setdefault("maximumPercent", 200)
    out.setdefault("minimumHealthyPercent", 100)
    if controller == "ECS":
        out.setdefault("strategy", "ROLLING")
    for key in ("maximumPercent", "minimumHealthyPercent", "bakeTimeInMinutes"):
        if key in out:
            out[key] = _number(out[key], int)
    for section, fields in (
        ("deploymentCircuitBreaker", {"enable": bool, "rollback": bool, "resetOnHealthyTask": bool}),
        ("alarms", {"enable": bool, "rollback": bool}),
        ("linearConfiguration", {"stepPercent": float, "stepBakeTimeInMinutes": int}),
        ("canaryConfiguration", {"canaryPercent": float, "canaryBakeTimeInMinutes": int}),
        ("earlySuccessCriteria", {"enable": bool, "healthyPercent": int}),
    ):
        part = out.get(section)
        if isinstance(part, dict):
            for key, kind in fields.items():
                if key in part:
                    part[key] = _boolean(part[key]) if kind is bool else _number(part[key], kind)
    threshold = (out.get("deploymentCircuitBreaker") or {}).get("thresholdConfiguration")
    if isinstance(threshold, dict) and "value" in threshold:
        threshold["value"] = _number(threshold["value"], int)
    return out


def breaker_threshold(config: dict[str, Any], desired: int) -> int:
    """ECS's circuit breaker threshold: 0.5 x desired, clamped to 3..200, unless a
    thresholdConfiguration (COUNT, BOUNDED_PERCENT, UNBOUNDED_PERCENT) says otherwise."""
    threshold = (config.get("deploymentCircuitBreaker") or {}).get("thresholdConfiguration") or {}
    kind, value = threshold.get("type"), threshold.get("value")
    if kind == "COUNT" and value:
        return max(1, int(value))
    if kind == "UNBOUNDED_PERCENT" and value:
        return max(1, math.ceil(desired * value / 100))
    percent = value if kind == "BOUNDED_PERCENT" and value else 50
    return min(200, max(3, math.ceil(desired * percent / 100)))


def production_shift(config: dict[str, Any], minute: float) -> list[tuple[float, float]]:
    """The production traffic steps: (weight of the target after the step, seconds
    held before the next). BLUE_GREEN shifts at once; LINEAR by stepPercent (default
    10) with stepBakeTimeInMinutes (default 6) between steps, none after 100; CANARY
    canaryPercent (default 5), canaryBakeTimeInMinutes (default 10), then the rest."""
    strategy = config.get("strategy")
    if strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step = float(linear.get("stepPercent") or 10.0)
        hold = float(linear.get("stepBakeTimeInMinutes", 6) or 0) * minute
        weights, w = [], 0.0
        while w < 100.0:
            w = min(100.0, round(w + step, 6))
            weights.append((w, hold if w < 100.0 else 0.0))
        return weights
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        percent = min(100.0, float(canary.get("canaryPercent") or 5.0))
        hold = float(canary.get("canaryBakeTimeInMinutes", 10) or 0) * minute
        return [(percent, hold), (100.0, 0.0)] if percent < 100.0 else [(100.0, 0.0)]
    return [(100.0, 0.0)]


class ServiceRevision:
    """What one deployment deploys: the task definition and the service's settings."""

    def __init__(self, rollout: Rollout, task_definition: str, t: float) -> None:
        svc, backend = rollout.svc, rollout.backend
        self.id = "".join(random.choice(string.digits) for _ in range(19))
        self.arn = f"arn:aws:ecs:{svc.region_name}:{backend.account_id}:service-revision/{svc.cluster_name}/{svc.name}/{self.id}"
        self.service_arn = svc.arn
        self.cluster_arn = svc.cluster_arn
        self.task_definition = task_definition
        self.launch_type = svc.launch_type
        self.platform_version = svc.platform_version
        self.load_balancers = copy.deepcopy(svc.load_balancers or [])
        self.service_registries = copy.deepcopy(svc.service_registries or [])
        self.network_configuration = copy.deepcopy(svc.network_configuration) or None
        td = backend.describe_task_definition(task_definition)
        self.container_images = [
            {"containerName": c.get("name"), "imageDigest": image_digest(c.get("image") or ""), "image": c.get("image")}
            for c in td.container_definitions
        ]
        self.created_at = as_datetime(t)

    def to_api(self) -> dict[str, Any]:
        out = {
            "serviceRevisionArn": self.arn,
            "serviceArn": self.service_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinition": self.task_definition,
            "launchType": self.launch_type,
            "platformVersion": self.platform_version,
            "loadBalancers": self.load_balancers,
            "serviceRegistries": self.service_registries,
            "networkConfiguration": self.network_configuration,
            "containerImages": self.container_images,
            "guardDutyEnabled": False,
            "createdAt": self.created_at,
        }
        return {k: v for k, v in out.items() if v is not None}


class ServiceDeployment:
    """One ServiceDeployment record; `Rollout` moves it (see ecs_rollout.py)."""

    def __init__(self, rollout: Rollout, target: ServiceRevision, sources: list[ServiceRevision], t: float) -> None:
        svc = rollout.svc
        self.rollout = rollout
        self.id = "".join(random.choice(_ID_CHARS) for _ in range(21))
        self.arn = f"arn:aws:ecs:{svc.region_name}:{rollout.backend.account_id}:service-deployment/{svc.cluster_name}/{svc.name}/{self.id}"
        self.service_arn, self.cluster_arn = svc.arn, svc.cluster_arn
        self.created_at = self.updated_at = as_datetime(t)
        self.started_at = self.finished_at = self.stopped_at = None
        self.status = "PENDING"
        self.status_reason: str | None = None
        self.lifecycle_stage: str | None = None
        self.hook_details: list[dict[str, Any]] = []
        self.config = normalize_configuration(getattr(svc, "deployment_configuration", None))
        self.target, self.sources = target, sources
        self.rollback: dict[str, Any] | None = None
        self.failure_count = 0
        self.threshold = breaker_threshold(self.config, svc.desired_count)
        self.breaker_status = "MONITORING" if (self.config.get("deploymentCircuitBreaker") or {}).get("enable") else "DISABLED"
        alarms = self.config.get("alarms") or {}
        self.alarm_names: list[str] = list(alarms.get("alarmNames") or [])
        self.alarm_status = "MONITORING" if alarms.get("enable") else "DISABLED"
        self.triggered_alarms: list[str] = []
        # Traffic weights of the target (the sources have the rest); None for ROLLING.
        staged = self.config.get("strategy") in ("BLUE_GREEN", "LINEAR", "CANARY") and bool(sources)
        self.production_weight: float | None = 0.0 if staged else None
        self.test_weight: float | None = 0.0 if staged else None
        self.frozen: tuple[dict[str, Any], list[dict[str, Any]]] | None = None  # counts when it ended

    # --- how the rollout moves it ------------------------------------------------
    def touch(self, t: float) -> None:
        self.updated_at = as_datetime(t)

    def begin(self, t: float, stage: str) -> None:
        self.status = "IN_PROGRESS"
        self.started_at = as_datetime(t)
        self.set_stage(stage, t)

    def set_stage(self, stage: str, t: float) -> None:
        self.lifecycle_stage = stage
        self.touch(t)

    def finish(self, status: str, t: float, reason: str | None = None) -> None:
        """A completed status; the revisions' counts are kept as they were then."""
        self.frozen = (self._summary(self.target, True), [self._summary(s, False) for s in self.sources])
        self.status = status
        if reason is not None:
            self.status_reason = reason
        if status == "STOPPED":
            self.stopped_at = as_datetime(t)
        self.finished_at = as_datetime(t)
        self.touch(t)
        if status == "SUCCESSFUL":
            if self.breaker_status == "MONITORING":
                self.breaker_status = "MONITORING_COMPLETE"
            if self.alarm_status == "MONITORING":
                self.alarm_status = "MONITORING_COMPLETE"
        for hook in self.hook_details:
            if hook["status"] == "IN_PROGRESS":
                hook["status"] = "SUCCEEDED"

    def start_rollback(self, t: float, reason: str, to: ServiceRevision | None) -> None:
        self.status = "ROLLBACK_IN_PROGRESS"
        self.status_reason = reason
        self.rollback = {"reason": reason, "startedAt": as_datetime(t)}
        if to is not None:
            self.rollback["serviceRevisionArn"] = to.arn
        if self.production_weight is not None:
            self.production_weight = self.test_weight = 0.0  # traffic goes back to the source
        self.touch(t)

    # --- the API's view -------------------------------------------------------------
    def _summary(self, revision: ServiceRevision, is_target: bool) -> dict[str, Any]:
        deployments: list[Deployment] = [d for d in self.rollout.svc.deployments if d.revision is revision]
        primary = self.rollout.primary()
        running = sum(d.running_count for d in deployments)
        pending = sum(d.pending_count for d in deployments)
        if primary is not None and primary.revision is revision and primary.halted is False:
            requested = primary.desired_count
        else:
            requested = running + pending
        out: dict[str, Any] = {"arn": revision.arn, "requestedTaskCount": requested,
                               "runningTaskCount": running, "pendingTaskCount": pending}
        if self.production_weight is not None:
            first_source = bool(self.sources) and revision is self.sources[0]
            if is_target:
                out["requestedProductionTrafficWeight"] = self.production_weight
                out["requestedTestTrafficWeight"] = self.test_weight
            else:
                out["requestedProductionTrafficWeight"] = 100.0 - self.production_weight if first_source else 0.0
                out["requestedTestTrafficWeight"] = 100.0 - (self.test_weight or 0.0) if first_source else 0.0
        return out

    def brief(self) -> dict[str, Any]:
        out = {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "startedAt": self.started_at, "createdAt": self.created_at, "finishedAt": self.finished_at,
            "targetServiceRevisionArn": self.target.arn, "status": self.status, "statusReason": self.status_reason,
        }
        return {k: v for k, v in out.items() if v is not None}

    def to_api(self) -> dict[str, Any]:
        if self.frozen is not None:
            target, sources = self.frozen
        else:
            target = self._summary(self.target, True)
            sources = [self._summary(s, False) for s in self.sources]
        out = {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
            "createdAt": self.created_at, "startedAt": self.started_at, "finishedAt": self.finished_at,
            "stoppedAt": self.stopped_at, "updatedAt": self.updated_at,
            "sourceServiceRevisions": sources, "targetServiceRevision": target,
            "status": self.status, "statusReason": self.status_reason, "lifecycleStage": self.lifecycle_stage,
            "lifecycleHookDetails": copy.deepcopy(self.hook_details) or None,
            "deploymentConfiguration": self.config, "rollback": self.rollback,
            "deploymentCircuitBreaker": {"status": self.breaker_status, "failureCount": self.failure_count,
                                         "threshold": self.threshold},
            "alarms": {"status": self.alarm_status, "alarmNames": self.alarm_names,
                       "triggeredAlarmNames": self.triggered_alarms},
        }
        return {k: v for k, v in out.items() if v is not None}


# --- the records of a backend (an account and region; moto's reset forgets them) -----

def records(backend: Any) -> dict[str, ServiceDeployment]:
    if not hasattr(backend, "_dockhand_service_deployments"):
        backend._dockhand_service_deployments = {}
    return backend._dockhand_service_deployments


def revisions(backend: Any) -> dict[str, ServiceRevision]:
    if not hasattr(backend, "_dockhand_service_revisions"):
        backend._dockhand_service_revisions = {}
    return backend._dockhand_service_revisions
