"""Per-account state of the emulator layer, the clock its models read, and the
scheduler that moves rollouts and stack operations forward.

Nothing runs in the background. Before a request of an account and region is
handled, `advance` replays every step of that account's rollouts and stack
operations that was due by now, in time order, each at the time it was due (so
events carry the times they would have had). One lock serialises all requests:
moto's models are not thread-safe and the server is threaded.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Protocol

LOCK = threading.RLock()
DEFAULT_ACCOUNT = os.environ.get("MOTO_ACCOUNT_ID", "123456789012")
DEFAULT_REGION = "us-east-1"
DEFAULT_ROLLOUT_SECONDS = 2.0
DEFAULT_MINUTE_SECONDS = 0.05  # one "minute" of a bake time (bakeTimeInMinutes and the like)
DEFAULT_STOPPED_REASON = "Essential container in task exited"


class _Clock:
    """Real time, except while the scheduler replays a step that fell due earlier."""

    def __init__(self) -> None:
        self.fixed: float | None = None

    def now(self) -> float:
        return self.fixed if self.fixed is not None else time.time()


CLOCK = _Clock()


def now() -> float:
    return CLOCK.now()


def as_datetime(t: float | None = None) -> datetime:
    """A naive UTC datetime, as moto's models keep them."""
    t = now() if t is None else t
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def epoch(value: datetime) -> float:
    """Epoch seconds of one of the layer's naive UTC datetimes (as_datetime's inverse)."""
    return value.replace(tzinfo=timezone.utc).timestamp()


class Account:
    """What the control API sets and reads for one AWS account."""

    def __init__(self, account_id: str) -> None:
        self.id = account_id
        self.rollout_seconds = DEFAULT_ROLLOUT_SECONDS
        self.minute_seconds = DEFAULT_MINUTE_SECONDS
        # DescribeStackEvents' page size: AWS's 100 unless a test pages a small stack.
        self.stack_events_page = 100
        self.faults: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def take_fault(self, kind: str, **match: str) -> dict[str, Any] | None:
        """Consumes the first fault of `kind` whose fields equal `match` (a field the
        fault leaves out matches anything)."""
        for fault in self.faults:
            if fault["kind"] == kind and all(fault.get(k, v) == v for k, v in match.items()):
                fault["count"] = fault.get("count", 1) - 1
                if fault["count"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None


ACCOUNTS: dict[str, Account] = {}


def account(account_id: str) -> Account:
    if account_id not in ACCOUNTS:
        ACCOUNTS[account_id] = Account(account_id)
    return ACCOUNTS[account_id]


class Entity(Protocol):
    """Something with steps due at certain times: an ECS service's rollout (order 0)
    or a stack operation (order 1; at equal times services go first, so a stack
    operation waiting on a service sees the step that settled it)."""

    order: int

    def next_time(self) -> float | None: ...

    def step(self, t: float) -> None: ...

    def finished(self) -> bool: ...


class Scheduler:
    def __init__(self) -> None:
        self.entities: list[Entity] = []

    def add(self, entity: Entity) -> None:
        if entity not in self.entities:
            self.entities.append(entity)


SCHEDULERS: dict[tuple[str, str], Scheduler] = {}


def scheduler(account_id: str, region: str) -> Scheduler:
    key = (account_id, region)
    if key not in SCHEDULERS:
        SCHEDULERS[key] = Scheduler()
    return SCHEDULERS[key]


MAX_STEPS_PER_ADVANCE = 50_000


def advance(account_id: str, region: str, until: float) -> None:
    """Runs every step due by `until` in this account and region, oldest first."""
    sched = SCHEDULERS.get((account_id, region))
    if sched is None:
        return
    for _ in range(MAX_STEPS_PER_ADVANCE):
        due = None
        for index, entity in enumerate(sched.entities):
            t = entity.next_time()
            if t is not None and t <= until:
                key = (t, entity.order, index)
                if due is None or key < due[0]:
                    due = (key, entity)
        if due is None:
            break
        (t, _, _), entity = due
        CLOCK.fixed = t
        try:
            entity.step(t)
        finally:
            CLOCK.fixed = None
    sched.entities = [e for e in sched.entities if not e.finished()]


def reset() -> None:
    """Forgets every account's configuration, faults, calls and schedules."""
    ACCOUNTS.clear()
    SCHEDULERS.clear()
