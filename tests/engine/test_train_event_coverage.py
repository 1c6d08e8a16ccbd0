"""`egvsr train` says, as `render`, `eval` and `voxelize` do, when a recording's event tensors would all be zero
(no events, or none within its frames' span: events and frames on different clocks), once per recording of
data.train and data.val, and trains on (docs/datasets.md, "Recordings whose events do not cover the frames")."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml

from egvsr.cli import main

W, H = 32, 24
T = np.arange(5, dtype=np.int64) * 40_000 + 100_000


def _recording(path, t_events):
    rng = np.random.default_rng(0)
    n = len(t_events)
    with h5py.File(path, "w") as f:
        f.attrs.update(format="egvsr", version=1, width=W, height=H, num_events=n)
        f["events/x"] = rng.integers(0, W, n).astype(np.uint16)
        f["events/y"] = rng.integers(0, H, n).astype(np.uint16)
        f["events/t"] = np.sort(np.asarray(t_events, np.int64))
        f["events/p"] = rng.choice([-1, 1], n).astype(np.int8)
        f["frames/images"] = rng.integers(0, 255, (len(T), H, W, 3)).astype(np.uint8)
        f["frames/t"] = T
    return path


def _config(tmp_path, train, val, model_options=None):
    cfg = {"name": "cov", "seed": 1, "device": "cpu", "output_root": str(tmp_path / "exp"),
           "model": {"name": "egvsr-tiny", "options": model_options or {}},
           "data": {"train": {"recordings": [str(p) for p in train], "patch_size": 8, "scale_range": [1, 2],
                              "bins": 8},
                    "val": {"recordings": [str(p) for p in val], "scale": 2, "bins": 8} if val else {}},
           "train": {"iterations": 1, "batch_size": 2, "lr": 1e-3, "log_every": 1, "val_every": 1000,
                     "checkpoint_every": 1}}
    path = tmp_path / "cov.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("cov")
    return {"none": _recording(d / "none.h5", []),
            "before": _recording(d / "before.h5", np.arange(0, 90_000, 100)),
            "ok": _recording(d / "ok.h5", np.arange(90_000, 270_000, 50))}


def test_train_warns_once_per_recording_whose_event_tensors_are_all_zero(tmp_path, recordings, capsys):
    cfg = _config(tmp_path, [recordings["none"], recordings["before"], recordings["ok"]], [recordings["none"]])
    assert main(["train", str(cfg)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warnings) == 2, warnings  # `none` is in both sections, said once; `ok` not at all
    assert f"{recordings['none']}: holds no events, so the event tensors will be zero" in warnings[0]
    assert f"{recordings['before']}: no event falls within the frames' span (events 0..89900 µs" in warnings[1]
    assert (tmp_path / "exp" / "cov" / "checkpoints" / "last.pt").is_file()  # it trains on


def test_a_frames_only_model_is_not_warned(tmp_path, recordings, capsys):
    cfg = _config(tmp_path, [recordings["none"]], [], {"ignore_events": True})
    assert main(["train", str(cfg)]) == 0
    assert "warning:" not in capsys.readouterr().err
