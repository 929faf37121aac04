"""A PostgreSQL server that the test suite starts, stops and restarts itself, from pgserver's binaries.

Used when ``ORCA_TEST_DATABASE_URL`` is not set (a fresh machine), and always for the tests that take the
database away while the service runs. It listens on 127.0.0.1 on a free port, so that subprocesses (the
service under test, ``orca migrate``) reach it like any remote server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import psycopg
from psycopg.conninfo import make_conninfo

# PostgreSQL refuses to run as root; pgserver creates this unprivileged user for its own servers.
SYSTEM_USER: Final = "pgserver"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalPostgres:
    """One PostgreSQL server in a temporary directory, on 127.0.0.1:``port``, trust authentication."""

    def __init__(self, *, password: str | None = None) -> None:
        """Initialise the cluster; with ``password``, TCP clients must give it (SCRAM), the socket stays trusted."""
        from pgserver._commands import POSTGRES_BIN_PATH  # a wheel's private path: the one place we name it

        self.bin = Path(POSTGRES_BIN_PATH)
        self.root = Path(tempfile.mkdtemp(prefix="orca-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            ensure_user_exists(SYSTEM_USER)
            self._user = SYSTEM_USER
            shutil.chown(self.root, SYSTEM_USER)
            self.root.chmod(0o755)
        auth = ["--auth=trust"]
        if password is not None:
            pwfile = self.root / "pw"
            pwfile.write_text(password)
            if self._user:
                shutil.chown(pwfile, self._user)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        self._run("initdb", "-D", str(self.data), *auth, "-U", "postgres", "--encoding=UTF8")
        atexit.register(self.destroy)

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        """A libpq connection string for ``dbname`` on this server."""
        extra = {"password": password} if password is not None else {}
        return make_conninfo(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, **extra)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=300"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server at once, disconnecting every client (an outage, as the service sees it)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop every process of the server (SIGSTOP) for the block: it stops answering, as behind a partition."""
        pids = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-f", str(self.data)], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        pids += [
            int(p)
            for pid in pids
            for p in subprocess.run(
                ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
            ).stdout.split()
        ]
        for pid in set(pids):
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in set(pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        """Whether the server accepts connections."""
        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                [self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"],
                user=self._user,
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.destroy)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin / program), *args], user=self._user, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            log = self.root / "log"
            detail = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr.strip()}\n{detail[-2000:]}")
