"""A Prophesee file that ends inside a word (EVT2: 32 bits, EVT3: 16, DAT: an 8-byte event) was cut short
(truncated when copied or recorded): the readers read the words before it, but it is never passed over in
silence: `info` reports it (`damage  ...`, exit status 2), `convert` warns of it, `EventSource.damage()`
says it. A file that ends on a word's boundary holds no such damage."""

from __future__ import annotations

import pytest

from egvsr.cli import main
from egvsr.events.io import open_events, read_events
from egvsr.events.io.info import summarize
from tests.events.io.test_layouts import _events, write_dat, write_evt2, write_evt3

W, H = 32, 24
KINDS = {"evt2": (write_evt2, ".raw", 4, "32-bit EVT2 word"), "evt3": (write_evt3, ".raw", 2, "16-bit EVT3 word"),
         "dat": (write_dat, ".dat", 8, "DAT event (8 bytes)")}


def _recording(tmp_path, kind):
    writer, suffix, unit, what = KINDS[kind]
    x, y, t, on = _events(50, W, H, t0=0, span=100_000)
    path = tmp_path / f"rec{suffix}"
    writer(path, x, y, t, on, W, H)
    return path, t


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_cut_inside_a_word_is_reported_and_its_events_before_read(tmp_path, kind, capsys):
    path, t = _recording(tmp_path, kind)
    whole = read_events(path)
    unit, what = KINDS[kind][2], KINDS[kind][3]
    data = path.read_bytes()
    for stray in range(1, unit):
        path.write_bytes(data + bytes(stray))  # the first bytes of one more word, then the end
        with open_events(path) as src:
            assert src.damage() == (
                f"the file ends {stray} byte{'s' if stray > 1 else ''} into a {what} (at byte {len(data)}): it was cut "
                "short (truncated when copied or recorded?); the events before it are read")
            assert src.read().t.tolist() == whole.t.tolist()
        assert summarize(path)["damage"] == src.damage()
        assert main(["info", str(path)]) == 2
        out, err = capsys.readouterr()
        assert f"damage       {src.damage()}" in out and "frames       none" in out  # the full report
        assert err == f"egvsr: error: {path}: {src.damage()}\n"
        dst = tmp_path / f"o{stray}.h5"
        assert main(["convert", str(path), str(dst), "--no-progress"]) == 0
        out, err = capsys.readouterr()
        assert err == f"egvsr: warning: {path}: {src.damage()}\n"
        assert read_events(dst).t.tolist() == whole.t.tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_ending_on_a_word_boundary_has_no_damage(tmp_path, kind, capsys):
    path, _ = _recording(tmp_path, kind)
    unit = KINDS[kind][2]
    data = path.read_bytes()
    for cut in (0, unit, 3 * unit):
        path.write_bytes(data[:len(data) - cut])
        with open_events(path) as src:
            assert src.damage() is None
        assert main(["info", str(path)]) == 0
        assert "damage" not in capsys.readouterr().out


def test_other_layouts_report_no_damage(tmp_path):
    from egvsr.events import EventStream
    from egvsr.events.io import write_events

    path = write_events(tmp_path / "ours.h5", EventStream.empty(W, H))
    with open_events(path) as src:
        assert src.damage() is None
    assert summarize(path)["damage"] is None


def test_eval_and_render_warn_of_a_cut_file_as_convert_does(tmp_path, capsys):
    """The recordings' warning (eval, render) is convert's line: a name's byte that is not UTF-8 is shown as
    `\\xNN` there too (it was printed as the raw byte), and a newline in a name cannot split the line."""
    import os

    from egvsr.datasets.adapters.event_source import SourceRecording
    from egvsr.datasets.recording import warn_event_damage_and_coverage

    good, _ = _recording(tmp_path, "evt2")
    for raw, shown in ((b"rec\xff.raw", "rec\\xff.raw"), (b"rec\n.raw", "rec\\n.raw")):
        path = tmp_path / os.fsdecode(raw)
        path.write_bytes(good.read_bytes() + b"\0")
        rec = SourceRecording(path)
        rec.events_outside_frames = lambda: None  # (the recording has no frames: only the damage is asked)
        warn_event_damage_and_coverage([rec])
        assert capsys.readouterr().err == f"egvsr: warning: {tmp_path}/{shown}: {rec.event_damage}\n"
        assert rec.event_damage.startswith("the file ends 1 byte into a 32-bit EVT2 word")
