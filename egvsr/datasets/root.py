"""A dataset root: a folder of recordings plus split files naming which belong to which split.

A recording is any file or folder the readers detect by content (HDF5 of a known layout, AEDAT4,
Prophesee .raw/.dat, a CED folder); other files (split files, notes) are not recordings. A split is, in this order: `all`; a split file
`<root>/splits/<split>.txt` or `<root>/<split>.txt`; a sub-folder `<root>/<split>/`; or a split shipped
with the toolkit (`ced_test`, `ced_excluded`, `vid4`, `ced_train`) (docs/datasets.md). A split names
something inside the root: an absolute path or one through `..` is refused, as is a split of no recording.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path, PurePath

from egvsr.errors import ConfigError, InputFileError
from egvsr.events.io.arguments import check_path
from egvsr.fsutil import read_utf8_text

H5_SUFFIXES = (".h5", ".hdf5")
#: What the readers take as a recording, for the messages that say a root or split holds none.
RECORDING_KINDS = ("files or folders of a layout egvsr reads: HDF5, AEDAT4, Prophesee .raw/.dat, CED folders of "
                   "<ns>.npy / <ns>.png")


def parse_split(text: str, where: str) -> list[str]:
    """Names listed in a split file's text; duplicates raise (they would double-count a clip). A folder's name
    may end in '/' as a shell completes it (`indoors_office/` is `indoors_office`)."""
    names: list[str] = []
    for line in text.splitlines():
        name = line.split("#", 1)[0].strip()
        name = name.rstrip("/") or name
        if not name:
            continue
        if name in names:
            raise ConfigError(f"{where}: recording {name!r} is listed twice")
        names.append(name)
    return names


def builtin_splits() -> list[str]:
    """Names of the split files shipped in `egvsr/datasets/splits/` (plus the derived `ced_train`)."""
    files = resources.files("egvsr.datasets").joinpath("splits")
    return sorted([p.name[:-4] for p in files.iterdir() if p.name.endswith(".txt")] + ["ced_train"])


def builtin_split(name: str) -> list[str]:
    """The recording names of a shipped split file (e.g. `ced_test`)."""
    f = resources.files("egvsr.datasets").joinpath("splits", f"{name}.txt")
    if not f.is_file():
        raise ConfigError(f"split {name!r} is not shipped with egvsr; shipped: {builtin_splits()}")
    return parse_split(f.read_text(encoding="utf-8"), f"egvsr/datasets/splits/{name}.txt")


def _is_recording_dir(path: Path) -> bool:
    """A folder the readers open as one recording (a CED folder), not a folder of recordings."""
    from egvsr.events.io.detect import sniff_layout

    return sniff_layout(path) is not None


def _recording_name(entry: Path) -> str | None:
    """The name `entry` is listed under when it is a recording the readers detect by content (HDF5, AEDAT4,
    Prophesee .raw/.dat, a CED folder), else None. A `.h5`/`.hdf5` file always counts, so a damaged
    one is reported when opened instead of silently left out."""
    from egvsr.events.io.detect import sniff_layout

    if entry.is_file() and entry.suffix.lower() in H5_SUFFIXES:
        return entry.stem
    if sniff_layout(entry) is None:
        return None
    return entry.name if entry.is_dir() else entry.stem


def _not_a_recording(entry: Path) -> str | None:
    """What `entry` is when it exists but the readers take no recording from it ("an empty folder", ...),
    None when it does not exist."""
    try:
        if entry.is_dir():
            return "an empty folder" if not any(entry.iterdir()) else "a folder of no layout egvsr reads"
        return "a file of no layout egvsr reads" if entry.exists() else None
    except OSError:
        return None


def find_recordings(folder: Path) -> dict[str, Path]:
    """Recordings directly inside `folder` (every file or folder the readers detect), by name (file stem
    or folder name), sorted."""
    out: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        name = None if entry.name.startswith(".") else _recording_name(entry)
        if name is None:
            continue
        if name in out:
            raise InputFileError(
                f"{folder}: two recordings are named {name!r} ({out[name].name}, {entry.name})"
            )
        out[name] = entry
    return out


def read_split_file(path: Path) -> list[str]:
    """The names a split file lists, or one line naming the file when it cannot be read as UTF-8 text. A byte
    order mark (Windows editors write one) is no part of the first name; CRLF line ends are line ends."""
    return parse_split(read_utf8_text(path, "split file", "one recording name per line"), str(path))


def check_split_name(split: object) -> str:
    """`split` when it is a split name or a relative path inside a root (`LRx4/test`); one line otherwise:
    a split never reads recordings outside its root (give that folder as the root instead)."""
    if not isinstance(split, str) or not split.strip():
        raise ConfigError(f"split {split!r}: expected a split name (text), e.g. all, ced_test or the name of "
                          "a split file")
    if PurePath(split).is_absolute() or ".." in PurePath(split).parts:
        raise ConfigError(f"split {split!r}: expected a split name or a sub-folder of the root, not a path "
                          "leading out of it; give that folder as the dataset root instead")
    return split


class DatasetRoot:
    """A folder of recordings with split files (see module doc)."""

    def __init__(self, path: str | os.PathLike) -> None:
        check_path(path, "path", "a dataset root folder")
        self.path = Path(path)
        if self.path.is_file():
            raise InputFileError(f"{self.path}: dataset root is a file; expected a folder of recordings "
                                 "(open one recording with open_recording)")
        if not self.path.is_dir():
            raise InputFileError(f"{self.path}: dataset root not found (expected a folder of recordings)")
        self._found: dict[str, Path] | None = None

    def recordings(self) -> dict[str, Path]:
        """Every recording directly in the root, by name."""
        if self._found is None:
            self._found = find_recordings(self.path)
        return self._found

    def splits(self) -> list[str]:
        """Split names available here: split files, split sub-folders and shipped splits."""
        names = {"all", *builtin_splits()}
        for folder in (self.path / "splits", self.path):
            if folder.is_dir():
                names.update(p.stem for p in folder.glob("*.txt"))
        names.update(p.name for p in self.path.iterdir() if p.is_dir() and not _is_recording_dir(p)
                     and p.name != "splits" and find_recordings(p))
        return sorted(names)

    def paths(self, split: str = "all") -> list[Path]:
        """Paths of the recordings of `split`, in the split file's order (else sorted by name)."""
        split = check_split_name(split)
        if split == "all":
            if not self.recordings():
                raise InputFileError(f"{self.path}: dataset root holds no recordings ({RECORDING_KINDS})")
            return list(self.recordings().values())
        for f in (self.path / "splits" / f"{split}.txt", self.path / f"{split}.txt"):
            if f.is_file():
                names = read_split_file(f)
                if not names:
                    raise InputFileError(f"{f}: split file lists no recordings; expected one recording name per "
                                         "line ('#' starts a comment)")
                return self._resolve(names, str(f))
        sub = self.path / split
        if sub.is_dir() and not _is_recording_dir(sub):
            found = find_recordings(sub)
            if not found:
                raise InputFileError(f"{sub}: split folder holds no recordings (files or folders of a layout egvsr reads)")
            return list(found.values())
        if split == "ced_train":
            test = set(builtin_split("ced_test"))
            train = [p for n, p in self.recordings().items() if n not in test]
            if not train:
                raise InputFileError(f"{self.path}: split 'ced_train' holds no recordings (it is every recording "
                                     "of the root outside ced_test)")
            return train
        if split in builtin_splits():
            return self._resolve(builtin_split(split), f"shipped split {split!r}")
        raise ConfigError(
            f"{self.path}: unknown split {split!r}; expected one of {self.splits()} "
            f"(or a split file {self.path / 'splits' / (split + '.txt')})"
        )

    def _resolve(self, names: list[str], where: str) -> list[Path]:
        found = self.recordings()
        missing = [n for n in names if n not in found]
        by_entry = {p.name: n for n, p in found.items()}
        for name in missing:  # a recording's file name: list it by its name, without suffix
            if name in by_entry:
                raise InputFileError(f"{self.path / name}: listed in {where} as {name!r}; list it as "
                                     f"{by_entry[name]!r} (a split names recordings without their suffix)")
        for name in missing:  # there, but not a recording: say so, not "not found"
            plain = PurePath(name).name == name and name != ".."  # an entry of the root itself, nothing beyond
            what = _not_a_recording(self.path / name) if plain else None
            if what:
                raise InputFileError(f"{self.path / name}: listed in {where}, but it is {what}, not a recording "
                                     f"(recordings are {RECORDING_KINDS})")
        if missing:
            raise InputFileError(
                f"{self.path}: {len(missing)} recording(s) of {where} not found in the root: "
                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
            )
        return [found[n] for n in names]

    def open(self, split: str = "all", fps: float | None = None) -> list:
        """Open the recordings of `split` (metadata only; see `open_recording`)."""
        from egvsr.datasets.opening import open_recording

        return [open_recording(p, fps=fps) for p in self.paths(split)]
