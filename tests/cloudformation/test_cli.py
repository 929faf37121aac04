"""The command line and the committed templates: deterministic, fast, up to date, and polite about bad input."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudformation import __main__ as cli
from cloudformation import bootstrap, environments, render

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "cloudformation" / "templates"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudformation", *args], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_renders_root_and_every_child(tmp_path: Path) -> None:
    assert cli.main(["--env", "test", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alarms.json",
        "autoscaling.json",
        "database.json",
        "network.json",
        "root.json",
        "service.json",
    ]


def test_rendering_twice_is_byte_identical(tmp_path: Path) -> None:
    for run in ("a", "b"):
        for name in environments.ENVIRONMENTS:
            assert cli.main(["--env", name, "--out", str(tmp_path / run / name)]) == 0
    first = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*.json")}
    second = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*.json")}
    assert first == second


def test_rendering_both_environments_takes_under_three_seconds(tmp_path: Path) -> None:
    started = time.perf_counter()
    for name in environments.ENVIRONMENTS:
        result = _run("--env", name, "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 3


@pytest.mark.parametrize("env_name", sorted(environments.ENVIRONMENTS))
def test_committed_templates_are_up_to_date(env_name: str) -> None:
    expected = render.render(environments.get(env_name))
    committed = {p.name: p.read_text(encoding="utf-8") for p in (COMMITTED / env_name).glob("*.json")}
    assert committed == expected, f"stale templates: run `make templates` and commit {COMMITTED / env_name}"


def test_committed_bootstrap_template_is_up_to_date() -> None:
    committed = (COMMITTED / "bootstrap" / bootstrap.TEMPLATE_NAME).read_text(encoding="utf-8")
    assert committed == render.to_json(bootstrap.build_template()), "stale bootstrap: run `make templates`"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "staging", "--out", "x"], "unknown environment 'staging'"),
        (["--out", "x"], "one of the arguments --env --bootstrap is required"),
        (["--env", "test"], "the following arguments are required: --out"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_output_exits_2_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run("--env", "test", "--out", str(blocker / "sub"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_invalid_environment_stops_the_build_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(name: str) -> environments.Environment:
        raise environments.InvalidEnvironment(f"{name}: min_count 5 is above max_count 4")

    monkeypatch.setattr(environments, "get", broken)
    with pytest.raises(SystemExit) as exited:
        cli.main(["--env", "test", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "python -m cloudformation: error: test: min_count 5 is above max_count 4\n"
