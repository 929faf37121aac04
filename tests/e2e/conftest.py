"""Where the black-box suite finds the service.

``ORCA_BASE_URL`` names a running deployment: the container in ``scripts/image_check.sh``, the test
environment in the integration stage, prod in the end-to-end stage. When it is unset (``make test``), the
suite starts the service itself as a subprocess on a free port against the session's database, and checks
that it stops cleanly on SIGTERM.

The tests speak HTTP only and import nothing from ``orca``, so that they judge a deployment and not the code
they were written against. They never assume an empty table or a quiet service: each test finds its own
entries by a unique token in the path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

# Time for a subprocess to migrate an empty database and answer /_livez; generous for a loaded CI machine.
START_TIMEOUT_S = 30.0
# Longer than the service's own graceful drain, shorter than anyone's patience.
STOP_TIMEOUT_S = 30.0
# A deployment behind a load balancer may add a hop or a cold connection; no request here should take longer.
REQUEST_TIMEOUT_S = 10.0


@pytest.fixture(scope="session")
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The service's base URL, without a trailing slash."""
    configured = os.environ.get("ORCA_BASE_URL", "").strip()
    if configured:
        yield configured.rstrip("/")
        return
    database_url: str = request.getfixturevalue("database_url")
    yield from _local_service(database_url)


@pytest.fixture(scope="session")
def is_local(base_url: str) -> bool:
    """Whether the service runs on this machine, reached directly: then the client IP it logs is loopback and
    no proxy adds an X-Forwarded-For of its own."""
    return urlsplit(base_url).hostname in {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, follow_redirects=False) as client:
        yield client


@pytest.fixture
def token() -> str:
    """A path segment no other request carries, to find this test's entries among everyone's."""
    return f"e2e-{uuid.uuid4().hex}"


def _local_service(database_url: str) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url}
    # The socket peer is the client: the spoofing tests rely on the default of trusting no proxy.
    env.pop("ORCA_TRUSTED_PROXIES", None)
    with tempfile.TemporaryFile(mode="w+") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "orca", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            _wait_live(url, process, output)
            yield url
        finally:
            code = _stop(process)
        output.seek(0)
        assert code == 0, f"the service exited with {code} on SIGTERM:\n{output.read()[-4000:]}"


def _wait_live(url: str, process: subprocess.Popen[bytes], output: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output.seek(0)
            raise RuntimeError(f"the service exited with {process.returncode}:\n{output.read()[-4000:]}")
        try:
            if httpx.get(f"{url}/_livez", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no 200 from {url}/_livez within {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
