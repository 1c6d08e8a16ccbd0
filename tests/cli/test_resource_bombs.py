"""Resource bombs are refused up front (issue 16): within seconds and under a 6 GB address-space cap.

Each command runs as a real process with RLIMIT_AS = 6 GB; a command that started to allocate what the
input or argument declares (tens of GB to TB) would be killed or raise MemoryError instead of ending
with its one refusal line.
"""

from __future__ import annotations

import resource
import subprocess
import time

import h5py
import numpy as np
import pytest

from tests._reliability import cli, cli_env

CAP_BYTES = 6 << 30
LIMIT_S = 60.0


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    from egvsr.render.model import save_untrained
    from egvsr.events.simulate import make_sample

    d = tmp_path_factory.mktemp("bombs")
    rec = make_sample(d / "rec.h5", seed=1, seconds=0.12, size=(40, 56), fps=25.0, progress=False)
    frames = d / "frames.h5"
    frames.write_bytes(rec.read_bytes())
    with h5py.File(frames, "r+") as h:  # two 60000x60000 frames declared, never written
        del h["frames"]
        h.create_dataset("frames/images", shape=(2, 60000, 60000, 3), dtype=np.uint8, chunks=(1, 500, 500, 3),
                         compression="gzip")
        h["frames/t"] = np.array([0, 50], np.int64)
    return {"rec": rec, "frames": frames, "ck": save_untrained("egvsr-tiny", d / "ck.pt"), "d": d}


@pytest.mark.parametrize("argv, expect", [
    (("info", "{frames}"), "declares 21,600,000,000 bytes"),
    (("convert", "{frames}", "{d}/o.h5"), "declares 21,600,000,000 bytes"),
    (("make-sample", "{d}/m.h5", "--seconds", "1e12"), "frames, expected at most"),
    (("render", "{rec}", "{ck}", "--scale", "2", "--png", "{d}/r", "--fps-factor", "1000000000", "--device", "cpu"),
     "output frames, expected at most"),
], ids=["info-frames", "convert-frames", "make-sample-seconds", "render-fps-factor"])
def test_refused_fast_and_small(bombs, argv, expect):
    args = [a.format(**bombs) for a in argv]
    started = time.monotonic()
    res = subprocess.run(cli(*args, *([] if args[0] == "info" else ["--no-progress"])), env=cli_env(),
                         capture_output=True, text=True, timeout=LIMIT_S, preexec_fn=_capped)
    took = time.monotonic() - started
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert expect in res.stderr.strip().splitlines()[-1]
    assert took < LIMIT_S
