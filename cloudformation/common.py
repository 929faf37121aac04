"""Names shared between the stacks: output and parameter names, tags and small template helpers.

A child stack declares an output under one of these names and the root reads it with
``GetAtt(child, f"Outputs.{NAME}")``; keeping the strings here means a rename cannot break the wiring
silently.
"""

from __future__ import annotations

from troposphere import Output, Parameter, Sub, Tags, Template

PROJECT = "orca"

# Port the container listens on (`orca serve` binds 8080).
CONTAINER_PORT = 8080
# PostgreSQL's port; the database stack and the security groups both need it.
DATABASE_PORT = 5432

# Network outputs.
VPC_ID = "VpcId"
VPC_CIDR = "VpcCidr"
PUBLIC_SUBNET_IDS = "PublicSubnetIds"
PRIVATE_SUBNET_IDS = "PrivateSubnetIds"
LOAD_BALANCER_SECURITY_GROUP_ID = "LoadBalancerSecurityGroupId"
SERVICE_SECURITY_GROUP_ID = "ServiceSecurityGroupId"
DATABASE_SECURITY_GROUP_ID = "DatabaseSecurityGroupId"

# Database outputs.
DATABASE_ENDPOINT = "DatabaseEndpoint"
DATABASE_PORT_OUTPUT = "DatabasePort"
DATABASE_NAME = "DatabaseName"
DATABASE_SECRET_ARN = "DatabaseSecretArn"  # noqa: S105 - an output name, not a secret
DATABASE_INSTANCE_ID = "DatabaseInstanceId"

# Service outputs.
SERVICE_URL = "ServiceUrl"
CLUSTER_NAME = "ClusterName"
SERVICE_NAME = "ServiceName"
LOAD_BALANCER_FULL_NAME = "LoadBalancerFullName"
TARGET_GROUP_FULL_NAME = "TargetGroupFullName"

# Alarm outputs.
ALARM_TOPIC_ARN = "AlarmTopicArn"

# Deploy-time parameters of the root (and of the service stack, which receives them).
IMAGE_TAG = "ImageTag"
IMAGE_REPOSITORY_NAME = "ImageRepositoryName"
CERTIFICATE_ARN = "CertificateArn"

# Managed policy the bootstrap stack creates: the permissions boundary every role of the Orca stacks carries.
PERMISSIONS_BOUNDARY_POLICY = f"{PROJECT}-stack-role-boundary"

# The ECR repository the bootstrap stack creates and the service pulls from, unless told otherwise.
DEFAULT_IMAGE_REPOSITORY_NAME = PROJECT

# Child stacks: logical id in the root -> file name of the rendered child template. Order is render order.
CHILD_STACKS: dict[str, str] = {
    "NetworkStack": "network.json",
    "DatabaseStack": "database.json",
    "ServiceStack": "service.json",
    "AutoscalingStack": "autoscaling.json",
    "AlarmsStack": "alarms.json",
}
ROOT_TEMPLATE = "root.json"
BOOTSTRAP_TEMPLATE = "bootstrap.json"


def template_url_parameter(stack_logical_id: str) -> str:
    """Name of the root parameter that carries a child stack's template URL (e.g. ``NetworkTemplateUrl``)."""
    return stack_logical_id.removesuffix("Stack") + "TemplateUrl"


def tags(environment: str, name: str | None = None) -> Tags:
    """Standard tags for every taggable resource: project, environment and an optional ``Name``."""
    values = {"Project": PROJECT, "Environment": environment}
    if name is not None:
        values["Name"] = f"{PROJECT}-{environment}-{name}"
    return Tags(**values)


def permissions_boundary() -> Sub:
    """ARN of the permissions boundary (created by the bootstrap stack) for a role a stack creates."""
    return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{PERMISSIONS_BOUNDARY_POLICY}")


def add_string_parameter(template: Template, name: str, description: str, **kwargs: object) -> Parameter:
    """Add a ``String`` parameter (or another ``Type`` given in kwargs) and return it."""
    kwargs.setdefault("Type", "String")
    return template.add_parameter(Parameter(name, Description=description, **kwargs))


def add_output(template: Template, name: str, description: str, value: object) -> Output:
    """Add an output under a shared name."""
    return template.add_output(Output(name, Description=description, Value=value))
