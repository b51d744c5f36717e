"""``python -m provenance``: the same command line as the ``provenance`` script."""

import sys

from .cli import main

sys.exit(main())
