#!/usr/bin/env bash
# The test command: set up .venv if needed, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made torch 10x slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# Two pytest-xdist workers: most tests wait on a subprocess or run one thread, so two share 2 cores well
# (EGVSR_TEST_WORKERS=0 runs in this process; a later -n in the arguments wins).
exec .venv/bin/python -m pytest -q -n "${EGVSR_TEST_WORKERS:-2}" "$@"
