"""`python -m touchgrass.cli` (what `touchgrass dev` starts its roles with)."""

import sys

from touchgrass.cli import main

sys.exit(main())
