"""Wait for the first 200 from a URL and print how long it took since a given moment.

usage: python3 wait_http.py URL --since-ns EPOCH_NS [--timeout SECONDS]

Prints the seconds from EPOCH_NS (e.g. `date +%s%N` taken just before `podman run`) to the first 200 and
exits 0; exits 1 if no 200 came within the timeout. Standard library only: it runs before any virtualenv
exists.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request

# Short enough to measure a start time to a few tens of milliseconds, long enough not to load the machine.
POLL_INTERVAL_S = 0.02


def first_ok(url: str, *, deadline_ns: int) -> int | None:
    """The time.time_ns() of the first 200 from URL, or None if none came before deadline_ns."""
    while time.time_ns() < deadline_ns:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (the URL is ours)
                if response.status == 200:
                    return time.time_ns()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(POLL_INTERVAL_S)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description="Wait for the first 200 from a URL.")
    parser.add_argument("url")
    parser.add_argument("--since-ns", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    ok_ns = first_ok(args.url, deadline_ns=args.since_ns + int(args.timeout * 1e9))
    if ok_ns is None:
        print(f"wait_http: no 200 from {args.url} within {args.timeout} s", file=sys.stderr)
        return 1
    print(f"{(ok_ns - args.since_ns) / 1e9:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
