#!/usr/bin/env bash
# Create .venv (once) and install egvsr with its test extras. CPU torch 2.13 is pinned here, not in
# pyproject, so a user with a CUDA build of torch keeps theirs. PYTHON picks the interpreter that makes
# .venv (default python3; egvsr needs >= 3.10).
# Safe to run again after anything stopped it: a .venv left without pip (Ctrl-C while it was made, or a
# Python without ensurepip) gets pip; one whose interpreter no longer runs (the Python that made it was
# removed or upgraded) gets a new one, keeping what it holds. pip and the scripts are run through
# .venv/bin/python, never through .venv/bin/pip, whose first line names the folder the clone was made in.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
NEEDS='import sys; sys.exit(sys.version_info < (3, 10))'
fail() {
  echo "bootstrap: error: $*" >&2
  exit 2
}

if ! .venv/bin/python -c "" >/dev/null 2>&1; then
  # No .venv, or one whose interpreter does not run: (re)make the interpreter. `venv` stops on a link to an
  # interpreter that is gone, so those links go first; the packages in .venv stay.
  command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON: not found; set PYTHON to a Python >= 3.10"
  "$PYTHON" -c "$NEEDS" || fail "$PYTHON: Python $("$PYTHON" -c 'import platform; print(platform.python_version())') is too old: egvsr needs >= 3.10; set PYTHON to a newer one"
  rm -f .venv/bin/python .venv/bin/python3 .venv/bin/python3.*
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -c "$NEEDS" || fail ".venv: Python $(.venv/bin/python -c 'import platform; print(platform.python_version())') is too old: egvsr needs >= 3.10; remove .venv and run again (with PYTHON set to a newer Python)"
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  .venv/bin/python -m ensurepip --default-pip >/dev/null \
    || fail ".venv has no pip and its Python cannot install one (no ensurepip: on Debian/Ubuntu install python3-venv)"
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q "torch==2.13.0"
fi
# Checked from another folder: egvsr must import without the clone being the current folder (subprocesses of
# the tests, a moved clone whose editable install still names the old folder).
root="$PWD"
if ! (cd / && "$root/.venv/bin/python" -c "import egvsr, pytest, xdist, hypothesis, hdf5plugin, skimage, sklearn, tonic") \
     >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.egvsr-installed ]; then
  .venv/bin/python -m pip install -q -e ".[test,dsec,tonic]"
  touch .venv/.egvsr-installed
fi
