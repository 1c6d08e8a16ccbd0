"""Memory probes shared by the benchmarks (they run as scripts, so this folder is on sys.path)."""

from __future__ import annotations


def rss_mb() -> float:
    """Current resident set size of this process in MB (from /proc; NaN where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
