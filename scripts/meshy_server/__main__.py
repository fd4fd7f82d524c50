"""`python3 -m scripts.meshy_server --help` (run from the repository root)."""

import sys

from .cli import main

sys.exit(main())
