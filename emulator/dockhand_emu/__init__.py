"""dockhand's layer over moto: ECS rollouts over time, CloudFormation updates that
wait for them and roll back, fault injection, and a control API (see README.md)."""


def install() -> None:
    """Patches moto's models and handlers. Call once, before serving."""
    from . import cfn_api, ecs, events, logs

    ecs.install()
    events.install()
    cfn_api.install()
    logs.install()
