"""The real ``harvest`` command line with the test site's providers registered.

Tests run it as a subprocess (``python -m tests.harvester._cli_main ...``): the site's
base URL comes from ``TEST_SITE_URL``, the ``site`` lifetime from ``TEST_SITE_LIFETIME``
and the ``never`` timeout from ``TEST_NEVER_TIMEOUT``.
"""

from __future__ import annotations

import os
import sys

from client import register_recipe
from harvester import main

from ._site import never_recipe, site_recipe

if __name__ == "__main__":
    base = os.environ["TEST_SITE_URL"]
    lifetime = float(os.environ.get("TEST_SITE_LIFETIME", "3600"))
    register_recipe("site", site_recipe(base, lifetime=lifetime))
    register_recipe(
        "never", never_recipe(base, timeout=float(os.environ.get("TEST_NEVER_TIMEOUT", "2")))
    )
    sys.exit(main(sys.argv[1:]))
