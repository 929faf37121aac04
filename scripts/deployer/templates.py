"""Rendered templates: find the root and its children, upload them content-addressed, build root parameters.

The ``cloudformation`` package renders ``root.json`` plus one JSON per child stack; the root takes each
child's URL in a parameter whose name ends in ``TemplateUrl`` (any case) and the image in ``ImageTag``.
``render_templates`` is the one place that knows how to call it.

On an UPDATE, CloudFormation gives every parameter left out of the request its template *default*, so a value
set earlier (a certificate, the image repository) would silently reset on the next deploy. ``root_parameters``
therefore sends every root parameter the run does not set with ``UsePreviousValue`` when the stack has it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from scripts.deployer.aws import error_code
from scripts.deployer.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.type_defs import ParameterTypeDef
    from mypy_boto3_s3 import S3Client

ROOT_FILE = "root.json"
# Matched case-insensitively: the cloudformation package spells it TemplateUrl, AWS's docs TemplateURL.
TEMPLATE_URL_SUFFIX = "templateurl"
IMAGE_TAG_PARAMETER = "ImageTag"
IMAGE_REPOSITORY_PARAMETER = "ImageRepositoryName"
CERTIFICATE_PARAMETER = "CertificateArn"
ENVIRONMENT_PARAMETERS = ("Environment", "EnvironmentName", "Env")


@dataclass(frozen=True)
class Template:
    """One rendered template file."""

    path: Path
    body: bytes
    parameters: dict[str, dict[str, Any]]

    @property
    def sha256(self) -> str:
        """The hex digest that names the template in S3."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class TemplateSet:
    """The root template and, for each of its ``*TemplateUrl`` parameters, the child it points at."""

    root: Template
    children: dict[str, Template]


@dataclass(frozen=True)
class UploadedTemplates:
    """Where the templates are in S3."""

    root_url: str
    child_urls: dict[str, str]


def render_templates(env: str, out_dir: Path) -> None:
    """Render the templates for ``env`` into ``out_dir`` with ``python -m cloudformation``.

    A subprocess, not an import, because the package's command line is its published interface.

    Raises:
        ConfigError: the package is missing or rendering failed.
    """
    if importlib.util.find_spec("cloudformation.__main__") is None:
        raise ConfigError("no --templates given and the cloudformation package cannot render templates")
    result = subprocess.run(
        [sys.executable, "-m", "cloudformation", "--env", env, "--out", str(out_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no error output"])[-1]
        raise ConfigError(f"rendering the templates failed: {last}")


def _load(path: Path) -> Template:
    body = path.read_bytes()
    try:
        document = json.loads(body)
    except ValueError as e:
        raise ConfigError(f"{path} is not a JSON template: {e}") from e
    if not isinstance(document, dict) or "Resources" not in document:
        raise ConfigError(f"{path} is not a CloudFormation template (no Resources)")
    return Template(path=path, body=body, parameters=dict(document.get("Parameters", {})))


def _is_url_parameter(name: str) -> bool:
    return name.lower().endswith(TEMPLATE_URL_SUFFIX)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def load_templates(directory: Path) -> TemplateSet:
    """Read a rendered directory: ``root.json`` (or the only template with ``*TemplateUrl`` parameters) and
    the child for each such parameter (``DatabaseTemplateUrl`` -> ``database.json``, case and ``-_`` ignored).

    Raises:
        ConfigError: the directory, the root or a child is missing or not a template.
    """
    if not directory.is_dir():
        raise ConfigError(f"templates directory {directory} does not exist")
    templates = {path.name: _load(path) for path in sorted(directory.glob("*.json"))}
    if ROOT_FILE in templates:
        root = templates.pop(ROOT_FILE)
    else:
        roots = [name for name, t in templates.items() if any(_is_url_parameter(p) for p in t.parameters)]
        if len(roots) != 1:
            raise ConfigError(f"cannot tell the root template in {directory}: expected {ROOT_FILE}")
        root = templates.pop(roots[0])
    by_stem = {_normalise(t.path.stem): t for t in templates.values()}
    children: dict[str, Template] = {}
    for parameter in root.parameters:
        if not _is_url_parameter(parameter):
            continue
        child = by_stem.get(_normalise(parameter)[: -len(TEMPLATE_URL_SUFFIX)])
        if child is None:
            raise ConfigError(f"no template in {directory} for the root parameter {parameter}")
        children[parameter] = child
    return TemplateSet(root=root, children=children)


def template_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted S3 URL CloudFormation reads a template from."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def check_bucket(s3: S3Client, bucket: str, region: str) -> None:
    """Make sure the bucket exists and lives in the deploy's region (CloudFormation reads it from there).

    Raises:
        ConfigError: the bucket is missing, not ours to read, or in another region.
    """
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as e:
        code = error_code(e)
        if code in ("NoSuchBucket", "404"):
            raise ConfigError(f"bucket {bucket} does not exist") from e
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            raise ConfigError(f"bucket {bucket} is not accessible with these credentials") from e
        raise
    # "EU" is the legacy name of eu-west-1.
    location = "eu-west-1" if location == "EU" else location
    if location != region:
        raise ConfigError(f"bucket {bucket} is in {location}, not in {region}")


def _upload(s3: S3Client, bucket: str, key: str, body: bytes) -> bool:
    """Put ``body`` at ``key`` unless it is already there; content addressing makes the key its identity."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as e:
        if error_code(e) not in ("404", "NoSuchKey", "403"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return True


def upload_templates(
    s3: S3Client, templates: TemplateSet, *, bucket: str, region: str, prefix: str
) -> tuple[UploadedTemplates, int]:
    """Upload every template under ``<prefix>/<sha256>.json``; return their URLs and how many were new.

    An unchanged child keeps its key, hence its URL, hence shows no change in the change set.
    """
    check_bucket(s3, bucket, region)
    uploaded = 0
    child_urls: dict[str, str] = {}
    for parameter, child in templates.children.items():
        key = f"{prefix}/{child.sha256}.json"
        uploaded += _upload(s3, bucket, key, child.body)
        child_urls[parameter] = template_url(bucket, region, key)
    root_key = f"{prefix}/{templates.root.sha256}.json"
    uploaded += _upload(s3, bucket, root_key, templates.root.body)
    return UploadedTemplates(template_url(bucket, region, root_key), child_urls), uploaded


def root_parameters(
    templates: TemplateSet,
    uploaded: UploadedTemplates,
    *,
    env: str,
    image_tag: str,
    explicit: Mapping[str, str] | None = None,
    previous: Collection[str] | None = None,
) -> list[ParameterTypeDef]:
    """The root stack's parameters for one change set.

    Set by the run: the child URLs, ``ImageTag``, the environment name (if the root declares such a
    parameter) and ``explicit`` (root parameter name -> value, from options such as ``--certificate-arn``).
    Every other declared parameter is, for an UPDATE (``previous``: the parameter keys the existing stack
    has), sent with ``UsePreviousValue`` when the stack has it, so a value set earlier is kept; otherwise it is
    left out and takes the template's default.

    Raises:
        ConfigError: the root does not take ``ImageTag`` or an explicit parameter, or needs a value the tool
            does not have.
    """
    declared = templates.root.parameters
    if IMAGE_TAG_PARAMETER not in declared:
        raise ConfigError(f"the root template has no {IMAGE_TAG_PARAMETER} parameter")
    values = dict(uploaded.child_urls)
    values[IMAGE_TAG_PARAMETER] = image_tag
    for name in ENVIRONMENT_PARAMETERS:
        if name in declared:
            values[name] = env
    for name, value in (explicit or {}).items():
        if name not in declared:
            raise ConfigError(f"the root template has no {name} parameter")
        values[name] = value
    kept = sorted(n for n in declared if n not in values and previous is not None and n in previous)
    missing = sorted(n for n, spec in declared.items() if n not in values and n not in kept and "Default" not in spec)
    if missing:
        raise ConfigError(f"the root template needs values the deploy tool has none for: {', '.join(missing)}")
    parameters: list[ParameterTypeDef] = [
        {"ParameterKey": name, "ParameterValue": value} for name, value in values.items()
    ]
    parameters += [{"ParameterKey": name, "UsePreviousValue": True} for name in kept]
    return sorted(parameters, key=lambda p: p["ParameterKey"])
