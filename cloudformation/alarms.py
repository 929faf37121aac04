"""Alarms stack: an encrypted SNS topic that e-mails the team, and alarms on the load balancer, the service
and the database, each notifying both when it fires and when it clears."""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Condition, StringEquals
from troposphere import GetAtt, Parameter, Ref, Template, cloudwatch, kms, sns

from cloudformation import common
from cloudformation.environments import Environment
from cloudformation.policies import kms_key_policy

ALB = "AWS/ApplicationELB"
ECS = "AWS/ECS"
RDS = "AWS/RDS"
# Fraction of the database's max_connections at which connections count as nearly exhausted.
CONNECTIONS_ALARM_FRACTION = 0.8
# Fraction of the allocated storage below which free space is too low (storage autoscaling may lag behind).
FREE_STORAGE_FRACTION = 0.1
GIB = 1024**3


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: which metric, which dimensions (parameter names) and when it fires."""

    title: str
    description: str
    namespace: str
    metric: str
    dimensions: dict[str, str]  # dimension name -> parameter holding its value
    threshold: float
    comparison: str = "GreaterThanThreshold"
    statistic: str | None = "Sum"
    extended_statistic: str | None = None
    period: int = 60
    # Three of five minutes: a blip does not page anyone, a sustained problem does within five minutes.
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    treat_missing_data: str = "notBreaching"


def alarm_specs(env: Environment) -> list[AlarmSpec]:
    """The alarms of ``env``; thresholds derived from the environment where they depend on it."""
    lb = {"LoadBalancer": common.LOAD_BALANCER_FULL_NAME}
    lb_tg = {"LoadBalancer": common.LOAD_BALANCER_FULL_NAME, "TargetGroup": common.TARGET_GROUP_FULL_NAME}
    svc = {"ClusterName": common.CLUSTER_NAME, "ServiceName": common.SERVICE_NAME}
    db = {"DBInstanceIdentifier": common.DATABASE_INSTANCE_ID}
    return [
        AlarmSpec(
            "LoadBalancer5xxAlarm",
            "The load balancer itself answers 5XX (no healthy target, bad gateway)",
            ALB,
            "HTTPCode_ELB_5XX_Count",
            lb,
            10,
        ),
        AlarmSpec("Target5xxAlarm", "The service answers 5XX", ALB, "HTTPCode_Target_5XX_Count", lb_tg, 10),
        AlarmSpec(
            "UnhealthyHostsAlarm",
            "A task fails the load balancer's health check",
            ALB,
            "UnHealthyHostCount",
            lb_tg,
            0,
            statistic="Maximum",
        ),
        # p99 above one second: the seed's slow queries showed up here long before the averages moved.
        AlarmSpec(
            "TargetResponseTimeP99Alarm",
            "p99 response time of the service is above 1 s",
            ALB,
            "TargetResponseTime",
            lb_tg,
            1.0,
            statistic=None,
            extended_statistic="p99",
        ),
        AlarmSpec(
            "ServiceCpuAlarm",
            "Service CPU stays above 85% (autoscaling at its maximum?)",
            ECS,
            "CPUUtilization",
            svc,
            85,
            statistic="Average",
        ),
        AlarmSpec(
            "ServiceMemoryAlarm",
            "Service memory stays above 85%",
            ECS,
            "MemoryUtilization",
            svc,
            85,
            statistic="Average",
        ),
        AlarmSpec(
            "DatabaseCpuAlarm",
            "Database CPU stays above 80%",
            RDS,
            "CPUUtilization",
            db,
            80,
            statistic="Average",
        ),
        AlarmSpec(
            "DatabaseFreeStorageAlarm",
            f"Database free storage below {FREE_STORAGE_FRACTION:.0%} of the allocated storage",
            RDS,
            "FreeStorageSpace",
            db,
            env.db_allocated_storage_gib * GIB * FREE_STORAGE_FRACTION,
            comparison="LessThanThreshold",
            statistic="Minimum",
            treat_missing_data="breaching",
        ),
        AlarmSpec(
            "DatabaseConnectionsAlarm",
            f"Database connections above {CONNECTIONS_ALARM_FRACTION:.0%} of max_connections "
            f"({env.max_connections}); pools need at most {env.connections_needed}",
            RDS,
            "DatabaseConnections",
            db,
            int(env.max_connections * CONNECTIONS_ALARM_FRACTION),
            statistic="Maximum",
        ),
    ]


def _add_parameters(t: Template) -> dict[str, Parameter]:
    return {
        name: common.add_string_parameter(t, name, description)
        for name, description in (
            (common.LOAD_BALANCER_FULL_NAME, "Load balancer full name (app/NAME/ID)"),
            (common.TARGET_GROUP_FULL_NAME, "Target group full name (targetgroup/NAME/ID)"),
            (common.CLUSTER_NAME, "ECS cluster name"),
            (common.SERVICE_NAME, "ECS service name"),
            (common.DATABASE_INSTANCE_ID, "DB instance identifier"),
        )
    }


def _add_topic(t: Template, env: Environment) -> sns.Topic:
    # CloudWatch must be able to use the key to publish to an encrypted topic, which the AWS-managed
    # aws/sns key never allows: hence a key of our own.
    key = t.add_resource(
        kms.Key(
            "TopicKey",
            Description=f"Orca {env.name}: encrypts the alarm topic",
            EnableKeyRotation=True,
            KeyPolicy=kms_key_policy(
                "cloudwatch.amazonaws.com",
                Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
            ),
            Tags=common.tags(env.name, "alarms"),
        )
    )
    topic = t.add_resource(
        sns.Topic(
            "AlarmTopic",
            DisplayName=f"Orca {env.name} alarms",
            KmsMasterKeyId=GetAtt(key, "Arn"),
            Tags=common.tags(env.name, "alarms"),
        )
    )
    t.add_resource(
        sns.SubscriptionResource(
            "AlarmEmailSubscription", TopicArn=Ref(topic), Protocol="email", Endpoint=env.alarm_email
        )
    )
    return topic


def _add_alarms(t: Template, env: Environment, p: dict[str, Parameter], topic: sns.Topic) -> None:
    for spec in alarm_specs(env):
        kwargs: dict[str, object] = {}
        if spec.statistic is not None:
            kwargs["Statistic"] = spec.statistic
        if spec.extended_statistic is not None:
            kwargs["ExtendedStatistic"] = spec.extended_statistic
        t.add_resource(
            cloudwatch.Alarm(
                spec.title,
                AlarmDescription=f"Orca {env.name}: {spec.description}",
                Namespace=spec.namespace,
                MetricName=spec.metric,
                Dimensions=[
                    cloudwatch.MetricDimension(Name=name, Value=Ref(p[param]))
                    for name, param in spec.dimensions.items()
                ],
                Threshold=spec.threshold,
                ComparisonOperator=spec.comparison,
                Period=spec.period,
                EvaluationPeriods=spec.evaluation_periods,
                DatapointsToAlarm=spec.datapoints_to_alarm,
                TreatMissingData=spec.treat_missing_data,
                # Tell the team when it clears too, so nobody chases a problem that has gone.
                AlarmActions=[Ref(topic)],
                OKActions=[Ref(topic)],
                **kwargs,
            )
        )


def build_template(env: Environment) -> Template:
    """Build the alarms stack for ``env``."""
    t = Template(Description=f"Orca {env.name}: alarms e-mailed to {env.alarm_email}")
    p = _add_parameters(t)
    topic = _add_topic(t, env)
    _add_alarms(t, env, p, topic)
    common.add_output(t, common.ALARM_TOPIC_ARN, "SNS topic the alarms notify", Ref(topic))
    return t
