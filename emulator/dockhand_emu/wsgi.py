"""The WSGI layer in front of moto: the control API, the call log, injected AWS
errors, and advancing an account's rollouts before each of its requests."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlencode
from xml.sax.saxutils import escape

from moto.logs.exceptions import LogsClientError

from . import ecs, events, live_tail, state
from .ecs_deployments import STAGES
from .state import DEFAULT_STOPPED_REASON

StartResponse = Callable[..., Any]

_SCOPE = re.compile(r"Credential=[^/,\s]*/\d{8}/([^/]+)/([^/]+)/aws4_request")

FAULT_FIELDS = {
    "rollout_fails": ("service",),
    "rollout_stalls": ("service",),
    "deployment_fails": ("service",),
    "rollback_fails": ("service",),
    "stack_update_fails": ("stack", "resource"),
    "service_does_not_wait": ("stack",),
    "stack_rollback_fails": ("stack",),
    "error": ("operation", "code"),
}


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the request body and puts it back for moto."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _scope(environ: dict[str, Any]) -> tuple[str | None, str]:
    """(service, region) from the SigV4 credential scope; unsigned requests have none."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        return None, state.DEFAULT_REGION
    return match.group(2), match.group(1)


def _operation(environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]  # AmazonEC2ContainerServiceV20141113.DescribeServices
    for text in (body.decode("utf-8", "replace"), environ.get("QUERY_STRING", "")):
        action = parse_qs(text).get("Action")
        if action:
            return action[0]
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"


def _respond(start_response: StartResponse, status: int, body: bytes, content_type: str,
             headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))] + (headers or []),
    )
    return [body]


def aws_error(start_response: StartResponse, environ: dict[str, Any], service: str, fault: dict[str, Any]) -> list[bytes]:
    """An AWS error in the request's protocol: awsJson (ECS and other X-Amz-Target
    services) or awsQuery XML (CloudFormation, STS, ...)."""
    code, message, status = fault["code"], fault["message"], int(fault["status"])
    request_id = str(uuid.uuid4())
    content_type = environ.get("CONTENT_TYPE", "")
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in content_type:
        body = json.dumps({"__type": code, "message": message}).encode()
        return _respond(start_response, status, body, content_type or "application/x-amz-json-1.1",
                        [("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)])
    xmlns = ' xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"' if service == "cloudformation" else ""
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return _respond(start_response, status, body, "text/xml", [("x-amzn-RequestId", request_id)])


POLL_STEP_SECONDS = 0.05


def _long_poll(environ: dict[str, Any], body: bytes, account_id: str, region: str) -> tuple[float, str, bytes] | None:
    """A ReceiveMessage that waits (its WaitTimeSeconds, else the queue's
    ReceiveMessageWaitTimeSeconds): (seconds, queue name, the request with 0)."""
    text = body.decode("utf-8", "replace")
    as_json = bool(environ.get("HTTP_X_AMZ_TARGET"))
    try:
        params: dict[str, Any] = json.loads(text or "{}") if as_json else {k: v[0] for k, v in parse_qs(text).items()}
    except ValueError:
        return None
    url = str(params.get("QueueUrl") or environ.get("PATH_INFO", ""))
    name = url.rstrip("/").rsplit("/", 1)[-1]
    wait = params.get("WaitTimeSeconds")
    if wait is None:
        from moto.sqs.models import sqs_backends
        queue = sqs_backends[account_id][region].queues.get(name)
        wait = getattr(queue, "receive_message_wait_time_seconds", 0) if queue is not None else 0
    try:
        seconds = float(wait)
    except (TypeError, ValueError):
        return None
    if not 0 < seconds <= 20:
        return None  # no wait, or one moto refuses as AWS does
    params["WaitTimeSeconds"] = 0
    rewritten = json.dumps(params) if as_json else urlencode(params)
    return seconds, name, rewritten.encode()


def _receivable(account_id: str, region: str, queue_name: str) -> bool:
    """Whether a receive now would find something (or an error: a missing queue)."""
    from moto.sqs.models import sqs_backends
    queue = sqs_backends[account_id][region].queues.get(queue_name)
    return queue is None or bool(queue.messages)


class BadRequest(Exception):
    pass


def _fault(body: dict[str, Any], account_id: str) -> dict[str, Any]:
    kind = body.get("kind")
    if kind not in FAULT_FIELDS:
        raise BadRequest(f"kind must be one of {sorted(FAULT_FIELDS)}")
    missing = [f for f in FAULT_FIELDS[kind] if not body.get(f)]
    if missing:
        raise BadRequest(f"a {kind} fault needs {', '.join(missing)}")
    fault = dict(body)
    if kind == "rollout_fails":
        fault.setdefault("reason", DEFAULT_STOPPED_REASON)
    if kind == "deployment_fails":
        fault.setdefault("stage", "SCALE_UP")
        fault.setdefault("by", "breaker")
        if fault["stage"] not in STAGES:
            raise BadRequest(f"stage must be one of {list(STAGES)}")
        if fault["by"] not in ("breaker", "alarm", "hook"):
            raise BadRequest("by must be breaker, alarm or hook")
        if fault["by"] == "breaker":
            fault.setdefault("reason", DEFAULT_STOPPED_REASON)
        if fault["by"] == "alarm":
            fault.setdefault("alarm", f"{fault['service']}-alarm")
        if fault["by"] == "hook":
            fault.setdefault("hook", f"arn:aws:lambda:us-east-1:{account_id}:function:{fault['service']}-hook")
    if kind == "rollback_fails":
        fault.setdefault("reason", DEFAULT_STOPPED_REASON)
    if kind == "stack_update_fails":
        fault.setdefault("reason", 'Resource handler returned message: "Internal Failure"')
    if kind == "error":
        fault.setdefault("message", fault["code"])
        fault["status"] = int(fault.get("status", 400))
        if not 400 <= fault["status"] <= 599:
            raise BadRequest("status must be an HTTP error status (400-599)")
        fault["count"] = int(fault.get("count", 1))
    else:
        fault["count"] = 1
    return fault


class Emulator:
    """Wraps moto's WSGI application."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        account_id = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or state.DEFAULT_ACCOUNT
        path = environ.get("PATH_INFO", "")
        if path == "/_dockhand" or path.startswith("/_dockhand/"):
            return self.control(environ, start_response, account_id)
        body = _read_body(environ)
        service, region = _scope(environ)
        operation = _operation(environ, body)
        poll = _long_poll(environ, body, account_id, region) if (service, operation) == ("sqs", "ReceiveMessage") else None
        deadline = time.time() + (poll[0] if poll else 0)
        logged = False
        while True:
            with state.LOCK:
                if path.startswith("/moto-api/reset"):  # moto forgets everything: so does the layer
                    state.reset()
                now = time.time()
                state.advance(account_id, region, now)
                if service and not path.startswith("/moto-api") and not logged:
                    logged = True
                    account = state.account(account_id)
                    account.calls.append({"service": service, "operation": operation, "at": now})
                    fault = account.take_fault("error", operation=operation, service=service)
                    if fault:
                        return aws_error(start_response, environ, service, fault)
                if environ.get("HTTP_X_AMZ_TARGET") == live_tail.TARGET:
                    # An event stream, answered here and not by moto; it waits between
                    # updates outside the lock (see live_tail.py).
                    try:
                        session = live_tail.start(account_id, region, body)
                    except LogsClientError as e:
                        return aws_error(start_response, environ, "logs",
                                         {"code": e.error_type, "message": e.message, "status": e.code})
                    return session.respond(environ, start_response)
                if poll is None or now >= deadline or _receivable(account_id, region, poll[1]):
                    if poll is not None:  # moto's own wait would hold the lock: it gets 0
                        environ["wsgi.input"] = io.BytesIO(poll[2])
                        environ["CONTENT_LENGTH"] = str(len(poll[2]))
                    answer = self.app(environ, start_response)
                    try:
                        return [b"".join(answer)]  # moto's models are read while the lock is held
                    finally:
                        if hasattr(answer, "close"):
                            answer.close()
            # A long poll waits outside the lock, so other requests (the ones that
            # cause the events it waits for among them) go on meanwhile.
            time.sleep(POLL_STEP_SECONDS)

    def control(self, environ: dict[str, Any], start_response: StartResponse, account_id: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "").rstrip("/")
        raw = _read_body(environ)
        if route == "/_dockhand/health":
            return _respond(start_response, 200, b"ok", "text/plain")
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            with state.LOCK:
                for (acct, region) in list(state.SCHEDULERS):
                    if acct == account_id:
                        state.advance(acct, region, time.time())
                answer = self.route(method, route, body, state.account(account_id))
        except (BadRequest, ValueError, TypeError) as e:
            return _respond(start_response, 400, json.dumps({"error": str(e)}).encode(), "application/json")
        if answer is None:
            return _respond(start_response, 404, json.dumps({"error": f"no {method} {route}"}).encode(), "application/json")
        return _respond(start_response, 200, json.dumps(answer).encode(), "application/json")

    def route(self, method: str, route: str, body: dict[str, Any], account: state.Account) -> Any:
        if route == "/_dockhand/config":
            if method == "POST":
                for key in ("rollout_seconds", "minute_seconds", "live_tail_seconds"):  # checked first: all or nothing
                    if key in body and float(body[key]) < 0:
                        raise BadRequest(f"{key} must be 0 or more")
                if "stack_events_page" in body and not 1 <= int(body["stack_events_page"]) <= 100:
                    raise BadRequest("stack_events_page must be 1 to 100")
                if "rollout_seconds" in body:
                    account.rollout_seconds = float(body["rollout_seconds"])
                if "minute_seconds" in body:  # one "minute" of a bake time
                    account.minute_seconds = float(body["minute_seconds"])
                if "stack_events_page" in body:
                    account.stack_events_page = int(body["stack_events_page"])
                if "live_tail_seconds" in body:  # how long a StartLiveTail session lasts
                    live_tail.set_session_seconds(account, float(body["live_tail_seconds"]))
            elif method != "GET":
                return None
            return {"rollout_seconds": account.rollout_seconds, "minute_seconds": account.minute_seconds,
                    "stack_events_page": account.stack_events_page,
                    "live_tail_seconds": live_tail.session_seconds(account)}
        if route == "/_dockhand/faults":
            if method == "POST":
                account.faults.append(_fault(body, account.id))
            elif method == "DELETE":
                account.faults.clear()
                ecs.clear_faults(account.id)
            elif method != "GET":
                return None
            return account.faults
        if route == "/_dockhand/events" and method == "POST":
            # An event as an AWS service sends it (PutEvents refuses `aws.` sources):
            # for checks of rule patterns against events no rollout here makes.
            for key in ("source", "detail-type", "detail"):
                if key not in body:
                    raise BadRequest(f"an event needs {key}")
            if not isinstance(body["detail"], dict):
                raise BadRequest("detail must be a JSON object")
            event_id = events.emit(account.id, str(body.get("region") or state.DEFAULT_REGION), str(body["source"]),
                                   str(body["detail-type"]), list(body.get("resources") or []), body["detail"])
            return {"id": event_id}
        if route == "/_dockhand/calls":
            if method == "DELETE":
                account.calls.clear()
            elif method != "GET":
                return None
            return account.calls
        return None
