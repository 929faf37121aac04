"""Fixtures for the deploy tool: fake AWS credentials, moto, small templates and a recording runtime.

moto silently skips resources it does not support; any warning it logs fails the test that caused it, so a
fixture template cannot drift outside what moto really implements.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts.deploy import main
from scripts.deployer.runtime import Runtime

REGION = "eu-west-1"
BUCKET = "orca-templates-test"
ENV = "test"
STACK = "orca-test"


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region; no profile, config file or instance metadata can leak in."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def moto_warnings_fail(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on moto's warnings, e.g. "Tried to parse AWS::X but it's not supported by moto"."""
    caplog.set_level(logging.WARNING, logger="moto")
    yield
    # After the yield caplog.records is the teardown's; the test's own records are the "call" phase's.
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    complaints = [r.getMessage() for r in records if r.name.startswith("moto") and r.levelno >= logging.WARNING]
    if complaints:
        pytest.fail("moto warned: " + "; ".join(complaints))


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process, with the templates bucket in the deploy region."""
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield


def database_template(*, db_name: str = "orca") -> dict[str, Any]:
    """A child with a stateful RDS instance and a log group."""
    return {
        "Resources": {
            "Database": {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "DBInstanceClass": "db.t4g.micro",
                    "Engine": "postgres",
                    "AllocatedStorage": "20",
                    "DBName": db_name,
                    "MasterUsername": "orca",
                    "MasterUserPassword": "not-a-real-password",
                },
            },
            "DatabaseLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        }
    }


def root_template() -> dict[str, Any]:
    """A root with one nested database stack; ImageTag names a topic so a new tag is a change."""
    return {
        "Parameters": {
            "DatabaseTemplateUrl": {"Type": "String"},
            "ImageTag": {"Type": "String"},
            "Environment": {"Type": "String"},
            # As in the rendered root: left out of an update, they would reset to these defaults.
            "CertificateArn": {"Type": "String", "Default": ""},
            "ImageRepositoryName": {"Type": "String", "Default": "orca"},
        },
        "Resources": {
            "DatabaseStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": {"Ref": "DatabaseTemplateUrl"}},
            },
            "Releases": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Join": ["-", [{"Ref": "Environment"}, {"Ref": "ImageTag"}]]}},
            },
        },
        "Outputs": {"ServiceUrl": {"Value": "https://orca.example.test"}},
    }


def write_templates(directory: Path, *, db_name: str = "orca") -> Path:
    """Render the fixture templates into ``directory`` as the cloudformation package would."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "root.json").write_text(json.dumps(root_template(), indent=2))
    (directory / "database.json").write_text(json.dumps(database_template(db_name=db_name), indent=2))
    return directory


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A rendered templates directory."""
    return write_templates(tmp_path / "templates")


@dataclass
class Recorder:
    """A runtime that records output, sleeps and prompts instead of touching the terminal."""

    tty: bool = False
    answer: str = ""
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)
    sleeps: list[float] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    now: float = 0.0

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def _ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.answer

    def runtime(self) -> Runtime:
        return Runtime(
            out=self.out,
            err=self.err,
            sleep=self._sleep,
            clock=lambda: self.now,
            isatty=lambda: self.tty,
            ask=self._ask,
        )


@dataclass
class Result:
    """What one run of the command line returned and printed."""

    code: int
    out: str
    err: str


def run_cli(*args: str, recorder: Recorder | None = None, clients: Any = None, base: bool = True) -> Result:
    """Run ``orca-deploy`` in-process with the usual options plus ``args``; never sleeps."""
    recorder = recorder or Recorder()
    argv = [*(["--env", ENV, "--bucket", BUCKET, "--region", REGION] if base else []), *args]
    if "--poll-interval" not in argv:
        argv += ["--poll-interval", "1"]
    code = main(argv, runtime=recorder.runtime(), clients=clients)
    return Result(code, recorder.out.getvalue(), recorder.err.getvalue())
