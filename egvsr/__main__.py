"""`python -m egvsr` runs the CLI (the console entry point sets the thread environment first)."""

import sys

from egvsr.cli import console_main

sys.exit(console_main())
