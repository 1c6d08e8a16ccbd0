"""Two `egvsr` processes writing one output at once: however they interleave, the output is one run's, whole
(equal to a run alone), the other run is refused in one line (without --overwrite) or replaced it whole (with
it), and no temporary is left."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from egvsr.fsutil import TEMP_MARK
from tests._reliability import cli, cli_env


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, bytes]:
    """A small recording and the bytes `egvsr convert` writes for it alone."""
    from egvsr.events.simulate import make_sample

    folder = tmp_path_factory.mktemp("rec")
    rec = make_sample(folder / "rec.h5", seed=1, seconds=0.3, size=(40, 56), progress=False)
    alone = folder / "alone.h5"
    subprocess.run(cli("convert", rec, alone, "--no-progress"), env=cli_env(), check=True, capture_output=True)
    return rec, alone.read_bytes()


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_converts_of_one_output_at_once(tmp_path, recording, overwrite):
    rec, alone = recording
    out = tmp_path / "out.h5"
    if overwrite:
        out.write_bytes(b"an earlier output")
    extra = ["--overwrite"] if overwrite else []
    procs = [subprocess.Popen(cli("convert", rec, out, "--no-progress", *extra), env=cli_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert out.read_bytes() == alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]  # no temporary of either
    codes = sorted(r[0] for r in results)
    if overwrite:
        assert codes == [0, 0]
    else:
        assert codes == [0, 2]
        err = next(r[2] for r in results if r[0] == 2)
        assert err.count("\n") == 1 and err.startswith(f"egvsr: error: {out}: output already exists")
    assert all(TEMP_MARK not in r[2] for r in results)
