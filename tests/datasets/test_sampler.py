"""One scale per batch (sampler + collate), tensor-level augmentations, dataset roots and split files."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
import torch

from egvsr.datasets import DatasetRoot, ScaleBatchSampler, builtin_split, collate_samples
from egvsr.datasets.augment import flip, reverse_event_tensor, reverse_events, reverse_time, rotate90
from egvsr.errors import ConfigError, EgvsrError, FormatError, InputFileError
from egvsr.events.stream import EventStream

# ---- sampler -----------------------------------------------------------------------------------


def test_sampler_one_scale_per_batch_and_deterministic():
    s = ScaleBatchSampler(23, 4, (1.0, 4.0), seed=7)
    batches = list(s)
    assert len(batches) == len(s) == 6
    assert sorted(k.index for b in batches for k in b) == list(range(23))  # every item once per epoch
    for b in batches:
        assert len({k.scale for k in b}) == 1 and 1.0 <= b[0].scale <= 4.0
    assert list(ScaleBatchSampler(23, 4, (1.0, 4.0), seed=7)) == batches  # same seed: same batches
    s.set_epoch(1)
    assert list(s) != batches  # another epoch: another order and other scales
    assert len(list(ScaleBatchSampler(23, 4, drop_last=True))) == 5
    fixed = ScaleBatchSampler(8, 2, (2.0, 4.0), scales=[2.0, 3.0, 4.0])
    assert {b[0].scale for b in fixed} <= {2.0, 3.0, 4.0}


@pytest.mark.parametrize("rng,match", [((0.5, 2.0), "1 <= low"), ((3.0, 2.0), "low <= high"),
                                       ((1.0, float("nan")), "expected 1")])
def test_sampler_bad_scale_range(rng, match):
    with pytest.raises(ConfigError, match=match):
        ScaleBatchSampler(4, 2, rng)


def test_collate_stacks_and_refuses_mixed_scales():
    a = {"lr": torch.zeros(3, 3, 4, 4), "scale": 2.0, "clip": "a"}
    b = {"lr": torch.ones(3, 3, 4, 4), "scale": 2.0, "clip": "b"}
    out = collate_samples([a, b])
    assert out["lr"].shape == (2, 3, 3, 4, 4) and out["scale"] == 2.0 and out["clip"] == ["a", "b"]
    with pytest.raises(ConfigError, match="mixes scales"):
        collate_samples([a, dict(b, scale=3.0)])
    with pytest.raises(ConfigError, match="different shapes"):
        collate_samples([a, dict(b, lr=torch.ones(3, 3, 5, 4))])


# ---- augmentation ---------------------------------------------------------------------------------


def _sample(P=2):
    g = torch.Generator().manual_seed(0)
    return {
        "lr": torch.rand(3, 3, 4, 6, generator=g), "events": torch.rand(5, P, 4, 6, generator=g),
        "hr": torch.rand(2, 3, 8, 12, generator=g), "frame_times": torch.tensor([-1.0, 0.2, 1.0]),
        "times": torch.tensor([-0.5, 0.6]), "t_us": torch.tensor([10, 70]),
        "scale_eff": torch.tensor([2.0, 2.0]),
    }


def test_reverse_time_semantics():
    s = _sample()
    r = reverse_time(s)
    assert torch.equal(r["lr"][0], s["lr"][2])
    np.testing.assert_allclose(r["frame_times"], [-1.0, -0.2, 1.0])
    np.testing.assert_allclose(r["times"], [-0.6, 0.5])  # still ascending, hr follows
    assert torch.equal(r["hr"][0], s["hr"][1]) and r["t_us"].tolist() == [70, 10]
    assert torch.equal(r["events"][0, 0], s["events"][4, 1])  # last bin first, ON <-> OFF
    signed = _sample(P=1)
    assert torch.equal(reverse_event_tensor(signed["events"])[1], -signed["events"][3])
    twice = reverse_time(r)
    for k in ("lr", "events", "hr", "times", "frame_times"):
        assert torch.equal(twice[k], s[k])


def test_flip_and_rotate_apply_to_all_images():
    s = _sample()
    f = flip(s, "x")
    for k in ("lr", "events", "hr"):
        assert torch.equal(f[k][..., 0], s[k][..., -1])
    r = rotate90(s, 1)
    assert r["lr"].shape[-2:] == (6, 4) and r["hr"].shape[-2:] == (12, 8) and r["events"].shape[-2:] == (6, 4)
    assert torch.equal(rotate90(r, 3)["hr"], s["hr"])


def test_reverse_events_stream():
    s = EventStream(np.array([1, 2, 3], np.uint16), np.array([0, 0, 1], np.uint16),
                    np.array([100, 150, 190], np.int64), np.array([1, 1, -1], np.int8), 4, 2)
    r = reverse_events(s, 100, 200)
    assert r.t.tolist() == [110, 150, 200] and r.p.tolist() == [1, -1, -1] and r.x.tolist() == [3, 2, 1]
    # both ends: an event at t1 plays at t0, so the reversed window [t0, t1) holds (t0, t1] of the recording
    r = reverse_events(s, 90, 190)
    assert r.t.tolist() == [90, 130, 180] and r.x.tolist() == [3, 2, 1]


@pytest.mark.parametrize("t0,t1", [(2**62 + 2**61, 2**62 + 2**61 + 100), (-(2**62) - 2**61 - 100, -(2**62) - 2**61),
                                    (-(2**63), 2**63 - 1)])
def test_reverse_events_near_the_ends_of_the_int64_clock(t0, t1):
    """t0 + t1 passes the int64 range here: the times stay exact and no overflow is warned of (per sample)."""
    t = np.array([t0, t0 + 10, t1 - 3, t1], np.int64)
    s = EventStream(np.array([0, 1, 2, 3], np.uint16), np.zeros(4, np.uint16), t, np.array([1, -1, 1, 1], np.int8), 4, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = reverse_events(s, t0, t1)
    assert r.t.dtype == np.int64 and r.t.tolist() == [t0 + t1 - v for v in t[::-1].tolist()]
    assert r.x.tolist() == [3, 2, 1, 0] and r.p.tolist() == [-1, -1, 1, -1]


@pytest.mark.parametrize("t0,t1,match", [(100, 50, "t0 <= t1"), (1.5, 200, "t0 1.5"), (0, True, "t1 True"),
                                         (0, 2**63, "t1 9223372036854775808")])
def test_reverse_events_window_is_checked(t0, t1, match):
    s = EventStream(np.array([1], np.uint16), np.array([0], np.uint16), np.array([60], np.int64),
                    np.array([1], np.int8), 4, 2)
    with pytest.raises(ConfigError, match=match):
        reverse_events(s, t0, t1)


@pytest.mark.parametrize("axis", ["X", "horizontal", "h", None, -1])
def test_flip_refuses_an_axis_other_than_x_or_y(axis):
    """Anything but "x" flipped top-bottom, silently (an "X" flipped the other axis)."""
    with pytest.raises(ConfigError, match="flip axis"):
        flip(_sample(), axis)
    assert torch.equal(flip(_sample(), "y")["lr"][..., 0, :], _sample()["lr"][..., -1, :])


@pytest.mark.parametrize("k", [1.7, 1.0, True, "1", None])
def test_rotate90_takes_integer_quarter_turns(k):
    with pytest.raises(ConfigError, match="quarter turns"):
        rotate90(_sample(), k)
    assert torch.equal(rotate90(_sample(), np.int64(-1))["lr"], rotate90(_sample(), 3)["lr"])


# ---- dataset roots and splits -----------------------------------------------------------------------


def test_builtin_ced_test_split():
    names = builtin_split("ced_test")
    assert len(names) == 11
    assert names[0] == "people_dynamic_wave" and "simple_carpet_fast" in names
    with pytest.raises(ConfigError, match="not shipped"):
        builtin_split("nope")


def _touch_root(tmp_path, names):
    for n in names:
        (tmp_path / f"{n}.h5").write_bytes(b"")
    ced = tmp_path / "indoors_office"
    ced.mkdir()
    (ced / "1000.npy").write_bytes(b"")
    (tmp_path / "notes").mkdir()
    return tmp_path


def test_root_splits(tmp_path):
    root = DatasetRoot(_touch_root(tmp_path, ["people_dynamic_wave", "simple_fruit", *builtin_split("ced_test")[1:]]))
    assert set(root.recordings()) >= {"indoors_office", "simple_fruit", "people_dynamic_wave"}
    assert "notes" not in root.recordings()
    assert [p.stem for p in root.paths("ced_test")] == builtin_split("ced_test")
    assert {p.name.split(".")[0] for p in root.paths("ced_train")} == {"simple_fruit", "indoors_office"}
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "mine.txt").write_text("# two clips\nsimple_fruit\nindoors_office  # CED folder\n")
    assert [p.name for p in root.paths("mine")] == ["simple_fruit.h5", "indoors_office"]
    assert "mine" in root.splits() and "ced_test" in root.splits()
    (tmp_path / "splits" / "bad.txt").write_text("simple_fruit\nmissing_clip\n")
    with pytest.raises(InputFileError, match="missing_clip"):
        root.paths("bad")
    (tmp_path / "splits" / "dup.txt").write_text("simple_fruit\nsimple_fruit\n")
    with pytest.raises(ConfigError, match="listed twice"):
        root.paths("dup")
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        root.paths("val")


def test_split_files_written_on_windows(tmp_path):
    """A byte order mark (Notepad's UTF-8), CRLF line ends, tabs and trailing blanks are no part of a name."""
    root = DatasetRoot(_touch_root(tmp_path, ["calendar", "city"]))
    (tmp_path / "win.txt").write_bytes("calendar \t\r\n\r\n# note\r\ncity\t# the city\r\n".encode("utf-8-sig"))
    assert [p.name for p in root.paths("win")] == ["calendar.h5", "city.h5"]
    (tmp_path / "slash.txt").write_text("indoors_office/\ncity\n")  # a folder as the shell completes it
    assert [p.name for p in root.paths("slash")] == ["indoors_office", "city.h5"]
    (tmp_path / "twice.txt").write_text("indoors_office\nindoors_office/\n")
    with pytest.raises(ConfigError, match="listed twice"):
        root.paths("twice")


def test_root_split_folders(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "calendar.h5").write_bytes(b"")
    root = DatasetRoot(tmp_path)
    assert [p.name for p in root.paths("test")] == ["calendar.h5"]
    with pytest.raises(EgvsrError, match="dataset root not found"):
        DatasetRoot(tmp_path / "nothing")


def test_root_lists_every_layout_the_readers_detect(tmp_path):
    """AEDAT4 / Prophesee files and HDF5 files without .h5 suffix are recordings by content; split files,
    notes and unknown files are not."""
    (tmp_path / "a.h5").write_bytes(b"")  # a damaged .h5 still counts (reported when opened)
    (tmp_path / "davis.aedat4").write_bytes(b"#!AER-DAT4.0\r\n")
    (tmp_path / "cam.raw").write_bytes(b"% evt 3.0\n% end\n")
    (tmp_path / "noext").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "readme.txt").write_text("davis\n")
    (tmp_path / "data.bin").write_bytes(b"\x00" * 50)
    root = DatasetRoot(tmp_path)
    assert sorted(root.recordings()) == ["a", "cam", "davis", "noext"]
    assert [p.name for p in root.paths("readme")] == ["davis.aedat4"]


def test_root_errors_name_the_folder_and_file(tmp_path):
    with pytest.raises(InputFileError, match=f"{re.escape(str(tmp_path))}: dataset root holds no recordings"):
        DatasetRoot(tmp_path).paths()
    (tmp_path / "a.h5").write_bytes(b"")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "bin.txt").write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(InputFileError, match=r"splits/bin.txt: split file is not UTF-8 text \(byte 0"):
        DatasetRoot(tmp_path).paths("bin")
    # the byte counts from the file's start, a byte-order mark included (it was 3 too low behind one)
    (tmp_path / "splits" / "bin.txt").write_bytes(b"\xef\xbb\xbfa\nb\xff\n")
    with pytest.raises(FormatError, match=r"splits/bin.txt: split file is not UTF-8 text \(byte 6 cannot be decoded\)"):
        DatasetRoot(tmp_path).paths("bin")
    (tmp_path / "splits" / "bin.txt").write_bytes(b"\xef\xbb\xbfa\n")
    assert [p.name for p in DatasetRoot(tmp_path).paths("bin")] == ["a.h5"]


@pytest.mark.parametrize("option, match", [({"flips": "maybe"}, "flips 'maybe': expected True or False"),
                                           ({"quantize": 1}, "quantize 1: expected True or False"),
                                           ({"fps": -5}, "fps -5: expected a positive frame rate"),
                                           ({"mode": "eval", "scale": "abc"}, "scale 'abc': expected one number"),
                                           ({"seed": -1}, r"^seed -1: expected an integer >= 0$"),
                                           ({"seed": 1.5}, r"^seed 1.5: expected an integer >= 0$"),
                                           ({"bogus": 1}, r"^bogus: not an option of EventVSRDataset; expected one "
                                                          r"of bins, flips, ")])
def test_dataset_options_are_strict_before_any_file_is_opened(tmp_path, option, match):
    from egvsr.datasets import EventVSRDataset

    with pytest.raises(ConfigError, match=match):
        EventVSRDataset([tmp_path / "missing.h5"], **option)


def test_root_and_split_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"^path: expected a dataset root folder \(str or os.PathLike\), got int$"):
        DatasetRoot(5)
    (tmp_path / "a.h5").write_bytes(b"")
    root = DatasetRoot(tmp_path)
    for split in (None, 5, ""):
        with pytest.raises(ConfigError, match=rf"^split {split!r}: expected a split name \(text\)"):
            root.paths(split)


def test_a_split_stays_inside_its_root(tmp_path):
    """A split is a name inside the root (nested folders too, as EvTexture's LRx4/test); a path leading out
    of it would read recordings of another folder."""
    (tmp_path / "root" / "LRx4" / "test").mkdir(parents=True)
    (tmp_path / "root" / "LRx4" / "test" / "calendar.h5").write_bytes(b"")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.h5").write_bytes(b"")
    root = DatasetRoot(tmp_path / "root")
    assert [p.name for p in root.paths("LRx4/test")] == ["calendar.h5"]
    for split in (str(tmp_path / "other"), "../other", "LRx4/../../other"):
        with pytest.raises(ConfigError, match=r"not a path leading out of it; give that folder as the dataset root"):
            root.paths(split)


def test_a_split_of_no_recording_names_its_file(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "empty.txt").write_text("# to do\n\n")
    with pytest.raises(InputFileError, match=r"splits/empty.txt: split file lists no recordings; expected one "
                                             r"recording name per line"):
        DatasetRoot(tmp_path).paths("empty")
    for name in builtin_split("ced_test"):
        (tmp_path / f"{name}.h5").write_bytes(b"")
    (tmp_path / "a.h5").unlink()
    with pytest.raises(InputFileError, match=r"split 'ced_train' holds no recordings \(it is every recording of the "
                                             r"root outside ced_test\)"):
        DatasetRoot(tmp_path).paths("ced_train")


def test_root_listing_skips_fifos_without_opening_them(tmp_path):
    """Opening a FIFO to sniff it would wait for a writer forever: entries that are neither regular files
    nor folders are not recordings, and are never opened."""
    import threading

    (tmp_path / "a.h5").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.h5")
    os.mkfifo(tmp_path / "pipe.aedat4")
    result: list = []
    worker = threading.Thread(target=lambda: result.append(DatasetRoot(tmp_path).paths()), daemon=True)
    worker.start()
    worker.join(30)
    assert result and [p.name for p in result[0]] == ["a.h5"]


def test_a_split_listing_a_file_name_says_to_list_the_recording_name(tmp_path):
    """`a.h5` is the recording `a`: not "a file of no layout egvsr reads", but how to list it."""
    (tmp_path / "a.h5").write_bytes(b"")
    (tmp_path / "indoors").mkdir()
    (tmp_path / "indoors" / "1000.npy").write_bytes(b"")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.txt").write_text("indoors\na.h5\n")
    rec, split = re.escape(str(tmp_path / "a.h5")), re.escape(str(tmp_path / "splits" / "test.txt"))
    with pytest.raises(InputFileError, match=rf"^{rec}: listed in {split} "
                                             r"as 'a.h5'; list it as 'a' \(a split names recordings without their "
                                             r"suffix\)$"):
        DatasetRoot(tmp_path).paths("test")


def test_a_split_listing_an_empty_folder_says_it_holds_no_recording(tmp_path):
    """Not "not found in the root": the folder is there, it is just not a recording."""
    (tmp_path / "a.h5").write_bytes(b"")
    (tmp_path / "seqB").mkdir()
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "test.txt").write_text("a\nseqB\n")
    with pytest.raises(InputFileError) as err:
        DatasetRoot(tmp_path).paths("test")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'seqB'}: listed in {tmp_path / 'splits' / 'test.txt'}, but it is an empty "
                          "folder, not a recording (recordings are files or folders of a layout egvsr reads: HDF5")
    assert "\n" not in msg and "not found" not in msg


@pytest.mark.parametrize("kwargs, pattern", [
    ({"scales": "23"}, r"^scales '23': expected a list of numbers$"),
    ({"scales": ["2"]}, r"^scales \['2'\]: expected a list of numbers$"),
    ({"num_items": 4.5}, r"^num_items 4.5: expected an integer >= 0$"),
    ({"batch_size": 2.0}, r"^batch_size 2.0: expected an integer >= 1$"),
    ({"seed": 1.5}, r"^seed 1.5: expected an integer >= 0$"),
    ({"seed": -1}, r"^seed -1: expected an integer >= 0$"),
    ({"scale_range": "12"}, r"^scale_range '12': expected \(low, high\)$"),
    ({"shuffle": "no"}, r"^`shuffle` 'no': expected True or False$"),
    ({"drop_last": "no"}, r"^`drop_last` 'no': expected True or False$"),
    ({"drop_last": 0}, r"^`drop_last` 0: expected True or False$"),
])
def test_sampler_refuses_strings_non_integers_and_negative_seeds(kwargs, pattern):
    args = {"num_items": 4, "batch_size": 2, **kwargs}
    with pytest.raises(ConfigError, match=pattern):
        ScaleBatchSampler(args.pop("num_items"), args.pop("batch_size"), **args)


@pytest.mark.parametrize("epoch", [-1, "a", 1.0, True])
def test_set_epoch_takes_integers_from_zero(epoch):
    sampler = ScaleBatchSampler(4, 2)
    with pytest.raises(ConfigError, match=rf"^epoch {epoch!r}: expected an integer >= 0$".replace("(", r"\(")):
        sampler.set_epoch(epoch)
    sampler.set_epoch(np.int64(3))
    assert sampler.epoch == 3 and len(list(sampler)) == 2


def test_collate_names_rotation_when_sides_are_swapped():
    """A 90-degree turn of a non-square patch swaps its sides although patch_size is fixed: the message says so."""
    a = {"lr": torch.zeros(3, 3, 4, 6), "crop": torch.tensor([0, 0, 8, 12]), "scale": 2.0}
    b = {"lr": torch.zeros(3, 3, 6, 4), "crop": torch.tensor([5, 1, 8, 12]), "scale": 2.0}
    with pytest.raises(ConfigError, match=r"^batch: 'lr' has shapes \[\(3, 3, 4, 6\), \(3, 3, 6, 4\)\], the same sides "
                                          r"swapped: 90-degree rotations of a non-square patch or frame; use a square "
                                          r"patch_size, rotations=False or batch size 1$"):
        collate_samples([a, b])
    # crops of other sizes (recordings of transposed frame sizes): not rotation
    with pytest.raises(ConfigError, match=r"different shapes .*\(fixed patch_size, or batch size 1\)$"):
        collate_samples([a, dict(b, crop=torch.tensor([0, 0, 12, 8]))])


def test_collate_refuses_non_samples():
    with pytest.raises(ConfigError, match=r"^collate_samples: expected samples of EventVSRDataset \(dicts with a "
                                          r"'scale'\), got int$"):
        collate_samples([1, 2])


def test_dataset_root_that_is_a_file(tmp_path):
    f = tmp_path / "clip.h5"
    f.write_bytes(b"x")
    with pytest.raises(InputFileError,
                       match=rf"^{re.escape(str(f))}: dataset root is a file; expected a folder of recordings"):
        DatasetRoot(f)
