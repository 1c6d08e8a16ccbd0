"""The GPU path checked without a GPU: every tensor a model makes takes its inputs' device, and `render`
asks the device nothing per chunk (issue 20).

Torch's default device is set to "meta" while CPU inputs are given: a tensor made without `device=`
lands on "meta" and meets a CPU one, which fails just as a CPU tensor meeting a CUDA one does.
"""

from __future__ import annotations

import sys

import pytest
import torch

from egvsr.models import build_model
from egvsr.models.egvsr_stf import resample_time_bins
from egvsr.models.rows import sample_rows
from egvsr.models.sampling import AxisGrid, Region


@pytest.fixture
def meta_default():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


def _inputs(model, side=8, gray=False):
    gen = torch.Generator().manual_seed(0)
    k = model.num_frames or max(model.min_frames, model.default_frames or 3)
    lr = torch.rand(1, k, 1 if gray else 3, side, side, generator=gen).expand(1, k, 3, side, side).contiguous()
    ev = torch.rand(1, *model.event_shape, side, side, generator=gen) if model.uses_events else None
    return lr, torch.tensor([[-0.2, 0.3]]), ev


@pytest.mark.parametrize("name", ["egvsr-tiny", "egvsr-official", "videoinr-tiny"])
def test_render_makes_its_tensors_on_the_inputs_device(name, meta_default) -> None:
    torch.set_default_device(None)
    torch.manual_seed(0)
    model = build_model(name).eval()
    lr, times, ev = _inputs(model)
    want = model.render(lr, times, (16, 16), events=ev, chunk_size=40)
    torch.set_default_device("meta")
    got = model.render(lr, times, (16, 16), events=ev, chunk_size=40)
    assert got.device.type == "cpu"
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_sample_rows_taps_stay_on_the_cpu_whatever_the_default_device(mode, meta_default) -> None:
    img = torch.rand(1, 2, 5, 6, device="cpu")
    region = Region(AxisGrid(2, 1, 3, 9, 5), AxisGrid(0, 0, 6, 12, 6))
    for reg in (None, region):
        got = sample_rows(img, (1, 4), (9, 12), mode, reg)
        assert got.device.type == "cpu" and got.shape == (1, 2, 3, 12)


def test_resample_time_bins_on_the_weights_device() -> None:
    """A state dict of a model on a GPU (here on "meta") is resampled where it lies."""
    state = build_model("egvsr-tiny").state_dict()
    bins = build_model("egvsr-tiny").options.time_bins
    meta = {k: v.to("meta") for k, v in state.items()}
    out = resample_time_bins(meta, bins, 2 * bins - 1)
    assert all(v.device.type == "meta" for v in out.values())
    ref = resample_time_bins(state, bins, 2 * bins - 1)
    assert all(out[k].shape == ref[k].shape for k in ref)


SYNCS = ("__bool__", "item", "tolist", "cpu", "numpy", "__int__", "__float__", "__index__")


def _count_syncs(monkeypatch, call) -> int:
    """Calls that read a tensor's value into Python, made outside `rows.py` (whose taps are CPU tensors
    made from Python ints, never on the model's device)."""
    count = [0]
    for attr in SYNCS:
        orig = getattr(torch.Tensor, attr)

        def counted(self, *a, _orig=orig, **kw):
            if not sys._getframe(1).f_code.co_filename.endswith("rows.py"):
                count[0] += 1
            return _orig(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, attr, counted)
    try:
        call()
    finally:
        monkeypatch.undo()
    return count[0]


@pytest.mark.parametrize("name", ["egvsr-tiny", "egvsr-official", "videoinr-tiny"])
@pytest.mark.parametrize("gray", [False, True])
def test_render_does_not_sync_per_chunk(name, gray, monkeypatch) -> None:
    """As many device reads with 1 chunk as with 32 (gray inputs included: gray out asked once a call)."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    lr, times, ev = _inputs(model, gray=gray)
    counts = [_count_syncs(monkeypatch, lambda c=c: model.render(lr, times, (16, 16), events=ev, chunk_size=c))
              for c in (256, 16, 8)]
    assert counts[0] == counts[1] == counts[2], counts


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
def test_tile_render_does_not_sync_per_chunk(name, monkeypatch) -> None:
    """A tile of a gray frame (`region`, `gray=True`, as `render_region` calls it): no read per chunk either."""
    from egvsr.render.tiles import plan_tiles

    torch.manual_seed(0)
    model = build_model(name).eval()
    lr, times, ev = _inputs(model, side=12, gray=True)
    t = plan_tiles((12, 12), (0, 0, 12, 12), (30, 30), 8, 2)[1]
    crop = lr[..., t.y.lo:t.y.hi, t.x.lo:t.x.hi].contiguous()
    evc = None if ev is None else ev[..., t.y.lo:t.y.hi, t.x.lo:t.x.hi].contiguous()
    counts = [_count_syncs(monkeypatch, lambda c=c: model.render(crop, times, t.out_size, events=evc, chunk_size=c,
                                                                 region=t.region(), gray=True))
              for c in (1000, 16, 5)]
    assert counts[0] == counts[1] == counts[2], counts
