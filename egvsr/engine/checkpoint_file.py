"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a plain dict of tensors and builtin values saved with `torch.save` and read back with
`torch.load(weights_only=True)`, so a crafted file cannot run code: anything but tensors, numbers, strings
and containers is refused with a clear message. The model's registry name and config travel with the
weights so a checkpoint of another model is recognised before any weight is touched.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import random
import re
import shlex
import stat
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.serialization import MAGIC_NUMBER

from egvsr.engine.checkpoint_kind import byte_kind, zip_kind
from egvsr.errors import CheckpointError, InputFileError
from egvsr.engine.yamltext import check_expanded_size
from egvsr.fsutil import atomic_output, write_failure

FORMAT = "egvsr-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], overwrite: bool = False) -> Path:
    """Write `payload` (plus format tags) to `path` atomically; an existing file is refused unless
    `overwrite` (as by every egvsr writer). A write that fails (a full disk, a quota, a file size limit) is
    the one-line `OutputError` naming `path`, the temporary removed and an existing checkpoint kept
    (docs/io.md, "Outputs")."""
    from egvsr.events.io.arguments import check_path

    check_path(path, "path", "an output file path")
    data = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_output(path, overwrite=overwrite) as tmp:
        try:
            # through a Python file, not torch's own stream: torch reports its stream's failed write as a
            # RuntimeError that does not say why ("unexpected pos ..."); a Python write's OSError stays
            # chained to the RuntimeError torch raises for it
            with open(tmp, "wb") as fh:
                torch.save(data, fh)
        except (OSError, RuntimeError) as exc:
            raise _save_failure(Path(path), exc) from None
    return Path(path)


def _save_failure(out: Path, exc: BaseException) -> BaseException:
    """What a failed `torch.save` to `out` raises (torch wraps what a Python file raises in a RuntimeError):
    `fsutil.write_failure`."""
    return write_failure(out, exc)


def check_device(device: torch.device | str | int, where: str = "`device`") -> torch.device:
    """The torch device `device` names (`auto` included), refused in one line naming `where` when this
    machine has no such device: the check `egvsr render`'s and `eval`'s --device get (`resolve_device`),
    for library callers of `load_checkpoint`, `model_from_checkpoint` and `load_render_model` too."""
    from egvsr.engine.distributed import resolve_device

    return resolve_device(device, where=where)


def check_checkpoint_path(p: Path) -> None:
    """Refuse, without opening it, a checkpoint path that is a folder, a FIFO, socket or device (reading a
    FIFO waits forever), or nothing, each said as what it is."""
    from egvsr.events.io.arguments import check_not_special

    if p.is_dir():
        raise InputFileError(f"{p}: is a folder; expected a checkpoint file (.pt)")
    check_not_special(p, "a checkpoint file (.pt)")
    if not p.is_file():
        raise InputFileError(f"{p}: checkpoint not found")


def load_plain(path: Path, map_location: str | torch.device = "cpu",
               written_by: str = "egvsr", refused_advice: str = "only egvsr checkpoints are accepted") -> Any:
    """`torch.load` of tensors and plain values only (nothing that could run code when unpickled), with
    one-line errors: a missing file, a file that is no PyTorch file at all, a refusal, a damaged file."""
    p = Path(path)
    if isinstance(map_location, (str, torch.device, int)):  # a mapping or function is torch.load's to apply
        map_location = check_device(map_location, "`map_location`")  # not reported as a damaged file
    check_checkpoint_path(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read the checkpoint ({exc.strerror or exc})") from None
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        _refuse_foreign(p, byte_kind(p, head), written_by)
        raise CheckpointError(
            f"{p}: not a checkpoint file (neither a PyTorch zip archive nor a pickle"
            f"{', it is empty' if not head else ''}); expected a .pt file written by {written_by}"
        )
    if head.startswith(b"PK") and not _has_zip_end(p):
        raise CheckpointError(f"{p}: not a complete checkpoint file: the end of its zip archive is missing "
                              "(truncated, e.g. by a copy or a write that stopped early)")
    damage = _zip_damage(p) if head.startswith(b"PK") else ""
    if damage:  # before torch.load, which never checks a member's CRC-32: damaged weights would load silently
        raise CheckpointError(f"{p}: not a readable checkpoint: {damage} (corrupted or truncated); write it again "
                              "or use another checkpoint")
    if head.startswith(b"PK"):  # an intact archive that torch.save did not write is named, not called damaged
        _refuse_foreign(p, zip_kind(p), written_by)
    plain = is_plain_pickle(head)
    what = f"{p}: not a PyTorch file but a plain pickle (written by pickle.dump, not torch.save)"
    unreadable = CheckpointError(f"{what}; refused to load: torch.load cannot read it, and unpickling it otherwise "
                                 f"could run code; {refused_advice}")
    try:
        # torch's notes on how the file was written (a pickle protocol other than 2, deprecated storages or
        # quantized tensors) span lines and ask nothing of the user; what the file holds is checked after
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        damage = _damage_found(exc)
        if damage:  # bytes the unpickler stopped at, not objects it disallows
            raise CheckpointError(
                f"{p}: not a readable checkpoint: {damage} (corrupted or truncated); write it again or use "
                "another checkpoint"
            ) from None
        refused = _refused_what(exc)
        if plain and not refused.startswith("it references"):  # e.g. a protocol 4 frame torch cannot read
            raise unreadable from None
        raise CheckpointError(
            f"{what + '; ' if plain else f'{p}: '}refused to load: the checkpoint contains objects other than "
            f"tensors and plain values (it could run code when unpickled); {refused_advice} ({refused})"
        ) from None
    except Exception:  # torch raises many types on corrupted zips (KeyError, RuntimeError, ...)
        if plain:  # unpickled safely, but no torch.save file (torch found no magic number)
            raise unreadable from None
        raise CheckpointError(
            f"{p}: not a readable checkpoint: its zip archive or the data in it is damaged (corrupted or "
            "truncated); write it again or use another checkpoint"
        ) from None


def _refuse_foreign(p: Path, kind: tuple[str, str], written_by: str) -> None:
    """Refuse `p` as the file `kind` (`checkpoint_kind`: what it is, how to get its weights) names, if any."""
    what, hint = kind
    if what:
        raise CheckpointError(f"{p}: not a checkpoint file but {what}; expected a .pt file written by {written_by}"
                              + (f"; {hint}" if hint else ""))


#: bytes read from a checkpoint's start: the zip or pickle signature and, in torch's legacy (non-zip)
#: format, the pickled magic number behind a protocol 4/5 frame header
_HEAD = 32
_TORCH_MAGIC = b"\x8a\x0a" + MAGIC_NUMBER.to_bytes(10, "little")


def is_plain_pickle(head: bytes) -> bool:
    """True when a file starting with `head` is a pickle but not one torch.save wrote (torch's legacy
    format pickles its magic number first): `pickle.dump` output, which `torch.load` cannot read."""
    return head.startswith(b"\x80") and _TORCH_MAGIC not in head[:_HEAD]


def file_head(path: str | os.PathLike) -> bytes:
    """The first bytes of `path` ('' when it cannot be read, or is no regular file: opening a FIFO would
    wait for a writer forever), for `is_plain_pickle`."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b""
        with open(path, "rb") as fh:
            return fh.read(_HEAD)
    except OSError:
        return b""


def _zip_damage(p: Path) -> str:
    """What shows that a checkpoint's zip archive is damaged ('' when nothing does): a member (the pickle or
    a tensor record) whose bytes fail its CRC-32, or an archive zipfile cannot read. Every member is read
    once, 1 MiB at a time (`ZipFile.testzip`): 0.01 s for the shipped 1.2 MB file, 0.04 s for 100 MB (in
    the page cache, which torch.load then reads from), against torch.load's 0.05 and 0.07 s."""
    try:
        with zipfile.ZipFile(p) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError, zlib.error) as err:
        return f"its zip archive is damaged ({first_line(err)})"
    if bad is None:
        return ""
    member = bad.split("/", 1)[-1]  # without torch's archive folder (the temporary name it was saved under)
    return f"its zip archive is damaged (Bad CRC-32 for file {member!r})"


def _damage_found(exc: BaseException) -> str:
    """What shows that the weights-only unpickler read damaged bytes ('' when nothing does): a byte that is no
    pickle opcode at all (torch reports it as an 'Unsupported operand'; a crafted pickle uses real opcodes).
    (A damaged zip member was refused before the load: `_zip_damage`.)"""
    m = re.search(r"Unsupported operand (\d+)", str(exc))
    if m and int(m.group(1)) < 256 and chr(int(m.group(1))).encode("latin-1") not in _PICKLE_OPCODES:
        return f"its pickle holds byte {int(m.group(1))}, which is no pickle opcode"
    return ""


_PICKLE_OPCODES = {op.code.encode("latin-1") for op in pickletools.opcodes}


def _has_zip_end(p: Path) -> bool:
    """True when the file ends with a zip's end-of-central-directory record (in its last 64 KiB + 22
    bytes, where a zip comment may push it): a truncated archive lacks it."""
    try:
        size = p.stat().st_size
        span = min(size, (1 << 16) + 22)
        with open(p, "rb") as fh:
            fh.seek(size - span)
            return b"PK\x05\x06" in fh.read(span)
    except OSError:
        return True  # unreadable here: torch.load reports it


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", expect_model: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint safely; check its format and (optionally) that it holds model `expect_model`."""
    p = Path(path)
    data = load_plain(p, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not an egvsr checkpoint (missing format tag {FORMAT!r}){_import_hint(p, data)}")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{p}: checkpoint version {data.get('version')!r}, expected {VERSION}")
    model = data.get("model")
    if not isinstance(model, dict) or "name" not in model or "state_dict" not in data:
        raise CheckpointError(f"{p}: checkpoint lacks 'model' (name, config) or 'state_dict'")
    for key in ("model", "experiment"):  # before anything builds from, compares or prints them
        try:
            check_expanded_size(data.get(key))
        except ValueError as exc:  # shared references: 2 MB of pickle can stand for 2**40 values
            raise CheckpointError(f"{p}: its '{key}' entry {exc}") from None
    if expect_model is not None and model["name"] != expect_model:
        raise CheckpointError(
            f"{p}: checkpoint holds model {model['name']!r}, expected {expect_model!r}"
        )
    return data


def _import_hint(p: Path, data: Any) -> str:
    """For a plain state dict (or a trainer dict holding one under 'state_dict'), as official EGVSR and
    VideoINR checkpoints are: how to convert it into an egvsr checkpoint; '' for anything else."""
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return ""
    return (f"; it holds a plain state dict of {len(state)} weights: if it is an official EGVSR or VideoINR "
            f"checkpoint, convert it first with egvsr import-checkpoint {shlex.quote(str(p))} OUT.pt")


def first_line(exc: BaseException, text: str | None = None) -> str:
    """The first sentence of an exception's text (or of `text`), without terminal colour codes, at
    most 200 chars; the exception's type name when that is empty."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc) if text is None else text).strip()
    text = re.split(r"(?<=[.!?])\s|\n", text, maxsplit=1)[0] if text else ""
    return text[:200] or type(exc).__name__


def _refused_what(exc: BaseException) -> str:
    """What torch's weights-only unpickler refused, e.g. "it references 'builtins.exec'"."""
    m = re.search(r"GLOBAL ([\w.]+) (?:was not an allowed global|whose module)", str(exc))
    if m:
        return f"it references {m.group(1)!r}"
    m = re.search(r"WeightsUnpickler error: ([^\n]*)", str(exc))
    return first_line(exc, m.group(1) if m else None)


def rng_state() -> dict[str, Any]:
    """Every RNG a training run draws from, as plain values and tensors."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"key": np_state[0], "pos": int(np_state[2]), "state": torch.from_numpy(np_state[1].copy()),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    random.setstate(_tuplify(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["key"], n["state"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():  # the GPUs this machine has (a run may move: `device` is free)
        for index, cuda_state in enumerate(list(state["cuda"])[:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v
