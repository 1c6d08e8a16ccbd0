"""Datasets from the `data.train` / `data.val` sections of an experiment config.

A section holds `recordings` (a list of paths, `sample:SEED` entries or `synthetic:SPLIT:A-B`
clips of the synthetic data engine, generated on first use into `sample_cache`) or `root` + `split`, and otherwise the keyword arguments of `EventVSRDataset`; any other
key is rejected with its dotted name.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from egvsr.errors import ConfigError

SECTION_KEYS = {"recordings", "root", "split", "sample_cache", "sample_seconds", "sample_size",
                "synthetic_seed", "synthetic_size", "synthetic_frames"}


def _dataset_options() -> set[str]:
    from egvsr.datasets import EventVSRDataset

    params = inspect.signature(EventVSRDataset.__init__).parameters
    return {k for k, p in params.items() if p.kind == p.KEYWORD_ONLY}


def resolve_recordings(spec: dict, where: str, progress: bool = False) -> list[str]:
    """Paths of the recordings a section names, generating `sample:SEED` recordings when missing
    (with a progress bar each when `progress`)."""
    entries = spec.get("recordings")
    if entries is None:
        raise ConfigError(f"{where}: give 'recordings' (paths or sample:SEED) or 'root' and 'split'")
    if isinstance(entries, (str, Path)):
        entries = [entries]
    cache = Path(spec.get("sample_cache", "experiments/_samples"))
    out = []
    for entry in entries:
        text = str(entry)
        if text.startswith("sample:"):
            out.append(str(_ensure_sample(text, cache, spec, where, progress)))
        elif text.startswith("synthetic:"):
            out.extend(_ensure_synthetic(text, cache, spec, where, progress))
        else:
            if not Path(text).exists():
                raise ConfigError(f"{where}.recordings: {text} does not exist")
            out.append(text)
    return out


def _ensure_sample(entry: str, cache: Path, spec: dict, where: str, progress: bool = False) -> Path:
    try:
        seed = int(entry.split(":", 1)[1])
    except ValueError:
        raise ConfigError(f"{where}.recordings: {entry!r} should be sample:SEED with an integer seed") from None
    if not 0 <= seed < 2**63:
        raise ConfigError(f"{where}.recordings: {entry!r}: the seed must be an integer in 0..2**63-1")
    seconds = _positive(spec, "sample_seconds", 2.0, where, float)
    size = _size(spec, "sample_size", (260, 346), where)
    path = cache / f"sample-seed{seed}-{seconds:g}s-{size[0]}x{size[1]}.h5"
    if not path.exists():
        from egvsr.errors import OutputExistsError
        from egvsr.events.simulate import make_sample

        try:
            make_sample(path, seed=seed, seconds=seconds, size=size, progress=progress)
        except OutputExistsError:
            if not path.is_file():  # another run made the same cached sample meanwhile: use it
                raise
    return path


def _positive(spec: dict, key: str, default, where: str, kind=float):
    """spec[key] (or `default`) as a positive finite number of `kind`, or one line naming the key."""
    v = spec.get(key, default)
    try:
        if isinstance(v, bool):
            raise TypeError
        out = kind(v)
        if kind is int and out != v:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}.{key}: expected a positive {'integer' if kind is int else 'number'}, "
                          f"got {v!r}") from None
    if not (out > 0 and out < float("inf")):
        raise ConfigError(f"{where}.{key}: expected a positive {'integer' if kind is int else 'number'}, got {v!r}")
    return out


def _size(spec: dict, key: str, default, where: str) -> tuple[int, int]:
    """spec[key] (or `default`) as (height, width) positive integers, or one line naming the key."""
    v = spec.get(key, default)
    if not isinstance(v, (list, tuple)) or len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int)
                                                              or x < 1 for x in v):
        raise ConfigError(f"{where}.{key}: expected [height, width] in pixels, e.g. [128, 160], got {v!r}")
    return int(v[0]), int(v[1])


def _ensure_synthetic(entry: str, cache: Path, spec: dict, where: str, progress: bool = False) -> list[str]:
    from egvsr.datasets.synthetic import ensure_clips, parse_entry

    split, indices = parse_entry(entry, f"{where}.recordings")
    size = _size(spec, "synthetic_size", (128, 160), where)
    seed = spec.get("synthetic_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"{where}.synthetic_seed: expected an integer in 0..2**63-1, got {seed!r}")
    return ensure_clips(cache, seed, split, indices, size, _positive(spec, "synthetic_frames", 5, where, int),
                        progress=progress)


def build_dataset(spec: dict, where: str, progress: bool = False, **fixed: Any):
    """An `EventVSRDataset` from a config section (`fixed` options override the section); `progress`
    shows bars while missing sample/synthetic recordings are generated."""
    from egvsr.datasets import EventVSRDataset

    allowed = _dataset_options()
    unknown = sorted(set(spec) - allowed - SECTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown config key {where}.{unknown[0]}; valid keys: {sorted(allowed | SECTION_KEYS)}"
        )
    options = {k: v for k, v in spec.items() if k in allowed}
    options.update(fixed)
    if "root" in spec:
        root = Path(spec["root"])
        if not root.is_dir():
            raise ConfigError(f"{where}.root: {root} is not a folder")
        return EventVSRDataset.from_root(root, spec.get("split", "all"), **options)
    return EventVSRDataset(resolve_recordings(spec, where, progress), **options)
