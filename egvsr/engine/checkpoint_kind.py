"""What a file given as a checkpoint is when `torch.save` did not write it: named from its first bytes or its
zip members, so that a TorchScript or torch.export archive, a safetensors file, a NumPy file or an event
recording is said to be one (with how to get its weights where there is a way), not called damaged.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

_NPY_MAGIC = b"\x93NUMPY"


def byte_kind(p: Path, head: bytes) -> tuple[str, str]:
    """(what, how to get its weights or '') for a file that is neither a zip archive nor a pickle, from its
    first bytes `head`; ('', '') when they show nothing known."""
    from egvsr.events.io.h5util import HDF5_SIGNATURE

    if head.startswith(HDF5_SIGNATURE):
        return "an HDF5 file (an event recording?)", "check the order of the command's arguments"
    if head.startswith(_NPY_MAGIC):
        return "a NumPy .npy array (numpy.save)", ""
    if _is_safetensors(p, head):
        return "a safetensors file", (
            "if its tensors are the weights, re-save them with: python -c \"import torch; from safetensors.torch "
            f"import load_file; torch.save(load_file({str(p)!r}), {p.stem + '.plain.pt'!r})\"")
    return "", ""


def _is_safetensors(p: Path, head: bytes) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then that many bytes of JSON (an object)."""
    if len(head) < 10 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    try:
        if not 2 <= n <= min(p.stat().st_size - 8, 100 << 20):  # (safetensors caps its header at 100 MB)
            return False
        with open(p, "rb") as fh:
            fh.seek(8)
            return isinstance(json.loads(fh.read(n)), dict)
    except (OSError, ValueError):
        return False


def zip_kind(p: Path) -> tuple[str, str]:
    """(what, how to get its weights or '') for an intact zip archive that is not a torch.save checkpoint,
    from its member names; ('', '') when it looks like one (a data.pkl one folder deep, no TorchScript code)."""
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return "", ""
    inner = {name.split("/", 1)[1] for name in names if "/" in name}  # without the archive's folder
    if "constants.pkl" in inner or any(n.startswith("code/") for n in inner):  # what torch.load checks too
        return "a TorchScript archive (torch.jit.save: a compiled program, not a checkpoint of weights)", (
            "if you trust the file, re-save its weights with: python -c \"import torch; torch.save(torch.jit.load("
            f"{str(p)!r}, map_location='cpu').state_dict(), {p.stem + '.plain.pt'!r})\"")
    if "archive_format" in inner or any(n.startswith("models/") and n.endswith(".json") for n in inner):
        return "a torch.export archive (torch.export.save: a program, not a checkpoint of weights)", ""
    if "data.pkl" in inner:
        return "", ""
    if names and all(n.endswith(".npy") for n in names):
        return "a NumPy .npz archive (numpy.savez)", ""
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"a zip archive without the data.pkl of a PyTorch checkpoint (it holds {shown or 'nothing'})", ""
