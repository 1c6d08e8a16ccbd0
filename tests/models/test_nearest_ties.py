"""The frame nearest a query time, ties to the earlier frame (docs/models.md, Bicubic; `residual_base:
nearest`), decided as the microsecond clock says, not by the float32 rounding of the normalized times: a
midpoint between frames whose intervals differ (a real clock's jitter) went to the later frame about one time
in four, so a `--fps-factor 2` render's bicubic panel, and a nearest-base model's base, jumped sides."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from egvsr.datasets.items import window_frame_times, window_times
from egvsr.models import build_model
from egvsr.models.sampling import nearest_frame


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 160_000), min_size=2, max_size=6), st.integers(0, 2**40), st.data())
def test_a_midpoint_in_microseconds_goes_to_the_earlier_frame(halves, t0, data):
    """Frames with even gaps (each interval 2·h µs, windows up to 2 s): the midpoint of each interval goes to its
    earlier frame, a time 1 µs after it to the later one, 1 µs before it to the earlier one."""
    ft = t0 + np.concatenate([[0], np.cumsum(2 * np.asarray(halves, np.int64))])
    k = data.draw(st.integers(0, len(ft) - 2))
    mid = int(ft[k] + halves[k])
    q = np.array([mid, mid + 1, mid - 1], np.int64)
    ftn = torch.from_numpy(window_frame_times(ft, "test"))[None]
    qn = torch.from_numpy(window_times(q, int(ft[0]), int(ft[-1])))[None]
    got = nearest_frame(ftn, qn)[0].tolist()
    assert got == [k, k + 1, k], (ft.tolist(), q.tolist(), got)


def test_bicubic_and_the_nearest_base_take_the_earlier_frame_at_midpoints():
    """Frames of one value each at 0, 40002, 80000 µs (gaps 40002 and 39998): at the midpoints 20001 and 60000 µs
    the nearest frame is a tie, and both models give the earlier frame (float32 had put 20001 nearer frame 1)."""
    ft = np.array([0, 40002, 80000], np.int64)
    q = np.array([20001, 60000], np.int64)
    lr = torch.stack([torch.full((3, 4, 5), v) for v in (0.2, 0.5, 0.8)])[None]
    args = (lr, torch.from_numpy(window_times(q, 0, 80000))[None], (8, 10))
    kw = {"frame_times": torch.from_numpy(window_frame_times(ft, "test"))[None]}
    out = build_model("bicubic").render(*args, **kw)
    torch.testing.assert_close(out[0, :, 0, 0, 0], torch.tensor([0.2, 0.5]))
    egvsr = build_model("egvsr-tiny", residual_base="nearest").eval()  # untrained: exactly its base
    out = egvsr.render(*args, events=torch.zeros(1, 8, 2, 4, 5), **kw)
    torch.testing.assert_close(out[0, :, :, 2, 3], torch.tensor([[0.2] * 3, [0.5] * 3]))
