"""The lowest versions pyproject.toml declares are ones egvsr works with: each bound below was measured by
running the suite with that release (older ones failed as the comment says)."""

from __future__ import annotations

import re
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

#: package -> (lowest release that passed, what the release before it broke)
MEASURED = {
    "aedat": ((2, 3), "2.0.2-2.2.0: 'unknown frame format' at a 16-bit AEDAT4 frame, the whole file unreadable"),
    "numpy": ((1, 26), "1.24-1.25: no aedat>=2.3 installs beside them (aedat 2.3.0 requires numpy>=1.26)"),
    "expelliarmus": ((1, 1, 7), "1.1.0: no Wizard(fpath=, chunk_size=); 1.1.1-1.1.6: a cut DAT file ends in t=0"),
}


def _lower_bounds() -> dict[str, tuple[int, ...]]:
    """name -> lower bound of every quoted "name>=X.Y" requirement (tomllib is Python >= 3.11; 3.10 is declared)."""
    text = PYPROJECT.read_text(encoding="utf-8")
    return {name.lower(): tuple(int(part) for part in version.rstrip(".").split("."))
            for name, version in re.findall(r'"([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)', text)}


def test_declared_lower_bounds_are_no_older_than_measured():
    bounds = _lower_bounds()
    for name, (lowest, why) in MEASURED.items():
        assert name in bounds, f"{name} has no lower bound in pyproject.toml"
        assert bounds[name] >= lowest, f"{name}>={bounds[name]} allows releases egvsr fails with ({why})"
