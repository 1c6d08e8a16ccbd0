"""Datasets from the `data.train` / `data.val` sections of an experiment config.

A section holds `recordings` (a list of paths, `sample:SEED` entries or `synthetic:SPLIT:A-B`
clips of the synthetic data engine, generated on first use into `sample_cache`) or `root` + `split`, and otherwise the keyword arguments of `EventVSRDataset`; any other
key is rejected with its dotted name.
"""

from __future__ import annotations

import difflib
import errno
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

from egvsr.errors import ConfigError, InputFileError

SECTION_KEYS = {"recordings", "root", "split", "sample_cache", "sample_seconds", "sample_size",
                "synthetic_seed", "synthetic_size", "synthetic_frames"}

#: the value a `SECTION_KEYS` key takes when a section leaves it out (`recordings` and `root` have none)
SECTION_DEFAULTS: dict[str, Any] = {"split": "all", "sample_cache": "experiments/_samples", "sample_seconds": 2.0,
                                    "sample_size": [260, 346], "synthetic_seed": 0, "synthetic_size": [128, 160],
                                    "synthetic_frames": 5}


class KeyType(NamedTuple):
    """What one data-section key accepts: `ok(value)` and the words saying so in an error."""

    ok: Callable[[Any], bool]
    expected: str


def _is_int(v: Any, lo: int = 0, hi: int = 2**63 - 1) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


# `sample:SEED` recordings are made at make_sample's 25 fps with 3 ground-truth frames per interval: 100
# frames a second, within its MAX_SAMPLE_FRAMES (100,000)
SAMPLE_SECONDS_MAX = 1000.0


def _is_num(v: Any, lo: float, hi: float = math.inf) -> bool:
    """A finite number in [lo, hi]; an int beyond float's range is not finite (and raises no OverflowError)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= sys.float_info.max and lo <= v <= hi


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def _is_pair(v: Any, lo: int = 1, hi: int = 2**63 - 1) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x, lo, hi) for x in v)


def _choice(*values: str) -> KeyType:
    return KeyType(lambda v: isinstance(v, str) and v in values, f"one of {', '.join(values)}")


def _representations() -> KeyType:
    from egvsr.events.represent.registry import representation_names

    return _choice(*representation_names())


def _key_types() -> dict[str, KeyType]:
    """Every key of a `data.train` / `data.val` section (EventVSRDataset's keyword arguments plus
    `SECTION_KEYS`) with what it accepts; tests check that it covers exactly those keys."""
    from egvsr.datasets.synthetic import limits
    from egvsr.events.represent.validation import NORMALIZATIONS, POLARITIES
    from egvsr.events.simulate.sample import MAX_SAMPLE_FRAMES
    from egvsr.events.simulate.sample import MIN_SIDE as SAMPLE_MIN

    SAMPLE_MAX = 4096  # make_sample's largest side (egvsr/events/simulate/sample.py)
    side = limits.MIN_SIDE, limits.MAX_SIDE
    boolean = KeyType(lambda v: isinstance(v, bool), "true or false")
    return {
        "recordings": KeyType(lambda v: _is_text(v) or isinstance(v, list) and bool(v) and all(map(_is_text, v)),
                              "a recording path, sample:SEED or synthetic:SPLIT:A-B, or a list of them"),
        "root": KeyType(_is_text, "a dataset root folder (text)"),
        "split": KeyType(_is_text, "a split name (text), e.g. all, ced_test or the name of a split file"),
        "sample_cache": KeyType(_is_text, "a folder path (text)"),
        "sample_seconds": KeyType(lambda v: _is_num(v, 1e-6, SAMPLE_SECONDS_MAX),
                                  f"a positive number of seconds, at most {SAMPLE_SECONDS_MAX:g} (a sample recording "
                                  f"holds at most {MAX_SAMPLE_FRAMES:,} frames and ground-truth frames)"),
        "sample_size": KeyType(lambda v: _is_pair(v, SAMPLE_MIN, SAMPLE_MAX),
                               f"[height, width] in pixels, each {SAMPLE_MIN} to {SAMPLE_MAX}, e.g. [260, 346]"),
        "synthetic_seed": KeyType(_is_int, "an integer in 0..2**63-1"),
        "synthetic_size": KeyType(lambda v: _is_pair(v, *side),
                                  f"[height, width] in pixels, each {side[0]} to {side[1]}, e.g. [128, 160]"),
        "synthetic_frames": KeyType(lambda v: _is_int(v, limits.MIN_FRAMES, limits.MAX_FRAMES),
                                    f"an integer from {limits.MIN_FRAMES} to {limits.MAX_FRAMES}"),
        "mode": _choice("train", "eval"),
        "num_frames": KeyType(lambda v: _is_int(v, 2), "an integer >= 2"),
        "patch_size": KeyType(lambda v: v is None or _is_int(v, 1) or _is_pair(v),
                              "a positive integer, [height, width] or null (whole frames)"),
        "scale_range": KeyType(lambda v: v is None or isinstance(v, (list, tuple)) and len(v) == 2
                               and _is_num(v[0], 1) and _is_num(v[1], v[0] if _is_num(v[0], 1) else math.inf),
                               "[low, high] with 1 <= low <= high, e.g. [1, 4]"),
        "scale": KeyType(lambda v: v is None or _is_num(v, 1), "one number >= 1 (the fixed scale) or null"),
        "representation": _representations(),
        "bins": KeyType(lambda v: _is_int(v, 1), "a positive integer (time bins / moments)"),
        "polarity": _choice(*POLARITIES),
        "normalize": _choice(*NORMALIZATIONS),
        "queries": _choice("middle", "gt"),
        "num_queries": KeyType(lambda v: _is_int(v, 1), "a positive integer"),
        "include_frames": boolean,
        "flips": boolean,
        "rotations": boolean,
        "reverse_prob": KeyType(lambda v: _is_num(v, 0, 1), "a probability in [0, 1]"),
        "quantize": boolean,
        "with_coords": boolean,
        "stride": KeyType(lambda v: _is_int(v, 1), "a positive integer"),
        "seed": KeyType(_is_int, "an integer in 0..2**63-1"),
        "fps": KeyType(lambda v: v is None or _is_num(v, 1e-9) and v > 0, "a positive frame rate or null"),
    }


#: the value a section's key must have where the trainer sets it itself (else the key would be ignored)
FIXED_KEYS = {"data.train": {"mode": "train"}, "data.val": {"mode": "eval"}}
#: keys of a section that the trainer overrides whatever they say, and why (refused rather than ignored)
IGNORED_KEYS = {"data.train": {"seed": "training draws every sample, crop and flip from the top-level `seed` and "
                                       "the step, never from this key"}}


def check_section(spec: dict, where: str) -> None:
    """Check every key of a data section against `_key_types` and refuse contradictory keys, naming the
    dotted key: a wrong type, value or range, `recordings` beside `root`, `split` without `root`."""
    if not spec:
        return
    types = _key_types()
    for key, value in spec.items():
        if key not in types:
            match = difflib.get_close_matches(str(key), list(types), n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ConfigError(f"unknown config key {where}.{key}{hint}; valid keys: {sorted(types)}")
        if where in IGNORED_KEYS and key in IGNORED_KEYS[where]:
            raise ConfigError(f"{where}.{key}: {IGNORED_KEYS[where][key]}; leave {where}.{key} out")
        if isinstance(value, str) and types[key].expected.startswith(("a positive number", "a probability")):
            value = spec[key] = _number_text(value)  # YAML 1.1 reads 1e-3 as text
        if value is None and key in ("recordings", "root", "split"):
            continue  # null: not given
        if not types[key].ok(value):
            raise ConfigError(f"{where}.{key}: expected {types[key].expected}, got {value!r:.80}")
    for key, must in FIXED_KEYS.get(where, {}).items():
        if spec.get(key, must) != must:
            raise ConfigError(f"{where}.{key}: {where} is always read with {key} {must!r}, got {spec[key]!r}; "
                              f"leave {where}.{key} out")
    given = {k for k in ("recordings", "root", "split") if spec.get(k) is not None}
    if {"recordings", "root"} <= given:
        raise ConfigError(f"{where}: give either 'recordings' or 'root' (and 'split'), not both; set "
                          f"{where}.recordings=null to read the root")
    if "split" in given and "root" not in given:
        raise ConfigError(f"{where}.split: a split needs {where}.root (the dataset root it picks recordings of)")


def section_defaults(where: str) -> dict[str, Any]:
    """The value every key of the data section `where` takes when left out (EventVSRDataset's keyword
    defaults, `SECTION_DEFAULTS`, and the keys the trainer fixes), so that a key written out at its default
    reads as the same config as one left out."""
    import inspect

    from egvsr.datasets.vsr_dataset import TRAIN_PATCH_SIZE, EventVSRDataset

    params = inspect.signature(EventVSRDataset.__init__).parameters
    out = {k: p.default for k, p in params.items() if p.kind == p.KEYWORD_ONLY and p.default is not p.empty}
    out = {**out, **SECTION_DEFAULTS, **FIXED_KEYS.get(where, {})}
    out["patch_size"] = TRAIN_PATCH_SIZE if out["mode"] == "train" else None
    return out


#: how recording entries that are made when used, not paths, begin (`sample:SEED`, `synthetic:...`)
GENERATED_ENTRIES = ("sample:", "synthetic:")


def canonical_value(dotted: str, value: Any) -> Any:
    """One spelling of a data-section value that the dataset reads the same written two ways (a single
    recording or a list of it; a recording or root path relative or absolute, with or without a trailing `/`;
    a square patch as one side or as [side, side]), for comparing configs; any other value (and key) as it is."""
    section, _, key = dotted.rpartition(".")
    if section not in FIXED_KEYS:
        return value
    if key == "recordings" and isinstance(value, str):
        value = [value]
    if key == "recordings" and isinstance(value, (list, tuple)):  # a path as the folder it names now
        return [_path_now(v) if isinstance(v, str) and not v.startswith(GENERATED_ENTRIES) else v
                for v in value]
    if key == "root" and isinstance(value, str):
        return _path_now(value)
    if key == "patch_size" and _is_int(value, 1):
        return [value, value]
    return list(value) if isinstance(value, tuple) else value


def _path_now(text: str) -> str:
    """A path as the file or folder it names from the current folder: `CED`, `./CED/` and `/data/CED` alike
    (run from /data) are one root; links are not followed (one may be pointed elsewhere)."""
    return os.path.abspath(text) if text else text


def _number_text(value: str) -> Any:
    """A number written as text (`"1e-3"`) as the number YAML 1.2 reads it; other text unchanged."""
    from egvsr.engine.yamltext import number_text

    number = number_text(value)
    return value if number is None else number


def _key(where: str, key: str) -> str:
    """The dotted name of a section key (`data.train.recordings`), or the option itself (`--data`) when
    the section comes from a command-line option."""
    return where if where.startswith("-") else f"{where}.{key}"


def _dataset_options() -> set[str]:
    """The keys of a section passed on to `EventVSRDataset` (its keyword options)."""
    from egvsr.datasets.vsr_dataset import dataset_options

    return set(dataset_options())


def resolve_recordings(spec: dict, where: str, progress: bool = False) -> list[str]:
    """Paths of the recordings a section names, generating `sample:SEED` recordings when missing
    (with a progress bar each when `progress`)."""
    entries = spec.get("recordings")
    if entries is None:
        raise ConfigError(f"{where}: give 'recordings' (paths or sample:SEED) or 'root' and 'split'")
    if isinstance(entries, (str, Path)):
        entries = [entries]
    cache = Path(spec.get("sample_cache", SECTION_DEFAULTS["sample_cache"]))
    out = []
    for entry in entries:
        text = str(entry)
        if text.startswith("sample:"):
            out.append(str(_ensure_sample(text, cache, spec, where, progress)))
        elif text.startswith("synthetic:"):
            out.extend(_ensure_synthetic(text, cache, spec, where, progress))
        else:
            _check_exists(text, _key(where, "recordings"))
            out.append(text)
    return out


def check_recording_paths(entries: object, key: str) -> None:
    """Refuse, naming `key`, the first recording path that is missing or a symlink loop (`sample:` and
    `synthetic:` entries are made when used): a command checks them before it prints or loads anything."""
    for entry in entries:
        text = str(entry)
        if not text.startswith(GENERATED_ENTRIES):
            _check_exists(text, key)


def _check_exists(text: str, key: str) -> None:
    """One line naming `key` when a recording path is missing or a symlink loop."""
    if Path(text).exists():
        return
    try:
        os.stat(text)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{key}: {text} is a symlink loop (following its links leads back to it)") from None
    if os.path.islink(text):
        raise ConfigError(f"{key}: {text} is a broken symlink (its target {os.readlink(text)} does not exist)")
    raise ConfigError(f"{key}: {text} does not exist{relative_hint(text, key)}")


def relative_hint(text: str, key: str) -> str:
    """For a relative path of a config key that is not there: where it was looked for (a YAML file beside its
    data reads as if its paths were from its own folder, but they are from the current one, as a shell's)."""
    if not key.startswith("data.") or Path(text).is_absolute():
        return ""
    return f" (relative paths in a config are read from the current folder, {Path.cwd()}, not the config file's)"


def sample_seed(entry: str, key: str) -> int:
    """The seed of a `sample:SEED` entry: plain decimal digits 0..2**63-1, nothing else (int() would take
    `+1`, ` 1` and `1_0` too, so one seed could be written many ways); `key` names the entry's source."""
    digits = entry.split(":", 1)[1]
    if not re.fullmatch(r"-?[0-9]+", digits):  # a minus sign is named by the range below
        raise ConfigError(f"{key}: {entry!r} should be sample:SEED with SEED plain decimal digits (e.g. sample:1)")
    seed = int(digits)
    if not 0 <= seed < 2**63:
        raise ConfigError(f"{key}: {entry!r}: the seed must be an integer in 0..2**63-1")
    return seed


def _ensure_sample(entry: str, cache: Path, spec: dict, where: str, progress: bool = False) -> Path:
    seed = sample_seed(entry, _key(where, "recordings"))
    seconds = float(spec.get("sample_seconds", SECTION_DEFAULTS["sample_seconds"]))
    size = tuple(spec.get("sample_size", SECTION_DEFAULTS["sample_size"]))
    path = cache / f"sample-seed{seed}-{seconds:g}s-{size[0]}x{size[1]}.h5"
    if os.path.lexists(path):
        _check_cached_sample(path, seed, seconds, size)
    else:
        from egvsr.errors import OutputExistsError
        from egvsr.events.simulate import make_sample

        try:
            make_sample(path, seed=seed, seconds=seconds, size=size, progress=progress)
        except OutputExistsError:
            if not path.is_file():  # another run made the same cached sample meanwhile: use it
                raise
    return path


def _check_cached_sample(path: Path, seed: int, seconds: float, size: tuple[int, int]) -> None:
    """Refuse, naming it, a file at a sample recording's cache name that is not that recording (truncated,
    damaged, or made with other settings): it is reused by its name, so nothing else may pass for it."""
    from egvsr.events.io.h5util import header_mismatch
    from egvsr.events.simulate.sample import GENERATOR, GENERATOR_VERSION

    want = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "seed": seed, "seconds": seconds,
            "height": int(size[0]), "width": int(size[1])}
    why = header_mismatch(path, want, what="sample recording")
    if why is not None:
        raise InputFileError(f"{path}: the cached sample recording is {why}; delete it and it is made again")


def _ensure_synthetic(entry: str, cache: Path, spec: dict, where: str, progress: bool = False) -> list[str]:
    from egvsr.datasets.synthetic import ensure_clips, parse_entry

    split, indices = parse_entry(entry, _key(where, "recordings"))
    size = tuple(spec.get("synthetic_size", SECTION_DEFAULTS["synthetic_size"]))
    keys = (_key(where, "synthetic_size"), _key(where, "synthetic_frames"))
    seed, frames = (spec.get(k, SECTION_DEFAULTS[k]) for k in ("synthetic_seed", "synthetic_frames"))
    return ensure_clips(cache, seed, split, indices, size, frames,
                        progress=progress, keys=keys)


def build_dataset(spec: dict, where: str, progress: bool = False, **fixed: Any) -> Any:
    """An `EventVSRDataset` from a config section (`fixed` options override the section); `progress`
    shows bars while missing sample/synthetic recordings are generated."""
    from egvsr.datasets.vsr_dataset import EventVSRDataset, OptionError

    spec = dict(spec)
    check_section(spec, where)  # every key's type and range, before anything is generated or read
    options = {k: v for k, v in spec.items() if k in _dataset_options()}
    options.update(fixed)
    if spec.get("root") is not None:
        root = Path(spec["root"])
        if not root.is_dir():
            raise ConfigError(f"{where}.root: {root} is not a folder{relative_hint(str(root), where)}")
        paths = _root_paths(root, spec.get("split") or SECTION_DEFAULTS["split"], where)
    else:
        paths = resolve_recordings(spec, where, progress)
    try:
        return EventVSRDataset(paths, **options)
    except OptionError as exc:
        if exc.option in fixed:  # set by the command, not by the section: the library's words fit
            raise
        raise exc.in_config(where) from None


def _root_paths(root: Path, split: str, where: str) -> list[Path]:
    """The recordings of `split` in the dataset root, an error naming the section's key when it has none."""
    from egvsr.datasets.root import DatasetRoot

    key = f"{where}.root" if split == "all" else f"{where}.split"
    try:
        return DatasetRoot(root).paths(split)
    except (ConfigError, InputFileError) as exc:
        raise type(exc)(f"{key}: {exc}") from None
