"""Training logs: a CSV file always, TensorBoard when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class MetricLog:
    """Append rows of named scalars to `<dir>/<name>.csv` (header written once; columns may grow)."""

    def __init__(self, folder: Path, name: str, tensorboard: bool = True) -> None:
        self.path = Path(folder) / f"{name}.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fields: list[str] | None = None
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(Path(folder) / "tensorboard"))
            except Exception:  # tensorboard not installed: CSV only
                self._writer = None

    def write(self, step: int, values: dict[str, Any]) -> None:
        row = {"step": step, **values}
        if self._fields is None:
            self._fields = self._read_header()
        if self._fields and all(k in self._fields for k in row):
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields).writerow(row)
        else:  # first row, or a new column: rewrite once with the widened header
            rows = self._read_rows()
            self._fields = list(dict.fromkeys([*(self._fields or []), *row.keys()]))
            with self.path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self._fields)
                w.writeheader()
                w.writerows(rows + [row])
        if self._writer is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._writer.add_scalar(k, v, step)

    def _read_header(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f).fieldnames or [])

    def _read_rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (a resumed run re-does them)."""
        if not self.path.exists():
            return
        fields = self._read_header()
        rows = [r for r in self._read_rows() if int(r["step"]) <= step]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
