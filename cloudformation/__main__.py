"""Command line: ``python -m cloudformation --env ENV --out DIR`` renders an environment's templates, and
``python -m cloudformation --bootstrap --out DIR`` the one-time bootstrap stack.

Bad input ends with a one-line message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from cloudformation import bootstrap, environments, render

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the usage block too; one line is easier to read in CI logs.
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m cloudformation", description="Render Orca's CloudFormation templates.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--env", help=f"environment to render ({', '.join(sorted(environments.ENVIRONMENTS))})")
    target.add_argument("--bootstrap", action="store_true", help="render the one-time bootstrap stack")
    parser.add_argument("--out", required=True, type=Path, help="directory to write the templates into")
    parser.add_argument(
        "--local-template-urls",
        action="store_true",
        help="point the root at its children by relative path (for cfn-lint), not through URL parameters",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render the requested templates; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.bootstrap:
            files = {bootstrap.TEMPLATE_NAME: render.to_json(bootstrap.build_template())}
        else:
            files = render.render(environments.get(args.env), local_template_urls=args.local_template_urls)
        render.write(files, args.out)
    except (environments.InvalidEnvironment, OSError) as e:
        parser.error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
