"""Datasets under the start methods of macOS and Windows (spawn) and forkserver: the dataset is pickled to
each worker, which re-imports egvsr and opens its own files; its samples are byte for byte those of
num_workers=0 (same seeds), over two epochs of persistent workers, whichever file the parent had opened."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from egvsr.datasets import EventVSRDataset, ScaleBatchSampler, collate_samples
from tests.datasets.test_files import (
    random_events, textured_frames, write_ced, write_e2vid, write_egvsr, write_evtexture,
)

H, W = 24, 32
FT = np.arange(5, dtype=np.int64) * 40_000


def _epochs(ds, workers: int, method: str | None = None) -> list[dict]:
    sampler = ScaleBatchSampler(len(ds), 2, ds.scale_range, seed=5)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_samples, num_workers=workers,
                        multiprocessing_context=method, persistent_workers=workers > 0)
    out = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        out += list(loader)
    return out


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x["scale"] == y["scale"] and x["clip"] == y["clip"] and x["reversed"] == y["reversed"]
        for key in ("lr", "events", "hr", "times", "crop"):
            assert x[key].dtype == y[key].dtype and torch.equal(x[key], y[key]), key


@pytest.fixture
def mixed(tmp_path):
    """One dataset over our HDF5, an E2VID h5 and a CED folder."""
    frames = textured_frames(len(FT), H, W, seed=1)
    ev = random_events(2000, H, W, 0, int(FT[-1]) + 10_000, seed=2)
    return [write_egvsr(tmp_path / "ours.h5", frames, FT, ev, W, H), write_e2vid(tmp_path / "e2vid.h5", frames, FT,
                                                                               ev, W, H),
            write_ced(tmp_path / "ced", frames, FT, ev)]


@pytest.mark.slow  # a spawned worker imports torch and egvsr afresh: seconds on a busy machine
def test_spawned_workers_give_the_samples_of_the_main_process(mixed):
    ds = EventVSRDataset(mixed, patch_size=6, scale_range=(1.0, 3.0))
    here = _epochs(ds, 0)  # the parent's own handles are open now: never handed to a worker
    _same(here, _epochs(ds, 1, "spawn"))
    assert len({b["scale"] for b in here}) > 1  # the epochs and batches differ, reproducibly


@pytest.mark.slow
def test_forkserver_workers_give_the_samples_of_the_main_process_for_paired_files(tmp_path):
    _, lr = write_evtexture(tmp_path, "clip", textured_frames(5, 32, 32, seed=3), 2)
    ds = EventVSRDataset([lr], patch_size=4, scale_range=(2, 2))
    _same(_epochs(ds, 0), _epochs(ds, 1, "forkserver"))


def test_a_recording_changed_after_opening_is_refused_where_it_is_read_again(tmp_path, mixed):
    """Each process opens the recording anew at its first read (a worker maybe hours after the dataset was
    built): a folder whose packets or frames went, or a file written again with other frames, was read as
    it now is (events silently none, other frames under the old times)."""
    from egvsr.errors import InputFileError

    ours, _, ced = mixed
    ds = EventVSRDataset([ours, ced], patch_size=6, scale_range=(1.0, 2.0))
    for packet in ced.glob("*.npy"):
        packet.unlink()
    last = len(ds) - 1  # a window of the CED folder
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(ced))}: changed since it was opened \(its first or "
                                             r"last event differ\); a recording must stay as it is"):
        ds[(last, 1.0, 0)]
    write_egvsr(ours, textured_frames(3, H, W), FT[:3], random_events(50, H, W, 0, 90_000), W, H)
    with pytest.raises(InputFileError, match=rf"^{re.escape(str(ours))}: changed since it was opened \(its frame "
                                             r"times, first or last event differ\)"):
        ds[(0, 1.0, 0)]
