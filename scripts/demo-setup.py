#!/usr/bin/env python3
"""What `make demo` needs beside its stacks, which `dockhand stack up` creates.

  demo-setup.py config EMULATOR_URL CONFIG_OUT CLUSTER
      before the stacks: the notifications queue and the demo's config, which
      `stack up` and the shell then read (DOCKHAND_CONFIG).
  demo-setup.py worker EMULATOR_URL CLUSTER_STACK
      after the stacks: a service-managed app `worker`, straight through the ECS API
      (it has no stack), in the cluster stack's cluster; waits until hubot and worker
      run, slows the emulator's rollouts to 8 s (as a small service on ECS would take
      minutes), and routes AWS's events to the queue with an EventBridge rule.
"""
import json
import pathlib
import sys
import time
import urllib.request

import boto3

root = pathlib.Path(__file__).resolve().parent.parent
phase, url = sys.argv[1], sys.argv[2]
session = boto3.session.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")


def config(config_out, cluster):
    # The queue of notifications the shell long-polls; `worker` below routes events to it.
    sqs = session.client("sqs", endpoint_url=url)
    dead = sqs.create_queue(QueueName="dockhand-events-dlq")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(QueueName="dockhand-events", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})})["QueueUrl"]

    pathlib.Path(config_out).write_text(f"""# Written by scripts/demo-setup.py for `make demo`.
commands_dir = "{root / 'commands'}"

[aws]
region = "us-east-1"
max_attempts = 2

[watch]
poll_seconds = 1
timeout_minutes = 5

[environments.prod]
protected = true

[environments.staging]

[apps.hubot]
environment = "prod"
stack = "hubot"
capabilities = ["CAPABILITY_IAM"]     # the stack has IAM roles
min = 0
max = 6

[apps.worker]
environment = "staging"
cluster = "{cluster}"
service = "worker"
container = "worker"
max = 20

# What AWS does without being asked (`make demo-outside` deploys worker behind
# the bot's back) is told in this channel.
[notifications]
queue = "{queue}"
channel = "shell:ops"
send = "everything"

# You are `alice` in the demo (dockhand shell --user alice): a deployer.
[roles]
deployers = ["shell:alice"]

[[rules]]
name = "deployers"
verbs = ["deploy", "rollback", "continue", "scale", "cancel", "lock", "unlock", "mute", "unmute"]
roles = ["deployers"]
""")


def worker(cluster_stack):
    cfn = session.client("cloudformation", endpoint_url=url)
    ecs = session.client("ecs", endpoint_url=url)
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cfn.describe_stacks(StackName=cluster_stack)["Stacks"][0].get("Outputs", [])}
    cluster, log_group = outputs["ClusterName"], outputs["LogGroupName"]
    td = ecs.register_task_definition(
        family="worker",
        # Logs into the cluster's group, as deploy/service.yaml's apps do: `!logs worker`.
        containerDefinitions=[{"name": "worker", "image": "public.ecr.aws/example/worker:v41", "memory": 256,
                               "essential": True, "logConfiguration": {"logDriver": "awslogs", "options": {
                                   "awslogs-group": log_group, "awslogs-region": "us-east-1",
                                   "awslogs-stream-prefix": "worker"}}}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName="worker", taskDefinition=td, desiredCount=3,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})

    def settled(names):
        """True once every service's only deployment is COMPLETED with all tasks running."""
        services = ecs.describe_services(cluster=cluster, services=names)["services"]
        return len(services) == len(names) and all(
            len(s["deployments"]) == 1
            and s["deployments"][0].get("rolloutState") == "COMPLETED"
            and s["runningCount"] == s["desiredCount"]
            for s in services
        )

    deadline = time.monotonic() + 60
    while not settled(["hubot", "worker"]):
        if time.monotonic() > deadline:
            sys.exit("demo: the demo's services did not settle within 60 s; see the emulator's log above")
        time.sleep(0.2)
    # The emulator's knob (not AWS's): the demo's own rollouts take a few seconds.
    req = urllib.request.Request(f"{url}/_dockhand/config", data=json.dumps({"rollout_seconds": 8}).encode(),
                                 method="POST", headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()

    # Only now, so the shell is not told of the starting state: ECS, CloudFormation and
    # CloudWatch events into the queue, by an EventBridge rule as deploy/dockhand.yaml
    # plumbs it. The pattern is deploy/dockhand.yaml's, unscoped: tasks only when they stop.
    sqs = session.client("sqs", endpoint_url=url)
    events = session.client("events", endpoint_url=url)
    queue = sqs.get_queue_url(QueueName="dockhand-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="dockhand-events", State="ENABLED", EventPattern=json.dumps({"$or": [
        {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"]}},
        {"source": ["aws.ecs"], "detail-type": ["ECS Service Action", "ECS Hook State Change", "ECS Deployment State Change"]},
        {"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"]},
        {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}]}))
    events.put_targets(Rule="dockhand-events", Targets=[{"Id": "dockhand", "Arn": queue_arn}])
    print("demo: worker service (v41, 3 tasks) is up, outside CloudFormation; hubot runs v1 on 2 tasks")


if phase == "config":
    config(sys.argv[3], sys.argv[4])
elif phase == "worker":
    worker(sys.argv[3])
else:
    sys.exit(__doc__)
