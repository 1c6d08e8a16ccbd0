"""The one functional entry point of every representation, and the base of its option objects.

`represent` (one window) and `represent_batch` (K windows) check the stream, counts, windows and size,
then run `windows.represent_windows` for a registered representation. Every public function
(`voxel_grid`, `event_moments_batch`, ...), every option object (`VoxelGrid(bins=5)(stream, t0, t1)`),
the dataset, `voxelize` and the render path go through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from egvsr.events.represent import validation
from egvsr.events.represent.registry import get_representation

if TYPE_CHECKING:  # loads numba; listing representations should not
    from egvsr.events.stream import EventStream


def kernel_build(name: str, **fixed: Any) -> Callable[..., np.ndarray]:
    """The `build` of a built-in: `windows.<name>` with `fixed` options, imported on first call, so
    that listing representations loads no numba kernel."""
    def build(*args: Any, **kwargs: Any) -> np.ndarray:
        from egvsr.events.represent import windows

        return getattr(windows, name)(*args, **fixed, **kwargs)

    return build


def _run(stream, representation, bins, starts, ends, size, polarity, normalize, threads, params):
    from egvsr.events.represent.windows import represent_windows  # numba kernels, loaded on first use

    decl = get_representation(representation)
    # an option it does not declare is refused naming it (not a TypeError from inside its build);
    # one left at None is simply not given
    decl.check_options(None, {key: f"`{key}`" for key in params}, **params)
    params = {key: value for key, value in params.items() if key in decl.params}
    accepted = decl.polarities
    if polarity is not None and not isinstance(polarity, str):  # not compared by element (an array)
        validation.check_choice(polarity, "polarity", validation.POLARITIES)
    if polarity is None or (polarity in validation.POLARITIES and polarity not in accepted):
        polarity = accepted[0]  # e.g. moments and time surfaces are always ON/OFF ("split")
    return represent_windows(stream, representation, bins, starts, ends, size, polarity, normalize,
                             threads, **params)


def represent(
    stream: EventStream, representation: str, bins: int, t_start: int, t_end: int,
    height: int | None = None, width: int | None = None, *, polarity: str | None = None,
    normalize: str = "none", threads: int | None = None, bins_name: str = "bins", **params: Any,
) -> np.ndarray:
    """Tensor of the window [t_start, t_end) µs: (bins, [P,] H, W) float32.

    polarity: None = the representation's default (also used when it does not accept the one given,
    as moments do not accept "signed"); params: its extra options (e.g. tau_us);
    bins_name: the name errors give the bin count (e.g. "moments")."""
    stream = validation.check_stream(stream)
    bins = validation.check_count(bins, bins_name)
    t0, t1 = validation.check_window(t_start, t_end)
    size = validation.check_size(stream, height, width)
    starts, ends = np.array([t0], np.int64), np.array([t1], np.int64)
    return _run(stream, representation, bins, starts, ends, size, polarity, normalize, threads, params)[0]


def represent_batch(
    stream: EventStream, representation: str, bins: int, boundaries: np.ndarray,
    height: int | None = None, width: int | None = None, *, polarity: str | None = None,
    normalize: str = "none", threads: int | None = None, bins_name: str = "bins", **params: Any,
) -> np.ndarray:
    """Tensors of K windows: (K, bins, [P,] H, W) float32. boundaries: (K + 1,) edges or (K, 2) rows."""
    stream = validation.check_stream(stream)
    bins = validation.check_count(bins, bins_name)
    starts, ends = validation.check_boundaries(boundaries)
    size = validation.check_size(stream, height, width)
    return _run(stream, representation, bins, starts, ends, size, polarity, normalize, threads, params)


@dataclass(frozen=True)
class RepresentationOptions:
    """Options of one representation (tonic style): call it on a window, or `.batch` on K windows."""

    name: ClassVar[str]
    bins: int

    def _options(self) -> dict[str, Any]:
        return {"polarity": getattr(self, "polarity", None),
                "normalize": getattr(self, "normalization", "none")}

    def __call__(self, stream: EventStream, t_start: int, t_end: int, height: int | None = None,
                 width: int | None = None, threads: int | None = None) -> np.ndarray:
        return represent(stream, self.name, self.bins, t_start, t_end, height, width, threads=threads,
                         **self._options())

    def batch(self, stream: EventStream, boundaries: np.ndarray, height: int | None = None,
              width: int | None = None, threads: int | None = None) -> np.ndarray:
        """This representation of every window of `boundaries` (K, 2) at once, as `represent_batch`."""
        return represent_batch(stream, self.name, self.bins, boundaries, height, width, threads=threads,
                               **self._options())
