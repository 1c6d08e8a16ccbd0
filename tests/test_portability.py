"""The toolkit on macOS and Windows, simulated on Linux: functions those systems lack (os.getloadavg,
os.sched_getaffinity, os.fchmod, os.statvfs, fcntl), a case-insensitive file system, a locale that is not
UTF-8. Each path gives the same behaviour or one clear line (docs/io.md, "Other systems")."""

from __future__ import annotations

import os
import sys

import pytest


def test_console_start_without_a_load_average(monkeypatch) -> None:
    """Windows has neither os.getloadavg nor os.sched_getaffinity: the console entry's thread settings
    (run before every command) keep torch's default thread count instead of failing with AttributeError."""
    import egvsr.threads

    monkeypatch.delattr(egvsr.threads.os, "getloadavg", raising=False)
    monkeypatch.delattr(egvsr.threads.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(egvsr.threads.os, "cpu_count", lambda: 8)
    env: dict[str, str] = {}
    done = egvsr.threads.configure_process_environment(env, ["train", "x.yaml"])
    assert done == {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"} and env == done
    assert egvsr.threads.usable_cores() == 8
