"""Decoding never waits for the device per chunk (docs/render.md): the ops that copy a value back to
the host (`item`, `tolist`, `bool`, `nonzero`, a boolean mask, `.cpu()`...) run a fixed number of times
per `render` call, however many chunks the output is cut into. Checked on the CPU by intercepting
every tensor op, so the GPU path's property is tested where no GPU is."""

from __future__ import annotations

import traceback
from collections import Counter

import pytest
import torch
from torch.overrides import TorchFunctionMode

from egvsr.models import build_model
from egvsr.render.tiles import plan_tiles, render_region
from tests._model_helpers import give_residual_head_weights

# Ops whose result (or the size of whose result) is known only when the device has caught up.
SYNCING = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "cpu", "numpy", "nonzero",
           "masked_select", "unique", "unique_consecutive", "repeat_interleave", "equal", "allclose",
           "argwhere", "__array__"}
# Functions that work on index tensors made on the CPU on purpose (`rows.source_positions`), so their
# reads are host arithmetic on any device.
HOST_SIDE = {"_blend"}


class SyncCounter(TorchFunctionMode):
    """Counts the host-syncing tensor ops run inside it, by (op, function that ran it)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[tuple[str, str]] = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if (name in SYNCING or name == "to" and any(isinstance(a, str) and a == "cpu" for a in args[1:])
                or name in ("__getitem__", "__setitem__") and _has_bool_index(args[1])):
            caller = next(f.name for f in reversed(traceback.extract_stack()[:-1]) if "/egvsr/" in f.filename)
            if caller not in HOST_SIDE:
                self.calls[(name, caller)] += 1
        return func(*args, **kwargs)


def _has_bool_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


def _syncs(fn) -> Counter[tuple[str, str]]:
    with SyncCounter() as counter:
        fn()
    return counter.calls


def _inputs(k: int, h: int = 6, w: int = 8, moments: int = 8):
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(1, k, 3, h, w, generator=g)
    events = torch.rand(1, moments, 2, h, w, generator=g)
    return lr, torch.tensor([[-0.3, 0.45]]), events


MODELS = [
    ("egvsr-tiny", {}),  # the row path
    ("egvsr-tiny", {"tf_mode": "naive", "local_ensemble": True}),  # the per-pixel path
    ("videoinr-tiny", {}),
    ("bicubic", {}),
]


@pytest.mark.parametrize("name, options", MODELS)
@pytest.mark.parametrize("gray", [False, True])
def test_render_syncs_do_not_grow_with_chunks(name, options, gray) -> None:
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model(name, **options)).eval()
    lr, times, events = _inputs(getattr(model, "default_frames", None) or 3)
    if gray:
        lr = lr[:, :, :1].expand_as(lr).contiguous()
    size = (27, 35)
    ev = events if getattr(model, "uses_events", False) else None
    one = _syncs(lambda: model.render(lr, times, size, events=ev, chunk_size=27 * 35))
    many = _syncs(lambda: model.render(lr, times, size, events=ev, chunk_size=35))  # 27 chunks per time
    assert one, "the counter sees the per-call checks"
    if name.startswith("videoinr"):
        # Documented: its distinct warped pixels are data-dependent in number (one boolean mask per chunk).
        key = ("__getitem__", "unique_inverse")
        assert (one[key], many[key]) == (2, 2 * 27)
        del one[key], many[key]
    assert many == one, f"{name} {options}: {dict(one)} with one chunk, {dict(many)} with 27"


def test_tiled_render_syncs_per_tile_not_per_chunk() -> None:
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model("egvsr-tiny")).eval()
    lr, times, events = _inputs(3, h=16, w=20)
    out = (52, 65)
    tiles = plan_tiles(lr.shape[-2:], (0, 0, 16, 20), out, tile=8, margin=2)
    assert len(tiles) == 6
    frame_times = torch.linspace(-1, 1, 3).unsqueeze(0)
    run = lambda chunk: _syncs(lambda: render_region(model, lr, times, events, frame_times, tiles, out, chunk))
    assert run(65) == run(52 * 65)
