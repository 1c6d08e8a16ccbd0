#!/usr/bin/env bash
# Create .venv (once) and install egvsr with its test extras. CPU torch 2.13 is pinned here, not in
# pyproject, so a user with a CUDA build of torch keeps theirs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q "torch==2.13.0"
fi
if ! .venv/bin/python -c "import egvsr, pytest, xdist, hypothesis, hdf5plugin, skimage, sklearn, tonic" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.egvsr-installed ]; then
  .venv/bin/pip install -q -e ".[test,dsec,tonic]"
  touch .venv/.egvsr-installed
fi
