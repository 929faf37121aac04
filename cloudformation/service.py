"""Service stack: the ECS cluster, the Fargate task definition and service in the private subnets, and the
public Application Load Balancer in front of them.

Timings follow ``shared/notes/production-defaults.md``: the app starts in about a second and drains in under
10 s on SIGTERM, and its keep-alive (75 s) outlives the ALB's idle timeout (60 s).
"""

from __future__ import annotations

from awacs import ecr, logs, secretsmanager
from awacs.aws import Allow, ArnLike, Condition, PolicyDocument, Statement, StringEquals
from troposphere import (
    Equals,
    GetAtt,
    If,
    Not,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    ecs,
    iam,
    kms,
)
from troposphere import elasticloadbalancingv2 as elb
from troposphere import logs as cwlogs

from cloudformation import common
from cloudformation.environments import Environment
from cloudformation.policies import POLICY_VERSION, kms_key_policy, service_trust_policy

CONTAINER_NAME = "orca"
# Shallow liveness: never the database, so a database outage does not make the ALB and ECS churn every task.
HEALTH_CHECK_PATH = "/_livez"
# A task starts in ~1 s, so 10 s checks with 2 healthy / 3 unhealthy put a new task in service within ~20 s
# and take a hung one out within ~30 s.
HEALTH_CHECK_INTERVAL = 10
HEALTH_CHECK_TIMEOUT = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
# Requests take well under a second; 15 s is ample to finish in-flight ones before ECS sends SIGTERM.
DEREGISTRATION_DELAY = 15
# The app's keep-alive is 75 s: it must outlive this or the ALB reuses connections the app has closed (502s).
IDLE_TIMEOUT = 60
# Longer than the app's 10 s graceful drain, so SIGKILL never cuts a request short.
STOP_TIMEOUT = 20
# Start-up takes ~1 s; 30 s keeps a slow image pull from failing the first checks.
HEALTH_CHECK_GRACE_PERIOD = 30
# TLS 1.3 with TLS 1.2 fallback, forward-secret ciphers only.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HAS_CERTIFICATE = "HasCertificate"

_LOAD_BALANCER_SKIPS = [
    {
        "id": "CKV_AWS_91",
        "comment": "Orca is itself an access-log service and logs every request to CloudWatch Logs; ALB "
        "access logs would duplicate them in a second bucket.",
    },
]
_HTTP_LISTENER_SKIPS = [
    {
        "id": "CKV_AWS_2",
        "comment": "Port 80 redirects to HTTPS whenever a certificate is configured (condition "
        "HasCertificate); without one the environment serves plain HTTP by design.",
    },
]


class _Parameters:
    """The stack's parameters, one attribute per parameter."""

    def __init__(self, t: Template) -> None:
        def add(name: str, description: str, **kwargs: object) -> Parameter:
            return common.add_string_parameter(t, name, description, **kwargs)

        self.vpc_id = add(common.VPC_ID, "VPC of the service", Type="AWS::EC2::VPC::Id")
        self.vpc_cidr = add(common.VPC_CIDR, "VPC CIDR: the load balancer's addresses, trusted for X-Forwarded-For")
        self.public_subnets = add(
            common.PUBLIC_SUBNET_IDS,
            "Public subnets for the load balancer",
            Type="List<AWS::EC2::Subnet::Id>",
        )
        self.private_subnets = add(
            common.PRIVATE_SUBNET_IDS, "Private subnets for the tasks", Type="List<AWS::EC2::Subnet::Id>"
        )
        self.alb_group = add(
            common.LOAD_BALANCER_SECURITY_GROUP_ID,
            "Load balancer security group",
            Type="AWS::EC2::SecurityGroup::Id",
        )
        self.service_group = add(
            common.SERVICE_SECURITY_GROUP_ID, "Task security group", Type="AWS::EC2::SecurityGroup::Id"
        )
        self.db_host = add(common.DATABASE_ENDPOINT, "Database host name")
        self.db_port = add(common.DATABASE_PORT_OUTPUT, "Database port")
        self.db_name = add(common.DATABASE_NAME, "Database name")
        self.db_secret = add(common.DATABASE_SECRET_ARN, "ARN of the RDS-managed master user secret")
        self.repository = add(common.IMAGE_REPOSITORY_NAME, "ECR repository holding the image")
        self.image_tag = add(common.IMAGE_TAG, "Image tag to run (the commit SHA)")
        self.certificate = add(
            common.CERTIFICATE_ARN,
            "ACM certificate for HTTPS; empty for plain HTTP",
            AllowedPattern=r"^(arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+)?$",
        )


def _add_cluster(t: Template, env: Environment) -> ecs.Cluster:
    return t.add_resource(
        ecs.Cluster(
            "Cluster",
            ClusterSettings=[ecs.ClusterSetting(Name="containerInsights", Value="enabled")],
            Tags=common.tags(env.name, "cluster"),
        )
    )


def _add_log_group(t: Template, env: Environment) -> cwlogs.LogGroup:
    key = t.add_resource(
        kms.Key(
            "LogKey",
            Description=f"Orca {env.name}: encrypts the service's CloudWatch log group",
            EnableKeyRotation=True,
            KeyPolicy=kms_key_policy(
                Sub("logs.${AWS::Region}.amazonaws.com"),
                Condition(
                    # Only log groups of this account and region may use the key.
                    ArnLike(
                        "kms:EncryptionContext:aws:logs:arn",
                        Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
                    )
                ),
            ),
            Tags=common.tags(env.name, "logs"),
        )
    )
    return t.add_resource(
        cwlogs.LogGroup(
            "LogGroup",
            RetentionInDays=env.log_retention_days,
            KmsKeyId=GetAtt(key, "Arn"),
            Tags=common.tags(env.name, "logs"),
        )
    )


def _add_roles(t: Template, env: Environment, p: _Parameters, log_group: cwlogs.LogGroup) -> tuple[iam.Role, iam.Role]:
    # Confused-deputy guard: only ECS acting for this account may assume the roles.
    trust = service_trust_policy("ecs-tasks.amazonaws.com")
    trust.Statement[0].Condition = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    execution = t.add_resource(
        iam.Role(
            "ExecutionRole",
            AssumeRolePolicyDocument=trust,
            # The bootstrap's execution role creates roles only under this boundary.
            PermissionsBoundary=common.permissions_boundary(),
            Policies=[
                iam.Policy(
                    PolicyName="pull-image-write-logs-read-database-secret",
                    PolicyDocument=PolicyDocument(
                        Version=POLICY_VERSION,
                        Statement=[
                            # GetAuthorizationToken has no resource-level permissions.
                            Statement(Effect=Allow, Action=[ecr.GetAuthorizationToken], Resource=["*"]),
                            Statement(
                                Effect=Allow,
                                Action=[
                                    ecr.BatchCheckLayerAvailability,
                                    ecr.BatchGetImage,
                                    ecr.GetDownloadUrlForLayer,
                                ],
                                Resource=[
                                    Sub(
                                        "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:"
                                        "repository/${Repository}",
                                        Repository=Ref(p.repository),
                                    )
                                ],
                            ),
                            Statement(
                                Effect=Allow,
                                Action=[logs.CreateLogStream, logs.PutLogEvents],
                                Resource=[GetAtt(log_group, "Arn")],
                            ),
                            Statement(
                                Effect=Allow,
                                Action=[secretsmanager.GetSecretValue],
                                Resource=[Ref(p.db_secret)],
                            ),
                        ],
                    ),
                )
            ],
            Tags=common.tags(env.name, "execution"),
        )
    )
    # The app itself calls no AWS API: its role carries no permissions at all.
    task = t.add_resource(
        iam.Role(
            "TaskRole",
            AssumeRolePolicyDocument=trust,
            PermissionsBoundary=common.permissions_boundary(),
            Tags=common.tags(env.name, "task"),
        )
    )
    return execution, task


def _add_task_definition(
    t: Template,
    env: Environment,
    p: _Parameters,
    log_group: cwlogs.LogGroup,
    execution: iam.Role,
    task: iam.Role,
) -> ecs.TaskDefinition:
    plain = {
        "PORT": str(common.CONTAINER_PORT),
        "PGHOST": Ref(p.db_host),
        "PGPORT": Ref(p.db_port),
        "PGDATABASE": Ref(p.db_name),
        # Encrypted or nothing: libpq's default ("prefer") would fall back to plain text if TLS failed.
        "PGSSLMODE": "require",
        # The ALB is the only proxy; its addresses are in the VPC.
        "ORCA_TRUSTED_PROXIES": Ref(p.vpc_cidr),
        "ORCA_POOL_MAX_SIZE": str(env.pool_max_size),
        "ORCA_LOG_LEVEL": env.log_level,
    }
    # Injected by ECS from the RDS-managed secret when the task starts; never in the template or the task's
    # plain environment.
    secret = {"PGUSER": "username", "PGPASSWORD": "password"}
    container = ecs.ContainerDefinition(
        Name=CONTAINER_NAME,
        Image=Sub(
            "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${Repository}:${Tag}",
            Repository=Ref(p.repository),
            Tag=Ref(p.image_tag),
        ),
        Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=common.CONTAINER_PORT, Protocol="tcp")],
        Environment=[ecs.Environment(Name=k, Value=v) for k, v in sorted(plain.items())],
        Secrets=[
            ecs.Secret(Name=name, ValueFrom=Sub(f"${{Secret}}:{key}::", Secret=Ref(p.db_secret)))
            for name, key in sorted(secret.items())
        ],
        StopTimeout=STOP_TIMEOUT,
        # The app writes nothing to disk.
        ReadonlyRootFilesystem=True,
        Privileged=False,
        LogConfiguration=ecs.LogConfiguration(
            LogDriver="awslogs",
            Options={
                "awslogs-group": Ref(log_group),
                "awslogs-region": Ref("AWS::Region"),
                "awslogs-stream-prefix": CONTAINER_NAME,
            },
        ),
    )
    return t.add_resource(
        ecs.TaskDefinition(
            "TaskDefinition",
            Family=f"{common.PROJECT}-{env.name}",
            Cpu=str(env.task_cpu),
            Memory=str(env.task_memory),
            NetworkMode="awsvpc",
            RequiresCompatibilities=["FARGATE"],
            RuntimePlatform=ecs.RuntimePlatform(OperatingSystemFamily="LINUX", CpuArchitecture="X86_64"),
            ExecutionRoleArn=GetAtt(execution, "Arn"),
            TaskRoleArn=GetAtt(task, "Arn"),
            ContainerDefinitions=[container],
            Tags=common.tags(env.name, "task"),
        )
    )


def _add_load_balancer(
    t: Template, env: Environment, p: _Parameters
) -> tuple[elb.LoadBalancer, elb.TargetGroup, elb.Listener, elb.Listener]:
    lb = t.add_resource(
        elb.LoadBalancer(
            "LoadBalancer",
            Metadata={"checkov": {"skip": _LOAD_BALANCER_SKIPS}},
            Type="application",
            Scheme="internet-facing",
            Subnets=Ref(p.public_subnets),
            SecurityGroups=[Ref(p.alb_group)],
            LoadBalancerAttributes=[
                elb.LoadBalancerAttributes(Key="idle_timeout.timeout_seconds", Value=str(IDLE_TIMEOUT)),
                # Requests with malformed headers never reach the app.
                elb.LoadBalancerAttributes(Key="routing.http.drop_invalid_header_fields.enabled", Value="true"),
                elb.LoadBalancerAttributes(
                    Key="deletion_protection.enabled", Value=str(env.deletion_protection).lower()
                ),
            ],
            Tags=common.tags(env.name, "alb"),
        )
    )
    target_group = t.add_resource(
        elb.TargetGroup(
            "TargetGroup",
            TargetType="ip",
            Protocol="HTTP",
            Port=common.CONTAINER_PORT,
            VpcId=Ref(p.vpc_id),
            HealthCheckEnabled=True,
            HealthCheckProtocol="HTTP",
            HealthCheckPath=HEALTH_CHECK_PATH,
            HealthCheckIntervalSeconds=HEALTH_CHECK_INTERVAL,
            HealthCheckTimeoutSeconds=HEALTH_CHECK_TIMEOUT,
            HealthyThresholdCount=HEALTHY_THRESHOLD,
            UnhealthyThresholdCount=UNHEALTHY_THRESHOLD,
            Matcher=elb.Matcher(HttpCode="200"),
            TargetGroupAttributes=[
                elb.TargetGroupAttribute(Key="deregistration_delay.timeout_seconds", Value=str(DEREGISTRATION_DELAY))
            ],
            Tags=common.tags(env.name, "targets"),
        )
    )
    forward = elb.Action(Type="forward", TargetGroupArn=Ref(target_group))
    redirect = elb.Action(
        Type="redirect",
        RedirectConfig=elb.RedirectConfig(Protocol="HTTPS", Port="443", StatusCode="HTTP_301"),
    )
    http = t.add_resource(
        elb.Listener(
            "HttpListener",
            Metadata={"checkov": {"skip": _HTTP_LISTENER_SKIPS}},
            LoadBalancerArn=Ref(lb),
            Port=80,
            Protocol="HTTP",
            DefaultActions=If(HAS_CERTIFICATE, [redirect], [forward]),
        )
    )
    https = t.add_resource(
        elb.Listener(
            "HttpsListener",
            Condition=HAS_CERTIFICATE,
            LoadBalancerArn=Ref(lb),
            Port=443,
            Protocol="HTTPS",
            SslPolicy=TLS_POLICY,
            Certificates=[elb.Certificate(CertificateArn=Ref(p.certificate))],
            DefaultActions=[forward],
        )
    )
    return lb, target_group, http, https


def _add_service(
    t: Template,
    env: Environment,
    p: _Parameters,
    cluster: ecs.Cluster,
    task_definition: ecs.TaskDefinition,
    target_group: elb.TargetGroup,
    listeners: tuple[elb.Listener, elb.Listener],
) -> ecs.Service:
    http, https = listeners
    tags = common.tags(env.name, "service")
    # ECS refuses a target group that no listener uses yet, and which listener forwards to it depends on the
    # certificate. DependsOn cannot be conditional; a Ref inside If can, so the tag orders creation.
    tags += Tags({"orca:listener": If(HAS_CERTIFICATE, Ref(https), Ref(http))})
    return t.add_resource(
        ecs.Service(
            "Service",
            Cluster=Ref(cluster),
            TaskDefinition=Ref(task_definition),
            LaunchType="FARGATE",
            PlatformVersion="LATEST",
            DesiredCount=env.desired_count,
            DeploymentConfiguration=ecs.DeploymentConfiguration(
                MinimumHealthyPercent=100,
                MaximumPercent=200,
                # Without it a failing deployment retries for hours; with it ECS rolls back to the last
                # good one.
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            ),
            HealthCheckGracePeriodSeconds=HEALTH_CHECK_GRACE_PERIOD,
            NetworkConfiguration=ecs.NetworkConfiguration(
                AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                    AssignPublicIp="DISABLED",
                    Subnets=Ref(p.private_subnets),
                    SecurityGroups=[Ref(p.service_group)],
                )
            ),
            LoadBalancers=[
                ecs.LoadBalancer(
                    ContainerName=CONTAINER_NAME,
                    ContainerPort=common.CONTAINER_PORT,
                    TargetGroupArn=Ref(target_group),
                )
            ],
            PropagateTags="SERVICE",
            EnableECSManagedTags=True,
            Tags=tags,
        )
    )


def _add_outputs(
    t: Template,
    cluster: ecs.Cluster,
    service: ecs.Service,
    lb: elb.LoadBalancer,
    target_group: elb.TargetGroup,
) -> None:
    common.add_output(
        t,
        common.SERVICE_URL,
        "Public URL of the service",
        If(HAS_CERTIFICATE, Sub("https://${LoadBalancer.DNSName}"), Sub("http://${LoadBalancer.DNSName}")),
    )
    common.add_output(t, common.CLUSTER_NAME, "ECS cluster name", Ref(cluster))
    common.add_output(t, common.SERVICE_NAME, "ECS service name", GetAtt(service, "Name"))
    common.add_output(t, common.LOAD_BALANCER_FULL_NAME, "app/NAME/ID, for metrics", GetAtt(lb, "LoadBalancerFullName"))
    common.add_output(
        t,
        common.TARGET_GROUP_FULL_NAME,
        "targetgroup/NAME/ID, for metrics",
        GetAtt(target_group, "TargetGroupFullName"),
    )


def build_template(env: Environment) -> Template:
    """Build the service stack for ``env``."""
    t = Template(Description=f"Orca {env.name}: ECS Fargate service behind an Application Load Balancer")
    p = _Parameters(t)
    t.add_condition(HAS_CERTIFICATE, Not(Equals(Ref(p.certificate), "")))
    cluster = _add_cluster(t, env)
    log_group = _add_log_group(t, env)
    execution, task = _add_roles(t, env, p, log_group)
    task_definition = _add_task_definition(t, env, p, log_group, execution, task)
    lb, target_group, http, https = _add_load_balancer(t, env, p)
    service = _add_service(t, env, p, cluster, task_definition, target_group, (http, https))
    _add_outputs(t, cluster, service, lb, target_group)
    return t
