"""Safe file output: nothing a user already has is lost, and nothing half-written appears.

Every output is written under a temporary sibling (named by host and pid, so a killed writer's
leftovers are cleaned by the next run) and renamed into place on success. An existing output is
replaced only with `--overwrite`, and only a regular file or a folder this command marked; symbolic
links and outputs that are (or hold) an input are refused (docs/io.md, "Outputs").
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import itertools
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from egvsr.errors import ConfigError, EgvsrError, FormatError, InputFileError, OutputError, OutputExistsError
from egvsr.process import check_pending, held_signals, one_line

TEMP_MARK = ".egvsr-partial"
#: File in every folder output naming the command that wrote it; only such a folder is replaced.
MARKER = ".egvsr-output"
_FILES_HEADER = "# files written (an --overwrite replaces this folder only while it holds nothing else):"
NAME_MAX = 255  # bytes in one file name on nearly every file system (ext4, xfs, btrfs, tmpfs, NTFS)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def fmt_size(n: float) -> str:
    """Bytes for the messages of size checks, three digits in SI units: '1.47 TB', '45.6 MB', '512 bytes'."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def counted(n: int, noun: str) -> str:
    """'1 frame', '3 frames', '12,000 events': a count (thousands separated) with its noun, for summary lines."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def named_path(path: str | os.PathLike) -> Path:
    """`path` as a name can be taken from it: `.`, `..` or `a/..` (no name of their own) as the folder they
    mean, resolved as the system finds it; any other path as it is. (`/` stays nameless.)"""
    p = Path(path)
    return p.resolve() if p.name in ("", "..") else p


def shown(name: str | os.PathLike) -> str:
    """`name` (a path or text holding one) as text that always encodes as UTF-8, for HDF5 attributes,
    titles and text files: bytes of a file name that are not UTF-8 (Python's surrogate escapes) appear
    as `\\xNN`, as Python shows them (docs/io.md, "Outputs")."""
    text = os.fsdecode(name)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable(name: str | os.PathLike | bytes) -> str:
    """`name` (a path or a message holding one) for a one-line message: bytes that are not UTF-8 as `\\xNN`
    (`shown`), characters that do not print (a newline, a NUL byte) escaped as Python writes them
    (`process.one_line`)."""
    return one_line(shown(name))


def read_utf8_text(path: Path, what: str | None = None, expected: str = "a UTF-8 text file") -> str:
    """The text of the small UTF-8 file `path` (a list of names or times), a byte-order mark dropped (Windows
    editors write one; it is no part of the first line). A file that is not UTF-8 is a `FormatError` naming
    the byte offset in the file (the mark counted), one that cannot be read an `InputFileError`; `what` (a
    "split file") is said in both, `expected` after the first."""
    bom = 0
    try:
        data = path.read_bytes()
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: {f'{what} is ' if what else ''}not UTF-8 text (byte {bom + exc.start} cannot be "
                          f"decoded); expected {expected}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read {f'the {what}' if what else 'this file'} "
                             f"({exc.strerror or exc})") from None

def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes for unprivileged writers on the file system of `folder` (or its nearest existing
    ancestor), or None when unknown: outputs larger than this are refused before any work. A file system
    of no size at all (a virtual one such as /proc: 0 blocks) says nothing of space: None, not 0."""
    try:
        usage = shutil.disk_usage(_existing_ancestor(Path(folder)))
    except OSError:
        return None
    return int(usage.free) if usage.total > 0 else None


def _check_name(out: Path) -> None:
    """Refuse an output whose file name is longer than its file system allows, before any work."""
    size = len(os.fsencode(out.name))
    limit = _name_max(_existing_ancestor(out.parent))
    if size > limit:
        raise OutputError(f"{out}: the file name is {size} bytes, longer than the file system's limit of "
                          f"{limit}; choose a shorter name")


def _refuse_link(out: Path) -> None:
    if out.is_symlink():
        raise OutputExistsError(
            f"{out}: output is a symbolic link; egvsr neither writes through nor replaces links: "
            "name the real path, or remove the link"
        )


def output_path(path: str | os.PathLike) -> Path:
    """`path` with its `..` parts worked out as the system does (a link before one is followed; a
    missing folder before one is neither needed nor created), the last name kept as given (a link
    there is refused, not followed); a path without `..` is returned as given. A relative path while the
    current folder no longer exists (deleted or moved away) is refused: it names no place to write."""
    out = Path(path)
    if not out.is_absolute():
        try:
            os.getcwd()
        except FileNotFoundError:
            raise OutputError(f"{shown(path)}: the current folder no longer exists (deleted or moved away), so "
                              "this relative output path names no folder; change to an existing folder or give "
                              "an absolute path") from None
    if ".." not in out.parts:
        return out
    if out.name == "..":
        return Path(os.path.realpath(out))
    return Path(os.path.realpath(out.parent)) / out.name


def _refuse_folder_spelling(path: str | os.PathLike) -> None:
    """A file output spelled with a trailing slash (Windows: either slash) names a folder: refused rather than
    written as a file, naming the slash given."""
    text = os.fspath(path)
    if isinstance(text, str) and text.endswith(tuple(s for s in (os.sep, os.altsep) if s)) and text.strip("/"):
        raise OutputError(f"{text}: ends in '{text[-1]}', which names a folder, but this output is a file; "
                          "name the file (e.g. out.h5)")


def check_flag(value: object, name: str) -> bool:
    """`value` as a bool when it is one (Python's or NumPy's), else a `ConfigError` naming `name`: a flag
    given as "no", 0 or None is refused, never taken by its truth (a truthy "no" would replace an output)."""
    np = sys.modules.get("numpy")  # a NumPy bool exists only once NumPy is loaded; fsutil does not load it
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return bool(value)
    raise ConfigError(f"`{name}` {value!r}: expected True or False")


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Return `path` as a Path if a file may be written there, else raise (see the module notes)."""
    overwrite = check_flag(overwrite, "overwrite")
    _refuse_folder_spelling(path)
    out = output_path(path)
    _check_name(out)
    _refuse_link(out)
    if out.exists():
        mode = out.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputExistsError(f"{out}: output path is a folder, expected a file path; "
                                    "egvsr never replaces a folder with a file, even with --overwrite")
        if not stat.S_ISREG(mode):
            raise OutputExistsError(
                f"{out}: output exists and is not a regular file (a device, FIFO or socket); egvsr "
                "replaces only regular files, even with --overwrite"
            )
        if not overwrite:
            raise OutputExistsError(
                f"{out}: output already exists; choose another path or pass --overwrite (overwrite=True in Python)"
            )
    return out


def case_insensitive(folder: str | os.PathLike) -> bool:
    """Whether the file system of `folder` (or of its nearest existing ancestor) takes names that differ
    only in case for one name, as macOS's and Windows' own file systems (and FAT, exFAT anywhere) do: an
    entry of the folder (else the folder itself, in its parent) is looked up with its letters' case swapped.
    Where nothing there has a letter, the system's usual file system says (macOS, Windows: True)."""
    try:
        base = _existing_ancestor(Path(folder))
    except OSError:  # a name too long to look up
        return sys.platform in ("darwin", "win32")
    try:
        with os.scandir(base) as entries:
            cased = list(itertools.islice((Path(e.path) for e in entries if e.name.swapcase() != e.name), 8))
    except OSError:  # not a folder (the output file itself), or not listable
        cased = []
    for p in cased + [p for p in (base, *base.parents) if p.name.swapcase() != p.name]:
        found = _found_swapped(p)
        if found is not None:
            return found
    return sys.platform in ("darwin", "win32")


def _found_swapped(p: Path) -> bool | None:
    """Whether `p`'s name with its letters' case swapped finds `p` itself; None when that cannot be told: `p`
    is gone (a temporary file removed meanwhile), or both names are there on a file system without file
    numbers (`file_id`)."""
    try:
        ours = file_id(os.lstat(p))
    except OSError:
        return None
    try:
        other = file_id(os.lstat(p.with_name(p.name.swapcase())))
    except OSError:
        return False
    return None if ours is None or other is None else ours == other


def _folded(name: str | os.PathLike) -> str:
    """`name` as a case-insensitive file system compares it: case folded, and accents composed (macOS's
    also takes `é` as one character or as `e` and a combining accent for one name)."""
    return unicodedata.normalize("NFC", os.fsdecode(name)).casefold()


def _same_place(a: Path, b: Path) -> bool:
    """Whether the resolved paths `a` and `b` name one place: equal, or equal but for case (and the
    composition of accents) where the file system takes either for one name (`case_insensitive`)."""
    return a == b or (_folded(a) == _folded(b) and case_insensitive(a))


def _same_name(a: Path, b: Path) -> bool:
    """Whether the last names of `a` and `b` (in one folder, `a`'s) name one entry there."""
    return a.name == b.name or (_folded(a.name) == _folded(b.name) and case_insensitive(a.parent))


def _within(child: Path, folder: Path) -> bool:
    """Whether the resolved path `child` is the resolved `folder` or lies inside it (case as `_same_place`)."""
    n = len(folder.parts)
    return child.is_relative_to(folder) or (len(child.parts) >= n and _same_place(Path(*child.parts[:n]), folder))


def file_id(st: os.stat_result) -> tuple[int, int] | None:
    """(device, inode) of a file's `stat`, which tells it apart from every other file; None where the file
    system gives no file numbers (some Windows network and virtual drives say 0 for every file)."""
    return (st.st_dev, st.st_ino) if st.st_ino else None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when `a` and `b` name one file: the same resolved path (a case-insensitive file system's `X.h5`
    and `x.h5` included, neither existing yet), or the same device and inode."""
    a, b = Path(a), Path(b)
    try:
        if _same_place(a.resolve(), b.resolve()):
            return True
        sa, sb = a.stat(), b.stat()
    except (OSError, RuntimeError):
        return False
    return file_id(sa) is not None and file_id(sa) == file_id(sb)


def _present(p: Path) -> bool:
    """True when something (a dangling link included) is at `p`; False also when `p` cannot be looked
    up (a name too long: the output checks report that)."""
    try:
        return p.exists() or p.is_symlink()
    except OSError:
        return False


def is_folder(p: Path) -> bool:
    """Whether `p` is a folder; False where the file system cannot say."""
    try:
        return p.is_dir()
    except OSError:
        return False


def is_inside(child: Path, folder: Path) -> bool:
    """Whether `child` is `folder` or lies inside it, both resolved; False where they cannot be resolved."""
    try:
        return _within(child.resolve(), folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False


@dataclass(frozen=True)
class FolderMembers:
    """What a reader takes from an input folder, found by listing it (nothing decoded), for the output
    checks: `files`, wherever they lie (a link, or a list of paths, may lead outside the folder), and any
    new file in one of `folders` whose name `names` matches (it would be read as a member next time),
    and `reserved`: paths where a new file or folder would change what is read (a frame-time file, an image
    subfolder the reader would prefer)."""

    files: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()
    names: re.Pattern[str] | None = None
    reserved: tuple[Path, ...] = ()

    def claims(self, path: Path, folder: bool = False) -> bool:
        """Whether a new file (`folder`: a new folder) at `path` would be read as, or change, the members."""
        if any(_same_name(path, r) and same_file(path.parent, r.parent) for r in self.reserved):
            return True
        return (not folder and self.names is not None and self.names.fullmatch(path.name) is not None
                and any(same_file(path.parent, f) for f in self.folders))


class _Input(NamedTuple):
    """A path a command reads: named on its command line (`via` None), or reached through the input
    folder `via` (a member file it reads, a folder it links to)."""

    path: Path
    via: Path | None = None
    how: str = "reads"  # what `via` does with it: "reads", "links to"

    def named(self, noun: str = "") -> str:
        """How messages name it: `the input file X`, or `X, which the input folder F reads`."""
        if self.via is None:
            return f"the input {noun} {self.path}" if noun else f"the input {self.path}"
        return f"{self.path}, which the input folder {self.via} {self.how}"


def _identity(p: Path) -> tuple[Path | None, tuple[int, int] | None, bool]:
    """(resolved path, (device, inode), whether a folder) of `p`, the first two None where unknown:
    `same_file` and `is_folder`, computed once."""
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):
        return None, None, False
    try:
        st = p.stat()
    except OSError:
        return resolved, None, False
    return resolved, file_id(st), stat.S_ISDIR(st.st_mode)


def _linked_folders(folder: Path) -> list[Path]:
    """The folders that links directly inside `folder` lead to (its frames may lie there)."""
    try:
        with os.scandir(folder) as entries:
            links = [Path(e.path) for e in entries if e.is_symlink()]
    except OSError:
        return []
    return [p.resolve() for p in links if is_folder(p)]


def listed_members(folder: Path, *listers: Callable[[Path], FolderMembers]) -> list[FolderMembers]:
    """What each reader's lister (`listers`) takes from input folder `folder`, for
    `refuse_inputs_as_outputs`; a listing that fails is left out: that reader then refuses the folder
    itself, before anything is written."""
    found = []
    for lister in listers:
        try:
            found.append(lister(folder))
        except (EgvsrError, OSError):
            continue
    return found


def _reached_inputs(ins: list[Path], members: Callable[[Path], Iterable[FolderMembers]] | None
                    ) -> tuple[list[_Input], list[_Input], list[tuple[FolderMembers, Path]]]:
    """The named inputs with the folders their folders link to; the files the readers of those
    folders take; and each input folder's listing (for the names it would read)."""
    named = [_Input(i) for i in ins]
    files, listings = [], []
    for i in ins:
        if not is_folder(i):
            continue
        named += [_Input(d, i, "links to") for d in _linked_folders(i)]
        for m in members(i) if members is not None else ():
            files += [_Input(f, i) for f in m.files]
            listings.append((m, i))
    return named, files, listings


def refuse_inputs_as_outputs(inputs: Iterable[str | os.PathLike | None],
                             outputs: Iterable[str | os.PathLike | None],
                             folders: Iterable[str | os.PathLike | None] = (),
                             members: Callable[[Path], Iterable[FolderMembers]] | None = None) -> None:
    """Refuse, before any work, outputs that would destroy an input or each other:
    - an output that is one of the inputs (same resolved path or inode);
    - a folder output that is, or holds, an input;
    - an existing path inside an input folder (it may be part of that input), even with --overwrite;
    - two outputs at one path, or an output inside a folder output (replacing the folder would
      delete it, or the folder's rename would fail after the other was written).
    `members(folder)` lists what the readers take from an input folder (`FolderMembers`): those files,
    and the folders that links in it lead to, count as inputs too, and a new file output that its
    reader would take as a member is refused. `outputs` are files (a trailing `/` is refused),
    `folders` folders; `..` in either is worked out first (`output_path`)."""
    for p in outputs:
        if p is not None:
            _refuse_folder_spelling(p)
    outs = [output_path(p) for p in outputs if p is not None]
    dirs = [output_path(p) for p in folders if p is not None]
    named, files, listings = _reached_inputs([Path(p) for p in inputs if p is not None], members)
    _refuse_outputs_on_inputs(outs, dirs, named)  # first: the messages naming what the user named
    if any(_present(o) for o in outs + dirs):  # only an existing path can be a member file or hold one
        _refuse_outputs_on_inputs(outs, dirs, files)
    refuse_package_data(outs, dirs)
    for o, is_dir in [(o, False) for o in outs] + [(d, True) for d in dirs]:
        for m, folder in listings:
            if not _present(o) and m.claims(o, is_dir):
                what = "a folder" if is_dir else "a file"
                raise OutputExistsError(
                    f"{o}: the input folder {folder} would read {what} of this name there as part of the "
                    "recording (its frames, event packets or frame times); choose another name or a path "
                    "outside it")
    every = outs + dirs
    for k, o in enumerate(every):
        for other in every[k + 1:]:
            if same_file(o, other):
                raise ConfigError(f"{other}: the same path is given for two outputs; give each output its own path")
        for d in dirs:
            if d is not o and is_inside(o, d):
                raise ConfigError(
                    f"{o}: lies inside the output folder {d}, which is written as a whole; "
                    "choose a path outside it"
                )


#: the installed package's data folder: its shipped checkpoint is the default input of render, eval and demo
PACKAGE_DATA = Path(__file__).resolve().parent / "data"
SHIPPED_CHECKPOINT = PACKAGE_DATA / "egvsr-sample.pt"


def refuse_package_data(outs: Iterable[Path], dirs: Iterable[Path] = ()) -> None:
    """Refuse an output that is the shipped checkpoint (any spelling, a hard link included), lies inside
    the package's data folder, or (a folder output) holds it: even with --overwrite, as render, eval and
    demo read it when no checkpoint is given. (scripts/ship_weights.py, which writes it on purpose, does
    not call this.)"""
    for o, is_dir in [(Path(o), False) for o in outs] + [(Path(d), True) for d in dirs]:
        inside = same_file(o, SHIPPED_CHECKPOINT) or is_inside(output_path(o), PACKAGE_DATA)
        if inside or (is_dir and is_inside(PACKAGE_DATA, output_path(o))):
            where = "is, or is inside," if inside else "is a folder holding"  # `..` holds it: not inside it
            raise OutputExistsError(
                f"{o}: output {where} the package's data folder {PACKAGE_DATA} (its shipped "
                "weights are the default checkpoint of render, eval and demo); egvsr never writes there, "
                "even with --overwrite: choose another output path")


def _refuse_outputs_on_inputs(outs: list[Path], dirs: list[Path], reached: list[_Input]) -> None:
    """The checks of `refuse_inputs_as_outputs` against its inputs (each input looked up once)."""
    by_id: dict[object, _Input] = {}
    resolved_inputs, folders = [], []
    for inp in reached:
        resolved, inode, folder = _identity(inp.path)
        for key in (resolved, inode):
            if key is not None:
                by_id.setdefault(key, inp)
        if resolved is not None:
            resolved_inputs.append((resolved, inp))
            if folder:
                folders.append((resolved, inp))
    for o, is_dir in [(o, False) for o in outs] + [(d, True) for d in dirs]:
        resolved, inode, _ = _identity(o)
        hit = next((by_id[k] for k in (resolved, inode) if k is not None and k in by_id), None)
        if hit is None and resolved is not None:  # `x.h5` for the input `X.h5` where case makes no difference
            hit = next((inp for r, inp in resolved_inputs if _same_place(resolved, r)), None)
        if hit is not None:
            if is_dir:
                raise OutputExistsError(f"{o}: output folder is {hit.named()}; choose another output folder")
            noun = "folder" if is_folder(hit.path) else "file"
            raise OutputExistsError(f"{o}: output is {hit.named(noun)}; choose another output path")
        if resolved is None:
            continue
        if is_dir:
            for r, inp in resolved_inputs:
                if _within(r, resolved):
                    raise OutputExistsError(f"{o}: output folder holds {inp.named()}; choose another output folder")
        if _present(o):
            for folder, inp in folders:
                if _within(resolved, folder):
                    raise OutputExistsError(
                        f"{o}: already exists inside {inp.named('folder')}, so it may be part of "
                        "the input and is never replaced, even with --overwrite; choose another output path"
                    )


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def temp_prefix(out: Path) -> str:
    """Start of this host's temporary names for `out`; the process id follows.

    A long output name is shortened (its start plus a hash of the whole), so the temporary name fits the
    255-byte limit whenever the final name does."""
    name = out.name
    if len(os.fsencode(name)) > 120:
        digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:16]
        name = os.fsencode(name)[:80].decode("utf-8", "ignore") + "~" + digest
    return f".{name}.{_host()}-pid"


#: Windows: `os.kill(pid, 0)` there is no probe (signal 0 is CTRL_C_EVENT, sent to a console process group;
#: any other number terminates the process), so a process is looked up by its handle instead
_WINDOWS = os.name == "nt"


def _alive_windows(pid: int) -> bool:
    """True when the Windows process `pid` is running (or cannot be looked up: assumed alive)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process; denied: alive
    try:
        code = wintypes.DWORD()
        return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _alive(pid: int) -> bool:
    """True when process `pid` exists (or cannot be probed: then it is assumed alive)."""
    if pid == os.getpid():
        return True
    if _WINDOWS:
        try:
            return _alive_windows(pid)
        except (OSError, AttributeError, ValueError):  # no kernel32 to ask: keep its files
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: someone else's live process
        return True
    return True


def _is_partial(name: str, prefix: str) -> bool:
    """A temporary of ours: `PREFIX<pid>.XXXX.egvsr-partial`, possibly with a suffix (`.mp4`)."""
    return name.startswith(prefix) and (name.endswith(TEMP_MARK) or f"{TEMP_MARK}." in name)


def remove_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary siblings of `path` left by writers on this host that no longer run."""
    out = Path(path)
    prefix = temp_prefix(out)
    removed = []
    try:
        entries = list(out.parent.iterdir()) if out.parent.is_dir() else []
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not _is_partial(name, prefix):
            continue
        pid_text = name[len(prefix):].split(".", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:  # raced with another cleaner, or not ours to remove: leave it
            continue
        removed.append(entry)
    return removed


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Windows' errors of a file another program holds open (ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION), which
#: Python calls EACCES: Windows neither replaces nor moves such a file (nor a folder holding one)
_IN_USE_WINDOWS = (32, 33)


#: a failed write's reason in words, by errno (`output_error`; `_why_not` adds those of a refused creation)
_WRITE_FAILURES = {
    errno.ENOSPC: "the disk is full",
    errno.EFBIG: "the file size limit is reached (ulimit -f)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EIO: "an input/output error on the device",
    errno.EROFS: "the file system is read-only",
}
_CREATE_FAILURES = {**_WRITE_FAILURES, errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                    errno.ENAMETOOLONG: "the name is too long"}


def _why_not(exc: OSError) -> str:
    """A failed write's reason, in words."""
    if getattr(exc, "winerror", None) in _IN_USE_WINDOWS:
        return "the existing output is open in another program, and Windows replaces no open file: close it"
    return _CREATE_FAILURES.get(exc.errno, exc.strerror or str(exc))


def output_error(out: Path, exc: OSError) -> OutputError:
    """The one-line error for an output whose write failed with `exc`."""
    why = _WRITE_FAILURES.get(exc.errno, exc.strerror or str(exc))
    return OutputError(f"{out}: cannot write the output ({why}); nothing was written under this name: "
                       "free some space or choose another path")


def write_failure(out: Path, exc: BaseException) -> BaseException:
    """What a failed write of output `out` raises: the one-line error of the OSError that caused it, also
    where the writer wrapped it or lost it to a second error while cleaning up (torch's RuntimeError,
    matplotlib's PDF backend that then fails on its own half-made stream with an AttributeError); a
    Ctrl-C or SIGTERM met during the write (alike wrapped or masked) as itself; else `exc` as it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return output_error(out, seen)
        if not isinstance(seen, Exception):  # KeyboardInterrupt (or egvsr's Terminated) inside a write
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _cannot_write(out: Path, exc: OSError) -> OutputError:
    return OutputError(f"{out}: cannot create the output in {out.parent} ({_why_not(exc)}); choose another path")


def existing_folder(path: str | os.PathLike) -> Path:
    """The folder an output at `path` is created in, or its nearest ancestor that exists (the one whose
    file system and permissions decide whether it can be written)."""
    p = output_path(path).absolute().parent
    while not (p.exists() or p.is_symlink()) and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work (and before free space is weighed: a read-only or virtual file system
    has none to give), an output whose folder cannot be made or written: a file where a folder must be,
    a read-only file system, a folder without write permission, or one that takes no new file (`/proc`,
    even for root: an empty temporary file is made there and removed at once to find out)."""
    folder = existing_folder(path)
    parent = output_path(path).absolute().parent
    if not folder.is_dir():
        why = "it is not a folder" if folder == parent else f"{folder} is not a folder"
    elif not os.access(folder, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except (OSError, AttributeError):  # Windows has no os.statvfs: not known to be read-only
            read_only = False
        why = "the file system is read-only" if read_only else f"permission denied to write in {folder}"
    else:
        why = _probe(folder, Path(path))
        if why is None:
            return
    raise OutputError(f"{path}: cannot create the output in {parent} ({why}); choose another path")


def _probe(folder: Path, out: Path) -> str | None:
    """Why no file can be created in `folder` (an empty one is made and removed, named as this output's
    temporaries are, so a leftover is cleaned as theirs), or None when one can."""
    try:
        fd, name = tempfile.mkstemp(prefix=f"{temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK, dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists, yet no file can be made in it
            return "it takes no new files: a virtual file system such as /proc"
        return _why_not(exc)
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def _make_parent(out: Path) -> list[Path]:
    """Create the folders above `out` that are missing; returns them, deepest first."""
    made = [p for p in [out.parent, *out.parent.parents] if not _present(p)]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{out}: cannot create the output in {out.parent} (it is not a folder)") from None
    except OSError as exc:
        remove_made_folders(made)
        raise _cannot_write(out, exc) from None
    return made


def remove_made_folders(made: list[Path]) -> None:
    """Undo the making of folders `made` (deepest first, as `_make_parent` lists them) after a failure:
    remove them while they are empty."""
    for p in made:
        try:
            p.rmdir()
        except OSError:
            return


#: errors of `os.link` on a file system without hard links (FAT, some network and FUSE ones)
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)
#: the same on Windows, by its own codes (Python calls the first two EINVAL): ERROR_INVALID_FUNCTION (FAT,
#: exFAT), ERROR_NOT_SUPPORTED (network shares), ERROR_TOO_MANY_LINKS
_NO_HARD_LINKS_WINDOWS = (1, 50, 1142)


def publish_new(tmp: Path, out: Path) -> bool:
    """Give the finished file `tmp` the name `out` only while nothing is there: False (and `tmp` left as it is)
    when something is. A hard link fails where `out` exists, so a file another process put there after the
    last check is never replaced (a check and a rename would); `tmp` stays as a second name for the caller to
    remove. On a file system without hard links, a check and a rename. Other errors are raised (OSError)."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        return False
    except OSError as exc:
        if _present(out):
            return False
        if exc.errno not in _NO_HARD_LINKS and getattr(exc, "winerror", None) not in _NO_HARD_LINKS_WINDOWS:
            raise
        os.replace(tmp, out)
    return True


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the same folder; on success rename it to `path`, else delete it.

    The temporary name contains `.egvsr-partial` so leftovers of a killed process are recognisable
    and are never mistaken for a finished output.
    """
    out = check_output_path(path, overwrite)
    made = _make_parent(out)
    remove_stale_partials(out)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f"{temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                        dir=out.parent)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        if not hasattr(os, "fchmod"):  # Windows before Python 3.13: by name (there, only read-only is a mode)
            os.chmod(tmp_name, 0o666 & ~current_umask())
    except OSError as exc:
        remove_made_folders(made)
        raise _cannot_write(out, exc) from None
    tmp = Path(tmp_name)
    done = False
    try:
        yield tmp
        check_pending()  # a termination signal whose exception was dropped: do not commit
        check_output_path(out, overwrite)  # appeared, or turned into a link or device, while we wrote
        with held_signals(done=f"{shown(out)} was written in full"):  # the rename and `done` together
            try:
                if overwrite:
                    os.replace(tmp, out)
                elif not publish_new(tmp, out):  # another process wrote it since the check just above
                    raise OutputExistsError(
                        f"{out}: output already exists (another process wrote it while this one ran); choose "
                        "another path or pass --overwrite (overwrite=True in Python)")
            except OSError as exc:
                raise _cannot_write(out, exc) from None
            done = True
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()
        if not done:
            remove_made_folders(made)  # a failed run leaves no empty folders behind either


def _is_ancestor_of_cwd(out: Path) -> bool:
    try:
        return is_inside(Path.cwd(), out)
    except OSError:
        return False


def check_output_folder(path: str | os.PathLike, overwrite: bool = False, kind: str = "egvsr") -> Path:
    """Return `path` as a Path if folder output `kind` (the command, e.g. `render --png`) may be
    written there: absent, or with `overwrite` an earlier output of the same command (its marker)."""
    overwrite = check_flag(overwrite, "overwrite")
    out = output_path(path)
    _check_name(out)
    _refuse_link(out)
    if not out.exists():
        return out
    if not out.is_dir():
        raise OutputExistsError(f"{out}: output exists and is not a folder; expected a folder path for {kind}")
    if _is_ancestor_of_cwd(out):
        raise OutputExistsError(f"{out}: is the current folder or one of its parents; --overwrite never "
                                "replaces it: choose a new output folder")
    if _is_mount_point(out):
        raise OutputError(
            f"{out}: is a mount point; a folder output is built under a temporary name beside it and renamed "
            f"into place, which a mount point cannot take: name a new folder inside it (e.g. "
            f"{out / kind.split()[0]})"
        )
    if _is_empty(out):
        return out  # nothing in it to lose: used as if it were new
    if not overwrite:
        raise OutputExistsError(
            f"{out}: output folder already exists; choose another path or pass --overwrite (overwrite=True in Python)"
        )
    if marker_kind(out) != kind:
        raise OutputExistsError(
            f"{out}: --overwrite replaces only a folder written by `egvsr {kind}` (it holds {MARKER}); "
            "this one is not, so it is kept: choose another path, or empty it yourself"
        )
    foreign = _first_unlisted(out)
    if foreign is not None:
        raise OutputExistsError(
            f"{out}: holds {foreign}, which `egvsr {kind}` did not write there; --overwrite never deletes "
            "what it did not write: move it out of the folder, or choose another path"
        )
    return out


def _is_mount_point(folder: Path) -> bool:
    """Whether `folder` is a mount point (another file system than its parent's, as `os.path.ismount`
    tells): no rename can replace it, so a folder output is refused there before any work."""
    try:
        return os.path.ismount(folder)
    except OSError:
        return False


def _is_empty(folder: Path) -> bool:
    """Whether `folder` holds nothing at all (False where it cannot be listed)."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _listed_files(folder: Path) -> set[str] | None:
    """The paths (relative, '/'-separated) the marker of `folder` lists as written, or None when it
    lists none (a marker of an older version)."""
    try:
        lines = (folder / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return set(lines[2:]) if len(lines) > 1 and lines[1] == _FILES_HEADER else None


def _first_unlisted(folder: Path) -> str | None:
    """The first entry of `folder` (walked without following links) that its marker does not list as
    written by the command: what an --overwrite would delete that is not ours; None when there is none."""
    listed = _listed_files(folder)
    if listed is None:
        return f"{MARKER} of an older egvsr that did not record its files (so nothing in it is known to be ours)"
    parents = {q.as_posix() for p in listed for q in Path(p).parents}
    for root, dirs, files in os.walk(folder):  # (links to folders are listed in `dirs`, not entered)
        base = Path(root).relative_to(folder)
        for name in sorted(dirs):
            rel = (base / name).as_posix()
            ours = rel in listed if (Path(root) / name).is_symlink() else (rel in parents or f"{rel}/" in listed)
            if not ours:
                return rel
        for name in sorted(files):
            rel = (base / name).as_posix()
            if rel != MARKER and rel not in listed:
                return rel
    return None


def _record_files(folder: Path, kind: str) -> None:
    """Rewrite the marker of the finished `folder` with every file it holds (one relative path per line)
    and every empty folder (its path and a `/`: an empty `logs/` a command made is its own too)."""
    names = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        names += [(base / n).as_posix() for n in files + [d for d in dirs if (Path(root) / d).is_symlink()]]
        if not dirs and not files and base != Path("."):
            names.append(f"{base.as_posix()}/")
    names = sorted(n for n in names if n != MARKER and "\n" not in n)
    (folder / MARKER).write_text("\n".join([f"egvsr {kind}", _FILES_HEADER, *names]) + "\n", encoding="utf-8")


def marker_kind(folder: Path) -> str | None:
    """The command named by `folder`'s marker file (its first line), or None without one."""
    marker = folder / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return None
        lines = marker.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return lines[0].strip().removeprefix("egvsr ") if lines else ""


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False, kind: str = "egvsr") -> Iterator[Path]:
    """Like `atomic_output` for a folder of files: build it under a temporary name, then rename.

    The folder gets a marker file naming `kind` (the command) and, once complete, every file written;
    `overwrite` replaces only a folder with the same marker that holds nothing else (`check_output_folder`)."""
    out = check_output_folder(path, overwrite, kind)
    made = _make_parent(out)
    remove_stale_partials(out)
    tmp: Path | None = None
    done = False
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                        dir=out.parent))
            os.chmod(tmp, 0o777 & ~current_umask())
            (tmp / MARKER).write_text(f"egvsr {kind}\n", encoding="utf-8")
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        yield tmp
        check_pending()
        try:
            _record_files(tmp, kind)
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        existed = out.exists() or out.is_symlink()
        if existed:
            check_output_folder(out, overwrite, kind)  # still ours to replace (or still empty)
        aside = None
        with held_signals(done=f"{shown(out)} was written in full"):  # the swap and `done` together
            try:  # (a folder that appeared after the check is not replaced unchecked: `_rename_folder`)
                aside = (_replace_folder(tmp, out, overwrite, kind) if existed
                         else _rename_folder(tmp, out, overwrite, kind))
            except OSError as exc:  # e.g. a folder made a mount point meanwhile
                raise _cannot_write(out, exc) from None
            done = True
        if aside is not None:
            _remove_aside(aside)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            remove_made_folders(made)


def _rename_folder(tmp: Path, out: Path, overwrite: bool, kind: str) -> Path | None:
    """Rename `tmp` to the absent folder `out`; where another process wrote `out` since it was checked (the
    rename fails on a folder that holds files), refuse it without `overwrite`, else replace it as an
    existing one (`check_output_folder`, `_replace_folder`: returns the old folder moved aside)."""
    try:
        os.replace(tmp, out)
        return None
    except OSError as exc:  # (Windows refuses any folder there: ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS)
        there = exc.errno in (errno.ENOTEMPTY, errno.EEXIST) or getattr(exc, "winerror", None) in (5, 183)
        if not there or not is_folder(out):
            raise
    if not overwrite:
        raise OutputExistsError(f"{out}: output folder already exists (another process wrote it while this one "
                                "ran); choose another path or pass --overwrite (overwrite=True in Python)")
    check_output_folder(out, overwrite, kind)
    return _replace_folder(tmp, out, overwrite, kind)


def _replace_folder(tmp: Path, out: Path, overwrite: bool, kind: str) -> Path:
    """Swap `tmp` in for the existing folder `out`: the old one is moved aside first (into the returned
    temporary folder, named as our partials are, for the caller to delete: `_remove_aside`). What is moved
    aside is checked again there, where no one writes by its path any more: a file put in the folder after
    its last check (`check_output_folder`) puts the old folder back and refuses, never to be deleted."""
    aside = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                  dir=out.parent))
    old = aside / "old"
    foreign = None
    try:  # the move aside inside the try: an interrupt right after it still puts the old folder back
        os.replace(out, old)
        foreign = _not_replaceable(old, overwrite, kind)
        if foreign is None:
            os.replace(tmp, out)
    except BaseException:
        if _present(old) and not _present(out):
            os.replace(old, out)
        if not _present(old):
            shutil.rmtree(aside, ignore_errors=True)
        raise
    if foreign is not None:
        try:
            os.replace(old, out)
        except OSError:
            raise OutputExistsError(f"{out}: {foreign} was put in it while it was being replaced; the folder as it "
                                    f"was is kept at {old}: move it back and run again") from None
        shutil.rmtree(aside, ignore_errors=True)  # empty now
        raise OutputExistsError(f"{out}: {foreign} was put in it while it was being replaced; --overwrite never "
                                "deletes what egvsr did not write, so the folder is kept as it was: choose "
                                "another path, or move it out and run again")
    return aside


def _not_replaceable(old: Path, overwrite: bool, kind: str) -> str | None:
    """What in the folder `old`, moved aside to be replaced, was not there to replace (None: nothing):
    any entry but in an empty folder without `overwrite`, else what the same command did not write."""
    if _is_empty(old):
        return None
    if not overwrite or marker_kind(old) != kind:
        with contextlib.suppress(OSError), os.scandir(old) as entries:
            return next((e.name for e in entries if e.name != MARKER), MARKER)
        return "a file"
    return _first_unlisted(old)


#: while outputs are committed together (`committing`), the old folders moved aside, deleted after it
_asides: list[list[Path]] = []


def _remove_aside(aside: Path) -> None:
    """Delete an old folder moved aside by `_replace_folder`, with signals live: now, or at the end of the
    `committing` block around it. A deletion cut short leaves only a temporary of ours (a `.egvsr-partial`
    name beside the output, never read as one), which the next write of that output sweeps
    (`remove_stale_partials`)."""
    if _asides:
        _asides[-1].append(aside)
    else:
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def committing(done: str) -> Iterator[None]:
    """Commit several outputs as one: signals are held over their renames (`held_signals`), so a run
    interrupted meanwhile has either all of them new or all as they were; a signal held until they are all
    in place then ends the run saying `done` (e.g. "its outputs were written in full"), not that nothing was
    left. The old folders they replace are deleted afterwards, with signals live (`_remove_aside`)."""
    asides: list[Path] = []
    _asides.append(asides)
    try:
        with held_signals(done=done):
            yield
    finally:
        _asides.pop()
        for aside in asides:
            shutil.rmtree(aside, ignore_errors=True)


def pread_at(fd: int, n: int, offset: int) -> bytes:
    """Up to `n` bytes at `offset` of the file of `fd` (fewer where it ends): `os.pread`, or where there is
    none (Windows) a seek and a read, which moves the descriptor's position."""
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


def pwrite_at(fd: int, data: bytes | memoryview, offset: int) -> int:
    """Write `data` at `offset` of the file of `fd`, returning how many bytes went (maybe fewer): `os.pwrite`,
    or where there is none (Windows) a seek and a write, which moves the descriptor's position."""
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, data)
