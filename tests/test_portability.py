"""The toolkit on macOS and Windows, simulated on Linux: functions those systems lack (os.getloadavg,
os.sched_getaffinity, os.fchmod, os.statvfs, fcntl), a case-insensitive file system, a locale that is not
UTF-8. Each path gives the same behaviour or one clear line (docs/io.md, "Other systems")."""

from __future__ import annotations

import os
import sys

import pytest


def test_console_start_without_a_load_average(monkeypatch) -> None:
    """Windows has neither os.getloadavg nor os.sched_getaffinity: the console entry's thread settings
    (run before every command) keep torch's default thread count instead of failing with AttributeError."""
    import egvsr.threads

    monkeypatch.delattr(egvsr.threads.os, "getloadavg", raising=False)
    monkeypatch.delattr(egvsr.threads.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(egvsr.threads.os, "cpu_count", lambda: 8)
    env: dict[str, str] = {}
    done = egvsr.threads.configure_process_environment(env, ["train", "x.yaml"])
    assert done == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"} and env == done
    assert egvsr.threads.usable_cores() == 8


def test_output_written_without_fchmod(monkeypatch, tmp_path) -> None:
    """Windows before Python 3.13 has no os.fchmod: an output is still written, with the mode of a new file
    (0o666 less the umask), not refused with AttributeError."""
    from egvsr.fsutil import atomic_output, current_umask

    monkeypatch.delattr(os, "fchmod", raising=False)
    out = tmp_path / "out.txt"
    with atomic_output(out) as tmp:
        tmp.write_text("done", encoding="utf-8")
    assert out.read_text(encoding="utf-8") == "done"
    assert out.stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_stale_partials_on_windows_are_found_without_signals(monkeypatch, tmp_path) -> None:
    """On Windows `os.kill(pid, 0)` is no probe: signal 0 is CTRL_C_EVENT (an interrupt to a console process
    group) and any other number terminates the process. The cleaning of a killed writer's leftovers asks
    whether the writer runs without sending anything: a running writer's temporary file is kept, a gone one's
    removed."""
    from egvsr import fsutil

    def no_signals(pid, sig):
        raise AssertionError(f"os.kill({pid}, {sig}) on Windows")

    monkeypatch.setattr(fsutil, "_WINDOWS", True, raising=False)
    monkeypatch.setattr(fsutil, "_alive_windows", lambda pid: pid == 4242, raising=False)
    monkeypatch.setattr(fsutil.os, "kill", no_signals)
    out = tmp_path / "out.h5"
    prefix = fsutil.temp_prefix(out)
    running, gone = (tmp_path / f"{prefix}{pid}.ab12{fsutil.TEMP_MARK}" for pid in (4242, 4343))
    running.write_bytes(b"x")
    gone.write_bytes(b"x")
    assert fsutil.remove_stale_partials(out) == [gone]
    assert running.exists() and not gone.exists()


def test_windows_process_probe_failing_keeps_the_files(monkeypatch, tmp_path) -> None:
    """Where Windows cannot be asked (no kernel32), a leftover is assumed to be a running writer's: kept."""
    from egvsr import fsutil

    def unavailable(pid):
        raise OSError("no kernel32")

    monkeypatch.setattr(fsutil, "_WINDOWS", True, raising=False)
    monkeypatch.setattr(fsutil, "_alive_windows", unavailable, raising=False)
    monkeypatch.setattr(fsutil.os, "kill", lambda pid, sig: pytest.fail("os.kill on Windows"))
    assert fsutil._alive(4343) is True


def test_unwritable_folder_is_one_line_without_statvfs(monkeypatch, tmp_path) -> None:
    """Windows has no os.statvfs: an output folder without write permission is still refused in one line
    (permission denied), not with AttributeError."""
    from egvsr.errors import OutputError
    from egvsr.fsutil import check_writable

    monkeypatch.delattr(os, "statvfs", raising=False)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False)
    with pytest.raises(OutputError, match=r"out\.h5: cannot create the output in .*\(permission denied to write in"):
        check_writable(tmp_path / "out.h5")


# ---- a case-insensitive file system (macOS, Windows; FAT and exFAT anywhere) --------------------------------
def test_case_insensitive_probe(tmp_path) -> None:
    """The probe looks a name up with its case swapped: two names for one file (here a hard link, as a
    case-insensitive file system gives) say yes; this Linux folder with its own `abc` says no."""
    from egvsr.fsutil import case_insensitive

    (tmp_path / "sensitive").mkdir()
    (tmp_path / "sensitive" / "abc").write_bytes(b"")
    (tmp_path / "sensitive" / "ABC").write_bytes(b"")
    assert case_insensitive(tmp_path / "sensitive") is False
    assert case_insensitive(tmp_path / "sensitive" / "abc") is False  # a file: looked up in its folder
    (tmp_path / "folded").mkdir()
    (tmp_path / "folded" / "abc").write_bytes(b"")
    os.link(tmp_path / "folded" / "abc", tmp_path / "folded" / "ABC")
    assert case_insensitive(tmp_path / "folded") is True
    assert case_insensitive(tmp_path / "folded" / "new" / "deeper.h5") is True  # its nearest existing folder


@pytest.fixture
def case_blind(monkeypatch):
    """This file system as macOS's or Windows' default one: names that differ only in case are one name."""
    from egvsr import fsutil

    monkeypatch.setattr(fsutil, "case_insensitive", lambda folder: True)


def test_output_spelled_as_the_input_in_other_case_is_the_input(case_blind, tmp_path) -> None:
    """`x.h5` is the input `X.h5` (`--overwrite` or not): refused as the input, not replacing it."""
    from egvsr.errors import OutputExistsError
    from egvsr.fsutil import refuse_inputs_as_outputs

    (tmp_path / "X.h5").write_bytes(b"events")
    with pytest.raises(OutputExistsError, match=r"x\.h5: output is the input file .*X\.h5; choose another"):
        refuse_inputs_as_outputs([tmp_path / "X.h5"], [tmp_path / "x.h5"])
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "in.h5").write_bytes(b"events")
    with pytest.raises(OutputExistsError, match=r"data: output folder holds the input .*in\.h5"):
        refuse_inputs_as_outputs([tmp_path / "Data" / "in.h5"], [], [tmp_path / "data"])


def test_two_outputs_differing_in_case_are_one_path(case_blind, tmp_path) -> None:
    """`--out a.mp4` and another output `A.mp4`: one file there, so the second would replace the first (or
    fail after the whole run); refused before any work, as is a file inside a folder output so spelled."""
    from egvsr.errors import ConfigError
    from egvsr.fsutil import refuse_inputs_as_outputs

    with pytest.raises(ConfigError, match=r"A\.mp4: the same path is given for two outputs"):
        refuse_inputs_as_outputs([], [tmp_path / "a.mp4", tmp_path / "A.mp4"])
    with pytest.raises(ConfigError, match="the same path is given for two outputs"):  # macOS: é composed or not
        refuse_inputs_as_outputs([], [tmp_path / "caf\u00e9.mp4", tmp_path / "CAFE\u0301.mp4"])
    with pytest.raises(ConfigError, match=r"x\.png: lies inside the output folder .*Out"):
        refuse_inputs_as_outputs([], [tmp_path / "out" / "x.png"], [tmp_path / "Out"])


def test_reserved_name_of_an_input_folder_in_other_case(case_blind, tmp_path) -> None:
    """A new file whose name is, but for case, one the input folder's reader looks for (its frame-time file)
    would be read there: refused as such."""
    import re

    from egvsr.errors import OutputExistsError
    from egvsr.fsutil import FolderMembers, refuse_inputs_as_outputs

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "0001.png").write_bytes(b"png")
    listing = FolderMembers(files=(folder / "0001.png",), folders=(folder,), names=re.compile(r"\d+\.png"),
                            reserved=(folder / "timestamps.txt",))
    with pytest.raises(OutputExistsError, match=r"Timestamps\.txt: the input folder .* would read a file"):
        refuse_inputs_as_outputs([folder], [folder / "Timestamps.txt"], members=lambda f: [listing])


def test_case_sensitive_file_system_keeps_names_apart(tmp_path) -> None:
    """On Linux's own file systems `a.mp4` and `A.mp4` are two files: both may be written."""
    from egvsr.fsutil import refuse_inputs_as_outputs, same_file

    (tmp_path / "X.h5").write_bytes(b"events")
    refuse_inputs_as_outputs([tmp_path / "X.h5"], [tmp_path / "x.h5", tmp_path / "A.mp4", tmp_path / "a.mp4"])
    assert not same_file(tmp_path / "X.h5", tmp_path / "x.h5")


# ---- a locale that is not UTF-8 (Windows' cp1252, a C locale) ---------------------------------------------
NOT_UTF8_LOCALE = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}

DEMO_IN_A_C_LOCALE = """
import locale, sys
from pathlib import Path
from egvsr.render.demo import run_demo
from egvsr.render.model import save_untrained
assert locale.getpreferredencoding(False).lower() in ("ascii", "ansi_x3.4-1968"), locale.getpreferredencoding(False)
ck = save_untrained("egvsr-tiny", Path(sys.argv[1]) / "tiny.pt")
run_demo(Path(sys.argv[2]), ck, seconds=0.12, size=(40, 56), scales=(2.0,), progress=False, echo=None)
"""


def test_demo_text_files_are_utf8_whatever_the_locale(tmp_path) -> None:
    """The demo's log.txt and results.md are UTF-8 (as every text file egvsr writes) under a locale that
    is not: an output folder named `démo` (its name in the log) was a UnicodeEncodeError after the whole
    demo had run, and on Windows a file in the code page."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **NOT_UTF8_LOCALE, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", DEMO_IN_A_C_LOCALE, os.fsencode(tmp_path),
                           os.fsencode(tmp_path / "d\u00e9mo")], capture_output=True, env=env, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    out = tmp_path / "d\u00e9mo"
    assert f"wrote {out}/: " in (out / "log.txt").read_text(encoding="utf-8")
    assert "PSNR" in (out / "results.md").read_text(encoding="utf-8")


# ---- numba's and matplotlib's folders: no home, macOS, Windows --------------------------------------------
def _no_package_cache(tmp_path) -> str:
    """A package folder whose `__pycache__` cannot be made (a file of that name stops root too)."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__pycache__").write_text("not a folder")
    return str(package)


def test_no_home_folder_makes_no_tilde_folder(tmp_path, monkeypatch) -> None:
    """HOME unset for a user without a password entry: '~' stays '~', and the check of ~/.cache/numba made
    `./~/.cache/numba` in the current folder (and left numba to cache there); now numba gets the private
    temporary folder, and matplotlib too."""
    from egvsr import process

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(process.os.path, "expanduser", lambda path: path)
    env: dict[str, str] = {}
    assert process.numba_cache_folder(env, _no_package_cache(tmp_path)) == env["NUMBA_CACHE_DIR"]
    assert process.matplotlib_config_folder(env) == env["MPLCONFIGDIR"]
    assert list((tmp_path / "cwd").iterdir()) == []
    assert process.numba_user_cache({}) is None and process.matplotlib_user_folders({}) is None


@pytest.mark.parametrize("platform, user", [("darwin", "{home}/Library/Caches/numba"),
                                            ("win32", "{local}/numba/Cache"),
                                            ("linux", "{home}/.cache/numba")])
def test_numba_user_cache_is_the_one_numba_uses(platform, user, tmp_path) -> None:
    """numba's user-wide cache (its appdirs) is ~/.cache/numba on Linux only: a macOS or Windows user with
    a writable ~/.cache but no writable cache folder of numba's own got no NUMBA_CACHE_DIR (numba then
    refused every cached kernel on a read-only install)."""
    from egvsr import process

    env = {"HOME": str(tmp_path / "home"), "LOCALAPPDATA": str(tmp_path / "local")}
    expected = user.format(home=tmp_path / "home", local=tmp_path / "local").replace("/", os.sep)
    assert process.numba_user_cache(env, platform) == expected


def test_numba_on_macos_with_only_dot_cache_writable(tmp_path, monkeypatch) -> None:
    from egvsr import process

    monkeypatch.setattr(process.sys, "platform", "darwin")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home" / ".cache").mkdir(parents=True)
    (tmp_path / "home" / "Library").write_text("not a folder")  # ~/Library/Caches/numba cannot be made
    env = {"HOME": str(tmp_path / "home")}
    assert process.numba_cache_folder(env, _no_package_cache(tmp_path)) == env["NUMBA_CACHE_DIR"]
    assert env["NUMBA_CACHE_DIR"].startswith(str(tmp_path / "tmp"))


def test_matplotlib_folders_per_system(tmp_path) -> None:
    """matplotlib keeps ~/.config and ~/.cache on Linux only: ~/.matplotlib on macOS, %LOCALAPPDATA% on
    Windows (~/.matplotlib where that is a folder)."""
    from egvsr import process

    home, local = tmp_path / "home", tmp_path / "local"
    env = {"HOME": str(home), "LOCALAPPDATA": str(local)}
    assert process.matplotlib_user_folders(env, "darwin") == (str(home / ".matplotlib"),)
    assert process.matplotlib_user_folders(env, "win32") == (str(local / "matplotlib"),)
    (home / ".matplotlib").mkdir(parents=True)
    assert process.matplotlib_user_folders(env, "win32") == (str(home / ".matplotlib"),)
    assert process.matplotlib_user_folders(env, "linux") == (str(home / ".config" / "matplotlib"),
                                                             str(home / ".cache" / "matplotlib"))


def test_matplotlib_folder_on_windows_without_localappdata(tmp_path, monkeypatch) -> None:
    """Without LOCALAPPDATA matplotlib on Windows falls back to ~/.matplotlib (its `_get_config_or_cache_dir`):
    that folder was not checked (None), so a usable home still got a private temporary MPLCONFIGDIR."""
    from egvsr import process

    home = tmp_path / "home"
    home.mkdir()
    assert process.matplotlib_user_folders({"HOME": str(home)}, "win32") == (str(home / ".matplotlib"),)
    monkeypatch.setattr(process.sys, "platform", "win32")
    env = {"HOME": str(home)}
    assert process.matplotlib_config_folder(env) is None and "MPLCONFIGDIR" not in env


def test_private_temp_folder_on_windows_is_kept_between_runs(tmp_path, monkeypatch) -> None:
    """Windows has no os.getuid, and its stat gives every folder owner 0 and mode 0o777: the private folder
    was passed over for a fresh one on every run (numba recompiled every kernel each time)."""
    from egvsr import process

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delattr(process.os, "getuid", raising=False)
    first = process._private_temp_folder("egvsr-numba-cache")
    assert first == str(tmp_path / "egvsr-numba-cache")
    assert process._private_temp_folder("egvsr-numba-cache") == first


# ---- the experiment's lock without flock (Windows) ---------------------------------------------------------
class _Msvcrt:
    """Windows' `msvcrt.locking` as the system gives it: a byte range of a file locked by one descriptor at a
    time (another's attempt fails with EACCES), released by LK_UNLCK."""

    LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4

    def __init__(self) -> None:
        self.held: dict[tuple[int, int, int], int] = {}

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        import errno

        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        if mode == self.LK_UNLCK:
            if self.held.get(key) != fd:
                raise OSError(errno.EACCES, "Permission denied")
            del self.held[key]
        elif key in self.held:
            raise OSError(errno.EACCES, "Permission denied")
        else:
            self.held[key] = fd


def test_one_train_per_experiment_without_flock(tmp_path, monkeypatch) -> None:
    """Windows has neither fcntl nor os.pread/os.pwrite: there was no lock at all, so two `egvsr train` of one
    experiment ran at once, each writing over the other's checkpoints. Windows' own lock keeps the promise:
    the second run is refused naming the first, and the lock is free again once the first ends."""
    from egvsr.engine.experiment import Experiment, ExperimentBusyError

    fake = _Msvcrt()
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.delattr(os, "pread", raising=False)
    monkeypatch.delattr(os, "pwrite", raising=False)
    exp = Experiment(tmp_path / "exp", "run")
    with exp.lock():
        assert exp.lock_path.read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(ExperimentBusyError, match=rf"another `egvsr train` \(pid {os.getpid()} on .*\) is running"):
            with Experiment(tmp_path / "exp", "run").lock():
                pass
        with pytest.raises(ExperimentBusyError):
            Experiment(tmp_path / "exp", "run").check_not_running()
        assert len(fake.held) == 1
    assert fake.held == {}
    Experiment(tmp_path / "exp", "run").check_not_running()
    with Experiment(tmp_path / "exp", "run").lock():
        pass


def test_no_lock_module_at_all_still_trains(tmp_path, monkeypatch) -> None:
    """Neither fcntl nor msvcrt (a stripped-down Python): the run goes on without a lock, as before."""
    from egvsr.engine.experiment import Experiment

    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    with Experiment(tmp_path / "exp", "run").lock():
        with Experiment(tmp_path / "exp", "run").lock():
            pass
    Experiment(tmp_path / "exp", "run").check_not_running()


@pytest.mark.parametrize("winerror", [1, 50])
def test_windows_drive_without_hard_links_still_gets_the_output(tmp_path, monkeypatch, winerror) -> None:
    """A FAT or exFAT drive (a camera's card, a USB stick) or a network share on Windows refuses hard links with
    ERROR_INVALID_FUNCTION or ERROR_NOT_SUPPORTED, which Python reports as EINVAL: every output there was
    refused ("cannot create the output ... (Incorrect function)"); it is now renamed into place, as on FAT
    elsewhere."""
    import errno

    from egvsr.fsutil import atomic_output

    def no_links(src, dst, **kw):
        exc = OSError(errno.EINVAL, "Incorrect function")
        exc.winerror = winerror  # what Windows' OSError carries
        raise exc

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "out.h5"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"ours")
    assert out.read_bytes() == b"ours" and os.listdir(tmp_path) == ["out.h5"]


def test_a_trailing_backslash_on_windows_is_named_as_given(tmp_path, monkeypatch) -> None:
    """Windows takes `\\` as well as `/`: `out\\` names a folder, and the refusal names the backslash typed,
    not a '/' the user never wrote."""
    from egvsr.errors import OutputError
    from egvsr.fsutil import check_output_path

    monkeypatch.setattr(os, "altsep", "\\")  # Windows' os.sep is '\\' and os.altsep '/': either ends a folder
    with pytest.raises(OutputError, match=r"newdir\\: ends in '\\', which names a folder, but this output is a file"):
        check_output_path(str(tmp_path / "newdir") + "\\")


def test_replacing_an_output_open_in_another_program_on_windows(tmp_path, monkeypatch) -> None:
    """Windows replaces no file another program holds open (a video player showing out.mp4): the rename
    fails with ERROR_SHARING_VIOLATION, which Python calls EACCES, and the line said "permission denied".
    It now says what to do; the old output is kept and no temporary is left."""
    import errno

    from egvsr.errors import OutputError
    from egvsr.fsutil import atomic_output

    out = tmp_path / "out.mp4"
    out.write_bytes(b"the old video")

    def in_use(src, dst, **kw):
        exc = PermissionError(errno.EACCES, "The process cannot access the file because it is being used by "
                                            "another process")
        exc.winerror = 32
        raise exc

    monkeypatch.setattr(os, "replace", in_use)
    with pytest.raises(OutputError, match=r"out\.mp4: cannot create the output in .* \(the existing output is open "
                                          r"in another program, and Windows replaces no open file: close it\)"):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.write_bytes(b"the new video")
    assert out.read_bytes() == b"the old video" and os.listdir(tmp_path) == ["out.mp4"]


def test_folder_output_written_meanwhile_on_windows(tmp_path, monkeypatch) -> None:
    """Windows' rename onto a folder fails with ERROR_ACCESS_DENIED (errno EACCES), not ENOTEMPTY: a folder
    output another process finished meanwhile was reported as "permission denied" instead of the refusal
    that names it (and, with --overwrite, was not replaced as it is elsewhere)."""
    import errno

    from egvsr import fsutil
    from egvsr.errors import OutputExistsError

    real_replace = os.replace

    def windows_replace(src, dst, **kw):
        if os.path.isdir(dst):
            exc = PermissionError(errno.EACCES, "Access is denied")
            exc.winerror = 5
            raise exc
        return real_replace(src, dst, **kw)

    monkeypatch.setattr(os, "replace", windows_replace)
    for overwrite in (False, True):
        out = tmp_path / f"frames-{overwrite}"
        real_held = fsutil.held_signals

        def other_commits_first(*args, out=out, **kwargs):
            if not out.exists():
                out.mkdir()
                (out / "a.png").write_bytes(b"theirs")
                fsutil._record_files(out, "render --png")
            return real_held(*args, **kwargs)

        monkeypatch.setattr(fsutil, "held_signals", other_commits_first)
        if not overwrite:
            with pytest.raises(OutputExistsError, match=r"output folder already exists \(another process"):
                with fsutil.atomic_directory(out, kind="render --png") as tmp:
                    (tmp / "a.png").write_bytes(b"ours")
            assert (out / "a.png").read_bytes() == b"theirs"
        else:
            with fsutil.atomic_directory(out, overwrite=True, kind="render --png") as tmp:
                (tmp / "a.png").write_bytes(b"ours")
            assert (out / "a.png").read_bytes() == b"ours"
        monkeypatch.setattr(fsutil, "held_signals", real_held)
    assert sorted(os.listdir(tmp_path)) == ["frames-False", "frames-True"]


# ---- HDF5 outputs without os.pwrite / os.pread (Windows) ---------------------------------------------------
def test_hdf5_output_without_positional_io(tmp_path, monkeypatch) -> None:
    """Every HDF5 output (convert, voxelize, simulate, make-sample) is written through `GuardedFile`, which
    used os.pwrite and os.pread: Windows has neither, so every such output failed there. Without them the
    file is written by seek and write, and it is opened in binary mode (O_BINARY: Windows' default text mode
    would write each 0x0A byte as 0x0D 0x0A)."""
    import h5py
    import numpy as np

    from egvsr.events.io.h5util import h5_output

    for name in ("pwrite", "pread", "preadv"):
        monkeypatch.delattr(os, name, raising=False)
    binary, flags, real_open = 0x40000000, [], os.open
    monkeypatch.setattr(os, "O_BINARY", binary, raising=False)

    def recording_open(path, flag, *args, **kw):
        flags.append(flag)
        return real_open(path, flag & ~binary, *args, **kw)

    monkeypatch.setattr(os, "open", recording_open)
    data = np.full(300_000, 0x0A0A, np.uint16)  # newlines in every byte
    data[::7] = np.arange(len(data[::7]), dtype=np.uint16)
    with h5_output(tmp_path / "tmp.h5", tmp_path / "out.h5") as f:
        f.create_dataset("x", data=data, chunks=(4096,), compression="gzip")
        f.attrs["note"] = "written without pwrite"
        f.flush()
        assert np.array_equal(f["x"][:100], data[:100])  # HDF5 reads back what it wrote (metadata, chunks)
    assert flags and all(fl & binary for fl in flags)
    monkeypatch.setattr(os, "open", real_open)
    with h5py.File(tmp_path / "tmp.h5", "r") as f:
        assert np.array_equal(f["x"][:], data) and f.attrs["note"] == "written without pwrite"


def test_training_log_appended_in_binary_mode(tmp_path, monkeypatch) -> None:
    """train.csv is appended through a descriptor of its own (a link at its path refused): opened without
    O_BINARY, Windows' text mode turned the csv module's line ends into \\r\\r\\n (a blank line after every
    row in a spreadsheet). Each row ends in \\r\\n, as the rewritten header does."""
    from egvsr.engine.csvlog import MetricLog

    binary, flags, real_open = 0x40000000, [], os.open
    monkeypatch.setattr(os, "O_BINARY", binary, raising=False)

    def recording_open(path, flag, *args, **kw):
        if os.fspath(path) == os.fspath(tmp_path / "train.csv"):  # (not tempfile's, which chose its flags at import)
            flags.append(flag)
        return real_open(path, flag & ~binary, *args, **kw)

    monkeypatch.setattr(os, "open", recording_open)
    log = MetricLog(tmp_path, "train", tensorboard=False)
    for step in (1, 2, 3):
        log.write(step, {"loss": 0.5})
    assert len(flags) == 2 and all(fl & binary for fl in flags)  # rows 2 and 3 (row 1 writes the header too)
    assert (tmp_path / "train.csv").read_bytes() == b"step,loss\r\n1,0.5\r\n2,0.5\r\n3,0.5\r\n"


def test_unstarted_run_discards_its_config_where_the_held_lock_cannot_go(tmp_path, monkeypatch) -> None:
    """Windows removes no file held open, and a run that failed before its first checkpoint cleans up while
    it holds train.lock: the lock's removal failed first and config.yaml stayed with it; the
    next run found "another run's files". Now only the lock file stays."""
    from pathlib import Path

    from egvsr.engine.experiment import Experiment

    exp = Experiment(tmp_path / "exp", "run")
    exp.make()
    exp.config.write_text("the run's config\n")
    exp.lock_path.write_text("pid 1 on here\n")
    real_unlink = Path.unlink

    def windows_unlink(self, missing_ok=False):
        if self == exp.lock_path:
            raise PermissionError(13, "The process cannot access the file because it is being used by another "
                                      "process")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", windows_unlink)
    exp.discard_unstarted()
    assert sorted(p.name for p in exp.dir.iterdir()) == ["train.lock"]
    assert exp.existing_outputs() == []  # the next run starts there as in a new folder


# ---- a drive without file numbers (some Windows network and virtual drives: st_ino 0) ----------------------
@pytest.fixture
def no_file_numbers(monkeypatch):
    """Every file's stat says device 0, inode 0, as some Windows network and virtual drives do."""
    from pathlib import Path

    real_stat, real_os_stat, real_lstat = Path.stat, os.stat, os.lstat

    def numbered_zero(st):
        return os.stat_result((st.st_mode, 0, 0, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
                               int(st.st_atime), int(st.st_mtime), int(st.st_ctime)))

    monkeypatch.setattr(Path, "stat", lambda self, **kw: numbered_zero(real_stat(self, **kw)))
    monkeypatch.setattr(os, "stat", lambda p, *a, **kw: numbered_zero(real_os_stat(p, *a, **kw)))
    monkeypatch.setattr(os, "lstat", lambda p, *a, **kw: numbered_zero(real_lstat(p, *a, **kw)))


def test_files_on_a_drive_without_file_numbers_are_not_one_file(no_file_numbers, tmp_path) -> None:
    """Where every file's inode is 0, two files compared by (device, inode) were one: an existing output
    replaced with --overwrite was refused as the input, and `eval --data a.h5 b.h5` as one file given twice.
    Without file numbers, paths tell files apart."""
    from egvsr.engine.evaluation import _file_identity
    from egvsr.fsutil import refuse_inputs_as_outputs, same_file

    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    a.write_bytes(b"in")
    b.write_bytes(b"old out")
    assert not same_file(a, b) and same_file(a, tmp_path / "." / "a.h5")
    refuse_inputs_as_outputs([a], [b])  # b is no input
    assert _file_identity(a) != _file_identity(b)


@pytest.mark.parametrize("positional", [True, False])
def test_pread_at_and_pwrite_at_with_and_without_positional_calls(tmp_path, monkeypatch, positional) -> None:
    """The one place the Windows fallback of os.pread/os.pwrite is written (the lock file's holder line,
    GuardedFile, h5util.pread_into use it): the bytes at the offset, fewer where the file ends, on either."""
    from egvsr.fsutil import pread_at, pwrite_at

    if not positional:
        monkeypatch.delattr(os, "pread", raising=False)
        monkeypatch.delattr(os, "pwrite", raising=False)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        assert pwrite_at(fd, b"0123456789", 0) == 10
        assert pwrite_at(fd, memoryview(b"ab"), 4) == 2
        assert pread_at(fd, 3, 3) == b"3ab" and pread_at(fd, 100, 8) == b"89" and pread_at(fd, 5, 10) == b""
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"0123ab6789"


class _Kernel32:
    """kernel32's OpenProcess/GetExitCodeProcess/CloseHandle as Windows answers them for `processes`
    (pid -> exit code, 259 STILL_ACTIVE while running; None: access denied), as `ctypes.WinDLL` gives them."""

    def __init__(self, processes: dict, exit_code_fails: bool = False) -> None:
        self.processes, self.exit_code_fails, self.last_error, self.open_handles = processes, exit_code_fails, 0, set()
        for name in ("OpenProcess", "GetExitCodeProcess", "CloseHandle"):  # functions whose restype/argtypes are set
            bound = getattr(self, "_" + name)
            setattr(self, name, type(name, (), {"__call__": staticmethod(bound)})())

    def _OpenProcess(self, access, inherit, pid):
        if pid not in self.processes:
            self.last_error = 87  # ERROR_INVALID_PARAMETER: no such process
            return None
        if self.processes[pid] is None:
            self.last_error = 5  # ERROR_ACCESS_DENIED: another user's, running
            return None
        self.open_handles.add(1000 + pid)
        return 1000 + pid

    def _GetExitCodeProcess(self, handle, code_ref):
        if self.exit_code_fails:
            return 0
        code_ref._obj.value = self.processes[handle - 1000]
        return 1

    def _CloseHandle(self, handle):
        self.open_handles.remove(handle)
        return 1


@pytest.mark.parametrize("pid, alive", [(10, True), (11, False), (12, True), (99, False)])
def test_windows_process_probe_asks_kernel32(monkeypatch, pid, alive) -> None:
    """`_alive_windows` itself (the other tests replace it): a running process (STILL_ACTIVE) or one this user
    may not open is alive, an exited one (its handle still there) or an unknown pid is gone; every handle
    opened is closed."""
    import ctypes

    from egvsr import fsutil

    kernel32 = _Kernel32({10: 259, 11: 0, 12: None})
    monkeypatch.setattr(ctypes, "WinDLL", lambda name, use_last_error=False: kernel32, raising=False)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.last_error, raising=False)
    assert fsutil._alive_windows(pid) is alive
    assert kernel32.open_handles == set()


def test_windows_process_probe_keeps_a_process_whose_exit_code_cannot_be_read(monkeypatch) -> None:
    import ctypes

    from egvsr import fsutil

    kernel32 = _Kernel32({10: 0}, exit_code_fails=True)
    monkeypatch.setattr(ctypes, "WinDLL", lambda name, use_last_error=False: kernel32, raising=False)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.last_error, raising=False)
    assert fsutil._alive_windows(10) is True and kernel32.open_handles == set()
