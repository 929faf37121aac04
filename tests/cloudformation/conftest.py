"""Fixtures for the template tests: every environment rendered once, as parsed JSON."""

from __future__ import annotations

import json

import pytest

from cloudformation import environments, render
from tests.cloudformation.helpers import Template


@pytest.fixture(scope="session")
def rendered() -> dict[str, dict[str, Template]]:
    """environment name -> file name -> parsed template."""
    return {
        name: {file: json.loads(text) for file, text in render.render(env).items()}
        for name, env in environments.ENVIRONMENTS.items()
    }


@pytest.fixture(params=sorted(environments.ENVIRONMENTS))
def env_name(request: pytest.FixtureRequest) -> str:
    """Each environment in turn."""
    return str(request.param)
