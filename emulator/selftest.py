#!/usr/bin/env python3
"""The emulator's self-test: starts an emulator and drives every feature with boto3.

    emulator/.venv/bin/python emulator/selftest.py [-k NAME]

Each check runs in its own random account (the demo in the default one), so the
checks also show that accounts are isolated. Prints one line per check and a
closing `N passed, N failed`; exits non-zero on a failure.
"""

from __future__ import annotations

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


def start_emulator() -> subprocess.Popen:
    global URL
    proc = subprocess.Popen(
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
        if account_id:
            for client in (self.ecs, self.cfn):
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


CHECKS = [demo_scenario, service_rollout, rollout_fails, rollout_stalls, stack_update_fails, stack_rollout_fails,
          service_does_not_wait,
          cancel_update, change_sets, parameters, task_definitions, error_faults, calls_log, isolation, zero_rollout,
          control_api]


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
