"""Atomic outputs: nothing under the final name unless the write completed; no silent overwrite."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from egvsr.errors import OutputExistsError
from egvsr.fsutil import TEMP_MARK, atomic_output, check_output_folder, check_output_path
from tests._reliability import check_message


def test_success_renames(tmp_path):
    out = tmp_path / "a.h5"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"data")
        assert not out.exists()
    assert out.read_bytes() == b"data"
    assert not list(tmp_path.glob(f"*{TEMP_MARK}"))


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "a.h5"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_existing_output_is_kept(tmp_path):
    out = tmp_path / "a.h5"
    out.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_output(out):
            pass
    assert out.read_bytes() == b"mine"
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"


# ---- replacing a folder: an interrupt between the two renames keeps the old folder ------------------------
def test_interrupt_right_after_the_move_aside_puts_the_old_folder_back(tmp_path, monkeypatch):
    import os

    from egvsr import fsutil
    from egvsr.fsutil import atomic_directory

    out = tmp_path / "frames"
    with atomic_directory(out, kind="k") as tmp:
        (tmp / "a.txt").write_text("old")
    real = os.replace

    def moved_then_interrupted(src, dst):
        real(src, dst)
        if str(dst).endswith("old"):  # the old folder is aside: Ctrl-C lands right here
            raise KeyboardInterrupt

    monkeypatch.setattr(fsutil.os, "replace", moved_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(out, overwrite=True, kind="k") as tmp:
            (tmp / "a.txt").write_text("new")
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # nothing aside for a sweep to delete


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_file_put_in_the_folder_after_its_last_check_is_never_deleted(tmp_path, monkeypatch, overwrite):
    """A note written into the output folder between its last check and the move aside (another
    program, the user's shell) keeps the folder as it was: the moved-aside folder is checked again."""
    from egvsr import fsutil
    from egvsr.fsutil import atomic_directory

    out = tmp_path / "frames"
    if overwrite:  # an earlier output of the same command, replaceable with --overwrite
        with atomic_directory(out, kind="k") as tmp:
            (tmp / "a.txt").write_text("old")
    else:  # an empty folder, used as new without --overwrite
        out.mkdir()
    real = os.replace

    def note_written_first(src, dst):
        if Path(src) == out and str(dst).endswith("old"):  # just before the move aside
            (out / "note.txt").write_text("mine")
        real(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", note_written_first)
    with pytest.raises(OutputExistsError, match="note.txt"):
        with atomic_directory(out, overwrite=overwrite, kind="k") as tmp:
            (tmp / "a.txt").write_text("new")
    assert (out / "note.txt").read_text() == "mine"
    assert not overwrite or (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # nothing aside for a sweep to delete


# ---- output paths: `..`, a trailing slash, an existing empty folder ---------------------------------------
def test_dotdot_after_a_missing_folder_creates_no_folder(tmp_path):
    import os

    from egvsr.fsutil import atomic_directory, output_path

    with atomic_output(tmp_path / "D" / ".." / "x.bin") as tmp:
        tmp.write_bytes(b"x")
    assert (tmp_path / "x.bin").read_bytes() == b"x" and not (tmp_path / "D").exists()
    with atomic_directory(tmp_path / "E" / ".." / "F") as tmp:
        (tmp / "a").write_text("a")
    assert (tmp_path / "F" / "a").is_file() and not (tmp_path / "E").exists()
    (tmp_path / "real" / "sub").mkdir(parents=True)
    os.symlink(tmp_path / "real" / "sub", tmp_path / "link")
    assert output_path(tmp_path / "link" / ".." / "y.h5") == (tmp_path / "real" / "y.h5").resolve()  # as the system
    assert output_path("plain/x.h5") == Path("plain/x.h5")


def test_a_trailing_slash_names_a_folder_not_a_file_output(tmp_path):
    from egvsr.errors import OutputError
    from egvsr.fsutil import check_output_path, refuse_inputs_as_outputs

    with pytest.raises(OutputError, match="newdir/: ends in '/', which names a folder, but this output is a file"):
        check_output_path(f"{tmp_path}/newdir/")
    with pytest.raises(OutputError, match="ends in '/'"):
        refuse_inputs_as_outputs([], ["newdir/"])
    refuse_inputs_as_outputs([], [], ["newdir/"])  # a folder output may end in /


def test_an_empty_folder_is_used_and_a_wrong_kind_is_said_at_once(tmp_path):
    from egvsr.fsutil import atomic_directory, check_output_folder, check_output_path

    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty", kind="k") as tmp:  # no --overwrite needed: nothing to lose
        (tmp / "a").write_text("a")
    assert (tmp_path / "empty" / "a").is_file()
    (tmp_path / "c.h5").write_bytes(b"x")
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="c.h5: output exists and is not a folder"):
            check_output_folder(tmp_path / "c.h5", overwrite, "k")
        with pytest.raises(OutputExistsError, match="empty: output path is a folder, expected a file path"):
            check_output_path(tmp_path / "empty", overwrite)


def test_a_mount_point_is_refused_as_a_folder_output_before_any_work(tmp_path, monkeypatch):
    """An empty folder is used as if new, but a mount point cannot be renamed onto: refused at once, not
    after the whole job ("Device or resource busy" at the final rename)."""
    import os

    from egvsr.errors import OutputError
    from egvsr.fsutil import atomic_directory, check_output_folder

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mnt or real(p))
    for overwrite in (False, True):
        with pytest.raises(OutputError) as err:
            check_output_folder(mnt, overwrite, "render --png")
        check_message(err.value, f"{mnt}: is a mount point", f"name a new folder inside it (e.g. {mnt / 'render'})")
    with pytest.raises(OutputError, match="is a mount point"):
        with atomic_directory(mnt, kind="demo"):
            pytest.fail("work began")
    assert sorted(tmp_path.iterdir()) == [mnt] and not list(mnt.iterdir())


def test_an_empty_folder_the_command_made_is_its_own_to_replace(tmp_path):
    """A training run's empty logs/ folder is recorded in the marker, so --overwrite replaces the folder;
    an empty folder someone adds later is still not ours."""
    from egvsr.fsutil import MARKER, atomic_directory

    out = tmp_path / "demo"
    for _ in range(2):
        with atomic_directory(out, overwrite=True, kind="demo") as tmp:
            (tmp / "run" / "logs").mkdir(parents=True)
            (tmp / "run" / "last.pt").write_bytes(b"ck")
    assert "run/logs/" in (out / MARKER).read_text().splitlines()
    (out / "run" / "mine").mkdir()
    with pytest.raises(OutputExistsError, match="holds run/mine, which `egvsr demo` did not write there"):
        with atomic_directory(out, overwrite=True, kind="demo"):
            pass
    (out / "run" / "mine").rmdir()
    (out / "run" / "logs" / "note.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="holds run/logs/note.txt, which"):
        with atomic_directory(out, overwrite=True, kind="demo"):
            pass


def test_a_folder_that_takes_no_file_is_refused_as_unwritable(tmp_path, monkeypatch):
    """`check_writable` tries: root may write anywhere by its permissions, yet /proc takes no new file, and
    a read-only file system is said as such (and before any free-space check calls it full)."""
    import errno
    import tempfile

    from egvsr.errors import OutputError
    from egvsr.fsutil import check_writable

    with pytest.raises(OutputError) as err:
        check_writable("/proc/x.h5")
    check_message(err.value, "/proc/x.h5: cannot create the output in /proc (")

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError) as err:
        check_writable(tmp_path / "sub" / "x.h5")
    check_message(err.value, f"cannot create the output in {tmp_path / 'sub'} (the file system is read-only)")
    monkeypatch.undo()
    check_writable(tmp_path / "sub" / "x.h5")
    assert not list(tmp_path.iterdir())  # the trial file is gone


# ---- inputs reached through an input folder ---------------------------------------------------------------
def test_files_an_input_folder_reads_elsewhere_count_as_inputs(tmp_path):
    import os
    import re

    from egvsr.fsutil import FolderMembers, refuse_inputs_as_outputs

    for name in ("outer/linked", "listed", "rec"):
        (tmp_path / name).mkdir(parents=True)
    listed = tmp_path / "listed" / "f0.png"  # named by a list in the folder (images.txt), not linked
    listed.write_bytes(b"png")
    os.symlink(tmp_path / "outer" / "linked", tmp_path / "rec" / "images")
    linked = tmp_path / "outer" / "linked"

    def listing(folder):
        return [FolderMembers((listed,), (linked,), re.compile(r".+\.png"))]

    with pytest.raises(OutputExistsError, match=r"f0.png: output is .*f0.png, which the input folder .*rec reads"):
        refuse_inputs_as_outputs([tmp_path / "rec"], [listed], members=listing)
    with pytest.raises(OutputExistsError, match=r"output folder holds .*f0.png, which the input folder .*rec reads"):
        refuse_inputs_as_outputs([tmp_path / "rec"], [], [tmp_path / "listed"], members=listing)
    with pytest.raises(OutputExistsError, match=r"would read a file of this name there"):
        refuse_inputs_as_outputs([tmp_path / "rec"], [linked / "new.png"], members=listing)
    refuse_inputs_as_outputs([tmp_path / "rec"], [linked / "new.h5"], members=listing)  # a name it does not read
    # a folder an input folder links to is an input folder, even without a listing
    with pytest.raises(OutputExistsError, match=r"output folder holds .*linked, which the input folder .*rec links to"):
        refuse_inputs_as_outputs([tmp_path / "rec"], [], [tmp_path / "outer"])
    (linked / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"exists inside .*linked, which the input folder .*rec links to"):
        refuse_inputs_as_outputs([tmp_path / "rec"], [linked / "notes.txt"])


@pytest.mark.parametrize("flag", ["no", "False", 0, 1, None, [], "yes"])
def test_overwrite_must_be_a_bool_so_a_truthy_no_replaces_nothing(tmp_path, flag):
    """overwrite="no" is true to Python: it replaced (destroyed) the existing output."""
    import numpy as np

    from egvsr.errors import ConfigError
    from egvsr.fsutil import atomic_directory, check_flag, check_output_folder, check_output_path

    out = tmp_path / "a.h5"
    out.write_bytes(b"keep")
    for call in (lambda: check_output_path(out, flag), lambda: atomic_output(out, flag).__enter__(),
                 lambda: check_output_folder(tmp_path, flag),
                 lambda: atomic_directory(tmp_path / "d", flag).__enter__()):
        with pytest.raises(ConfigError) as err:
            call()
        assert str(err.value) == f"`overwrite` {flag!r}: expected True or False"
    assert out.read_bytes() == b"keep" and sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]
    assert check_flag(np.bool_(True), "x") is True and check_flag(False, "x") is False
    with atomic_output(out, np.bool_(True)) as tmp:  # NumPy's bool is a bool
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"


def _library_writers(src: Path, frames: Path):
    """Every events-layer function with an `overwrite` flag, writing `dst` from the recording `src`."""
    from egvsr.events.io import EventWriter, convert, read_events, write_events
    from egvsr.events.represent import voxelize_file
    from egvsr.events.simulate import make_sample, simulate_video

    s = read_events(src)
    quiet = {"progress": False}
    return {
        "convert": lambda dst, **kw: convert(src, dst, **{**quiet, **kw}),
        "write_events": lambda dst, **kw: write_events(dst, s, **kw),
        "EventWriter": lambda dst, **kw: EventWriter(dst, s.width, s.height, **kw).__enter__(),
        "voxelize_file": lambda dst, **kw: voxelize_file(src, dst, **{"between_frames": True, **quiet, **kw}),
        "simulate_video": lambda dst, **kw: simulate_video(frames, dst, fps=10, **{**quiet, **kw}),
        "make_sample": lambda dst, **kw: make_sample(dst, seconds=0.1, size=(16, 16), **{**quiet, **kw}),
    }


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    import numpy as np

    from egvsr.cvfile import write_image
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("rec")
    src = make_sample(d / "rec.h5", seconds=0.12, size=(16, 20), progress=False)
    (d / "frames").mkdir()
    for i in range(2):
        write_image(d / "frames" / f"{i}.png", np.full((8, 8, 3), 100 * i, np.uint8))
    return src, d / "frames"


@pytest.mark.parametrize("api", ["convert", "write_events", "EventWriter", "voxelize_file", "simulate_video",
                                 "make_sample"])
def test_no_library_writer_replaces_an_output_for_a_truthy_overwrite(tmp_path, recording, api):
    from egvsr.errors import ConfigError

    out = tmp_path / "out.h5"
    out.write_bytes(b"keep")
    with pytest.raises(ConfigError, match=r"^`overwrite` 'no': expected True or False$"):
        _library_writers(*recording)[api](out, overwrite="no")
    assert out.read_bytes() == b"keep"


@pytest.mark.parametrize("api, flag", [("voxelize_file", "between_frames"), ("voxelize_file", "progress"),
                                       ("simulate_video", "progress"), ("make_sample", "progress")])
def test_other_flags_of_the_events_layer_are_bools_too(tmp_path, recording, api, flag):
    from egvsr.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^`{flag}` 'yes': expected True or False$"):
        _library_writers(*recording)[api](tmp_path / "out.h5", **{flag: "yes"})
    assert not (tmp_path / "out.h5").exists()


def test_a_relative_output_while_the_current_folder_is_gone_is_refused_by_name(tmp_path, monkeypatch, capsys):
    """`cd d && rmdir ../d && egvsr make-sample out.h5`: the output is named and the missing current folder
    said, rather than 'file system: No such file or directory'; an absolute output is still written."""
    from egvsr.cli import main
    from egvsr.errors import OutputError
    from egvsr.fsutil import check_output_folder, check_output_path

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    for check in (check_output_path, check_output_folder):
        with pytest.raises(OutputError, match=r"^out\.h5: the current folder no longer exists"):
            check("out.h5")
    assert check_output_path(tmp_path / "abs.h5") == tmp_path / "abs.h5"
    assert main(["make-sample", "out.h5", "--seconds", "0.1", "--size", "16x20", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("egvsr: error: out.h5: the current folder no longer exists") and err.count("\n") == 1


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_on_a_virtual_file_system_is_not_said_to_lack_space(tmp_path, monkeypatch, capsys):
    """`cd /proc && egvsr voxelize IN out.h5`: /proc has 0 blocks, which said '0 bytes free in .'; its free
    space is unknown (None), and voxelize and convert say that the folder takes no files, naming it."""
    from egvsr.cli import main
    from egvsr.events.simulate import make_sample
    from egvsr.fsutil import free_bytes

    assert free_bytes("/proc") is None
    assert free_bytes(tmp_path) > 0
    rec = make_sample(tmp_path / "rec.h5", seconds=0.1, size=(16, 20), progress=False)
    monkeypatch.chdir("/proc")
    for argv in (["voxelize", str(rec), "out.h5", "--between-frames", "--no-progress"], ["convert", str(rec), "out.h5"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        # root: "it takes no new files"; another user: "permission denied"; never a free-space figure
        assert err.startswith("egvsr: error: out.h5: cannot create the output in /proc (") and err.count("\n") == 1, err
        assert "free" not in err, err


def test_an_existing_output_names_both_spellings_of_overwrite(tmp_path):
    """Library callers (convert(..., overwrite=True), render(...)) get the same message as the commands: it
    names the Python keyword beside the flag."""
    (tmp_path / "out.h5").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.png").write_bytes(b"x")
    for call in (lambda: check_output_path(tmp_path / "out.h5"), lambda: check_output_folder(tmp_path / "folder")):
        with pytest.raises(OutputExistsError, match=r"--overwrite \(overwrite=True in Python\)"):
            call()


def test_counted_names_one_in_the_singular():
    from egvsr.fsutil import counted

    assert [counted(n, "frame") for n in (0, 1, 2, 12000)] == ["0 frames", "1 frame", "2 frames", "12,000 frames"]


def test_member_files_are_looked_up_only_when_an_output_already_exists(tmp_path, monkeypatch):
    """A path that does not exist yet cannot be one of an input folder's files, so none of them is looked up
    (resolve and stat: seconds for a folder of 30k frames); an existing output still is checked against them."""
    import os
    import re

    from egvsr import fsutil
    from egvsr.fsutil import FolderMembers, refuse_inputs_as_outputs

    rec = tmp_path / "rec"
    rec.mkdir()
    frames = [rec / f"{i}.png" for i in range(50)]
    for f in frames:
        f.write_bytes(b"png")

    def listing(folder):
        return [FolderMembers(tuple(frames), (rec,), re.compile(r".+\.png"))]

    looked_up = []
    identity = fsutil._identity
    monkeypatch.setattr(fsutil, "_identity", lambda p: looked_up.append(p) or identity(p))
    refuse_inputs_as_outputs([rec], [tmp_path / "out.h5"], members=listing)
    assert not set(looked_up) & set(frames)
    os.link(frames[7], tmp_path / "out.h5")
    with pytest.raises(OutputExistsError, match=r"out.h5: output is .*7.png, which the input folder .*rec reads"):
        refuse_inputs_as_outputs([rec], [tmp_path / "out.h5"], members=listing)


@pytest.mark.parametrize("code, why", [(errno.ENOSPC, "the disk is full"),
                                       (errno.EFBIG, "the file size limit is reached (ulimit -f)"),
                                       (errno.EDQUOT, "the disk quota is exceeded"),
                                       (errno.EIO, "an input/output error on the device"),
                                       (errno.EROFS, "the file system is read-only")])
def test_a_failed_creation_and_a_failed_write_give_one_reason(tmp_path, monkeypatch, code, why) -> None:
    """An output whose temporary cannot be made and one whose write fails with the same error are told the
    same reason: the two errno tables were written twice in fsutil, and a creation met with EFBIG or EIO
    got the system's bare words ('File too large') instead of output_error's."""
    import tempfile

    from egvsr.errors import OutputError
    from egvsr.fsutil import output_error

    def failing(*args, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", failing)
    out = tmp_path / "out.h5"
    assert f"({why})" in str(output_error(out, OSError(code, os.strerror(code))))
    with pytest.raises(OutputError, match=re.escape(f"cannot create the output in {tmp_path} ({why})")):
        with atomic_output(out):
            pass
