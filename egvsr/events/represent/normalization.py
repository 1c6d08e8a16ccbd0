"""Per-window normalisation of event tensors (in place, numba, parallel over windows).

- "none": raw values (counts or signed weights).
- "standard": E2VID's standardisation over the non-zero entries: v <- (v - mean) / std for v != 0,
  zeros stay zero (an empty pixel stays "no event"); std 0 is treated as 1, and so is the std of non-zero
  entries that all lie within ZERO_FRACTION * max(max|v|, unit) of each other (equal but for rounding).
- "percentile": EvTexture's scaling: divide by the 98th percentile of the non-zero |v| (numpy's
  default linear interpolation) and clip to [-1, 1].
An all-zero window is left unchanged by every mode.
Before "standard" and "percentile", entries with |v| < ZERO_FRACTION * max(max|v|, unit) of their window are set
to 0: they are float32 rounding left-overs of sums that cancel exactly (resampling taps, time weights), below the
window's own float32 resolution, and standardizing would turn them into large fake events. `unit` is what one
event contributes at most (1 for the built-in sums of event weights and counts; 0, the default, for tensors of
unknown scale): in a window whose events all cancel, the left-overs are all it holds, and its own largest
value is one of them.
"""

from __future__ import annotations

import numba
import numpy as np

from egvsr.events.represent.validation import NORMALIZATIONS, check_choice, check_unit

PERCENTILE = 98.0
#: Entries below this fraction of their window's largest |value| count as zero ("standard", "percentile"):
#: 4 float32 epsilons. Measured on real recordings: rounding left-overs reach 0.16 eps, real values are larger
#: (all but about 1 in 100,000, which lie below the window's float32 resolution anyway).
ZERO_FRACTION = 4.0 * float(np.finfo(np.float32).eps)


@numba.njit(cache=True, nogil=True)
def _drop_rounding(v, fraction, unit):
    """Set to 0 the entries of `v` with |v| < fraction * max(max|v|, unit) (float32 left-overs of cancelled
    sums); return max(max|v|, unit), the scale of the window's rounding."""
    top = unit
    for i in range(v.shape[0]):
        top = max(top, abs(np.float64(v[i])))
    floor = fraction * top
    for i in range(v.shape[0]):
        if abs(np.float64(v[i])) < floor:
            v[i] = 0
    return top


@numba.njit(cache=True, nogil=True)
def _standardize_one(v, unit):
    top = _drop_rounding(v, ZERO_FRACTION, unit)
    n = 0
    s = 0.0
    lo = np.inf
    hi = -np.inf
    for i in range(v.shape[0]):
        if v[i] != 0:
            n += 1
            s += v[i]
            lo = min(lo, np.float64(v[i]))
            hi = max(hi, np.float64(v[i]))
    if n == 0:
        return
    mean = s / n
    ss = 0.0
    for i in range(v.shape[0]):
        if v[i] != 0:
            d = v[i] - mean
            ss += d * d
    std = np.sqrt(ss / n)
    # values that differ by rounding only (hi - lo within the window's float32 resolution) are equal: their
    # std is 0, not the rounding's spread, which dividing by it would blow up to +-1 (fake contrast)
    if not std > 0 or hi - lo <= ZERO_FRACTION * top:
        std = 1.0
    inv = 1.0 / std
    for i in range(v.shape[0]):
        if v[i] != 0:
            v[i] = (v[i] - mean) * inv  # rounded to the array's own dtype (float64 stays float64)


@numba.njit(cache=True, nogil=True)
def _select(a, k):
    """Move the k-th smallest of `a` to a[k] (iterative quickselect, middle pivot); return it."""
    lo = 0
    hi = a.shape[0] - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


@numba.njit(cache=True, nogil=True)
def _percentile_one(v, q, unit):
    _drop_rounding(v, ZERO_FRACTION, unit)
    n = 0
    for i in range(v.shape[0]):
        if v[i] != 0:
            n += 1
    if n == 0:
        return
    a = np.empty(n, np.float64)
    j = 0
    for i in range(v.shape[0]):
        if v[i] != 0:
            a[j] = abs(v[i])
            j += 1
    h = (n - 1) * (q / 100.0)
    lo = int(np.floor(h))
    val = _select(a, lo)
    if lo + 1 < n:  # the next order statistic is the smallest value above position lo
        nxt = a[lo + 1]
        for i in range(lo + 2, n):
            nxt = min(nxt, a[i])
        val = val + (h - lo) * (nxt - val)
    inv = 1.0 / val
    for i in range(v.shape[0]):
        r = v[i] * inv
        v[i] = min(1.0, max(-1.0, r))


@numba.njit(cache=True, nogil=True)
def _first_not_finite(flat):
    """(window, entry) of the first NaN or infinity in `flat` (K, n), or (-1, -1)."""
    for k in range(flat.shape[0]):
        for i in range(flat.shape[1]):
            if not np.isfinite(flat[k, i]):
                return k, i
    return -1, -1


@numba.njit(cache=True, nogil=True, parallel=True)
def _normalize_parallel(flat, mode, q, unit):
    for k in numba.prange(flat.shape[0]):
        if mode == 1:
            _standardize_one(flat[k], unit)
        else:
            _percentile_one(flat[k], q, unit)


@numba.njit(cache=True, nogil=True)
def _normalize_serial(flat, mode, q, unit):
    for k in range(flat.shape[0]):
        if mode == 1:
            _standardize_one(flat[k], unit)
        else:
            _percentile_one(flat[k], q, unit)


def normalize_windows(tensors: np.ndarray, mode: str, parallel: bool = True, unit: float = 0.0) -> np.ndarray:
    """Normalise each window of `tensors` (K, ...) float32 or float64 in place and return it.

    `unit`: what one event contributes at most (a representation's `unit`), the least scale of the rounding
    left-overs dropped first (module doc); 0 for tensors of unknown scale (only each window's largest value).

    Any memory layout: a view that is not C-contiguous (a slice, a transposed or Fortran-order array)
    is normalised through a contiguous copy written back into it. Other dtypes are refused (an integer
    array cannot hold the normalised values), and so is a NaN or infinity (no mean, std or percentile
    exists; the array is then left unchanged)."""
    mode = check_choice(mode, "normalize", NORMALIZATIONS)
    unit = check_unit(unit, "unit")
    if not isinstance(tensors, np.ndarray) or tensors.dtype not in (np.float32, np.float64) or tensors.ndim < 1:
        got = f"dtype {tensors.dtype}, shape {tensors.shape}" if isinstance(tensors, np.ndarray) \
            else type(tensors).__name__
        raise TypeError(f"tensors: expected a float32 (or float64) array of K windows (K, ...), got {got}")
    if mode == "none" or tensors.size == 0:
        return tensors
    if not tensors.flags.writeable:
        raise ValueError("tensors: the array is read-only; normalize_windows works in place (`normalize` "
                         "returns a normalised copy)")
    copied = not tensors.flags.c_contiguous  # then normalised in a contiguous copy, written back below
    flat = (np.ascontiguousarray(tensors) if copied else tensors).reshape(tensors.shape[0], -1)
    k, i = _first_not_finite(flat)
    if k >= 0:
        raise ValueError(f"tensors: expected finite values, found {float(flat[k, i])!r} in window {k} "
                         f"(entry {i} of {flat.shape[1]})")
    code = 1 if mode == "standard" else 2
    if parallel and flat.shape[0] > 1:
        _normalize_parallel(flat, code, PERCENTILE, unit)
    else:
        _normalize_serial(flat, code, PERCENTILE, unit)
    if copied:
        tensors[...] = flat.reshape(tensors.shape)
    return tensors


def normalize(tensor: np.ndarray, mode: str, unit: float = 0.0) -> np.ndarray:
    """Return a normalised float32 copy of one window's tensor (any shape) of real numbers (bool,
    integer or float; NaN or infinity is refused where a mode normalises; complex numbers, strings and
    objects always). `unit` as for `normalize_windows` (a representation's `unit`)."""
    mode = check_choice(mode, "normalize", NORMALIZATIONS)
    unit = check_unit(unit, "unit")
    try:
        a = np.asarray(tensor)
    except ValueError:  # a ragged list
        a = np.asarray(None)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"tensor: expected an array of real numbers, got {type(tensor).__name__} "
                        f"of dtype {a.dtype}")
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf: refused below
        out = np.array(a, dtype=np.float32, copy=True)
    bad = np.flatnonzero(~np.isfinite(out)) if mode != "none" else ()
    if len(bad):
        raise ValueError(f"tensor: expected finite values within float32's range, found "
                         f"{a.ravel()[bad[0]].item()!r} at flat index {int(bad[0])}")
    normalize_windows(out.reshape(1, -1), mode, parallel=False, unit=unit)
    return out
