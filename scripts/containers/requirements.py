"""Print the runtime requirements in setup.cfg, one per line, for `pip install -r` in the image build.

usage: python3 requirements.py SETUP_CFG [--exclude NAME ...]

Runs with the bare Python of the build stage: standard library only.
"""

from __future__ import annotations

import argparse
import configparser
import re


def requirements(setup_cfg: str, exclude: set[str]) -> list[str]:
    """The `install_requires` lines of SETUP_CFG whose distribution name is not in EXCLUDE."""
    parser = configparser.ConfigParser()
    if not parser.read(setup_cfg):
        raise SystemExit(f"requirements.py: cannot read {setup_cfg}")
    lines = [line.strip() for line in parser["options"]["install_requires"].splitlines()]
    wanted = {_normalize(name) for name in exclude}
    return [line for line in lines if line and _normalize(re.split(r"[\s\[<>=!~;]", line)[0]) not in wanted]


def _normalize(name: str) -> str:
    # PEP 503: names compare case-insensitively with runs of -, _ and . equivalent.
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the runtime requirements declared in setup.cfg.")
    parser.add_argument("setup_cfg")
    parser.add_argument("--exclude", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    print("\n".join(requirements(args.setup_cfg, set(args.exclude))))


if __name__ == "__main__":
    main()
