"""`egvsr import-checkpoint`: an official EGVSR / VideoINR checkpoint -> an egvsr checkpoint.

The source is read with `torch.load(weights_only=True)` only: a file that needs arbitrary unpickling
is refused (with the one-line command that re-saves it as plain tensors, to run only on a file you
trust). Accepted layouts: the EGVSR trainer's dict (`state_dict`, keys with or without `module.`),
VideoINR's plain state dict (`latest_G.pth`) and other containers of one state dict (BasicSR's `params`). The result loads in `egvsr render` / `egvsr eval`
like a trained checkpoint (empty experiment: the input options follow from the model), and is
written atomically, never over an existing file without `overwrite`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from torch import Tensor

from egvsr.engine.checkpoint_file import FORMAT, file_head, is_plain_pickle, load_plain, save_checkpoint
from egvsr.engine.checkpoint_model import check_finite_weights
from egvsr.errors import CheckpointError, OutputExistsError
from egvsr.events.io.arguments import check_path
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


_NESTING = 3  # how deep a container may hold its weights: {'net': {'state_dict': {...}}}


def _weight_sets(data: Mapping, path: str = "", depth: int = 0) -> list[tuple[str, Mapping]]:
    """(subscript path, mapping) of every state dict (a non-empty mapping of str keys to tensors only)
    nested in `data` under str keys, a few levels deep. An optimizer's per-parameter states sit under
    integer keys, so they are not taken for weights."""
    found = []
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, Mapping) or not value:
            continue
        where = f"{path}[{key!r}]"
        if all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items()):
            found.append((where, value))
        elif depth + 1 < _NESTING:
            found += _weight_sets(value, where, depth + 1)
    return found


def _unwrap(data: Any, src: Path, depth: int = 0) -> Any:
    """The state dict inside a container: the EGVSR trainer's 'state_dict', else the one mapping of
    tensors it holds under any key (BasicSR's 'params', a 'model' or 'net'); several are refused by name."""
    if not isinstance(data, Mapping) or any(isinstance(v, Tensor) for v in data.values()) or depth >= _NESTING:
        return data  # a state dict (its entries are checked by the caller), or no container at all
    inner = data.get("state_dict")
    if isinstance(inner, Mapping):
        if not inner:
            raise CheckpointError(f"{src}: its 'state_dict' is an empty dict (no weights)")
        return _unwrap(inner, src, depth + 1)
    sets = _weight_sets(data)
    if len(sets) > 1:
        paths = ", ".join(path for path, _ in sets[:5])
        raise CheckpointError(
            f"{src}: holds several sets of weights ({paths}); re-save the one to import as a plain state dict, "
            f"e.g. python -c \"import torch; c = torch.load('{src}', weights_only=True); "
            f"torch.save(c{sets[0][0]}, '{src.stem}.plain.pt')\" and import that file")
    return sets[0][1] if sets else data


def read_official(path: str | Path) -> dict[str, Tensor]:
    """The official state dict in `path` (a container unwrapped), loaded without arbitrary unpickling."""
    src = Path(path)
    data = load_plain(src, written_by="torch.save (an official EGVSR or VideoINR checkpoint)",
                      refused_advice=_resave_hint(src))
    if isinstance(data, Mapping) and data.get("format") == FORMAT:
        raise CheckpointError(f"{src}: already an egvsr checkpoint (no import needed); give it to egvsr render "
                              "or egvsr eval as it is")
    data = _unwrap(data, src)
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

    check_path(src, "src")  # a str or os.PathLike, not empty, no NUL byte
    check_path(out, "out")
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
