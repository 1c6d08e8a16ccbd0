"""One DAVIS-style recording (gray APS frames with their exposures, uneven intervals from a dropped frame and
a varying exposure, events from long before the first frame to before the last) written in every layout that
carries frames gives the same frame times (the middles of the exposures) and the same evaluation samples:
each target's window [t(frame 0), t(frame K-1)), its query time and its event tensor, against a numpy
reference of the events in that window (docs/io.md, "Frame times, layout by layout"; docs/datasets.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egvsr.datasets import EventVSRDataset
from egvsr.events.io import convert

cv2 = pytest.importorskip("cv2")

W, H = 32, 24
#: exposures [begin, end] µs: a dropped frame between the second and third, an auto-exposure change
EXPOSURES = [(300_000, 310_000), (340_000, 342_000), (400_000, 430_000), (441_000, 443_000),
             (480_000, 482_001), (520_000, 560_000)]
MIDDLES = np.array([(b + e) // 2 for b, e in EXPOSURES], np.int64)


def _recording(seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 4000
    t = np.sort(rng.integers(0, 530_000, n)).astype(np.int64)  # from long before the first frame
    t[100:110] = MIDDLES[1]  # events at a frame's time belong to the window that starts there
    t = np.sort(t)
    x, y = rng.integers(0, W, n), rng.integers(0, H, n)
    on = rng.random(n) < 0.5
    base = rng.integers(30, 220, (H, W)).astype(np.uint8)
    frames = [np.roll(base, k, axis=1) for k in range(len(EXPOSURES))]
    return x, y, t, on, frames


def _write_all(tmp_path, x, y, t, on, frames) -> dict:
    from tests.events.io.test_layouts import write_aedat4, write_ced, write_e2vid

    paths = {}
    step = 500
    packets = [(t[a:a + step], x[a:a + step], y[a:a + step], on[a:a + step]) for a in range(0, len(t), step)]
    stream = [((b + e) // 2 + 7, (b, e), img, 0) for (b, e), img in zip(EXPOSURES, frames)]  # t is not the middle
    paths["aedat4"] = tmp_path / "r.aedat4"
    write_aedat4(paths["aedat4"], packets, W, H, frames=stream)
    paths["egvsr"] = tmp_path / "ours.h5"
    convert(paths["aedat4"], paths["egvsr"], progress=False)
    paths["e2vid"] = tmp_path / "e2vid.h5"
    write_e2vid(paths["e2vid"], x, y, t, on, [(img, int(m), "greyscale") for img, m in zip(frames, MIDDLES)],
                sensor_resolution=(H, W))
    paths["e2vid exposures"] = tmp_path / "e2vid_exposures.h5"
    write_e2vid(paths["e2vid exposures"], x, y, t, on, [(img, 0, "greyscale") for img in frames],
                sensor_resolution=(H, W))
    import h5py

    with h5py.File(paths["e2vid exposures"], "r+") as f:
        for k, (b, e) in enumerate(EXPOSURES):
            f[f"images/image{k:09d}"].attrs["timestamp"] = np.array([b, e], np.float64) / 1e6
    rows = np.stack([t * 1000.0, x, y, on], axis=1).astype(np.float64)
    cuts = list(range(0, len(t), step)) + [len(t)]
    paths["ced"] = tmp_path / "ced"
    write_ced(paths["ced"], [(1000 * int(t[a]) + k, rows[a:b]) for k, (a, b) in enumerate(zip(cuts, cuts[1:]))],
              [(1000 * int(m) + 999, np.repeat(img[..., None], 3, axis=2)) for img, m in zip(frames, MIDDLES)])
    for p in paths["ced"].glob("*.png"):  # gray PNGs, as a DAVIS frame is
        cv2.imwrite(str(p), cv2.imread(str(p), cv2.IMREAD_GRAYSCALE))
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, img in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{k:08d}.png"), img)
    (folder / "images.txt").write_text("".join(f"{m / 1e6:.9f} frame_{k:08d}.png\n" for k, m in enumerate(MIDDLES)))
    paths["frame folder"] = folder
    return paths


def _open(kind: str, path, events):
    if kind == "frame folder":
        from egvsr.render.inputs import open_input

        return open_input(path, events)
    return str(path)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_every_layout_gives_the_exposure_middles_and_the_same_windows(tmp_path, k):
    torch.set_num_threads(1)
    x, y, t, on, frames = _recording()
    paths = _write_all(tmp_path, x, y, t, on, frames)
    reference = None
    for kind, path in paths.items():
        ds = EventVSRDataset([_open(kind, path, paths["egvsr"])], mode="eval", scale=2.0, num_frames=k,
                             representation="moments", bins=4, polarity="split")
        np.testing.assert_array_equal(ds.recordings[0].frame_times, MIDDLES, err_msg=kind)
        samples = [ds[i] for i in range(len(ds))]
        assert [int(s["t_us"][0]) for s in samples] == MIDDLES.tolist(), kind
        for s in samples:
            t0, t1 = s["window_us"].tolist()
            start = int(np.searchsorted(MIDDLES, t0))
            assert (t0, t1) == (MIDDLES[start], MIDDLES[start + k - 1]), kind
            inside = (t >= t0) & (t < t1)
            assert float(s["events"].sum()) == pytest.approx(float(inside.sum()), abs=1e-3), kind
            assert float(s["events"][:, 0].sum()) == pytest.approx(float((inside & on).sum()), abs=1e-3), kind
        if reference is None:
            reference = samples
            continue
        for a, b in zip(reference, samples):
            np.testing.assert_array_equal(a["window_us"], b["window_us"], err_msg=kind)
            torch.testing.assert_close(a["events"], b["events"], msg=kind)
            torch.testing.assert_close(a["lr"], b["lr"], msg=kind)
            torch.testing.assert_close(a["hr"], b["hr"], msg=kind)
            torch.testing.assert_close(a["frame_times"], b["frame_times"], msg=kind)
