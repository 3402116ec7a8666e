#!/usr/bin/env python3
"""Creates the demo's stacks in the local emulator and writes the demo's config.

A cluster stack (deploy/cluster.yaml) and a `hubot` app stack (deploy/service.yaml)
running v1, plus a service-managed `worker` app, so `!deploy hubot v2`, `!status`,
`!stack hubot` and `!rollback hubot` show real rollouts. Rollouts take a few seconds,
like a small service on ECS would take minutes.
Usage: demo-setup.py EMULATOR_URL CONFIG_OUT
"""
import json
import pathlib
import sys
import time
import urllib.request

import boto3

url, config_out = sys.argv[1], pathlib.Path(sys.argv[2])
root = pathlib.Path(__file__).resolve().parent.parent



def rollout_seconds(n):
    req = urllib.request.Request(f"{url}/_dockhand/config", data=json.dumps({"rollout_seconds": n}).encode(),
                                 method="POST", headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()


# The starting state appears at once; only the demo's own rollouts take time.
rollout_seconds(0)

session = boto3.session.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
cfn = session.client("cloudformation", endpoint_url=url)
ecs = session.client("ecs", endpoint_url=url)


def params(**kv):
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in kv.items()]


cfn.create_stack(StackName="cluster", TemplateBody=(root / "deploy/cluster.yaml").read_text(),
                 Parameters=params(ClusterName="demo"), Capabilities=["CAPABILITY_NAMED_IAM"])
outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName="cluster")["Stacks"][0].get("Outputs", [])}
service_params = {k: outputs[k] for k in ("ClusterName", "LogGroupName") if k in outputs}
cfn.create_stack(
    StackName="hubot",
    TemplateBody=(root / "deploy/service.yaml").read_text(),
    Parameters=params(ServiceName="hubot", Image="public.ecr.aws/example/hubot", Version="v1", DesiredCount=2,
                      ContainerPort=8080, **service_params),
    Capabilities=["CAPABILITY_NAMED_IAM"],
)

# A service-managed app, outside CloudFormation.
td = ecs.register_task_definition(
    family="worker",
    # Logs into the cluster's group, as deploy/service.yaml's apps do: `!logs worker`.
    containerDefinitions=[{"name": "worker", "image": "public.ecr.aws/example/worker:v41", "memory": 256, "essential": True,
                           "logConfiguration": {"logDriver": "awslogs", "options": {
                               "awslogs-group": service_params.get("LogGroupName", "/dockhand/demo"),
                               "awslogs-region": "us-east-1", "awslogs-stream-prefix": "worker"}}}],
)["taskDefinition"]["taskDefinitionArn"]
ecs.create_service(cluster=service_params.get("ClusterName", "demo"), serviceName="worker", taskDefinition=td, desiredCount=3,
                   deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})



def settled(cluster, names):
    """True once every service's only deployment is COMPLETED with all tasks running."""
    services = ecs.describe_services(cluster=cluster, services=names)["services"]
    return len(services) == len(names) and all(
        len(s["deployments"]) == 1
        and s["deployments"][0].get("rolloutState") == "COMPLETED"
        and s["runningCount"] == s["desiredCount"]
        for s in services
    )


cluster = service_params.get("ClusterName", "demo")
deadline = time.monotonic() + 60
while not (cfn.describe_stacks(StackName="hubot")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
           and settled(cluster, ["hubot", "worker"])):
    if time.monotonic() > deadline:
        sys.exit("demo: the demo's services did not settle within 60 s; see the emulator's log above")
    time.sleep(0.2)
rollout_seconds(8)

# Notifications, as deploy/dockhand.yaml plumbs them: an EventBridge rule sends the
# ECS, CloudFormation and CloudWatch events to an SQS queue the shell long-polls.
sqs = session.client("sqs", endpoint_url=url)
events = session.client("events", endpoint_url=url)
dead = sqs.create_queue(QueueName="dockhand-events-dlq")["QueueUrl"]
dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
queue = sqs.create_queue(QueueName="dockhand-events", Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"})})["QueueUrl"]
queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
# The pattern is deploy/dockhand.yaml's, unscoped: tasks only when they stop.
events.put_rule(Name="dockhand-events", State="ENABLED", EventPattern=json.dumps({"$or": [
    {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"lastStatus": ["STOPPED"]}},
    {"source": ["aws.ecs"], "detail-type": ["ECS Service Action", "ECS Hook State Change", "ECS Deployment State Change"]},
    {"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"]},
    {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}]}))
events.put_targets(Rule="dockhand-events", Targets=[{"Id": "dockhand", "Arn": queue_arn}])

config_out.write_text(f"""# Written by scripts/demo-setup.py for `make demo`.
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
cluster = "{service_params.get('ClusterName', 'demo')}"
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
print("demo: cluster stack, hubot stack (v1, 2 tasks) and worker service (v41, 3 tasks) are up")
