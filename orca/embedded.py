"""The embedded PostgreSQL (pgserver) for running on a laptop with no set-up.

Its data lives in ``.orca/pgdata`` under the working directory and survives restarts. It listens on a unix
socket only. The server is stopped when the process that started it exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Final

from orca.errors import EmbeddedDatabaseError

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR: Final = Path(".orca")


def start(state_dir: Path = DEFAULT_STATE_DIR) -> str:
    """Start (or reuse) the embedded server whose data lives in ``state_dir/pgdata``; return its URL.

    Raises:
        EmbeddedDatabaseError: pgserver is missing or the server did not start.
    """
    state_dir = state_dir.resolve()
    runtime_dir = state_dir / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # pgserver keeps its lock file in the user's runtime directory, and warns when XDG_RUNTIME_DIR is unset.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # heavy, and only needed when the embedded server is asked for
    except ImportError as e:
        raise EmbeddedDatabaseError("the embedded database needs the pgserver package: pip install pgserver") from e
    # pgserver logs every command it runs at INFO; only its problems are worth a line here.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    try:
        server = pgserver.get_server(state_dir / "pgdata", cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as e:
        raise EmbeddedDatabaseError(f"the embedded PostgreSQL did not start ({e}); see {state_dir}/pgdata/log") from e
    url: str = server.get_uri()
    logger.info("embedded PostgreSQL running", extra={"data_dir": str(state_dir / "pgdata")})
    return url
