"""Network stack: a VPC over two availability zones, public subnets for the load balancer, private subnets for
the tasks and the database, the security-group chain internet -> ALB -> tasks -> database, and VPC endpoints.

Why VPC endpoints rather than NAT gateways: the tasks talk to nothing on the internet, only to ECR (image
pulls), CloudWatch Logs (awslogs) and Secrets Manager (the database credentials injected at start). Interface
endpoints for those plus an S3 gateway endpoint for ECR's layer bucket keep the private subnets without any
route to the internet, so a compromised task cannot reach out, and cost about the same as one NAT gateway per
AZ.
"""

from __future__ import annotations

from troposphere import GetAtt, GetAZs, Join, Ref, Select, Sub, Template, ec2

from cloudformation import common
from cloudformation.environments import Environment

# Interface endpoints the tasks need while private: image pulls (ecr.api, ecr.dkr), awslogs (logs) and secret
# injection at task start (secretsmanager).
INTERFACE_ENDPOINTS: dict[str, str] = {
    "EcrApiEndpoint": "ecr.api",
    "EcrDockerEndpoint": "ecr.dkr",
    "LogsEndpoint": "logs",
    "SecretsManagerEndpoint": "secretsmanager",
}

HTTPS_PORT = 443
HTTP_PORT = 80
ANYWHERE = "0.0.0.0/0"

# What CDK uses to replace a security group's default allow-all egress with "nothing": a rule that matches no
# traffic. CloudFormation drops the default rule only when SecurityGroupEgress is given inline.
_NO_EGRESS = ec2.SecurityGroupRule(
    CidrIp="255.255.255.255/32",
    IpProtocol="icmp",
    FromPort=252,
    ToPort=86,
    Description="Disallow all traffic",
)


def _add_vpc(t: Template, env: Environment) -> ec2.VPC:
    return t.add_resource(
        ec2.VPC(
            "Vpc",
            CidrBlock=env.vpc_cidr,
            # Private DNS names of the interface endpoints need both.
            EnableDnsSupport=True,
            EnableDnsHostnames=True,
            Tags=common.tags(env.name, "vpc"),
        )
    )


def _add_public_subnets(t: Template, env: Environment, vpc: ec2.VPC) -> list[ec2.Subnet]:
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=common.tags(env.name, "igw")))
    attachment = t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
    )
    table = t.add_resource(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=common.tags(env.name, "public")))
    t.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            DependsOn=attachment.title,
            RouteTableId=Ref(table),
            DestinationCidrBlock=ANYWHERE,
            GatewayId=Ref(igw),
        )
    )
    subnets = []
    for index, cidr in enumerate(env.public_subnet_cidrs):
        subnet = t.add_resource(
            ec2.Subnet(
                f"PublicSubnet{index + 1}",
                VpcId=Ref(vpc),
                CidrBlock=cidr,
                # Two AZs of whatever region the stack is deployed in, never hard-coded names.
                AvailabilityZone=Select(index, GetAZs("")),
                # Only the load balancer lives here and it gets its own addresses; nothing needs auto-assigned
                # public IPs.
                MapPublicIpOnLaunch=False,
                Tags=common.tags(env.name, f"public-{index + 1}"),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PublicSubnet{index + 1}RouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(table)
            )
        )
        subnets.append(subnet)
    return subnets


def _add_private_subnets(t: Template, env: Environment, vpc: ec2.VPC) -> tuple[list[ec2.Subnet], ec2.RouteTable]:
    # One table without any default route: the private subnets cannot reach the internet gateway.
    table = t.add_resource(ec2.RouteTable("PrivateRouteTable", VpcId=Ref(vpc), Tags=common.tags(env.name, "private")))
    subnets = []
    for index, cidr in enumerate(env.private_subnet_cidrs):
        subnet = t.add_resource(
            ec2.Subnet(
                f"PrivateSubnet{index + 1}",
                VpcId=Ref(vpc),
                CidrBlock=cidr,
                AvailabilityZone=Select(index, GetAZs("")),
                MapPublicIpOnLaunch=False,
                Tags=common.tags(env.name, f"private-{index + 1}"),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PrivateSubnet{index + 1}RouteTableAssociation",
                SubnetId=Ref(subnet),
                RouteTableId=Ref(table),
            )
        )
        subnets.append(subnet)
    return subnets, table


def _add_security_groups(t: Template, env: Environment, vpc: ec2.VPC) -> dict[str, ec2.SecurityGroup]:
    """The chain internet -> ALB -> tasks -> database; rules between groups are separate resources so that
    groups referring to each other do not form a dependency cycle."""
    alb = t.add_resource(
        ec2.SecurityGroup(
            "LoadBalancerSecurityGroup",
            Metadata={
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_260",
                            "comment": "A public web service: port 80 stays open so plain-HTTP visitors "
                            "get a redirect to HTTPS (or, without a certificate, the service itself).",
                        }
                    ]
                }
            },
            GroupDescription="Orca load balancer: HTTP and HTTPS from the internet",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=port,
                    ToPort=port,
                    CidrIp=ANYWHERE,
                    Description=f"{name} from the internet",
                )
                for port, name in ((HTTP_PORT, "HTTP"), (HTTPS_PORT, "HTTPS"))
            ],
            SecurityGroupEgress=[_NO_EGRESS],
            Tags=common.tags(env.name, "alb"),
        )
    )
    service = t.add_resource(
        ec2.SecurityGroup(
            "ServiceSecurityGroup",
            GroupDescription="Orca tasks: the container port from the load balancer only",
            VpcId=Ref(vpc),
            SecurityGroupEgress=[
                # The private subnets have no route to the internet, so HTTPS "anywhere" reaches only the VPC
                # endpoints and the S3 gateway endpoint (whose prefix list id CloudFormation cannot look up).
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=HTTPS_PORT,
                    ToPort=HTTPS_PORT,
                    CidrIp=ANYWHERE,
                    Description="HTTPS to the VPC endpoints and the S3 gateway endpoint",
                )
            ],
            Tags=common.tags(env.name, "service"),
        )
    )
    database = t.add_resource(
        ec2.SecurityGroup(
            "DatabaseSecurityGroup",
            GroupDescription="Orca database: PostgreSQL from the tasks only",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=common.DATABASE_PORT,
                    ToPort=common.DATABASE_PORT,
                    SourceSecurityGroupId=Ref(service),
                    Description="PostgreSQL from the Orca tasks",
                )
            ],
            SecurityGroupEgress=[_NO_EGRESS],
            Tags=common.tags(env.name, "database"),
        )
    )
    endpoints = t.add_resource(
        ec2.SecurityGroup(
            "EndpointSecurityGroup",
            GroupDescription="Orca VPC endpoints: HTTPS from the tasks only",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=HTTPS_PORT,
                    ToPort=HTTPS_PORT,
                    SourceSecurityGroupId=Ref(service),
                    Description="HTTPS from the Orca tasks",
                )
            ],
            SecurityGroupEgress=[_NO_EGRESS],
            Tags=common.tags(env.name, "endpoints"),
        )
    )
    t.add_resource(
        ec2.SecurityGroupEgress(
            "LoadBalancerToServiceEgress",
            GroupId=Ref(alb),
            IpProtocol="tcp",
            FromPort=common.CONTAINER_PORT,
            ToPort=common.CONTAINER_PORT,
            DestinationSecurityGroupId=Ref(service),
            Description="Container port to the Orca tasks",
        )
    )
    t.add_resource(
        ec2.SecurityGroupIngress(
            "ServiceFromLoadBalancerIngress",
            GroupId=Ref(service),
            IpProtocol="tcp",
            FromPort=common.CONTAINER_PORT,
            ToPort=common.CONTAINER_PORT,
            SourceSecurityGroupId=Ref(alb),
            Description="Container port from the load balancer",
        )
    )
    t.add_resource(
        ec2.SecurityGroupEgress(
            "ServiceToDatabaseEgress",
            GroupId=Ref(service),
            IpProtocol="tcp",
            FromPort=common.DATABASE_PORT,
            ToPort=common.DATABASE_PORT,
            DestinationSecurityGroupId=Ref(database),
            Description="PostgreSQL to the database",
        )
    )
    return {"alb": alb, "service": service, "database": database, "endpoints": endpoints}


def _add_endpoints(
    t: Template,
    env: Environment,
    vpc: ec2.VPC,
    subnets: list[ec2.Subnet],
    route_table: ec2.RouteTable,
    security_group: ec2.SecurityGroup,
) -> None:
    for title, service in INTERFACE_ENDPOINTS.items():
        t.add_resource(
            ec2.VPCEndpoint(
                title,
                VpcId=Ref(vpc),
                VpcEndpointType="Interface",
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                PrivateDnsEnabled=True,
                SubnetIds=[Ref(s) for s in subnets],
                SecurityGroupIds=[Ref(security_group)],
            )
        )
    t.add_resource(
        ec2.VPCEndpoint(
            "S3GatewayEndpoint",
            VpcId=Ref(vpc),
            VpcEndpointType="Gateway",
            ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
            RouteTableIds=[Ref(route_table)],
        )
    )


def _add_outputs(
    t: Template,
    vpc: ec2.VPC,
    public: list[ec2.Subnet],
    private: list[ec2.Subnet],
    groups: dict[str, ec2.SecurityGroup],
) -> None:
    common.add_output(t, common.VPC_ID, "VPC id", Ref(vpc))
    common.add_output(t, common.VPC_CIDR, "VPC CIDR block", GetAtt(vpc, "CidrBlock"))
    common.add_output(
        t, common.PUBLIC_SUBNET_IDS, "Public subnet ids, comma-separated", Join(",", [Ref(s) for s in public])
    )
    common.add_output(
        t,
        common.PRIVATE_SUBNET_IDS,
        "Private subnet ids, comma-separated",
        Join(",", [Ref(s) for s in private]),
    )
    common.add_output(t, common.LOAD_BALANCER_SECURITY_GROUP_ID, "Load balancer security group", Ref(groups["alb"]))
    common.add_output(t, common.SERVICE_SECURITY_GROUP_ID, "Task security group", Ref(groups["service"]))
    common.add_output(t, common.DATABASE_SECURITY_GROUP_ID, "Database security group", Ref(groups["database"]))


def build_template(env: Environment) -> Template:
    """Build the network stack for ``env``."""
    t = Template(Description=f"Orca {env.name}: network (VPC, subnets, security groups, VPC endpoints)")
    vpc = _add_vpc(t, env)
    public = _add_public_subnets(t, env, vpc)
    private, private_table = _add_private_subnets(t, env, vpc)
    groups = _add_security_groups(t, env, vpc)
    _add_endpoints(t, env, vpc, private, private_table, groups["endpoints"])
    _add_outputs(t, vpc, public, private, groups)
    return t
