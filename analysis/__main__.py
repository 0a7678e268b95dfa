"""``python -m analysis fit ...`` / ``python -m analysis plot ...``."""

import sys

from analysis.cli import main

sys.exit(main())
