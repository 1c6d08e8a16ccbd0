"""A figure whose write fails (a full disk, a file size limit) is one `OutputError` naming the output, for
every format `save_figure` writes, also where the writer loses the OSError to an error of its own while
closing (matplotlib's PDF backend), and a Ctrl-C during the write stays a Ctrl-C; nothing is left behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from egvsr.errors import OutputError
from egvsr.plots.figures import writing

# a real file size limit (ulimit -f) while a figure with text is saved: matplotlib's PDF backend then
# fails in its own clean-up (`Stream.end` reads an attribute it never set) and raises an AttributeError
# that hides the OSError
_SAVE_UNDER_A_SIZE_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    from egvsr.plots.figures import new_figure, save_figure
    from egvsr.errors import OutputError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.plot([0, 1, 2], [3, 1, 2])
    ax.set_title("a title with text, so fonts are embedded")
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, resource.RLIM_INFINITY))
    try:
        save_figure(fig, sys.argv[1], fmt=sys.argv[2])
    except OutputError as exc:
        print("OutputError:", exc)
""")


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="RLIMIT_FSIZE of a POSIX process")
@pytest.mark.parametrize("fmt", ["pdf", "svg", "png"])
def test_a_file_size_limit_is_one_line_for_every_format(tmp_path, fmt):
    out = tmp_path / f"fig.{fmt}"
    run = subprocess.run([sys.executable, "-c", _SAVE_UNDER_A_SIZE_LIMIT, str(out), fmt],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (f"OutputError: {out}: cannot write the output (the file size limit is reached (ulimit -f)); "
                          "nothing was written under this name: free some space or choose another path\n")
    assert list(tmp_path.iterdir()) == []  # no partial output, no temporary


def test_an_oserror_hidden_by_the_writers_clean_up_is_still_said(tmp_path):
    out = tmp_path / "fig.pdf"
    with pytest.raises(OutputError, match="the disk is full"):
        with writing(out):
            try:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            finally:
                raise AttributeError("'Stream' object has no attribute 'pos'")  # noqa: B012 (as matplotlib does)


def test_a_ctrl_c_hidden_by_the_writers_clean_up_stays_a_ctrl_c(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with writing(tmp_path / "fig.pdf"):
            try:
                raise KeyboardInterrupt
            finally:
                raise AttributeError("'Stream' object has no attribute 'pos'")  # noqa: B012


def test_an_error_without_an_oserror_is_left_as_it_is(tmp_path):
    with pytest.raises(ValueError, match="a bug"):
        with writing(tmp_path / "fig.png"):
            raise ValueError("a bug")
