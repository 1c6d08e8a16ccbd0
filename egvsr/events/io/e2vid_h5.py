"""Reader for the E2VID / event_utils HDF5 layout ("Monash" packager; docs/io.md, Supported layouts).

`events/xs, ys` int16, `events/ts` float64 **seconds** (float32/16 refused: too coarse for µs; integers
taken as µs), `events/ps` bool (True = ON); frames in `images/image%09d` with a `timestamp` attribute
(float64 seconds or, like integer `ts`, integer µs; or the [begin, end] of the exposure: the frame is at its
middle) and `type` "greyscale" or "color_bgr".
Sensor size from the root attribute `sensor_resolution` (H, W[, 3]), else the first image's shape,
else the caller's `sensor_size`. There is no index: window starts are found by bisection over ts.
A file of images and no `events` group at all (frames only, as event_utils writes a recording without
events) reads as a recording of no events.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from egvsr.errors import SENSOR_SIZE_ADVICE, EventValidationError, FormatError, SensorSizeUnknownError
from egvsr.events.checks import first_beyond_int64, first_not_increasing
from egvsr.events.frames import SixteenBitLevel, sixteen_bit_to_uint8
from egvsr.events.io import h5util
from egvsr.events.io.declaration import Layout
from egvsr.events.io.seconds import seconds_to_us
from egvsr.events.io.source import EventSource, with_channels

KEYS = {"x": "events/xs", "y": "events/ys", "t": "events/ts", "p": "events/ps"}
_IMAGE_NAME = re.compile(r"^image(\d+)$")


def matches(f: h5py.File) -> bool:
    """An `events` group holding any of xs/ys/ts/ps, or (frames only) no `events` (or an empty `events`
    group) and an `images` group holding an `image<N>` entry (and no EvTexture `voxels_f`)."""
    g = f.get("events")
    if isinstance(g, h5py.Group) and any(k in g for k in ("xs", "ys", "ts", "ps")):
        return True
    return h5util.events_absent(f) and "voxels_f" not in f and _has_images(f)  # voxels_f: an EvTexture clip


def _has_images(f: h5py.File) -> bool:
    """Whether `f` has an `images` group with an entry named `image<N>` (names only: nothing is read)."""
    try:
        g = f.get("images")
        return isinstance(g, h5py.Group) and any(_IMAGE_NAME.match(name) for name in g)
    except OSError:
        return False


class E2vidH5Source(EventSource):
    """An open E2VID / event_utils HDF5 file."""

    layout = "e2vid"
    keys = KEYS

    def __init__(self, path: Path, f: h5py.File, sensor_size: tuple[int, int] | None = None) -> None:
        self._f = f
        self._frames = self._find_frames(path, f)
        if h5util.events_absent(f) and self._frames:  # frames only: a recording of no events
            n, self._x = 0, None
        else:
            n = self._check_events(path, f)
        self._any_colour: bool | None = None  # whether any image declares 3 channels (`frame_shape`)
        self._frame_t: np.ndarray | None = None  # `frame_times`, once worked out
        self._full_scale16: int | None = None  # white level of uint16 images, once worked out
        if sensor_size is None:
            sensor_size = self._sensor_size(path, f)
        super().__init__(path, sensor_size[1], sensor_size[0], n)

    def _check_events(self, path: Path, f: h5py.File) -> int:
        """Check the `events/` columns and keep them; their length."""
        ds = {k: h5util.dataset(f, key, path, "e2vid") for k, key in KEYS.items()}
        h5util.require_1d(ds["x"], path, "iu", "integer columns (int16)")
        h5util.require_1d(ds["y"], path, "iu", "integer rows (int16)")
        h5util.require_1d(ds["t"], path, "fiu", "float64 seconds")
        if ds["t"].dtype.kind == "f" and ds["t"].dtype.itemsize < 8:
            raise FormatError(
                f"{path}: '{KEYS['t']}' has dtype {ds['t'].dtype}, expected float64 seconds ({ds['t'].dtype} cannot "
                "hold microseconds: a unix-clock time in float32 is off by up to a minute)"
            )
        h5util.require_1d(ds["p"], path, "biu", "bool polarity (True = ON)")
        n = h5util.equal_lengths(path, {KEYS[k]: d for k, d in ds.items()})
        self._x, self._y, self._t, self._p = ds["x"], ds["y"], ds["t"], ds["p"]
        self._p_encoding = "bool" if ds["p"].dtype == np.bool_ else None
        return n

    def close(self) -> None:
        self._f.close()

    # ---- sensor size and frames ---------------------------------------------------------------
    @staticmethod
    def _find_frames(path: Path, f: h5py.File) -> list[tuple[int, h5py.Dataset]]:
        g = h5util.get(f, "images", path)
        if not isinstance(g, h5py.Group):
            return []
        frames = []
        for name in g:
            m = _IMAGE_NAME.match(name)
            ds = h5util.get(f, f"images/{name}", path) if m else None
            if isinstance(ds, h5py.Dataset):
                if "timestamp" not in ds.attrs:
                    raise FormatError(f"{path}: 'images/{name}' has no 'timestamp' attribute (seconds)")
                frames.append((int(m.group(1)), ds))
        frames.sort(key=lambda item: item[0])
        return frames

    def _sensor_size(self, path: Path, f: h5py.File) -> tuple[int, int]:
        res = f.attrs.get("sensor_resolution")
        if res is not None and np.size(res) >= 2:
            try:
                values = np.asarray(res).ravel()[:2]
                # whole numbers only (180.0 as some writers store it, never 179.5 cut to 179, nor True)
                h, w = (int(v) if values.dtype.kind in "iuf" and float(v).is_integer() else 0 for v in values)
            except (TypeError, ValueError, OverflowError):
                h = w = 0
            if not (1 <= h <= 65535 and 1 <= w <= 65535):
                raise FormatError(
                    f"{path}: attribute 'sensor_resolution' is {res!r}, expected (height, width) as whole numbers "
                    "in 1..65535"
                )
            return h, w
        if self._frames:
            ds = self._frames[0][1]
            if ds.ndim not in (2, 3) or min(ds.shape[:2], default=0) < 1:
                raise FormatError(
                    f"{path}: '{ds.name.lstrip('/')}' has shape {ds.shape}, expected an image (H, W) or (H, W, 3)"
                )
            return int(ds.shape[0]), int(ds.shape[1])
        raise SensorSizeUnknownError(
            f"{path}: the E2VID file has no 'sensor_resolution' attribute and no images, so its "
            f"sensor size is unknown; {SENSOR_SIZE_ADVICE}"
        )

    def frame_times(self) -> np.ndarray | None:
        """Each image's `timestamp` (seconds) as int64 µs, strictly increasing; an image whose data is not in
        this file (virtual, external) makes the frames unusable, as in every HDF5 layout. Worked out once
        (every image's attributes and storage are looked at), then copied."""
        if not self._frames:
            return None
        if self._frame_t is None:
            self._frame_t = self._read_frame_times()
        return self._frame_t.copy()

    def _read_frame_times(self) -> np.ndarray:
        stamps = []
        for _, ds in self._frames:
            h5util.check_stored(ds, ds.name.lstrip("/"), self.path)
            with h5util.translate_read_errors(self.path, ds):
                value = ds.attrs["timestamp"]
            stamps.append(self._stamp_us(ds, value))
        t = np.array(stamps, np.int64)
        i = first_not_increasing(t)
        if i >= 0:
            raise FormatError(
                f"{self.path}: image timestamps must strictly increase; "
                f"'{self._frames[i][1].name.lstrip('/')}' does not"
            )
        return t

    def _stamp_us(self, ds: h5py.Dataset, value) -> int:
        """An image's `timestamp` attribute in µs: one value, or the middle of [begin, end] (an exposure, as
        AEDAT4 frames' times are). Its type gives its unit, as for `events/ts`: float64 seconds, or integer µs
        as stored (a writer that stores integer µs events stores its images' times so); float32 and float16
        are refused (too coarse for µs)."""
        key = f"'{ds.name.lstrip('/')}' attribute 'timestamp'"
        arr = np.asarray(value)
        value = arr.item() if arr.size == 1 else arr.tolist()  # shown as 1.5 or [1.5, 1.6], not np.float64(1.5)
        if arr.dtype.kind not in "fiu" or arr.size not in (1, 2):
            raise FormatError(f"{self.path}: {key} is {value!r}, expected a time, float64 seconds or integer µs "
                              "(or the [begin, end] of the exposure)")
        if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
            raise FormatError(f"{self.path}: {key} has dtype {arr.dtype}, expected float64 seconds ({arr.dtype} "
                              "cannot hold microseconds)")
        if arr.dtype.kind in "iu":  # µs, as integer event times are
            beyond = first_beyond_int64(arr.ravel())
            if beyond >= 0:
                raise FormatError(f"{self.path}: {key} is {value!r}, beyond the int64 microsecond range (>= 2**63); "
                                  "expected integer microseconds (or float64 seconds)")
            us, bad = arr.ravel().astype(np.int64), -1
        else:
            us, bad = seconds_to_us(arr.ravel())
        if bad >= 0:
            v = float(arr.ravel()[bad])
            why = ("expected finite seconds" if not np.isfinite(v) else
                   "out of range for seconds (beyond the int64 microsecond range: is it in µs or ns?); "
                   "expected seconds")
            raise FormatError(f"{self.path}: {key} is {value!r}, {why}")
        if us.size == 2 and us[1] < us[0]:
            raise FormatError(f"{self.path}: {key} is {value!r}, an exposure [begin, end] that ends before "
                              "it begins; expected begin <= end")
        return int(us[0]) + (int(us[-1]) - int(us[0])) // 2

    def _image_shape(self, ds: h5py.Dataset) -> tuple[int, int, int]:
        """(H, W, C) of image dataset `ds`, checked from its declaration before anything is decoded."""
        shape = ds.shape
        sixteen = ds.dtype.kind == "u" and ds.dtype.itemsize == 2  # either byte order
        channels_ok = len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))
        if (ds.dtype != np.uint8 and not sixteen) or not channels_ok:
            raise FormatError(
                f"{self.path}: '{ds.name.lstrip('/')}' is {ds.dtype} {shape}, expected uint8 "
                "(H, W) or (H, W, 3) (or uint16, scaled by the images' bit depth)"
            )
        return int(shape[0]), int(shape[1]), int(shape[2]) if len(shape) == 3 else 1

    def frame_shape(self) -> tuple[int, int, int] | None:
        """(H, W, C) of every frame as read: C is 3 when any image declares colour (a gray image among
        them is then given 3 equal channels), so one recording has one channel count. Every image's
        declared shape is looked at on the first call (nothing is decoded), so an image of another size
        or type than the first makes the frames unusable here (and in `info`), not when it is reached."""
        if not self._frames:
            return None
        h, w, c = self._image_shape(self._frames[0][1])
        if self._any_colour is None:
            self._any_colour = self._scan_shapes((h, w))
        return h, w, 3 if self._any_colour else c

    def _scan_shapes(self, size: tuple[int, int]) -> bool:
        """Whether any image declares colour; an image whose declared size is not the first one's `size`
        is refused (one recording has one frame size)."""
        colour = False
        for _, ds in self._frames:
            h, w, c = self._image_shape(ds)
            if (h, w) != size:
                raise FormatError(
                    f"{self.path}: '{ds.name.lstrip('/')}' is {w}x{h}, but the first image is {size[1]}x{size[0]}; "
                    "all images of a recording must have one size")
            colour |= c == 3
        return colour

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_frame_index(i, len(self._frames), "frame")
        ds = self._frames[i][1]
        shape, first = self._image_shape(ds), self.frame_shape()
        if shape[:2] != first[:2]:  # checked before decoding: an image may declare any size
            raise FormatError(
                f"{self.path}: '{ds.name.lstrip('/')}' is {shape[1]}x{shape[0]}, but the first image is "
                f"{first[1]}x{first[0]}; all images of a recording must have one size"
            )
        h5util.check_stored(ds, ds.name.lstrip("/"), self.path)
        with h5util.translate_read_errors(self.path, ds):
            img = h5util.read_whole(ds)
            kind = ds.attrs.get("type", "color_bgr")
        if img.dtype.itemsize == 2:
            img = sixteen_bit_to_uint8(img, self._sixteen_bit_scale())
        if img.ndim == 2 or img.shape[2] == 1:
            return with_channels(img, first[2])
        kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else str(kind)
        return np.ascontiguousarray(img[..., ::-1]) if "bgr" in kind.lower() else img

    def _sixteen_bit_scale(self) -> int:
        """The white level of the file's uint16 images (`SixteenBitLevel` of all their values, each image read
        once on the first call), as for AEDAT4 frames: a DAVIS APS frame stored as its 10-bit value is scaled
        by 1023, not left nearly black."""
        if self._full_scale16 is None:
            level = SixteenBitLevel()
            for _, ds in self._frames:
                if ds.dtype.itemsize == 2 and not level.settled:
                    h5util.check_stored(ds, ds.name.lstrip("/"), self.path)
                    with h5util.translate_read_errors(self.path, ds):
                        level.add(h5util.read_whole(ds))
            self._full_scale16 = level.full_scale
        return self._full_scale16

    # ---- events -------------------------------------------------------------------------------
    def _read_t(self, i0, i1):
        if self._x is None:
            return np.zeros(0, np.int64)
        ts = h5util.read_slice(self._t, i0, i1, self.path)
        if ts.dtype.kind != "f":
            return h5util.int64_times(ts, self.path, KEYS["t"], i0)
        us, bad = seconds_to_us(ts)
        if bad >= 0:
            raise EventValidationError(
                f"{self.path}: {KEYS['t']}[{i0 + bad}] = {ts[bad].item()!r}, expected finite seconds "
                "(float64, within the int64 microsecond range)"
            )
        return us

    def _read_p(self, i0, i1):
        if self._x is None:
            return np.zeros(0, np.int8)
        p = h5util.read_slice(self._p, i0, i1, self.path)
        return self._signed_polarity(p, self._p_encoding or "ternary", i0)

    def _read_arrays(self, i0, i1):
        if self._x is None:  # frames only: no events (i0 == i1 == 0)
            return (np.zeros(0, np.uint16), np.zeros(0, np.uint16), np.zeros(0, np.int64), np.zeros(0, np.int8))
        x = h5util.read_slice(self._x, i0, i1, self.path)
        y = h5util.read_slice(self._y, i0, i1, self.path)
        return x, y, self._read_t(i0, i1), self._read_p(i0, i1)


def open_source(path: Path, sensor_size: tuple[int, int] | None = None) -> E2vidH5Source:
    """Open a e2vid file (`sensor_size=(H, W)` overrides the file's)."""
    return h5util.open_source(path, "e2vid", E2vidH5Source, sensor_size)


LAYOUT = Layout(
    "e2vid", "E2VID / event_utils HDF5 (events/{xs,ys,ts,ps}, images/image%09d)",
    sniff=matches, open=open_source, looks_at="hdf5",
)
