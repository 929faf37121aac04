"""One deploy, in order: prepare, change set, review, guard, confirm, execute, follow, protect.

Whatever happens after the change set is created, ``discard`` runs: no run leaves a change set behind.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.deployer import protection
from scripts.deployer.changeset import (
    ChangeSetRef,
    collect_changes,
    create_change_set,
    discard,
    is_no_change,
    wait_for_change_set,
)
from scripts.deployer.errors import DeployFailed, Refused
from scripts.deployer.events import follow_stack, latest_event_time, stack_outputs
from scripts.deployer.review import Review, build_review, format_markdown, format_table
from scripts.deployer.runtime import Runtime
from scripts.deployer.stacks import prepare_stack
from scripts.deployer.templates import (
    CERTIFICATE_PARAMETER,
    IMAGE_REPOSITORY_PARAMETER,
    TemplateSet,
    load_templates,
    render_templates,
    root_parameters,
    upload_templates,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import TagTypeDef
    from mypy_boto3_s3 import S3Client

PROJECT_TAG = "orca"


@dataclass(frozen=True)
class Options:
    """What to deploy where, and how careful to be; built from the command line."""

    env: str
    image_tag: str
    bucket: str
    region: str
    stack_name: str
    prefix: str
    templates: Path | None = None
    yes: bool = False
    no_execute: bool = False
    allow_replacement: bool = False
    summary: Path | None = None
    role_arn: str | None = None
    certificate_arn: str | None = None
    image_repository: str | None = None


def _templates(options: Options) -> TemplateSet:
    if options.templates is not None:
        return load_templates(options.templates)
    with tempfile.TemporaryDirectory(prefix="orca-templates-") as out:
        render_templates(options.env, Path(out))
        # Bodies are read into memory, so the directory may go.
        return load_templates(Path(out))


def _explicit_parameters(options: Options) -> dict[str, str]:
    """Root parameters set by options; the others keep their previous value on an UPDATE."""
    explicit: dict[str, str] = {}
    if options.certificate_arn is not None:
        explicit[CERTIFICATE_PARAMETER] = options.certificate_arn
    if options.image_repository is not None:
        explicit[IMAGE_REPOSITORY_PARAMETER] = options.image_repository
    return explicit


def _write_summary(options: Options, review: Review, outcome: str) -> None:
    if options.summary is not None:
        options.summary.write_text(format_markdown(review, outcome), encoding="utf-8")


def _confirm(options: Options, review: Review, runtime: Runtime) -> None:
    if options.yes:
        return
    if not runtime.isatty():
        raise Refused("no terminal to confirm on: pass --yes to execute without asking")
    answer = runtime.ask(f"Execute this change set on {review.stack_name}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed: nothing was changed")


def deploy(options: Options, *, cfn: CloudFormationClient, s3: S3Client, runtime: Runtime) -> int:
    """Run one deploy and return the exit code (0 deployed or nothing to do, 1 failed).

    Raises:
        ConfigError: templates, bucket or parameters are wrong (exit 2).
        Refused: a guard stopped the deploy (exit 3).
        DeployFailed: the change set could not be created or computed (exit 1).
    """
    templates = _templates(options)
    uploaded, new = upload_templates(s3, templates, bucket=options.bucket, region=options.region, prefix=options.prefix)
    runtime.say(f"Templates in s3://{options.bucket}/{options.prefix}/ ({new} new, content-addressed).")
    prepared = prepare_stack(cfn, options.stack_name, runtime)
    change_set_type = prepared.change_set_type
    parameters = root_parameters(
        templates,
        uploaded,
        env=options.env,
        image_tag=options.image_tag,
        explicit=_explicit_parameters(options),
        previous=prepared.parameter_keys,
    )
    tags: list[TagTypeDef] = [
        {"Key": "Project", "Value": PROJECT_TAG},
        {"Key": "Environment", "Value": options.env},
    ]
    ref = create_change_set(
        cfn,
        stack_name=options.stack_name,
        change_set_type=change_set_type,
        template_url=uploaded.root_url,
        parameters=parameters,
        tags=tags,
        role_arn=options.role_arn,
    )
    run = _Run(ref)
    try:
        return _review_and_execute(options, cfn, run, runtime)
    finally:
        discard(cfn, ref, executed=run.executed, runtime=runtime)


@dataclass
class _Run:
    ref: ChangeSetRef
    executed: bool = False


def _review_and_execute(options: Options, cfn: CloudFormationClient, run: _Run, runtime: Runtime) -> int:
    """Everything between creating the change set and discarding it; returns the exit code."""
    ref = run.ref
    described = wait_for_change_set(cfn, ref, runtime)
    if is_no_change(described):
        review = Review(options.stack_name, ref.change_set_type, (), ())
        runtime.say(f"No changes to stack {options.stack_name}: nothing to do.")
        _write_summary(options, review, "No changes: nothing would change.")
        return 0
    if described["Status"] != "CREATE_COMPLETE":
        reason = described.get("StatusReason", "no reason given")
        raise DeployFailed(f"the change set failed: {reason}")

    review = build_review(
        cfn,
        stack_name=options.stack_name,
        change_set_type=ref.change_set_type,
        changes=collect_changes(cfn, described, options.stack_name),
    )
    runtime.say(format_table(review))
    if review.guarded and not options.allow_replacement:
        names = ", ".join(f"{c.stack}/{c.logical_id}" for c in review.guarded)
        _write_summary(options, review, f"Refused: would remove or replace stateful resources ({names}).")
        raise Refused(f"refusing to remove or replace stateful resources ({names}); see --allow-replacement")
    if options.no_execute:
        would = "Changes would be applied" if review.changes else "Nothing would change"
        _write_summary(options, review, f"Not executed (--no-execute). {would}.")
        runtime.say(f"Not executed (--no-execute). {would}.")
        return 0
    if described.get("ExecutionStatus") != "AVAILABLE":
        raise DeployFailed(f"the change set cannot be executed ({described.get('ExecutionStatus')})")
    _confirm(options, review, runtime)

    if review.guarded and ref.change_set_type == "UPDATE":
        # Once lifting starts the database may be unprotected: put the policies back on every way out (an
        # error, a timeout, an interrupt, a lift that stopped halfway). A success has protected the tree again.
        code = 1
        try:
            protection.lift(cfn, ref.stack_id, runtime)
            code = _execute(options, cfn, run, review, runtime)
        finally:
            if code != 0:
                _restore_protection(cfn, ref.stack_id, options.env, runtime)
        return code
    return _execute(options, cfn, run, review, runtime)


def _execute(options: Options, cfn: CloudFormationClient, run: _Run, review: Review, runtime: Runtime) -> int:
    """Execute the change set, follow it and report; protect the tree after a success. Returns the exit code."""
    ref = run.ref
    since = latest_event_time(cfn, ref.stack_id)
    cfn.execute_change_set(ChangeSetName=ref.arn)
    run.executed = True
    runtime.say(f"Executing change set on {options.stack_name}...")
    outcome = follow_stack(
        cfn, ref.stack_id, label=options.stack_name, since=since, total=len(review.changes), runtime=runtime
    )
    if outcome.succeeded:
        protection.protect(cfn, ref.stack_id, env=options.env, runtime=runtime)
        runtime.say(f"Deployed: {options.stack_name} is {outcome.status}.")
        for key, value in stack_outputs(cfn, ref.stack_id):
            runtime.say(f"  {key} = {value}")
        _write_summary(options, review, f"Deployed: {outcome.status}.")
        return 0
    runtime.say(f"FAILED: {options.stack_name} is {outcome.status}.")
    for failure in outcome.failures:
        runtime.say(f"  {failure}")
    runtime.say(f"Rollback: {outcome.rollback}.")
    _write_summary(options, review, f"Failed: {outcome.status}; {outcome.rollback}.")
    return 1


def _restore_protection(cfn: CloudFormationClient, stack_id: str, env: str, runtime: Runtime) -> None:
    """Best effort: set the protective policies again after they were lifted and the execution did not succeed.

    Runs while another error may be on its way out, so it reports (one line) instead of raising; the run's exit
    code is non-zero either way.
    """
    # After a failed execution the tree may be half rolled back; report, do not hide the failure.
    try:
        protection.protect(cfn, stack_id, env=env, runtime=runtime)
    except Exception as e:  # never replace the error that got us here
        reason = " ".join(str(e).split()) or type(e).__name__
        runtime.warn(f"could not restore the stack policies; the database stays unprotected: {reason}")
