"""CloudWatch Logs: what the awslogs log driver writes for the layer's ECS tasks, and
the reads a client needs (FilterLogEvents, GetLogEvents) answered as AWS answers them.

moto keeps log groups, streams and events, but no ECS task of moto's writes any, and
its FilterLogEvents pages each stream after the other, knows no logStreamNamePrefix,
and reads a filter pattern by its first character only (`?ERROR`, `-x`, a term
starting with a digit, or an invalid pattern all match every event). StartLiveTail, a
live event stream, is answered by the WSGI layer (live_tail.py), with this `Pattern`.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
from datetime import datetime
from typing import Any

from moto.logs import models as logs_models
from moto.logs import responses as logs_responses
from moto.logs.exceptions import InvalidParameterException, ResourceNotFoundException

MAX_PAGE_EVENTS = 10_000
MAX_PAGE_BYTES = 1_048_576  # 1 MB, counted as PutLogEvents counts: UTF-8 message + 26 bytes an event
EVENT_OVERHEAD = 26
DEFAULT_PORT = 8080
OOM_LINE = "java.lang.OutOfMemoryError: Java heap space"
SHUTDOWN_LINE = "Received SIGTERM, shutting down"


# --- what the awslogs driver writes for a task -------------------------------------------

class TaskLogs:
    """The awslogs streams of one task's containers. Lines are stamped with the task's
    own startedAt or stoppedAt in ms, as DescribeTasks shows it (truncated)."""

    def __init__(self, account_id: str, region: str, task_id: str, containers: list[dict]) -> None:
        self.account_id = account_id
        self.targets = []  # (region, group, stream, create the group?, image, port)
        for c in containers:
            conf = c.get("logConfiguration") or {}
            if conf.get("logDriver") != "awslogs":
                continue
            opts = conf.get("options") or {}
            group = opts.get("awslogs-group")
            if not group:
                continue
            # AWS: {prefix}/{container name}/{task id}; without a prefix (EC2 only) the
            # stream is named after the Docker container id, which the emulator has not.
            prefix = opts.get("awslogs-stream-prefix")
            stream = f"{prefix}/{c.get('name')}/{task_id}" if prefix else task_id
            ports = [p.get("containerPort") for p in c.get("portMappings") or [] if p.get("containerPort")]
            self.targets.append((opts.get("awslogs-region") or region, group, stream,
                                 str(opts.get("awslogs-create-group", "")).lower() == "true",
                                 c.get("image"), ports[0] if ports else DEFAULT_PORT))

    def started(self, at: datetime) -> None:
        self._write(at, lambda image, port: [f"Starting {image}", f"Listening on port {port}", "Ready"])

    def stopped(self, at: datetime, exit_code: int | None, reason: str | None, ran: bool) -> None:
        def lines(image: str, port: Any) -> list[str]:
            if not exit_code:
                return [SHUTDOWN_LINE] if ran else []
            error = OOM_LINE if exit_code == 137 or "OutOfMemory" in (reason or "") else f"Error: {reason}"
            return ([] if ran else [f"Starting {image}"]) + [error]  # a task that never ran crashed on start
        self._write(at, lines)

    def _write(self, at: datetime, lines: Any) -> None:
        ms = calendar.timegm(at.timetuple()) * 1000 + at.microsecond // 1000
        for region, group_name, stream, create, image, port in self.targets:
            messages = lines(image, port)
            if not messages:  # never started: no container, no stream
                continue
            try:
                backend = logs_models.logs_backends[self.account_id][region]
            except KeyError:  # not a region
                continue
            group = backend.groups.get(group_name)
            if group is None:
                if not create:
                    # AWS fails the task: "ResourceInitializationError: failed to validate
                    # logger args: ... The specified log group does not exist". Here the
                    # task runs (rollout checks rely on it) and writes nothing.
                    continue
                group = backend.create_log_group(group_name, {})
            if stream not in group.streams:
                group.create_log_stream(stream)
            group.put_log_events(stream, [{"timestamp": ms, "message": m} for m in messages])


# --- filter patterns -------------------------------------------------------------------------

def invalid_pattern() -> InvalidParameterException:
    return InvalidParameterException("Invalid filter pattern")  # what FilterLogEvents answers


_BARE_TERM = re.compile(r"[A-Za-z0-9_]+")


class Pattern:
    """A text filter pattern: terms that must all appear, `?term`s of which one must
    appear (if any is given), `-term`s that must not; a term is a word or a "quoted
    phrase"; case-sensitive substring matches. Or one `%regex%`. An empty pattern,
    `""` or `" "` matches everything."""

    def __init__(self, text: str | None) -> None:
        self.all: list[str] = []
        self.any: list[str] = []
        self.none: list[str] = []
        self.regex: re.Pattern | None = None
        text = (text or "").strip()
        if text.startswith("{") or text.startswith("["):
            close = "}" if text[0] == "{" else "]"
            if not text.endswith(close):
                raise InvalidParameterException(f"If a filter pattern starts with '{text[0]}' it must end with '{close}'")
            raise InvalidParameterException(
                "Invalid filter pattern: JSON and space-delimited filter patterns are not modelled by the emulator")
        if len(text) > 1 and text.startswith("%") and text.endswith("%"):
            if "(" in text or ")" in text:  # AWS: parentheses are not supported in a regex
                raise invalid_pattern()
            try:
                self.regex = re.compile(text[1:-1])
            except re.error:
                raise invalid_pattern() from None
            return
        i = 0
        while i < len(text):
            if text[i].isspace():
                i += 1
                continue
            kind = self.all
            if text[i] in "?-":
                kind = self.any if text[i] == "?" else self.none
                i += 1
            if i < len(text) and text[i] == '"':
                end = text.find('"', i + 1)
                if end < 0:
                    raise invalid_pattern()  # an unclosed quote
                term = text[i + 1:end]
                i = end + 1
                if i < len(text) and not text[i].isspace():
                    raise invalid_pattern()
                if not term.strip():
                    continue  # `" "` matches everything
            else:
                end = i
                while end < len(text) and not text[end].isspace():
                    end += 1
                term = text[i:end]
                i = end
                # AWS asks for quotes around terms with other characters; it refuses
                # some (email@example.com) and silently matches nothing for others
                # (request-id-1): the emulator refuses them all, so clients quote them.
                if not _BARE_TERM.fullmatch(term):
                    raise invalid_pattern()
            kind.append(term)

    def matches(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return (all(t in message for t in self.all)
                and not any(t in message for t in self.none)
                and (not self.any or any(t in message for t in self.any)))


# --- FilterLogEvents ---------------------------------------------------------------------------

def _find_group(backend: Any, name: str | None, identifier: str | None) -> Any:
    if bool(name) == bool(identifier):
        raise InvalidParameterException("You must specify either logGroupName or logGroupIdentifier, but not both.")
    if name:
        group = backend.groups.get(name)
    else:  # a name, or an ARN (with or without the ":*" DescribeLogGroups' `arn` has)
        arn = identifier.removesuffix(":*")
        group = backend.groups.get(identifier) or next((g for g in backend.groups.values() if g.arn == arn), None)
    if group is None:
        raise ResourceNotFoundException("The specified log group does not exist.")
    return group


def _token(group: Any, key: tuple[int, int, int], descending: bool) -> str:
    raw = json.dumps({"g": group.arn, "k": list(key), "d": descending}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str) -> dict | None:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None


def filter_log_events_response(self: Any) -> str:
    """FilterLogEvents as AWS answers it: events of every chosen stream interleaved,
    sorted by timestamp, ingestion time and arrival; pages of at most `limit` (and
    10,000) events and 1 MB; nextToken only while more may follow."""
    group = _find_group(self.logs_backend, self._get_param("logGroupName"), self._get_param("logGroupIdentifier"))
    names = self._get_param("logStreamNames")
    prefix = self._get_param("logStreamNamePrefix")
    if names and prefix:
        raise InvalidParameterException("logStreamNames and logStreamNamePrefix can not both be specified.")
    limit = self._get_param("limit")
    if limit is not None and not 1 <= int(limit) <= MAX_PAGE_EVENTS:
        bound = "greater than or equal to 1" if int(limit) < 1 else f"less than or equal to {MAX_PAGE_EVENTS}"
        raise InvalidParameterException(constraint=f"Member must have value {bound}", parameter="limit", value=limit)
    limit = int(limit or MAX_PAGE_EVENTS)
    start, end = self._get_param("startTime"), self._get_param("endTime")
    pattern = Pattern(self._get_param("filterPattern"))
    descending = self._get_param("startFromHead") is False  # latest first
    after = None
    token = self._get_param("nextToken")
    if token:
        state = _untoken(token)
        if not isinstance(state, dict) or state.get("g") != group.arn:
            # moto's word for AWS: an invalid token gives an empty page.
            return json.dumps({"events": [], "searchedLogStreams": []})
        after, descending = tuple(state["k"]), bool(state["d"])
    found = []
    for stream in group.streams.values():
        if names and stream.log_stream_name not in names:
            continue
        if prefix and not stream.log_stream_name.startswith(prefix):
            continue
        for e in stream.events:
            if start is not None and e.timestamp < start or end is not None and e.timestamp > end:
                continue
            key = (e.timestamp, e.ingestion_time, e.event_id)
            if after is not None and (key <= after if not descending else key >= after):
                continue
            if pattern.matches(e.message):
                found.append((key, stream.log_stream_name, e))
    found.sort(key=lambda f: f[0], reverse=descending)
    page, size = [], 0
    for key, stream_name, e in found:
        size += len(e.message.encode()) + EVENT_OVERHEAD
        if len(page) == limit or (page and size > MAX_PAGE_BYTES):
            break
        page.append((key, stream_name, e))
    out: dict[str, Any] = {
        "events": [dict(e.to_filter_dict(), logStreamName=name) for _, name, e in page],
        "searchedLogStreams": [],  # AWS: "no longer supported ... returns an empty list"
    }
    if len(page) < len(found):
        out["nextToken"] = _token(group, page[-1][0], descending)
    return json.dumps(out)


# --- GetLogEvents ----------------------------------------------------------------------------------

_get_log_events = logs_models.LogGroup.get_log_events


def get_log_events(self: Any, log_stream_name: str, start_time: Any, end_time: Any, *args: Any) -> Any:
    """GetLogEvents' endTime is exclusive on AWS ("equal to or later ... not included";
    moto included it), and a missing stream is named as such."""
    if log_stream_name not in self.streams:
        raise ResourceNotFoundException("The specified log stream does not exist.")
    if end_time:
        end_time = int(end_time) - 1 or -1  # inclusive for moto, which reads 0 as "no end"
    return _get_log_events(self, log_stream_name, start_time, end_time, *args)


def install() -> None:
    logs_responses.LogsResponse.filter_log_events = filter_log_events_response
    logs_models.LogGroup.get_log_events = get_log_events
