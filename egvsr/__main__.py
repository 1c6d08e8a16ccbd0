"""`python -m egvsr` runs the CLI."""

import sys

from egvsr.cli import console_main

sys.exit(console_main())
