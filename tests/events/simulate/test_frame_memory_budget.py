"""`check_frame_memory` plans `BYTES_PER_PIXEL` per frame pixel; a clip's measured peak stays within it.

From the third frame on a flow-interpolated simulation holds about 205 to 232 bytes per pixel (a two-frame
clip less), so the plan is measured on a clip of four. Peak RSS (VmHWM, reset through /proc/self/clear_refs after a warm-up run on 64x64 frames, so numba's compiling
does not hide it) is measured in a child process, above its RSS before the clip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from egvsr.events.simulate.budget import BYTES_PER_PIXEL
from tests._reliability import cli_env

SIDE = 800

_CHILD = """
import sys
from pathlib import Path
import cv2, numpy as np

from egvsr.events.simulate import api
d, side = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)

def folder(name, s, n):
    f = d / name
    f.mkdir()
    base = cv2.GaussianBlur(rng.integers(0, 255, (s, s + 8 * n, 3), dtype=np.uint8), (0, 0), 2)
    for i in range(n):
        cv2.imwrite(str(f / f"{i}.png"), base[:, i * 6:i * 6 + s])
    return f

api.simulate_video(folder("warm", 64, 4), d / "warm.h5", fps=25, progress=False, threads=1, cp=2.0)

def kb(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
before = kb("VmRSS")
api.simulate_video(folder("clip", side, 4), d / "clip.h5", fps=25, progress=False, threads=1, cp=2.0)
print((kb("VmHWM") - before) * 1024)
"""


@pytest.mark.slow  # a child process simulating 800x800 frames: about half a minute on a busy machine
@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs")
def test_measured_peak_of_a_clip_is_within_the_planned_bytes_per_pixel(tmp_path):
    res = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(SIDE)], env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    grown = int(res.stdout.split()[-1])
    assert grown <= BYTES_PER_PIXEL * SIDE * SIDE, f"{grown / SIDE ** 2:.0f} bytes per pixel measured"
