"""The event tensor of a sample: crop the window's events to the HR crop, bin them at LR size.

Cropping keeps the events whose sensor pixel lies in the HR crop and shifts them to crop
coordinates; the representation kernels (`egvsr.events.represent`) then splat the scaled
coordinates (factor h/H, pixel-centre convention) into an (M, P, h, w) float32 tensor, conserving
mass. Any registered representation is accepted (`egvsr.events.represent.registry`); this module only
checks and calls; the kernels live in `egvsr.events.represent`.
"""

from __future__ import annotations

import numpy as np

from egvsr.datasets.geometry import CropGeometry
from egvsr.errors import ConfigError
from egvsr.events.represent.registry import get_representation, representation_names
from egvsr.events.represent.validation import NORMALIZATIONS, POLARITIES
from egvsr.events.stream import EventStream


def check_representation(representation: str, bins: int, polarity: str, normalize: str) -> None:
    """Validate the event-tensor options (any registered representation) with messages naming the argument."""
    names = representation_names()
    if representation not in names:
        raise ConfigError(f"representation {representation!r}: expected one of {', '.join(names)}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ConfigError(f"bins {bins!r}: expected a positive integer (time bins / moments)")
    if polarity not in POLARITIES:
        raise ConfigError(f"polarity {polarity!r}: expected one of {', '.join(POLARITIES)}")
    get_representation(representation).check_options(polarity)
    if normalize not in NORMALIZATIONS:
        raise ConfigError(f"normalize {normalize!r}: expected one of {', '.join(NORMALIZATIONS)}")


def polarity_channels(representation: str, polarity: str) -> int:
    """P of the (M, P, h, w) tensor: 2 for ON/OFF, 1 for signed (or the representation's own count)."""
    return get_representation(representation).polarity_channels(polarity)


def crop_events(stream: EventStream, geom: CropGeometry) -> EventStream:
    """Events inside the HR crop, shifted to crop coordinates, on a W×H sensor."""
    if (geom.y0, geom.x0, geom.H, geom.W) == (0, 0, stream.height, stream.width):
        return stream
    x = stream.x.astype(np.int32)
    y = stream.y.astype(np.int32)
    keep = (x >= geom.x0) & (x < geom.x0 + geom.W) & (y >= geom.y0) & (y < geom.y0 + geom.H)
    return EventStream(
        (x[keep] - geom.x0).astype(np.uint16), (y[keep] - geom.y0).astype(np.uint16),
        stream.t[keep], stream.p[keep], geom.W, geom.H, validate=False,
    )


def event_tensor(
    stream: EventStream,
    t0: int,
    t1: int,
    size: tuple[int, int],
    representation: str = "moments",
    bins: int = 32,
    polarity: str = "split",
    normalize: str = "none",
) -> np.ndarray:
    """(bins, P, h, w) float32 tensor of the events in [t0, t1) binned at `size` = (h, w).

    Any registered representation, through the one entry point `represent`. One numba thread: a
    sample's window is small, and DataLoader workers supply the parallelism.
    """
    from egvsr.events.represent.functional import represent

    h, w = size
    out = represent(stream, representation, bins, int(t0), int(t1), height=h, width=w, polarity=polarity,
                    normalize=normalize, threads=1)
    if out.ndim == 3:  # signed polarity: one channel
        out = out[:, None]
    return np.ascontiguousarray(out, dtype=np.float32)
