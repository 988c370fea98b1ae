"""The real ``harvest`` command line with the test site's recipes beside the built-in ones.

Tests run it as a subprocess (``python -m tests.harvester._cli_main ...``): the site's
base URL comes from ``TEST_SITE_URL``, the ``site`` lifetime from ``TEST_SITE_LIFETIME``
and the ``never`` timeout from ``TEST_NEVER_TIMEOUT``.
"""

from __future__ import annotations

import os
import sys

from client.providers import recipes
from harvester import main

from ._site import never_recipe, site_recipe

if __name__ == "__main__":
    base = os.environ["TEST_SITE_URL"]
    lifetime = float(os.environ.get("TEST_SITE_LIFETIME", "3600"))
    never_timeout = float(os.environ.get("TEST_NEVER_TIMEOUT", "2"))
    extra = {
        "site": site_recipe(base, lifetime=lifetime),
        "never": never_recipe(base, timeout=never_timeout),
    }
    sys.exit(main(sys.argv[1:], recipes={**recipes(), **extra}))
