"""`python -m egvsr` runs the CLI."""

import sys

from egvsr.cli import main

sys.exit(main())
