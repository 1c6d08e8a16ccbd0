"""A file of our layout with frames and no events (no `events` key, or an empty `events` group: what a writer
that had no events to store may leave) reads as a recording of no events, as a frames-only E2VID or AEDAT4 file
does, in the library and in every command; written with h5py alone, independently of our writer. Without
frames it is still refused, naming the missing key (docs/io.md, "Our HDF5 layout")."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from egvsr.cli import main
from egvsr.datasets import EventVSRDataset
from egvsr.errors import FormatError, InputFileError
from egvsr.events.io import convert, open_events, read_events

H, W = 24, 32
T = 500_000 + 40_000 * np.arange(4)


def _write(path, events: str = "none", frames: bool = True, num_events=None):
    rng = np.random.default_rng(3)
    imgs = rng.integers(0, 256, (len(T), H, W, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=W, height=H)
        if num_events is not None:
            f.attrs["num_events"] = num_events
        if events == "empty group":
            f.create_group("events")
        elif events == "link":
            f["events"] = h5py.ExternalLink("gone.h5", "/events")
        if frames:
            f["frames/images"] = imgs
            f["frames/t"] = T
    return imgs


@pytest.mark.parametrize("events", ["none", "empty group"])
def test_frames_without_events_read_as_a_recording_of_no_events(tmp_path, events):
    path = tmp_path / "frames.h5"
    imgs = _write(path, events, num_events=0)
    with open_events(path) as src:
        assert (src.layout, src.width, src.height, src.num_events) == ("egvsr", W, H, 0)
        assert src.t_first is None and src.t_last is None
        np.testing.assert_array_equal(src.frame_times(), T)
        np.testing.assert_array_equal(src.read_frame(2), imgs[2])
        assert len(src.read(0, 10**6)) == 0 and list(src.iter_chunks()) == [] and len(src.read_all_sorted()) == 0
    assert len(read_events(path)) == 0
    out = convert(path, tmp_path / "c.h5", progress=False)
    with open_events(out) as copy:
        assert copy.num_events == 0 and copy.num_frames == len(T)
    ds = EventVSRDataset([str(path)], mode="eval", scale=2.0, num_frames=3, representation="moments", bins=4)
    assert float(ds[1]["events"].abs().sum()) == 0.0


def test_frames_without_events_in_the_commands(tmp_path, capsys):
    path = tmp_path / "frames.h5"
    _write(path)
    assert main(["info", str(path)]) == 0
    assert "egvsr" in capsys.readouterr().out
    assert main(["show", str(path), "--out", str(tmp_path / "s.png")]) == 0
    assert main(["voxelize", str(path), str(tmp_path / "v.h5"), "--between-frames", "--no-progress"]) == 0
    assert f"{path}: holds no events, so the event tensors will be zero" in capsys.readouterr().err
    assert main(["voxelize", str(path), str(tmp_path / "w.h5"), "--window-ms", "10", "--no-progress"]) == 2


def test_without_frames_or_with_a_wrong_count_it_is_still_refused(tmp_path):
    path = tmp_path / "nothing.h5"
    _write(path, frames=False)
    with pytest.raises(FormatError, match=r"nothing\.h5: missing key 'events/x' required by the egvsr layout"):
        open_events(path)
    _write(path, num_events=7)
    with pytest.raises(FormatError, match=r"attribute num_events = 7 but the event arrays hold 0 events"):
        open_events(path)
    _write(path, "link")  # an `events` link whose target is missing is never taken as absent
    with pytest.raises((FormatError, InputFileError), match="nothing.h5"):
        open_events(path)
