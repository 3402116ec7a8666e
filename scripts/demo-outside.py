#!/usr/bin/env python3
"""Deploys the demo's `worker` the way a CI pipeline would: straight through the ECS
API (a new revision, then UpdateService), not through dockhand. The shell of
`make demo` reports it from the EventBridge events, as it would on AWS.

Usage: demo-outside.py [EMULATOR_URL]   (default: the URL `make demo` wrote)
"""
import pathlib
import sys

import boto3

root = pathlib.Path(__file__).resolve().parent.parent
url_file = root / "target" / "demo-emulator-url"
if len(sys.argv) > 1:
    url = sys.argv[1]
elif url_file.exists():
    url = url_file.read_text().strip()
else:
    sys.exit("demo-outside: no demo is running (start `make demo` in another terminal first)")

session = boto3.session.Session(aws_access_key_id="ci", aws_secret_access_key="ci", region_name="us-east-1")
ecs = session.client("ecs", endpoint_url=url)
services = [s for c in ecs.list_clusters()["clusterArns"]
            for s in ecs.describe_services(cluster=c, services=["worker"])["services"] if s["status"] == "ACTIVE"]
if not services:
    sys.exit("demo-outside: the demo's worker service is not there; is `make demo` running?")
svc = services[0]
current = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
image = current["containerDefinitions"][0]["image"]
repo, _, tag = image.rpartition(":")
number = int(tag.lstrip("v")) + 1 if tag.lstrip("v").isdigit() else 100
new_image = f"{repo}:v{number}"
containers = [dict(current["containerDefinitions"][0], image=new_image)]
arn = ecs.register_task_definition(family=current["family"], containerDefinitions=containers)["taskDefinition"]["taskDefinitionArn"]
ecs.update_service(cluster=svc["clusterArn"], service="worker", taskDefinition=arn)
print(f"demo-outside: worker -> {new_image} by UpdateService, outside dockhand; watch the demo's shell")
