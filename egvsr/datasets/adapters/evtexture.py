"""EvTexture's per-clip HDF5 files (CED_h5, Vid4_h5, REDS_h5) as `Recording`s: frames plus precomputed voxels.

`images/%06d` BGR frames and `voxels_f/%06d`, `voxels_b/%06d` (one voxel per frame interval), no raw
events and no timestamps (frame i at i/fps); HR and LR sides live in parallel trees
`<root>/HR/<split>/` and `<root>/LRx<n>/<split>/`. The LR side is opened, the HR side gives the targets,
so scale and representation are fixed by the files (docs/datasets.md). Detected by
`egvsr.events.io.evtexture_h5`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np

from egvsr.datasets.recording import Recording, as_rgb
from egvsr.errors import ConfigError, FormatError, InputFileError
from egvsr.events.checks import is_frame_rate
from egvsr.events.frames import check_frame_rate
from egvsr.events.io import h5util
from egvsr.events.io.h5util import corrupted_h5

DEFAULT_FPS = 25.0
_LR_DIR = re.compile(r"^LRx(\d+)$")


def sibling_hr_path(path: Path) -> tuple[Path | None, int | None]:
    """The HR file beside an `LRx<n>` tree and n; (None, None) if `path` is not under `LRx<n>`."""
    parts = list(path.parts)
    for k in range(len(parts) - 2, -1, -1):
        m = _LR_DIR.match(parts[k])
        if m:
            parts[k] = "HR"
            return Path(*parts), int(m.group(1))
    return None, None


def _keys(f: h5py.File, group: str, path: Path) -> list[str]:
    g = h5util.get(f, group, path)
    if not isinstance(g, h5py.Group):
        raise FormatError(f"{path}: expected an HDF5 group /{group} (EvTexture layout)")
    keys = sorted(g.keys())
    expected = [f"{i:06d}" for i in range(len(keys))]
    if keys != expected:
        bad = next(k for k, e in zip(keys, expected) if k != e)
        raise FormatError(
            f"{path}: /{group} keys must be 000000, 000001, ... without gaps; found {bad!r}"
        )
    return keys


def _stored(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    """Dataset `key`, its data checked to be in this file (not virtual or external, not a dangling link)
    before it is read: a virtual image whose source is missing would read as black (docs/io.md)."""
    return h5util.dataset(f, key, path, "EvTexture")


def _one_size(f: h5py.File, path: Path, keys: list[str], expected: tuple[int, ...]) -> None:
    """Refuse the first of `keys` whose declared shape does not start with `expected`: the (height, width) of
    images/000000 for frames, the (bins, height, width) of voxels_f/000000 for voxels."""
    for key in keys:
        shape = tuple(_stored(f, key, path).shape)
        if shape[:len(expected)] == expected and (len(expected) == 2 or len(shape) == 3):
            continue
        if len(expected) == 2:
            raise FormatError(f"{path}: {key} has shape {shape}, but images/000000 is {expected[0]}x{expected[1]} "
                              "(height x width); all frames of a clip must have one size")
        raise FormatError(f"{path}: {key} has shape {shape}, expected {expected} (bins, height, width) as "
                          "voxels_f/000000")


class EvTextureRecording(Recording):
    """An EvTexture LR clip paired with its HR clip; `lr_scale` = HR size / LR size."""

    layout = "evtexture"
    has_events = False
    takes_fps = True

    def __init__(self, path: Path, fps: float | None = None,
                 hr_path: str | os.PathLike | None = None) -> None:
        if fps is not None and not is_frame_rate(fps):
            raise ConfigError(f"fps {fps!r}: expected a positive frame rate (a finite number of frames per second)")
        fps = DEFAULT_FPS if fps is None else float(fps)
        with corrupted_h5(path, "EvTexture"), h5py.File(path, "r") as f:
            n = len(_keys(f, "images", path))
            for group in ("voxels_f", "voxels_b"):
                if group in f and len(_keys(f, group, path)) != max(n - 1, 0):
                    raise FormatError(
                        f"{path}: /{group} has {len(f[group])} voxels, expected {n - 1} "
                        f"(one per interval between the {n} frames)"
                    )
            if n == 0:
                raise FormatError(f"{path}: /images is empty")
            lr_shape = _stored(f, "images/000000", path).shape
            voxels = _stored(f, "voxels_f/000000", path) if n > 1 else None
            self.bins = int(voxels.shape[0]) if n > 1 else 0
            if n > 1 and tuple(voxels.shape[1:]) != tuple(lr_shape[:2]):
                raise FormatError(
                    f"{path}: voxels_f/000000 is {voxels.shape[1:]} pixels but frames "
                    f"are {lr_shape[:2]}; expected voxels at the frame size"
                )
            self.has_backward = "voxels_b" in f
            # every frame and voxel sized now, from its declared shape (nothing decoded), as E2VID images and CED
            # PNGs are: one of another size is refused before any work rather than when a sample reaches it
            _one_size(f, path, [f"images/{i:06d}" for i in range(1, n)], tuple(lr_shape[:2]))
            if n > 1:
                _one_size(f, path, [f"{group}/{i:06d}" for group in ("voxels_f", "voxels_b") if group in f
                                    for i in range(n - 1)], tuple(voxels.shape))
        self.lr_height, self.lr_width = int(lr_shape[0]), int(lr_shape[1])
        self.fps = fps
        self.hr_path, expected_scale = self._find_hr(path, hr_path)
        if self.hr_path is None:
            width, height, scale = self.lr_width, self.lr_height, None
        else:
            height, width, scale = self._pair(path, n, expected_scale)
        check_frame_rate(fps, n, f"{path}: fps")  # frame i at i / fps: whole, distinct µs
        times = np.round(np.arange(n, dtype=np.float64) * (1e6 / fps)).astype(np.int64)
        super().__init__(path, path.stem, width, height, times)
        self.lr_scale = scale

    # ---- pairing ------------------------------------------------------------------------------
    @staticmethod
    def _find_hr(path: Path, hr_path) -> tuple[Path | None, int | None]:
        # the path as given (made absolute, links kept) first: a file linked into its LRx<n> tree (a download
        # cache's snapshot links each file to a hash-named blob) pairs by where the link is; then the real path
        spellings = list(dict.fromkeys((Path(os.path.abspath(path)), path.resolve())))
        sibs = [sibling_hr_path(p) for p in spellings]
        n = next((k for _, k in sibs if k is not None), None)
        if hr_path is not None:
            hr = Path(hr_path)
            if not hr.is_file():
                raise InputFileError(f"{hr}: HR file (hr_path) not found")
            return hr, n
        if any("HR" in p.parts[-3:-1] for p in spellings):
            return path, 1  # an HR file opened directly: it is its own target (scale 1)
        for sib, k in sibs:
            if sib is not None and sib.is_file():
                return sib, k
        return None, None

    def _pair(self, path: Path, n: int, expected: int | None) -> tuple[int, int, int]:
        assert self.hr_path is not None
        with corrupted_h5(self.hr_path, "EvTexture"), h5py.File(self.hr_path, "r") as f:
            hn = len(_keys(f, "images", self.hr_path))
            hr_shape = _stored(f, "images/000000", self.hr_path).shape
            _one_size(f, self.hr_path, [f"images/{i:06d}" for i in range(1, hn)], tuple(hr_shape[:2]))
        if hn != n:
            raise FormatError(f"{self.hr_path}: {hn} HR frames but the LR file {path} has {n}")
        H, W = int(hr_shape[0]), int(hr_shape[1])
        s = H // self.lr_height
        if s < 1 or self.lr_width * s > W or self.lr_height * s > H or W // self.lr_width != s:
            raise FormatError(
                f"{self.hr_path}: HR frames {H}x{W} are not an integer multiple of the LR frames "
                f"{self.lr_height}x{self.lr_width} of {path}"
            )
        if expected is not None and s != expected:
            raise FormatError(
                f"{path}: folder says LRx{expected} but HR/LR sizes {H}x{W} / "
                f"{self.lr_height}x{self.lr_width} give x{s}"
            )
        return H, W, s

    # ---- handles ------------------------------------------------------------------------------
    def _open_handle(self):
        lr = h5py.File(self.path, "r")
        hr = None
        if self.hr_path is not None:
            hr = lr if Path(self.hr_path) == Path(self.path) else h5py.File(self.hr_path, "r")
        return lr, hr

    def _close_handle(self, handle) -> None:
        lr, hr = handle
        if hr is not None and hr is not lr:
            hr.close()
        lr.close()

    # ---- data ---------------------------------------------------------------------------------
    def _image(self, f: h5py.File, i: int, where: Path, size: tuple[int, int]) -> np.ndarray:
        """Image `i` of file `f` (at `where`) as RGB, refused unless it has the (height, width) `size` of that
        file's images/000000 (a clip has one frame size: a crop must not come out smaller)."""
        key = f"images/{i:06d}"
        with corrupted_h5(where, "EvTexture"):
            d = _stored(f, key, where)
            if tuple(d.shape[:2]) != size:
                raise FormatError(f"{where}: {key} has shape {d.shape}, but images/000000 is {size[0]}x{size[1]} "
                                  "(height x width); all frames of a clip must have one size")
            a = np.asarray(d[()])
        if a.ndim == 3 and a.shape[-1] == 3:
            a = a[..., ::-1]  # BGR on disk (cv2 order) → RGB
        return np.ascontiguousarray(as_rgb(a, f"{where}: {key}"))

    def read_frame(self, i: int) -> np.ndarray:
        i = self._check_index(i, self.num_frames, "frame")
        _, hr = self._handle()
        if hr is None:
            raise InputFileError(
                f"{self.path}: no HR file paired with this EvTexture LR clip; expected "
                "<root>/HR/<split>/<clip>.h5 beside <root>/LRx<n>/... or pass hr_path"
            )
        return self._image(hr, i, self.hr_path, (self.height, self.width))

    def read_lr_frame(self, i: int) -> np.ndarray:
        i = self._check_index(i, self.num_frames, "frame")
        lr, _ = self._handle()
        return self._image(lr, i, self.path, (self.lr_height, self.lr_width))

    def read_voxels(self, i: int, direction: str = "forward") -> np.ndarray:
        if direction not in ("forward", "backward"):
            raise ConfigError(f"direction {direction!r}: expected 'forward' or 'backward'")
        i = self._check_index(i, self.num_frames - 1, "interval")
        group = "voxels_f" if direction == "forward" else "voxels_b"
        lr, _ = self._handle()
        if group not in lr:
            raise FormatError(f"{self.path}: no /{group} group (backward voxels not stored)")
        key = f"{group}/{i:06d}"
        with corrupted_h5(self.path, "EvTexture"):
            v = np.asarray(_stored(lr, key, self.path)[()], dtype=np.float32)
        if v.shape != (self.bins, self.lr_height, self.lr_width):  # the bins of voxels_f/000000, in every voxel
            raise FormatError(
                f"{self.path}: {key} has shape {v.shape}, expected ({self.bins}, {self.lr_height}, {self.lr_width}) "
                "(bins, height, width) as voxels_f/000000"
            )
        finite = np.isfinite(v)
        if not finite.all():
            b, y, x = (int(j) for j in np.argwhere(~finite)[0])
            raise FormatError(
                f"{self.path}: {key}[{b}, {y}, {x}] (bin, row, column) is {float(v[b, y, x])}; expected finite "
                "voxel values"
            )
        return v
