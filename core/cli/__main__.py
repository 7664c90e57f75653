"""`python -m core.cli` is the `loopline` command."""

import sys

from core.cli import main

sys.exit(main())
