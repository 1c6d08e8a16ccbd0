"""Recording adapters: each reads a small file this test writes in its layout.

The writers below are also used by the other test_datasets_* modules (tiny synthetic recordings).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from egvsr.datasets import Recording, open_recording
from egvsr.errors import EgvsrError

# ---- synthetic content ------------------------------------------------------------------------


def textured_frames(n: int, height: int, width: int, seed: int = 0, gray: bool = False) -> np.ndarray:
    """n smooth random uint8 frames (N, H, W, 3) (or (N, H, W, 1) gray)."""
    rng = np.random.default_rng(seed)
    c = 1 if gray else 3
    small = rng.random((n, max(2, height // 4), max(2, width // 4), c)).astype(np.float32)
    out = np.stack([cv2.resize(s, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, c)
                    for s in small])
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def random_events(n: int, height: int, width: int, t0: int, t1: int, seed: int = 0):
    """x, y, t (sorted), p of n uniform events in [t0, t1)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, width, n).astype(np.uint16)
    y = rng.integers(0, height, n).astype(np.uint16)
    t = np.sort(rng.integers(t0, t1, n)).astype(np.int64)
    p = (rng.integers(0, 2, n) * 2 - 1).astype(np.int8)
    return x, y, t, p


# ---- writers, one per layout --------------------------------------------------------------------


def write_egvsr(path: Path, frames: np.ndarray, frame_t, events, width: int, height: int,
                gt: np.ndarray | None = None, gt_t=None) -> Path:
    """Our HDF5 layout (docs/CONTRACTS.md), written with h5py directly."""
    x, y, t, p = events
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=width, height=height, num_events=len(t))
        g = f.create_group("events")
        g["x"], g["y"] = np.asarray(x, np.uint16), np.asarray(y, np.uint16)
        g["t"], g["p"] = np.asarray(t, np.int64), np.asarray(p, np.int8)
        fr = f.create_group("frames")
        fr["images"], fr["t"] = frames, np.asarray(frame_t, np.int64)
        if gt is not None:
            gg = f.create_group("gt")
            gg["images"], gg["t"] = gt, np.asarray(gt_t, np.int64)
    return path


def write_e2vid(path: Path, frames: np.ndarray, frame_t_us, events, width: int, height: int) -> Path:
    """event_utils / E2VID HDF5: xs/ys int16, ts float64 s, ps bool, images/image%09d BGR."""
    x, y, t, p = events
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g["xs"], g["ys"] = np.asarray(x, np.int16), np.asarray(y, np.int16)
        g["ts"], g["ps"] = np.asarray(t, np.float64) / 1e6, np.asarray(p) > 0
        f.attrs["sensor_resolution"] = (height, width)
        im = f.create_group("images")
        for i, (img, ts) in enumerate(zip(frames, frame_t_us)):
            d = im.create_dataset(f"image{i:09d}", data=img[..., ::-1] if img.shape[-1] == 3 else img[..., 0])
            d.attrs["timestamp"] = ts / 1e6
            d.attrs["type"] = "color_bgr" if img.shape[-1] == 3 else "greyscale"
    return path


def write_ced(folder: Path, frames: np.ndarray, frame_t_us, events) -> Path:
    """EGVSR CED folder: <ns>.png (RGB content, cv2 writes BGR order) and <ns>.npy packets."""
    folder.mkdir()
    x, y, t, p = events
    for img, ts in zip(frames, frame_t_us):
        cv2.imwrite(str(folder / f"{int(ts) * 1000}.png"), img[..., ::-1])
    edges = list(frame_t_us) + [int(t.max()) + 1]
    bounds = np.searchsorted(t, edges)
    starts = [0] + list(bounds)
    for a, b in zip(starts[:-1], starts[1:]):
        if b > a:
            rows = np.stack([t[a:b] * 1000.0, x[a:b], y[a:b], (p[a:b] > 0)], axis=1).astype(np.float64)
            np.save(folder / f"{int(t[a]) * 1000 + 1}.npy", rows)
    return folder


def write_evtexture(root: Path, clip: str, hr: np.ndarray, scale: int, bins: int = 5,
                    split: str = "test", seed: int = 0) -> tuple[Path, Path]:
    """EvTexture CED_h5 trees HR/<split>/<clip>.h5 and LRx<s>/<split>/<clip>.h5 (BGR images)."""
    rng = np.random.default_rng(seed)
    n, H, W, _ = hr.shape
    h, w = H // scale, W // scale
    lr = hr[:, : h * scale, : w * scale].reshape(n, h, scale, w, scale, 3).mean(axis=(2, 4)).astype(np.uint8)
    paths = []
    for sub, imgs, size in (("HR", hr, (H, W)), (f"LRx{scale}", lr, (h, w))):
        p = root / sub / split / f"{clip}.h5"
        p.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(p, "w") as f:
            for i, img in enumerate(imgs):
                f[f"images/{i:06d}"] = img[..., ::-1]
            for i in range(n - 1):
                v = rng.standard_normal((bins, *size))
                f[f"voxels_f/{i:06d}"] = v
                f[f"voxels_b/{i:06d}"] = -v[::-1]
        paths.append(p)
    return paths[0], paths[1]


# ---- tests ----------------------------------------------------------------------------------------
H, W = 24, 32
FT = np.array([0, 40_000, 80_000, 120_000], np.int64)


@pytest.fixture
def content():
    frames = textured_frames(len(FT), H, W, seed=1)
    ev = random_events(500, H, W, 0, 130_000, seed=2)
    return frames, ev


def _check_common(rec: Recording, frames, ev, name):
    assert rec.name == name
    assert (rec.width, rec.height) == (W, H)
    np.testing.assert_array_equal(rec.frame_times, FT)
    for i in (0, 3):
        np.testing.assert_array_equal(rec.read_frame(i), frames[i])
    s = rec.read_events(40_000, 80_000)
    keep = (ev[2] >= 40_000) & (ev[2] < 80_000)
    assert (s.width, s.height) == (W, H)
    np.testing.assert_array_equal(s.t, ev[2][keep])
    np.testing.assert_array_equal(s.x, ev[0][keep])
    np.testing.assert_array_equal(s.p, ev[3][keep])


def test_egvsr_layout_with_gt(tmp_path, content):
    frames, ev = content
    gt = textured_frames(2, H, W, seed=5)
    path = write_egvsr(tmp_path / "clip_a.h5", frames, FT, ev, W, H, gt, [20_000, 60_000])
    with open_recording(path) as rec:
        assert rec.layout == "egvsr" and rec.has_events and rec.lr_scale is None
        _check_common(rec, frames, ev, "clip_a")
        np.testing.assert_array_equal(rec.gt_times, [20_000, 60_000])
        np.testing.assert_array_equal(rec.read_gt(1), gt[1])


def test_e2vid_layout_bgr_and_gray(tmp_path, content):
    frames, ev = content
    with open_recording(write_e2vid(tmp_path / "e2.h5", frames, FT, ev, W, H)) as rec:
        assert rec.layout == "e2vid"
        _check_common(rec, frames, ev, "e2")  # BGR on disk comes back RGB
        assert len(rec.gt_times) == 0
    gray = textured_frames(len(FT), H, W, seed=3, gray=True)
    with open_recording(write_e2vid(tmp_path / "g.h5", gray, FT, ev, W, H)) as rec:
        img = rec.read_frame(2)
        assert img.shape == (H, W, 3)  # gray replicated to 3 channels
        np.testing.assert_array_equal(img, np.repeat(gray[2], 3, axis=-1))


def test_ced_folder(tmp_path, content):
    frames, ev = content
    with open_recording(write_ced(tmp_path / "people_dynamic_wave", frames, FT, ev)) as rec:
        assert rec.layout == "ced"
        _check_common(rec, frames, ev, "people_dynamic_wave")


def test_evtexture_pair(tmp_path):
    hr = textured_frames(4, 16, 24, seed=4)
    hr_path, lr_path = write_evtexture(tmp_path / "CED_h5", "simple_fruit", hr, scale=4, bins=5)
    with open_recording(lr_path, fps=20) as rec:
        assert rec.layout == "evtexture" and not rec.has_events
        assert rec.lr_scale == 4 and (rec.height, rec.width) == (16, 24)
        np.testing.assert_array_equal(rec.frame_times, [0, 50_000, 100_000, 150_000])
        np.testing.assert_array_equal(rec.read_frame(1), hr[1])  # BGR on disk → RGB
        lr = rec.read_lr_frame(1)
        assert lr.shape == (4, 6, 3)
        exp = hr[1].reshape(4, 4, 6, 4, 3).mean(axis=(1, 3)).astype(np.uint8)
        np.testing.assert_array_equal(lr, exp)
        with h5py.File(lr_path) as f:
            np.testing.assert_allclose(rec.read_voxels(2), f["voxels_f/000002"][()].astype(np.float32))
            np.testing.assert_allclose(rec.read_voxels(0, "backward"), f["voxels_b/000000"][()].astype(np.float32))
        with pytest.raises(EgvsrError, match="interval index 3"):
            rec.read_voxels(3)
        with pytest.raises(EgvsrError, match="read_events|no raw events"):
            rec.read_events(0, 1)
    # default fps 25; an unpaired LR file has no HR targets
    (hr_path).unlink()
    rec = open_recording(lr_path)
    assert rec.lr_scale is None and rec.frame_times[1] == 40_000
    with pytest.raises(EgvsrError, match="no HR file"):
        rec.read_frame(0)


def test_evtexture_files_linked_into_their_tree_pair_where_the_links_are(tmp_path):
    """A download cache's snapshot (Hugging Face's, say) links each file of the tree to a hash-named blob: the
    LR file pairs with the HR file beside its link, not with the blob's folder, and an HR link is an HR file."""
    hr = textured_frames(3, 16, 24, seed=4)
    hr_path, lr_path = write_evtexture(tmp_path / "real", "clip", hr, scale=4, bins=5)
    blobs, snap = tmp_path / "blobs", tmp_path / "snapshot" / "CED_h5"
    blobs.mkdir()
    for side, real in (("HR", hr_path), ("LRx4", lr_path)):
        blob = blobs / f"{side.lower()}0123abcd"
        real.rename(blob)
        link = snap / side / "test" / "clip.h5"
        link.parent.mkdir(parents=True)
        link.symlink_to(blob)
    with open_recording(snap / "LRx4" / "test" / "clip.h5") as rec:
        assert rec.lr_scale == 4 and rec.hr_path == snap / "HR" / "test" / "clip.h5"
        np.testing.assert_array_equal(rec.read_frame(2), hr[2])
    with open_recording(snap / "HR" / "test" / "clip.h5") as rec:
        assert rec.lr_scale == 1

@pytest.mark.parametrize("group", ["voxels_f", "voxels_b"])
def test_evtexture_voxel_of_other_bins_names_it(tmp_path, group):
    """Every voxel has the bins of voxels_f/000000 (the samples' event tensors have one shape): one of other
    bins is refused naming it, not stacked into a tensor of another size; when the clip is opened (declared
    shapes), and when read (a file changed since)."""
    _, lr_path = write_evtexture(tmp_path / "CED_h5", "clip", textured_frames(4, 16, 24, seed=4), scale=4, bins=5)
    message = f"{group}/000002 has shape \\(4, 4, 6\\), expected \\(5, 4, 6\\)"
    with open_recording(lr_path) as rec:
        with h5py.File(lr_path, "a") as f:
            del f[f"{group}/000002"]
            f[f"{group}/000002"] = np.zeros((4, 4, 6))
        assert rec.read_voxels(1, "forward" if group == "voxels_f" else "backward").shape == (5, 4, 6)
        with pytest.raises(EgvsrError, match=message):
            rec.read_voxels(2, "forward" if group == "voxels_f" else "backward")
    with pytest.raises(EgvsrError, match=message):
        open_recording(lr_path)


@pytest.mark.parametrize("side", ["HR", "LR"])
def test_evtexture_frame_of_another_size_names_it(tmp_path, side):
    """A frame of another size than the file's first is refused naming it, not cropped to a smaller target or
    LR patch (an HR target of 30 rows scored against a 32-row output)."""
    hr_path, lr_path = write_evtexture(tmp_path / "CED_h5", "clip", textured_frames(4, 32, 40, seed=4), scale=4)
    path, shape = (hr_path, (30, 40, 3)) if side == "HR" else (lr_path, (7, 10, 3))
    message = re.escape(f"images/000002 has shape {shape}, but images/000000 is")
    read = "read_frame" if side == "HR" else "read_lr_frame"
    with open_recording(lr_path) as rec:
        with h5py.File(path, "a") as f:  # changed since the clip was opened: refused when read
            del f["images/000002"]
            f["images/000002"] = np.zeros(shape, np.uint8)
        assert getattr(rec, read)(1).shape[:2] == ((32, 40) if side == "HR" else (8, 10))
        with pytest.raises(EgvsrError, match=message):
            getattr(rec, read)(2)
    with pytest.raises(EgvsrError, match=message):
        open_recording(lr_path)  # declared shapes, compared when the clip is opened


def test_evtexture_bad_keys(tmp_path):
    p = tmp_path / "bad.h5"
    with h5py.File(p, "w") as f:
        f["images/000000"] = np.zeros((4, 4, 3), np.uint8)
        f["images/000002"] = np.zeros((4, 4, 3), np.uint8)
        f["voxels_f/000000"] = np.zeros((5, 4, 4))
    with pytest.raises(EgvsrError, match="without gaps"):
        open_recording(p)


def test_handles_are_per_process_and_picklable(tmp_path, content):
    frames, ev = content
    rec = open_recording(write_egvsr(tmp_path / "a.h5", frames, FT, ev, W, H))
    assert rec._handles == {}  # metadata read at open; no handle kept
    rec.read_frame(0)
    assert len(rec._handles) == 1
    clone = pickle.loads(pickle.dumps(rec))  # what a spawned DataLoader worker receives
    assert clone._handles == {}
    np.testing.assert_array_equal(clone.read_frame(3), frames[3])
    rec._handles = {-1: rec._handles.popitem()[1]}  # as if inherited through fork from another pid
    np.testing.assert_array_equal(rec.read_frame(1), frames[1])
    assert len(rec._handles) == 2  # reopened in this process, the inherited one untouched
    rec.close()
    clone.close()


def test_missing_file(tmp_path):
    with pytest.raises(EgvsrError, match="not found"):
        open_recording(tmp_path / "nope.h5")


def test_evtexture_frames_stored_in_another_file_are_refused_not_read_black(tmp_path):
    hr = textured_frames(3, 16, 16)
    _, lr = write_evtexture(tmp_path / "evtexture", "clip", hr, 2)
    with h5py.File(lr, "r+") as f:
        del f["images/000001"]
        layout = h5py.VirtualLayout((8, 8, 3), np.uint8)
        layout[:] = h5py.VirtualSource("/nonexistent/egvsr-missing.h5", "x", shape=(8, 8, 3))
        f.create_virtual_dataset("images/000001", layout, fillvalue=0)
    with pytest.raises(EgvsrError, match=r"clip.h5: 'images/000001' is a virtual dataset \(its data lives in other "
                                         r"files\); expected data stored in this file"):
        open_recording(lr)  # every image is sized (and its storage checked) when the clip is opened
