"""orca-deploy: deploy Orca's nested CloudFormation stacks through a reviewed change set.

Usage: ``orca-deploy --env ENV --image-tag TAG --bucket BUCKET [options]``, or ``python -m scripts.deploy``,
or ``python scripts/deploy.py``. Exit codes: 0 deployed or nothing to do, 1 failed, 2 usage or configuration
error, 3 refused by a guard (stateful replacement, busy stack, no confirmation).
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if __package__ in (None, ""):
    # Run as a file (python scripts/deploy.py): make the project importable as it is for the console script.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.deployer.aws import explain, make_clients, resolve_region
from scripts.deployer.errors import ConfigError, DeployError
from scripts.deployer.flow import Options, deploy
from scripts.deployer.runtime import DEFAULT_POLL_INTERVAL, Runtime

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

    ClientFactory = Callable[[str], tuple[CloudFormationClient, S3Client]]

PROG = "orca-deploy"
EXIT_INTERRUPTED = 130
_ENV = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_CERTIFICATE_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:(?P<region>[a-z]{2}(-[a-z]+)+-\d):\d{12}:certificate/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
# ECR's rule: lowercase components separated by . _ - within and / between, 2 to 256 characters.
_IMAGE_REPOSITORY = re.compile(r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def build_parser() -> argparse.ArgumentParser:
    """The command line; argparse exits 2 on a usage error, like every other configuration error."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Deploy Orca's CloudFormation stacks through a reviewed change set.",
        epilog="Exit codes: 0 deployed or nothing to do, 1 failed, 2 usage or configuration error, "
        "3 refused by a guard.",
    )
    parser.add_argument("--env", required=True, help="environment name, e.g. test or prod")
    parser.add_argument("--image-tag", required=True, help="container image tag to deploy")
    parser.add_argument("--bucket", required=True, help="S3 bucket for the templates (in --region)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    parser.add_argument("--stack-name", help="root stack name (default: orca-ENV)")
    parser.add_argument(
        "--templates",
        type=Path,
        help="rendered templates directory (default: render with the cloudformation package)",
    )
    parser.add_argument("--prefix", help="S3 key prefix for templates (default: STACK-NAME/templates)")
    parser.add_argument("--yes", action="store_true", help="execute without asking")
    parser.add_argument("--no-execute", action="store_true", help="stop after the review (exit 0)")
    parser.add_argument(
        "--allow-replacement", action="store_true", help="allow removing or replacing stateful resources"
    )
    parser.add_argument("--summary", type=Path, metavar="FILE", help="write the review as Markdown to FILE")
    parser.add_argument(
        "--role-arn",
        metavar="ARN",
        help="IAM role CloudFormation acts as (the bootstrap's Test/ProdExecutionRoleArn); default: the caller",
    )
    parser.add_argument(
        "--certificate-arn",
        metavar="ARN",
        help="ACM certificate for the HTTPS listener (root CertificateArn); an empty value serves plain HTTP; "
        "default: keep the stack's current value",
    )
    parser.add_argument(
        "--image-repository",
        metavar="NAME",
        help="ECR repository the service pulls from (root ImageRepositoryName); "
        "default: keep the stack's current value",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between status polls (default: {DEFAULT_POLL_INTERVAL:g})",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return parser


def options_from_args(args: argparse.Namespace) -> Options:
    """Validate the arguments into deploy options.

    Raises:
        ConfigError: a value is malformed, or no region is configured.
    """
    if not _ENV.match(args.env):
        raise ConfigError(f"--env {args.env!r} is not a lowercase environment name")
    if not _IMAGE_TAG.match(args.image_tag):
        raise ConfigError(f"--image-tag {args.image_tag!r} is not a valid image tag")
    if not _BUCKET.match(args.bucket):
        raise ConfigError(f"--bucket {args.bucket!r} is not a valid S3 bucket name")
    if args.poll_interval < 0:
        raise ConfigError("--poll-interval must not be negative")
    if args.role_arn is not None and not _ROLE_ARN.match(args.role_arn):
        raise ConfigError(f"--role-arn {args.role_arn!r} is not an IAM role ARN")
    region = resolve_region(args.region)
    if args.certificate_arn:
        certificate = _CERTIFICATE_ARN.match(args.certificate_arn)
        if certificate is None:
            raise ConfigError(f"--certificate-arn {args.certificate_arn!r} is not an ACM certificate ARN")
        if certificate["region"] != region:
            raise ConfigError(f"--certificate-arn is in {certificate['region']}, the deploy is in {region}")
    if args.image_repository is not None and not _IMAGE_REPOSITORY.match(args.image_repository):
        raise ConfigError(f"--image-repository {args.image_repository!r} is not a valid ECR repository name")
    stack_name = args.stack_name or f"orca-{args.env}"
    if not _STACK_NAME.match(stack_name):
        raise ConfigError(f"--stack-name {stack_name!r} is not a valid CloudFormation stack name")
    return Options(
        env=args.env,
        image_tag=args.image_tag,
        bucket=args.bucket,
        region=region,
        stack_name=stack_name,
        prefix=(args.prefix or f"{stack_name}/templates").strip("/"),
        templates=args.templates,
        yes=args.yes,
        no_execute=args.no_execute,
        allow_replacement=args.allow_replacement,
        summary=args.summary,
        role_arn=args.role_arn,
        certificate_arn=args.certificate_arn,
        image_repository=args.image_repository,
    )


def main(
    argv: list[str] | None = None,
    *,
    runtime: Runtime | None = None,
    clients: ClientFactory | None = None,
) -> int:
    """Run the deploy tool and return its exit code.

    ``runtime`` and ``clients`` replace the terminal and the boto3 clients (tests pass a recording runtime and
    stubbed clients). Errors are reported as one line on stderr, never as a traceback (unless ``--debug``).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    runtime = replace(runtime or Runtime.terminal(), poll_interval=args.poll_interval)
    try:
        options = options_from_args(args)
        cfn, s3 = (clients or make_clients)(options.region)
        return deploy(options, cfn=cfn, s3=s3, runtime=runtime)
    except DeployError as e:
        print(f"{PROG}: {e}", file=runtime.err)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=runtime.err)
        return EXIT_INTERRUPTED
    except Exception as e:
        explained = explain(e)
        if args.debug:
            traceback.print_exc(file=runtime.err)
        if explained is not None:
            code, message = explained
        else:
            # A bug or an unexpected service answer: still one line, with the way to see more.
            code, message = 1, f"unexpected error: {type(e).__name__}: {e} (rerun with --debug for details)"
        print(f"{PROG}: {' '.join(message.split())}", file=runtime.err)
        return code


if __name__ == "__main__":
    sys.exit(main())
