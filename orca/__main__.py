"""``python -m orca``: the same as the ``orca`` command."""

from __future__ import annotations

import sys

from orca.cli import main

sys.exit(main())
