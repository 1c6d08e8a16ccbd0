"""One driver behind every public function: checked arguments in, (K, ...) float32 tensors out.

It validates the options, sets numba's thread count for the call, runs the batched kernels over the
stream's arrays (never copied, never mutated), reports events outside the sensor, reshapes to
(K, planes, [2,] H, W) and normalises each window.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numba
import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.represent import args
from egvsr.events.represent.batched import build_tensors
from egvsr.events.represent.normalization import normalize_windows
from egvsr.events.represent.splat import splat_tables
from egvsr.events.represent.surface import build_surfaces
from egvsr.events.stream import EventStream

KINDS = ("voxel", "frames", "timesurface")


@contextlib.contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run a block with `n` numba threads, restoring the previous setting afterwards.

    With n == 1 every kernel takes its serial path, so numba's threading layer is left untouched
    (never started): safe in forked DataLoader workers."""
    if n == 1:
        yield
        return
    old = numba.get_num_threads()
    if n != old:
        numba.set_num_threads(n)
    try:
        yield
    finally:
        if n != old:
            numba.set_num_threads(old)


def _check_coords(stream: EventStream, mx: int, my: int) -> None:
    if mx >= stream.width or my >= stream.height:
        bad = "x" if mx >= stream.width else "y"
        v, lim = (mx, stream.width) if bad == "x" else (my, stream.height)
        raise EventValidationError(
            f"events.{bad}: coordinate {v} is outside the {stream.width}x{stream.height} sensor "
            f"(expected 0 <= {bad} < {lim}); the stream was built without validation"
        )


def check_spans(starts: np.ndarray, ends: np.ndarray, bins: int) -> None:
    """Refuse windows too long for the kernels' exact int64 arithmetic (bins x span must fit).

    A span of 2**63 us or more wraps around in int64 (it would come out negative), and the segment
    edges multiply the span by up to `bins`; the limit is (2**63 - 1) // (bins + 1) us (~48,000
    years for 5 bins), so no real recording is refused.
    """
    if not starts.shape[0]:
        return
    limit = (2**63 - 1) // (int(bins) + 1)
    with np.errstate(over="ignore"):
        spans = ends - starts  # wraps to <= 0 when the true span is >= 2**63
    bad = np.flatnonzero((spans <= 0) | (spans > limit))
    if bad.size:
        k = int(bad[0])
        span = int(ends[k]) - int(starts[k])
        raise ConfigError(
            f"window {k} is [{int(starts[k])}, {int(ends[k])}) us, a span of {span} us; expected at most "
            f"{limit} us with {bins} bins (int64 microseconds)"
        )


def represent_windows(
    stream: EventStream, kind: str, bins: int, starts: np.ndarray, ends: np.ndarray,
    size: tuple[int, int] | None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None, tau_us: float | np.ndarray | None = None,
) -> np.ndarray:
    """Tensors of K windows [starts[k], ends[k]) (already checked); see the public wrappers."""
    args.check_choice(kind, "representation", KINDS)
    check_spans(starts, ends, bins)
    polarity = args.check_choice(polarity, "polarity", args.POLARITIES)
    normalize = args.check_choice(normalize, "normalize", args.NORMALIZATIONS)
    nthreads = args.check_threads(threads)
    oh, ow = size if size is not None else (stream.height, stream.width)
    nwin = starts.shape[0]
    with numba_threads(nthreads):
        if kind == "timesurface":
            tau = _tau(tau_us, starts, ends, bins)
            out, mx, my = build_surfaces(stream.x, stream.y, stream.t, stream.p, stream.width,
                                         stream.height, starts, ends, bins, tau, size, nthreads)
        else:
            taps = None if size is None else splat_tables(stream.height, stream.width, oh, ow)
            linear = kind == "voxel" and bins > 1  # one voxel bin is a plain (hard) count
            nseg = bins - 1 if linear else bins
            channels = 1 if polarity == "signed" else 2
            flat, mx, my = build_tensors(stream.x, stream.y, stream.t, stream.p, stream.width,
                                         stream.height, starts, ends, nseg, linear, channels,
                                         size, taps, nthreads)
            shape = (nwin, bins, oh, ow) if channels == 1 else (nwin, bins, 2, oh, ow)
            out = flat.reshape(shape)
        if nwin:
            _check_coords(stream, mx, my)
        normalize_windows(out, normalize, parallel=nthreads > 1)
    return out


def _tau(tau_us, starts, ends, bins) -> np.ndarray:
    """Decay constant per window: given (µs, > 0) or the sub-window length span / bins."""
    if tau_us is None:
        return (ends - starts) / float(bins)
    tau = np.broadcast_to(np.asarray(tau_us, np.float64), starts.shape)
    if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
        raise ConfigError(f"tau_us: expected a positive decay time in microseconds, got {tau_us!r}")
    return np.ascontiguousarray(tau)
