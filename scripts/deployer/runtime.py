"""What the deploy tool needs from its surroundings: output streams, a clock, sleeping and a prompt.

Tests pass a runtime whose ``sleep`` records instead of sleeping, so polling loops run at full speed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO, TypeVar

from scripts.deployer.errors import DeployFailed

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = 5.0
# A nested RDS instance can take most of an hour to create or replace; give it generous room.
DEFAULT_TIMEOUT = 3 * 60 * 60.0


@dataclass(frozen=True)
class Runtime:
    """Streams and time sources, injected so the same code runs in a terminal and in tests."""

    out: TextIO
    err: TextIO
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    isatty: Callable[[], bool]
    ask: Callable[[str], str]
    poll_interval: float = DEFAULT_POLL_INTERVAL
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def terminal(cls) -> Runtime:
        """The runtime of an interactive or CI process: real streams, real time, stdin prompts."""
        return cls(
            out=sys.stdout,
            err=sys.stderr,
            sleep=time.sleep,
            clock=time.monotonic,
            isatty=lambda: sys.stdin.isatty() and sys.stdout.isatty(),
            ask=input,
        )

    def say(self, line: str = "") -> None:
        """Print a progress or review line on the output stream, flushed so CI logs stay live."""
        print(line, file=self.out, flush=True)

    def warn(self, line: str) -> None:
        """Print a warning on the error stream."""
        print(f"warning: {line}", file=self.err, flush=True)

    def poll(self, check: Callable[[], T | None], what: str) -> T:
        """Call ``check`` every ``poll_interval`` seconds until it returns a value.

        Raises:
            DeployFailed: ``timeout`` seconds passed first.
        """
        deadline = self.clock() + self.timeout
        while True:
            result = check()
            if result is not None:
                return result
            if self.clock() >= deadline:
                raise DeployFailed(f"timed out after {self.timeout:.0f} s waiting for {what}")
            self.sleep(self.poll_interval)
