#!/usr/bin/env bash
# The main job on the embedded default: set up .venv if needed, then run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made torch 10x slower.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# `python -m egvsr`, not .venv/bin/egvsr: that script's first line names the folder .venv was made in,
# so it stops working when the clone is moved or renamed.
exec .venv/bin/python -m egvsr demo "$@"
