"""Autoscaling stack: the ECS service's task count between the environment's bounds, tracking CPU, memory and
requests per target."""

from __future__ import annotations

from troposphere import Parameter, Ref, Sub, Template
from troposphere import applicationautoscaling as aas

from cloudformation import common
from cloudformation.environments import Environment

# Targets leave room for a burst while a new task starts (~1 s start, ~20 s until healthy).
CPU_TARGET = 60.0
MEMORY_TARGET = 75.0
# Requests per target per minute: 1,500 is about 25 requests/s per task, a fraction of the ~490 requests/s one
# process served in the seed's benchmark, so latency stays flat while autoscaling catches up.
REQUESTS_PER_TARGET = 1500.0
# Add capacity quickly, remove it slowly: one minute out, five minutes in, so a spike does not flap the fleet.
SCALE_OUT_COOLDOWN = 60
SCALE_IN_COOLDOWN = 300


def _add_parameters(t: Template) -> dict[str, Parameter]:
    return {
        name: common.add_string_parameter(t, name, description)
        for name, description in (
            (common.CLUSTER_NAME, "ECS cluster name"),
            (common.SERVICE_NAME, "ECS service name"),
            (common.LOAD_BALANCER_FULL_NAME, "Load balancer full name (app/NAME/ID)"),
            (common.TARGET_GROUP_FULL_NAME, "Target group full name (targetgroup/NAME/ID)"),
        )
    }


def _add_scalable_target(t: Template, env: Environment, p: dict[str, Parameter]) -> aas.ScalableTarget:
    return t.add_resource(
        aas.ScalableTarget(
            "ScalableTarget",
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Sub(
                "service/${Cluster}/${Service}",
                Cluster=Ref(p[common.CLUSTER_NAME]),
                Service=Ref(p[common.SERVICE_NAME]),
            ),
            MinCapacity=env.min_count,
            MaxCapacity=env.max_count,
        )
    )


def _add_policy(
    t: Template,
    title: str,
    target: aas.ScalableTarget,
    metric: aas.PredefinedMetricSpecification,
    value: float,
) -> aas.ScalingPolicy:
    return t.add_resource(
        aas.ScalingPolicy(
            title,
            PolicyName=title,
            PolicyType="TargetTrackingScaling",
            ScalingTargetId=Ref(target),
            TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                PredefinedMetricSpecification=metric,
                TargetValue=value,
                ScaleOutCooldown=SCALE_OUT_COOLDOWN,
                ScaleInCooldown=SCALE_IN_COOLDOWN,
            ),
        )
    )


def _add_policies(t: Template, target: aas.ScalableTarget, p: dict[str, Parameter]) -> None:
    _add_policy(
        t,
        "CpuTracking",
        target,
        aas.PredefinedMetricSpecification(PredefinedMetricType="ECSServiceAverageCPUUtilization"),
        CPU_TARGET,
    )
    _add_policy(
        t,
        "MemoryTracking",
        target,
        aas.PredefinedMetricSpecification(PredefinedMetricType="ECSServiceAverageMemoryUtilization"),
        MEMORY_TARGET,
    )
    _add_policy(
        t,
        "RequestCountTracking",
        target,
        aas.PredefinedMetricSpecification(
            PredefinedMetricType="ALBRequestCountPerTarget",
            # app/LB-NAME/LB-ID/targetgroup/TG-NAME/TG-ID; without it the policy is rejected at deploy time.
            ResourceLabel=Sub(
                "${LoadBalancer}/${TargetGroup}",
                LoadBalancer=Ref(p[common.LOAD_BALANCER_FULL_NAME]),
                TargetGroup=Ref(p[common.TARGET_GROUP_FULL_NAME]),
            ),
        ),
        REQUESTS_PER_TARGET,
    )


def build_template(env: Environment) -> Template:
    """Build the autoscaling stack for ``env``."""
    t = Template(Description=f"Orca {env.name}: service autoscaling ({env.min_count}-{env.max_count} tasks)")
    p = _add_parameters(t)
    target = _add_scalable_target(t, env, p)
    _add_policies(t, target, p)
    return t
