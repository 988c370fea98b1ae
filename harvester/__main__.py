"""``python -m harvester``: the same as the ``harvest`` command."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
