"""Autoscaling stack: the environment's bounds and three target-tracking policies with cooldowns."""

from __future__ import annotations

from typing import Any

from cloudformation.environments import ENVIRONMENTS
from tests.cloudformation.helpers import Template, only, resources_of

Rendered = dict[str, dict[str, Template]]


def _policies(rendered: Rendered, env_name: str) -> dict[str, dict[str, Any]]:
    template = rendered[env_name]["autoscaling.json"]
    found = resources_of(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    return {
        p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
            "PredefinedMetricType"
        ]: p["Properties"]
        for p in found
    }


def test_scalable_target_uses_the_environment_bounds(rendered: Rendered, env_name: str) -> None:
    target = only(rendered[env_name]["autoscaling.json"], "AWS::ApplicationAutoScaling::ScalableTarget")
    env = ENVIRONMENTS[env_name]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (env.min_count, env.max_count)
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["ResourceId"]["Fn::Sub"][0] == "service/${Cluster}/${Service}"


def test_tracks_cpu_memory_and_requests_per_target(rendered: Rendered, env_name: str) -> None:
    assert sorted(_policies(rendered, env_name)) == [
        "ALBRequestCountPerTarget",
        "ECSServiceAverageCPUUtilization",
        "ECSServiceAverageMemoryUtilization",
    ]


def test_request_count_policy_names_load_balancer_and_target_group(rendered: Rendered, env_name: str) -> None:
    spec = _policies(rendered, env_name)["ALBRequestCountPerTarget"]["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"
    ]
    assert spec["ResourceLabel"] == {
        "Fn::Sub": [
            "${LoadBalancer}/${TargetGroup}",
            {"LoadBalancer": {"Ref": "LoadBalancerFullName"}, "TargetGroup": {"Ref": "TargetGroupFullName"}},
        ]
    }


def test_every_policy_scales_out_faster_than_in(rendered: Rendered, env_name: str) -> None:
    for policy in _policies(rendered, env_name).values():
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        assert config["ScaleOutCooldown"] == 60
        assert config["ScaleInCooldown"] >= 120
