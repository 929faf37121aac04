"""Database stack: RDS PostgreSQL in the private subnets, reachable only through the database security group
(which admits only the tasks), encrypted, with its master password generated and kept by RDS in Secrets
Manager.
"""

from __future__ import annotations

from troposphere import GetAtt, Parameter, Ref, Sub, Template, iam, rds

from cloudformation import common
from cloudformation.environments import Environment
from cloudformation.policies import service_trust_policy

# A current major version. A bare "17" or a minor up to 17.4 is flagged as deprecated for new instances by
# cfn-lint 1.58.0's engine list; AutoMinorVersionUpgrade moves the instance past this minor afterwards.
ENGINE_VERSION = "17.6"
DATABASE_NAME = "orca"
MASTER_USERNAME = "orca"
# Seconds between enhanced-monitoring samples: 60 is the cheapest interval that still shows OS-level load.
MONITORING_INTERVAL = 60


def _metadata(env: Environment) -> dict[str, object]:
    """Checkov skips for what ``env`` deliberately leaves out, written into the resource so the reason travels
    with it."""
    skips = []
    if not env.db_multi_az:
        skips.append(
            {
                "id": "CKV_AWS_157",
                "comment": f"{env.name} is a disposable environment: single-AZ saves half the cost.",
            }
        )
    return {"checkov": {"skip": skips}} if skips else {}


def _add_parameters(t: Template) -> tuple[Parameter, Parameter]:
    subnets = common.add_string_parameter(
        t, common.PRIVATE_SUBNET_IDS, "Private subnets for the database", Type="List<AWS::EC2::Subnet::Id>"
    )
    group = common.add_string_parameter(
        t,
        common.DATABASE_SECURITY_GROUP_ID,
        "Security group that admits PostgreSQL from the tasks only",
        Type="AWS::EC2::SecurityGroup::Id",
    )
    return subnets, group


def _add_monitoring_role(t: Template, env: Environment) -> iam.Role:
    return t.add_resource(
        iam.Role(
            "MonitoringRole",
            AssumeRolePolicyDocument=service_trust_policy("monitoring.rds.amazonaws.com"),
            # Like every role a stack creates: the bootstrap's execution roles refuse to create one without it.
            PermissionsBoundary=common.permissions_boundary(),
            ManagedPolicyArns=[
                Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")
            ],
            Tags=common.tags(env.name, "rds-monitoring"),
        )
    )


def _add_instance(
    t: Template, env: Environment, subnets: Parameter, group: Parameter, monitoring: iam.Role
) -> rds.DBInstance:
    subnet_group = t.add_resource(
        rds.DBSubnetGroup(
            "DatabaseSubnetGroup",
            DBSubnetGroupDescription=f"Orca {env.name} database: private subnets only",
            SubnetIds=Ref(subnets),
            Tags=common.tags(env.name, "database"),
        )
    )
    db = rds.DBInstance(
        "Database",
        # Keep the data when the resource is deleted or has to be replaced.
        DeletionPolicy="Snapshot",
        UpdateReplacePolicy="Snapshot",
        Engine="postgres",
        EngineVersion=ENGINE_VERSION,
        AutoMinorVersionUpgrade=True,
        DBInstanceClass=env.db_instance_class,
        DBName=DATABASE_NAME,
        MasterUsername=MASTER_USERNAME,
        # RDS generates the password and keeps (and rotates) it in Secrets Manager: it never
        # appears in the template, a parameter or a variables file.
        ManageMasterUserPassword=True,
        AllocatedStorage=str(env.db_allocated_storage_gib),
        MaxAllocatedStorage=env.db_max_allocated_storage_gib,
        StorageType="gp3",
        StorageEncrypted=True,
        PubliclyAccessible=False,
        DBSubnetGroupName=Ref(subnet_group),
        VPCSecurityGroups=[Ref(group)],
        Port=str(common.DATABASE_PORT),
        MultiAZ=env.db_multi_az,
        DeletionProtection=env.deletion_protection,
        BackupRetentionPeriod=env.db_backup_retention_days,
        CopyTagsToSnapshot=True,
        EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=["postgresql", "upgrade"],
        MonitoringInterval=MONITORING_INTERVAL,
        MonitoringRoleArn=GetAtt(monitoring, "Arn"),
        Tags=common.tags(env.name, "database"),
    )
    if metadata := _metadata(env):
        db.Metadata = metadata
    return t.add_resource(db)


def _add_outputs(t: Template, db: rds.DBInstance) -> None:
    common.add_output(t, common.DATABASE_ENDPOINT, "Database host name", GetAtt(db, "Endpoint.Address"))
    common.add_output(t, common.DATABASE_PORT_OUTPUT, "Database port", GetAtt(db, "Endpoint.Port"))
    common.add_output(t, common.DATABASE_NAME, "Database name", DATABASE_NAME)
    common.add_output(
        t,
        common.DATABASE_SECRET_ARN,
        "Secrets Manager secret with the master user name and password (managed by RDS)",
        GetAtt(db, "MasterUserSecret.SecretArn"),
    )
    common.add_output(t, common.DATABASE_INSTANCE_ID, "DB instance identifier", Ref(db))


def build_template(env: Environment) -> Template:
    """Build the database stack for ``env``."""
    t = Template(Description=f"Orca {env.name}: PostgreSQL on RDS")
    subnets, group = _add_parameters(t)
    monitoring = _add_monitoring_role(t, env)
    db = _add_instance(t, env, subnets, group, monitoring)
    _add_outputs(t, db)
    return t
