#!/usr/bin/env python3
"""The emulator's self-test: starts an emulator and drives every feature with boto3.

    emulator/.venv/bin/python emulator/selftest.py [-k NAME]

Each check runs in its own random account (the demo in the default one), so the
checks also show that accounts are isolated. Prints one line per check and a
closing `N passed, N failed`; exits non-zero on a failure.
"""

from __future__ import annotations

import calendar
import json
import os
import random
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVICE_YAML = (ROOT / "deploy/service.yaml").read_text()
CLUSTER_YAML = (ROOT / "deploy/cluster.yaml").read_text()
FAST = 0.4  # rollout seconds for most checks
URL = ""
PROC: subprocess.Popen


def start_emulator() -> subprocess.Popen:
    global URL, PROC
    PROC = proc = subprocess.Popen(
        [sys.executable, str(HERE / "dockhand_emulator.py"), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("DOCKHAND_EMULATOR_READY "):
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    URL = line.split()[1]
    return proc


class Account:
    def __init__(self, account_id: str | None = None, rollout: float = FAST) -> None:
        self.id = account_id
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        self.ecs = session.client("ecs", endpoint_url=URL, config=config)
        self.cfn = session.client("cloudformation", endpoint_url=URL, config=config)
        self.sqs = session.client("sqs", endpoint_url=URL, config=config)
        self.events_api = session.client("events", endpoint_url=URL, config=config)
        self.cloudwatch = session.client("cloudwatch", endpoint_url=URL, config=config)
        # StartLiveTail's host prefix would make it stream-127.0.0.1: not a host.
        self.logs = session.client("logs", endpoint_url=URL, config=config.merge(Config(inject_host_prefix=False)))
        if account_id:
            for client in (self.ecs, self.cfn, self.sqs, self.events_api, self.cloudwatch, self.logs):
                client.meta.events.register("before-sign", self._header)
        self.control("POST", "/_dockhand/config", {"rollout_seconds": rollout})

    def _header(self, request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = self.id

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"}
        if self.id:
            headers["x-moto-account-id"] = self.id
        req = urllib.request.Request(URL + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
        return json.loads(text) if text.startswith(("[", "{")) else text

    def fault(self, **fault: Any) -> list:
        return self.control("POST", "/_dockhand/faults", fault)

    def calls(self) -> list[str]:
        return [c["operation"] for c in self.control("GET", "/_dockhand/calls")]

    # --- ECS helpers -------------------------------------------------------------
    def service(self, cluster: str, name: str) -> dict:
        return self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    def settle(self, cluster: str, name: str, timeout: float = 10) -> dict:
        return wait(lambda: s if settled(s := self.service(cluster, name)) else None, timeout, f"{name} settled")

    def worker(self, cluster: str = "apps", name: str = "worker", count: int = 3) -> str:
        self.ecs.create_cluster(clusterName=cluster)
        td = self.ecs.register_task_definition(
            family=name,
            containerDefinitions=[{"name": name, "image": f"public.ecr.aws/example/{name}:v41", "memory": 256,
                                   "essential": True, "environment": [{"name": "LOG_LEVEL", "value": "info"}]}],
        )["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=count,
                                deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        return td

    def new_revision(self, family: str, image: str) -> str:
        return self.ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": family, "image": image, "memory": 256}],
        )["taskDefinition"]["taskDefinitionArn"]

    # --- CloudFormation helpers --------------------------------------------------
    def app_stack(self, name: str = "hubot", version: str = "v1", count: int = 2) -> None:
        self.ecs.create_cluster(clusterName=f"{name}-cluster")
        self.cfn.create_stack(
            StackName=name, TemplateBody=SERVICE_YAML, Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=params(ServiceName=name, ClusterName=f"{name}-cluster", Image=f"public.ecr.aws/example/{name}",
                              Version=version, DesiredCount=count, ContainerPort=8080, LogGroupName=f"/dockhand/{name}"),
        )
        self.settle(f"{name}-cluster", name)

    def stack(self, name: str) -> dict:
        return self.cfn.describe_stacks(StackName=name)["Stacks"][0]

    def update(self, name: str, token: str | None = None, **changes: Any) -> None:
        keep = [k for k in ("ServiceName", "ClusterName", "Image", "Version", "DesiredCount", "ContainerPort",
                            "LogGroupName", "Cpu", "Memory") if k not in changes]
        extra = {"ClientRequestToken": token} if token else {}
        self.cfn.update_stack(StackName=name, UsePreviousTemplate=True, Capabilities=["CAPABILITY_NAMED_IAM"],
                              Parameters=params(**changes) + [{"ParameterKey": k, "UsePreviousValue": True} for k in keep],
                              **extra)

    def wait_stack(self, name: str, statuses: tuple[str, ...], timeout: float = 15) -> dict:
        return wait(lambda: s if (s := self.stack(name))["StackStatus"] in statuses else None, timeout, f"{name} in {statuses}")

    def events(self, name: str) -> list[dict]:
        return self.cfn.describe_stack_events(StackName=name)["StackEvents"][::-1]  # oldest first

    def parameter(self, name: str, key: str) -> str:
        return next(p["ParameterValue"] for p in self.stack(name)["Parameters"] if p["ParameterKey"] == key)

    # --- EventBridge helpers ------------------------------------------------------
    def events_queue(self, name: str, pattern: dict, state: str = "ENABLED") -> str:
        """A queue and a rule that sends what matches `pattern` to it; the queue's URL."""
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events_api.put_rule(Name=name, EventPattern=json.dumps(pattern), State=state)
        self.events_api.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
        return url

    def drain(self, url: str, until: Callable[[list[dict]], bool] | None = None, timeout: float = 10) -> list[dict]:
        """The events on the queue (each deleted as read), long-polled until `until`
        holds of all read so far; without `until`, until a receive finds nothing."""
        seen: list[dict] = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                seen.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if (until is None and not got) or (until is not None and until(seen)):
                return seen
        raise AssertionError(f"timed out waiting for events; saw {[(e['detail-type'], e['detail'].get('eventName') or e['detail'].get('lastStatus')) for e in seen]}")

    def image_of(self, task_definition: str) -> str:
        return self.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]["containerDefinitions"][0]["image"]


def params(**kv: Any) -> list[dict]:
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in kv.items()]


def settled(s: dict) -> bool:
    d = s["deployments"]
    return len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == s["desiredCount"] and s["pendingCount"] == 0


def wait(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


def error_code(call: Callable[[], Any]) -> tuple[str, str, int]:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an AWS error")


def new_account(rollout: float = FAST) -> Account:
    return Account(str(random.randint(100_000_000_000, 999_999_999_999)), rollout)


def check(cond: Any, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def revision(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


# --- the checks -------------------------------------------------------------------

def demo_scenario() -> str:
    """The demo's setup and the bot's first deploy, in the default account."""
    a = Account(None, rollout=1.0)
    a.cfn.create_stack(StackName="cluster", TemplateBody=CLUSTER_YAML, Parameters=params(ClusterName="demo"),
                       Capabilities=["CAPABILITY_NAMED_IAM"])
    out = {o["OutputKey"]: o["OutputValue"] for o in a.stack("cluster")["Outputs"]}
    check({"ClusterName", "ClusterArn", "LogGroupName", "VpcId", "SubnetIds", "SecurityGroupId"} <= set(out), out)
    a.cfn.create_stack(StackName="hubot", TemplateBody=SERVICE_YAML, Capabilities=["CAPABILITY_NAMED_IAM"],
                       Parameters=params(ServiceName="hubot", Image="public.ecr.aws/example/hubot", Version="v1",
                                         DesiredCount=2, ContainerPort=8080, ClusterName=out["ClusterName"],
                                         LogGroupName=out["LogGroupName"]))
    a.worker(cluster="demo")
    s = a.settle("demo", "hubot")
    a.settle("demo", "worker")
    check(s["serviceArn"] == "arn:aws:ecs:us-east-1:123456789012:service/demo/hubot", s["serviceArn"])
    check(s["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, s["deploymentConfiguration"])
    check(a.stack("hubot")["StackStatus"] == "CREATE_COMPLETE", "hubot created")
    created = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in a.events("hubot")]
    check(("Service", "CREATE_COMPLETE") in created, created)

    token = "dockhand-deploy-shell-alice-abc123"
    a.update("hubot", token=token, Version="v2")
    check(a.stack("hubot")["StackStatus"] == "UPDATE_IN_PROGRESS", "the update is asynchronous")
    code, message, _ = error_code(lambda: a.update("hubot", Version="v3"))
    check(code == "ValidationError" and "is in UPDATE_IN_PROGRESS state and can not be updated." in message, message)
    seen_two = wait(lambda: len(a.service("demo", "hubot")["deployments"]) == 2, 5, "PRIMARY + ACTIVE")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_COMPLETE" and seen_two, done["StackStatus"])
    s = a.service("demo", "hubot")
    check(settled(s) and revision(s["taskDefinition"]) == "hubot:2", s["taskDefinition"])
    td = a.ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
    c = td["containerDefinitions"][0]
    check(c["name"] == "hubot" and c["image"] == "public.ecr.aws/example/hubot:v2", c)
    check(c["portMappings"][0]["containerPort"] == 8080 and c["logConfiguration"]["options"]["awslogs-group"] == "/dockhand/demo", c)
    check(td["cpu"] == "256" and td["memory"] == "512" and td["networkMode"] == "awsvpc", td)
    old = a.ecs.describe_task_definition(taskDefinition="hubot:1")["taskDefinition"]
    check(old["status"] == "INACTIVE", "the cleanup deregistered the replaced revision")
    logged = a.logs.filter_log_events(logGroupName="/dockhand/demo", logStreamNamePrefix="hubot/hubot/")["events"]
    lines = [e["message"] for e in logged]
    check(lines.count("Starting public.ecr.aws/example/hubot:v2") == 2 and lines.count("Ready") == 4
          and lines.count("Received SIGTERM, shutting down") == 2, lines)  # service.yaml's awslogs, v1 replaced by v2
    events = [e for e in a.events("hubot") if e.get("ClientRequestToken") == token]
    statuses = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    for wanted in [("hubot", "UPDATE_IN_PROGRESS"), ("TaskDefinition", "UPDATE_IN_PROGRESS"), ("TaskDefinition", "UPDATE_COMPLETE"),
                   ("Service", "UPDATE_IN_PROGRESS"), ("Service", "UPDATE_COMPLETE"),
                   ("hubot", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"), ("hubot", "UPDATE_COMPLETE")]:
        check(wanted in statuses, f"{wanted} not among the token's events {statuses}")
    check(statuses.index(("Service", "UPDATE_COMPLETE")) < statuses.index(("hubot", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")), statuses)
    service_done = next(e for e in events if e["LogicalResourceId"] == "Service" and e["ResourceStatus"] == "UPDATE_COMPLETE")
    completed = next(e for e in s["events"] if "deployment completed" in e["message"])
    check(service_done["Timestamp"] >= completed["createdAt"], "the Service completes after its rollout")
    check(all(e.get("ResourceType") for e in events), "every event has a type")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in a.stack("hubot")["Outputs"]}
    check(revision(outputs["TaskDefinitionArn"]) == "hubot:2", outputs)
    resources = {r["LogicalResourceId"]: r for r in a.cfn.list_stack_resources(StackName="hubot")["StackResourceSummaries"]}
    check(resources["Service"]["PhysicalResourceId"] == s["serviceArn"], resources["Service"])
    check(resources["Service"]["ResourceStatus"] == "UPDATE_COMPLETE", resources["Service"])
    code, message, _ = error_code(lambda: a.update("hubot", Version="v2"))
    check(code == "ValidationError" and message == "No updates are to be performed.", message)
    return f"hubot v1 -> v2 by stack update, {len(events)} events with the token"


def service_rollout() -> str:
    a = new_account(rollout=1.0)  # wide enough to see each step on a busy machine
    first = a.worker()
    a.settle("apps", "worker")
    new = a.new_revision("worker", "public.ecr.aws/example/worker:v42")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition="worker:2")
    s = a.service("apps", "worker")
    check(s["taskDefinition"] == new, "the ARN is stored, not family:rev")
    d = s["deployments"]
    check([x["status"] for x in d] == ["PRIMARY", "ACTIVE"], d)
    check(d[0]["id"].startswith("ecs-svc/") and len(d[0]["id"]) == 8 + 19 and d[0]["id"][8:].isdigit(), d[0]["id"])
    check(d[0]["rolloutState"] == "IN_PROGRESS" and d[0]["rolloutStateReason"] == f"ECS deployment {d[0]['id']} in progress.", d[0])
    check(d[1]["taskDefinition"] == first and d[1]["runningCount"] == 3, d[1])
    mid = wait(lambda: (x := a.service("apps", "worker"))["deployments"][0]["runningCount"] == 3 and x, 5, "new tasks up")
    check(len(mid["deployments"]) == 2 or settled(mid), "old tasks stop after the new ones run")
    s = a.settle("apps", "worker")
    check(s["deployments"][0]["rolloutStateReason"] == f"ECS deployment {d[0]['id']} completed.", s["deployments"][0])
    messages = [e["message"] for e in s["events"]]
    check(messages[0] == "(service worker) has reached a steady state.", messages)
    check(messages[1] == f"(service worker) (deployment {d[0]['id']}) deployment completed.", messages)
    check(any(m.startswith("(service worker) has stopped 3 running tasks: (task ") for m in messages), messages)
    check(any(m.startswith("(service worker) has started 3 tasks: (task ") for m in messages), messages)
    check(all({"id", "createdAt", "message"} <= set(e) for e in s["events"]), "event fields")
    # desiredCount alone: no new deployment, the primary grows over the rollout time
    a.ecs.update_service(cluster="apps", service="worker", desiredCount=5)
    s = a.service("apps", "worker")
    check(len(s["deployments"]) == 1 and s["desiredCount"] == 5 and s["runningCount"] == 3, s["deployments"])
    s = wait(lambda: (x := a.service("apps", "worker"))["runningCount"] == 5 and x["pendingCount"] == 0 and x, 5, "scaled")
    check(s["deployments"][0]["id"] == d[0]["id"], "same deployment")
    # forceNewDeployment: a new deployment of the same revision
    a.settle("apps", "worker")
    a.ecs.update_service(cluster="apps", service="worker", forceNewDeployment=True)
    s = a.service("apps", "worker")
    check(len(s["deployments"]) == 2 and s["deployments"][0]["taskDefinition"] == new, s["deployments"])
    a.settle("apps", "worker")
    running = a.ecs.list_tasks(cluster="apps", serviceName="worker")["taskArns"]
    check(len(running) == 5, running)
    return "PRIMARY + ACTIVE converge; scale; force new deployment"


def rollout_fails() -> str:
    a = new_account(rollout=1.0)
    first = a.worker()
    a.settle("apps", "worker")
    a.fault(kind="rollout_fails", service="worker", reason="Essential container in task exited")
    second = a.new_revision("worker", "public.ecr.aws/example/worker:v42")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=second)
    failed = wait(lambda: next((d for d in a.service("apps", "worker")["deployments"] if d["rolloutState"] == "FAILED"), None),
                  5, "a FAILED deployment")
    check(failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start.", failed)
    check(failed["status"] == "ACTIVE" and failed["taskDefinition"] == second and failed["failedTasks"] == 3, failed)
    s = a.service("apps", "worker")
    primary = s["deployments"][0]
    check(primary["status"] == "PRIMARY" and primary["taskDefinition"] == first and primary["rolloutState"] == "IN_PROGRESS", primary)
    check(s["taskDefinition"] == first, "the service is back on the old revision")
    s = a.settle("apps", "worker")
    check(s["deployments"][0]["taskDefinition"] == first, "the rollback completed and the failed deployment is gone")
    messages = [e["message"] for e in s["events"]]
    check(f"(service worker) deployment {failed['id']} deployment failed: tasks failed to start." in messages, messages)
    check(any(m.startswith("(service worker) rolling back to deployment ecs-svc/") for m in messages), messages)
    stopped = a.ecs.list_tasks(cluster="apps", serviceName="worker", desiredStatus="STOPPED")["taskArns"]
    tasks = a.ecs.describe_tasks(cluster="apps", tasks=stopped)["tasks"]
    reasons = {t["stoppedReason"] for t in tasks if t["taskDefinitionArn"] == second}
    check(reasons == {"Essential container in task exited"}, reasons)
    check(all(t["lastStatus"] == "STOPPED" and t.get("stoppedAt") for t in tasks), tasks[0])
    check(a.control("GET", "/_dockhand/faults") == [], "the fault was used up")
    return f"breaker rolled back to {revision(first)}; {len(tasks)} stopped tasks listed"


def rollout_stalls() -> str:
    a = new_account(rollout=0.2)
    a.worker(count=2)
    a.settle("apps", "worker")
    a.fault(kind="rollout_stalls", service="worker")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=a.new_revision("worker", "w:v42"))
    time.sleep(0.8)
    s = a.service("apps", "worker")
    p = s["deployments"][0]
    check(p["rolloutState"] == "IN_PROGRESS" and p["runningCount"] < p["desiredCount"] and len(s["deployments"]) == 2, p)
    a.control("DELETE", "/_dockhand/faults")
    a.settle("apps", "worker", timeout=5)
    return "stays IN_PROGRESS until the faults are cleared"


def stack_update_fails() -> str:
    a = new_account()
    a.app_stack()
    reason = 'Resource handler returned message: "Invalid request provided: memory too low"'
    a.fault(kind="stack_update_fails", stack="hubot", resource="TaskDefinition", reason=reason)
    a.update("hubot", token="tok-1", Version="v2")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", done["StackStatus"])
    events = a.events("hubot")
    failed = [e for e in events if e["ResourceStatus"] == "UPDATE_FAILED"]
    check(len(failed) == 1 and failed[0]["LogicalResourceId"] == "TaskDefinition" and failed[0]["ResourceStatusReason"] == reason, failed)
    order = [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "hubot"]
    check(order[-3:] == ["UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"], order)
    check(a.parameter("hubot", "Version") == "v1", "parameters are back")
    check(revision(a.service("hubot-cluster", "hubot")["taskDefinition"]) == "hubot:1", "service on the old revision")
    # A resource the update does not change fails after the others: the service,
    # already on the new revision, is rolled out back to the old one.
    a.fault(kind="stack_update_fails", stack="hubot", resource="TaskRole")
    a.update("hubot", Version="v3")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", done["StackStatus"])
    s = a.service("hubot-cluster", "hubot")
    check(settled(s) and revision(s["taskDefinition"]) == "hubot:1", "rolled out back before UPDATE_ROLLBACK_COMPLETE")
    check(any(e["message"].startswith("(service hubot) has started") for e in s["events"][:4]), "a rollout back")
    return "UPDATE_FAILED TaskDefinition / TaskRole, UPDATE_ROLLBACK_COMPLETE"


def stack_rollout_fails() -> str:
    a = new_account()
    a.app_stack()
    a.fault(kind="rollout_fails", service="hubot")
    a.update("hubot", Version="v2")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", done["StackStatus"])
    failed = [e for e in a.events("hubot") if e["ResourceStatus"] == "UPDATE_FAILED"]
    check(failed and failed[0]["LogicalResourceId"] == "Service", failed)
    check("ECS Deployment Circuit Breaker was triggered" in failed[0]["ResourceStatusReason"], failed[0]["ResourceStatusReason"])
    s = a.settle("hubot-cluster", "hubot")
    check(revision(s["taskDefinition"]) == "hubot:1", s["taskDefinition"])
    check(a.ecs.describe_task_definition(taskDefinition="hubot:2")["taskDefinition"]["status"] == "INACTIVE", "new revision removed")
    check(a.parameter("hubot", "Version") == "v1", "parameters are back")
    return "Service UPDATE_FAILED (circuit breaker), stack rolled back"


def service_does_not_wait() -> str:
    a = new_account()
    a.app_stack()
    a.fault(kind="service_does_not_wait", stack="hubot")
    a.fault(kind="rollout_fails", service="hubot")
    a.update("hubot", Version="v2")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_COMPLETE", done["StackStatus"])
    s = a.service("hubot-cluster", "hubot")
    check(revision(s["taskDefinition"]) == "hubot:2" and not settled(s), "the rollout goes on after UPDATE_COMPLETE")
    s = a.settle("hubot-cluster", "hubot")
    check(revision(s["taskDefinition"]) == "hubot:1", "the breaker rolled back behind the stack's back")
    check(a.parameter("hubot", "Version") == "v2", "the stack still says v2")
    return "stack UPDATE_COMPLETE while the breaker rolls the service back"


def stack_rollback_fails() -> str:
    a = new_account()
    a.app_stack()
    a.fault(kind="stack_update_fails", stack="hubot", resource="TaskRole")
    a.fault(kind="stack_rollback_fails", stack="hubot", reason="Resource handler returned message: \"gone\"")
    a.update("hubot", Version="v2")
    done = a.wait_stack("hubot", ("UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"))
    check(done["StackStatus"] == "UPDATE_ROLLBACK_FAILED", done["StackStatus"])
    failed = [e for e in a.events("hubot") if e["ResourceStatus"] == "UPDATE_FAILED"]
    check(len(failed) == 2 and any("gone" in e["ResourceStatusReason"] for e in failed), failed)
    return "the rollback fails too: UPDATE_ROLLBACK_FAILED"


def stack_event_pages() -> str:
    a = new_account()
    a.app_stack()
    a.wait_stack("hubot", ("CREATE_COMPLETE",))
    a.update("hubot", token="tok-1", Version="v2")
    a.wait_stack("hubot", ("UPDATE_COMPLETE",))
    whole = [e["EventId"] for e in a.cfn.describe_stack_events(StackName="hubot")["StackEvents"]]
    check(len(whole) > 8, len(whole))
    a.control("POST", "/_dockhand/config", {"stack_events_page": 4})
    first = a.cfn.describe_stack_events(StackName="hubot")
    check(len(first["StackEvents"]) == 4 and "NextToken" in first, first.keys())
    # Events that arrive while paging go on top: the next page is unchanged.
    a.update("hubot", token="tok-2", Version="v3")
    a.wait_stack("hubot", ("UPDATE_COMPLETE",))
    seen = [e["EventId"] for e in first["StackEvents"]]
    token = first["NextToken"]
    while token:
        page = a.cfn.describe_stack_events(StackName="hubot", NextToken=token)
        check(len(page["StackEvents"]) <= 4, len(page["StackEvents"]))
        seen += [e["EventId"] for e in page["StackEvents"]]
        token = page.get("NextToken")
    check(seen == whole, "the pages are the events as they were, newest first, each once")
    code, _, status = error_code(lambda: a.cfn.describe_stack_events(StackName="hubot", NextToken="nope"))
    check((code, status) == ("ValidationError", 400), (code, status))
    return "newest first, 100 a page (4 here), NextToken stable while events arrive"


def cancel_update() -> str:
    a = new_account()
    a.app_stack()
    code, message, _ = error_code(lambda: a.cfn.cancel_update_stack(StackName="hubot"))
    check(code == "ValidationError" and message == "CancelUpdateStack cannot be called from current stack status", message)
    a.control("POST", "/_dockhand/config", {"rollout_seconds": 3})
    a.update("hubot", token="deploy-1", Version="v2")
    wait(lambda: any(e["LogicalResourceId"] == "Service" for e in a.events("hubot")[-3:]), 5, "the Service update started")
    a.cfn.cancel_update_stack(StackName="hubot", ClientRequestToken="cancel-1")
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"), timeout=20)
    check(done["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", done["StackStatus"])
    events = a.events("hubot")
    cancelled = [e for e in events if e.get("ResourceStatusReason") == "Resource update cancelled"]
    check(cancelled and all(e.get("ClientRequestToken") == "cancel-1" for e in cancelled), cancelled)
    tail = [e for e in events if e["ResourceStatus"] == "UPDATE_ROLLBACK_COMPLETE"]
    check(tail and tail[-1]["ClientRequestToken"] == "cancel-1", tail)
    check(a.parameter("hubot", "Version") == "v1", "back on v1")
    s = a.settle("hubot-cluster", "hubot")
    check(revision(s["taskDefinition"]) == "hubot:1", s["taskDefinition"])
    return "UPDATE_IN_PROGRESS -> UPDATE_ROLLBACK_COMPLETE with the cancel's token"


def change_sets() -> str:
    a = new_account()
    a.app_stack()

    def change_set(name: str, **changes: Any) -> dict:
        keep = [k for k in ("ServiceName", "ClusterName", "Image", "Version", "DesiredCount", "ContainerPort", "LogGroupName")
                if k not in changes]
        cs = a.cfn.create_change_set(StackName="hubot", ChangeSetName=name, ChangeSetType="UPDATE", UsePreviousTemplate=True,
                                     Capabilities=["CAPABILITY_NAMED_IAM"],
                                     Parameters=params(**changes) + [{"ParameterKey": k, "UsePreviousValue": True} for k in keep])
        return a.cfn.describe_change_set(StackName="hubot", ChangeSetName=cs["Id"])

    d = change_set("plan-version", Version="v2")
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in d["Changes"]}
    check(d["Status"] == "CREATE_COMPLETE" and set(changes) == {"TaskDefinition", "Service"}, changes)
    check(changes["TaskDefinition"]["Action"] == "Modify" and changes["TaskDefinition"]["Replacement"] == "True", changes["TaskDefinition"])
    check(changes["Service"]["Replacement"] == "False", changes["Service"])
    check(any(x.get("CausingEntity") == "Version" for x in changes["TaskDefinition"]["Details"]), changes["TaskDefinition"]["Details"])
    check(changes["Service"]["PhysicalResourceId"].endswith(":service/hubot-cluster/hubot"), changes["Service"])
    d = change_set("plan-count", DesiredCount=4)
    check([c["ResourceChange"]["LogicalResourceId"] for c in d["Changes"]] == ["Service"], d["Changes"])
    d = change_set("plan-nothing")
    check(d["Status"] == "FAILED" and "didn't contain changes" in d["StatusReason"], d.get("StatusReason"))
    for name in ("plan-version", "plan-count", "plan-nothing"):
        a.cfn.delete_change_set(StackName="hubot", ChangeSetName=name)
    check(a.cfn.list_change_sets(StackName="hubot")["Summaries"] == [], "all deleted")
    code, _, _ = error_code(lambda: a.cfn.describe_change_set(StackName="hubot", ChangeSetName="plan-version"))
    check(code == "ChangeSetNotFound", code)
    d = change_set("apply", DesiredCount=3)
    a.cfn.execute_change_set(StackName="hubot", ChangeSetName=d["ChangeSetId"])
    check(a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))["StackStatus"] == "UPDATE_COMPLETE", "executed")
    s = a.service("hubot-cluster", "hubot")
    check(s["desiredCount"] == 3 and s["runningCount"] == 3, "the stack waited for the service to scale")
    return "Version -> TaskDefinition (replace) + Service; DesiredCount -> Service; executed"


def parameters() -> str:
    a = new_account()
    a.app_stack()
    # Cpu and Memory were defaulted at create: UsePreviousValue must still work.
    a.cfn.update_stack(StackName="hubot", UsePreviousTemplate=True, Capabilities=["CAPABILITY_NAMED_IAM"],
                       Parameters=params(DesiredCount=3) + [{"ParameterKey": k, "UsePreviousValue": True} for k in
                                                           ("ServiceName", "ClusterName", "Image", "Version", "ContainerPort",
                                                            "LogGroupName", "Cpu", "Memory", "TargetGroupArn")])
    done = a.wait_stack("hubot", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(done["StackStatus"] == "UPDATE_COMPLETE" and a.parameter("hubot", "DesiredCount") == "3", done["StackStatus"])
    touched = {e["LogicalResourceId"] for e in a.events("hubot") if e["ResourceStatus"] == "UPDATE_COMPLETE"}
    check(touched == {"Service", "hubot"}, touched)
    check(a.service("hubot-cluster", "hubot")["runningCount"] == 3, "scaled before UPDATE_COMPLETE")
    secret = """
Parameters:
  Token: {Type: String, NoEcho: true}
  Plain: {Type: String, Default: visible}
Resources:
  Logs: {Type: AWS::Logs::LogGroup, Properties: {LogGroupName: !Sub "/x/${Plain}"}}
"""
    a.cfn.create_stack(StackName="secret", TemplateBody=secret, Parameters=params(Token="s3cr3t"))
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in a.stack("secret")["Parameters"]}
    check(shown == {"Token": "****", "Plain": "visible"}, shown)
    return "UsePreviousValue on defaulted parameters; NoEcho masked"


def task_definitions() -> str:
    a = new_account()
    for image in ("w:1", "w:2", "w:3"):
        a.ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": image, "memory": 128}],
                                       tags=[{"key": "dockhand:version", "value": image[2:]}])
    a.ecs.register_task_definition(family="webapp", containerDefinitions=[{"name": "x", "image": "x", "memory": 128}])
    a.ecs.deregister_task_definition(taskDefinition="web:1")
    desc = a.ecs.list_task_definitions(familyPrefix="web", sort="DESC")["taskDefinitionArns"]
    check([revision(x) for x in desc] == ["web:3", "web:2"], desc)
    asc = a.ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    check([revision(x) for x in asc] == ["web:2", "web:3"], asc)
    inactive = a.ecs.list_task_definitions(familyPrefix="web", status="INACTIVE")["taskDefinitionArns"]
    check([revision(x) for x in inactive] == ["web:1"], inactive)
    arn = desc[0]
    a.ecs.tag_resource(resourceArn=arn, tags=[{"key": "dockhand:requested-by", "value": "shell:alice"},
                                              {"key": "dockhand:outcome", "value": "live"}])
    a.ecs.tag_resource(resourceArn=arn, tags=[{"key": "dockhand:outcome", "value": "failed"}])
    tags = {t["key"]: t["value"] for t in a.ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    check(tags == {"dockhand:version": "3", "dockhand:requested-by": "shell:alice", "dockhand:outcome": "failed"}, tags)
    described = a.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    check(len(described["tags"]) == 3, described["tags"])
    check(described["taskDefinition"].get("registeredAt"), "registeredAt")
    gone = a.ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]
    check(gone["status"] == "INACTIVE" and gone.get("deregisteredAt"), "deregisteredAt")
    return "sort DESC, status, familyPrefix; tags on revisions"


def error_faults() -> str:
    a = new_account()
    a.ecs.create_cluster(clusterName="apps")
    a.fault(kind="error", operation="DescribeServices", code="ThrottlingException", message="Rate exceeded", count=2)
    a.fault(kind="error", operation="UpdateService", code="AccessDeniedException", message="not authorized: ecs:UpdateService")
    a.fault(kind="error", operation="ListServices", code="ClusterNotFoundException", message="Cluster not found.")
    a.fault(kind="error", operation="DescribeStacks", code="Throttling", message="Rate exceeded")
    a.fault(kind="error", operation="UpdateStack", code="AccessDenied", message="User is not authorized", status=403)
    describe = lambda: a.ecs.describe_services(cluster="apps", services=["x"])  # noqa: E731
    check(error_code(describe) == ("ThrottlingException", "Rate exceeded", 400), "1st")
    check(error_code(describe)[0] == "ThrottlingException", "2nd")
    check(describe()["failures"][0]["reason"] == "MISSING", "3rd call answers again")
    code, message, _ = error_code(lambda: a.ecs.update_service(cluster="apps", service="x", desiredCount=1))
    check(code == "AccessDeniedException" and message == "not authorized: ecs:UpdateService", message)
    check(error_code(lambda: a.ecs.list_services(cluster="apps"))[0] == "ClusterNotFoundException", "ecs")
    check(error_code(lambda: a.cfn.describe_stacks(StackName="x")) == ("Throttling", "Rate exceeded", 400), "cfn")
    check(error_code(lambda: a.cfn.update_stack(StackName="x", UsePreviousTemplate=True)) == ("AccessDenied", "User is not authorized", 403), "cfn 403")
    check(a.control("GET", "/_dockhand/faults") == [], "all used up")
    return "awsJson and awsQuery errors parse in boto3"


def calls_log() -> str:
    a = new_account()
    a.ecs.create_cluster(clusterName="apps")
    a.ecs.list_services(cluster="apps")
    a.cfn.list_stacks()
    a.control("GET", "/_dockhand/faults")
    calls = a.control("GET", "/_dockhand/calls")
    check([(c["service"], c["operation"]) for c in calls] ==
          [("ecs", "CreateCluster"), ("ecs", "ListServices"), ("cloudformation", "ListStacks")], calls)
    check(all(isinstance(c["at"], float) for c in calls) and calls[0]["at"] <= calls[-1]["at"], calls)
    a.control("DELETE", "/_dockhand/calls")
    check(a.calls() == [], "cleared")
    return "ECS (X-Amz-Target) and CloudFormation (Action) calls, in order"


def isolation() -> str:
    a, b = new_account(rollout=5), new_account()
    a.worker()
    b.worker()
    a.fault(kind="rollout_fails", service="worker")
    b.ecs.update_service(cluster="apps", service="worker", taskDefinition=b.new_revision("worker", "w:v42"))
    b.settle("apps", "worker")
    check(revision(b.service("apps", "worker")["taskDefinition"]) == "worker:2", "b's rollout is not faulted by a's fault")
    check(len(a.control("GET", "/_dockhand/faults")) == 1, "a's fault is still there")
    check(a.control("GET", "/_dockhand/config")["rollout_seconds"] == 5, "a's config")
    check(b.control("GET", "/_dockhand/config")["rollout_seconds"] == FAST, "b's config")
    check("UpdateService" not in a.calls() and "UpdateService" in b.calls(), "calls per account")
    check(a.ecs.list_clusters()["clusterArns"] != b.ecs.list_clusters()["clusterArns"], "resources per account")
    return "faults, config, calls and resources per account"


def zero_rollout() -> str:
    """rollout_seconds 0: rollouts and stack updates complete on the next request."""
    a = new_account(rollout=0)
    a.ecs.create_cluster(clusterName="hubot-cluster")
    a.cfn.create_stack(StackName="hubot", TemplateBody=SERVICE_YAML, Capabilities=["CAPABILITY_NAMED_IAM"],
                       Parameters=params(ServiceName="hubot", ClusterName="hubot-cluster", Image="hubot",
                                         Version="v1", LogGroupName="/x"))
    check(settled(a.service("hubot-cluster", "hubot")), "created and settled on the first look")
    a.update("hubot", Version="v2")
    check(a.stack("hubot")["StackStatus"] == "UPDATE_COMPLETE", "updated on the first look")
    check(revision(a.service("hubot-cluster", "hubot")["taskDefinition"]) == "hubot:2", "on the new revision")
    return "complete on the next observation"


def control_api() -> str:
    a = new_account()
    check(a.control("GET", "/_dockhand/health") == "ok", "health")
    for bad in ({"kind": "nope"}, {"kind": "rollout_fails"}, {"kind": "error", "operation": "X"}):
        try:
            a.control("POST", "/_dockhand/faults", bad)
            raise AssertionError(f"{bad} was accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 400, e.code)
    listed = a.fault(kind="stack_update_fails", stack="s", resource="R", reason="why")
    check(listed == [{"kind": "stack_update_fails", "stack": "s", "resource": "R", "reason": "why", "count": 1}], listed)
    check(a.control("DELETE", "/_dockhand/faults") == [], "cleared")
    check(a.calls() == [], "control requests are not calls")
    return "health, validation, fault list"


# --- service deployments and strategies (ecs_deployments.py) ---------------------------

def records(a: Account, cluster: str, name: str, **filters: Any) -> list[dict]:
    """The service's ServiceDeployment records, newest first, described."""
    briefs = a.ecs.list_service_deployments(cluster=cluster, service=name, **filters)["serviceDeployments"]
    if not briefs:
        return []
    arns = [b["serviceDeploymentArn"] for b in briefs]
    found = a.ecs.describe_service_deployments(serviceDeploymentArns=arns)["serviceDeployments"]
    return sorted(found, key=lambda d: arns.index(d["serviceDeploymentArn"]))


def record(a: Account, arn: str) -> dict:
    return a.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def watch(a: Account, arn: str, until: tuple[str, ...], timeout: float = 10) -> tuple[dict, list[dict]]:
    """Polls a record until its status is one of `until`; returns it and every view seen."""
    seen: list[dict] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen.append(record(a, arn))
        if seen[-1]["status"] in until:
            return seen[-1], seen
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {until}; last {seen[-1]['status']} {seen[-1].get('lifecycleStage')}")


def in_order(seen: list[str], order: tuple[str, ...] | list[str]) -> bool:
    """Every value of `seen` (repeats collapsed) appears in `order`, in that order."""
    positions = [order.index(x) for x in seen]
    return positions == sorted(positions)


STAGE_ORDER = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
               "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP")


def service_deployments() -> str:
    a = new_account()
    first = a.worker()
    s = a.settle("apps", "worker")
    (created,) = records(a, "apps", "worker")
    check(s["currentServiceDeployment"] == created["serviceDeploymentArn"], s.get("currentServiceDeployment"))
    arn = created["serviceDeploymentArn"]
    check(arn.startswith(f"arn:aws:ecs:us-east-1:{a.id}:service-deployment/apps/worker/") and len(arn.rsplit("/", 1)[1]) == 21, arn)
    check(created["status"] == "SUCCESSFUL" and created["sourceServiceRevisions"] == [], created)
    check(created["serviceArn"] == s["serviceArn"] and created["clusterArn"] == s["clusterArn"], created)
    check(created["createdAt"] <= created["startedAt"] <= created["finishedAt"], created)
    check(created["targetServiceRevision"]["runningTaskCount"] == 3, created["targetServiceRevision"])
    check(created["deploymentConfiguration"]["strategy"] == "ROLLING" and s["deploymentConfiguration"]["strategy"] == "ROLLING", s)
    check(created["deploymentCircuitBreaker"] == {"status": "MONITORING_COMPLETE", "failureCount": 0, "threshold": 3}, created)
    check(created["alarms"]["status"] == "DISABLED", created["alarms"])
    check(s["deploymentController"] == {"type": "ECS"}, s["deploymentController"])
    # UpdateService with a new revision: PENDING, then IN_PROGRESS through the stages, then SUCCESSFUL
    second = a.new_revision("worker", "public.ecr.aws/example/worker:v42")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=second)
    new = records(a, "apps", "worker")[0]
    check(new["status"] == "PENDING" and "startedAt" not in new, new)
    done, seen = watch(a, new["serviceDeploymentArn"], ("SUCCESSFUL",))
    statuses = [v["status"] for v in seen]
    check("IN_PROGRESS" in statuses and in_order(list(dict.fromkeys(statuses)), ("PENDING", "IN_PROGRESS", "SUCCESSFUL")), statuses)
    stages = list(dict.fromkeys(v["lifecycleStage"] for v in seen if "lifecycleStage" in v))
    check(in_order(stages, ("SCALE_UP", "CLEAN_UP")) and done["lifecycleStage"] == "CLEAN_UP", stages)
    check([r["arn"] for r in done["sourceServiceRevisions"]] == [created["targetServiceRevision"]["arn"]], done)
    check(done["targetServiceRevision"]["runningTaskCount"] == 3 and done["sourceServiceRevisions"][0]["runningTaskCount"] == 0, done)
    s = a.settle("apps", "worker")
    check(s["currentServiceDeployment"] == done["serviceDeploymentArn"], s["currentServiceDeployment"])
    check([r["arn"] for r in s["currentServiceRevisions"]] == [done["targetServiceRevision"]["arn"]], s["currentServiceRevisions"])
    # DescribeServiceRevisions: the task definition and a stable digest per image
    revs = a.ecs.describe_service_revisions(serviceRevisionArns=[done["targetServiceRevision"]["arn"], created["targetServiceRevision"]["arn"],
                                                                 "arn:aws:ecs:us-east-1:1:service-revision/apps/worker/1"])
    by_td = {r["taskDefinition"]: r for r in revs["serviceRevisions"]}
    check(set(by_td) == {first, second} and revs["failures"][0]["reason"] == "MISSING", revs)
    (image,) = by_td[second]["containerImages"]
    check(image["containerName"] == "worker" and image["image"] == "public.ecr.aws/example/worker:v42", image)
    check(image["imageDigest"].startswith("sha256:") and len(image["imageDigest"]) == 71, image)
    # forceNewDeployment: a new record and revision, the same image and digest
    a.ecs.update_service(cluster="apps", service="worker", forceNewDeployment=True)
    forced = records(a, "apps", "worker")[0]
    check(forced["serviceDeploymentArn"] not in (arn, done["serviceDeploymentArn"]), forced)
    a.settle("apps", "worker")
    rev = a.ecs.describe_service_revisions(serviceRevisionArns=[forced["targetServiceRevision"]["arn"]])["serviceRevisions"][0]
    check(rev["containerImages"] == by_td[second]["containerImages"], rev["containerImages"])
    # the filters, newest first, pages
    everything = a.ecs.list_service_deployments(cluster="apps", service="worker")["serviceDeployments"]
    check(len(everything) == 3 and [b["createdAt"] for b in everything] == sorted((b["createdAt"] for b in everything), reverse=True), everything)
    check(all(b["status"] == "SUCCESSFUL" for b in everything), [b["status"] for b in everything])
    check(a.ecs.list_service_deployments(cluster="apps", service="worker", status=["IN_PROGRESS", "PENDING"])["serviceDeployments"] == [], "status")
    later = a.ecs.list_service_deployments(cluster="apps", service="worker", createdAt={"after": everything[1]["createdAt"]})
    check([b["serviceDeploymentArn"] for b in later["serviceDeployments"]] == [b["serviceDeploymentArn"] for b in everything[:2]], later)
    page = a.ecs.list_service_deployments(cluster="apps", service="worker", maxResults=2)
    rest = a.ecs.list_service_deployments(cluster="apps", service="worker", maxResults=2, nextToken=page["nextToken"])
    check([b["serviceDeploymentArn"] for b in page["serviceDeployments"] + rest["serviceDeployments"]] ==
          [b["serviceDeploymentArn"] for b in everything] and "nextToken" not in rest, rest)
    code, _, _ = error_code(lambda: a.ecs.list_service_deployments(cluster="apps", service="nope"))
    check(code == "ServiceNotFoundException", code)
    # CODE_DEPLOY and EXTERNAL controllers: no records, as on AWS
    a.ecs.create_service(cluster="apps", serviceName="legacy", taskDefinition=first, desiredCount=1,
                         deploymentController={"type": "CODE_DEPLOY"})
    s = a.settle("apps", "legacy")
    check(s["deploymentController"] == {"type": "CODE_DEPLOY"} and "currentServiceDeployment" not in s, s)
    check(a.ecs.list_service_deployments(cluster="apps", service="legacy")["serviceDeployments"] == [], "no records")
    # CodeDeploy rolls out new revisions; UpdateService may only change the count.
    code, message, status = error_code(lambda: a.ecs.update_service(cluster="apps", service="legacy", taskDefinition=second))
    check((code, status) == ("InvalidParameterException", 400) and "Use AWS CodeDeploy" in message, (code, message))
    check(a.ecs.update_service(cluster="apps", service="legacy", desiredCount=2)["service"]["desiredCount"] == 2, "count")
    calls = set(a.calls())
    check({"ListServiceDeployments", "DescribeServiceDeployments", "DescribeServiceRevisions"} <= calls, calls)
    return "records for create, update and force; filters, pages, revisions with digests; CODE_DEPLOY has none, refuses a new revision"


def breaker_record() -> str:
    """A circuit-breaker rollback is one record: IN_PROGRESS -> ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL."""
    a = new_account(rollout=0.6)
    first = a.worker()
    a.settle("apps", "worker")
    a.fault(kind="rollout_fails", service="worker")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=a.new_revision("worker", "w:v42"))
    arn = records(a, "apps", "worker")[0]["serviceDeploymentArn"]
    done, seen = watch(a, arn, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "SUCCESSFUL"))
    statuses = list(dict.fromkeys(v["status"] for v in seen))
    check(done["status"] == "ROLLBACK_SUCCESSFUL" and "ROLLBACK_IN_PROGRESS" in statuses, statuses)
    check(in_order(statuses, ("PENDING", "IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL")), statuses)
    check(done["rollback"]["reason"] == "ECS deployment circuit breaker: tasks failed to start." and done["rollback"]["startedAt"], done["rollback"])
    source = done["sourceServiceRevisions"][0]
    check(done["rollback"]["serviceRevisionArn"] == source["arn"], done["rollback"])
    breaker = done["deploymentCircuitBreaker"]
    check(breaker["status"] == "TRIGGERED" and breaker["failureCount"] >= breaker["threshold"] == 3, breaker)
    check(source["runningTaskCount"] == 3 and done["targetServiceRevision"]["runningTaskCount"] == 0, done)
    check(done["finishedAt"] >= done["rollback"]["startedAt"], done)
    s = a.settle("apps", "worker")
    check(s["taskDefinition"] == first, "back on the first revision")
    briefs = a.ecs.list_service_deployments(cluster="apps", service="worker")["serviceDeployments"]
    check([b["status"] for b in briefs] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"], briefs)  # no new SUCCESSFUL one
    return f"one record: {' -> '.join(statuses)}; failureCount {breaker['failureCount']}/{breaker['threshold']}"


def strategy_service(a: Account, name: str, config: dict, count: int = 2) -> str:
    a.ecs.create_cluster(clusterName="apps")
    td = a.new_revision(name, f"public.ecr.aws/example/{name}:v1")
    a.ecs.create_service(cluster="apps", serviceName=name, taskDefinition=td, desiredCount=count, deploymentConfiguration=config)
    a.settle("apps", name)
    a.ecs.update_service(cluster="apps", service=name, taskDefinition=a.new_revision(name, f"public.ecr.aws/example/{name}:v2"))
    return records(a, "apps", name)[0]["serviceDeploymentArn"]


def strategies() -> str:
    a = new_account(rollout=0.5)
    a.control("POST", "/_dockhand/config", {"minute_seconds": 0.1})
    check(a.control("GET", "/_dockhand/config") == {"rollout_seconds": 0.5, "minute_seconds": 0.1, "stack_events_page": 100,
                                                    "live_tail_seconds": 10800}, "config")
    # BLUE_GREEN: every stage in order; SUCCESSFUL only after the bake (3 minutes) and the clean-up
    arn = strategy_service(a, "blue", {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 3})
    done, seen = watch(a, arn, ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL"))
    stages = list(dict.fromkeys(v["lifecycleStage"] for v in seen if "lifecycleStage" in v))
    check(in_order(stages, STAGE_ORDER) and {"SCALE_UP", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"} <= set(stages), stages)
    check(done["status"] == "SUCCESSFUL" and done["lifecycleStage"] == "CLEAN_UP", done)
    baking = [v for v in seen if v.get("lifecycleStage") == "BAKE_TIME"]
    check(all(v["status"] == "IN_PROGRESS" for v in baking), "not done while baking")
    bake = baking[-1]
    check(bake["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0 and
          bake["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 0.0, bake)
    check(bake["sourceServiceRevisions"][0]["runningTaskCount"] == 2 and bake["targetServiceRevision"]["runningTaskCount"] == 2,
          "both revisions run while baking")
    bake_seconds = done["finishedAt"].timestamp() - baking[0]["updatedAt"].timestamp()
    check(bake_seconds >= 0.3 - 0.01, f"bake of 3 minutes (0.3 s) took {bake_seconds:.2f} s")
    pre = [v for v in seen if v.get("lifecycleStage") in ("PRE_SCALE_UP", "SCALE_UP")]
    check(all(v["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0 for v in pre), "no traffic before the shift")
    check(done["deploymentConfiguration"]["strategy"] == "BLUE_GREEN" and done["deploymentConfiguration"]["bakeTimeInMinutes"] == 3, done)
    # LINEAR: production traffic in steps of 25 %
    arn = strategy_service(a, "line", {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1},
                                       "bakeTimeInMinutes": 0})
    done, seen = watch(a, arn, ("SUCCESSFUL",))
    weights = list(dict.fromkeys(v["targetServiceRevision"]["requestedProductionTrafficWeight"] for v in seen))
    check(weights == sorted(weights) and weights[-1] == 100.0 and len({25.0, 50.0, 75.0} & set(weights)) >= 2, weights)
    mid = next(v for v in seen if v["targetServiceRevision"]["requestedProductionTrafficWeight"] in (25.0, 50.0, 75.0))
    check(mid["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT" and
          mid["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 100.0 - mid["targetServiceRevision"]["requestedProductionTrafficWeight"], mid)
    # CANARY: 10 % for 2 minutes, then the rest
    arn = strategy_service(a, "bird", {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}})
    done, seen = watch(a, arn, ("SUCCESSFUL",))
    weights = list(dict.fromkeys(v["targetServiceRevision"]["requestedProductionTrafficWeight"] for v in seen))
    check(weights == [0.0, 10.0, 100.0], weights)
    s = a.service("apps", "bird")
    check(s["deploymentConfiguration"]["canaryConfiguration"] == {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 2}, s["deploymentConfiguration"])
    # UpdateService keeps a new strategy; through CloudFormation too
    a.ecs.update_service(cluster="apps", service="bird", deploymentConfiguration={"strategy": "ROLLING"})
    check(a.service("apps", "bird")["deploymentConfiguration"]["strategy"] == "ROLLING", "updated")
    template = """
Parameters:
  Image: {Type: String, Default: "public.ecr.aws/example/cfn:v1"}
Resources:
  TaskDefinition:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: cfn
      ContainerDefinitions: [{Name: cfn, Image: !Ref Image, Memory: 128}]
  Service:
    Type: AWS::ECS::Service
    Properties:
      ServiceName: cfn
      Cluster: apps
      DesiredCount: 1
      TaskDefinition: !Ref TaskDefinition
      DeploymentController: {Type: ECS}
      DeploymentConfiguration:
        Strategy: LINEAR
        BakeTimeInMinutes: 1
        LinearConfiguration: {StepPercent: 50, StepBakeTimeInMinutes: 1}
        DeploymentCircuitBreaker: {Enable: true, Rollback: true}
"""
    a.cfn.create_stack(StackName="cfn", TemplateBody=template)
    a.settle("apps", "cfn")
    a.cfn.update_stack(StackName="cfn", UsePreviousTemplate=True, Parameters=params(Image="public.ecr.aws/example/cfn:v2"))
    stack = a.wait_stack("cfn", ("UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"))
    check(stack["StackStatus"] == "UPDATE_COMPLETE", stack["StackStatus"])
    latest = records(a, "apps", "cfn")[0]
    check(latest["status"] == "SUCCESSFUL" and latest["deploymentConfiguration"]["strategy"] == "LINEAR", latest)
    check(latest["deploymentConfiguration"]["linearConfiguration"] == {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}, latest)
    rev = a.ecs.describe_service_revisions(serviceRevisionArns=[latest["targetServiceRevision"]["arn"]])["serviceRevisions"][0]
    check(rev["containerImages"][0]["image"] == "public.ecr.aws/example/cfn:v2", rev)
    return f"BLUE_GREEN {len(stages)} stages, bake {bake_seconds:.2f} s; LINEAR {weights and 'steps'}; CANARY 10 -> 100; CloudFormation LINEAR"


def stage_failures() -> str:
    a = new_account(rollout=0.5)
    # an alarm in BAKE_TIME: TRIGGERED, the same record rolls back
    a.fault(kind="deployment_fails", service="blue", stage="BAKE_TIME", by="alarm", alarm="blue-5xx")
    arn = strategy_service(a, "blue", {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5,
                                       "alarms": {"alarmNames": ["blue-5xx", "blue-latency"], "enable": True, "rollback": True}})
    done, seen = watch(a, arn, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "SUCCESSFUL"))
    check(done["status"] == "ROLLBACK_SUCCESSFUL" and "ROLLBACK_IN_PROGRESS" in {v["status"] for v in seen}, done["status"])
    check(done["alarms"] == {"status": "TRIGGERED", "alarmNames": ["blue-5xx", "blue-latency"], "triggeredAlarmNames": ["blue-5xx"]}, done["alarms"])
    check(done["lifecycleStage"] == "BAKE_TIME" and "blue-5xx" in done["rollback"]["reason"], done)
    check(done["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0, "traffic back on the source")
    rolling_back = [v for v in seen if v["status"] == "ROLLBACK_IN_PROGRESS"]
    took = done["finishedAt"].timestamp() - rolling_back[0]["rollback"]["startedAt"].timestamp()
    check(took >= 0.5 * 0.7, f"the rollback took {took:.2f} s")
    s = a.settle("apps", "blue")
    check(s["taskDefinition"].endswith("blue:1"), s["taskDefinition"])
    # a lifecycle hook that fails in POST_SCALE_UP
    hook = f"arn:aws:lambda:us-east-1:{a.id}:function:smoke-test"
    a.fault(kind="deployment_fails", service="line", stage="POST_SCALE_UP", by="hook", hook=hook)
    arn = strategy_service(a, "line", {"strategy": "LINEAR", "lifecycleHooks": [
        {"hookTargetArn": hook, "roleArn": f"arn:aws:iam::{a.id}:role/hooks", "lifecycleStages": ["POST_SCALE_UP"]}]})
    done, _ = watch(a, arn, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "SUCCESSFUL"))
    check(done["status"] == "ROLLBACK_SUCCESSFUL" and done["lifecycleStage"] == "POST_SCALE_UP", done)
    (detail,) = done["lifecycleHookDetails"]
    check(detail["targetArn"] == hook and detail["status"] == "FAILED" and detail["targetType"] == "AWS_LAMBDA" and detail["hookId"], detail)
    check(hook in done["statusReason"], done["statusReason"])
    # the breaker in CLEAN_UP of a ROLLING deployment, and the rollback fails too: left mixed
    a.fault(kind="deployment_fails", service="roll", stage="CLEAN_UP", by="breaker", reason="OutOfMemoryError: Container killed")
    a.fault(kind="rollback_fails", service="roll")
    arn = strategy_service(a, "roll", {"deploymentCircuitBreaker": {"enable": True, "rollback": True}}, count=3)
    done, seen = watch(a, arn, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "SUCCESSFUL"))
    statuses = list(dict.fromkeys(v["status"] for v in seen))
    check(done["status"] == "ROLLBACK_FAILED" and "ROLLBACK_IN_PROGRESS" in statuses, statuses)
    check(done["deploymentCircuitBreaker"]["status"] == "TRIGGERED" and done["lifecycleStage"] == "CLEAN_UP", done)
    time.sleep(0.3)
    s = a.service("apps", "roll")
    check(len(s["deployments"]) >= 2 and s["deployments"][0]["rolloutState"] == "FAILED", s["deployments"])
    check(not settled(s) and s["runningCount"] > 0, "left on what was running")
    stopped = a.ecs.describe_tasks(cluster="apps", tasks=a.ecs.list_tasks(cluster="apps", serviceName="roll", desiredStatus="STOPPED")["taskArns"])["tasks"]
    check("OutOfMemoryError: Container killed" in {t["stoppedReason"] for t in stopped}, {t["stoppedReason"] for t in stopped})
    check(a.control("GET", "/_dockhand/faults") == [], "faults used up")
    # alarms enabled without rollback: STOPPED, and the failed deployment stays PRIMARY with no more tasks
    a.fault(kind="deployment_fails", service="halt", stage="SCALE_UP", by="alarm", alarm="halt-errors")
    arn = strategy_service(a, "halt", {"alarms": {"alarmNames": ["halt-errors"], "enable": True, "rollback": False}}, count=1)
    done, _ = watch(a, arn, ("STOPPED", "ROLLBACK_SUCCESSFUL", "SUCCESSFUL"))
    check(done["status"] == "STOPPED" and done.get("stoppedAt") and "rollback" not in done, done)
    p = a.service("apps", "halt")["deployments"][0]
    check(p["status"] == "PRIMARY" and p["rolloutState"] == "FAILED" and p["taskDefinition"].endswith("halt:2"), p)
    for bad in ({"kind": "deployment_fails", "service": "x", "stage": "NOPE"}, {"kind": "deployment_fails", "service": "x", "by": "x"},
                {"kind": "rollback_fails"}):
        try:
            a.control("POST", "/_dockhand/faults", bad)
            raise AssertionError(f"{bad} was accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 400, e.code)
    return "alarm in BAKE_TIME, hook in POST_SCALE_UP -> ROLLBACK_SUCCESSFUL; breaker in CLEAN_UP + rollback_fails -> ROLLBACK_FAILED; no rollback -> STOPPED"


def stop_deployment() -> str:
    a = new_account(rollout=1.0)
    first = a.worker()
    a.settle("apps", "worker")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=a.new_revision("worker", "w:v42"))
    arn = records(a, "apps", "worker")[0]["serviceDeploymentArn"]
    wait(lambda: record(a, arn)["status"] == "IN_PROGRESS", 5, "IN_PROGRESS")
    check(a.ecs.stop_service_deployment(serviceDeploymentArn=arn)["serviceDeploymentArn"] == arn, "stopped")
    check(record(a, arn)["status"] == "ROLLBACK_REQUESTED", record(a, arn)["status"])
    a.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")  # accepted again: nothing changes
    done, seen = watch(a, arn, ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"))
    statuses = list(dict.fromkeys(v["status"] for v in seen))
    check(done["status"] == "ROLLBACK_SUCCESSFUL" and in_order(statuses, ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL")), statuses)
    check(done["rollback"]["reason"] == "Rolled back by a StopServiceDeployment request.", done["rollback"])
    s = a.service("apps", "worker")
    check(s["deployments"][0]["taskDefinition"] == first and s["deployments"][0]["status"] == "PRIMARY", s["deployments"])
    check(s["deployments"][0]["id"] not in [d["id"] for d in s["deployments"][1:]], "a new PRIMARY of the old revision")
    s = a.settle("apps", "worker")
    check(s["taskDefinition"] == first, s["taskDefinition"])
    code, message, _ = error_code(lambda: a.ecs.stop_service_deployment(serviceDeploymentArn=arn))
    check(code == "ConflictException" and "ROLLBACK_SUCCESSFUL" in message, (code, message))
    code, _, _ = error_code(lambda: a.ecs.stop_service_deployment(serviceDeploymentArn=arn.rsplit("/", 1)[0] + "/nope"))
    check(code == "ServiceDeploymentNotFoundException", code)
    code, _, _ = error_code(lambda: a.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ABORT"))
    check(code == "InvalidParameterException", code)
    check("StopServiceDeployment" in a.calls(), "in the call log")
    return f"{' -> '.join(statuses)}; a completed one: ConflictException"


def early_success() -> str:
    a = new_account(rollout=1.0)
    arn = strategy_service(a, "quick", {"earlySuccessCriteria": {"enable": True, "healthyPercent": 100,
                                                                 "sourceServiceRevisionCleanup": "DEFERRED"}}, count=2)
    done, _ = watch(a, arn, ("SUCCESSFUL",))
    s = a.service("apps", "quick")
    check(len(s["deployments"]) == 2 and s["deployments"][1]["runningCount"] == 2, "the old tasks still drain after SUCCESSFUL")
    check(done["deploymentConfiguration"]["earlySuccessCriteria"]["sourceServiceRevisionCleanup"] == "DEFERRED", done)
    a.settle("apps", "quick")
    return "SUCCESSFUL while deployments[] still shows the old tasks"


def capabilities() -> str:
    """IAM resources in the template must be acknowledged, on every update and
    change set, whether or not the update touches them (as AWS answers)."""
    a = new_account()
    a.app_stack()
    keep = [{"ParameterKey": k, "UsePreviousValue": True} for k in
            ("ServiceName", "ClusterName", "Image", "DesiredCount", "ContainerPort", "LogGroupName", "Cpu", "Memory")]
    ask = dict(StackName="hubot", UsePreviousTemplate=True, Parameters=params(Version="v2") + keep)
    code, message, status = error_code(lambda: a.cfn.update_stack(**ask))
    check((code, message, status) == ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]", 400),
          (code, message, status))
    code, _, _ = error_code(lambda: a.cfn.create_change_set(ChangeSetName="plan", **ask))
    check(code == "InsufficientCapabilitiesException", code)
    check(a.stack("hubot")["StackStatus"] == "CREATE_COMPLETE", "nothing started")
    # A named role needs CAPABILITY_NAMED_IAM; CAPABILITY_IAM is not enough.
    named = "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: fixed\n      AssumeRolePolicyDocument: {}\n"
    a.cfn.create_stack(StackName="named", TemplateBody=named, Capabilities=["CAPABILITY_NAMED_IAM"])
    code, message, _ = error_code(lambda: a.cfn.update_stack(
        StackName="named", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"]))
    check(message == "Requires capabilities : [CAPABILITY_NAMED_IAM]", message)
    a.cfn.update_stack(Capabilities=["CAPABILITY_IAM"], **ask)
    a.wait_stack("hubot", ("UPDATE_COMPLETE",))
    return "InsufficientCapabilitiesException without CAPABILITY_IAM / NAMED_IAM"


def named(events: list[dict], detail_type: str, name: str | None = None) -> list[dict]:
    return [e for e in events if e["detail-type"] == detail_type
            and (name is None or name in (e["detail"].get("eventName"), e["detail"].get("lastStatus")))]


def pause_hooks() -> str:
    """A PAUSE hook holds its stage AWAITING_ACTION (expiresAt, timeoutAction) and
    says so on EventBridge (`ECS Hook State Change`, HOOK_AWAITING_ACTION);
    ContinueServiceDeployment CONTINUE lets it go on, ROLLBACK rolls it back; the
    timeout takes its action; a PAUSE at a traffic shift is refused."""
    a = new_account(rollout=0.5)
    url = a.events_queue("hooks", {"source": ["aws.ecs"], "detail-type": ["ECS Hook State Change"]})
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"], "timeoutConfiguration": {"timeoutInMinutes": 600}}
    arn = strategy_service(a, "green", {"strategy": "BLUE_GREEN", "lifecycleHooks": [pause]})
    (event,) = a.drain(url, lambda es: bool(es))
    d = event["detail"]
    check(d["eventName"] == "HOOK_AWAITING_ACTION" and d["serviceDeploymentArn"] == arn and d["lifecycleStage"] == "POST_SCALE_UP"
          and d["timeoutAction"] == "ROLLBACK" and event["resources"] == [a.service("apps", "green")["serviceArn"]], event)
    rec = record(a, arn)
    (hook,) = rec["lifecycleHookDetails"]
    check(rec["status"] == "IN_PROGRESS" and rec["lifecycleStage"] == "POST_SCALE_UP" and hook["status"] == "AWAITING_ACTION"
          and hook["hookId"] == d["hookId"] and hook["timeoutAction"] == "ROLLBACK" and hook["expiresAt"], rec)
    time.sleep(0.3)  # paused: nothing moves (a stage without a hook takes 0.05 s)
    check(record(a, arn)["lifecycleStage"] == "POST_SCALE_UP", "still paused")
    code, _, _ = error_code(lambda: a.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId="ecs-hook-0", action="CONTINUE"))
    check(code == "InvalidParameterException", code)
    a.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    code, _, _ = error_code(lambda: a.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"]))
    # refused: the hook was acted on (or its stage is over and the next has none)
    check(code in ("ConflictException", "InvalidParameterException"), f"acted on already: {code}")
    done, _ = watch(a, arn, ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL"))
    check(done["status"] == "SUCCESSFUL", done["status"])
    a.settle("apps", "green")

    # ROLLBACK from the hook: the same record rolls back to v2
    a.ecs.update_service(cluster="apps", service="green", taskDefinition=a.new_revision("green", "public.ecr.aws/example/green:v3"))
    arn = records(a, "apps", "green")[0]["serviceDeploymentArn"]
    (event,) = a.drain(url, lambda es: bool(es))
    a.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=event["detail"]["hookId"], action="ROLLBACK")
    done, _ = watch(a, arn, ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"))
    check(done["status"] == "ROLLBACK_SUCCESSFUL" and "ContinueServiceDeployment" in done["statusReason"]
          and done["lifecycleHookDetails"][0]["status"] == "FAILED", done)
    check(a.settle("apps", "green")["taskDefinition"].endswith("green:2"), "back on v2")

    # the timeout's action: 2 minutes (0.1 s here), CONTINUE
    quick = {**pause, "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "CONTINUE"}}
    a.ecs.update_service(cluster="apps", service="green", deploymentConfiguration={"strategy": "BLUE_GREEN", "lifecycleHooks": [quick]},
                         taskDefinition=a.new_revision("green", "public.ecr.aws/example/green:v4"))
    arn = records(a, "apps", "green")[0]["serviceDeploymentArn"]
    (event,) = a.drain(url, lambda es: bool(es))
    check(event["detail"]["timeoutAction"] == "CONTINUE", event["detail"])
    done, _ = watch(a, arn, ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL"))
    check(done["status"] == "SUCCESSFUL", "paused, nobody acted, the timeout continued it")

    code, message, _ = error_code(lambda: a.ecs.update_service(cluster="apps", service="green", deploymentConfiguration={
        "strategy": "BLUE_GREEN", "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}]}))
    check(code == "InvalidParameterException" and "PRODUCTION_TRAFFIC_SHIFT" in message, (code, message))
    return "AWAITING_ACTION + event; CONTINUE -> SUCCESSFUL, ROLLBACK -> ROLLBACK_SUCCESSFUL, timeout CONTINUE; traffic-shift PAUSE refused"


def ecs_events() -> str:
    """A rollout puts ECS's events on EventBridge, in AWS's envelope, through a rule
    to an SQS queue: the deployment's IN_PROGRESS and COMPLETED (its ecs-svc/ id),
    every task's state changes, steady state; a failing one FAILED (ERROR), the
    tasks' exit code, SERVICE_TASK_START_IMPAIRED, and the rollback's IN_PROGRESS."""
    a = new_account()
    url = a.events_queue("ecs", {"source": ["aws.ecs"]})
    a.worker(count=2)
    a.settle("apps", "worker")
    a.drain(url)  # the create's
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=a.new_revision("worker", "example/worker:v42"))
    dep = a.service("apps", "worker")["deployments"][0]["id"]
    seen = a.drain(url, lambda es: bool(named(es, "ECS Service Action", "SERVICE_STEADY_STATE")))
    e = named(seen, "ECS Deployment State Change", "SERVICE_DEPLOYMENT_IN_PROGRESS")[0]
    svc_arn = a.service("apps", "worker")["serviceArn"]
    check(set(e) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}, sorted(e))
    check((e["version"], e["source"], e["account"], e["region"], e["resources"]) == ("0", "aws.ecs", a.id, "us-east-1", [svc_arn]), e)
    check(len(e["time"]) == 20 and e["time"].endswith("Z"), e["time"])
    check(e["detail"]["deploymentId"] == dep and e["detail"]["eventType"] == "INFO"
          and e["detail"]["reason"] == f"ECS deployment {dep} in progress.", e["detail"])
    done = named(seen, "ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED")
    check([d["detail"]["deploymentId"] for d in done] == [dep], done)
    stopped = named(seen, "ECS Task State Change", "STOPPED")
    check(len(stopped) == 2 and all(t["detail"]["stopCode"] == "ServiceSchedulerInitiated"
                                    and t["detail"]["containers"][0]["exitCode"] == 0
                                    and t["detail"]["group"] == "service:worker"
                                    and t["resources"] == [t["detail"]["taskArn"]] for t in stopped), stopped)
    check(len(named(seen, "ECS Task State Change", "RUNNING")) == 2, "two new tasks ran")
    steady = named(seen, "ECS Service Action", "SERVICE_STEADY_STATE")
    check(len(steady) == 1 and steady[0]["detail"]["clusterArn"].endswith(":cluster/apps"), steady)
    check(seen.index(steady[0]) > seen.index(done[0]), "steady state after the deployment completed")

    a.fault(kind="rollout_fails", service="worker", reason="Essential container in task exited")
    a.ecs.update_service(cluster="apps", service="worker", taskDefinition=a.new_revision("worker", "example/worker:v43"))
    failing = a.service("apps", "worker")["deployments"][0]["id"]
    seen = a.drain(url, lambda es: any(e["detail"].get("eventName") == "SERVICE_DEPLOYMENT_IN_PROGRESS"
                                       and e["detail"]["deploymentId"] != failing for e in es))
    failed = named(seen, "ECS Deployment State Change", "SERVICE_DEPLOYMENT_FAILED")
    check(len(failed) == 1 and failed[0]["detail"]["deploymentId"] == failing
          and failed[0]["detail"]["eventType"] == "ERROR" and "circuit breaker" in failed[0]["detail"]["reason"], failed)
    crashed = [t for t in named(seen, "ECS Task State Change", "STOPPED") if t["detail"]["stopCode"] == "EssentialContainerExited"]
    check(crashed and all(t["detail"]["containers"][0]["exitCode"] == 1 for t in crashed), crashed)
    impaired = named(seen, "ECS Service Action", "SERVICE_TASK_START_IMPAIRED")
    check(len(impaired) == 1 and impaired[0]["detail"]["eventType"] == "WARN", impaired)
    return f"{len(seen)} events of a failing deploy; FAILED, exit code 1, start impaired, rollback IN_PROGRESS"


def stack_and_alarm_events() -> str:
    """Every status a stack enters is a `CloudFormation Stack Status Change`; an
    alarm whose state SetAlarmState changes is a `CloudWatch Alarm State Change`
    (and one set to the state it is in is not)."""
    a = new_account()
    url = a.events_queue("stacks", {"source": ["aws.cloudformation", "aws.cloudwatch"]})
    a.app_stack()
    a.fault(kind="stack_update_fails", stack="hubot", resource="Service")
    a.update("hubot", token="t-1", Version="v2")
    a.wait_stack("hubot", ("UPDATE_ROLLBACK_COMPLETE",))
    seen = a.drain(url, lambda es: any(e["detail"]["status-details"]["status"] == "UPDATE_ROLLBACK_COMPLETE" for e in es))
    statuses = [e["detail"]["status-details"]["status"] for e in seen]
    check(statuses == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
                       "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"], statuses)
    stack_id = a.stack("hubot")["StackId"]
    check(all(e["resources"] == [stack_id] and e["detail"]["stack-id"] == stack_id for e in seen), seen[0])
    check(seen[2]["detail"]["client-request-token"] == "t-1" and seen[3]["detail"]["status-details"]["status-reason"], seen[3])

    a.cloudwatch.put_metric_alarm(AlarmName="hubot-5xx", MetricName="5xx", Namespace="AWS/ApplicationELB", Statistic="Sum",
                                  Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    for value in ("ALARM", "ALARM", "OK"):
        a.cloudwatch.set_alarm_state(AlarmName="hubot-5xx", StateValue=value, StateReason=f"to {value}")
    alarms = a.drain(url)
    check([(e["detail"]["state"]["value"], e["detail"]["previousState"]["value"]) for e in alarms]
          == [("ALARM", "OK"), ("OK", "ALARM")], alarms)
    check(alarms[0]["detail"]["alarmName"] == "hubot-5xx" and alarms[0]["detail"]["state"]["reason"] == "to ALARM"
          and alarms[0]["resources"][0].endswith(":alarm:hubot-5xx"), alarms[0])
    return "create, failed update, rollback: 6 statuses in order; ALARM then OK, the repeat not sent"


def event_rules() -> str:
    """Rules as AWS runs them: a disabled rule and a schedule's receive nothing,
    patterns with $or, prefix and suffix match, PutEvents may not send `aws.`
    sources (NotAuthorizedForSourceException) and delivers the others."""
    a = new_account()
    matching = a.events_queue("matching", {"source": ["aws.ecs", "custom.ci"], "$or": [
        {"detail-type": ["ECS Service Action"], "detail": {"clusterArn": [{"suffix": ":cluster/apps"}]}},
        {"detail-type": ["Build"], "resources": [{"prefix": "arn:aws:codebuild:"}]}]})
    disabled = a.events_queue("disabled", {"source": ["aws.ecs", "custom.ci"]}, state="DISABLED")
    a.sqs.create_queue(QueueName="scheduled")
    a.events_api.put_rule(Name="scheduled", ScheduleExpression="rate(1 minute)")
    sched_arn = a.sqs.get_queue_attributes(QueueUrl=a.sqs.get_queue_url(QueueName="scheduled")["QueueUrl"],
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    a.events_api.put_targets(Rule="scheduled", Targets=[{"Id": "q", "Arn": sched_arn}])
    out = a.events_api.put_events(Entries=[
        {"Source": "aws.ecs", "DetailType": "ECS Service Action", "Detail": "{}"},
        {"Source": "custom.ci", "DetailType": "Build", "Detail": '{"n": 1}', "Resources": ["arn:aws:codebuild:x"]},
        {"Source": "custom.ci", "DetailType": "Build", "Detail": '{"n": 2}', "Resources": ["arn:aws:s3:::b"]},
    ])
    check(out["FailedEntryCount"] == 1 and out["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"
          and "EventId" in out["Entries"][1], out["Entries"])
    a.worker(count=1)
    a.settle("apps", "worker")
    got = a.drain(matching, lambda es: bool(named(es, "ECS Service Action")))
    check([e["detail"].get("n") for e in got if e["source"] == "custom.ci"] == [1], got)
    check(all("ingestion-time" not in e for e in got), got)
    a.ecs.create_cluster(clusterName="other")
    check(a.drain(disabled) == [], "a disabled rule delivers nothing")
    check(a.drain(a.sqs.get_queue_url(QueueName="scheduled")["QueueUrl"]) == [], "a schedule's rule receives no events")
    return "disabled and scheduled rules silent, $or/prefix/suffix, aws.* refused to PutEvents"


def long_poll() -> str:
    """A ReceiveMessage that waits does not hold the emulator: other requests are
    answered meanwhile, and it returns as soon as a message arrives."""
    import threading
    a = new_account()
    url = a.sqs.create_queue(QueueName="waits")["QueueUrl"]
    got: list[Any] = []
    poller = threading.Thread(target=lambda: got.append(
        a.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])))
    poller.start()
    time.sleep(0.2)  # the receive is in its wait (it polls every 50 ms)
    a.ecs.list_clusters()  # answered while the receive waits
    check(poller.is_alive(), "the receive returned before a message was sent")
    a.sqs.send_message(QueueUrl=url, MessageBody="hello")
    poller.join(timeout=10)
    check(not poller.is_alive() and got and got[0][0]["Body"] == "hello", got)
    empty = time.time()
    a.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    check(time.time() - empty >= 0.9, "an empty queue waits WaitTimeSeconds")
    return "other calls answered during a 20 s wait; the message ends it"


# --- CloudWatch Logs (logs.py) -----------------------------------------------------------

def ms(value: Any) -> int:
    """A datetime boto3 parsed, in epoch milliseconds (exactly, no float rounding)."""
    return calendar.timegm(value.utctimetuple()) * 1000 + value.microsecond // 1000


def logged_revision(a: Account, name: str, group: str, image: str, **options: str) -> str:
    """A task definition whose container writes with awslogs to `group`."""
    return a.ecs.register_task_definition(family=name, containerDefinitions=[{
        "name": name, "image": image, "memory": 256, "essential": True,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": name, **options}}}],
    )["taskDefinition"]["taskDefinitionArn"]


def logged_service(a: Account, name: str, group: str, image: str, **options: str) -> str:
    """A service of 2 tasks whose container writes with awslogs to `group`."""
    td = logged_revision(a, name, group, image, **options)
    a.ecs.create_service(cluster="apps", serviceName=name, taskDefinition=td, desiredCount=2,
                         deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    return td


def stream_events(a: Account, group: str, task: dict) -> list[dict]:
    name = task["group"].removeprefix("service:")
    stream = f"{name}/{name}/{task['taskArn'].rsplit('/', 1)[1]}"
    return a.logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]


def tasks_of(a: Account, name: str, status: str = "RUNNING") -> list[dict]:
    arns = a.ecs.list_tasks(cluster="apps", serviceName=name, desiredStatus=status)["taskArns"]
    return a.ecs.describe_tasks(cluster="apps", tasks=arns)["tasks"] if arns else []


def task_logs() -> str:
    """A service's tasks write with awslogs as on AWS: stream PREFIX/CONTAINER/TASK-ID,
    start lines at startedAt, a clean shutdown when the scheduler stops them, the error
    (OOM: exit code 137) when they fail; a missing group is created only when asked."""
    a = new_account()
    a.ecs.create_cluster(clusterName="apps")
    a.logs.create_log_group(logGroupName="/apps")
    logged_service(a, "web", "/apps", "public.ecr.aws/example/web:v1")
    logged_service(a, "made", "/made", "example/made:v1", **{"awslogs-create-group": "true"})
    logged_service(a, "lost", "/lost", "example/lost:v1")
    for name in ("web", "made", "lost"):
        a.settle("apps", name)
    running = tasks_of(a, "web")
    check(len(running) == 2, running)
    for task in running:
        got = stream_events(a, "/apps", task)
        check([e["message"] for e in got] == ["Starting public.ecr.aws/example/web:v1", "Listening on port 8080", "Ready"], got)
        check({e["timestamp"] for e in got} == {ms(task["startedAt"])}, (got, task["startedAt"]))
    streams = [s["logStreamName"] for s in a.logs.describe_log_streams(logGroupName="/apps")["logStreams"]]
    check(sorted(streams) == sorted(f"web/web/{t['taskArn'].rsplit('/', 1)[1]}" for t in running), streams)
    check(len(stream_events(a, "/made", tasks_of(a, "made")[0])) == 3, "awslogs-create-group made the group")
    groups = [g["logGroupName"] for g in a.logs.describe_log_groups()["logGroups"]]
    check(groups == ["/apps", "/made"], groups)  # /lost: nothing written (AWS would fail the task)

    # a new revision: the scheduler stops the old tasks (exit 0)
    a.ecs.update_service(cluster="apps", service="web", taskDefinition=a.new_revision("web", "public.ecr.aws/example/web:v2"))
    a.settle("apps", "web")
    for task in running:
        (done,) = [t for t in tasks_of(a, "web", "STOPPED") if t["taskArn"] == task["taskArn"]]
        last = stream_events(a, "/apps", task)[-1]
        check(last["message"] == "Received SIGTERM, shutting down" and last["timestamp"] == ms(done["stoppedAt"]), (last, done["stoppedAt"]))

    # failing deploys: the error before stoppedAt; an OOM kill exits 137
    for reason, line, code in (("Essential container in task exited", "Error: Essential container in task exited", 1),
                               ("OutOfMemoryError: Container killed due to memory usage", "java.lang.OutOfMemoryError: Java heap space", 137)):
        before = {t["taskArn"] for t in tasks_of(a, "made", "STOPPED")}
        a.fault(kind="rollout_fails", service="made", reason=reason)
        bad = logged_revision(a, "made", "/made", f"example/made:{code}")
        a.ecs.update_service(cluster="apps", service="made", taskDefinition=bad)
        wait(lambda: any(d["rolloutState"] == "FAILED" for d in a.service("apps", "made")["deployments"]), 10, "the breaker")
        failed = [t for t in tasks_of(a, "made", "STOPPED") if t["taskArn"] not in before and t["taskDefinitionArn"] == bad]
        check(failed and all(t["containers"][0]["exitCode"] == code and t["stopCode"] == "EssentialContainerExited" for t in failed), failed)
        for task in failed:
            got = stream_events(a, "/made", task)
            check([e["message"] for e in got] == [f"Starting example/made:{code}", line], got)
            check(all(e["timestamp"] <= ms(task["stoppedAt"]) for e in got), (got, task["stoppedAt"]))
        a.settle("apps", "made")
    return f"{len(streams)} streams PREFIX/CONTAINER/TASK; start, SIGTERM, error and OOM (137) lines at the task's times"


def log_queries() -> str:
    """FilterLogEvents as AWS answers it: streams interleaved by timestamp, 10,000 events
    or 1 MB a page with nextToken, stream names and prefix, the time range, filter
    patterns (terms, phrases, ?OR, -exclusion, invalid ones refused); a missing group,
    an injected AccessDenied, and GetLogEvents."""
    a = new_account()
    logs = a.logs
    logs.create_log_group(logGroupName="/q")
    for stream in ("app/a", "app/b", "other", "big"):
        logs.create_log_stream(logGroupName="/q", logStreamName=stream)
    base = int(time.time() * 1000) - 3_600_000
    put = lambda stream, events: [  # noqa: E731 - batches of 5,000, under PutLogEvents' 10,000 and 1 MB
        logs.put_log_events(logGroupName="/q", logStreamName=stream, logEvents=events[i:i + 5000]) for i in range(0, len(events), 5000)]
    put("app/a", [{"timestamp": base + 2 * i, "message": f"GET /items/{i} 200"} for i in range(6000)])
    put("app/b", [{"timestamp": base + 2 * i + 1, "message": f"POST /orders/{i} 201"} for i in range(4100)])

    page = logs.filter_log_events(logGroupName="/q", logStreamNamePrefix="app/")
    check(len(page["events"]) == 10_000 and page.get("nextToken") and page["searchedLogStreams"] == [], len(page["events"]))
    rest = logs.filter_log_events(logGroupName="/q", logStreamNamePrefix="app/", nextToken=page["nextToken"])
    check(len(rest["events"]) == 100 and "nextToken" not in rest, (len(rest["events"]), rest.get("nextToken")))
    everything = page["events"] + rest["events"]
    stamps = [e["timestamp"] for e in everything]
    check(stamps == sorted(stamps) and stamps[:3] == [base, base + 1, base + 2], stamps[:3])
    check([e["logStreamName"] for e in everything[:4]] == ["app/a", "app/b", "app/a", "app/b"], everything[:4])
    paged, token, pages = [], None, 0
    while True:
        got = logs.filter_log_events(logGroupName="/q", logStreamNames=["app/a", "app/b"], limit=2500, **({"nextToken": token} if token else {}))
        paged += got["events"]
        pages += 1
        token = got.get("nextToken")
        if not token:
            break
    check(pages == 5 and [e["eventId"] for e in paged] == [e["eventId"] for e in everything], (pages, len(paged)))
    window = logs.filter_log_events(logGroupName="/q", logStreamNames=["app/a"], startTime=base + 10, endTime=base + 20)["events"]
    check([e["timestamp"] for e in window] == list(range(base + 10, base + 21, 2)), window)  # both ends included
    put("big", [{"timestamp": base + i, "message": "x" * 1000} for i in range(1100)])
    big = logs.filter_log_events(logGroupName="/q", logStreamNames=["big"])
    check(len(big["events"]) == 1_048_576 // 1026 and big.get("nextToken"), len(big["events"]))  # 1 MB a page

    messages = ["ERROR 400 BAD REQUEST", "ERROR 419 MISSING ARGUMENTS", "INFO all good", "WARN slow request",
                "error in lower case", "INTERNAL SERVER ERROR"]
    put("other", [{"timestamp": base + 1000 * i, "message": m} for i, m in enumerate(messages)])
    def matching(pattern: str) -> list[int]:
        found = logs.filter_log_events(logGroupName="/q", logStreamNames=["other"], filterPattern=pattern)["events"]
        return [messages.index(e["message"]) for e in found]
    for pattern, want in (("ERROR", [0, 1, 5]), ("error", [4]), ("ERROR ARGUMENTS", [1]), ('"SERVER ERROR"', [5]),
                          ('"ERROR SERVER"', []), ("?WARN ?ARGUMENTS", [1, 3]), ("ERROR -ARGUMENTS", [0, 5]),
                          ("-ERROR", [2, 3, 4]), ('?"slow request" ?INFO', [2, 3]), ('" "', [0, 1, 2, 3, 4, 5]),
                          ("", [0, 1, 2, 3, 4, 5]), ("%ERROR 4[0-9]+%", [0, 1])):
        check(matching(pattern) == want, (pattern, matching(pattern), want))
    for bad in ('"unclosed', "user@example.com", "?", "{ $.level = "):
        code, message, status = error_code(lambda: matching(bad))
        check(code == "InvalidParameterException" and status == 400, (bad, code, message))
    check(error_code(lambda: matching("user@example.com"))[1] == "Invalid filter pattern", "AWS's words")
    check(error_code(lambda: logs.filter_log_events(logGroupName="/q", logStreamNames=["other"], logStreamNamePrefix="o"))[0]
          == "InvalidParameterException", "names and a prefix")
    check(error_code(lambda: logs.filter_log_events(logGroupName="/nope"))
          == ("ResourceNotFoundException", "The specified log group does not exist.", 400), "missing group")
    denied = (f"User: arn:aws:sts::{a.id}:assumed-role/dockhand/bot is not authorized to perform: logs:FilterLogEvents "
              f"on resource: arn:aws:logs:us-east-1:{a.id}:log-group:/q:log-stream: because no identity-based policy "
              "allows the logs:FilterLogEvents action")
    a.fault(kind="error", service="logs", operation="FilterLogEvents", code="AccessDeniedException", message=denied)
    check(error_code(lambda: matching("ERROR")) == ("AccessDeniedException", denied, 400), "the injected error")
    check(matching("ERROR") == [0, 1, 5], "answers again")
    check(("logs", "FilterLogEvents") in [(c["service"], c["operation"]) for c in a.control("GET", "/_dockhand/calls")], "in the call log")

    got = logs.get_log_events(logGroupName="/q", logStreamName="other", startFromHead=True, endTime=base + 3000)
    check([e["message"] for e in got["events"]] == messages[:3], got["events"])  # endTime excluded, as AWS documents
    check(error_code(lambda: logs.get_log_events(logGroupName="/q", logStreamName="nope"))[:2]
          == ("ResourceNotFoundException", "The specified log stream does not exist."), "missing stream")
    return "10,100 events in 10,000 + 100 (and 5 x 2,500), 1 MB pages, 12 patterns, 4 refused"


def tail(stream: Any) -> tuple[dict, list[dict], str | None]:
    """A live tail read to its end: sessionStart, the updates, the code of the exception
    that ended it (None if the stream just ended)."""
    start, updates = None, []
    try:
        for event in stream:
            if "sessionStart" in event:
                check(start is None and not updates, "one sessionStart, first")
                start = event["sessionStart"]
            else:
                updates.append(event["sessionUpdate"])
    except ClientError as e:  # botocore's EventStreamError: an exception event
        return start, updates, e.response["Error"]["Code"]
    return start, updates, None


def emulator_threads() -> set[str]:
    return set(os.listdir(f"/proc/{PROC.pid}/task"))  # Linux


def live_tail() -> str:
    """StartLiveTail as AWS streams it: what arrives after the session starts (not
    before), once a second, in timestamp order across streams, filtered by pattern and
    stream prefix, sampled to 500 an update; bad arguments and a missing group refused
    as AWS refuses them; the session ends with SessionTimeoutException after
    live_tail_seconds, or when the client goes away; other requests go on meanwhile."""
    a = new_account()
    logs = a.logs
    check(a.control("GET", "/_dockhand/config")["live_tail_seconds"] == 3 * 3600, "3 hours, as on AWS")
    a.control("POST", "/_dockhand/config", {"live_tail_seconds": 1.5})
    for group in ("/lt", "/lt-busy"):
        logs.create_log_group(logGroupName=group)
    for stream in ("app/a", "app/b", "other"):
        logs.create_log_stream(logGroupName="/lt", logStreamName=stream)
    logs.create_log_stream(logGroupName="/lt-busy", logStreamName="busy")
    arn, busy = (logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]["logGroupArn"] for g in ("/lt", "/lt-busy"))
    base = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/lt", logStreamName="app/a", logEvents=[{"timestamp": base, "message": "ERROR before"}])

    started = time.time()
    everything = logs.start_live_tail(logGroupIdentifiers=[arn, busy])["responseStream"]
    errors = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR")["responseStream"]
    apps = logs.start_live_tail(logGroupIdentifiers=[arn], logStreamNamePrefixes=["app/"])["responseStream"]
    check(time.time() - started < 0.5, "each answers at once")
    put = lambda stream, *events: logs.put_log_events(  # noqa: E731
        logGroupName="/lt", logStreamName=stream, logEvents=[{"timestamp": base + t, "message": m} for t, m in events])
    put("app/a", (10, "INFO one"), (40, "ERROR four"))
    put("app/b", (20, "ERROR two"))
    put("other", (30, "ERROR three"))
    logs.put_log_events(logGroupName="/lt-busy", logStreamName="busy",
                        logEvents=[{"timestamp": base + 100 + i, "message": f"busy {i}"} for i in range(600)])
    check(time.time() - started < 0.9, "the puts went on while the sessions were open")

    start, updates, end = tail(everything)
    elapsed = time.time() - started
    check(start["logGroupIdentifiers"] == [arn, busy] and start["sessionId"] and start["requestId"]
          and "logStreamNames" not in start, start)
    check(end == "SessionTimeoutException" and 1.4 < elapsed < 2.5, (end, elapsed))
    check(len(updates) == 2 and updates[1] == {"sessionMetadata": {"sampled": False}, "sessionResults": []}, updates)
    first = updates[0]["sessionResults"]
    check(updates[0]["sessionMetadata"]["sampled"] is True and len(first) == 500, len(first))  # 604 matched
    check([(r["logStreamName"], r["message"]) for r in first[:4]]
          == [("app/a", "INFO one"), ("app/b", "ERROR two"), ("other", "ERROR three"), ("app/a", "ERROR four")], first[:4])
    check([r["timestamp"] for r in first] == sorted(r["timestamp"] for r in first), "in timestamp order")
    check(all(r["logGroupIdentifier"] == (busy if r["logStreamName"] == "busy" else arn) and r["ingestionTime"] >= base
              for r in first), first[:5])

    def results(stream: Any) -> list[tuple[str, str]]:
        start, updates, end = tail(stream)
        check(end == "SessionTimeoutException", end)
        return [(r["logStreamName"], r["message"]) for u in updates for r in u["sessionResults"]]
    check(results(errors) == [("app/b", "ERROR two"), ("other", "ERROR three"), ("app/a", "ERROR four")], "pattern")
    check(results(apps) == [("app/a", "INFO one"), ("app/b", "ERROR two"), ("app/a", "ERROR four")], "prefix")

    for bad, words in (({"logStreamNames": ["app/a"], "logStreamNamePrefixes": ["app/"]}, "can not both"),
                       ({"logGroupIdentifiers": [arn, busy], "logStreamNames": ["app/a"]}, "single log group"),
                       ({"logGroupIdentifiers": ["/lt"]}, "by its ARN"),
                       ({"logGroupIdentifiers": [arn + ":*"]}, "regular expression pattern"),
                       ({"logGroupIdentifiers": [arn] * 11}, "less than or equal to 10"),
                       ({"logEventFilterPattern": '"unclosed'}, "Invalid filter pattern")):
        code, message, status = error_code(lambda: logs.start_live_tail(**{"logGroupIdentifiers": [arn], **bad}))
        check((code, status) == ("InvalidParameterException", 400) and words in message, (bad, code, message))
    check(error_code(lambda: logs.start_live_tail(logGroupIdentifiers=[arn.replace("/lt", "/nope")]))
          == ("ResourceNotFoundException", "The specified log group does not exist.", 400), "missing group")
    a.fault(kind="error", service="logs", operation="StartLiveTail", code="AccessDeniedException", message="denied")
    check(error_code(lambda: logs.start_live_tail(logGroupIdentifiers=[arn]))[0] == "AccessDeniedException", "fault")
    check(a.calls().count("StartLiveTail") == 11, a.calls())  # each once, refused ones and the fault's included

    a.control("POST", "/_dockhand/config", {"live_tail_seconds": 60})
    before = emulator_threads()
    stream = logs.start_live_tail(logGroupIdentifiers=[arn])["responseStream"]
    check("sessionStart" in next(iter(stream)), "started")
    session = emulator_threads() - before
    check(len(session) == 1, "one thread serves the session")
    stream.close()  # the client goes away: its session ends, no thread left behind
    wait(lambda: not emulator_threads() & session, 3, "the session's thread to end")
    return f"3 sessions, 604 events sampled to 500, 2 filters, 7 refusals, timeout in {elapsed:.1f} s, disconnect"


def stop_task() -> str:
    """StopTask on a service's task: STOPPED with stopCode UserInitiated and the
    reason given, and the scheduler starts a replacement, as on ECS."""
    a = new_account()
    a.worker()
    a.settle("apps", "worker")
    running = tasks_of(a, "worker")
    victim = running[0]["taskArn"]
    out = a.ecs.stop_task(cluster="apps", task=victim, reason="replaced by hand")["task"]
    check(out["taskArn"] == victim and out["desiredStatus"] == "STOPPED", out)
    got = a.ecs.describe_tasks(cluster="apps", tasks=[victim])["tasks"][0]
    check(got["stopCode"] == "UserInitiated" and got["stoppedReason"] == "replaced by hand", got)
    after = wait(lambda: len(x := tasks_of(a, "worker")) == len(running) and
                 all(t["lastStatus"] == "RUNNING" for t in x) and x, 10, "a replacement task")
    arns = {t["taskArn"] for t in after}
    check(victim not in arns and len(arns - {t["taskArn"] for t in running}) == 1, (arns, victim))
    return f"{len(running)} tasks, one stopped and replaced"


CHECKS = [demo_scenario, service_rollout, rollout_fails, rollout_stalls, stack_update_fails, stack_rollout_fails,
          service_does_not_wait, stack_rollback_fails, stack_event_pages,
          cancel_update, change_sets, parameters, task_definitions, error_faults, calls_log, isolation, zero_rollout,
          control_api, service_deployments, breaker_record, strategies, stage_failures, stop_deployment, early_success,
          capabilities, pause_hooks, ecs_events, stack_and_alarm_events, event_rules, long_poll, task_logs, log_queries,
          live_tail, stop_task]


def main() -> int:
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else ""
    started = time.time()
    proc = start_emulator()
    print(f"emulator ready at {URL} in {time.time() - started:.1f} s")
    passed = failed = 0
    try:
        for fn in CHECKS:
            if only and only not in fn.__name__:
                continue
            t = time.time()
            try:
                note = fn()
                passed += 1
                print(f"ok    {fn.__name__:<20} {time.time() - t:5.1f} s  {note}")
            except Exception as e:  # noqa: BLE001 - every failure is reported, the rest still run
                failed += 1
                print(f"FAIL  {fn.__name__:<20} {time.time() - t:5.1f} s  {e}")
                if os.environ.get("SELFTEST_TRACE"):
                    traceback.print_exc()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"took {time.time() - started:.1f} s")
    print(f"selftest: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
