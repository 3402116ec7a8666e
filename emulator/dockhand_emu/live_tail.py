"""CloudWatch Logs StartLiveTail as AWS serves it: a live event stream, not a snapshot.

moto answers StartLiveTail with one sessionStart and one sessionUpdate holding every
stored event (history, not what arrives after the session starts) and ends the stream.
Here the WSGI layer answers it before moto: HTTP 200 `application/vnd.amazon.eventstream`
with an `initial-response` (botocore refuses an awsJson event stream without one), one
`sessionStart`, then a `sessionUpdate` every second with the events ingested since the
previous update, until the session times out (SessionTimeoutException in the stream) or
the client goes away. The request's generator waits between updates without the
emulator's lock, so other requests (the PutLogEvents and ECS calls whose events it
shows among them) go on meanwhile; it takes the lock briefly each second to read them.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import struct
import sys
import time
import traceback
import uuid
import weakref
from binascii import crc32
from typing import Any, Callable, Iterator

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException, LogsClientError, ResourceNotFoundException

from . import state
from .logs import Pattern

TARGET = "Logs_20140328.StartLiveTail"
SESSION_SECONDS = 3 * 3600.0  # AWS: "after it has been kept open for three hours"
UPDATE_SECONDS = 1.0  # AWS: "Every second, a LiveTailSessionUpdate object is sent"
MAX_RESULTS = 500  # AWS: more than 500 matching events in an update are sampled down to 500
MAX_GROUPS = 10
MAX_STREAMS = 100

_GROUP_ID = re.compile(r"[\w#+=/:,.@-]*", re.ASCII)  # the model's LogGroupIdentifier pattern
_STREAM_NAME = re.compile(r"[^:*]*")  # the model's LogStreamName pattern
_GROUP_ARN = re.compile(r"arn:aws[a-z-]*:logs:([a-z0-9-]+):(\d{12}):log-group:(.+)")

# --- the session length, per account (the control API's live_tail_seconds) ---------------

_SECONDS: "weakref.WeakKeyDictionary[state.Account, float]" = weakref.WeakKeyDictionary()


def session_seconds(account: state.Account) -> float:
    return _SECONDS.get(account, SESSION_SECONDS)


def set_session_seconds(account: state.Account, seconds: float) -> None:
    _SECONDS[account] = seconds  # kept with the account: /moto-api/reset forgets it too


# --- the event-stream encoding ------------------------------------------------------------------

def _message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the Amazon event-stream encoding: prelude (total length, headers
    length, both u32 big-endian, and their CRC32), headers (name length u8, name, type
    7 = string, value length u16, value), payload, CRC32 of everything before it."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", crc32(message))


def _event(event_type: str, body: dict[str, Any]) -> bytes:
    return _message({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                    json.dumps(body).encode())


def _exception(exception_type: str, message: str) -> bytes:
    return _message({":exception-type": exception_type, ":content-type": "application/json",
                     ":message-type": "exception"}, json.dumps({"message": message}).encode())


# --- the request ---------------------------------------------------------------------------------

def _violations(params: dict[str, Any]) -> list[str]:
    """The model's constraints, each broken one in AWS's words."""
    found = []

    def check(name: str, value: Any, *rules: tuple[bool, str]) -> None:
        for broken, constraint in rules:
            if broken:
                shown = ("null" if value is None else f"'[{', '.join(value)}]'" if isinstance(value, list)
                         else f"'{value}'")
                found.append(f"Value {shown} at '{name}' failed to satisfy constraint: Member must {constraint}")

    groups = params.get("logGroupIdentifiers")
    check("logGroupIdentifiers", groups, (groups is None, "not be null"))
    for name, pattern, most, longest in (("logGroupIdentifiers", _GROUP_ID, MAX_GROUPS, 2048),
                                         ("logStreamNames", _STREAM_NAME, MAX_STREAMS, 512),
                                         ("logStreamNamePrefixes", _STREAM_NAME, MAX_STREAMS, 512)):
        values = params.get(name)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            found.append(f"Value at '{name}' failed to satisfy constraint: Member must be a list of strings")
            continue
        check(name, values, (len(values) < 1, "have length greater than or equal to 1"),
              (len(values) > most, f"have length less than or equal to {most}"))
        for i, value in enumerate(values, 1):
            check(f"{name}.{i}.member", value, (len(value) < 1, "have length greater than or equal to 1"),
                  (len(value) > longest, f"have length less than or equal to {longest}"),
                  (not pattern.fullmatch(value), f"satisfy regular expression pattern: {pattern.pattern}"))
    text = params.get("logEventFilterPattern")
    if text is not None and (not isinstance(text, str) or len(text) > 1024):
        check("logEventFilterPattern", text, (True, "have length less than or equal to 1024"))
    return found


class Session:
    """One live tail: its filters, what it has already seen, and its stream."""

    def __init__(self, account: state.Account, region: str, params: dict[str, Any]) -> None:
        broken = _violations(params)
        if broken:
            count = f"{len(broken)} validation error{'s' if len(broken) > 1 else ''} detected: "
            raise InvalidParameterException(count + "; ".join(broken))
        self.identifiers: list[str] = params["logGroupIdentifiers"]
        self.names: list[str] | None = params.get("logStreamNames")
        self.prefixes: list[str] | None = params.get("logStreamNamePrefixes")
        self.pattern_text: str | None = params.get("logEventFilterPattern")
        if self.names is not None and self.prefixes is not None:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefixes can not both be specified.")
        if (self.names is not None or self.prefixes is not None) and len(self.identifiers) != 1:
            raise InvalidParameterException(
                "logStreamNames or logStreamNamePrefixes can be specified only with a single log group in logGroupIdentifiers.")
        self.group_names: list[str] = []
        for identifier in self.identifiers:
            match = _GROUP_ARN.fullmatch(identifier)
            if not match:  # a name, or an ARN of something else
                raise InvalidParameterException(
                    f"Invalid log group identifier: {identifier}. Specify each log group by its ARN "
                    "(arn:aws:logs:REGION:ACCOUNT:log-group:NAME, without the ':*' DescribeLogGroups' arn ends with).")
            self.group_names.append(match.group(3))
        self.pattern = Pattern(self.pattern_text)
        self.account_id, self.region = account.id, region
        backend = self._backend()
        for identifier, name in zip(self.identifiers, self.group_names):
            group = backend.groups.get(name) if backend is not None else None
            if group is None or group.arn != identifier:  # another account's or region's: not here
                raise ResourceNotFoundException("The specified log group does not exist.")
        self.seconds = session_seconds(account)
        self.request_id = str(uuid.uuid4())
        self.session_id = str(uuid.uuid4())
        # What arrived before the session started is not sent: remember how far each
        # stream was (moto appends to a stream's events).
        self.seen: dict[int, tuple[Any, int]] = {}
        self._collect()

    def _backend(self) -> Any:
        try:
            return logs_models.logs_backends[self.account_id][self.region]
        except KeyError:  # not a region
            return None

    def _collect(self) -> list[tuple[tuple[int, int, int], str, str, Any]]:
        """The matching events that arrived since the last look (the lock is held)."""
        found = []
        backend = self._backend()
        for identifier, name in zip(self.identifiers, self.group_names):
            group = backend.groups.get(name) if backend is not None else None
            if group is None:  # deleted meanwhile (or moto reset): nothing more from it
                continue
            for stream in list(group.streams.values()):
                key = id(stream)
                _, done = self.seen.get(key, (stream, 0))
                events = stream.events
                if len(events) < done:
                    done = 0
                self.seen[key] = (stream, len(events))
                stream_name = stream.log_stream_name
                if self.names is not None and stream_name not in self.names:
                    continue
                if self.prefixes is not None and not any(stream_name.startswith(p) for p in self.prefixes):
                    continue
                for e in events[done:]:
                    if self.pattern.matches(e.message):
                        found.append(((e.timestamp, e.ingestion_time, e.event_id), identifier, stream_name, e))
        found.sort(key=lambda f: f[0])
        return found

    def start_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"requestId": self.request_id, "sessionId": self.session_id,
                                "logGroupIdentifiers": self.identifiers}
        if self.names is not None:
            body["logStreamNames"] = self.names
        if self.prefixes is not None:
            body["logStreamNamePrefixes"] = self.prefixes
        if self.pattern_text is not None:
            body["logEventFilterPattern"] = self.pattern_text
        return body

    @staticmethod
    def update_body(found: list[tuple[tuple[int, int, int], str, str, Any]]) -> dict[str, Any]:
        sampled = len(found) > MAX_RESULTS
        if sampled:  # evenly spread over the second, still in time order
            found = [found[i * len(found) // MAX_RESULTS] for i in range(MAX_RESULTS)]
        return {"sessionMetadata": {"sampled": sampled},
                "sessionResults": [{"logStreamName": stream_name, "logGroupIdentifier": identifier,
                                    "message": e.message, "timestamp": e.timestamp, "ingestionTime": e.ingestion_time}
                                   for _, identifier, stream_name, e in found]}

    def respond(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/vnd.amazon.eventstream"),
                                  ("x-amzn-RequestId", self.request_id)])  # no length: chunked, each update flushed
        return self._stream(environ.get("werkzeug.socket"), time.monotonic())

    def _stream(self, sock: socket.socket | None, started: float) -> Iterator[bytes]:
        try:
            yield _event("initial-response", {}) + _event("sessionStart", self.start_body())
            ticks, end = 1, started + self.seconds
            while True:
                at = min(started + ticks * UPDATE_SECONDS, end)
                if at > started and not _wait(sock, at):
                    return  # the client went away: so does the session
                if at > started:
                    with state.LOCK:
                        for acct, region in list(state.SCHEDULERS):  # lines ECS tasks write meanwhile
                            if acct == self.account_id:
                                state.advance(acct, region, time.time())
                        found = self._collect()
                    yield _event("sessionUpdate", self.update_body(found))
                if at >= end:
                    break
                ticks += 1
            yield _exception("SessionTimeoutException", f"The Live Tail session timed out after {_duration(self.seconds)}.")
        except GeneratorExit:
            raise
        except Exception:  # noqa: BLE001 - AWS's word for an error on its side
            traceback.print_exc(file=sys.stderr)
            yield _exception("SessionStreamingException", "An internal error occurred during the Live Tail session.")


def _duration(seconds: float) -> str:
    if seconds == SESSION_SECONDS:
        return "3 hours"
    return f"{seconds:g} seconds"


def _wait(sock: socket.socket | None, until: float) -> bool:
    """Sleeps until `until` (time.monotonic); False as soon as the client has closed
    the connection (it sends nothing more after its request, so readable means EOF)."""
    if sock is None:
        time.sleep(max(0.0, until - time.monotonic()))
        return True
    try:
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
    except (OSError, ValueError):  # already closed
        return False
    try:
        while (left := until - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            try:
                if not sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    return False
            except BlockingIOError:
                continue
            except OSError:
                return False
            time.sleep(max(0.0, until - time.monotonic()))  # it sent more: nothing to watch for
        return True
    finally:
        selector.close()


def start(account_id: str, region: str, body: bytes) -> Session:
    """A new session (the lock is held), or the AWS error the request gets."""
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise LogsClientError("SerializationException", "Start of structure or map found where not expected.")
    return Session(state.account(account_id), region, params)
