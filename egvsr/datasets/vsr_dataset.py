"""`EventVSRDataset`: aligned event/RGB recordings as training and evaluation samples.

A sample holds LR frames, the event tensor of the window at LR size, query times in [-1, 1] and the HR
targets at floor(s*h) x floor(s*w), with metadata (docs/datasets.md, "Samples"). Training items are frame
windows with a random LR patch at the scale the sampler's key gives; evaluation items are every target
time of every clip, whole frames, one scale.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import operator
import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from egvsr.datasets import augment as aug
from egvsr.datasets.degrade import downscale, image_to_tensor
from egvsr.datasets.geometry import (
    CropGeometry, as_pair, cell_size, fmt_scale, frame_geometry, hr_size, lr_size_for_frame, patch_geometry,
    query_grid,
)
from egvsr.datasets.items import Item, Targets, eval_items, train_items, window_frame_times, window_times
from egvsr.datasets.opening import OptionError, check_fps_applies, open_recording
from egvsr.datasets.recording import Recording
from egvsr.datasets.root import DatasetRoot
from egvsr.datasets.sampler import check_integer, check_scale_range
from egvsr.datasets.tensorize import check_representation, crop_events, event_tensor, polarity_channels
from egvsr.events.frames import check_frames_memory, frames_memory_bytes
from egvsr.errors import ConfigError, IndexRangeError, IndexTypeError
from egvsr.fsutil import fmt_size
from egvsr.process import physical_memory

MODES = ("train", "eval")
QUERIES = ("middle", "gt")
_UNSET: Any = object()  # patch_size not given: TRAIN_PATCH_SIZE in mode "train", whole frames in "eval"
TRAIN_PATCH_SIZE = 64  #: the LR patch side of mode "train" when patch_size is not given


class PairedScaleError(OptionError):
    """A `scale` or `scale_range` other than the scale at which the recordings pair LR and HR (EvTexture
    files): `paired` is that scale and `path` the first recording, so a command can name its own flag."""

    def __init__(self, option: str, value: Any, paired: int, path: Any) -> None:
        self.value, self.paired, self.path = value, paired, path
        fix = f"{paired}" if option == "scale" else f"[{paired}, {paired}]"
        super().__init__(option, f"{value!r} differs from the x{paired} at which {path} pairs LR and HR "
                                 f"(EvTexture files), which cannot be changed; give {{option}} {fix} or {{none}}")


@functools.lru_cache(maxsize=1)
def dataset_options() -> frozenset[str]:
    """The keyword options of `EventVSRDataset` (the keys a config section may pass on to it)."""
    params = inspect.signature(EventVSRDataset.__init__).parameters
    return frozenset(k for k, p in params.items() if p.kind == p.KEYWORD_ONLY)


def _check_seed(seed) -> int:
    """`seed` as an int, refused at construction unless an integer >= 0 (numpy's seeds are)."""
    return check_integer(seed, "seed", 0)


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack of CPU tensors done by numpy (one copy, no intra-op threads)."""
    return torch.from_numpy(np.stack([t.numpy() for t in tensors]))


def _open_all(recordings, fps) -> list[Recording]:
    if isinstance(recordings, DatasetRoot):
        return recordings.open("all", fps=fps)
    if isinstance(recordings, (str, os.PathLike, Recording)):
        recordings = [recordings]
    given, recordings = recordings, list(recordings) if isinstance(recordings, Iterable) else None
    if recordings is None or not all(isinstance(r, (str, os.PathLike, Recording)) for r in recordings):
        raise ConfigError(f"recordings {given!r}: expected a recording path (str or os.PathLike), a "
                          "Recording, a DatasetRoot or a list of them")
    out = []
    for r in recordings:
        if isinstance(r, Recording):
            check_fps_applies(r, fps)  # opened already: `fps` would be ignored unless it opened it so
        out.append(r if isinstance(r, Recording) else open_recording(r, fps=fps))
    if not out:
        raise ConfigError("recordings: expected at least one recording")
    return out


class EventVSRDataset(Dataset):
    """Samples of LR frames + events + HR targets from a list of recordings (see module doc).

    Index with an int (scale = `scale` or drawn from `scale_range` by `seed` and the index; negative
    ones count from the end) or with a `SampleKey(index, scale, seed)` from `ScaleBatchSampler`.
    """

    def __init__(
        self,
        recordings: str | os.PathLike | Recording | DatasetRoot | Iterable[str | os.PathLike | Recording],
        *,
        mode: str = "train",
        num_frames: int = 3,
        patch_size: int | tuple[int, int] | None = _UNSET,
        scale_range: Sequence[float] | None = None,
        scale: float | None = None,
        representation: str = "moments",
        bins: int = 32,
        polarity: str = "split",
        normalize: str = "none",
        queries: str = "middle",
        num_queries: int = 1,
        include_frames: bool = True,
        flips: bool = True,
        rotations: bool = True,
        reverse_prob: float = 0.5,
        quantize: bool = True,
        with_coords: bool = False,
        stride: int = 1,
        seed: int = 0,
        fps: float | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(f"{next(iter(unknown))}: not an option of EventVSRDataset; expected one of "
                              f"{', '.join(sorted(dataset_options()))}")
        if not isinstance(mode, str) or mode not in MODES:
            raise ConfigError(f"mode {mode!r}: expected one of {MODES}")
        if not isinstance(queries, str) or queries not in QUERIES:
            raise ConfigError(f"queries {queries!r}: expected one of {QUERIES}")
        counts = (("num_frames", num_frames, 2), ("num_queries", num_queries, 1), ("stride", stride, 1))
        for name, v, lo in counts:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ConfigError(f"{name} {v!r}: expected an integer >= {lo}")
        flags = (("include_frames", include_frames), ("flips", flips), ("rotations", rotations),
                 ("quantize", quantize), ("with_coords", with_coords))
        for name, v in flags:
            if not isinstance(v, (bool, np.bool_)):
                raise ConfigError(f"{name} {v!r}: expected True or False")
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, numbers.Real)
                                or not 0 < float(fps) < float("inf")):
            raise ConfigError(f"fps {fps!r}: expected a positive frame rate or None")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
            raise ConfigError(f"scale {scale!r}: expected one number >= 1 (the fixed scale) or None")
        if isinstance(reverse_prob, bool) or not isinstance(reverse_prob, (int, float)) \
                or not 0.0 <= float(reverse_prob) <= 1.0:
            raise ConfigError(f"reverse_prob {reverse_prob!r}: expected a probability in [0, 1]")
        check_representation(representation, bins, polarity, normalize)
        seed = _check_seed(seed)
        if not include_frames and queries != "gt":
            raise OptionError("include_frames", "turned off, it keeps only the ground-truth frames as targets, "
                                                "which only {at}queries 'gt' draws ({at}queries "
                                                "'middle' targets the middle frame): set {at}queries to 'gt' or "
                                                "turn {option} on")
        self.recordings = _open_all(recordings, fps)
        self.mode, self.k = mode, int(num_frames)
        self.queries, self.num_queries = queries, int(num_queries)
        if patch_size is _UNSET:
            patch_size = TRAIN_PATCH_SIZE if mode == "train" else None
        if patch_size is not None:
            if mode == "eval":
                raise OptionError("patch_size", "evaluation uses whole frames; leave {option} unset ({none})")
            patch_size = as_pair(patch_size, "patch_size")
        self.patch_size = patch_size
        self.repr = dict(representation=representation, bins=int(bins), polarity=polarity, normalize=normalize)
        self.flips, self.rotations, self.reverse_prob = flips, rotations, float(reverse_prob)
        self.quantize, self.with_coords, self.seed = quantize, with_coords, int(seed)
        self.paired_scale = self._paired_scale()
        self.scale_range, self.scale = self._scales(scale_range, scale)
        self.targets = [Targets(r, include_frames, queries == "gt") for r in self.recordings]
        if mode == "train":
            self.items = train_items(self.recordings, self.k, int(stride))
            self._check_query_counts()
        else:
            if queries == "middle":
                self.targets = [Targets(r, True, False) for r in self.recordings]
            self.items = eval_items(self.recordings, self.targets, self.k)
        self._check_patch_fits()
        self._check_frame_memory()

    @classmethod
    def from_root(cls, root: str | os.PathLike, split: str = "all", **options: Any) -> "EventVSRDataset":
        """A dataset of the recordings of `split` in the dataset root `root` (see `DatasetRoot`)."""
        paths = DatasetRoot(root).paths(split)
        return cls(paths, **options)

    # ---- configuration checks --------------------------------------------------------------------
    def _paired_scale(self) -> int | None:
        scales = {r.lr_scale for r in self.recordings}
        if scales == {None}:
            missing = [r for r in self.recordings if not r.has_events]
            if missing:
                raise ConfigError(
                    f"{missing[0].path}: recording has neither raw events nor paired LR voxels "
                    "(an EvTexture LR file needs its HR file beside it, or hr_path)"
                )
            return None
        if None in scales or len(scales) > 1:
            raise ConfigError(
                "recordings mix fixed-scale LR/HR pairs (EvTexture) with other scales "
                f"({sorted(str(s) for s in scales)}); use one kind and one scale per dataset"
            )
        return int(scales.pop())

    def _scales(self, scale_range, scale) -> tuple[tuple[float, float], float | None]:
        if self.paired_scale is not None:
            p = float(self.paired_scale)
            for name, v in (("scale_range", scale_range), ("scale", scale)):
                vals = [] if v is None else ([v] if name == "scale" else list(v))
                if any(float(x) != p for x in vals):
                    raise PairedScaleError(name, v, self.paired_scale, self.recordings[0].path)
            return (p, p), p
        if scale is not None:
            lo, hi = check_scale_range((scale, scale), "scale")
            if scale_range is not None:
                rlo, rhi = check_scale_range(scale_range)
                if not rlo <= lo <= rhi:
                    raise ConfigError(f"scale {scale!r} lies outside scale_range ({fmt_scale(rlo)}, {fmt_scale(rhi)})")
            return (lo, hi), lo
        if self.mode == "eval":
            raise OptionError("scale", "mode 'eval' needs a fixed scale; set {option} to a number >= 1 (e.g. 4)")
        return check_scale_range((1.0, 4.0) if scale_range is None else scale_range), None

    def _check_patch_fits(self) -> None:
        """Fail at construction if the largest scale's HR crop of a patch exceeds a recording, or, for
        whole-frame samples, leaves a recording's frames less than one LR pixel (else a training run would stop
        at whichever step first drew such a scale)."""
        if self.patch_size is None:
            if self.paired_scale is None:
                top = self.scale_range[1]
                for rec in self.recordings:
                    try:  # the rule whole-frame samples are cut by, at the largest scale
                        lr_size_for_frame(rec.height, rec.width, top)
                    except ConfigError:
                        raise ConfigError(
                            f"{rec.path}: its {rec.width}x{rec.height} frames (width x height) are smaller than one "
                            f"LR pixel at scale {fmt_scale(top)} (whole-frame samples: no patch_size); expected a "
                            f"scale (or top of scale_range) at most {min(rec.height, rec.width)}"
                        ) from None
            return
        ph, pw = self.patch_size
        for rec in self.recordings:
            if self.paired_scale is not None:
                have = (rec.lr_height, rec.lr_width)  # type: ignore[attr-defined]
                need, what = (ph, pw), "LR frames"
            else:
                need, have, what = hr_size(ph, pw, self.scale_range[1]), (rec.height, rec.width), "frames"
            if need[0] > have[0] or need[1] > have[1]:
                raise ConfigError(
                    f"{rec.path}: patch_size {ph}x{pw} at scale {fmt_scale(self.scale_range[1])} needs a crop of "
                    f"{need[0]}x{need[1]}, larger than the {have[0]}x{have[1]} {what}; use a smaller "
                    "patch_size or scale_range"
                )

    def _check_frame_memory(self) -> None:
        """Refuse, before any frame is decoded, a recording whose frames one sample needs (each decoded
        whole, then K frames and the targets as float32 crops, and their stacked copies) above half of
        this machine's memory: DataLoader workers build samples side by side."""
        total = physical_memory()
        if not total:
            return
        queries = self.num_queries if self.mode == "train" else 1
        for rec in self.recordings:
            h, w = rec.height, rec.width
            if self.patch_size is not None:
                ch, cw = hr_size(*self.patch_size, self.scale_range[1])
                h_crop, w_crop = min(ch, h), min(cw, w)
            else:
                h_crop, w_crop = h, w
            need = frames_memory_bytes(h, w, 2 * (self.k + queries) * h_crop * w_crop)
            check_frames_memory(rec.path, h, w, need, total // 2,
                                f"half of this machine's {fmt_size(total)} of memory",
                                "downscale its frames first (a sample decodes whole frames)")

    def _check_query_counts(self) -> None:
        if self.queries != "gt":
            return
        counts = []
        for it in self.items:
            ft = self.recordings[it.rec].frame_times
            counts.append(len(self.targets[it.rec].between(int(ft[it.start]), int(ft[it.start + self.k - 1]))))
        if not counts or min(counts) >= self.num_queries:
            return
        i = int(np.argmin(counts))  # the window with the fewest targets: the bound every window meets
        it, n = self.items[i], counts[i]
        where = OptionError.literal(self.recordings[it.rec].path)
        if n == 0:  # frames are targets unless include_frames is off, so none means no ground truth there
            raise OptionError("include_frames", f"{where}: the window starting at frame {it.start} has no "
                              "ground-truth frame, and with {option} off only those are targets: turn {option} "
                              "on, or give recordings with ground truth between their frames")
        raise OptionError("num_queries", f"{where}: the window starting at frame {it.start} has {n} target "
                          f"time(s), fewer than {{option}} {self.num_queries}: set {{option}} to at most {n}")

    # ---- sizes, from the settings alone --------------------------------------------------------
    def event_shape(self, rec: Recording | None = None) -> tuple[int, int]:
        """(bins M, polarity channels P) of every sample's event tensor (M, P, h, w), from the settings
        (the polarity was checked against the representation by `check_representation`). Recordings that
        pair LR and HR (EvTexture files) give their stored voxels instead: the K-1 intervals' B bins each,
        one channel, of `rec` (default: the first recording)."""
        if self.paired_scale is not None:
            rec = self.recordings[0] if rec is None else rec
            return (self.k - 1) * int(getattr(rec, "bins", 0)), 1
        return self.repr["bins"], polarity_channels(self.repr["representation"], self.repr["polarity"])

    def largest_sample(self) -> tuple[tuple[int, int], tuple[int, int], int]:
        """(LR size (h, w), HR size (H, W), query times T) of the largest sample this dataset yields:
        a patch at the top of the scale range, or the largest whole frame (whose LR is largest at the
        lowest scale). Sizes a training step's memory before any sample is read."""
        times = self.num_queries if self.mode == "train" and self.queries == "gt" else 1
        if self.paired_scale is not None:
            s = self.paired_scale
            lr = self.patch_size or max(((r.lr_height, r.lr_width) for r in self.recordings),  # type: ignore
                                        key=lambda hw: hw[0] * hw[1], default=(0, 0))
            return lr, (s * lr[0], s * lr[1]), times
        lo, hi = self.scale_range
        if self.patch_size is not None:
            return self.patch_size, hr_size(*self.patch_size, hi), times
        if not self.recordings:
            return (0, 0), (0, 0), times
        rec = max(self.recordings, key=lambda r: r.height * r.width)
        return lr_size_for_frame(rec.height, rec.width, lo), (rec.height, rec.width), times

    def whole_frame_sizes(self) -> list[tuple[Recording, tuple[int, int], tuple[int, int]]]:
        """Per recording, (recording, LR size (h, w), output size (H, W)) of its whole-frame samples at
        the fixed `scale` (evaluation), from the declared sizes: checks size scoring before any read."""
        out = []
        for rec in self.recordings:
            g = self._geometry(rec, float(self.scale or 1.0), np.random.default_rng(0))
            out.append((rec, (g.h, g.w), (g.H, g.W)))
        return out

    # ---- indexing -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def _index(self, value) -> int:
        """An item number as Python sequences take it: an integer (numpy's too), negative ones
        counting from the end; anything else is an `IndexTypeError`, outside the range an
        `IndexRangeError` (an `IndexError`, which ends `for sample in dataset`)."""
        try:
            index = operator.index(value)
        except TypeError:
            raise IndexTypeError(
                f"dataset index {value!r}: expected an integer or a SampleKey (index, scale, seed), "
                f"got {type(value).__name__}"
            ) from None
        n = len(self)
        if not -n <= index < n:
            valid = f"0..{n - 1} (or -{n}..-1 from the end)" if n else "none: the dataset is empty"
            raise IndexRangeError(f"dataset index {index} out of range: {n} items, valid indices {valid}")
        return index % n

    def _key(self, key) -> tuple[int, float, int]:
        if isinstance(key, (tuple, list)):
            if len(key) != 3:
                raise IndexTypeError(f"dataset key {key!r}: expected an index or (index, scale, seed)")
            index, scale, seed = self._index(key[0]), key[1], key[2]
            if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, numbers.Real):
                raise IndexTypeError(f"dataset key {key!r}: scale {scale!r} is not a number")
            try:
                seed = operator.index(seed)
            except TypeError:
                raise IndexTypeError(f"dataset key {key!r}: seed {seed!r} is not an integer") from None
            if seed < 0:
                raise ConfigError(f"dataset key {key!r}: seed {seed} is negative; expected an integer >= 0")
            scale = float(scale)
        else:
            index = self._index(key)
            seed = int(np.random.SeedSequence([self.seed, index]).generate_state(1, np.uint64)[0]) >> 2
            if self.scale is not None:
                scale = self.scale
            else:
                lo, hi = self.scale_range
                scale = float(np.random.default_rng([self.seed, index, 1]).uniform(lo, hi))
        lo, hi = self.scale_range
        if not (lo - 1e-9 <= scale <= hi + 1e-9):
            raise ConfigError(
                f"scale {fmt_scale(scale)} is outside the configured scale_range ({fmt_scale(lo)}, "
                f"{fmt_scale(hi)}) of this dataset"
            )
        return index, scale, seed

    def __getitem__(self, key) -> dict:
        index, scale, seed = self._key(key)
        it = self.items[index]
        rec = self.recordings[it.rec]
        rng = np.random.default_rng(seed)
        sample, backward, backward_targets = self._build(rec, it, scale, rng)
        sample["index"] = index
        if self.mode == "train":
            sample = aug.random_augment(
                sample, rng, self.flips, self.rotations, self.reverse_prob, backward, backward_targets
            )
        H, W = sample["hr"].shape[-2:]
        sample["cell"] = torch.from_numpy(cell_size(H, W))
        if self.with_coords:
            sample["coord"] = torch.from_numpy(query_grid(H, W))
        return sample

    # ---- building one sample --------------------------------------------------------------------
    def _query_times(self, it: Item, ft: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if it.target_us is not None:
            return np.array([it.target_us], np.int64)
        if self.queries == "middle":
            return ft[self.k // 2 : self.k // 2 + 1].copy()
        cand = self.targets[it.rec].between(int(ft[0]), int(ft[-1]))
        pick = rng.choice(len(cand), size=self.num_queries, replace=False)
        return np.sort(cand[pick])

    def _geometry(self, rec: Recording, scale: float, rng: np.random.Generator) -> CropGeometry:
        if self.paired_scale is not None:
            s = self.paired_scale
            lh, lw = rec.lr_height, rec.lr_width  # type: ignore[attr-defined]
            if self.patch_size is None:
                return CropGeometry(0, 0, s * lh, s * lw, lh, lw)
            g = patch_geometry(lh, lw, self.patch_size, 1.0, rng)
            return CropGeometry(g.y0 * s, g.x0 * s, g.H * s, g.W * s, g.h, g.w)
        if self.patch_size is None:
            return frame_geometry(rec.height, rec.width, scale)
        return patch_geometry(rec.height, rec.width, self.patch_size, scale, rng)

    def _build(self, rec: Recording, it: Item, scale: float, rng: np.random.Generator):
        fidx = list(range(it.start, it.start + self.k))
        ft = rec.frame_times[it.start : it.start + self.k]
        t0, t1 = int(ft[0]), int(ft[-1])
        geom = self._geometry(rec, scale, rng)
        q_us = self._query_times(it, ft, rng)
        rows, cols = geom.hr_slices()
        cache: dict[tuple[str, int], torch.Tensor] = {}

        def hr_crop(kind: str, i: int) -> torch.Tensor:
            if (kind, i) not in cache:
                img = rec.read_frame(i) if kind == "frame" else rec.read_gt(i)
                cache[(kind, i)] = image_to_tensor(img[rows, cols])
            return cache[(kind, i)]

        backward = None
        if self.paired_scale is not None:
            lr, events, backward = self._paired_inputs(rec, it, geom)
        else:
            lr = downscale(_stack([hr_crop("frame", i) for i in fidx]), (geom.h, geom.w), self.quantize)
            # [t0, t1]: the forward tensor bins [t0, t1), the reversed window holds (t0, t1] played backwards
            stream = crop_events(rec.read_events(t0, t1 + 1), geom)
            events = torch.from_numpy(event_tensor(stream, t0, t1, (geom.h, geom.w), **self.repr))

            def reversed_tensor() -> torch.Tensor:
                """The tensor of the reversed stream (exact for every representation; `augment`)."""
                reversed_stream = aug.reverse_events(stream, t0, t1)
                return torch.from_numpy(event_tensor(reversed_stream, t0, t1, (geom.h, geom.w), **self.repr))

            backward = reversed_tensor
        hr = _stack([hr_crop(*self.targets[it.rec].lookup(t)) for t in q_us.tolist()])
        backward_targets = None
        if it.target_us is None and self.queries == "middle" and self.k % 2 == 0:

            def backward_targets() -> dict:
                """The middle query of the window played backwards: its frame K//2, the later central frame
                there as in every window, is frame K//2 - 1 of the forward window (at -its time)."""
                j = self.k - 1 - self.k // 2
                q = ft[j : j + 1].copy()
                return {"hr": _stack([hr_crop("frame", it.start + j)]), "t_us": torch.from_numpy(q),
                        "times": torch.from_numpy(-window_times(q, t0, t1))}

        where = f"{rec.path}: input frames {it.start}..{it.start + len(ft) - 1}"
        sample = {
            "lr": lr,
            "frame_times": torch.from_numpy(window_frame_times(ft, where)),
            "events": events,
            "times": torch.from_numpy(window_times(q_us, t0, t1)),
            "hr": hr,
            "scale": float(scale),
            "scale_eff": torch.tensor(geom.scale_eff, dtype=torch.float32),
            "clip": rec.name,
            "t_us": torch.from_numpy(q_us),
            "window_us": torch.tensor([t0, t1], dtype=torch.int64),
            "crop": torch.tensor([geom.y0, geom.x0, geom.H, geom.W], dtype=torch.int64),
            "reversed": False,
        }
        return sample, backward, backward_targets

    def _paired_inputs(self, rec: Recording, it: Item, geom: CropGeometry):
        s = self.paired_scale
        assert s is not None
        ly, lx = geom.y0 // s, geom.x0 // s
        rows, cols = slice(ly, ly + geom.h), slice(lx, lx + geom.w)
        lr = _stack([image_to_tensor(rec.read_lr_frame(i)[rows, cols])
                     for i in range(it.start, it.start + self.k)])
        intervals = range(it.start, it.start + self.k - 1)

        def vox(direction: str, order) -> torch.Tensor:
            v = np.concatenate([rec.read_voxels(i, direction)[:, rows, cols] for i in order])
            return torch.from_numpy(np.ascontiguousarray(v))[:, None]

        events = vox("forward", intervals)
        backward = None
        if getattr(rec, "has_backward", False):
            backward = lambda: vox("backward", reversed(intervals))  # noqa: E731
        return lr, events, backward
