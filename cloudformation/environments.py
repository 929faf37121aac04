"""The deployment environments, described in one place, and the checks that stop a bad one at build time.

Every value that differs between ``test`` and ``prod`` lives in :data:`ENVIRONMENTS`. Deploy-time values (the
image tag, and the certificate when it is not known here) are root parameters instead; see ``root.py``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_REGION = "us-east-2"

# Fargate's valid task sizes: CPU units -> allowed memory in MiB
# (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size).
FARGATE_SIZES: dict[int, frozenset[int]] = {
    256: frozenset({512, 1024, 2048}),
    512: frozenset(range(1024, 4096 + 1, 1024)),
    1024: frozenset(range(2048, 8192 + 1, 1024)),
    2048: frozenset(range(4096, 16384 + 1, 1024)),
    4096: frozenset(range(8192, 30720 + 1, 1024)),
    8192: frozenset(range(16384, 61440 + 1, 4096)),
    16384: frozenset(range(32768, 122880 + 1, 8192)),
}

# Nominal memory (GiB) of the instance classes we allow. RDS PostgreSQL's default max_connections is
# LEAST(DBInstanceClassMemory / 9531392, 5000), and DBInstanceClassMemory is what is left after the OS and
# RDS's own processes: about three quarters of the nominal figure on small classes (a db.t4g.micro
# reports ~80-90).
DB_INSTANCE_MEMORY_GIB: dict[str, float] = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.r7g.large": 16,
}
_USABLE_MEMORY_FRACTION = 0.75
_BYTES_PER_CONNECTION = 9531392
_MAX_CONNECTIONS_CAP = 5000

# Connections kept free beyond the service's pools: 3 superuser-reserved + 2 rds_superuser-reserved slots, a
# migration run during a deploy and a couple of operators with psql.
CONNECTION_HEADROOM = 10

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_LOG_RETENTION_DAYS = frozenset({1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827})
_LOG_LEVELS = frozenset({"debug", "info", "warning", "error"})


class InvalidEnvironment(ValueError):
    """An environment description is invalid; the message is one line, fit for the command line."""


@dataclass(frozen=True)
class Environment:
    """Everything that differs between two deployments of Orca."""

    name: str
    alarm_email: str
    region: str = DEFAULT_REGION
    vpc_cidr: str = "10.0.0.0/16"
    public_subnet_cidrs: tuple[str, str] = ("10.0.0.0/24", "10.0.1.0/24")
    private_subnet_cidrs: tuple[str, str] = ("10.0.10.0/24", "10.0.11.0/24")
    # Fargate task size: CPU units and MiB.
    task_cpu: int = 256
    task_memory: int = 512
    desired_count: int = 2
    min_count: int = 2
    max_count: int = 4
    # psycopg_pool max_size per task (ORCA_POOL_MAX_SIZE).
    pool_max_size: int = 10
    db_instance_class: str = "db.t4g.micro"
    db_allocated_storage_gib: int = 20
    db_max_allocated_storage_gib: int = 100
    db_multi_az: bool = False
    db_backup_retention_days: int = 7
    # Deletion protection of the database and the load balancer.
    deletion_protection: bool = False
    log_retention_days: int = 30
    log_level: str = "info"
    # Default of the root's CertificateArn parameter; empty means plain HTTP on port 80.
    certificate_arn: str | None = None

    def __post_init__(self) -> None:
        validate(self)

    @property
    def max_connections(self) -> int:
        """The database's default ``max_connections`` for this instance class (a conservative estimate)."""
        return max_connections(self.db_instance_class)

    @property
    def connections_needed(self) -> int:
        """Connections the service may open at full scale, plus headroom."""
        return self.max_count * self.pool_max_size + CONNECTION_HEADROOM


def max_connections(instance_class: str) -> int:
    """Estimate RDS PostgreSQL's default ``max_connections`` for an instance class."""
    usable = DB_INSTANCE_MEMORY_GIB[instance_class] * 1024**3 * _USABLE_MEMORY_FRACTION
    return min(int(usable // _BYTES_PER_CONNECTION), _MAX_CONNECTIONS_CAP)


def _check_cidrs(env: Environment) -> None:
    def network(value: str, what: str) -> ipaddress.IPv4Network:
        try:
            return ipaddress.IPv4Network(value)
        except ValueError as e:
            raise InvalidEnvironment(f"{env.name}: {what} {value!r} is not a valid IPv4 CIDR ({e})") from e

    vpc = network(env.vpc_cidr, "vpc_cidr")
    subnets = [network(c, "subnet") for c in (*env.public_subnet_cidrs, *env.private_subnet_cidrs)]
    for subnet in subnets:
        if not subnet.subnet_of(vpc):
            raise InvalidEnvironment(f"{env.name}: subnet {subnet} is outside the VPC {vpc}")
    for i, a in enumerate(subnets):
        for b in subnets[i + 1 :]:
            if a.overlaps(b):
                raise InvalidEnvironment(f"{env.name}: subnets {a} and {b} overlap")


def _check_counts(env: Environment) -> None:
    if env.min_count < 1:
        raise InvalidEnvironment(f"{env.name}: min_count must be at least 1, got {env.min_count}")
    if env.min_count > env.max_count:
        raise InvalidEnvironment(f"{env.name}: min_count {env.min_count} is above max_count {env.max_count}")
    if not env.min_count <= env.desired_count <= env.max_count:
        raise InvalidEnvironment(
            f"{env.name}: desired_count {env.desired_count} is outside {env.min_count}..{env.max_count}"
        )
    if env.pool_max_size < 1:
        raise InvalidEnvironment(f"{env.name}: pool_max_size must be at least 1, got {env.pool_max_size}")


def _check_fargate(env: Environment) -> None:
    allowed = FARGATE_SIZES.get(env.task_cpu)
    if allowed is None:
        raise InvalidEnvironment(
            f"{env.name}: task_cpu {env.task_cpu} is not a Fargate size (one of {sorted(FARGATE_SIZES)})"
        )
    if env.task_memory not in allowed:
        raise InvalidEnvironment(
            f"{env.name}: task_memory {env.task_memory} MiB is not valid with task_cpu {env.task_cpu} "
            f"(allowed {min(allowed)}..{max(allowed)} MiB)"
        )


def _check_database(env: Environment) -> None:
    if env.db_instance_class not in DB_INSTANCE_MEMORY_GIB:
        raise InvalidEnvironment(
            f"{env.name}: db_instance_class {env.db_instance_class!r} is not one of {sorted(DB_INSTANCE_MEMORY_GIB)}"
        )
    if not 20 <= env.db_allocated_storage_gib <= env.db_max_allocated_storage_gib:
        raise InvalidEnvironment(
            f"{env.name}: db storage must satisfy 20 <= allocated ({env.db_allocated_storage_gib}) "
            f"<= max allocated ({env.db_max_allocated_storage_gib}) GiB"
        )
    if not 1 <= env.db_backup_retention_days <= 35:
        raise InvalidEnvironment(
            f"{env.name}: db_backup_retention_days must be 1..35, got {env.db_backup_retention_days}"
        )
    needed, available = env.connections_needed, env.max_connections
    if needed > available:
        raise InvalidEnvironment(
            f"{env.name}: {env.max_count} tasks x pool {env.pool_max_size} + headroom {CONNECTION_HEADROOM} "
            f"= {needed} connections exceeds max_connections {available} of {env.db_instance_class} "
            f"by {needed - available}"
        )


def _check_misc(env: Environment) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", env.name):
        raise InvalidEnvironment(f"environment name {env.name!r} must be 1-16 lowercase letters or digits")
    if not _EMAIL.match(env.alarm_email):
        raise InvalidEnvironment(f"{env.name}: alarm_email {env.alarm_email!r} is not an e-mail address")
    if env.certificate_arn is not None and not _CERTIFICATE_ARN.match(env.certificate_arn):
        raise InvalidEnvironment(f"{env.name}: certificate_arn {env.certificate_arn!r} is not an ACM ARN")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", env.region):
        raise InvalidEnvironment(f"{env.name}: region {env.region!r} is not an AWS region name")
    if env.log_retention_days not in _LOG_RETENTION_DAYS:
        raise InvalidEnvironment(
            f"{env.name}: log_retention_days {env.log_retention_days} is not one CloudWatch Logs accepts"
        )
    if env.log_level not in _LOG_LEVELS:
        raise InvalidEnvironment(f"{env.name}: log_level {env.log_level!r} is not one of {sorted(_LOG_LEVELS)}")


def validate(env: Environment) -> None:
    """Raise :class:`InvalidEnvironment` with a one-line message when ``env`` is unusable."""
    _check_misc(env)
    _check_cidrs(env)
    _check_counts(env)
    _check_fargate(env)
    _check_database(env)


ENVIRONMENTS: dict[str, Environment] = {
    # Smallest shape that still runs two tasks in two AZs, so deploys and failover behave as in prod.
    "test": Environment(
        name="test",
        alarm_email="orca-alerts-test@example.com",
        vpc_cidr="10.10.0.0/16",
        public_subnet_cidrs=("10.10.0.0/24", "10.10.1.0/24"),
        private_subnet_cidrs=("10.10.10.0/24", "10.10.11.0/24"),
        task_cpu=256,
        task_memory=512,
        desired_count=2,
        min_count=2,
        max_count=4,
        pool_max_size=10,  # 4 x 10 + 10 = 50 of ~84 on a db.t4g.micro
        db_instance_class="db.t4g.micro",
        db_allocated_storage_gib=20,
        db_max_allocated_storage_gib=50,
        db_multi_az=False,
        db_backup_retention_days=7,
        deletion_protection=False,
        log_retention_days=30,
        log_level="debug",
    ),
    "prod": Environment(
        name="prod",
        alarm_email="orca-alerts@example.com",
        vpc_cidr="10.20.0.0/16",
        public_subnet_cidrs=("10.20.0.0/24", "10.20.1.0/24"),
        private_subnet_cidrs=("10.20.10.0/24", "10.20.11.0/24"),
        task_cpu=512,
        task_memory=1024,
        desired_count=2,
        min_count=2,
        max_count=10,
        pool_max_size=20,  # 10 x 20 + 10 = 210 of ~337 on a db.t4g.medium
        db_instance_class="db.t4g.medium",
        db_allocated_storage_gib=50,
        db_max_allocated_storage_gib=200,
        db_multi_az=True,
        db_backup_retention_days=14,
        deletion_protection=True,
        log_retention_days=90,
        log_level="info",
    ),
}


def get(name: str) -> Environment:
    """Return the named environment or raise :class:`InvalidEnvironment`."""
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise InvalidEnvironment(
            f"unknown environment {name!r}; expected one of {', '.join(sorted(ENVIRONMENTS))}"
        ) from None
