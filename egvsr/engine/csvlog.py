"""Training logs: a CSV file always, TensorBoard when it is installed.

A CSV log is never written through a symbolic link (docs/io.md, "Outputs"): rows are appended to a file
opened without following links, and a rewrite (a widened header, a resume's truncation) replaces the file
atomically.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import Any

from egvsr.errors import FormatError, OutputError
from egvsr.fsutil import atomic_output, check_output_path


#: what a refusal of a damaged log suggests (the log is egvsr's own record of the run)
_FIX = "fix or remove the damaged line (or move the file away) to resume"


class MetricLog:
    """Append rows of named scalars to `<dir>/<name>.csv` (header written once; columns may grow).

    Nothing is written until the first row (or `truncate_after`), TensorBoard's folder included; a link at
    the CSV path is refused."""

    def __init__(self, folder: Path, name: str, tensorboard: bool = True) -> None:
        self.path = Path(folder) / f"{name}.csv"
        check_output_path(self.path, overwrite=True)  # a link (or folder, device) there is never written
        self._fields: list[str] | None = None
        self._writer = None
        self._tensorboard = tensorboard  # whether to try TensorBoard at the first row
        self.made_tensorboard = False  # whether this log made the TensorBoard folder (`discard` removes it)

    def _board(self):
        """The TensorBoard writer, made at the first row (None when TensorBoard is not installed)."""
        if self._tensorboard:
            self._tensorboard = False
            folder = self.path.parent / "tensorboard"
            try:
                from torch.utils.tensorboard import SummaryWriter

                made = not folder.exists()
                self._writer = SummaryWriter(str(folder))
                self.made_tensorboard = made
            except Exception:  # tensorboard not installed: CSV only
                self._writer = None
        return self._writer

    def write(self, step: int, values: dict[str, Any]) -> None:
        row = {"step": step, **values}
        if self._fields is None:
            self._fields = self._read_header()
        if self._fields and all(k in self._fields for k in row):
            with self._append() as f:
                csv.DictWriter(f, fieldnames=self._fields).writerow(row)
        else:  # first row, or a new column: rewrite once with the widened header
            rows = self._read_rows()
            self._fields = list(dict.fromkeys([*(self._fields or []), *row.keys()]))
            self._rewrite(self._fields, rows + [row])
        board = self._board()
        if board is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    board.add_scalar(k, v, step)

    def _append(self) -> io.TextIOWrapper:
        """The CSV opened for appending, refusing a link at its path (also one made since the check)."""
        check_output_path(self.path, overwrite=True)
        # O_BINARY: in Windows' default text mode the csv module's \r\n would reach the file as \r\r\n
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot append to the log ({exc.strerror or exc})") from None
        return open(fd, "a", newline="", encoding="utf-8")  # as it is read back, whatever the locale

    def _rewrite(self, fields: list[str], rows: list[dict]) -> None:
        """Replace the CSV with `fields` and `rows`, atomically (never through a link)."""
        with atomic_output(self.path, overwrite=True) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)

    def _read_header(self) -> list[str]:
        return self._read()[0]

    def _read_rows(self) -> list[dict]:
        return self._read()[1]

    def _read(self) -> tuple[list[str], list[dict]]:
        """(header, rows) of the CSV, each row's step checked: a damaged log (not UTF-8, no `step`
        column, a step that is not a whole number) is refused in one line naming the file and row, never
        silently cut (its rows are the run's record)."""
        if not self.path.exists():
            return [], []
        try:
            with self.path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                fields, rows = list(reader.fieldnames or []), list(reader)
        except UnicodeDecodeError as exc:
            raise FormatError(f"{self.path}: is not UTF-8 text (byte {exc.start}); {_FIX}") from None
        except (OSError, csv.Error) as exc:
            raise FormatError(f"{self.path}: cannot be read as CSV ({exc}); {_FIX}") from None
        if fields and "step" not in fields:
            raise FormatError(f"{self.path}: its header {','.join(fields)[:80]!r} has no 'step' column; {_FIX}")
        for n, row in enumerate(rows, start=2):
            step = row.get("step")
            if not (isinstance(step, str) and step.strip().isdigit()):
                raise FormatError(f"{self.path}: row {n}: step {step!r} is not a whole number; {_FIX}")
            if None in row:
                raise FormatError(f"{self.path}: row {n}: has more fields than its header; {_FIX}")
        return fields, rows

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (a resumed run re-does them)."""
        fields, rows = self._read()
        if self.path.exists():
            self._rewrite(fields, [r for r in rows if int(r["step"]) <= step])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def discard(self) -> None:
        """Remove what this log wrote (a new run that ended before its first checkpoint): its CSV, which
        a new run starts afresh, and the TensorBoard folder when this log made it."""
        self.close()
        self._writer = None
        self.path.unlink(missing_ok=True)
        if self.made_tensorboard:
            shutil.rmtree(self.path.parent / "tensorboard", ignore_errors=True)
