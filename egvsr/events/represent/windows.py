"""One driver behind every representation: checked windows in, (K, ...) float32 tensors out.

`represent_windows` looks the representation up in the registry, validates the options, sets numba's
thread count for the call, runs the declaration's `build` and normalises each window. The built-ins'
builds are here: `binned_tensors` (voxel grids, stacked frames, moments) and `surface_tensors` run
the batched kernels over the stream's arrays (never copied, never mutated) and report events
outside the sensor.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numba
import numpy as np

from egvsr.errors import ConfigError, EventValidationError
from egvsr.events.represent import validation
from egvsr.events.represent.batched import build_tensors
from egvsr.events.represent.normalization import normalize_windows
from egvsr.events.represent.registry import get_representation
from egvsr.events.represent.splat import splat_tables
from egvsr.events.represent.surface_kernels import build_surfaces
from egvsr.events.stream import EventStream
from egvsr.process import physical_memory


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
    stream: EventStream, representation: str, bins: int, starts: np.ndarray, ends: np.ndarray,
    size: tuple[int, int] | None, polarity: str = "signed", normalize: str = "none",
    threads: int | None = None, **params: object,
) -> np.ndarray:
    """Tensors of K windows [starts[k], ends[k]) (already checked) of a registered representation.

    The declaration's `build` makes the tensors (with `params`, e.g. tau_us); this sets the numba
    thread count around it and normalizes each window."""
    decl = get_representation(representation)
    polarity = validation.check_choice(polarity, "polarity", validation.POLARITIES)
    normalize = validation.check_choice(normalize, "normalize", validation.NORMALIZATIONS)
    nthreads = validation.check_threads(threads, "`threads`")
    oh, ow = size if size is not None else (stream.height, stream.width)
    want = (starts.shape[0], *decl.window_shape(bins, polarity, oh, ow))
    check_memory(representation, want, bins)
    check_spans(starts, ends, bins)
    with numba_threads(nthreads):
        out = decl.build(stream, starts, ends, bins, size, polarity, nthreads, **params)
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != want:
            got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
            raise ConfigError(f"representation {representation!r}: build returned {got}, expected float32 {want}")
        normalize_windows(out, normalize, parallel=nthreads > 1, unit=decl.unit)
    return out


def check_memory(representation: str, shape: tuple[int, ...], bins: int, scratch: int = 0) -> None:
    """Refuse, before anything is allocated, tensors of `shape` (with their windows' segment edges and
    `scratch` bytes of working memory) larger than half of the machine's memory, naming the figures.

    The driver checks the tensors first; a build then checks again with the scratch it will really
    allocate (the binned kernels' sensor-size planes exist only for dense or split windows)."""
    windows, cells = shape[0], int(np.prod(shape[1:], dtype=np.float64))
    need = 4.0 * windows * cells + scratch + 8.0 * windows * (bins + 1)
    total = physical_memory()
    if total and need > total / 2:
        of_it = f" ({scratch / 1e9:.3g} GB of it working memory)" if scratch else ""
        raise ConfigError(
            f"representation {representation!r}: {windows} window(s) of {bins} bins at {shape[-2]}x{shape[-1]} "
            f"need about {need / 1e9:.3g} GB{of_it}, more than half of this machine's {total / 1e9:.3g} GB; "
            "use fewer bins, a smaller size or fewer windows at once"
        )


def binned_tensors(stream: EventStream, starts: np.ndarray, ends: np.ndarray, bins: int,
                   size: tuple[int, int] | None, polarity: str, threads: int, linear: bool,
                   representation: str = "binned") -> np.ndarray:
    """Voxel grids (`linear`, bilinear in time) or hard-binned frames of K windows: (K, bins, [2,] H, W).
    `representation`: its name, as memory errors give it."""
    oh, ow = size if size is not None else (stream.height, stream.width)
    taps = None if size is None else splat_tables(stream.height, stream.width, oh, ow)
    channels = 1 if polarity == "signed" else 2
    nwin = starts.shape[0]
    shape = (nwin, bins, oh, ow) if channels == 1 else (nwin, bins, 2, oh, ow)
    linear = linear and bins > 1  # one voxel bin is a plain (hard) count
    nseg = bins - 1 if linear else bins
    flat, mx, my = build_tensors(stream.x, stream.y, stream.t, stream.p, stream.width, stream.height,
                                 starts, ends, nseg, linear, channels, size, taps, threads,
                                 budget=lambda scratch: check_memory(representation, shape, bins, scratch))
    if nwin:
        _check_coords(stream, mx, my)
    return flat.reshape(shape)


def surface_tensors(stream: EventStream, starts: np.ndarray, ends: np.ndarray, bins: int,
                    size: tuple[int, int] | None, polarity: str, threads: int,
                    tau_us: float | np.ndarray | None = None) -> np.ndarray:
    """Time surfaces of K windows: (K, bins, 2, H, W) (polarity is always "split"); tau_us defaults
    to span / bins."""
    tau = _tau(tau_us, starts, ends, bins)
    oh, ow = size if size is not None else (stream.height, stream.width)
    nwin = starts.shape[0]
    running = min(max(1, threads), nwin)  # windows built at once, each with its latest-event times
    check_memory("timesurface", (nwin, bins, 2, oh, ow), bins, 16 * oh * ow * running)
    out, mx, my = build_surfaces(stream.x, stream.y, stream.t, stream.p, stream.width, stream.height,
                                 starts, ends, bins, tau, size, threads)
    if nwin:
        _check_coords(stream, mx, my)
    return out


def _tau(tau_us, starts, ends, bins) -> np.ndarray:
    """Decay constant per window: given (µs, > 0) or the sub-window length span / bins."""
    if tau_us is None:
        return (ends - starts) / float(bins)
    try:
        given = np.asarray(tau_us)
    except (TypeError, ValueError):  # a ragged list
        given = np.asarray(None)
    what = f"{given.dtype} values of shape {given.shape}" if given.ndim else repr(tau_us)
    if given.dtype.kind not in "iuf" or (given.ndim and given.shape != starts.shape):
        raise ConfigError(f"tau_us: expected a positive decay time in microseconds, one for all windows or one "
                          f"per window ({starts.shape[0]}), got {what}")
    tau = np.broadcast_to(given.astype(np.float64), starts.shape)
    bad = np.flatnonzero(~(np.isfinite(tau) & (tau > 0)))
    if bad.size:
        at = f" ({float(tau[bad[0]])!r} for window {int(bad[0])})" if given.ndim else ""
        raise ConfigError(f"tau_us: expected a positive decay time in microseconds, got {what}{at}")
    return np.ascontiguousarray(tau)
