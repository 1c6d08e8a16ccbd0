"""Shared fixtures: the optional real recordings in ../shared/data and small generated streams."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config) -> None:
    """A suite started from a background job (`cmd &` in a script) inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler; the tests that press Ctrl-C expect what a terminal gives, so the
    handler Python installs by default is put back (in every xdist worker too)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the project, or skip (a user's fresh clone has no ../shared)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (only present on project machines)")
    return SHARED_DATA


def random_stream_arrays(n: int, width: int = 346, height: int = 260, t_span: int = 1_000_000, seed: int = 0):
    """x, y, t (sorted int64 µs), p (±1 int8) for `n` uniform random events."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, width, n).astype(np.uint16)
    y = rng.integers(0, height, n).astype(np.uint16)
    t = np.sort(rng.integers(0, t_span, n)).astype(np.int64)
    p = (rng.integers(0, 2, n) * 2 - 1).astype(np.int8)
    return x, y, t, p


@pytest.fixture
def random_stream():
    """A factory: random_stream(n, width=346, height=260, t_span=1e6, seed=0) -> EventStream."""
    from egvsr.events import EventStream

    def make(n: int, width: int = 346, height: int = 260, t_span: int = 1_000_000, seed: int = 0):
        x, y, t, p = random_stream_arrays(n, width, height, t_span, seed)
        return EventStream(x, y, t, p, width, height)

    return make


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests use tiny tensors: one intra-op thread is faster and steadier than several on a 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
