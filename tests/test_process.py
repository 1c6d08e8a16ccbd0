"""egvsr.process and the console entry: what the `egvsr` process does around a command.

Signals ignored at start stay ignored (nohup); a Ctrl-C while the command line is imported, stdout that
takes no more text, a character the terminal cannot encode and a bad NUMBA_NUM_THREADS are one line; a
read-only install finds numba a cache folder. Most run a real process (signals, streams and environment
are the process's own).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from egvsr import process
from egvsr.errors import ConfigError
from tests._reliability import cli, cli_env

ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED = "egvsr: interrupted; no partial output was left under the final name\n"
WRITABLE = process._writable_folder


def _python(code: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env or cli_env(), capture_output=True, text=True,
                          timeout=120, **kwargs)


# ---- signals ------------------------------------------------------------------------------------------
def test_a_signal_ignored_at_start_stays_ignored():
    """`nohup egvsr train ... &`: SIGHUP (ignored by nohup) must not end the command at logout, during it
    (run_console's handlers, train's deferral) or after it (quiet_exit)."""
    code = ("import os, signal, sys, time\nfrom egvsr import process\n"
            "def cmd(argv):\n"
            "    os.kill(os.getpid(), signal.SIGHUP)\n    time.sleep(0.2)\n"
            "    with process.held_signals():\n        os.kill(os.getpid(), signal.SIGHUP)\n"
            "    return 0\n"
            "rc = process.run_console(cmd, [])\n"
            "os.kill(os.getpid(), signal.SIGHUP)\ntime.sleep(0.2)\n"
            "print('finished', rc, signal.getsignal(signal.SIGHUP) == signal.SIG_IGN)\n")
    res = _python(code, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert res.returncode == 0 and res.stdout == "finished 0 True\n", res.stderr


def test_a_handled_signal_still_ends_the_command():
    code = ("import os, signal, time\nfrom egvsr import process\n"
            "def cmd(argv):\n    os.kill(os.getpid(), signal.SIGHUP)\n    time.sleep(5)\n"
            "raise SystemExit(process.run_console(cmd, []))\n")
    res = _python(code, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))  # not nohup's SIG_IGN
    assert res.returncode == 128 + signal.SIGHUP and "terminated by SIGHUP" in res.stderr


def test_ctrl_c_while_the_command_line_is_imported_is_one_line():
    """The console entry imports egvsr.cli (argparse, ...) only after its interrupt handling is in place:
    a Ctrl-C in that first tenth of a second was a KeyboardInterrupt traceback."""
    code = ("import builtins, runpy\nreal = builtins.__import__\n"
            "def imp(name, *a, **k):\n"
            "    if name == 'argparse':\n        raise KeyboardInterrupt\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = imp\nrunpy.run_module('egvsr', run_name='__main__')\n")
    res = _python(code)
    assert res.returncode == 130 and res.stderr == INTERRUPTED


# ---- printing -----------------------------------------------------------------------------------------
def _recording(tmp_path: Path) -> Path:
    from egvsr.events import EventStream, Frames
    from egvsr.events.io import write_events

    s = EventStream(np.zeros(4, np.uint16), np.zeros(4, np.uint16), np.arange(4, dtype=np.int64) * 1000,
                    np.ones(4, np.int8), 8, 6)
    return write_events(tmp_path / "r.h5", s, frames=Frames(np.zeros((2, 6, 8, 1), np.uint8), [0, 3000]))


def test_a_terminal_that_cannot_encode_the_text_shows_it_escaped(tmp_path):
    """`LC_ALL=C PYTHONUTF8=0 egvsr info` could not print 'µs' (ASCII stdout)."""
    env = {**cli_env(), "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    res = subprocess.run(cli("info", _recording(tmp_path)), env=env, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert b"frames       2 (0 .. 3000 \\xb5s" in res.stdout


def test_printing_any_text_reconfigures_only_streams_that_would_fail(monkeypatch):
    import io

    ascii_out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="surrogateescape")
    strict_utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    fine = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    for stdout, errors in ((ascii_out, "backslashreplace"), (strict_utf8, "backslashreplace"),
                           (fine, "surrogateescape")):
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", fine)
        process.printing_any_text()
        assert (stdout.errors, fine.errors) == (errors, "surrogateescape")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("unbuffered", ["1", ""])
@pytest.mark.parametrize("args", [("models",), ("--help",), ("--version",), ("render", "--help")])
def test_stdout_that_takes_no_more_text_is_named(unbuffered, args):
    """`egvsr models > /dev/full` said `file system: No space left on device` (or, buffered, failed at exit);
    `--help` and `--version` ended in exit status 0 with nothing printed (argparse drops the failure)."""
    env = {**cli_env(), "PYTHONUNBUFFERED": unbuffered}
    with open("/dev/full", "w") as full:
        res = subprocess.run(cli(*args), env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr == "egvsr: error: printing to stdout failed: No space left on device\n"


def test_an_unencodable_character_is_one_line():
    code = ("from egvsr.process import run_console\n"
            "def fails(argv):\n    'name_\\udcff'.encode('utf-8')\n"
            "raise SystemExit(run_console(fails, []))\n")
    res = _python(code)
    assert res.returncode == 2
    assert res.stderr == ("egvsr: error: cannot encode the character '\\udcff' as utf-8; expected text utf-8 "
                          "can hold\n")


# ---- numba's settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "-2", "abc", ""])
def test_numba_num_threads_that_numba_cannot_take_is_one_line(value):
    res = subprocess.run(cli("models"), env={**cli_env(), "NUMBA_NUM_THREADS": value}, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr == (f"egvsr: error: environment variable NUMBA_NUM_THREADS={value!r}: expected a whole "
                          "number of threads >= 1 (or leave it unset: all cores)\n")


def test_numba_num_threads_check():
    process.check_numba_threads({"NUMBA_NUM_THREADS": "3"})
    process.check_numba_threads({})
    with pytest.raises(ConfigError, match="NUMBA_NUM_THREADS='0'"):
        process.check_numba_threads({"NUMBA_NUM_THREADS": "0"})


def _only_writable(monkeypatch, *allowed: str) -> None:
    """`_writable_folder` says yes only for folders under `allowed` (the tests run as root, which writes
    anywhere)."""
    monkeypatch.setattr(process, "_writable_folder",
                        lambda folder: any(str(folder).startswith(a) for a in allowed) and WRITABLE(folder))


def test_numba_gets_a_private_cache_folder_only_when_it_has_none(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    env = {"HOME": str(tmp_path / "home")}
    package = str(tmp_path / "pkg")
    _only_writable(monkeypatch, package)
    assert process.numba_cache_folder(env, package) is None and "NUMBA_CACHE_DIR" not in env  # in the tree
    _only_writable(monkeypatch, str(tmp_path / "home"))
    assert process.numba_cache_folder(env, package) is None and "NUMBA_CACHE_DIR" not in env  # ~/.cache
    _only_writable(monkeypatch, str(tmp_path / "mine"))
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    assert process.numba_cache_folder(env, package) is None and env["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
    _only_writable(monkeypatch, str(tmp_path / "tmp"))
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "read-only")
    folder = process.numba_cache_folder(env, package)
    assert folder == env["NUMBA_CACHE_DIR"] == str(tmp_path / "tmp" / f"egvsr-numba-cache-{os.getuid()}")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert process.numba_cache_folder(env, package) is None  # now it has one


def test_a_cache_folder_others_could_write_is_never_used(tmp_path, monkeypatch):
    """numba loads its cache as pickles: a folder at the private name that is not this user's alone is
    passed over for a fresh one."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    taken = tmp_path / f"egvsr-numba-cache-{os.getuid()}"
    taken.mkdir()
    taken.chmod(0o777)
    _only_writable(monkeypatch, str(tmp_path))
    env = {"HOME": "/nonexistent"}
    folder = process.numba_cache_folder(env, "/nonexistent/egvsr")
    assert folder is not None and Path(folder) != taken and Path(folder).parent == tmp_path


def test_no_cache_folder_anywhere_is_one_line():
    """Where not even the temporary folder takes one, numba's refusal is one line naming the way out."""
    code = ("from egvsr.process import run_console\n"
            "def fails(argv):\n"
            "    raise RuntimeError(\"cannot cache function 'f': no locator available for file '/x/k.py'\")\n"
            "raise SystemExit(run_console(fails, []))\n")
    res = _python(code)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("egvsr: error: numba found no writable folder for its compiled code")
    assert res.stderr.endswith("set NUMBA_CACHE_DIR to a writable folder\n")


def test_a_read_only_install_runs(tmp_path):
    """A package copy whose `__pycache__` cannot be made (here: a file of that name, which stops root
    too), with no writable ~/.cache: numba refused every cached kernel ("no locator available") at import."""
    copy = tmp_path / "site"
    shutil.copytree(ROOT / "egvsr", copy / "egvsr", ignore=shutil.ignore_patterns("__pycache__", "data"))
    for folder in [copy / "egvsr", *(p for p in (copy / "egvsr").rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    (tmp_path / "home").write_text("not a folder either")
    (tmp_path / "tmp").mkdir()
    env = {**cli_env(), "PYTHONPATH": f"{copy}{os.pathsep}{ROOT}", "HOME": str(tmp_path / "home"),
           "TMPDIR": str(tmp_path / "tmp")}
    for key in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME"):
        env.pop(key, None)
    code = ("import sys\nfrom egvsr.process import run_console\n"
            "def main(argv):\n"
            "    import egvsr.events.simulate.luminance as m\n    assert m.__file__.startswith(sys.argv[1])\n"
            "    print(m.to_luminance(__import__('numpy').zeros((2, 2, 1), 'uint8'), 2, 2).sum())\n    return 0\n"
            "raise SystemExit(run_console(main, []))\n")
    res = subprocess.run([sys.executable, "-c", code, str(copy)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "0.0\n", res.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == [f"egvsr-matplotlib-{os.getuid()}",
                                                                      f"egvsr-numba-cache-{os.getuid()}"]


# ---- closed standard descriptors --------------------------------------------------------------------
def test_a_closed_standard_descriptor_is_never_a_file_of_the_command(tmp_path):
    """`egvsr ... <&- >&- 2>&-`: the next file opened took descriptor 0, 1 or 2, and what native code
    writes to 1 or 2 (FFmpeg's, libpng's messages) landed in that file: an output, or an input."""
    code = ("import os, sys\nfrom egvsr.process import run_console\n"
            "def main(argv):\n"
            "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
            "    os.write(fd, str(fd).encode())\n"
            "    os.write(2, b'native message')\n"
            "    print('result')\n"
            "    return 0\n"
            "raise SystemExit(run_console(main, []))\n")
    target = tmp_path / "output"
    res = subprocess.run(["/bin/sh", "-c", f'"$0" -c "$1" "$2" <&- >&- 2>&-', sys.executable, code, str(target)],
                         env=cli_env(), timeout=120)
    assert res.returncode == 0
    assert int(target.read_text()) > 2


def test_with_stderr_closed_an_error_line_stays_out_of_stdout(tmp_path):
    """`egvsr info F 2>&- > report.txt`: Python prints to stdout what is meant for a missing sys.stderr."""
    code = ("import sys\nfrom egvsr.process import run_console\n"
            "def main(argv):\n"
            "    print('the result')\n"
            "    print('egvsr: error: meant for stderr', file=sys.stderr)\n"
            "    return 2\n"
            "raise SystemExit(run_console(main, []))\n")
    with open(tmp_path / "report.txt", "w") as report:
        res = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1" 2>&-', sys.executable, code], stdout=report,
                             env=cli_env(), timeout=120)
    assert res.returncode == 2
    assert (tmp_path / "report.txt").read_text() == "the result\n"


# ---- matplotlib's settings -------------------------------------------------------------------------------
def test_matplotlib_gets_a_private_folder_only_when_it_has_none(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    env = {"HOME": str(tmp_path / "home")}
    assert process.matplotlib_config_folder(env) is None and "MPLCONFIGDIR" not in env  # ~/.config, ~/.cache
    assert not (tmp_path / "home" / ".config").exists()  # found without making anything
    (tmp_path / "file").write_text("not a folder")
    for bad in ({"HOME": str(tmp_path / "file")}, {"HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "file")},
                {"MPLCONFIGDIR": str(tmp_path / "file" / "mpl")}):
        folder = process.matplotlib_config_folder(bad)
        assert folder == bad["MPLCONFIGDIR"] == str(tmp_path / "tmp" / f"egvsr-matplotlib-{os.getuid()}")
        assert process.matplotlib_config_folder(bad) is None  # now it has one
    env = {"HOME": str(tmp_path / "file"), "MPLCONFIGDIR": str(tmp_path / "mine" / "mpl")}
    assert process.matplotlib_config_folder(env) is None and env["MPLCONFIGDIR"] == str(tmp_path / "mine" / "mpl")


def test_a_home_matplotlib_cannot_write_is_no_warning(tmp_path):
    """With a home that takes no folder, every drawing command printed matplotlib's two warning lines
    ("mkdir -p failed ...", "Matplotlib created a temporary cache directory ...") and rebuilt its font
    cache in a fresh temporary folder."""
    (tmp_path / "home").write_text("not a folder (this stops root too)")
    (tmp_path / "tmp").mkdir()
    env = {**cli_env(), "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp")}
    for key in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env.pop(key, None)
    code = ("from egvsr.process import run_console\n"
            "def main(argv):\n"
            "    import matplotlib\n    print(matplotlib.get_configdir())\n    print(matplotlib.get_cachedir())\n"
            "    return 0\n"
            "raise SystemExit(run_console(main, []))\n")
    res = _python(code, env=env)
    folder = str(tmp_path / "tmp" / f"egvsr-matplotlib-{os.getuid()}")
    assert (res.returncode, res.stderr, res.stdout) == (0, "", f"{folder}\n{folder}\n")


@pytest.mark.parametrize("args", [("models",), ("--help",), ("info", "{rec}")])
def test_a_reader_that_went_away_ends_the_command_quietly(tmp_path, args):
    """`egvsr info F | head -1`: the reader closed the pipe before egvsr wrote; no traceback, no line of
    BrokenPipeError at exit, status 1 (README)."""
    from egvsr.events.io import write_events
    from egvsr.events.stream import EventStream

    rec = tmp_path / "rec.h5"
    write_events(rec, EventStream(np.array([1, 2], np.uint16), np.array([0, 1], np.uint16),
                                  np.array([10, 20], np.int64), np.array([1, -1], np.int8), width=4, height=3))
    read, write = os.pipe()
    os.close(read)  # before the command starts: its first write finds no reader
    try:
        res = subprocess.run(cli(*(a.format(rec=rec) for a in args)), env=cli_env(), stdout=write,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (res.returncode, res.stderr) == (1, "")


@pytest.mark.parametrize("key, value", [("NUMBA_THREADING_LAYER", "bogus"), ("NUMBA_THREADING_LAYER", ""),
                                        ("NUMBA_THREADING_LAYER", " omp"),
                                        ("NUMBA_THREADING_LAYER_PRIORITY", "omp tbb")])
def test_a_numba_threading_layer_numba_does_not_know_is_one_line(key, value):
    """numba stopped the first parallel kernel with a ValueError traceback."""
    res = subprocess.run(cli("models"), env={**cli_env(), key: value}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith(f"egvsr: error: environment variable {key}={value!r}: expected ")
    assert res.stderr.count("\n") == 1


def test_numba_threading_layer_check_takes_numbas_names():
    for layer in ("default", "OMP", "workqueue", "tbb", "forksafe"):
        process.check_numba_threading_layer({"NUMBA_THREADING_LAYER": layer})
    process.check_numba_threading_layer({"NUMBA_THREADING_LAYER_PRIORITY": "workqueue omp  tbb"})
    process.check_numba_threading_layer({})


def test_a_numba_threading_layer_this_installation_lacks_is_one_line():
    """`tbb` (or `safe`) without the tbb package: numba's ValueError with a hint was a traceback."""
    code = ("import numba\nfrom egvsr.process import run_console\n"
            "raise SystemExit(run_console(lambda argv: numba.get_num_threads() and 0, []))\n")
    res = _python(code, env={**cli_env(), "NUMBA_THREADING_LAYER": "tbb"})
    if res.returncode == 0:
        pytest.skip("numba loads the tbb layer here")
    assert res.returncode == 2
    assert res.stderr == ("egvsr: error: environment variable NUMBA_THREADING_LAYER='tbb': numba cannot load that "
                          "threading layer here (it needs the tbb package: pip install tbb); expected a layer this "
                          "installation has, e.g. workqueue (or leave it unset)\n")
    assert process.numba_layer_message(ValueError("bad value")) is None


def test_an_interrupt_before_the_process_module_loads_is_one_write(monkeypatch):
    # the console entry's own line, printed before egvsr.process (and its stderr_line) could load: one write,
    # so that torchrun ranks sharing stderr cannot run their lines together
    import egvsr.__main__ as entry

    class Interrupting:
        def find_spec(self, name, path=None, target=None):
            if name == "egvsr.process":
                raise KeyboardInterrupt
            return None

    writes = []

    class Stderr:
        def write(self, text):
            writes.append(text)
            return len(text)

        def flush(self):
            pass

    monkeypatch.delitem(sys.modules, "egvsr.process")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    monkeypatch.setattr(sys, "stderr", Stderr())
    assert entry.console_main() == 130
    assert writes == ["egvsr: interrupted\n"]
