"""`egvsr import-checkpoint`: an official EGVSR / VideoINR checkpoint -> an egvsr checkpoint.

The source is read with `torch.load(weights_only=True)` only: a file that needs arbitrary unpickling
is refused (with the one-line command that re-saves it as plain tensors, to run only on a file you
trust). Accepted layouts: the EGVSR trainer's dict (`state_dict`, keys with or without `module.`)
and VideoINR's plain state dict (`latest_G.pth`). The result loads in `egvsr render` / `egvsr eval`
like a trained checkpoint (empty experiment: the input options follow from the model), and is
written atomically, never over an existing file without `overwrite`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from egvsr.engine.checkpoint_file import FORMAT, file_head, is_plain_pickle, load_plain, save_checkpoint
from egvsr.engine.checkpoint_model import check_finite_weights
from egvsr.errors import CheckpointError, OutputExistsError
from egvsr.fsutil import check_output_path, refuse_package_data, same_file
from egvsr.models.checkpoint_import import Imported, convert


def _resave_hint(src: Path) -> str:
    """The command that re-saves a trusted file's tensors as a plain state dict: read with pickle.load for
    a plain pickle (torch.load cannot read one at all), with torch.load otherwise."""
    if is_plain_pickle(file_head(src)):
        read = f"import pickle, torch; c = pickle.load(open('{src}', 'rb'))"
    else:
        read = f"import torch; c = torch.load('{src}', map_location='cpu', weights_only=False)"
    return (f"if you trust the file, re-save its tensors with: python -c \"{read}; "
            f"torch.save({{k: v for k, v in c.get('state_dict', c).items()}}, '{src.stem}.plain.pt')\" "
            f"and import that file")


def read_official(path: str | Path) -> dict[str, Tensor]:
    """The official state dict in `path` (trainer dict unwrapped), loaded without arbitrary unpickling."""
    src = Path(path)
    data = load_plain(src, written_by="torch.save (an official EGVSR or VideoINR checkpoint)",
                      refused_advice=_resave_hint(src))
    if isinstance(data, Mapping) and data.get("format") == FORMAT:
        raise CheckpointError(f"{src}: already an egvsr checkpoint (no import needed); give it to egvsr render "
                              "or egvsr eval as it is")
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
        if not data:
            raise CheckpointError(f"{src}: its 'state_dict' is an empty dict (no weights)")
    if isinstance(data, Mapping) and not data:
        raise CheckpointError(f"{src}: holds an empty dict (no weights); expected a state dict or a trainer dict "
                              "with 'state_dict'")
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{src}: expected a state dict or a trainer dict with 'state_dict', "
                              f"got {type(data).__name__}")
    odd = [str(k) for k, v in data.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if odd:
        raise CheckpointError(f"{src}: expected a state dict of tensors; entries {', '.join(odd[:8])} are not "
                              "(a trainer dict needs its weights under 'state_dict')")
    return dict(data)


def import_checkpoint(src: str | Path, out: str | Path, kind: str | None = None, overwrite: bool = False,
                      options: Mapping[str, Any] | None = None) -> Imported:
    """Convert official checkpoint `src` into our checkpoint `out` (kind detected when None)."""
    from egvsr.models import build_model

    if Path(src).exists() and same_file(out, src):  # the same path, a link or a hard link (same inode)
        raise OutputExistsError(f"{out}: output is the input checkpoint; choose another output path")
    check_output_path(out, overwrite)  # fail before the (slow) load
    refuse_package_data([Path(out)])
    official = read_official(src)
    imported = convert(official, kind, options, where=str(src))
    unused = set(imported.unused)  # weights the model never reads may be anything
    check_finite_weights(((k, v) for k, v in official.items() if k.removeprefix("module.") not in unused), src)
    model = build_model(imported.name, **imported.options)
    model.load_state_dict(imported.state_dict)
    payload = {"model": {"name": imported.name, "config": model.config}, "state_dict": model.state_dict(),
               "ema": None, "experiment": {},
               "imported": {"source": str(src), "from": imported.name, "unused_keys": imported.unused}}
    save_checkpoint(out, payload, overwrite=overwrite)
    return imported
