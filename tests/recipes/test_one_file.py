"""A new layout, representation or model inside the package is one new file that declares itself.

Three real module files (a CSV "t x y p" event layout, an event-count representation, a frames-only
conv model) are placed on the search path of `egvsr.events.io`, `egvsr.events.represent` and
`egvsr.models` in a fresh process, as if dropped into those folders; with no other file edited,
`egvsr info`, `convert`, `voxelize --repr`, `egvsr models` and `build_model` pick them up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from egvsr.plugins import declaring_modules

ROOT = Path(__file__).resolve().parents[2]

LAYOUT_FILE = '''
"""Toy CSV events: a `CSVEVENTS width height` line, then one `t,x,y,p` line per event."""
from pathlib import Path

import numpy as np

from egvsr.events.io.declaration import Layout
from egvsr.events.io.source import EventSource


class CsvSource(EventSource):
    layout = "csvtoy"

    def __init__(self, path, sensor_size=None):
        lines = Path(path).read_text().splitlines()
        width, height = (int(v) for v in lines[0].split()[1:])
        if sensor_size is not None:
            height, width = sensor_size
        rows = np.array([[int(v) for v in ln.split(",")] for ln in lines[1:]], np.int64).reshape(-1, 4)
        self._t, self._x, self._y, self._p = rows.T
        super().__init__(path, width, height, len(rows))

    def _read_arrays(self, i0, i1):
        return self._x[i0:i1], self._y[i0:i1], self._t[i0:i1], self._p[i0:i1].astype(np.int8)


LAYOUT = Layout("csvtoy", "toy CSV events", sniff=lambda head: head.startswith(b"CSVEVENTS "), open=CsvSource)
'''

REPRESENTATION_FILE = '''
"""Toy event counts per bin and pixel (one channel)."""
import numpy as np

from egvsr.events.represent.registry import Representation, register_representation


def count_image(stream, starts, ends, bins, size, polarity, threads):
    oh, ow = size if size is not None else (stream.height, stream.width)
    out = np.zeros((len(starts), bins, 1, oh, ow), np.float32)
    t = stream.t.astype(np.int64)
    for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        inside = (t >= a) & (t < b)
        rows = stream.y[inside].astype(np.int64) * oh // stream.height
        cols = stream.x[inside].astype(np.int64) * ow // stream.width
        np.add.at(out[k], ((bins * (t[inside] - a)) // (b - a), 0, rows, cols), 1.0)
    return out


COUNT = register_representation(Representation("countoy", count_image, "toy event counts", channels=1))
'''

MODEL_FILE = '''
"""Toy frames-only conv SR: nearest frame, bilinear upsampling, one 3x3 conv."""
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from egvsr.models.base import SRModel
from egvsr.models.options import opt
from egvsr.models.registry import register_model
from egvsr.models.sampling import nearest_frame


@dataclass(frozen=True)
class TinyConvOptions:
    num_frames: int = opt(2, min=2, doc="input frames per window")
    max_scale: float = opt(8.0, min=1e-6, doc="largest output/input size ratio")

    def check(self, name):
        pass


@register_model("tinyconv", options=TinyConvOptions, presets={"tinyconv": ("toy frames-only conv", {})})
class TinyConv(SRModel):
    uses_events = False

    def __init__(self, options):
        super().__init__(options.max_scale)
        self.num_frames = self.min_frames = options.num_frames
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def encode(self, batch):
        return None

    def prepare_time(self, state, batch, j):
        rows = torch.arange(batch.lr.shape[0], device=batch.lr.device)
        frame = batch.lr[rows, nearest_frame(batch.frame_times, batch.times[:, j:j + 1])[:, 0]]
        return self.conv(F.interpolate(frame, size=tuple(batch.out_size), mode="bilinear", align_corners=False))

    def decode(self, image, batch, pix):
        return image.flatten(2)[:, :, pix].transpose(1, 2)
'''

RUNNER = '''
"""Put the plug-in folders on the three packages' paths before they load, then run egvsr commands."""
import importlib.util
import json
import sys
import traceback

plugins = sys.argv[1]
for package, folder in (("egvsr.events.io", "io"), ("egvsr.events.represent", "represent"),
                        ("egvsr.models", "models")):
    spec = importlib.util.find_spec(package)
    spec.submodule_search_locations.append(f"{plugins}/{folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)

from egvsr.cli import main

for argv in json.loads(sys.argv[2]):
    print(f"=== {' '.join(argv)}", flush=True)
    if argv[0] == "build":
        from egvsr.models import build_model
        import torch
        model = build_model({"name": argv[1]})
        out = model(torch.rand(1, 2, 3, 8, 10), torch.tensor([[0.5]]), (16, 20))
        print("built", type(model).__name__, tuple(out.shape), flush=True)
        continue
    try:
        print("rc", main(argv), flush=True)
    except SystemExit as exc:
        print("rc", exc.code, flush=True)
'''


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one_file")
    for folder, name, text in (("io", "csvtoy.py", LAYOUT_FILE), ("represent", "countoy.py", REPRESENTATION_FILE),
                               ("models", "tinyconv.py", MODEL_FILE)):
        (tmp / folder).mkdir()
        (tmp / folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    (tmp / "runner.py").write_text(RUNNER, encoding="utf-8")
    events = ["CSVEVENTS 32 24"] + [f"{t},{(7 * t) % 32},{(3 * t) % 24},{1 if t % 3 else -1}" for t in range(0, 40000, 97)]
    (tmp / "ev.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    commands = [
        ["info", str(tmp / "ev.csv")],
        ["convert", str(tmp / "ev.csv"), str(tmp / "ev.h5")],
        ["voxelize", str(tmp / "ev.h5"), str(tmp / "vox.h5"), "--repr", "countoy", "--window-ms", "10",
         "--bins", "2", "--threads", "1"],
        ["models"],
        ["build", "tinyconv"],
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(tmp / "runner.py"), str(tmp), json.dumps(commands)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp)
    parts = {}
    for chunk in done.stdout.split("=== ")[1:]:
        head, _, body = chunk.partition("\n")
        parts[head.split()[0] if head.split()[0] != "build" else "build"] = body
    return tmp, parts, done


def test_a_layout_file_is_read_by_info_and_convert(plugin_run):
    tmp, parts, done = plugin_run
    assert "csvtoy" in parts.get("info", ""), done.stdout + done.stderr
    assert "rc 0" in parts["info"] and "rc 0" in parts["convert"], done.stdout + done.stderr
    from egvsr.events.io import read_events

    stream = read_events(tmp / "ev.h5")
    assert (stream.width, stream.height, len(stream)) == (32, 24, len(range(0, 40000, 97)))


def test_a_representation_file_is_a_voxelize_choice(plugin_run):
    tmp, parts, done = plugin_run
    assert "rc 0" in parts.get("voxelize", ""), done.stdout + done.stderr
    from egvsr.events.represent import read_tensors

    tensors, _, _, attrs = read_tensors(tmp / "vox.h5")
    assert tensors.shape[1:] == (2, 1, 24, 32) and tensors.sum() > 0, (tensors.shape, attrs)


def test_a_model_file_is_listed_and_built(plugin_run):
    _, parts, done = plugin_run
    assert "tinyconv" in parts.get("models", "") and "rc 0" in parts["models"], done.stdout + done.stderr
    assert "built TinyConv (1, 1, 3, 16, 20)" in parts.get("build", ""), done.stdout + done.stderr


def test_discovery_reads_the_marker_at_a_line_start_and_keeps_the_given_order(tmp_path, monkeypatch):
    package = tmp_path / "toypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "zeta.py").write_text("THING = 1\n")
    (package / "alpha.py").write_text("THING = 2\n")
    (package / "beta.py").write_text('"""Mentions THING = 3 only mid-line."""\n')
    (package / "_private.py").write_text("THING = 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert declaring_modules("toypkg", r"THING =", first=("zeta",)) == ["toypkg.zeta", "toypkg.alpha"]
