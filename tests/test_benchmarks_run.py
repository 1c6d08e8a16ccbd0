"""The cheapest benchmarks run end to end with tiny arguments (CI runs no benchmark otherwise, so a library
change that breaks one is caught here): each prints its table, with the load average where it times
contenders, and its ratios say which way is faster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_benchmark_args import BENCHMARKS, script

ROOT = BENCHMARKS.parent


def run_script(name: str, *args: str, tmp_path: Path) -> str:
    """benchmarks/NAME.py run as a user runs it (a fresh interpreter, one thread); its stdout. It must exit 0
    and print no traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "TMPDIR": str(tmp_path)}
    run = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), *args], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    return run.stdout


def table_rows(out: str, first: str) -> list[str]:
    """The lines of the table whose header line starts with `first`, up to the next blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_voxelize_runs_with_the_sizes_given_and_a_clean_table(tmp_path):
    out = run_script("voxelize", "--quick", "--events", "20000", "--repeat", "1", "--e2e-events", "20000",
                     "--no-jit", tmp_path=tmp_path)
    # --quick fills in what the command line leaves out; it does not replace --events 20000 by 1 M
    assert out.startswith("0.02 M uniform events")
    assert "end to end: 0.02 M events" in out
    assert re.search(r"in turn after a warm-up; load average \d", out)
    assert "above 1: faster than tonic" in out or "tonic not installed" in out
    rows = table_rows(out, "implementation")
    assert len(rows) >= 10 and rows[1].startswith("streaming bound")
    end_to_end = table_rows(out, " " * 20)
    # the CLI's own "wrote ..." lines stay out of the table
    assert [r for r in end_to_end if r.startswith("wrote")] == []
    assert any(r.startswith("egvsr voxelize CLI") for r in end_to_end)
    assert "outputs: CLI vs in-memory kernel: True" in out


def test_io_ratios_are_peer_time_over_ours_everywhere(tmp_path):
    out = run_script("io", "--events", "20000", "--rounds", "1", tmp_path=tmp_path)
    assert re.search(r"20,000 events, interleaved rounds: 1 of the conversions, 3 of the reads; load average \d", out)
    read = table_rows(out, "read, best of")
    assert read[0].split()[-1] == "peer/ours"
    # the first row is ours against itself; its ratio is 1 whichever way the column divides
    assert read[1].startswith("ours: read_events") and read[1].endswith("1.00x")
    for line in out.splitlines():
        assert "ours/" not in line, line  # one convention: peer time / our time (above 1: we are faster)
    if "real AEDAT4 sample (" in out:
        assert re.search(r"real AEDAT4 sample .*interleaved, load average \d.*\(peer/ours \d", out)


def test_event_statistics_prints_a_well_formed_table_without_the_real_recording(capsys, monkeypatch, tmp_path):
    statistics = script("event_statistics")
    monkeypatch.setattr(statistics, "AEDAT", tmp_path / "missing.aedat4")
    statistics.main(["--clips", "1"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert lines[0] == "| statistic | synthetic, p10-p90 over 1 clips |"
    assert len(lines) == 2 + len(statistics.STATISTICS)
    assert {line.count("|") for line in lines} == {3}  # header, separator and rows: the same columns


def test_event_statistics_of_a_recording_without_events_is_nan():
    import numpy as np

    from egvsr.events.stream import EventStream

    statistics = script("event_statistics")
    empty = EventStream(np.zeros(0, np.uint16), np.zeros(0, np.uint16), np.zeros(0, np.int64),
                        np.zeros(0, np.int8), 8, 6)
    got = statistics.stats(empty)
    assert list(got) == list(statistics.STATISTICS) and all(v != v for v in got.values())


def test_simulate_keeps_the_repeat_given_with_quick(capsys, monkeypatch, tmp_path):
    simulate = script("simulate")
    monkeypatch.setattr(simulate, "SHARED", tmp_path / "no-slider-depth")  # the real frames: 20 s more
    simulate.main(["--quick", "--size", "16x16", "--repeat", "2", "--threads", "1"])
    out = capsys.readouterr().out
    assert re.search(r"best of 2 \(implementations in turn\), load average \d", out)
    assert "numpy's time / numba's (above 1: numba faster)" in out
    rows = table_rows(out, "workload")
    assert len(rows) == 5 and all(r.split()[-1] == "True" for r in rows[1:])  # every event equal
    # without the real frames, the missing row is said, not silently left out
    assert "no-slider-depth not found: the slider_depth row and its end-to-end run are skipped" in out
    # with --threads 1 both numba runs are on one thread: their columns still say which clock each is
    assert " ".join(rows[0].split()).endswith("1 thr cpu 1 thr wall numpy cpu ratio cpu ratio wall equal")


def test_a_kernel_compiled_in_the_tests_leaves_the_script_runnable(capsys, tmp_path):
    """The tests load the scripts as modules no other process can import; the kernels they compile must not
    land in benchmarks/__pycache__, where the script run as a user runs it would load them and fail."""
    import numpy as np

    from egvsr.events.stream import EventStream

    statistics = script("event_statistics")
    assert statistics._isolated._cache._cache_path != str(BENCHMARKS / "__pycache__")
    statistics.stats(EventStream(np.array([1, 2], np.uint16), np.array([1, 1], np.uint16), np.array([0, 9]),
                                 np.array([1, -1], np.int8), 8, 6))  # compiles and caches the kernel
    out = run_script("event_statistics", "--clips", "1", tmp_path=tmp_path)
    assert "\n| statistic | " in "\n" + out


class _Items:
    """A dataset of `n` one-number samples at the sampler's scale, as `collate_samples` takes them."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        import torch

        return {"scale": key.scale, "lr": torch.zeros(1)}


def test_dataloader_counts_the_samples_its_batches_delivered():
    """An epoch's last batch holds the rest of the dataset: 5 samples in batches of 4 are 4 then 1, and a
    batch larger than the dataset holds all of it; samples/s counts what came, not batches x --batch."""
    dataloader = script("dataloader")
    seconds, samples = dataloader.loader_run(_Items(5), 0, 4, 3)()  # after start-up: 1 (epoch 0), 4, 1
    assert samples == 6 and seconds > 0
    assert dataloader.loader_run(_Items(3), 0, 8, 2)()[1] == 6
    assert dataloader.samples_per_second([(2.0, 6), (1.0, 4), (4.0, 4)]) == 3.0


@pytest.mark.parametrize("t_first, t_last", [(0, 0), (5, 5), (0, 2_000_000), (7, 2_500_000), (3, 999_999)])
def test_voxelize_end_to_end_reference_has_the_clis_windows(t_first, t_last):
    """The in-memory reference of the end-to-end run voxelizes the windows `egvsr voxelize --window-ms` places,
    also where the events span a whole number of windows or one instant (one event: none before)."""
    from types import SimpleNamespace

    from egvsr.events.represent.voxelize import _windows

    source = SimpleNamespace(num_events=2, t_first=t_first, t_last=t_last, path="x.h5")
    starts, ends, _ = _windows(source, False, 1000.0)
    edges = script("voxelize").window_edges(t_first, t_last, 1_000_000)
    assert edges.tolist() == [*starts.tolist(), int(ends[-1])]


def test_render_memory_gives_the_output_size_as_the_title_gives_the_input_size():
    """The title says `260x346 -> x6.5` (H x W, as docs/render.md: a 260x346 input, 1690x2249 output): the
    output column is H x W too, not the transposed 2249x1690."""
    r = {"chunks": 3, "out_size": [1690, 2249], "base_mb": 500.0, "pre_peak_mb": 520.0, "peak_mb": 900.0,
         "out_mb": 50.5, "seconds": 12.0}
    assert script("render_memory").row("engine", r) == "| engine | 3 | 1690x2249 | 500 | 520 | 900 | 400 | 50.5 | 350 | 12.0 |"


def test_dataloader_training_step_is_timed_after_an_untimed_one(monkeypatch):
    """--quick timed the model's first step (one-time set-up included), a slower step and so a loader that
    seemed to keep up more easily; whatever the repeats, the first step is untimed."""
    import types

    import torch

    import egvsr.models

    dataloader = script("dataloader")
    clock = [0.0]

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.calls = 0

        def forward(self, lr, times, size, events=None, frame_times=None):
            clock[0] += 100.0 if self.calls == 0 else 1.0  # the first step is the slow, cold one
            self.calls += 1
            return self.w * torch.zeros(lr.shape[0], 1, 3, *size)

    monkeypatch.setattr(egvsr.models, "build_model", lambda name: Model())
    monkeypatch.setattr(dataloader, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    batch = {"lr": torch.zeros(1, 3, 3, 4, 4), "hr": torch.zeros(1, 1, 3, 16, 16), "times": torch.zeros(1, 1),
             "events": torch.zeros(1, 1, 2, 4, 4), "frame_times": torch.zeros(1, 3)}
    for repeats in (0, 1, 2):
        assert dataloader.train_step_time(batch, repeats, "cpu")[0] == 1.0
