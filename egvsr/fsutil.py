"""Safe file output: nothing a user already has is lost, and nothing half-written appears.

Every output is written under a temporary sibling (named by host and pid, so a killed writer's
leftovers are cleaned by the next run) and renamed into place on success. An existing output is
replaced only with `--overwrite`, and only a regular file or a folder this command marked; symbolic
links and outputs that are (or hold) an input are refused (docs/io.md, "Outputs").
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from egvsr.errors import ConfigError, OutputError, OutputExistsError
from egvsr.process import check_pending

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


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes for unprivileged writers on the file system of `folder` (or its nearest existing
    ancestor), or None when unknown: outputs larger than this are refused before any work."""
    try:
        return int(shutil.disk_usage(_existing_ancestor(Path(folder))).free)
    except OSError:
        return None


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


def check_output_path(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Return `path` as a Path if a file may be written there, else raise (see the module notes)."""
    out = Path(path)
    _check_name(out)
    _refuse_link(out)
    if out.exists():
        if not overwrite:
            raise OutputExistsError(
                f"{out}: output already exists; choose another path or pass --overwrite"
            )
        mode = out.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputExistsError(f"{out}: output path is a directory, expected a file path")
        if not stat.S_ISREG(mode):
            raise OutputExistsError(
                f"{out}: output exists and is not a regular file (a device, FIFO or socket); egvsr "
                "replaces only regular files, even with --overwrite"
            )
    return out


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when `a` and `b` name one file: the same resolved path, or the same device and inode."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
        sa, sb = a.stat(), b.stat()
    except (OSError, RuntimeError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


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
        child.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def refuse_inputs_as_outputs(inputs: Iterable[str | os.PathLike | None],
                             outputs: Iterable[str | os.PathLike | None],
                             folders: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse, before any work, outputs that would destroy an input or each other:
    - an output that is one of the inputs (same resolved path or inode);
    - a folder output that is, or holds, an input;
    - an existing path inside an input folder (it may be part of that input), even with --overwrite;
    - two outputs at one path, or an output inside a folder output (replacing the folder would
      delete it, or the folder's rename would fail after the other was written)."""
    ins = [Path(p) for p in inputs if p is not None]
    outs = [Path(p) for p in outputs if p is not None]
    dirs = [Path(p) for p in folders if p is not None]
    for o in outs:
        for i in ins:
            if same_file(o, i):
                raise OutputExistsError(f"{o}: output is the input file {i}; choose another output path")
    for o in dirs:
        for i in ins:
            if same_file(o, i):
                raise OutputExistsError(f"{o}: output folder is the input {i}; choose another output folder")
            if is_inside(i, o):
                raise OutputExistsError(f"{o}: output folder holds the input {i}; choose another output folder")
    for o in outs + dirs:
        for i in ins:
            if _present(o) and is_folder(i) and is_inside(o, i):
                raise OutputExistsError(
                    f"{o}: already exists inside the input folder {i}, so it may be part of the input and "
                    "is never replaced, even with --overwrite; choose another output path"
                )
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


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def _temp_prefix(out: Path) -> str:
    """Start of this host's temporary names for `out`; the process id follows.

    A long output name is shortened (its start plus a hash of the whole), so the temporary name fits the
    255-byte limit whenever the final name does."""
    name = out.name
    if len(os.fsencode(name)) > 120:
        digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:16]
        name = os.fsencode(name)[:80].decode("utf-8", "ignore") + "~" + digest
    return f".{name}.{_host()}-pid"


def _alive(pid: int) -> bool:
    """True when process `pid` exists (or cannot be probed: then it is assumed alive)."""
    if pid == os.getpid():
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
    prefix = _temp_prefix(out)
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


def _cannot_write(out: Path, exc: OSError) -> OutputError:
    why = exc.strerror or str(exc)
    hint = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
            errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted", errno.ENAMETOOLONG: "the name is too long"}.get(exc.errno, why)
    return OutputError(f"{out}: cannot create the output in {out.parent} ({hint}); choose another path")


def _make_parent(out: Path) -> list[Path]:
    """Create the folders above `out` that are missing; returns them, deepest first."""
    made = [p for p in [out.parent, *out.parent.parents] if not _present(p)]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{out}: cannot create the output in {out.parent} (it is not a folder)") from None
    except OSError as exc:
        _remove_made(made)
        raise _cannot_write(out, exc) from None
    return made


def _remove_made(made: list[Path]) -> None:
    """Undo `_make_parent` after a failure: remove the folders it created, deepest first, while empty."""
    for p in made:
        try:
            p.rmdir()
        except OSError:
            return


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
        fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                        dir=out.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
    except OSError as exc:
        _remove_made(made)
        raise _cannot_write(out, exc) from None
    tmp = Path(tmp_name)
    done = False
    try:
        yield tmp
        check_pending()  # a termination signal whose exception was dropped: do not commit
        check_output_path(out, overwrite)  # appeared, or turned into a link or device, while we wrote
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise _cannot_write(out, exc) from None
        done = True
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                tmp.unlink()
        if not done:
            _remove_made(made)  # a failed run leaves no empty folders behind either


def _is_ancestor_of_cwd(out: Path) -> bool:
    try:
        return is_inside(Path.cwd(), out)
    except OSError:
        return False


def check_output_folder(path: str | os.PathLike, overwrite: bool = False, kind: str = "egvsr") -> Path:
    """Return `path` as a Path if folder output `kind` (the command, e.g. `render --png`) may be
    written there: absent, or with `overwrite` an earlier output of the same command (its marker)."""
    out = Path(path)
    _check_name(out)
    _refuse_link(out)
    if not out.exists():
        return out
    if not overwrite:
        raise OutputExistsError(
            f"{out}: output folder already exists; choose another path or pass --overwrite"
        )
    if not out.is_dir():
        raise OutputExistsError(f"{out}: output exists and is not a folder; expected a folder path for {kind}")
    if _is_ancestor_of_cwd(out):
        raise OutputExistsError(f"{out}: is the current folder or one of its parents; --overwrite never "
                                "replaces it: choose a new output folder")
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
            if rel not in (listed if (Path(root) / name).is_symlink() else parents):
                return rel
        for name in sorted(files):
            rel = (base / name).as_posix()
            if rel != MARKER and rel not in listed:
                return rel
    return None


def _record_files(folder: Path, kind: str) -> None:
    """Rewrite the marker of the finished `folder` with every file it holds (one relative path per line)."""
    names = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        names += [(base / n).as_posix() for n in files + [d for d in dirs if (Path(root) / d).is_symlink()]]
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
            tmp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
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
        if out.exists() or out.is_symlink():
            check_output_folder(out, overwrite, kind)  # still ours to replace
            _replace_folder(tmp, out)
        else:
            os.replace(tmp, out)
        done = True
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not done:
            _remove_made(made)


def _replace_folder(tmp: Path, out: Path) -> None:
    """Swap `tmp` in for the existing folder `out`: the old one is moved aside first, then deleted."""
    aside = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(out)}{os.getpid()}.", suffix=TEMP_MARK,
                                  dir=out.parent))
    old = aside / "old"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
