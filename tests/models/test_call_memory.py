"""A model call whose output and decoding cannot fit in memory is refused before it allocates
(egvsr/models/call_memory.py), and the estimate stays below what the calls really take."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from egvsr.errors import ConfigError
from egvsr.models import build_model
from egvsr.models import call_memory


def inputs(model, h: int = 26, w: int = 34, times: int = 1):
    m, p = model.event_shape if model.uses_events else (1, 1)
    k = model.num_frames or 2
    events = torch.rand(1, m, p, h, w) if model.uses_events else None
    return torch.rand(1, k, 3, h, w), torch.linspace(-1, 1, times), events


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny", "bicubic"])
@pytest.mark.parametrize("call", ["render", "forward"])
def test_huge_out_size_is_refused_before_allocating(name, call):
    model = build_model(name, max_scale=1e6)
    lr, t, ev = inputs(model)
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^out_size 1000000x1000000: 1 sample\(s\) x 1 time\(s\) need at least "
                                          r".* TB of memory .*, more than this machine's "):
        getattr(model, call)(lr, t, (10**6, 10**6), events=ev)
    assert time.perf_counter() - started < 1.0


def test_many_times_at_a_fitting_scale_are_refused(monkeypatch):
    """Within max_scale, the output of many times at once can still exceed the machine (100 MB here)."""
    monkeypatch.setattr(call_memory, "physical_memory", lambda: 100 * 10**6)
    model = build_model("bicubic")
    lr, t, _ = inputs(model, times=100)
    with pytest.raises(ConfigError, match=r"^out_size 416x544: 1 sample\(s\) x 100 time\(s\) need at least 27\d MB "
                                          r"of memory .*, more than this machine's 100 MB; choose a smaller out_size"):
        model.render(lr, t, (416, 544))
    assert model.render(lr, t[:2], (416, 544)).shape == (1, 2, 3, 416, 544)  # 5.4 MB: fine


def test_forward_with_autograd_counts_every_pixel_of_every_time(monkeypatch):
    monkeypatch.setattr(call_memory, "physical_memory", lambda: 40 * 10**6)
    model = build_model("egvsr-tiny")
    lr, t, ev = inputs(model, times=2)
    assert model.render(lr, t, (208, 272), events=ev).shape[-2:] == (208, 272)  # decoded by chunks
    with pytest.raises(ConfigError, match=r"forward with autograd keeping every pixel's decoding.*or render\(\)$"):
        model(lr, t, (208, 272), events=ev)
    with torch.no_grad():  # one time's decoding at once
        assert model(lr, t, (208, 272), events=ev).shape == (1, 2, 3, 208, 272)


def test_unknown_memory_checks_nothing(monkeypatch):
    monkeypatch.setattr(call_memory, "physical_memory", lambda: 0)
    model = build_model("bicubic", max_scale=1e6)
    assert call_memory.device_memory("cpu") == (0, "this machine's")
    call_memory.check_call_memory(model, torch.rand(1, 1, 3, 26, 34), 1, (10**6, 10**6))


@pytest.mark.parametrize("size", [(float("inf"), 12), (True, 12), (12, False)])
def test_infinite_or_boolean_out_size(size):
    model = build_model("bicubic")
    lr, t, _ = inputs(model, 5, 6)
    with pytest.raises(ConfigError, match=r"^out_size: expected two integers \(H, W\), got "):
        model.render(lr, t, size)


MEASURE = """
import sys, torch
from egvsr.models import build_model
from egvsr.models.call_memory import call_bytes

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

model = build_model(sys.argv[1])
m, p = model.event_shape if model.uses_events else (1, 1)
k = model.num_frames or 2
lr, t = torch.rand(1, k, 3, 32, 40), torch.tensor([0.0, 0.5])
ev = torch.rand(1, m, p, 32, 40) if model.uses_events else None
model.render(lr, t[:1], (32, 40), events=ev)
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the high-water mark restarts from the current RSS
except OSError:
    sys.exit(print("skip"))
before = status("VmRSS")
out = model(lr, t, (320, 400), events=ev)
peak = status("VmHWM") - before
print(peak, call_bytes(model, 1, 2, (320, 400), 4, grad=True)[1])
"""


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status and the malloc setting are Linux's")
@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
def test_estimate_is_a_lower_bound_of_the_measured_peak(name):
    """The docs promise a lower bound of a forward with autograd (never refusing a call that fits),
    within 5x of the real peak: the process's high-water mark of resident memory during the call
    (large blocks mmapped, so memory freed earlier is not reused unseen)."""
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path),
           "MALLOC_MMAP_THRESHOLD_": "65536"}
    run = subprocess.run([sys.executable, "-c", MEASURE, name], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    if run.stdout.strip() == "skip":
        pytest.skip("cannot reset the high-water mark of resident memory here")
    peak, estimate = map(int, run.stdout.split())
    assert estimate <= peak <= 5 * estimate, (peak, estimate)


def test_an_accelerator_reports_its_own_memory(monkeypatch):
    """CUDA (or XPU) memory through torch's device-generic module; a kind without the figure is not checked."""
    class Props:
        total_memory = 80 * 10**9

    class Module:
        @staticmethod
        def get_device_properties(dev):
            assert str(dev) == "cuda:1"
            return Props()

    monkeypatch.setattr(torch, "get_device_module", lambda dev: Module)
    assert call_memory.device_memory("cuda:1") == (80 * 10**9, "cuda:1's")
    monkeypatch.setattr(torch, "get_device_module", lambda dev: object())
    assert call_memory.device_memory("mps") == (0, "mps's")


def test_torch_2_2_without_get_device_module_still_reports_cuda_memory(monkeypatch):
    """torch >= 2.2 is declared; torch.get_device_module came in 2.3: 2.2 gives the figure through torch.cuda."""
    class Props:
        total_memory = 40 * 10**9

    monkeypatch.delattr(torch, "get_device_module")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda dev: Props())
    assert call_memory.device_memory("cuda:0") == (40 * 10**9, "cuda:0's")


def test_torch_before_2_4_counts_half_floats_under_autocast(monkeypatch):
    """torch < 2.4 (>= 2.2 is declared) has torch.is_autocast_enabled() without a device type, for CUDA only,
    and torch.is_autocast_cpu_enabled() for the CPU: autocast is still seen, as 2 bytes a float."""
    import warnings

    state = {"cuda": False, "cpu": False}

    def old_is_autocast_enabled(*args):
        if args:
            raise TypeError("is_autocast_enabled() takes 0 positional arguments but 1 was given")
        return state["cuda"]

    monkeypatch.setattr(torch, "is_autocast_enabled", old_is_autocast_enabled)
    monkeypatch.setattr(torch, "is_autocast_cpu_enabled", lambda: state["cpu"])
    x = torch.zeros(1)
    assert call_memory.float_bytes(x) == 4
    state["cpu"] = True
    assert call_memory.float_bytes(x) == 2
    state.update(cpu=False, cuda=True)  # CUDA's autocast does not halve a CPU tensor's floats
    assert call_memory.float_bytes(x) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert call_memory.float_bytes(torch.zeros(1, device="meta")) == 4  # a device autocast does not know
